package test

// CI in a user namespace: the jobs a CI runner gives root (network namespaces and a veth pair, a
// tmpfs, chown to many ids, tar -xp of an archive with many owners) run inside rkexec as the
// unprivileged user, with the job's own tools (iproute2, mount, chown, GNU tar, busybox ping). What
// the job did is checked from the host too: the owners a file got are the user's subordinate ids.

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireCIJobTools needs the subordinate ids and the job's tools.
func requireCIJobTools(t testing.TB, tools ...string) {
	t.Helper()
	requireSubids(t)
	for _, c := range tools {
		if _, err := exec.LookPath(c); err != nil {
			skipOrFail(t, "%s in PATH (apt-get install iproute2 busybox-static tar util-linux)", c)
		}
	}
}

// idMapping is how the sandbox's ids map to the host's: 0 to the user, 1... to its subordinate
// ranges in file order.
type idMapping struct {
	own    uint32
	ranges []idRange
}

func uidMapping(t testing.TB) idMapping {
	return idMapping{own: uint32(os.Getuid()), ranges: subIDRanges(t, "/etc/subuid")}
}

func gidMapping(t testing.TB) idMapping {
	return idMapping{own: uint32(os.Getgid()), ranges: subIDRanges(t, "/etc/subgid")}
}

// size is how many ids the sandbox has: 0 to size-1.
func (m idMapping) size() uint64 {
	n := uint64(1)
	for _, r := range m.ranges {
		n += uint64(r.Count)
	}
	return n
}

// host returns the host's id for the sandbox's id.
func (m idMapping) host(t testing.TB, id uint32) uint32 {
	t.Helper()
	if id == 0 {
		return m.own
	}
	inside := uint64(1)
	for _, r := range m.ranges {
		if uint64(id) < inside+uint64(r.Count) {
			return r.Start + uint32(uint64(id)-inside)
		}
		inside += uint64(r.Count)
	}
	t.Fatalf("id %d is not mapped (the sandbox has %d ids)", id, m.size())
	return 0
}

// ciIDs are the sandbox ids the jobs give files: the edges of the mapping and a few between.
func ciIDs(t testing.TB) []uint32 {
	t.Helper()
	size := min(uidMapping(t).size(), gidMapping(t).size())
	if size < 65536 {
		skipOrFail(t, "at least 65535 subordinate uids and gids (the sandbox has %d ids; scripts/setup-test-env.sh gives 65536)", size)
	}
	return []uint32{0, 1, 2, 7, 33, 100, 999, 1000, 1001, 4096, 30000, 65534, uint32(size - 1)}
}

// ownerOnHost returns the host's uid and gid of path (not following a symlink).
func ownerOnHost(t testing.TB, path string) (uid, gid uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// TestCIJobNetworkNamespaces: with --net=none --copy-up=/run, the job creates two network
// namespaces (ip netns add needs a writable /run), a veth pair with one end moved into one of
// them, addresses on both ends, enters the namespace (ip netns exec) and pings across. None of it
// reaches the host.
func TestCIJobNetworkNamespaces(t *testing.T) {
	t.Parallel()
	requireCIJobTools(t, "ip", "busybox")
	suffix := strconv.Itoa(os.Getpid() % 100000)
	nsA, nsB, vethA, vethB := "rkci-a-"+suffix, "rkci-b-"+suffix, "rkva"+suffix, "rkvb"+suffix
	script := `set -eu
ns_a=$1 ns_b=$2 va=$3 vb=$4
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$va" type veth peer name "$vb"
ip link set "$vb" netns "$ns_a"
ip addr add 10.199.0.1/24 dev "$va"
ip link set "$va" up
ip netns exec "$ns_a" ip addr add 10.199.0.2/24 dev "$vb"
ip netns exec "$ns_a" ip link set "$vb" up
echo "sandbox-netns $(readlink /proc/self/ns/net)"
echo "a-netns $(ip netns exec "$ns_a" readlink /proc/self/ns/net)"
echo "b-netns $(ip netns exec "$ns_b" readlink /proc/self/ns/net)"
echo "a-addr $(ip netns exec "$ns_a" ip -o -4 addr show dev "$vb" | awk '{print $4}')"
echo "b-links $(ip netns exec "$ns_b" ip -o link | wc -l)"
echo "list $(ip netns list | awk '{print $1}' | sort | tr '\n' ,)"
busybox ping -c 1 -W 5 10.199.0.2 >/dev/null && echo "ping-to-a ok"
ip netns exec "$ns_a" busybox ping -c 1 -W 5 10.199.0.1 >/dev/null && echo "ping-from-a ok"
ip netns del "$ns_b"
echo "after-del $(ip netns list | awk '{print $1}' | tr '\n' ,)"
`
	res := rkexec(t, "--net=none", "--copy-up=/run", "--", "sh", "-c", script, "sh", nsA, nsB, vethA, vethB)
	wantExit(t, res, 0)
	got := fieldPairsAfter(res.Stdout)
	want := map[string]string{
		"a-addr":      "10.199.0.2/24",
		"b-links":     "1", // a fresh namespace has lo only
		"list":        strings.Join(slices.Sorted(slices.Values([]string{nsA, nsB})), ",") + ",",
		"ping-to-a":   "ok",
		"ping-from-a": "ok",
		"after-del":   nsA + ",",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q\nstdout:\n%s\nstderr:\n%s", k, got[k], v, res.Stdout, res.Stderr)
		}
	}
	if a, b, s := got["a-netns"], got["b-netns"], got["sandbox-netns"]; a == "" || a == b || a == s || b == s {
		t.Errorf("ip netns exec did not enter namespaces of their own: sandbox %q, %s %q, %s %q", s, nsA, a, nsB, b)
	}
	// The namespaces' files were in the sandbox's copy of /run; the veth in its network namespace.
	for _, ns := range []string{nsA, nsB} {
		notCreated(t, filepath.Join("/run/netns", ns), "the job's network namespace is visible in the host's /run/netns")
	}
	if _, err := os.Stat(filepath.Join("/sys/class/net", vethA)); err == nil {
		t.Errorf("the job's veth %s is on the host", vethA)
	}
}

