// Command reap runs one part of scripts/bench.sh and proves it left no process behind: it becomes a
// child subreaper (PR_SET_CHILD_SUBREAPER), so every process the command starts that outlives its
// parent is re-parented to reap instead of the system's init; once the command has exited, reap gives
// the stragglers -grace to exit (a tool's teardown may end a helper just after the tool itself exits),
// then kills whatever is left, names it, and fails. It is a benchmark tool, not part of rkexec.
//
//	reap [-grace 3s] [-timeout 10m] [-pidfile FILE] -- COMMAND [ARG...]
//
// The command runs in its own process group, to which reap passes SIGINT, SIGTERM and SIGHUP, and
// which it ends (SIGTERM, then SIGKILL 10 s later) once -timeout has passed, so that a hung part
// bounds the benchmark's time. -pidfile writes the command's pid, so the benchmark can find the
// tool's process tree. reap exits with the command's status, or 1 when it timed out or something was
// left behind.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	grace := flag.Duration("grace", 3*time.Second, "how long processes may outlive the command")
	pidfile := flag.String("pidfile", "", "file to write the command's pid to")
	timeout := flag.Duration("timeout", 0, "end the command after this long (0: never)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: reap [-grace D] [-timeout D] [-pidfile FILE] -- COMMAND [ARG...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	code, err := run(flag.Args(), *grace, *timeout, *pidfile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reap: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(argv []string, grace, timeout time.Duration, pidfile string) (int, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("becoming a child subreaper: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	// Its own process group is not the terminal's foreground group: no stdin, so that nothing in
	// it stops on reading (or taking over) a terminal.
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A signal meant for the benchmark goes to the command's group, whose clean-up traps must run.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	group := -cmd.Process.Pid
	go func() {
		for s := range sigs {
			_ = unix.Kill(group, s.(syscall.Signal)) // the group may be gone already
		}
	}()
	var timedOut atomic.Bool
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() {
			timedOut.Store(true)
			_ = unix.Kill(group, unix.SIGTERM) // the group may be gone already
			time.Sleep(10 * time.Second)
			_ = unix.Kill(group, unix.SIGKILL)
		})
		defer t.Stop()
	}
	if pidfile != "" {
		if err := os.WriteFile(pidfile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
			_ = cmd.Process.Kill() // the caller cannot find it without the file
			_ = cmd.Wait()
			return 0, fmt.Errorf("writing -pidfile: %w", err)
		}
	}
	code := 0
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return 0, fmt.Errorf("waiting for %s: %w", argv[0], err)
		}
		code = exit.ExitCode()
		if code < 0 {
			code = 128 + int(exit.Sys().(syscall.WaitStatus).Signal())
		}
	}
	left := stragglers(grace)
	if timedOut.Load() {
		for _, p := range left {
			_ = unix.Kill(p.pid, unix.SIGKILL) // it may have exited meanwhile
		}
		reapAll(time.Second)
		return 0, fmt.Errorf("%s did not finish within %v: ended", argv[0], timeout)
	}
	if len(left) == 0 {
		return code, nil
	}
	for _, p := range left {
		_ = unix.Kill(p.pid, unix.SIGKILL) // it may have exited meanwhile
	}
	reapAll(time.Second)
	return 0, fmt.Errorf("%s left %d process(es) behind (killed now): %s", argv[0], len(left), describe(left))
}

// orphan is a process re-parented to reap.
type orphan struct {
	pid     int
	cmdline string
}

// stragglers reaps exited orphans until none is left or grace has passed, and returns the live ones.
func stragglers(grace time.Duration) []orphan {
	deadline := time.Now().Add(grace)
	for {
		reapAll(0)
		left := children()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond) // no signal tells a subreaper that an orphan is on its way
	}
}

// reapAll waits for exited children, for at most d once none is waiting.
func reapAll(d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil { // ECHILD: none left
			return
		}
		if pid == 0 {
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// children lists reap's live children, from the parent pids in /proc/PID/stat.
func children() []orphan {
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*") // the pattern is valid
	var out []orphan
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // exited while we read /proc
		}
		s := string(b)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(s[end+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(self) || f[0] == "Z" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d)) // the glob matched digits
		cmdline, _ := os.ReadFile(d + "/cmdline")
		out = append(out, orphan{pid: pid, cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))})
	}
	return out
}

func describe(ps []orphan) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%d %q", p.pid, p.cmdline)
	}
	return strings.Join(parts, ", ")
}
