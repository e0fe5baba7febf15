package test

// Id maps as seen inside the namespace and on files outside it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// fullMap is the map rkexec should write for the current user: 0 → the user's id, then the ranges
// of file from 1 upward.
func fullMap(t testing.TB, file string, own int) []string {
	t.Helper()
	want := []string{fmt.Sprintf("0 %d 1", own)}
	inside := uint64(1)
	for _, r := range subIDRanges(t, file) {
		want = append(want, fmt.Sprintf("%d %d %d", inside, r.Start, r.Count))
		inside += uint64(r.Count)
	}
	return want
}

func TestGIDMapFull(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	res := rkexec(t, "--", "cat", "/proc/self/gid_map")
	wantExit(t, res, 0)
	if got, want := mapLines(res.Stdout), fullMap(t, "/etc/subgid", os.Getgid()); !slices.Equal(got, want) {
		t.Errorf("gid_map:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestChownToSubordinateID: chown to 1000:1000 inside lands on the subordinate ids start+999 outside.
func TestChownToSubordinateID(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	uids, gids := subIDRanges(t, "/etc/subuid"), subIDRanges(t, "/etc/subgid")
	if uids[0].Count < 1000 || gids[0].Count < 1000 {
		skipOrFail(t, "a first subordinate range of at least 1000 ids (have %v, %v)", uids[0], gids[0])
	}
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := rkexec(t, "--", "sh", "-c", `chown 1000:1000 "$1" && stat -c %u:%g "$1"`, "sh", f)
	wantExit(t, res, 0)
	if got := strings.TrimSpace(res.Stdout); got != "1000:1000" {
		t.Errorf("owner inside after chown: %q, want 1000:1000", got)
	}
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if wantU, wantG := uids[0].Start+999, gids[0].Start+999; st.Uid != wantU || st.Gid != wantG {
		t.Errorf("owner outside: %d:%d, want %d:%d (subordinate start + 999)", st.Uid, st.Gid, wantU, wantG)
	}
}

// TestNoSubidChownFails: without subordinate ids only the user is mapped; chown to another id fails,
// and the one warning line says what is lost and how to fix it.
func TestNoSubidChownFails(t *testing.T) {
	t.Parallel()
	requireNoSubids(t)
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := rkexec(t, "--", "chown", "5:5", f)
	if res.ExitCode == 0 {
		t.Errorf("chown 5:5 inside succeeded without subordinate ids; stderr: %s", res.Stderr)
	}
	if !strings.Contains(res.Stderr, "Invalid argument") {
		t.Errorf("chown's error does not say Invalid argument (EINVAL, unmapped id):\n%s", res.Stderr)
	}
	var warnings []string
	for _, line := range nonEmptyLines(res.Stderr) {
		if strings.HasPrefix(line, "rkexec:") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("want one rkexec line on stderr, got %d:\n%s", len(warnings), res.Stderr)
	}
	for _, w := range []string{"chown", "/etc/subuid"} {
		if !strings.Contains(warnings[0], w) {
			t.Errorf("warning does not mention %q: %q", w, warnings[0])
		}
	}
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uint32(os.Getuid()) {
		t.Errorf("file owner changed to %d outside", st.Uid)
	}
}

// TestRealRootIdentityMaps: as real root, every id is mapped to itself and setgroups is allowed.
func TestRealRootIdentityMaps(t *testing.T) {
	requireRoot(t)
	res := rkexec(t, "--", "sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; cat /proc/self/setgroups")
	wantExit(t, res, 0)
	parts := strings.Split(res.Stdout, "--\n")
	if len(parts) != 3 {
		t.Fatalf("unexpected output:\n%s", res.Stdout)
	}
	want := []string{"0 0 4294967295"}
	if got := mapLines(parts[0]); !slices.Equal(got, want) {
		t.Errorf("uid_map: %q, want %q", got, want)
	}
	if got := mapLines(parts[1]); !slices.Equal(got, want) {
		t.Errorf("gid_map: %q, want %q", got, want)
	}
	if got := strings.TrimSpace(parts[2]); got != "allow" {
		t.Errorf("setgroups: %q, want allow", got)
	}
}

// TestSetgroupsWithSubids: with the full map (newgidmap), the target may set supplementary groups.
func TestSetgroupsWithSubids(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		skipOrFail(t, "setpriv in PATH (util-linux)")
	}
	res := rkexec(t, "--", "setpriv", "--groups=5,6", "id", "-G")
	wantExit(t, res, 0)
	if got := strings.Fields(res.Stdout); !slices.Equal(got, []string{"0", "5", "6"}) {
		t.Errorf("id -G after setgroups(5,6): %q, want [0 5 6]", got)
	}
}

func TestSubidSourceStaticAndDynamic(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	for _, src := range []string{"static", "dynamic", "auto"} {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			if src == "dynamic" {
				if _, err := exec.LookPath("getsubids"); err != nil {
					skipOrFail(t, "getsubids in PATH (apt-get install uidmap)")
				}
			}
			res := rkexec(t, "--subid-source="+src, "--", "sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map")
			wantExit(t, res, 0)
			parts := strings.Split(res.Stdout, "--\n")
			if len(parts) != 2 {
				t.Fatalf("unexpected output:\n%s", res.Stdout)
			}
			if got, want := mapLines(parts[0]), fullMap(t, "/etc/subuid", os.Getuid()); !slices.Equal(got, want) {
				t.Errorf("uid_map: %q, want %q", got, want)
			}
			if got, want := mapLines(parts[1]), fullMap(t, "/etc/subgid", os.Getgid()); !slices.Equal(got, want) {
				t.Errorf("gid_map: %q, want %q", got, want)
			}
		})
	}
}

