package process

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseCap(t *testing.T) {
	for in, want := range map[string]string{"CAP_NET_ADMIN": "CAP_NET_ADMIN", "net_admin": "CAP_NET_ADMIN", "SYS_ADMIN": "CAP_SYS_ADMIN", "cap_chown": "CAP_CHOWN"} {
		got, err := ParseCap(in)
		if err != nil || got != want {
			t.Errorf("ParseCap(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseCap("CAP_FLY"); err == nil {
		t.Error("CAP_FLY accepted")
	}
}

func TestMaskOf(t *testing.T) {
	m, err := maskOf([]string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_CHECKPOINT_RESTORE"})
	if err != nil {
		t.Fatal(err)
	}
	if want := capMask(1<<0 | 1<<10 | 1<<40); m != want {
		t.Fatalf("mask %#x, want %#x", m, want)
	}
}

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
