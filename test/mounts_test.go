package test

// Copy-up and mount propagation, as seen in /proc/self/mountinfo inside and on the host.

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyUpEtc: --copy-up=/etc puts a writable tmpfs on /etc inside; edits there leave the host's
// /etc untouched.
func TestCopyUpEtc(t *testing.T) {
	t.Parallel()
	victim := ""
	for _, name := range []string{"hostname", "debian_version", "os-release", "passwd"} {
		if _, err := os.Lstat("/etc/" + name); err == nil {
			victim = "/etc/" + name
			break
		}
	}
	if victim == "" {
		t.Fatal("none of the usual files in /etc exists")
	}
	before, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	created := "/etc/rkexec-test-file-" + newMarker(t)
	script := `set -e
cat /proc/self/mountinfo
echo -----
echo x > "$1"
cat "$1"
rm "$2"
if [ -e "$2" ]; then echo "$2 still there"; exit 1; fi
`
	res := rkexec(t, "--copy-up=/etc", "--", "sh", "-c", script, "sh", created, victim)
	wantExit(t, res, 0)
	mountinfo, rest, ok := strings.Cut(res.Stdout, "-----\n")
	if !ok {
		t.Fatalf("unexpected output:\n%s", res.Stdout)
	}
	if m := topMount(t, mountinfo, "/etc"); m.FSType != "tmpfs" {
		t.Errorf("/etc inside is %s, want tmpfs", m.FSType)
	}
	if rest != "x\n" {
		t.Errorf("reading back the new file inside: %q, want %q", rest, "x\n")
	}
	if _, err := os.Lstat(created); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists on the host (err %v)", created, err)
		os.Remove(created)
	}
	after, err := os.ReadFile(victim)
	if err != nil {
		t.Errorf("%s removed inside is gone on the host: %v", victim, err)
	} else if string(after) != string(before) {
		t.Errorf("%s changed on the host", victim)
	}
}

// TestNoCopyUpEtcReadOnly: without copy-up, /etc is the host's and the user's root cannot write it.
func TestNoCopyUpEtcReadOnly(t *testing.T) {
	t.Parallel()
	created := "/etc/rkexec-test-file-" + newMarker(t)
	res := rkexec(t, "--", "sh", "-c", `echo x > "$1"`, "sh", created)
	if res.ExitCode == 0 {
		t.Errorf("writing %s inside succeeded without --copy-up", created)
	}
	if !strings.Contains(res.Stderr, "Permission denied") && !strings.Contains(res.Stderr, "Read-only file system") {
		t.Errorf("want EACCES or EROFS, stderr:\n%s", res.Stderr)
	}
	if _, err := os.Lstat(created); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists on the host (err %v)", created, err)
		os.Remove(created)
	}
}

// TestCopyUpOwnDir: copy-up of a directory the user owns; the originals stay visible through
// symlinks, and changes stay inside.
func TestCopyUpOwnDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig")
	if err := os.WriteFile(orig, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `set -e
cat /proc/self/mountinfo
echo -----
cat "$1/orig"
if [ -L "$1/orig" ]; then echo symlink; fi
echo new > "$1/added"
rm "$1/orig"
ls "$1"
`
	res := rkexec(t, "--copy-up="+dir, "--", "sh", "-c", script, "sh", dir)
	wantExit(t, res, 0)
	mountinfo, rest, ok := strings.Cut(res.Stdout, "-----\n")
	if !ok {
		t.Fatalf("unexpected output:\n%s", res.Stdout)
	}
	if m := topMount(t, mountinfo, dir); m.FSType != "tmpfs" {
		t.Errorf("%s inside is %s, want tmpfs", dir, m.FSType)
	}
	if want := "original\nsymlink\nadded\n"; rest != want {
		t.Errorf("inside: %q, want %q (content, symlink, listing after the edits)", rest, want)
	}
	if got := dirEntries(t, dir); len(got) != 1 || got[0] != "orig" {
		t.Errorf("on the host the directory holds %q, want [orig]", got)
	}
	if data, err := os.ReadFile(orig); err != nil || string(data) != "original\n" {
		t.Errorf("on the host orig: %q, %v", data, err)
	}
}

// hostRootShared reports whether / is a shared mount in the test's own mount namespace.
func hostRootShared(t testing.TB) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return topMount(t, string(data), "/").hasTag("shared:")
}

