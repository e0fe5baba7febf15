package test

// The state directory while the sandbox runs and after, and what the command inherits.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStateDirWhileRunning: the state dir is 0700 and holds lock, child_pid (a live process in
// another user namespace) and state.json (name, rkexec's pid, command); it is gone after exit.
func TestStateDirWhileRunning(t *testing.T) {
	t.Parallel()
	stop := filepath.Join(t.TempDir(), "stop")
	stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "x")
	args := []string{"--name", "x", "--", "sh", "-c", stopFileScript, "sh", stop}
	cmd := startRkexec(t, args...)
	waitForFile(t, cmd, filepath.Join(stateDir, "child_pid"), 5*time.Second)

	fi, err := os.Lstat(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want a directory with 0700", fi.Mode())
	}
	for _, name := range []string{"lock", "child_pid", "state.json"} {
		if _, err := os.Lstat(filepath.Join(stateDir, name)); err != nil {
			t.Errorf("state dir: %v", err)
		}
	}

	data, err := os.ReadFile(filepath.Join(stateDir, "child_pid"))
	if err != nil {
		t.Fatal(err)
	}
	childPID, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || childPID <= 0 {
		t.Fatalf("child_pid holds %q, want a pid", data)
	}
	childNS, err := os.Readlink("/proc/" + strconv.Itoa(childPID) + "/ns/user")
	if err != nil {
		t.Fatalf("child_pid %d is not a live process: %v", childPID, err)
	}
	ownNS, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		t.Fatal(err)
	}
	if childNS == ownNS {
		t.Errorf("child_pid %d is in the test's own user namespace %s", childPID, ownNS)
	}

	data, err = os.ReadFile(filepath.Join(stateDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Name      string   `json:"name"`
		ParentPID int      `json:"parent_pid"`
		Command   []string `json:"command"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("state.json: %v\n%s", err, data)
	}
	if st.Name != "x" {
		t.Errorf("state.json name %q, want x", st.Name)
	}
	if st.ParentPID != cmd.Process.Pid {
		t.Errorf("state.json parent_pid %d, want rkexec's pid %d", st.ParentPID, cmd.Process.Pid)
	}
	if want := args[3:]; !slices.Equal(st.Command, want) {
		t.Errorf("state.json command %q, want %q", st.Command, want)
	}

	stopAndWait(t, cmd, stop)
	assertNoStateDir(t, stateDir)
}

// TestTargetEnvironment: the command gets RootlessKit's and rkexec's variables, and none of rkexec's
// internal ones.
func TestTargetEnvironment(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "envtest")
	res := rkexec(t, "--name", "envtest", "--", "env")
	wantExit(t, res, 0)
	env := map[string]string{}
	for _, line := range nonEmptyLines(res.Stdout) {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
		if strings.HasPrefix(k, "_RKEXEC") {
			t.Errorf("internal variable leaked to the command: %s", line)
		}
	}
	for k, want := range map[string]string{
		"ROOTLESSKIT_STATE_DIR":   stateDir,
		"RKEXEC_STATE_DIR":        stateDir,
		"RKEXEC_NAME":             "envtest",
		"ROOTLESSKIT_PARENT_EUID": strconv.Itoa(os.Geteuid()),
		"ROOTLESSKIT_PARENT_EGID": strconv.Itoa(os.Getegid()),
		"XDG_RUNTIME_DIR":         runtimeDirOf(t),
	} {
		if got, ok := env[k]; !ok || got != want {
			t.Errorf("%s=%q (set %v), want %q", k, got, ok, want)
		}
	}
}

// TestTargetSeesOnlyStdFds: fds the caller passed beyond 0-2 do not reach the command.
func TestTargetSeesOnlyStdFds(t *testing.T) {
	t.Parallel()
	f1, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.Create(filepath.Join(t.TempDir(), "extra"))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	res := rkexecOpts(t, runOpts{ExtraFiles: []*os.File{f1, f2}}, // fds 3 and 4 of rkexec
		"--", "sh", "-c", "ls /proc/$$/fd")
	wantExit(t, res, 0)
	if got := strings.Fields(res.Stdout); !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Errorf("the command's fds: %q, want [0 1 2]", got)
	}
}

// TestGivenStateDirKept: a --state-dir that existed is used while running and kept after exit, emptied
// of rkexec's files.
func TestGivenStateDirKept(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	dir, stop := filepath.Join(tmp, "given"), filepath.Join(tmp, "stop")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Left by a killed run: still given, so still kept.
	if err := os.WriteFile(filepath.Join(dir, "lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := startRkexec(t, "--state-dir", dir, "--", "sh", "-c", stopFileScript, "sh", stop)
	waitForFile(t, cmd, filepath.Join(dir, "child_pid"), 5*time.Second)
	for _, name := range []string{"lock", "state.json"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			t.Errorf("given state dir while running: %v", err)
		}
	}
	stopAndWait(t, cmd, stop)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("the given state dir is gone after exit: %v", err)
	}
	if left := dirEntries(t, dir); len(left) != 0 {
		t.Errorf("left in the given state dir after exit: %q", left)
	}
}

// TestStaleStateDirReused: a state dir left by a killed rkexec (lock not held, child_pid of another
// process) is taken over; after exit it is gone, as under the default state root the directory is
// rkexec's. A stale --state-dir is emptied of rkexec's files and kept (TestGivenStateDirKept).
func TestStaleStateDirReused(t *testing.T) {
	t.Parallel()
	stop := filepath.Join(t.TempDir(), "stop")
	dir := filepath.Join(runtimeDirOf(t), "rkexec", "x")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"lock": "", "child_pid": "1", "state.json": `{"name":"x","parent_pid":1}`} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := startRkexec(t, "--name", "x", "--", "sh", "-c", stopFileScript, "sh", stop)
	// The stale child_pid is replaced by the new child's pid once the sandbox is ready.
	eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		data, _ := os.ReadFile(filepath.Join(dir, "child_pid")) // missing while being replaced
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				t.Errorf("new child_pid %d is not a live process: %v", pid, err)
			}
			return nil
		}
		stdout, stderr := outputOf(cmd)
		err := fmt.Errorf("child_pid still %q: the stale state dir was not taken over\nstdout: %s\nstderr: %s", data, stdout, stderr)
		if exitedUnreaped(cmd.Process.Pid) {
			t.Fatalf("rkexec exited: %v", err)
		}
		return err
	})
	stopAndWait(t, cmd, stop)
	assertNoStateDir(t, dir)
}

// TestTargetStateDirOverridesCaller: ROOTLESSKIT_STATE_DIR inside a run is the new state dir,
// whatever the caller had.
func TestTargetStateDirOverridesCaller(t *testing.T) {
	t.Parallel()
	stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "envrun")
	res := rkexecOpts(t, runOpts{Env: []string{"ROOTLESSKIT_STATE_DIR=/stale"}},
		"--name", "envrun", "--", "printenv", "ROOTLESSKIT_STATE_DIR")
	wantExit(t, res, 0)
	if want := stateDir + "\n"; res.Stdout != want {
		t.Errorf("caller ROOTLESSKIT_STATE_DIR=/stale: printenv in rkexec printed %q, want the new state dir %q", res.Stdout, want)
	}
}
