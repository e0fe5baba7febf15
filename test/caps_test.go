package test

// Tests of the capabilities `rkexec exec` gives its command: the five sets the command itself reads
// in /proc/self/status, for --cap, --user and an OCI process file's "capabilities".

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// capSets are a process's capability sets, as /proc/PID/status prints them.
type capSets struct{ Inh, Prm, Eff, Bnd, Amb uint64 }

func (c capSets) String() string {
	return fmt.Sprintf("CapInh %#x CapPrm %#x CapEff %#x CapBnd %#x CapAmb %#x", c.Inh, c.Prm, c.Eff, c.Bnd, c.Amb)
}

// parseCapSets reads the Cap* lines of a /proc/PID/status.
func parseCapSets(t testing.TB, status string) capSets {
	t.Helper()
	field := func(name string) uint64 {
		v, err := strconv.ParseUint(statusField(t, status, name), 16, 64)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	return capSets{Inh: field("CapInh"), Prm: field("CapPrm"), Eff: field("CapEff"), Bnd: field("CapBnd"), Amb: field("CapAmb")}
}

// allCaps is the set of every capability the running kernel has.
func allCaps(t testing.TB) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		t.Fatal(err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return 1<<(last+1) - 1
}

// TestExecCapabilitySets: what the command of `rkexec exec` holds, as it sees it. The sandbox's root
// keeps every capability and --cap adds them as ambient; a non-root --user has none but those of
// --cap, which survive its exec; a process file's bounding set bounds them all.
func TestExecCapabilitySets(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "capsets", "--pidns")
	all := allCaps(t)
	const kill, netAdmin = 1 << 5, 1 << 12
	dir := t.TempDir()
	processFile := func(name, json string) string {
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, []byte(json), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	status := `"args":["cat","/proc/self/status"]`
	for _, tc := range []struct {
		name string
		args []string // exec's flags before the sandbox's name; a --process file brings the command
		want capSets
	}{
		{"plain", nil, capSets{Prm: all, Eff: all, Bnd: all}},
		{"user", []string{"--user", "1000"}, capSets{Bnd: all}},
		{"cap-user", []string{"--cap", "CAP_NET_ADMIN", "--user", "1000"},
			capSets{Inh: netAdmin, Prm: netAdmin, Eff: netAdmin, Bnd: all, Amb: netAdmin}},
		{"cap-root", []string{"--cap", "net_admin"}, capSets{Inh: all, Prm: all, Eff: all, Bnd: all, Amb: all}},
		{"bounding-root", []string{"--process", processFile("bounding-root",
			`{`+status+`,"capabilities":{"bounding":["CAP_NET_ADMIN","CAP_KILL"]}}`)},
			capSets{Prm: kill | netAdmin, Eff: kill | netAdmin, Bnd: kill | netAdmin}},
		{"bounding-user", []string{"--process", processFile("bounding-user",
			`{`+status+`,"user":{"uid":1000,"gid":1000},"capabilities":{"bounding":["CAP_NET_ADMIN","CAP_KILL"],"effective":["CAP_KILL"]}}`)},
			capSets{Inh: kill, Prm: kill, Eff: kill, Bnd: kill | netAdmin, Amb: kill}},
		// Root keeps what the bounding set leaves it, as ambient like the capability asked for.
		{"bounding-cap-root", []string{"--process", processFile("bounding-cap-root",
			`{`+status+`,"capabilities":{"bounding":["CAP_NET_ADMIN","CAP_KILL"],"effective":["CAP_KILL"]}}`)},
			capSets{Inh: kill | netAdmin, Prm: kill | netAdmin, Eff: kill | netAdmin, Bnd: kill | netAdmin, Amb: kill | netAdmin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if len(args) < 2 || args[0] != "--process" {
				args = append(args, "capsets", "--", "cat", "/proc/self/status")
			} else {
				args = append(args, "capsets")
			}
			res := s.exec(t, args...)
			wantExit(t, res, 0)
			if got := parseCapSets(t, res.Stdout); got != tc.want {
				t.Errorf("rkexec exec %q:\n got  %v\n want %v", args, got, tc.want)
			}
		})
	}
}

// TestExecCapOutsideBoundingSet: keeping a capability that the process file's own bounding set drops
// is refused in one line, naming the capability, and the command does not run.
func TestExecCapOutsideBoundingSet(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, "capbnd", "--pidns")
	// The command would run as uid 1000 of the sandbox: let it write here, to show that it did not.
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	ran := filepath.Join(shared, "ran")
	file := filepath.Join(t.TempDir(), "process.json")
	spec := fmt.Sprintf(`{"args":["touch",%q],"user":{"uid":1000,"gid":1000},"capabilities":{"bounding":["CAP_KILL"],"effective":["CAP_NET_RAW"]}}`, ran)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	res := s.exec(t, "--process", file, "capbnd")
	wantExit(t, res, 125)
	oneErrorLine(t, res, "CAP_NET_RAW", "bounding set")
	notCreated(t, ran, "the command ran although its capability is outside the bounding set")
}
