package test

// The attacker: this test binary, run inside a sandbox with attackEnv set, does one thing a hostile
// root of the sandbox would do to rkexec's own processes and prints what it got, one "what: result"
// line per attempt, for the tests in security_test.go to judge. It runs from an init function so that
// neither TestMain nor a test runs in that process; as a plain test binary it does nothing.

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// attackEnv names the attack to run: "fd", "ptrace", "exe" or "overwrite" (see attack).
const attackEnv = "RKEXEC_TEST_ATTACK"

func init() {
	if what := os.Getenv(attackEnv); what != "" {
		os.Exit(attack(what, os.Args[1:], os.Stdout))
	}
}

// attack runs one attack on the process args[0] and returns the exit code: 0 when it could try (what
// it got is in the output), 2 on bad arguments.
//
//	fd PID FD             read FD of PID through /proc/PID/fd/FD and through pidfd_getfd
//	ptrace PID            PTRACE_SEIZE PID; read /proc/PID/environ and /proc/PID/mem
//	exe PID               open /proc/PID/exe with O_PATH; name what it is; reopen it for writing
//	overwrite PID READY RESULT [MARKER]
//	                      the CVE-2019-5736 pattern: /proc/PID/exe with O_PATH, tell READY (a FIFO),
//	                      SIGKILL PID, then reopen the binary for writing until it is no longer busy
//	                      (every rkexec gone) and write to it; the outcome goes to RESULT
//	zombie-leader READY [MARKER]
//	                      a daemon whose first thread exits while another runs on: /proc/PID/stat
//	                      then shows a zombie; says "up" on READY (a FIFO) first
func attack(what string, args []string, out io.Writer) int {
	if what == "zombie-leader" && len(args) >= 1 {
		return zombieLeader(args[0])
	}
	pid := 0
	if len(args) > 0 {
		pid, _ = strconv.Atoi(args[0])
	}
	if pid <= 0 {
		fmt.Fprintf(out, "usage: %s PID ...\n", what)
		return 2
	}
	proc := "/proc/" + strconv.Itoa(pid)
	switch {
	case what == "fd" && len(args) == 2:
		fd, _ := strconv.Atoi(args[1])
		fmt.Fprintf(out, "proc: %s\n", readPath(fmt.Sprintf("%s/fd/%d", proc, fd)))
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			fmt.Fprintf(out, "pidfd_getfd: pidfd_open: %v\n", err)
			return 0
		}
		got, err := unix.PidfdGetfd(pidfd, fd, 0)
		if err != nil {
			fmt.Fprintf(out, "pidfd_getfd: %v\n", err)
			return 0
		}
		fmt.Fprintf(out, "pidfd_getfd: %s\n", readFD(got))
	case what == "ptrace" && len(args) == 1:
		runtime.LockOSThread() // ptrace requests belong to the thread that attached
		if err := unix.PtraceSeize(pid); err != nil {
			fmt.Fprintf(out, "ptrace: %v\n", err)
		} else {
			fmt.Fprintln(out, "ptrace: attached")
			_ = unix.PtraceDetach(pid) // a seized tracee runs on; detaching is only tidy
		}
		fmt.Fprintf(out, "environ: %s\n", readPath(proc+"/environ"))
		fmt.Fprintf(out, "mem: %s\n", readMem(proc+"/mem"))
	case what == "exe" && len(args) == 1:
		fd, err := unix.Open(proc+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintf(out, "open O_PATH: %v\n", err)
			return 0
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err == nil {
			fmt.Fprintf(out, "open O_PATH: dev %d ino %d\n", st.Dev, st.Ino)
		}
		w, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintf(out, "reopen for writing: %v\n", err)
			return 0
		}
		seals, err := unix.FcntlInt(uintptr(w), unix.F_GET_SEALS, 0)
		fmt.Fprintf(out, "reopen for writing: opened, seals %#x (%v)\n", seals, err)
		_, err = unix.Write(w, []byte("overwritten"))
		fmt.Fprintf(out, "write: %v\n", err)
	case what == "overwrite" && len(args) >= 3: // more: a marker for the test to find it
		fd, err := unix.Open(proc+"/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
		report := func(s string) { _ = os.WriteFile(args[2], []byte(s+"\n"), 0o644) }
		ready, _ := os.OpenFile(args[1], os.O_WRONLY, 0)
		fmt.Fprintf(ready, "O_PATH: %v\n", err)
		ready.Close()
		if err != nil {
			report(fmt.Sprintf("open O_PATH: %v", err))
			return 0
		}
		_ = unix.Kill(pid, unix.SIGKILL)
		deadline := time.Now().Add(20 * time.Second)
		for {
			w, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
			if err == nil {
				_, err = unix.Pwrite(w, []byte("#!/bin/sh\necho overwritten\n"), 0)
				report(fmt.Sprintf("overwrote the binary: %v", err))
				return 0
			}
			if err != unix.ETXTBSY || time.Now().After(deadline) {
				report(fmt.Sprintf("reopen for writing: %v", err))
				return 0
			}
			time.Sleep(10 * time.Millisecond) // the binary is busy until every rkexec has exited
		}
	default:
		fmt.Fprintf(out, "unknown attack %q %q\n", what, args)
		return 2
	}
	return 0
}

// readPath returns the first bytes of a file, or the error that prevented reading it.
func readPath(path string) string {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err.Error()
	}
	return readFD(fd)
}

func readFD(fd int) string {
	f := os.NewFile(uintptr(fd), "attacked")
	defer f.Close()
	b := make([]byte, 4096)
	n, err := f.Read(b)
	if n == 0 && err != nil {
		return "read: " + err.Error()
	}
	return "read " + strconv.Quote(string(b[:n]))
}

// readMem reads one byte of the process's memory at the start of its text (found in its maps); it
// returns the error that prevented it.
func readMem(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	maps, err := os.ReadFile(path[:len(path)-len("mem")] + "maps")
	if err != nil {
		return "maps: " + err.Error()
	}
	var start uint64
	if _, err := fmt.Sscanf(string(maps), "%x-", &start); err != nil {
		return "maps: " + err.Error()
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, int64(start)); err != nil {
		return err.Error()
	}
	return "read one byte"
}

// zombieLeader starts a thread that tells ready it runs and then sleeps for good, and ends the main
// thread alone (exit, not exit_group): the process lives on in that thread, while /proc/PID/stat shows
// its leader as a zombie. It runs from init, where the runtime keeps this goroutine on the main thread.
func zombieLeader(ready string) int {
	up := make(chan error)
	go func() {
		runtime.LockOSThread() // not the main thread, which is this function's until it exits
		err := os.WriteFile(ready, []byte("up\n"), 0)
		up <- err
		for {
			time.Sleep(time.Hour)
		}
	}()
	if err := <-up; err != nil {
		fmt.Fprintf(os.Stderr, "zombie-leader: %v\n", err)
		return 1
	}
	unix.RawSyscall(unix.SYS_EXIT, 0, 0, 0) // this thread only
	return 0                                // not reached
}
