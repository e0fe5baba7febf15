package test

// Tests of `rkexec ps` (table and JSON, dead sandboxes, --prune) and `rkexec info`.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// psEntry is one element of `rkexec ps --format json`.
type psEntry struct {
	Name      string   `json:"name"`
	StateDir  string   `json:"state_dir"`
	ParentPID int      `json:"parent_pid"`
	ChildPID  int      `json:"child_pid"`
	Command   []string `json:"command"`
	Network   string   `json:"network"`
	Alive     bool     `json:"alive"`
}

// psJSON runs rkexec ps --format json in runtimeDir and parses it.
func psJSON(t testing.TB, runtimeDir string, extra ...string) []psEntry {
	t.Helper()
	res := rkexecOpts(t, runOpts{RuntimeDir: runtimeDir}, append([]string{"ps", "--format", "json"}, extra...)...)
	if res.ExitCode != 0 {
		t.Fatalf("rkexec ps --format json: exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	var entries []psEntry
	if err := json.Unmarshal([]byte(res.Stdout), &entries); err != nil {
		t.Fatalf("rkexec ps --format json: %v\n%s", err, res.Stdout)
	}
	return entries
}

// psTable runs rkexec ps in runtimeDir and returns its rows (header first) split into columns:
// NAME PID NET PORTS UPTIME and the COMMAND as the rest of the line.
func psTable(t testing.TB, runtimeDir string, extra ...string) (rows [][]string, stderr string) {
	t.Helper()
	res := rkexecOpts(t, runOpts{RuntimeDir: runtimeDir}, append([]string{"ps"}, extra...)...)
	if res.ExitCode != 0 {
		t.Fatalf("rkexec ps %q: exit code %d, want 0; stderr: %s", extra, res.ExitCode, res.Stderr)
	}
	for line := range strings.Lines(res.Stdout) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) > 6 {
			f = append(f[:5], strings.Join(f[5:], " "))
		}
		rows = append(rows, f)
	}
	return rows, res.Stderr
}

var psHeader = []string{"NAME", "PID", "NET", "PORTS", "UPTIME", "COMMAND"}

// TestPsListsSandboxes lists two running sandboxes, as a table and as JSON.
func TestPsListsSandboxes(t *testing.T) {
	t.Parallel()
	// Nothing yet: the header alone, and an empty JSON list.
	rows, _ := psTable(t, runtimeDirOf(t))
	if len(rows) != 1 || !slices.Equal(rows[0], psHeader) {
		t.Errorf("rkexec ps without sandboxes: %q, want the header %q alone", rows, psHeader)
	}
	if got := psJSON(t, runtimeDirOf(t)); len(got) != 0 {
		t.Errorf("rkexec ps --format json without sandboxes: %+v, want []", got)
	}

	a := startSandbox(t, "alpha")
	b := startSandbox(t, "beta", "--pidns")
	boxes := map[string]*sandbox{"alpha": a, "beta": b}
	wantCommand := func(s *sandbox) []string { return []string{"sh", "-c", "sleep 1000; :", s.marker} }

	rows, _ = psTable(t, a.runtimeDir)
	if len(rows) == 0 || !slices.Equal(rows[0], psHeader) {
		t.Fatalf("rkexec ps: header %q, want %q", rows, psHeader)
	}
	seen := map[string]bool{}
	for _, row := range rows[1:] {
		if len(row) != 6 {
			t.Errorf("rkexec ps: row %q does not have 6 columns", row)
			continue
		}
		s := boxes[row[0]]
		if s == nil {
			t.Errorf("rkexec ps: unexpected row %q", row)
			continue
		}
		seen[row[0]] = true
		if row[1] != strconv.Itoa(s.cmd.Process.Pid) {
			t.Errorf("rkexec ps: %s's PID is %s, want rkexec's pid %d", row[0], row[1], s.cmd.Process.Pid)
		}
		if row[2] != "host" {
			t.Errorf("rkexec ps: %s's NET is %s, want host", row[0], row[2])
		}
		if row[4] == "dead" || row[4] == "-" {
			t.Errorf("rkexec ps: %s's UPTIME is %s, want a duration", row[0], row[4])
		}
		if want := strings.Join(wantCommand(s), " "); row[5] != want {
			t.Errorf("rkexec ps: %s's COMMAND is %q, want %q", row[0], row[5], want)
		}
	}
	if !seen["alpha"] || !seen["beta"] {
		t.Errorf("rkexec ps: rows %q, want one for alpha and one for beta", rows)
	}

	entries := psJSON(t, a.runtimeDir)
	if len(entries) != 2 {
		t.Fatalf("rkexec ps --format json: %d entries, want 2: %+v", len(entries), entries)
	}
	for _, e := range entries {
		s := boxes[e.Name]
		if s == nil {
			t.Errorf("rkexec ps --format json: unexpected entry %+v", e)
			continue
		}
		if e.ParentPID != s.cmd.Process.Pid || e.ChildPID != s.childPID {
			t.Errorf("%s: parent_pid %d, child_pid %d; want %d and %d (child_pid file)", e.Name, e.ParentPID, e.ChildPID, s.cmd.Process.Pid, s.childPID)
		}
		if e.StateDir != s.stateDir {
			t.Errorf("%s: state_dir %q, want %q", e.Name, e.StateDir, s.stateDir)
		}
		if !slices.Equal(e.Command, wantCommand(s)) {
			t.Errorf("%s: command %q, want %q", e.Name, e.Command, wantCommand(s))
		}
		if !e.Alive || e.Network != "host" {
			t.Errorf("%s: alive %v, network %q; want true and host", e.Name, e.Alive, e.Network)
		}
	}

	// A sandbox that ended is no longer listed.
	a.stop(t)
	if entries := psJSON(t, a.runtimeDir); len(entries) != 1 || entries[0].Name != "beta" {
		t.Errorf("rkexec ps --format json after alpha ended: %+v, want beta alone", entries)
	}
}

