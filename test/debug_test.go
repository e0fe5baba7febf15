package test

import (
	"strings"
	"testing"
)

// TestDebugShowsNsexecSteps: with --debug, the steps of nsexec's C stages reach stderr through the
// logger of the role that started them (the parent for the child, the child for the init); without
// it, nothing.
func TestDebugShowsNsexecSteps(t *testing.T) {
	t.Parallel()
	res := rkexec(t, "--debug", "--pidns", "--", "true")
	wantExit(t, res, 0)
	for _, want := range []string{
		"[rkexec:parent] debug: nsexec stage-1: unshared user",
		"[rkexec:parent] debug: nsexec stage-2: ",
		"[rkexec:child] debug: nsexec stage-1: unshared mnt,pid",
		"[rkexec:child] debug: nsexec stage-2: ",
	} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("rkexec --debug: no %q on stderr:\n%s", want, res.Stderr)
		}
	}
	res = rkexec(t, "--pidns", "--", "true")
	wantExit(t, res, 0)
	if res.Stderr != "" {
		t.Errorf("rkexec without --debug wrote to stderr:\n%s", res.Stderr)
	}
}
