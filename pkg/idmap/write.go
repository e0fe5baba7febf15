package idmap

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Write writes plan's maps for the process pid, which must be in a new user namespace without maps.
func Write(pid int, plan Plan) error {
	switch plan.Method {
	case MethodHelpers:
		// The two helpers are independent: run them side by side.
		gidErr := make(chan error, 1)
		go func() { gidErr <- runHelper(plan.NewGIDMap, pid, plan.GIDMap) }()
		uidErr := runHelper(plan.NewUIDMap, pid, plan.UIDMap)
		return errors.Join(uidErr, <-gidErr)
	case MethodDirectFull:
		if err := writeMapFile(pid, "uid_map", plan.UIDMap); err != nil {
			return err
		}
		return writeMapFile(pid, "gid_map", plan.GIDMap)
	case MethodDirectSingle:
		if err := writeMapFile(pid, "uid_map", plan.UIDMap); err != nil {
			return err
		}
		if err := denySetgroups(pid); err != nil {
			return err
		}
		return writeMapFile(pid, "gid_map", plan.GIDMap)
	}
	return fmt.Errorf("unknown id map method %q", plan.Method)
}

// runHelper runs newuidmap or newgidmap with a clean environment, no stdin, and its output on a
// pipe for the error. With syscall.ForkExec and wait4 rather than os/exec, which first checks, once
// per process, that pidfds work (a clone of a child that exits, 0.15-0.35 ms here): every run of
// rkexec waits for its helpers.
func runHelper(path string, pid int, m []Mapping) error {
	args := append([]string{strconv.Itoa(pid)}, helperArgs(m)...)
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("%s: output pipe: %w", path, err)
	}
	defer r.Close()
	noStdin := ^uintptr(0) // -1: closed in the helper
	helper, err := syscall.ForkExec(path, append([]string{path}, args...), &syscall.ProcAttr{
		Env:   []string{},
		Files: []uintptr{noStdin, w.Fd(), w.Fd()},
	})
	w.Close()
	if err != nil {
		return fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
	}
	out, _ := io.ReadAll(r) // until the helper exits: its output is a line or two
	var ws syscall.WaitStatus
	for {
		_, err = syscall.Wait4(helper, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("%s %s: waiting for it: %w", path, strings.Join(args, " "), err)
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Signaled():
		return fmt.Errorf("%s %s: %s: %s", path, strings.Join(args, " "), ws.Signal(), strings.TrimSpace(string(out)))
	}
	return fmt.Errorf("%s %s: exit status %d: %s", path, strings.Join(args, " "), ws.ExitStatus(), strings.TrimSpace(string(out)))
}

func writeMapFile(pid int, file string, m []Mapping) error {
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	if err := os.WriteFile(path, []byte(fileContent(m)), 0); err != nil {
		return fmt.Errorf("writing %s for pid %d: %w", file, pid, err)
	}
	return nil
}

func denySetgroups(pid int) error {
	path := fmt.Sprintf("/proc/%d/setgroups", pid)
	if err := os.WriteFile(path, []byte("deny"), 0); err != nil {
		return fmt.Errorf("denying setgroups for pid %d: %w", pid, err)
	}
	return nil
}