func TestPropagation(t *testing.T) {
	t.Parallel()
	hostShared := hostRootShared(t)
	for _, tc := range []struct {
		flags              []string
		shared             bool
		masterOnSharedHost bool // master: appears when the host's / is shared (a less privileged copy of a shared mount is its slave)
	}{
		{flags: nil},
		{flags: []string{"--propagation=rprivate"}},
		{flags: []string{"--propagation=private"}},
		{flags: []string{"--propagation=rshared"}, shared: true, masterOnSharedHost: true},
		{flags: []string{"--propagation=shared"}, shared: true, masterOnSharedHost: true},
		{flags: []string{"--propagation=rslave"}, masterOnSharedHost: true},
		{flags: []string{"--propagation=slave"}, masterOnSharedHost: true},
	} {
		name := strings.Join(tc.flags, " ")
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := append(append([]string{}, tc.flags...), "--", "cat", "/proc/self/mountinfo")
			res := rkexec(t, args...)
			wantExit(t, res, 0)
			root := topMount(t, res.Stdout, "/")
			wantMaster := tc.masterOnSharedHost && hostShared
			if root.hasTag("shared:") != tc.shared || root.hasTag("master:") != wantMaster {
				t.Errorf("/ inside has %q, want shared %v, master %v (host's / shared: %v)",
					root.Optional, tc.shared, wantMaster, hostShared)
			}
		})
	}
}

// TestPropagationNested runs rkexec inside an rkexec with an rshared /, so the inner / has a master
// whatever the host's / is: rslave keeps it as master only, rshared adds a peer group, rprivate drops it.
func TestPropagationNested(t *testing.T) {
	t.Parallel()
	bin := rkexecBin(t)
	for _, tc := range []struct {
		prop           string
		shared, master bool
	}{
		{"rslave", false, true},
		{"slave", false, true},
		{"rshared", true, true},
		{"rprivate", false, false},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			t.Parallel()
			res := rkexec(t, "--propagation=rshared", "--", bin, "--propagation="+tc.prop, "--", "cat", "/proc/self/mountinfo")
			wantExit(t, res, 0)
			root := topMount(t, res.Stdout, "/")
			if root.hasTag("shared:") != tc.shared || root.hasTag("master:") != tc.master {
				t.Errorf("inner / has %q, want shared %v, master %v", root.Optional, tc.shared, tc.master)
			}
		})
	}
}

// TestPropagationReceivesMounts proves propagation by behaviour: the outer rkexec has an rshared /; a
// tmpfs mounted in the outer sandbox after the inner one started shows up inside an rslave inner
// sandbox, and not inside an rprivate one.
func TestPropagationReceivesMounts(t *testing.T) {
	t.Parallel()
	bin := rkexecBin(t)
	for prop, want := range map[string]string{"rslave": "1", "rprivate": "0"} {
		t.Run(prop, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			target := filepath.Join(tmp, "mnt")
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
			ready, mounted := filepath.Join(tmp, "ready"), filepath.Join(tmp, "mounted")
			// The inner sandbox says it is ready, waits until the outer one has mounted, then counts
			// the mounts on target it sees.
			inner := `echo > "$1"; while [ ! -e "$2" ]; do sleep 0.02; done; grep -c " $3 " /proc/self/mountinfo || true`
			outer := `"$0" --propagation=` + prop + ` -- sh -c '` + inner + `' sh "$1" "$2" "$3" &
while [ ! -e "$1" ]; do sleep 0.02; done
mount -t tmpfs none "$3" && echo > "$2"
wait $!`
			res := rkexec(t, "--propagation=rshared", "--", "sh", "-c", outer, bin, ready, mounted, target)
			wantExit(t, res, 0)
			if got := strings.TrimSpace(res.Stdout); got != want {
				t.Errorf("mounts on %s inside the inner %s sandbox after the outer one mounted there: %q, want %s",
					target, prop, got, want)
			}
		})
	}
}

// mountEntry is one line of /proc/PID/mountinfo.
type mountEntry struct {
	MountPoint string
	Optional   []string // "shared:N", "master:N", ...
	FSType     string
}

// topMount returns the last (topmost) mount on mountPoint in a mountinfo text.
func topMount(t testing.TB, mountinfo, mountPoint string) mountEntry {
	t.Helper()
	var found *mountEntry
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) {
			continue
		}
		if f[4] == mountPoint {
			found = &mountEntry{MountPoint: f[4], Optional: f[6:sep], FSType: f[sep+1]}
		}
	}
	if found == nil {
		t.Fatalf("no mount on %s in mountinfo:\n%s", mountPoint, mountinfo)
	}
	return *found
}

// hasTag reports whether a mount has an optional field starting with prefix ("shared:", "master:").
func (m mountEntry) hasTag(prefix string) bool {
	for _, o := range m.Optional {
		if strings.HasPrefix(o, prefix) {
			return true
		}
	}
	return false
}
