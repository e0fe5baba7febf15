package idmap

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseSubIDFile(t *testing.T) {
	const file = `# comment
alice:100000:65536

1000:200000:1000
bob:300000:65536
alice:400000:10
`
	got, err := ParseSubIDFile(strings.NewReader(file), "/etc/subuid", "alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []Range{{100000, 65536}, {200000, 1000}, {400000, 10}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestParseSubIDFileNamesBadLine(t *testing.T) {
	for _, line := range []string{"alice:100000", "alice:x:10", "alice:1:0", ":1:2", "alice:4294967295:2", "alice:1:2:3"} {
		_, err := ParseSubIDFile(strings.NewReader("bob:1:2\n"+line+"\n"), "/etc/subuid", "alice", 1000)
		if err == nil || !strings.HasPrefix(err.Error(), "/etc/subuid line 2: ") {
			t.Errorf("%q: got %v, want an error naming /etc/subuid line 2", line, err)
		}
	}
}

func TestParseGetsubidsOutput(t *testing.T) {
	got, err := ParseGetsubidsOutput([]byte("0: alice 100000 65536\n1: alice 300000 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []Range{{100000, 65536}, {300000, 10}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := ParseGetsubidsOutput([]byte("garbage\n")); err == nil {
		t.Fatal("garbage parsed")
	}
}

// writeFile writes content to a new file name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fakeHost(t *testing.T, subuid, subgid string, helpers bool) Lookup {
	dir := t.TempDir()
	return Lookup{
		LookPath: func(name string) (string, error) {
			if !helpers || name == "getsubids" {
				return "", errors.New("not found")
			}
			return "/usr/bin/" + name, nil
		},
		SubUIDFile: writeFile(t, dir, "subuid", subuid),
		SubGIDFile: writeFile(t, dir, "subgid", subgid),
	}
}

var alice = Caller{UID: 1000, GID: 1001, Name: "alice"}

func TestMakePlanWithRanges(t *testing.T) {
	host := fakeHost(t, "alice:100000:65536\nalice:300000:100\n", "alice:200000:65536\n", true)
	plan, err := MakePlan(alice, SourceAuto, host)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Method != MethodHelpers || plan.Warning != "" {
		t.Fatalf("plan %+v", plan)
	}
	if got := strings.Join(helperArgs(plan.UIDMap), " "); got != "0 1000 1 1 100000 65536 65537 300000 100" {
		t.Fatalf("uid args %q", got)
	}
	if got := fileContent(plan.GIDMap); got != "0 1001 1\n1 200000 65536\n" {
		t.Fatalf("gid map %q", got)
	}
}

func TestMakePlanFallsBackToSingleMapping(t *testing.T) {
	cases := map[string]Lookup{
		"no ranges":       fakeHost(t, "bob:100000:65536\n", "bob:100000:65536\n", true),
		"no gid ranges":   fakeHost(t, "alice:100000:65536\n", "", true),
		"no newuidmap":    fakeHost(t, "alice:100000:65536\n", "alice:100000:65536\n", false),
		"no files at all": {LookPath: func(string) (string, error) { return "", errors.New("no") }, SubUIDFile: "/nonexistent/subuid", SubGIDFile: "/nonexistent/subgid"},
	}
	for name, host := range cases {
		plan, err := MakePlan(alice, SourceStatic, host)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if plan.Method != MethodDirectSingle || fileContent(plan.UIDMap) != "0 1000 1\n" || fileContent(plan.GIDMap) != "0 1001 1\n" {
			t.Errorf("%s: plan %+v", name, plan)
		}
		if !strings.Contains(plan.Warning, "chown") || !strings.Contains(plan.Warning, "/etc/subuid") || strings.Contains(plan.Warning, "\n") {
			t.Errorf("%s: warning %q should be one line saying what is lost and how to fix it", name, plan.Warning)
		}
	}
}

func TestMakePlanRootMapsEveryIDItHas(t *testing.T) {
	dir := t.TempDir()
	host := Lookup{
		SelfUIDMap: writeFile(t, dir, "uid_map", "         0          0 4294967295\n"),
		SelfGIDMap: writeFile(t, dir, "gid_map", "         0       1000          1\n         1     100000      65536\n"),
	}
	plan, err := MakePlan(Caller{UID: 0, GID: 0, Name: "root"}, SourceAuto, host)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Method != MethodDirectFull || fileContent(plan.UIDMap) != "0 0 4294967295\n" {
		t.Fatalf("real root: plan %+v", plan)
	}
	if got := fileContent(plan.GIDMap); got != "0 0 1\n1 1 65536\n" {
		t.Fatalf("root of a user namespace: gid map %q", got)
	}
}

func TestMakePlanMalformedFileIsAnError(t *testing.T) {
	host := fakeHost(t, "alice:100000\n", "alice:100000:65536\n", true)
	_, err := MakePlan(alice, SourceStatic, host)
	if err == nil || !strings.Contains(err.Error(), "subuid line 1") {
		t.Fatalf("got %v", err)
	}
}

func TestMakePlanDynamic(t *testing.T) {
	host := fakeHost(t, "", "", true)
	host.LookPath = func(name string) (string, error) { return "/usr/bin/" + name, nil }
	host.Getsubids = func(_, user string, gid bool) ([]Range, error) {
		if gid {
			return []Range{{500000, 10}}, nil
		}
		return []Range{{400000, 10}}, nil
	}
	plan, err := MakePlan(alice, SourceDynamic, host)
	if err != nil {
		t.Fatal(err)
	}
	if got := fileContent(plan.UIDMap) + fileContent(plan.GIDMap); got != "0 1000 1\n1 400000 10\n0 1001 1\n1 500000 10\n" {
		t.Fatalf("maps %q", got)
	}
	host.Getsubids = func(string, string, bool) ([]Range, error) {
		return nil, errors.New("exit status 1: Error fetching ranges")
	}
	if _, err := MakePlan(alice, SourceDynamic, host); err == nil {
		t.Fatal("dynamic source failure was not reported")
	}
	// auto falls back to the (empty) static files: a single mapping, not an error.
	if plan, err := MakePlan(alice, SourceAuto, host); err != nil || plan.Method != MethodDirectSingle {
		t.Fatalf("auto: %+v, %v", plan, err)
	}
}

func TestAutoRunsGetsubidsOnlyWhenNSSwitchNamesASubidSource(t *testing.T) {
	host := fakeHost(t, "alice:100000:65536\n", "alice:100000:65536\n", true)
	host.LookPath = func(name string) (string, error) { return "/usr/bin/" + name, nil }
	var ran atomic.Bool // getsubids runs for uids and gids side by side
	host.Getsubids = func(string, string, bool) ([]Range, error) { ran.Store(true); return []Range{{300000, 5}}, nil }
	nsswitch := filepath.Join(t.TempDir(), "nsswitch.conf")

	os.WriteFile(nsswitch, []byte("passwd: files\n# subid: sss\n"), 0o644)
	host.NSSwitchFile = nsswitch
	plan, err := MakePlan(alice, SourceAuto, host)
	if err != nil || ran.Load() || fileContent(plan.UIDMap) != "0 1000 1\n1 100000 65536\n" {
		t.Fatalf("no subid line: ran getsubids %v, plan %+v, %v", ran.Load(), plan, err)
	}

	os.WriteFile(nsswitch, []byte("passwd: files\nsubid: sss\n"), 0o644)
	plan, err = MakePlan(alice, SourceAuto, host)
	if err != nil || !ran.Load() || fileContent(plan.UIDMap) != "0 1000 1\n1 300000 5\n" {
		t.Fatalf("subid: sss: ran getsubids %v, plan %+v, %v", ran.Load(), plan, err)
	}
}

func TestParseSource(t *testing.T) {
	if _, err := ParseSource("bogus"); err == nil || !strings.Contains(err.Error(), "--subid-source") {
		t.Fatalf("got %v", err)
	}
}

func TestSingleMappingSuggestsAFreeRange(t *testing.T) {
	host := fakeHost(t, "bob:100000:65536\ncarol:300000:1000\n", "bob:165536:65536\n", true)
	plan, err := MakePlan(alice, SourceStatic, host)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.Warning, `"alice:301000:65536"`) {
		t.Fatalf("warning %q does not suggest the first free range, alice:301000:65536", plan.Warning)
	}
}

