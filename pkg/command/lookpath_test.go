package command

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	plain := filepath.Join(dir, "data")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(plain, nil, 0o644)
	env := []string{"PATH=/nonexistent:" + dir}
	if got, err := LookPath("tool", env); err != nil || got != exe {
		t.Fatalf("LookPath(tool) = %q, %v", got, err)
	}
	cases := map[string]int{"data": 127, "missing": 127, plain: 126, dir: 126, filepath.Join(dir, "missing"): 127}
	for name, code := range cases {
		_, err := LookPath(name, env)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("LookPath(%q): %v, want code %d", name, err, code)
		}
	}
}

func TestExecFailed(t *testing.T) {
	err := ExecFailed("sh", unix.E2BIG)
	if CodeOf(err) != 126 || !strings.Contains(err.Error(), "exec sh: argument list too long (") || !strings.Contains(err.Error(), "ARG_MAX") {
		t.Errorf("E2BIG: %v, code %d", err, CodeOf(err))
	}
	if err := ExecFailed("x", unix.ENOENT); CodeOf(err) != 127 || err.Error() != "exec x: no such file or directory" {
		t.Errorf("ENOENT: %v, code %d", err, CodeOf(err))
	}
}
