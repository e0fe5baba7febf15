package test

import (
	"regexp"
	"strconv"
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

// TestDebugLinesCarryTimes: with --debug every debug line ends with its time since the parent started,
// on one clock for every role, so that the lines of each role are in the order of their times and
// the child's first line comes after the parent started it.
func TestDebugLinesCarryTimes(t *testing.T) {
	t.Parallel()
	res := rkexec(t, "--debug", "--pidns", "--", "true")
	wantExit(t, res, 0)
	timed := regexp.MustCompile(`^\[rkexec:(\w+)\] debug: .* \(\+(\d+\.\d{3}) ms\)$`)
	last := map[string]float64{}
	for _, line := range nonEmptyLines(res.Stderr) {
		if !strings.Contains(line, "] debug: ") {
			continue
		}
		m := timed.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("debug line without its time: %q", line)
			continue
		}
		ms, _ := strconv.ParseFloat(m[2], 64)
		if ms < last[m[1]] {
			t.Errorf("%s's debug line at %.3f ms after one at %.3f ms: %q", m[1], ms, last[m[1]], line)
		}
		last[m[1]] = ms
	}
	if last["parent"] == 0 || last["child"] == 0 {
		t.Errorf("no timed lines of the parent and of the child:\n%s", res.Stderr)
	}
}
