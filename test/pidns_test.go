package test

// Tests of the extra namespaces of a run: --pidns (with and without the reaper), --utsns and
// --hostname, --ipcns, --cgroupns, --timens; exit codes, signals, orphans and SIGKILL with a pid
// namespace; and the flags' validation.

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPidnsTargetPID covers who is PID 1 of a new pid namespace: the reaper (rkexec's init) with
// --reaper=auto or true, the command itself with --reaper=false; and that /proc is the new namespace's,
// listing only the sandbox's processes.
func TestPidnsTargetPID(t *testing.T) {
	t.Parallel()
	// No child process between the glob and the end, so /proc lists exactly PID 1 and the shell.
	script := `echo $$; cat /proc/1/comm; for p in /proc/[0-9]*; do echo "${p#/proc/}"; done`
	for _, tc := range []struct {
		reaper    string
		targetIs1 bool
	}{
		{"auto", false},
		{"true", false},
		{"false", true},
	} {
		t.Run("reaper="+tc.reaper, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, "--pidns", "--reaper="+tc.reaper, "--", "sh", "-c", script)
			if res.ExitCode != 0 {
				t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
			}
			lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
			if len(lines) < 3 {
				t.Fatalf("want $$, /proc/1/comm and the /proc pids, got:\n%s", res.Stdout)
			}
			self, comm1, pids := lines[0], lines[1], lines[2:]
			if tc.targetIs1 {
				if self != "1" {
					t.Errorf("--reaper=false: the command's pid is %s, want 1", self)
				}
				if comm1 != "sh" {
					t.Errorf("--reaper=false: /proc/1/comm is %q, want the command (sh)", comm1)
				}
			} else {
				if self == "1" {
					t.Errorf("--reaper=%s: the command is PID 1, want the reaper there", tc.reaper)
				}
				if comm1 == "sh" || !strings.Contains(comm1, "rkexec") {
					t.Errorf("--reaper=%s: /proc/1/comm is %q, want rkexec's init", tc.reaper, comm1)
				}
			}
			want := []string{"1", self}
			slices.Sort(want)
			want = slices.Compact(want)
			slices.Sort(pids)
			if !slices.Equal(pids, want) {
				t.Errorf("/proc inside lists pids %v, want only the sandbox's %v (the new pid namespace's /proc)", pids, want)
			}
		})
	}
}

// TestPidnsPsShowsInit runs ps inside: it sees the init as PID 1 and nothing of the host.
func TestPidnsPsShowsInit(t *testing.T) {
	t.Parallel()
	res := rkexec(t, "--pidns", "--", "ps", "-e", "-o", "pid=,comm=")
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	rows := fieldPairs(res.Stdout)
	if !strings.Contains(rows["1"], "rkexec") {
		t.Errorf("ps inside: PID 1 is %q, want rkexec's init; ps output:\n%s", rows["1"], res.Stdout)
	}
	if len(rows) != 2 {
		t.Errorf("ps inside lists %d processes, want 2 (the init and ps):\n%s", len(rows), res.Stdout)
	}
}

// TestUtsnsHostname sets a hostname in a new UTS namespace; the host's stays.
func TestUtsnsHostname(t *testing.T) {
	t.Parallel()
	before, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	name := "rkx-" + strings.TrimPrefix(newMarker(t), "rkexec-marker-")[:8]
	res := rkexec(t, "--utsns", "--hostname", name, "--", "sh", "-c", "hostname; cat /proc/sys/kernel/hostname")
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	if got, want := strings.Fields(res.Stdout), []string{name, name}; !slices.Equal(got, want) {
		t.Errorf("hostname inside: %q, want %q", got, want)
	}
	after, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("host's hostname changed from %q to %q", before, after)
	}

	// Without --hostname the new namespace starts with the host's name.
	res = rkexec(t, "--utsns", "--", "hostname")
	if res.ExitCode != 0 {
		t.Fatalf("--utsns alone: exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
	}
	if got := strings.TrimSpace(res.Stdout); got != before {
		t.Errorf("--utsns alone: hostname %q, want the host's %q", got, before)
	}
}

// runNSKinds are the namespaces a run creates with --<kind>ns.
var runNSKinds = []string{"pid", "uts", "ipc", "cgroup", "time"}