// fieldPairsAfter maps the first word of each line of s to the rest of the line.
func fieldPairsAfter(s string) map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			m[k] = v
		}
	}
	return m
}

// TestCIJobTmpfs: the job mounts a tmpfs on a directory of the host's file system and writes to
// it; the host sees neither the mount nor the file, while the job runs or after.
func TestCIJobTmpfs(t *testing.T) {
	t.Parallel()
	requireCIJobTools(t, "mount")
	dir := t.TempDir()
	mnt, ready, stop := filepath.Join(dir, "mnt"), filepath.Join(dir, "ready"), filepath.Join(dir, "stop")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `set -eu
mount -t tmpfs -o size=4m,mode=0750 rkci-tmpfs "$1"
echo in-tmpfs >"$1/file"
echo "fstype $(stat -f -c %T "$1")"
echo "source $(awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++); print $(i+2) }' /proc/self/mountinfo)"
touch "$2"
while [ ! -e "$3" ]; do sleep 0.02; done
cat "$1/file"
`
	cmd := startRkexec(t, "--", "sh", "-c", script, "sh", mnt, ready, stop)
	waitForFile(t, cmd, ready, defaultRunTimeout)
	notCreated(t, filepath.Join(mnt, "file"), "the host sees the file the job wrote into its tmpfs")
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := waitExit(t, cmd, defaultRunTimeout)
	wantExit(t, res, 0)
	got := fieldPairsAfter(res.Stdout)
	if got["fstype"] != "tmpfs" || got["source"] != "rkci-tmpfs" || !strings.HasSuffix(res.Stdout, "in-tmpfs\n") {
		t.Errorf("inside: want the tmpfs rkci-tmpfs on %s with the file; stdout:\n%s\nstderr:\n%s", mnt, res.Stdout, res.Stderr)
	}
	notCreated(t, filepath.Join(mnt, "file"), "the job's tmpfs file is on the host after the job")
}

// TestCIJobChown: the job chowns files (and a symlink, with -h) to ids across its mapping; the host
// sees the user for 0 and subordinate id start+id-1 for the others. An id beyond the mapping fails.
func TestCIJobChown(t *testing.T) {
	t.Parallel()
	requireCIJobTools(t, "chown")
	ids := ciIDs(t)
	uids, gids := uidMapping(t), gidMapping(t)
	dir := shortTempDir(t, "ci")
	var script strings.Builder
	script.WriteString("set -eu\ncd \"$1\"\n")
	type owned struct {
		name     string
		uid, gid uint32
	}
	var files []owned
	for i, id := range ids {
		gid := ids[(i+3)%len(ids)] // a group other than the user's id
		f := owned{fmt.Sprintf("f%d", i), id, gid}
		l := owned{fmt.Sprintf("l%d", i), gid, id}
		fmt.Fprintf(&script, "touch %s && chown %d:%d %s\n", f.name, f.uid, f.gid, f.name)
		fmt.Fprintf(&script, "ln -s %s %s && chown -h %d:%d %s\n", f.name, l.name, l.uid, l.gid, l.name)
		files = append(files, f, l)
	}
	beyond := min(uids.size(), gids.size())
	fmt.Fprintf(&script, "touch beyond\nif chown %d beyond 2>/dev/null; then echo 'chown beyond the map succeeded'; exit 1; fi\n", beyond)
	res := rkexec(t, "--", "sh", "-c", script.String(), "sh", dir)
	wantExit(t, res, 0)
	for _, f := range files {
		u, g := ownerOnHost(t, filepath.Join(dir, f.name))
		if wantU, wantG := uids.host(t, f.uid), gids.host(t, f.gid); u != wantU || g != wantG {
			t.Errorf("%s chowned to %d:%d inside: %d:%d on the host, want %d:%d", f.name, f.uid, f.gid, u, g, wantU, wantG)
		}
	}
	if u, g := ownerOnHost(t, filepath.Join(dir, "beyond")); u != uids.own || g != gids.own {
		t.Errorf("beyond: %d:%d on the host, want the user's %d:%d (the chown must fail)", u, g, uids.own, gids.own)
	}
}

