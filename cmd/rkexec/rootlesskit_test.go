package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"

	rkapi "github.com/rootless-containers/rootlesskit/v2/pkg/api"

	"github.com/rkexec/rkexec/internal/testenv"
)

// rkFlag is a flag as RootlessKit's main.go defines it.
type rkFlag struct {
	kind, alias, def string
}

// rootlessKitSourceFlags reads the flags of RootlessKit's cmd/rootlesskit/main.go, of the version
// go.mod requires, from the module cache.
func rootlessKitSourceFlags(t *testing.T) map[string]rkFlag {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "go, to find RootlessKit's source in the module cache")
	}
	out, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Dir}}", "github.com/rootless-containers/rootlesskit/v2").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		testenv.Missing(t, "RootlessKit's module in the module cache (go mod download): %v", err)
	}
	path := filepath.Join(string(bytes.TrimSpace(out)), "cmd", "rootlesskit", "main.go")
	file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]rkFlag{}
	ast.Inspect(file, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		sel, ok := lit.Type.(*ast.SelectorExpr)
		if !ok || !strings.HasSuffix(sel.Sel.Name, "Flag") {
			return true
		}
		f := rkFlag{kind: strings.TrimSuffix(sel.Sel.Name, "Flag")}
		var name string
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			switch key := kv.Key.(*ast.Ident).Name; key {
			case "Name":
				name, _ = strconv.Unquote(kv.Value.(*ast.BasicLit).Value)
			case "Aliases":
				f.alias, _ = strconv.Unquote(kv.Value.(*ast.CompositeLit).Elts[0].(*ast.BasicLit).Value)
			case "Value":
				switch v := kv.Value.(type) {
				case *ast.BasicLit:
					if s, err := strconv.Unquote(v.Value); err == nil {
						f.def = s
					} else {
						f.def = v.Value
					}
				default:
					f.def = "(computed)"
				}
			}
		}
		if name != "" {
			flags[name] = f
		}
		return true
	})
	if len(flags) < 25 {
		t.Fatalf("found %d flags in %s, expected 25 or more", len(flags), path)
	}
	return flags
}

// TestRootlessKitFlagDefaults: every flag of RootlessKit's source is rkexec's, of the same kind, with
// the same one-letter alias and the same default, but for the deliberate differences documented in
// docs/rootlesskit.md.
func TestRootlessKitFlagDefaults(t *testing.T) {
	src := rootlessKitSourceFlags(t)
	differ := map[string]string{
		// auto: slirp4netns's seccomp filter when it has one; its sandbox when it can.
		"slirp4netns-sandbox": "auto",
		"slirp4netns-seccomp": "auto",
		// RootlessKit looks for the binary at start; nothing runs it here.
		"lxc-user-nic-binary": "",
	}
	for _, cli := range []string{nameRootlessKit, nameRkexec} {
		fl := newRootCommand(&runFlags{cli: cli}).Flags()
		for name, rf := range src {
			f := fl.Lookup(name)
			if f == nil {
				t.Errorf("%s: no --%s (RootlessKit's %s flag)", cli, name, rf.kind)
				continue
			}
			kind := map[string]string{"Bool": "bool", "String": "string", "Int": "int", "StringSlice": "stringSlice"}[rf.kind]
			if f.Value.Type() != kind {
				t.Errorf("%s --%s: a %s, RootlessKit's is a %s", cli, name, f.Value.Type(), rf.kind)
			}
			if f.Shorthand != rf.alias {
				t.Errorf("%s --%s: alias %q, RootlessKit's %q", cli, name, f.Shorthand, rf.alias)
			}
			want := rf.def
			if d, ok := differ[name]; ok {
				want = d
			} else if want == "" {
				want = map[string]string{"bool": "false", "int": "0", "stringSlice": "[]"}[kind]
			}
			if f.DefValue != want {
				t.Errorf("%s --%s: default %q, want %q (RootlessKit's %q)", cli, name, f.DefValue, want, rf.def)
			}
		}
	}
}

// TestRootlessKitVersionIsTheModules: rootlessKitVersion is the version of the module rkexec is built
// against (its API client, its --help in the tests).
func TestRootlessKitVersionIsTheModules(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/rootless-containers/rootlesskit/v2" {
			if d.Version != "v"+rootlessKitVersion {
				t.Errorf("rootlessKitVersion %s, go.mod requires %s", rootlessKitVersion, d.Version)
			}
			return
		}
	}
	t.Error("rootlesskit/v2 is not among the dependencies")
}

func TestPrintSemver(t *testing.T) {
	for c, want := range map[string]string{"major": "2\n", "minor": "3\n", "patch": "6\n"} {
		var b bytes.Buffer
		if err := printSemver(&b, c); err != nil || b.String() != want {
			t.Errorf("%s: %q %v, want %q", c, b.String(), err, want)
		}
	}
	if err := printSemver(&bytes.Buffer{}, "micro"); err == nil || !strings.Contains(err.Error(), "major, minor or patch") {
		t.Errorf("micro: %v", err)
	}
}

