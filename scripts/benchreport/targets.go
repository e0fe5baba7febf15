package main

import (
	"fmt"
	"strings"
)

// target is one target of issue 10 or 12 and how this run measured it; measured is empty when the
// run did not measure it.
type target struct {
	issue, what, measured string
	holds                 bool
}

// ratio compares the medians (and the CPU times) of two commands: a/b.
func ratio(cs []*command, a, b string) (median, cpu float64, ok bool) {
	x, y := find(cs, a), find(cs, b)
	if x == nil || y == nil || y.median() == 0 || y.cpuPerRun() == 0 {
		return 0, 0, false
	}
	return x.median() / y.median(), x.cpuPerRun() / y.cpuPerRun(), true
}

// atMost is a target "a ≤ limit × b".
func atMost(cs []*command, issue, a, b string, limit float64) target {
	t := target{issue: issue, what: fmt.Sprintf("`%s` ≤ %g × `%s`", a, limit, b)}
	if m, cpu, ok := ratio(cs, a, b); ok {
		t.measured = fmt.Sprintf("%.2f× (%s vs %s ms; CPU time %.2f×)", m, ms(find(cs, a).median()), ms(find(cs, b).median()), cpu)
		t.holds = m <= limit
	}
	return t
}

// faster is a target "a at least limit × faster than b": b/a ≥ limit.
func faster(cs []*command, issue, a, b string, limit float64) target {
	t := target{issue: issue, what: fmt.Sprintf("`%s` ≥ %g× faster than `%s`", a, limit, b)}
	if m, cpu, ok := ratio(cs, b, a); ok {
		t.measured = fmt.Sprintf("%.2f× (%s vs %s ms; CPU time %.2f×)", m, ms(find(cs, a).median()), ms(find(cs, b).median()), cpu)
		t.holds = m >= limit
	}
	return t
}

func targets(r *results) []target {
	ts := []target{
		atMost(r.start, "12", rkexecHost, unshareHost, 1.5),
		faster(r.start, "12", rkexecHost, rootlessHost, 3),
		atMost(r.start, "12", rkexecPidns, unsharePidns, 2),
		faster(r.start, "12, 10", rkexecSlirp, rootlessSlirp, 3),
		atMost(r.exec, "12", rkexecExec, nsenterExec, 2),
	}
	mem := target{issue: "12", what: "idle PSS of rkexec's own processes, one `--pidns` sandbox ≤ 0.5 × RootlessKit's"}
	rp, _, rn := memTotals(r.mem, "rkexec", "pidns", "own")
	kp, _, kn := memTotals(r.mem, "rootlesskit", "pidns", "own")
	if rn > 0 && kn > 0 && kp > 0 && rp >= 0 {
		q := float64(rp) / float64(kp)
		mem.measured = fmt.Sprintf("%.2f× (%s vs %s MiB; %d vs %d processes)", q, mib(rp), mib(kp), rn, kn)
		mem.holds = q <= 0.5
	}
	ts = append(ts, mem, scale(r.burst))
	bulk := target{issue: "10", what: "builtin port driver bulk (host → sandbox) ≥ RootlessKit's builtin driver"}
	if a, b := bestOf(r.net["in-rkexec-builtin"]), bestOf(r.net["in-rootlesskit-builtin"]); a > 0 && b > 0 {
		bulk.measured = fmt.Sprintf("%.2f× (%.2f vs %.2f Gbit/s)", a/b, a, b)
		bulk.holds = a >= b
	}
	conn := target{issue: "10", what: "connections/s through a published port (builtin) ≥ 80% of direct loopback"}
	if a, d := bestOf(r.net["conn-rkexec-builtin"]), bestOf(r.net["conn-direct"]); a > 0 && d > 0 {
		conn.measured = fmt.Sprintf("%.0f%% (%.0f vs %.0f/s; RootlessKit's builtin %.0f%%)", 100*a/d, a, d, 100*bestOf(r.net["conn-rootlesskit-builtin"])/d)
		conn.holds = a >= 0.8*d
	}
	return append(ts, bulk, conn)
}

// scale is issue 12's "start rate of N concurrent sandboxes grows linearly until the CPUs are busy":
// at each N, the rate is at least 80% of N × the rate of one, or the CPUs were busy; and once they
// are, it does not fall below 80% of the best rate at a smaller N (no collapse under contention).
func scale(rows []burstRow) target {
	t := target{issue: "12", what: "start rate of N concurrent sandboxes (N = 1, 10, 100) grows linearly until the CPUs are busy " +
		"(≥ 80% of N × N=1's rate, or CPUs ≥ 90% busy; and no N below 80% of a smaller N's rate)"}
	ns := burstNs(rows)
	one, _, ok := bestBurst(rows, "rkexec", 1)
	if !ok || len(ns) < 2 {
		return t
	}
	t.holds = true
	var parts []string
	peak := 0.0
	for _, n := range ns {
		b, _, ok := bestBurst(rows, "rkexec", n)
		if !ok {
			continue
		}
		linear := b.rate >= 0.8*float64(n)*one.rate
		busy := b.busy >= busyCPUs
		if (!linear && !busy) || b.rate < 0.8*peak {
			t.holds = false
		}
		peak = max(peak, b.rate)
		parts = append(parts, fmt.Sprintf("N=%d: %.0f/s (%.1f× N=1's, CPUs %.0f%% busy)", n, b.rate, b.rate/one.rate, 100*b.busy))
	}
	t.measured = strings.Join(parts, "; ")
	return t
}