// TestExtraNamespacesDiffer runs with each --<kind>ns flag and compares the command's
// /proc/self/ns/* links with the test process's: the asked one differs, the others are the host's.
func TestExtraNamespacesDiffer(t *testing.T) {
	t.Parallel()
	host := map[string]string{}
	for _, kind := range runNSKinds {
		link, err := os.Readlink("/proc/self/ns/" + kind)
		if err != nil {
			t.Fatal(err)
		}
		host[kind] = link
	}
	script := `for n in ` + strings.Join(runNSKinds, " ") + `; do echo "$n $(readlink /proc/self/ns/$n)"; done`
	for _, asked := range runNSKinds {
		t.Run(asked, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, "--"+asked+"ns", "--", "sh", "-c", script)
			if res.ExitCode != 0 {
				t.Fatalf("exit code %d, want 0; stderr: %s", res.ExitCode, res.Stderr)
			}
			inside := fieldPairs(res.Stdout)
			for _, kind := range runNSKinds {
				got := inside[kind]
				if got == "" || !strings.HasPrefix(got, kind+":[") {
					t.Errorf("--%sns: /proc/self/ns/%s inside is %q; output:\n%s", asked, kind, got, res.Stdout)
					continue
				}
				if kind == asked && got == host[kind] {
					t.Errorf("--%sns: /proc/self/ns/%s inside is the host's %s, want a new one", asked, kind, got)
				}
				if kind != asked && got != host[kind] {
					t.Errorf("--%sns: /proc/self/ns/%s inside is %s, want the host's %s (not asked for)", asked, kind, got, host[kind])
				}
			}
		})
	}
}

// TestPidnsExitCodes checks the exit status with a pid namespace for each --reaper value.
func TestPidnsExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, reaper, script string
		want                 int
		wantOut              string
	}{
		{"auto/exit", "auto", "exit 42", 42, ""},
		{"true/exit", "true", "exit 42", 42, ""},
		{"false/exit", "false", "exit 42", 42, ""},
		{"auto/sigterm", "auto", "kill -TERM $$", 143, ""},
		{"true/sigterm", "true", "kill -TERM $$", 143, ""},
		{"auto/sigkill", "auto", "kill -KILL $$", 137, ""},
		// As PID 1 of its namespace the command ignores signals it has no handler for.
		{"false/sigterm-ignored", "false", "kill -TERM $$; echo alive; exit 5", 5, "alive\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, "--pidns", "--reaper="+tc.reaper, "--", "sh", "-c", tc.script)
			if res.ExitCode != tc.want {
				t.Errorf("--pidns --reaper=%s -- sh -c %q: exit code %d, want %d; stderr: %s",
					tc.reaper, tc.script, res.ExitCode, tc.want, res.Stderr)
			}
			if res.Stdout != tc.wantOut {
				t.Errorf("stdout %q, want %q", res.Stdout, tc.wantOut)
			}
		})
	}
}

// TestPidnsSignalRelayed sends SIGTERM to rkexec: the command's trap runs and its exit code is rkexec's.
func TestPidnsSignalRelayed(t *testing.T) {
	t.Parallel()
	for _, reaper := range []string{"auto", "false"} {
		t.Run("reaper="+reaper, func(t *testing.T) {
			t.Parallel()
			wantSIGTERMTrapped(t, runOpts{}, "--pidns", "--reaper="+reaper, "--")
		})
	}
}

// TestPidnsOrphansReaped double-forks inside a pid namespace: the orphan is re-parented to the reaper
// (PID 1), which reaps it when it exits, so no zombie is left.
func TestPidnsOrphansReaped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The middle shell starts the orphan (blocked on the fifo), prints its pid and exits; the orphan
	// is released through the fifo, and the script waits (up to 5s) for it to vanish from /proc, which
	// happens only once it is reaped. Then every process's stat line.
	script := `
sh -c 'sh -c "read x <\"\$1\"" sh "$1" & echo $! >"$2"' sh "$1" "$2/orphan"
o=$(cat "$2/orphan")
echo "orphan $o ppid $(cut -d' ' -f4 /proc/$o/stat)"
echo go >"$1"
i=0
while [ -e /proc/$o ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
echo ---
cat /proc/[0-9]*/stat 2>/dev/null
`
	res := rkexec(t, "--pidns", "--", "sh", "-c", script, "sh", fifo, dir)
	if res.ExitCode != 0 {
		t.Fatalf("exit code %d, want 0; stdout: %s\nstderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
	head, stats, ok := strings.Cut(res.Stdout, "---\n")
	if !ok {
		t.Fatalf("unexpected output:\n%s", res.Stdout)
	}
	f := strings.Fields(head)
	if len(f) != 4 || f[0] != "orphan" || f[2] != "ppid" {
		t.Fatalf("unexpected output:\n%s", res.Stdout)
	}
	orphan := f[1]
	if f[3] != "1" {
		t.Errorf("the orphan's parent is pid %s, want 1 (the reaper)", f[3])
	}
	for line := range strings.Lines(stats) {
		pid, rest, _ := strings.Cut(line, " ")
		end := strings.LastIndex(rest, ")")
		if end < 0 {
			t.Errorf("unparsable stat line %q", line)
			continue
		}
		state := strings.Fields(rest[end+1:])
		if len(state) == 0 {
			t.Errorf("unparsable stat line %q", line)
			continue
		}
		if state[0] == "Z" {
			t.Errorf("zombie left in the sandbox: %s", strings.TrimSpace(line))
		}
		if pid == orphan {
			t.Errorf("the orphan (pid %s) was not reaped: %s", orphan, strings.TrimSpace(line))
		}
	}
}

// TestPidnsSIGKILLLeavesNothing SIGKILLs rkexec (only the parent process) while a pid-namespace
// sandbox runs background processes and a command started with rkexec exec: none survives, rkexec exec
// returns, and the state directory is removed.
func TestPidnsSIGKILLLeavesNothing(t *testing.T) {
	t.Parallel()
	for _, reaper := range []string{"auto", "false"} {
		t.Run("reaper="+reaper, func(t *testing.T) {
			t.Parallel()
			marker := newMarker(t)
			stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "killed")
			// The inner shells keep the marker on their command line (": " after sleep stops sh from
			// exec'ing it).
			script := `sh -c 'sleep 1000; :' "$0" & sh -c 'sleep 1000; :' "$0" & wait`
			cmd := startRkexec(t, "--pidns", "--reaper="+reaper, "--name", "killed", "--", "sh", "-c", script, marker)
			waitForFile(t, cmd, filepath.Join(stateDir, "child_pid"), 10*time.Second)
			// The exec's command says it runs: counting processes with the marker alone could count
			// a shell's fork before its exec, and kill the sandbox while exec still starts.
			ready := filepath.Join(t.TempDir(), "exec-ready")
			ex := startRkexec(t, "exec", "killed", "--", "sh", "-c", `echo >"$1"; sleep 1000; :`, marker, ready)
			waitForFile(t, ex, ready, 10*time.Second)
			// rkexec, its command and the command's two shells; rkexec exec and its command.
			waitForProcesses(t, marker, 6, 5*time.Second)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			noProcessesLeft(t, marker)
			noStateDirWithin(t, stateDir, 5*time.Second)
			if res := waitExit(t, ex, 5*time.Second); res.status() != 128+int(syscall.SIGKILL) {
				t.Errorf("rkexec exec whose sandbox was killed: exit code %d, want %d (its command was killed); stderr: %s",
					res.status(), 128+int(syscall.SIGKILL), res.Stderr)
			}
		})
	}
}

