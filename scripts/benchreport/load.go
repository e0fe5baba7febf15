package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// results is everything one run of bench.sh measured.
type results struct {
	meta     map[string]string
	start    []*command // in the order bench.sh ran them
	exec     []*command
	ports    []*command
	failures []portFailures
	mem      []memRow
	burst    []burstRow
	net      map[string][]float64 // key -> one value per round
	netKeys  []string
}

// command is one hyperfine command, its rounds merged.
type command struct {
	name      string
	times     []float64 // seconds, every run of every round
	cpu       float64   // user+sys seconds, summed over the runs
	exitCodes []int
}

func (c *command) median() float64  { return quantile(c.times, 0.5) }
func (c *command) fastest() float64 { return quantile(c.times, 0) }

// cpuPerRun is the mean user+sys time of one run, in seconds.
func (c *command) cpuPerRun() float64 {
	if len(c.times) == 0 {
		return 0
	}
	return c.cpu / float64(len(c.times))
}

// failed counts the runs that did not exit 0.
func (c *command) failed() int {
	n := 0
	for _, e := range c.exitCodes {
		if e != 0 {
			n++
		}
	}
	return n
}

type portFailures struct {
	tool         string
	failed, runs int
}

// memRow is one process of one idle sandbox.
type memRow struct {
	tool, sandbox string
	pid, ppid     int
	comm, role    string
	pss, rss      int // KiB
}

// burstRow is one burst of N sandboxes.
type burstRow struct {
	tool          string
	n, round      int
	seconds, rate float64
	failures      int
	busy, self    float64
	cpu           float64 // user+sys seconds of the N commands
}

func load(dir string) (*results, error) {
	r := &results{meta: map[string]string{}, net: map[string][]float64{}}
	if err := readTSV(filepath.Join(dir, "meta.tsv"), 2, func(f []string) error {
		r.meta[f[0]] = f[1]
		return nil
	}); err != nil {
		return nil, err
	}
	var err error
	for _, part := range []struct {
		name string
		dst  *[]*command
	}{{"start", &r.start}, {"exec", &r.exec}, {"ports", &r.ports}} {
		if *part.dst, err = loadHyperfine(dir, part.name); err != nil {
			return nil, err
		}
	}
	if err := readTSV(filepath.Join(dir, "ports-failures.tsv"), 3, func(f []string) error {
		p := portFailures{tool: f[0]}
		var err error
		if p.failed, err = strconv.Atoi(f[1]); err != nil {
			return err
		}
		if p.runs, err = strconv.Atoi(f[2]); err != nil {
			return err
		}
		r.failures = append(r.failures, p)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := readTSV(filepath.Join(dir, "mem.tsv"), 8, func(f []string) error {
		m := memRow{tool: f[0], sandbox: f[1], comm: f[4], role: f[5]}
		for _, v := range []struct {
			s   string
			dst *int
		}{{f[2], &m.pid}, {f[3], &m.ppid}, {f[6], &m.pss}, {f[7], &m.rss}} {
			var err error
			if *v.dst, err = strconv.Atoi(v.s); err != nil {
				return err
			}
		}
		r.mem = append(r.mem, m)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := readTSV(filepath.Join(dir, "burst.tsv"), 4, func(f []string) error {
		b := burstRow{tool: f[0]}
		var err error
		if b.n, err = strconv.Atoi(f[1]); err != nil {
			return err
		}
		if b.round, err = strconv.Atoi(f[2]); err != nil {
			return err
		}
		kv := map[string]string{}
		for _, w := range strings.Fields(f[3]) {
			k, v, _ := strings.Cut(w, "=")
			kv[k] = v
		}
		for _, v := range []struct {
			key string
			dst *float64
		}{{"seconds", &b.seconds}, {"rate", &b.rate}, {"busy", &b.busy}, {"self", &b.self}, {"cpu", &b.cpu}} {
			if *v.dst, err = strconv.ParseFloat(kv[v.key], 64); err != nil {
				return fmt.Errorf("%s in %q: %w", v.key, f[3], err)
			}
		}
		if b.failures, err = strconv.Atoi(kv["failures"]); err != nil {
			return fmt.Errorf("failures in %q: %w", f[3], err)
		}
		r.burst = append(r.burst, b)
		return nil
	}); err != nil {
		return nil, err
	}
	if err := readTSV(filepath.Join(dir, "net.tsv"), 2, func(f []string) error {
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return err
		}
		if _, ok := r.net[f[0]]; !ok {
			r.netKeys = append(r.netKeys, f[0])
		}
		r.net[f[0]] = append(r.net[f[0]], v)
		return nil
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// readTSV calls line with the fields of each line of path, which must have at least n; a file that
// does not exist is a part that did not run.
func readTSV(path string, n int, line func([]string) error) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading results: %w", err)
	}
	for i, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) < n {
			return fmt.Errorf("%s:%d: %d fields, want %d", path, i+1, len(f), n)
		}
		if err := line(f); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
	}
	return nil
}

// loadHyperfine merges hyperfine's JSON of every round of one part (DIR/PART.N.json), by command name.
func loadHyperfine(dir, part string) ([]*command, error) {
	files, err := filepath.Glob(filepath.Join(dir, part+".*.json"))
	if err != nil {
		return nil, fmt.Errorf("listing %s results: %w", part, err)
	}
	sort.Strings(files)
	var out []*command
	byName := map[string]*command{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading results: %w", err)
		}
		var doc struct {
			Results []struct {
				Command   string    `json:"command"`
				User      float64   `json:"user"`
				System    float64   `json:"system"`
				Times     []float64 `json:"times"`
				ExitCodes []*int    `json:"exit_codes"`
			} `json:"results"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, res := range doc.Results {
			c := byName[res.Command]
			if c == nil {
				c = &command{name: res.Command}
				byName[res.Command] = c
				out = append(out, c)
			}
			c.times = append(c.times, res.Times...)
			c.cpu += (res.User + res.System) * float64(len(res.Times))
			for _, e := range res.ExitCodes {
				code := -1 // killed by a signal
				if e != nil {
					code = *e
				}
				c.exitCodes = append(c.exitCodes, code)
			}
		}
	}
	return out, nil
}

// quantile of xs (0 = smallest, 0.5 = median), linearly interpolated.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}
