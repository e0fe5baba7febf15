// Command burst measures how fast sandboxes start when many start at once, for scripts/bench.sh: it
// starts N copies of a command at the same moment, waits for all of them, and prints one line
//
//	n=N seconds=S rate=R failures=F busy=B self=U cpu=C
//
// where R is N/S (sandboxes per second, S from the first start to the last exit), B is the share of
// all CPUs' time that was not idle during the burst (from /proc/stat, so other work on the machine
// counts too), and U is the share of all CPUs' time the N commands themselves used (their user+sys
// time, with every descendant they waited for, over S × CPUs). B near 1 means the burst was bounded
// by the CPUs; U below B means something else on the machine took some of them. C is the commands'
// user+sys time in seconds (C/N is what one sandbox cost when N started together). It is a benchmark
// tool, not part of rkexec.
//
//	burst -n 100 -- rkexec -- true
//
// A command that fails counts in F; the first failure's output goes to stderr. burst exits 1 when any
// command failed, so the benchmark never reports a rate of failures.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 10, "how many copies of the command to start at once")
	timeout := flag.Duration("timeout", 2*time.Minute, "kill the copies still running after this long")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: burst -n N [-timeout D] -- COMMAND [ARG...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *n < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*n, *timeout, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "burst: %v\n", err)
		os.Exit(1)
	}
}

// result is what one copy left behind.
type result struct {
	err    error
	output []byte
	cpu    time.Duration // user+sys, with the descendants it waited for
}

func run(n int, timeout time.Duration, argv []string) error {
	cmds := make([]*exec.Cmd, n)
	outs := make([]bytes.Buffer, n)
	for i := range cmds {
		c := exec.Command(argv[0], argv[1:]...)
		c.Stdout = &outs[i]
		c.Stderr = &outs[i]
		cmds[i] = c
	}
	before, err := readCPU()
	if err != nil {
		return err
	}
	start := time.Now()
	results := make(chan result, n)
	for i, c := range cmds {
		if err := c.Start(); err != nil {
			for _, started := range cmds[:i] {
				_ = started.Process.Kill() // cleanup after a failed start; its error changes nothing
				_ = started.Wait()
			}
			return fmt.Errorf("starting copy %d of %q: %w", i+1, strings.Join(argv, " "), err)
		}
	}
	for i, c := range cmds {
		go func() {
			err := c.Wait()
			r := result{err: err, output: outs[i].Bytes()}
			if c.ProcessState != nil {
				r.cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
			}
			results <- r
		}()
	}
	deadline := time.After(timeout)
	var cpu time.Duration
	var failures int
	var first *result
	for range n {
		select {
		case r := <-results:
			cpu += r.cpu
			if r.err != nil {
				failures++
				if first == nil {
					first = &r
				}
			}
		case <-deadline:
			for _, c := range cmds {
				_ = c.Process.Signal(syscall.SIGKILL) // ErrProcessDone for the copies already waited for
			}
			return fmt.Errorf("copies of %q still running after %v: killed", strings.Join(argv, " "), timeout)
		}
	}
	elapsed := time.Since(start)
	after, err := readCPU()
	if err != nil {
		return err
	}
	busy := 0.0
	if total := after.total - before.total; total > 0 {
		busy = 1 - float64(after.idle-before.idle)/float64(total)
	}
	self := cpu.Seconds() / (elapsed.Seconds() * float64(runtime.NumCPU()))
	fmt.Printf("n=%d seconds=%.4f rate=%.1f failures=%d busy=%.3f self=%.3f cpu=%.4f\n",
		n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), failures, busy, self, cpu.Seconds())
	if first != nil {
		fmt.Fprintf(os.Stderr, "burst: first failure: %v; its output:\n%s", first.err, first.output)
		return fmt.Errorf("%d of %d copies failed", failures, n)
	}
	return nil
}

// cpuTimes are the machine's CPU counters from /proc/stat, in clock ticks.
type cpuTimes struct {
	total, idle uint64 // idle includes iowait
}

func readCPU() (cpuTimes, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}, fmt.Errorf("reading CPU times: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[0] != "cpu" {
			continue
		}
		var t cpuTimes
		// user nice system idle iowait irq softirq steal (guest time is already in user).
		for i, s := range fields[1:] {
			if i >= 8 {
				break
			}
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: field %q: %w", s, err)
			}
			t.total += v
			if i == 3 || i == 4 {
				t.idle += v
			}
		}
		return t, nil
	}
	if err := sc.Err(); err != nil {
		return cpuTimes{}, fmt.Errorf("reading /proc/stat: %w", err)
	}
	return cpuTimes{}, errors.New("/proc/stat has no cpu line")
}
