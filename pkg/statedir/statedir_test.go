package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAcquireLocksAndReleaseRemovesCreatedDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sb")
	d, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode: %v %v", fi, err)
	}
	if _, err := Acquire(path); !errors.Is(err, ErrInUse) {
		t.Fatalf("second acquire: %v, want ErrInUse", err)
	}
	if !alive(t, path) {
		t.Fatal("Alive is false while locked")
	}
	if err := d.WriteChildPID(42); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir left behind: %v", err)
	}
}

func TestAcquireGivenDirKeepsItAndReusesStaleFiles(t *testing.T) {
	path := t.TempDir()
	os.WriteFile(filepath.Join(path, ChildPIDFile), []byte("123"), 0o444)
	os.WriteFile(filepath.Join(path, "user-file"), nil, 0o600)
	d, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(path, ChildPIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("stale child_pid kept")
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if alive(t, path) {
		t.Fatal("Alive after release")
	}
	entries, _ := os.ReadDir(path)
	if len(entries) != 1 || entries[0].Name() != "user-file" {
		t.Fatalf("left in a given dir: %v", entries)
	}
}

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", "a/b", "..", "-x", string(make([]byte, 65))} {
		if CheckName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := CheckName("dev-1.x_y"); err != nil {
		t.Error(err)
	}
}

func TestAcquireRefusesSymlinksAndSharedDirs(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o700)
	link := filepath.Join(base, "link")
	os.Symlink(real, link)
	if _, err := Acquire(link); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlink: %v", err)
	}
	shared := filepath.Join(base, "shared")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o777)
	if _, err := Acquire(shared); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Fatalf("0777 dir: %v", err)
	}
}

// alive opens path as a sandbox and reports whether its lock is held.
func alive(t *testing.T, path string) bool {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Alive
}
