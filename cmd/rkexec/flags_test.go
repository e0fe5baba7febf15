package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckNamespaces(t *testing.T) {
	flags, reaper, err := checkNamespaces(&runFlags{pidns: true, utsns: true, hostname: "box", reaper: "auto"})
	if err != nil || flags != unix.CLONE_NEWPID|unix.CLONE_NEWUTS || !reaper {
		t.Fatalf("got %#x, %v, %v", flags, reaper, err)
	}
	for _, tc := range []struct {
		f    runFlags
		want string
	}{
		{runFlags{hostname: "x", reaper: "auto"}, "--hostname needs --utsns"},
		{runFlags{reaper: "true"}, "--reaper=true needs --pidns"},
		{runFlags{pidns: true, reaper: "sometimes"}, `invalid --reaper "sometimes"`},
		{runFlags{utsns: true, hostname: "a b", reaper: "auto"}, "invalid --hostname"},
		{runFlags{utsns: true, hostname: "box\x1b]0;pwned\x07", reaper: "auto"}, "control characters"},
		{runFlags{utsns: true, hostname: "box\n", reaper: "auto"}, "control characters"},
	} {
		if _, _, err := checkNamespaces(&tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.f, err, tc.want)
		}
	}
}

func TestParseUser(t *testing.T) {
	u, err := parseUser("1000:100")
	if err != nil || u.UID != 1000 || u.GID != 100 {
		t.Fatalf("got %+v, %v", u, err)
	}
	if u, err := parseUser("7"); err != nil || u.UID != 7 || u.GID != 0 {
		t.Fatalf("got %+v, %v", u, err)
	}
	for _, bad := range []string{"bob", "1:x", "", "-1"} {
		if _, err := parseUser(bad); err == nil || !strings.Contains(err.Error(), "--user") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestReadProcessFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.json")
	os.WriteFile(good, []byte(`{"args":["sh","-c","id"],"env":["A=1"],"cwd":"/tmp","user":{"uid":5,"gid":6,"additionalGids":[7]},
		"noNewPrivileges":true,"capabilities":{"bounding":["CAP_CHOWN","CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}}`), 0o600)
	spec, err := readProcessFile(good)
	if err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	if !reflect.DeepEqual(p.Args, []string{"sh", "-c", "id"}) || p.Cwd != "/tmp" || !p.NoNewPrivileges ||
		p.User.UID != 5 || p.User.AdditionalGids[0] != 7 || p.Capabilities == nil ||
		!reflect.DeepEqual(p.Capabilities.Effective, []string{"CAP_KILL"}) ||
		!reflect.DeepEqual(p.Capabilities.Bounding, []string{"CAP_CHOWN", "CAP_KILL"}) || !spec.BoundingSet {
		t.Fatalf("spec %+v", spec)
	}
	// An empty bounding set is a set (drop them all), not "unchanged": it must survive the wire.
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"args":["id"],"capabilities":{"bounding":[]}}`), 0o600)
	if spec, err := readProcessFile(empty); err != nil || !spec.BoundingSet {
		t.Fatalf("empty bounding set: %+v, %v", spec, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"args":`), 0o600)
	noArgs := filepath.Join(dir, "noargs.json")
	os.WriteFile(noArgs, []byte(`{"cwd":"/"}`), 0o600)
	for _, path := range []string{bad, noArgs, filepath.Join(dir, "missing.json")} {
		if _, err := readProcessFile(path); err == nil || !strings.HasPrefix(err.Error(), "--process") {
			t.Errorf("%s: %v", path, err)
		}
	}
}

func TestExecSpecFromFlags(t *testing.T) {
	spec, err := execSpec(&execFlags{cwd: "/tmp", env: []string{"FOO=bar"}, user: "1000:1000", additionalGids: []string{"10"}, caps: []string{"net_raw"}}, []string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	if p.Cwd != "/tmp" || p.User.GID != 1000 || p.User.AdditionalGids[0] != 10 || p.Capabilities.Ambient[0] != "CAP_NET_RAW" || spec.BoundingSet {
		t.Fatalf("spec %+v", spec)
	}
	for _, tc := range []struct {
		f    execFlags
		args []string
		want string
	}{
		{execFlags{}, nil, "no command given"},
		{execFlags{env: []string{"NOEQUALS"}}, []string{"id"}, "invalid --env"},
		{execFlags{processFile: "/x"}, []string{"id"}, "--process and a COMMAND"},
		{execFlags{caps: []string{"CAP_FLY"}}, []string{"id"}, "invalid --cap"},
		{execFlags{additionalGids: []string{"4294967296"}}, []string{"id"}, "invalid --additional-gids"},
		{execFlags{additionalGids: []string{"-1"}}, []string{"id"}, "invalid --additional-gids"},
		{execFlags{preserveFDs: 1000}, []string{"id"}, "is not open"},
	} {
		if _, err := execSpec(&tc.f, tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v %v: got %v, want %q", tc.f, tc.args, err, tc.want)
		}
	}
}
