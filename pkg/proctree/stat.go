package proctree

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Stat holds the fields of /proc/PID/stat that rkexec uses.
type Stat struct {
	// State is the one-letter state: R, S, D, T, t, Z (zombie), X (dead), I, ...
	State byte
	// PPID is the parent's pid, in the pid namespace of the /proc it was read from.
	PPID int
	// StartTime is when the process started, in clock ticks after boot: with the pid, it names one
	// process (a pid can be reused, a pid and a start time cannot).
	StartTime uint64
}

// Exited reports whether the process has exited and only waits to be reaped.
func (s Stat) Exited() bool { return s.State == 'Z' || s.State == 'X' }

// ParseStat parses the contents of /proc/PID/stat. The command name, field 2, may hold spaces and
// parentheses, so the fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("stat %q: no command name", b)
	}
	// After the name: state (field 3), ppid (4), ..., starttime (22).
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("stat %q: %d fields after the command name, want at least 20", b, len(f))
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return Stat{}, fmt.Errorf("stat: ppid %q: %w", f[1], err)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("stat: starttime %q: %w", f[19], err)
	}
	return Stat{State: f[0][0], PPID: ppid, StartTime: start}, nil
}

// ReadStat reads /proc/PID/stat from the /proc mounted now, for callers that trust it (the caller's
// own namespaces) and did not open one.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}