// tarEntry is one member of the CI job's archive.
type tarEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid uint32
	link     string
}

// manyOwnersArchive returns a tar (made here, not by tar) of files, directories and symlinks owned
// by every pair of ids, with set-id bits, and its entries.
func manyOwnersArchive(t testing.TB, ids []uint32) ([]byte, []tarEntry) {
	t.Helper()
	entries := []tarEntry{
		{name: "top", typ: tar.TypeDir, mode: 0o755, uid: 0, gid: 0},
		{name: "top/shared", typ: tar.TypeDir, mode: 0o2775, uid: 1000, gid: 100},
		{name: "top/shared/setuid", typ: tar.TypeReg, mode: 0o4755, uid: 1000, gid: 1000},
		{name: "top/private", typ: tar.TypeDir, mode: 0o711, uid: 4096, gid: 4096}, // the host user may pass, not list
		{name: "top/private/secret", typ: tar.TypeReg, mode: 0o600, uid: 4096, gid: 4096},
	}
	for i, u := range ids {
		for j, g := range ids {
			if (i+j)%3 != 0 { // a third of the pairs is enough to mix every uid with several gids
				continue
			}
			entries = append(entries, tarEntry{name: fmt.Sprintf("top/f-%d-%d", u, g), typ: tar.TypeReg, mode: 0o640, uid: u, gid: g})
		}
		entries = append(entries,
			tarEntry{name: fmt.Sprintf("top/d-%d", u), typ: tar.TypeDir, mode: 0o750, uid: u, gid: ids[(i+1)%len(ids)]},
			tarEntry{name: fmt.Sprintf("top/l-%d", u), typ: tar.TypeSymlink, mode: 0o777, uid: u, gid: ids[(i+2)%len(ids)], link: "shared/setuid"})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		body := []byte{}
		if e.typ == tar.TypeReg {
			body = []byte(e.name + "\n")
		}
		// No user or group names: tar takes the numbers.
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: int(e.uid), Gid: int(e.gid), Linkname: e.link,
			Size: int64(len(body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), entries
}

// TestCIJobTarManyOwners: tar -xp as the sandbox's root restores every owner and mode of an
// archive with many owners; the host sees each id mapped to the user's subordinate ids.
func TestCIJobTarManyOwners(t *testing.T) {
	t.Parallel()
	requireCIJobTools(t, "tar", "find")
	ids := ciIDs(t)
	uids, gids := uidMapping(t), gidMapping(t)
	archive, entries := manyOwnersArchive(t, ids)
	src := filepath.Join(t.TempDir(), "many-owners.tar")
	if err := os.WriteFile(src, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := shortTempDir(t, "ci")
	res := rkexec(t, "--", "sh", "-c", `set -eu
tar --numeric-owner -xpf "$1" -C "$2"
cd "$2" && find . -mindepth 1 -printf '%P %U:%G\n'`, "sh", src, dest)
	wantExit(t, res, 0)
	inside := fieldPairs(res.Stdout)
	if len(inside) != len(entries) {
		t.Errorf("inside, find lists %d entries, the archive has %d:\n%s", len(inside), len(entries), res.Stdout)
	}
	for _, e := range entries {
		if got, want := inside[e.name], fmt.Sprintf("%d:%d", e.uid, e.gid); got != want {
			t.Errorf("%s inside: owner %q, want the archive's %s", e.name, got, want)
		}
		path := filepath.Join(dest, e.name)
		fi, err := os.Lstat(path)
		if err != nil {
			t.Errorf("%s: %v", e.name, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if wantU, wantG := uids.host(t, e.uid), gids.host(t, e.gid); st.Uid != wantU || st.Gid != wantG {
			t.Errorf("%s (%d:%d in the archive): %d:%d on the host, want %d:%d", e.name, e.uid, e.gid, st.Uid, st.Gid, wantU, wantG)
		}
		if e.typ != tar.TypeSymlink {
			if got := int64(st.Mode & 0o7777); got != e.mode {
				t.Errorf("%s: mode %#o on the host, want the archive's %#o", e.name, got, e.mode)
			}
		}
	}
}
