package command

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
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