// TestUserNameFallsBackToGetent: a user that os/user cannot find (not in /etc/passwd, the only source
// of the static build's pure-Go lookup) is looked up through NSS with getent; no name at all leaves
// the number, which CurrentCaller keeps.
func TestUserNameFallsBackToGetent(t *testing.T) {
	dir := t.TempDir()
	getent := filepath.Join(dir, "getent")
	script := "#!/bin/sh\n[ \"$1 $2\" = \"passwd 4242\" ] && echo 'ldapuser:*:4242:4242:LDAP User:/home/ldapuser:/bin/sh' && exit 0\nexit 2\n"
	if err := os.WriteFile(getent, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	unknown := func(uid string) (*user.User, error) { return nil, user.UnknownUserIdError(4242) }
	known := func(uid string) (*user.User, error) { return &user.User{Uid: uid, Username: "alice"}, nil }
	for _, tc := range []struct {
		uid      string
		lookupID func(string) (*user.User, error)
		getent   string
		want     string
		ok       bool
	}{
		{"4242", known, getent, "alice", true},
		{"4242", unknown, getent, "ldapuser", true},
		{"4343", unknown, getent, "", false},
		{"4242", unknown, filepath.Join(dir, "missing"), "", false},
	} {
		name, ok := userName(tc.uid, tc.lookupID, tc.getent)
		if name != tc.want || ok != tc.ok {
			t.Errorf("userName(%s) with getent %s = %q, %v; want %q, %v", tc.uid, tc.getent, name, ok, tc.want, tc.ok)
		}
	}
}
