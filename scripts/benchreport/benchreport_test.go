package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestQuantile(t *testing.T) {
	xs := []float64{4, 1, 3, 2}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.5, 2.5}, {1, 4}} {
		if got := quantile(xs, c.q); got != c.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", xs, c.q, got, c.want)
		}
	}
	if xs[0] != 4 {
		t.Errorf("quantile sorted its argument: %v", xs)
	}
}

func TestReplaceGenerated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	doc := "# B\n\nprose before\n\n" + beginMarker + "\nold tables\n" + endMarker + "\n\nprose after\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceGenerated(path, "new tables\n"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# B\n\nprose before\n\n" + beginMarker + "\nnew tables\n" + endMarker + "\n\nprose after\n"
	if string(got) != want {
		t.Errorf("doc after replaceGenerated:\n%s\nwant:\n%s", got, want)
	}

	if err := os.WriteFile(path, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceGenerated(path, "x"); err == nil || !strings.Contains(err.Error(), beginMarker) {
		t.Errorf("replaceGenerated without markers: error %v, want one naming the markers", err)
	}
}

func bursts(tool string, rates map[int]float64, busy float64) []burstRow {
	var rows []burstRow
	for n, r := range rates {
		rows = append(rows, burstRow{tool: tool, n: n, round: 1, rate: r, busy: busy, self: busy})
	}
	return rows
}

func TestScale(t *testing.T) {
	for _, c := range []struct {
		name  string
		rates map[int]float64
		busy  float64
		holds bool
	}{
		{"linear, CPUs idle", map[int]float64{1: 10, 10: 95, 100: 900}, 0.5, true},
		{"flat, CPUs busy", map[int]float64{1: 30, 10: 60, 100: 58}, 0.95, true},
		{"sublinear, CPUs idle", map[int]float64{1: 30, 10: 60, 100: 60}, 0.5, false},
		{"collapses once busy", map[int]float64{1: 30, 10: 70, 100: 40}, 0.99, false},
	} {
		got := scale(bursts("rkexec", c.rates, c.busy))
		if got.measured == "" || got.holds != c.holds {
			t.Errorf("%s: holds=%v measured=%q, want holds=%v", c.name, got.holds, got.measured, c.holds)
		}
	}
	if got := scale(nil); got.measured != "" {
		t.Errorf("scale without bursts measured %q, want nothing", got.measured)
	}
}

func TestTargetsFromHyperfine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("meta.tsv", "cores\t2\n")
	// Two rounds, merged: rkexec's median is 12 ms, unshare's 10 ms.
	write("start.1.json", `{"results":[
		{"command":"`+unshareHost+`","user":0.004,"system":0.004,"times":[0.010,0.010],"exit_codes":[0,0]},
		{"command":"`+rkexecHost+`","user":0.006,"system":0.006,"times":[0.011,0.012],"exit_codes":[0,0]}]}`)
	write("start.2.json", `{"results":[
		{"command":"`+unshareHost+`","user":0.004,"system":0.004,"times":[0.010],"exit_codes":[0]},
		{"command":"`+rkexecHost+`","user":0.006,"system":0.006,"times":[0.013],"exit_codes":[1]}]}`)
	r, err := load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := find(r.start, rkexecHost)
	if c == nil || len(c.times) != 3 || c.failed() != 1 {
		t.Fatalf("merged rounds: %+v, want 3 runs, 1 failed", c)
	}
	ts := targets(r)
	if ts[0].measured == "" || !strings.HasPrefix(ts[0].measured, "1.20×") || !ts[0].holds {
		t.Errorf("first target: %+v, want 1.20× and holds", ts[0])
	}
	if ts[1].measured != "" {
		t.Errorf("a target without RootlessKit's rows was measured: %+v", ts[1])
	}
	md := markdown(r, "")
	if !strings.Contains(md, "not measured in this run") {
		t.Errorf("markdown does not say what was not measured:\n%s", md)
	}
}
