package idmap

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// runHelper runs newuidmap or newgidmap with a clean environment.
func runHelper(path string, pid int, m []Mapping) error {
	args := append([]string{strconv.Itoa(pid)}, helperArgs(m)...)
	cmd := exec.Command(path, args...)
	cmd.Env = []string{}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", path, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
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
