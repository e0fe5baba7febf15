// Command memtree prints the memory of a process and all its descendants, for scripts/bench.sh's idle
// memory table: it waits until the tree has a process named -target (the sandbox's command, so the
// sandbox is set up), lets it settle, and prints one line per process, the tree's root first:
//
//	PID<TAB>PPID<TAB>COMM<TAB>ROLE<TAB>PSS_KIB<TAB>RSS_KIB
//
// from /proc/PID/smaps_rollup. ROLE is "target" for the -target process and its descendants (not the
// tool's memory), "slirp4netns" for a process of that name, and "own" for the tool's own processes.
// A process whose memory this user may not read (rkexec's child is not dumpable: only root reads
// it) has -1 for both, and a note goes to stderr. It is a benchmark tool, not part of rkexec.
//
//	memtree -target sleep -wait 20s -settle 1s PID
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	target := flag.String("target", "sleep", "the sandbox command's process name (its tree is not counted as the tool's)")
	wait := flag.Duration("wait", 20*time.Second, "how long to wait for the -target process to appear")
	settle := flag.Duration("settle", time.Second, "how long to wait after it appeared")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: memtree [-target NAME] [-wait D] [-settle D] PID")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	root, err := strconv.Atoi(flag.Arg(0))
	if err != nil || root <= 0 {
		fmt.Fprintf(os.Stderr, "memtree: PID %q is not a process id\n", flag.Arg(0))
		os.Exit(2)
	}
	if err := run(root, *target, *wait, *settle); err != nil {
		fmt.Fprintf(os.Stderr, "memtree: %v\n", err)
		os.Exit(1)
	}
}

// proc is one process of the tree.
type proc struct {
	pid, ppid int
	comm      string
}

func run(root int, target string, wait, settle time.Duration) error {
	deadline := time.Now().Add(wait)
	var tree []proc
	for {
		var err error
		tree, err = descendants(root)
		if err != nil {
			return err
		}
		if hasComm(tree, target) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no process %q under pid %d after %v (the sandbox did not start)", target, root, wait)
		}
		time.Sleep(20 * time.Millisecond) // a benchmark tool polling another user's processes: no ready signal to wait on
	}
	time.Sleep(settle)
	tree, err := descendants(root)
	if err != nil {
		return err
	}
	inTarget := map[int]bool{}
	for _, p := range tree { // parents come before children
		role := "own"
		switch {
		case p.comm == target || inTarget[p.ppid]:
			inTarget[p.pid] = true
			role = "target"
		case p.comm == "slirp4netns":
			role = "slirp4netns"
		}
		pss, rss, err := memory(p.pid)
		if errors.Is(err, os.ErrPermission) {
			fmt.Fprintf(os.Stderr, "memtree: %v\n", err)
			pss, rss = -1, -1
		} else if err != nil {
			return err
		}
		fmt.Printf("%d\t%d\t%s\t%s\t%d\t%d\n", p.pid, p.ppid, p.comm, role, pss, rss)
	}
	return nil
}

func hasComm(tree []proc, comm string) bool {
	for _, p := range tree {
		if p.comm == comm {
			return true
		}
	}
	return false
}

// descendants lists root and every process below it, each parent before its children, from the
// parent pids in /proc/PID/stat.
func descendants(root int) ([]proc, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, fmt.Errorf("listing /proc: %w", err)
	}
	children := map[int][]proc{}
	var self *proc
	for _, d := range dirs {
		p, err := stat(d)
		if err != nil {
			continue // the process exited while we read /proc
		}
		children[p.ppid] = append(children[p.ppid], p)
		if p.pid == root {
			self = &p
		}
	}
	if self == nil {
		return nil, fmt.Errorf("process %d does not exist", root)
	}
	tree := []proc{*self}
	for i := 0; i < len(tree); i++ {
		kids := children[tree[i].pid]
		sort.Slice(kids, func(a, b int) bool { return kids[a].pid < kids[b].pid })
		tree = append(tree, kids...)
	}
	return tree, nil
}

// stat reads pid, comm and ppid from DIR/stat ("pid (comm) state ppid ...", comm may hold spaces).
func stat(dir string) (proc, error) {
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return proc{}, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, fmt.Errorf("%s/stat: no (comm)", dir)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return proc{}, fmt.Errorf("%s/stat: pid: %w", dir, err)
	}
	rest := strings.Fields(s[end+1:])
	if len(rest) < 2 {
		return proc{}, fmt.Errorf("%s/stat: no ppid", dir)
	}
	ppid, err := strconv.Atoi(rest[1])
	if err != nil {
		return proc{}, fmt.Errorf("%s/stat: ppid: %w", dir, err)
	}
	return proc{pid: pid, ppid: ppid, comm: s[open+1 : end]}, nil
}

// memory returns a process's PSS and RSS in KiB, from /proc/PID/smaps_rollup.
func memory(pid int) (pss, rss int, err error) {
	path := fmt.Sprintf("/proc/%d/smaps_rollup", pid)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return 0, 0, fmt.Errorf("%w (only root reads it: run the benchmark as root, which measures as the test user)", err)
		}
		return 0, 0, fmt.Errorf("reading memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		var dst *int
		switch fields[0] {
		case "Pss:":
			dst = &pss
		case "Rss:":
			dst = &rss
		default:
			continue
		}
		if *dst, err = strconv.Atoi(fields[1]); err != nil {
			return 0, 0, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("%s: no Rss and Pss lines (empty for a process that is exiting)", path)
	}
	return pss, rss, nil
}