// TestPidnsBadFlags: flag combinations rkexec refuses, with 125 and one line naming the flag, before
// running anything.
func TestPidnsBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string // substrings of the one stderr line
	}{
		{"hostname-without-utsns", []string{"--hostname", "x"}, []string{"--hostname", "--utsns"}},
		{"hostname-with-pidns-only", []string{"--pidns", "--hostname", "x"}, []string{"--hostname"}},
		{"reaper-true-without-pidns", []string{"--reaper=true"}, []string{"--reaper", "--pidns"}},
		{"reaper-bogus", []string{"--reaper=bogus"}, []string{"--reaper", "bogus"}},
		{"reaper-bogus-with-pidns", []string{"--pidns", "--reaper=bogus"}, []string{"--reaper", "bogus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ran := filepath.Join(t.TempDir(), "ran")
			res := rkexec(t, append(tc.flags, "--", "touch", ran)...)
			if res.ExitCode != 125 {
				t.Errorf("rkexec %s: exit code %d, want 125; stderr: %s", strings.Join(tc.flags, " "), res.ExitCode, res.Stderr)
			}
			oneErrorLine(t, res, tc.want...)
			if _, err := os.Stat(ran); err == nil {
				t.Errorf("rkexec %s ran the command", strings.Join(tc.flags, " "))
			}
		})
	}
}

// TestExtraNamespacesInitDiesWithChild: with extra namespaces but no pid namespace the target is the
// init; SIGKILL of the rkexec child (not of rkexec) takes the target down too.
func TestExtraNamespacesInitDiesWithChild(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"--utsns", "--ipcns"} {
		t.Run(strings.TrimPrefix(ns, "--"), func(t *testing.T) {
			t.Parallel()
			marker := sleepMarker(t)
			stateDir := filepath.Join(runtimeDirOf(t), "rkexec", "x")
			cmd := startRkexec(t, ns, "--name", "x", "--", "sleep", marker)
			waitForFile(t, cmd, filepath.Join(stateDir, "child_pid"), 4*time.Second)
			st := readState(t, stateDir)
			parentPID, _ := st["parent_pid"].(float64)
			if int(parentPID) != cmd.Process.Pid {
				t.Fatalf("state.json parent_pid %v, want rkexec's pid %d", st["parent_pid"], cmd.Process.Pid)
			}
			children := childrenNamed(t, cmd.Process.Pid, "rkexec:child")
			if len(children) != 1 {
				t.Fatalf("children of rkexec (pid %d) named rkexec:child: %v, want one", cmd.Process.Pid, children)
			}
			if err := syscall.Kill(children[0], syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// rkexec itself carries the marker too, and exits once its child is dead (it stays a
			// zombie, which does not count, until clean-up reaps it).
			noProcessesLeft(t, marker)
		})
	}
}
