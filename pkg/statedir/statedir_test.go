package statedir

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAcquireLocksAndReleaseRemovesCreatedDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sb")
	d, err := Acquire(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode: %v %v", fi, err)
	}
	if _, err := Acquire(path, false); !errors.Is(err, ErrInUse) {
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
	d, err := Acquire(path, false)
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
	for _, bad := range []string{"", "a/b", "..", "-x", "_x", ".x", "a b", "a\n", "é", string(make([]byte, 65)), "a" + strings.Repeat("b", 64)} {
		if CheckName(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"dev-1.x_y", "0", "A.-_", "a" + strings.Repeat("b", 63)} {
		if err := CheckName(good); err != nil {
			t.Error(err)
		}
	}
}

// TestValidNameIsTheRegexp: the hand-written check accepts exactly the names of the pattern it
// replaces, on every short string over an alphabet of each kind of character, and on long ones.
func TestValidNameIsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)
	alphabet := []string{"a", "Z", "0", "_", ".", "-", "/", " ", "\x00", "é", "\n"}
	check := func(name string) {
		if got, want := validName(name), re.MatchString(name); got != want {
			t.Errorf("validName(%q) = %v, the regexp says %v", name, got, want)
		}
	}
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		check(prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+c, n-1)
		}
	}
	gen("", 3)
	for _, n := range []int{63, 64, 65, 200} {
		check(strings.Repeat("a", n))
		check("a" + strings.Repeat("-", n-1))
		check(strings.Repeat("a", n-1) + "/")
	}
}

func TestAcquireRefusesSymlinksAndSharedDirs(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o700)
	link := filepath.Join(base, "link")
	os.Symlink(real, link)
	if _, err := Acquire(link, false); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlink: %v", err)
	}
	shared := filepath.Join(base, "shared")
	os.Mkdir(shared, 0o777)
	os.Chmod(shared, 0o777)
	if _, err := Acquire(shared, false); err == nil || !strings.Contains(err.Error(), "writable by others") {
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

// plant makes the files a hostile sandbox could leave in its directory dir.
func plant(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		var err error
		switch {
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(strings.TrimPrefix(content, "->"), filepath.Join(dir, name))
		case content == "fifo":
			err = unix.Mkfifo(filepath.Join(dir, name), 0o600)
		case content == "dir":
			err = os.Mkdir(filepath.Join(dir, name), 0o700)
		default:
			err = os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenReadsOnlyBoundedRegularStateFiles(t *testing.T) {
	big := t.TempDir()
	plant(t, big, map[string]string{LockFile: ""})
	if err := os.WriteFile(filepath.Join(big, StateFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(big, StateFile), 1<<30); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, want string
		dir        string
		files      map[string]string
	}{
		{"fifo", "not a regular file", "", map[string]string{LockFile: "", StateFile: "fifo"}},
		{"symlink to /dev/zero", "symlink", "", map[string]string{LockFile: "", StateFile: "->/dev/zero"}},
		{"directory", "not a regular file", "", map[string]string{LockFile: "", StateFile: "dir"}},
		{"not JSON", "decoding", "", map[string]string{LockFile: "", StateFile: "{"}},
		{"1 GiB", "larger than", big, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = t.TempDir()
				plant(t, dir, tc.files)
			}
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.StateErr == nil || !strings.Contains(s.StateErr.Error(), tc.want) {
				t.Errorf("StateErr %v, want one saying %q", s.StateErr, tc.want)
			}
		})
	}
	for _, lock := range []string{"fifo", "->/dev/zero", "dir"} {
		dir := t.TempDir()
		plant(t, dir, map[string]string{LockFile: lock})
		if s, err := Open(dir); err == nil {
			s.Close()
			t.Errorf("lock %s: opened, want an error", lock)
		}
	}
}

func TestListNamesSandboxesByDirectory(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a", "b"} {
		os.Mkdir(filepath.Join(root, name), 0o700)
		plant(t, filepath.Join(root, name), map[string]string{LockFile: "", StateFile: `{"name":"b","state_dir":"/"}`})
	}
	os.Mkdir(filepath.Join(root, "empty"), 0o700)
	os.Symlink(root+"/a", filepath.Join(root, "link"))
	os.Mkdir(filepath.Join(root, "bad\nname"), 0o700)
	boxes, problems, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range boxes {
		names = append(names, b.Name+"@"+b.Path)
		b.Close()
	}
	if want := []string{"a@" + root + "/a", "b@" + root + "/b", "empty@" + root + "/empty"}; !slices.Equal(names, want) {
		t.Errorf("List: %q, want %q", names, want)
	}
	var bad []string
	for _, p := range problems {
		bad = append(bad, p.Name)
	}
	if !slices.Equal(bad, []string{"bad\nname", "link"}) {
		t.Errorf("problems %q, want the bad name and the symlink", bad)
	}
}