// TestSubidSourceUsesGetsubids tells the sources apart with a getsubids that gives only 1000 ids:
// dynamic and auto use it, static ignores it.
func TestSubidSourceUsesGetsubids(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	uids, gids := subIDRanges(t, "/etc/subuid"), subIDRanges(t, "/etc/subgid")
	if uids[0].Count < 1000 || gids[0].Count < 1000 || uids[0].Start != gids[0].Start {
		skipOrFail(t, "equal first subordinate uid and gid ranges of at least 1000 ids (have %v, %v)", uids[0], gids[0])
	}
	fake := t.TempDir()
	writeScript(t, filepath.Join(fake, "getsubids"),
		fmt.Sprintf("u=$1; [ \"$1\" = -g ] && u=$2\necho \"0: $u %d 1000\"\n", uids[0].Start))
	env := []string{"PATH=" + fake + ":" + os.Getenv("PATH")}
	small := []string{fmt.Sprintf("0 %d 1", os.Getuid()), fmt.Sprintf("1 %d 1000", uids[0].Start)}
	full := fullMap(t, "/etc/subuid", os.Getuid())
	// auto asks getsubids only when nsswitch.conf sends the subid database elsewhere than the files
	// (which it then reads itself, sparing an exec).
	auto := full
	if nss, err := os.ReadFile("/etc/nsswitch.conf"); err == nil && regexp.MustCompile(`(?m)^\s*subid:\s*\S`).Match(nss) {
		auto = small
	}
	for src, want := range map[string][]string{
		"dynamic": small,
		"auto":    auto,
		"static":  full,
	} {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			res := rkexecOpts(t, runOpts{Env: env}, "--subid-source="+src, "--", "cat", "/proc/self/uid_map")
			wantExit(t, res, 0)
			if got := mapLines(res.Stdout); !slices.Equal(got, want) {
				t.Errorf("uid_map with a getsubids giving 1000 ids: %q, want %q", got, want)
			}
		})
	}
}

// TestNestedRkexecMaps: rkexec inside rkexec maps every id the outer namespace has.
func TestNestedRkexecMaps(t *testing.T) {
	t.Parallel()
	requireSubids(t)
	bin := rkexecBin(t)
	res := rkexec(t, "--", bin, "--", "sh", "-c", "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map")
	wantExit(t, res, 0)
	parts := strings.Split(res.Stdout, "--\n")
	if len(parts) != 2 {
		t.Fatalf("unexpected output:\n%s", res.Stdout)
	}
	uidCount, gidCount := uint64(0), uint64(0)
	for _, r := range subIDRanges(t, "/etc/subuid") {
		uidCount += uint64(r.Count)
	}
	for _, r := range subIDRanges(t, "/etc/subgid") {
		gidCount += uint64(r.Count)
	}
	if got, want := mapLines(parts[0]), []string{"0 0 1", fmt.Sprintf("1 1 %d", uidCount)}; !slices.Equal(got, want) {
		t.Errorf("inner uid_map: %q, want %q", got, want)
	}
	if got, want := mapLines(parts[1]), []string{"0 0 1", fmt.Sprintf("1 1 %d", gidCount)}; !slices.Equal(got, want) {
		t.Errorf("inner gid_map: %q, want %q", got, want)
	}
}
