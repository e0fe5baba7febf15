package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

// TestWrite: the file gets the content and exactly the permissions asked for, replacing what was
// there, and nothing else is left in the directory.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "child_pid")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"123", 0o444}, {"4567", 0o644}} {
		if err := Write(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != tc.data {
			t.Fatalf("content %q, %v; want %q", b, err, tc.data)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != tc.perm {
			t.Fatalf("mode %v, %v; want %v", fi.Mode().Perm(), err, tc.perm)
		}
	}
	if got := names(t, dir); !slices.Equal(got, []string{"child_pid"}) {
		t.Fatalf("directory holds %q, want only child_pid", got)
	}
}

// TestWriteFailureLeavesNoTemporaryFile: when the rename fails (the target is a directory that is not
// empty), the error is returned, the target is unchanged and no temporary file is left.
func TestWriteFailureLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "inside"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var le *os.LinkError
	if err := Write(path, []byte("{}"), 0o600); err == nil {
		t.Fatal("Write over a non-empty directory succeeded")
	} else if !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want an *os.LinkError from the rename", err, err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"state.json"}) {
		t.Fatalf("directory holds %q after the failure, want only state.json", got)
	}
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		t.Fatalf("the target changed: %v, %v", fi, err)
	}
}

// TestWriteMissingDirectory: a directory that does not exist is a *os.PathError and creates nothing.
func TestWriteMissingDirectory(t *testing.T) {
	dir := t.TempDir()
	var pe *os.PathError
	if err := Write(filepath.Join(dir, "no", "pid"), []byte("1"), 0o644); !errors.As(err, &pe) {
		t.Fatalf("error %v, want an *os.PathError", err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("directory holds %q, want nothing", got)
	}
}

// openDir opens dir for WriteAt.
func openDir(t *testing.T, dir string) *os.File {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// TestWriteAtReplacesPlantedTemporaryFile: a symlink or a FIFO planted under the temporary name is
// removed, never opened: the symlink's target keeps its content, and the write does not block.
func TestWriteAtReplacesPlantedTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, plant := range []func(path string) error{
		func(path string) error { return os.Symlink(victim, path) },
		func(path string) error { return unix.Mkfifo(path, 0o600) },
	} {
		if err := plant(filepath.Join(dir, TempName("state.json"))); err != nil {
			t.Fatal(err)
		}
		if err := WriteAt(openDir(t, dir), "state.json", []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "state.json")); err != nil || string(b) != "{}" {
			t.Fatalf("state.json: %q, %v", b, err)
		}
		if got := names(t, dir); !slices.Equal(got, []string{"state.json"}) {
			t.Fatalf("directory holds %q, want only state.json", got)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
		t.Fatalf("the symlink's target was written: %q, %v", b, err)
	}
}

// TestWriteAtFailureLeavesNoTemporaryFile: as for Write, a failed rename leaves the target and no
// temporary file.
func TestWriteAtFailureLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "child_pid", "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	var le *os.LinkError
	if err := WriteAt(openDir(t, dir), "child_pid", []byte("1"), 0o444); !errors.As(err, &le) {
		t.Fatalf("error %v (%T), want an *os.LinkError from the rename", err, err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"child_pid"}) {
		t.Fatalf("directory holds %q after the failure, want only child_pid", got)
	}
}