// TestPsDeadSandboxAndPrune: a sandbox whose rkexec is gone shows as dead; --prune removes it and
// keeps the living ones.
func TestPsDeadSandboxAndPrune(t *testing.T) {
	t.Parallel()
	live := startSandbox(t, "live")
	dead := makeDeadSandbox(t, live.runtimeDir, "ghost")

	rows, _ := psTable(t, live.runtimeDir)
	uptime := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) == 6 {
			uptime[row[0]] = row[4]
		}
	}
	if uptime["ghost"] != "dead" {
		t.Errorf("rkexec ps: ghost's UPTIME is %q, want dead; rows %q", uptime["ghost"], rows)
	}
	if u, ok := uptime["live"]; !ok || u == "dead" {
		t.Errorf("rkexec ps: live's UPTIME is %q, want a duration; rows %q", u, rows)
	}
	alive := map[string]bool{}
	for _, e := range psJSON(t, live.runtimeDir) {
		alive[e.Name] = e.Alive
	}
	if a, ok := alive["ghost"]; !ok || a {
		t.Errorf("rkexec ps --format json: ghost alive=%v (listed %v), want listed and not alive", a, ok)
	}
	if !alive["live"] {
		t.Errorf("rkexec ps --format json: live is not listed as alive: %v", alive)
	}

	rows, stderr := psTable(t, live.runtimeDir, "--prune")
	var names []string
	for _, row := range rows[1:] {
		names = append(names, row[0])
	}
	if !slices.Equal(names, []string{"live"}) {
		t.Errorf("rkexec ps --prune lists %q, want live alone", names)
	}
	if !strings.Contains(stderr, "ghost") {
		t.Errorf("rkexec ps --prune: stderr %q does not name the removed sandbox", stderr)
	}
	if _, err := os.Lstat(dead); err == nil {
		t.Errorf("rkexec ps --prune left %s", dead)
	}
	if _, err := os.Stat(filepath.Join(live.stateDir, "child_pid")); err != nil {
		t.Errorf("rkexec ps --prune touched the living sandbox: %v", err)
	}
	if res := live.exec(t, "live", "--", "true"); res.ExitCode != 0 {
		t.Errorf("exec into the living sandbox after --prune: exit code %d; stderr: %s", res.ExitCode, res.Stderr)
	}
	if entries := psJSON(t, live.runtimeDir); len(entries) != 1 || entries[0].Name != "live" {
		t.Errorf("rkexec ps --format json after --prune: %+v, want live alone", entries)
	}
}

// TestInfo shows a running sandbox as JSON whose namespaces are those of its child_pid.
func TestInfo(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "inf", "--pidns", "--utsns")
	res := rkexecOpts(t, s.opts(), "info", "inf")
	if res.ExitCode != 0 {
		t.Fatalf("rkexec info: exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	var info struct {
		Name       string            `json:"name"`
		StateDir   string            `json:"state_dir"`
		ParentPID  int               `json:"parent_pid"`
		ChildPID   int               `json:"child_pid"`
		Command    []string          `json:"command"`
		Alive      bool              `json:"alive"`
		Namespaces map[string]string `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &info); err != nil {
		t.Fatalf("rkexec info: %v\n%s", err, res.Stdout)
	}
	if info.Name != "inf" || info.ChildPID != s.childPID || info.ParentPID != s.cmd.Process.Pid || info.StateDir != s.stateDir || !info.Alive {
		t.Errorf("rkexec info: name %q child_pid %d parent_pid %d state_dir %q alive %v; want inf, %d, %d, %q, true",
			info.Name, info.ChildPID, info.ParentPID, info.StateDir, info.Alive, s.childPID, s.cmd.Process.Pid, s.stateDir)
	}
	if want := []string{"sh", "-c", "sleep 1000; :", s.marker}; !slices.Equal(info.Command, want) {
		t.Errorf("rkexec info: command %q, want %q", info.Command, want)
	}
	for _, kind := range execNSKinds {
		if want := nsLink(t, s.childPID, kind); info.Namespaces[kind] != want {
			t.Errorf("rkexec info: namespaces[%s] = %q, want %q (readlink /proc/%d/ns/%s)", kind, info.Namespaces[kind], want, s.childPID, kind)
		}
	}
	for _, kind := range []string{"pid", "uts"} {
		if host := nsLink(t, os.Getpid(), kind); info.Namespaces[kind] == host {
			t.Errorf("rkexec info: namespaces[%s] is the host's %s", kind, host)
		}
	}
	// By state directory too.
	res = rkexecOpts(t, s.opts(), "info", s.stateDir)
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, `"child_pid": `+strconv.Itoa(s.childPID)) {
		t.Errorf("rkexec info STATE_DIR: exit code %d, stdout %s; stderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
	// Unknown and dead sandboxes.
	res = rkexecOpts(t, s.opts(), "info", "rkexec-no-such-sandbox")
	if res.ExitCode != 125 {
		t.Errorf("rkexec info of an unknown sandbox: exit code %d, want 125", res.ExitCode)
	}
	oneErrorLine(t, res, "rkexec-no-such-sandbox")
	makeDeadSandbox(t, s.runtimeDir, "ghost")
	res = rkexecOpts(t, runOpts{RuntimeDir: s.runtimeDir, Timeout: 10 * time.Second}, "info", "ghost")
	if res.ExitCode != 125 {
		t.Errorf("rkexec info of a dead sandbox: exit code %d, want 125; stdout: %s", res.ExitCode, res.Stdout)
	}
	oneErrorLine(t, res, "ghost", "not running")
}