func TestRootlessKitLongFlags(t *testing.T) {
	fl := newRootCommand(&runFlags{cli: nameRootlessKit}).Flags()
	for _, tc := range []struct{ in, want []string }{
		{[]string{"-net=none", "-pidns", "-copy-up", "/etc", "sh", "-net"}, []string{"--net=none", "--pidns", "--copy-up", "/etc", "sh", "-net"}},
		{[]string{"--net", "-pidns", "-p", "1:1", "-debug", "true"}, []string{"--net", "-pidns", "-p", "1:1", "--debug", "true"}},
		{[]string{"--", "-pidns"}, []string{"--", "-pidns"}},
		{[]string{"-bogus", "x"}, []string{"-bogus", "x"}},
		{[]string{"-h"}, []string{"-h"}},
	} {
		if got := rootlessKitLongFlags(fl, tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRootlessKitExitLines(t *testing.T) {
	target := []string{"sh", "-c", "kill -9 $$"}
	for _, tc := range []struct {
		code int
		r    exitReport
		want string
		exit int
	}{
		{0, exitReport{}, "", 0},
		{3, exitReport{}, "[rootlesskit:child ] error: command [sh -c kill -9 $$] exited: exit status 3\n[rootlesskit:parent] error: child exited: exit status 3\n", 3},
		{137, exitReport{signal: syscall.SIGKILL}, "[rootlesskit:child ] error: command [sh -c kill -9 $$] exited: signal: killed\n[rootlesskit:parent] error: child exited: exit status 255\n", 255},
		{139, exitReport{signal: syscall.SIGSEGV, coreDump: true}, "[rootlesskit:child ] error: command [sh -c kill -9 $$] exited: signal: segmentation fault (core dumped)\n[rootlesskit:parent] error: child exited: exit status 255\n", 255},
	} {
		var b bytes.Buffer
		if got := rootlessKitExit(&b, target, tc.code, tc.r); got != tc.exit || b.String() != tc.want {
			t.Errorf("%d %+v: exit %d, %q; want %d, %q", tc.code, tc.r, got, b.String(), tc.exit, tc.want)
		}
	}
	for sig, want := range map[syscall.Signal]string{syscall.SIGTERM: "rkexec: command [sh -c kill -9 $$] exited: signal: terminated\n", syscall.SIGINT: "", syscall.SIGPIPE: "", 0: ""} {
		var b bytes.Buffer
		if rkexecSignalLine(&b, target, exitReport{signal: sig}); b.String() != want {
			t.Errorf("%v: %q, want %q", sig, b.String(), want)
		}
	}
}

func TestDockerProxySpec(t *testing.T) {
	builtin := &rkapi.Info{PortDriver: &rkapi.PortDriverInfo{Driver: "builtin", Protos: []string{"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"}}}
	slirp := &rkapi.Info{
		PortDriver:    &rkapi.PortDriverInfo{Driver: "slirp4netns", Protos: []string{"tcp", "tcp4", "udp", "udp4"}, DisallowLoopbackChildIP: true},
		NetworkDriver: &rkapi.NetworkDriverInfo{Driver: "slirp4netns", ChildIP: []byte{10, 0, 2, 100}},
	}
	for _, tc := range []struct {
		f    dockerProxyFlags
		info *rkapi.Info
		want string // proto parentIP:port childIP:port, or the error
	}{
		{dockerProxyFlags{hostIP: "0.0.0.0", hostPort: 8080, proto: "tcp"}, builtin, "tcp4 0.0.0.0:8080 127.0.0.1:8080"},
		{dockerProxyFlags{hostIP: "::", hostPort: 8080, proto: "tcp"}, builtin, "tcp6 :::8080 ::1:8080"},
		{dockerProxyFlags{hostIP: "", hostPort: 53, proto: "udp"}, builtin, "udp4 0.0.0.0:53 127.0.0.1:53"},
		{dockerProxyFlags{hostIP: "127.0.0.1", hostPort: 8080, proto: "tcp"}, slirp, "tcp4 127.0.0.1:8080 10.0.2.100:8080"},
		{dockerProxyFlags{hostIP: "::1", hostPort: 8080, proto: "tcp"}, slirp, `protocol "tcp6" is not supported by the port driver "slirp4netns"`},
		{dockerProxyFlags{hostIP: "x", hostPort: 8080, proto: "tcp"}, builtin, "invalid -host-ip"},
		{dockerProxyFlags{hostIP: "127.0.0.1", hostPort: -1, proto: "tcp"}, builtin, "invalid -host-port"},
	} {
		sp, err := dockerProxySpec(&tc.f, tc.info)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = sp.Proto + " " + sp.ParentIP + ":" + strconv.Itoa(sp.ParentPort) + " " + sp.ChildIP + ":" + strconv.Itoa(sp.ChildPort)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}