func TestPruneRemovesOnlyRkexecsFiles(t *testing.T) {
	root := t.TempDir()
	precious := t.TempDir()
	plant(t, precious, map[string]string{"keep": "x"})
	mk := func(name string, files map[string]string) {
		os.Mkdir(filepath.Join(root, name), 0o700)
		plant(t, filepath.Join(root, name), files)
	}
	mk("links", map[string]string{LockFile: "", ChildPIDFile: "->" + precious + "/keep", StateFile: "->" + precious, APISockFile: "fifo"})
	mk("extra", map[string]string{LockFile: "", "notes": "mine"})
	mk("empty", nil)
	os.Symlink(precious, filepath.Join(root, "link"))

	if err := Prune(root, "links"); err != nil {
		t.Errorf("prune links: %v", err)
	}
	if err := Prune(root, "empty"); err != nil {
		t.Errorf("prune empty: %v", err)
	}
	if err := Prune(root, "extra"); err == nil || !strings.Contains(err.Error(), "notes") {
		t.Errorf("prune extra: %v, want an error naming the file it left", err)
	}
	if err := Prune(root, "link"); err == nil {
		t.Error("prune followed a symlink")
	}
	if data, err := os.ReadFile(filepath.Join(precious, "keep")); err != nil || string(data) != "x" {
		t.Errorf("a symlink's target was touched: %q %v", data, err)
	}
	entries, _ := os.ReadDir(root)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"extra", "link"}) {
		t.Errorf("left in the root: %q, want [extra link]", left)
	}

	// A held lock: not pruned.
	mk("live", map[string]string{LockFile: ""})
	d, err := Acquire(filepath.Join(root, "live"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	if err := Prune(root, "live"); !errors.Is(err, ErrInUse) {
		t.Errorf("prune of a locked dir: %v, want ErrInUse", err)
	}
}

// TestReleaseWorksOnTheDirectoryItCreated: a state root renamed and replaced by a symlink while the
// sandbox runs does not make the parent's clean-up remove a same-named directory elsewhere.
func TestReleaseWorksOnTheDirectoryItCreated(t *testing.T) {
	base := t.TempDir()
	root, victim := filepath.Join(base, "root"), filepath.Join(base, "victim")
	os.Mkdir(root, 0o700)
	os.MkdirAll(filepath.Join(victim, "x"), 0o700)
	plant(t, filepath.Join(victim, "x"), map[string]string{"keep": "x", StateFile: "victim's"})
	d, err := Acquire(filepath.Join(root, "x"), false)
	if err != nil {
		t.Fatal(err)
	}
	plant(t, filepath.Join(root, "x"), map[string]string{"written-by-the-target": "", "sub": "dir"})
	if err := os.Rename(root, root+".moved"); err != nil {
		t.Fatal(err)
	}
	os.Symlink(victim, root)
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keep", StateFile} {
		if _, err := os.Stat(filepath.Join(victim, "x", name)); err != nil {
			t.Errorf("release removed the victim's %s: %v", name, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(root+".moved", "x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("release left its own directory: %v", err)
	}
}

func TestCheckRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "rkexec")
	if exists, err := CheckRoot(root, false); exists || err != nil {
		t.Fatalf("missing root: %v %v", exists, err)
	}
	if exists, err := CheckRoot(root, true); !exists || err != nil {
		t.Fatalf("created root: %v %v", exists, err)
	}
	os.Chmod(root, 0o755)
	if _, err := CheckRoot(root, true); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("0755 root: %v", err)
	}
	link := filepath.Join(base, "link")
	os.Symlink(root, link)
	if _, err := CheckRoot(link, true); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlinked root: %v", err)
	}
	if os.Geteuid() == 0 {
		os.Chmod(root, 0o700)
		os.Chown(root, 65534, 65534)
		if _, err := CheckRoot(root, true); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
			t.Errorf("root of another user: %v", err)
		}
	}
	if got := Root("/run/user/1000", 1000); got != "/run/user/1000/rkexec" {
		t.Errorf("Root with XDG_RUNTIME_DIR: %s", got)
	}
}

func TestAcquireOwnedRemovesAReusedDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sb")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(path, LockFile), nil, 0o600) // left by a killed run
	d, err := Acquire(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Created {
		t.Error("a reused dir under the default root is not rkexec's")
	}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reused state dir left behind: %v", err)
	}
}

// TestRemoveOwnFilesFollowsTheDescriptor: the child's clean-up removes rkexec's files from the
// directory it was given open, whatever now has its name, and the directory only if its name still
// names it and nothing else is in it.
func TestRemoveOwnFilesFollowsTheDescriptor(t *testing.T) {
	setup := func(t *testing.T) (root, path string, d *Dir) {
		root = t.TempDir()
		path = filepath.Join(root, "sb")
		d, err := Acquire(path, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.close() })
		if err := d.WriteState(State{Name: "sb"}); err != nil {
			t.Fatal(err)
		}
		return root, path, d
	}
	victim := func(t *testing.T, dir string) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{LockFile, StateFile, "keep"} {
			if err := os.WriteFile(filepath.Join(dir, n), []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept := func(t *testing.T, dir string) {
		for _, n := range []string{LockFile, StateFile, "keep"} {
			if b, err := os.ReadFile(filepath.Join(dir, n)); err != nil || string(b) != "precious" {
				t.Errorf("%s removed: %q %v", filepath.Join(dir, n), b, err)
			}
		}
	}
	t.Run("in place", func(t *testing.T) {
		_, path, d := setup(t)
		if err := RemoveOwnFiles(d.DirFile(), path, true); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("state dir left: %v", err)
		}
	})
	t.Run("renamed, another dir in its place", func(t *testing.T) {
		root, path, d := setup(t)
		if err := os.Rename(path, filepath.Join(root, "moved")); err != nil {
			t.Fatal(err)
		}
		victim(t, path)
		if err := RemoveOwnFiles(d.DirFile(), path, true); err == nil {
			t.Error("no error for a directory replaced under its name")
		}
		kept(t, path)
		if left, _ := os.ReadDir(filepath.Join(root, "moved")); len(left) != 0 {
			t.Errorf("rkexec's files left in the moved dir: %v", left)
		}
	})
	t.Run("a file rkexec did not make", func(t *testing.T) {
		_, path, d := setup(t)
		os.WriteFile(filepath.Join(path, "keep"), nil, 0o600)
		if err := RemoveOwnFiles(d.DirFile(), path, true); err == nil || !strings.Contains(err.Error(), "did not make") {
			t.Errorf("error %v, want one saying the directory holds files rkexec did not make", err)
		}
		if left, _ := os.ReadDir(path); len(left) != 1 || left[0].Name() != "keep" {
			t.Errorf("left %v, want only keep", left)
		}
	})
	t.Run("not created", func(t *testing.T) {
		_, path, d := setup(t)
		if err := RemoveOwnFiles(d.DirFile(), path, false); err != nil {
			t.Fatal(err)
		}
		if left, err := os.ReadDir(path); err != nil || len(left) != 0 {
			t.Errorf("given dir: %v %v, want it kept, empty", left, err)
		}
	})
}
