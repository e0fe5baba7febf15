package idmap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Range is a range of subordinate ids on the host.
type Range struct {
	Start uint32
	Count uint32
}

// Source says where subordinate ids come from.
type Source string

// The sources, spelled as RootlessKit's --subid-source takes them.
const (
	SourceAuto    Source = "auto"    // dynamic, then static
	SourceDynamic Source = "dynamic" // the getsubids helper
	SourceStatic  Source = "static"  // /etc/subuid and /etc/subgid
)

// ParseSource checks a --subid-source value.
func ParseSource(s string) (Source, error) {
	switch Source(s) {
	case SourceAuto, SourceDynamic, SourceStatic:
		return Source(s), nil
	}
	return "", fmt.Errorf("invalid --subid-source %q: use auto, dynamic or static", s)
}

// ParseSubIDFile reads a subuid or subgid file and returns the ranges of the user named userName or
// numbered uid. name labels errors (the file's path). Blank lines and lines starting with # are
// skipped; any other line that is not "owner:start:count" is an error naming the file and line.
func ParseSubIDFile(r io.Reader, name, userName string, uid int) ([]Range, error) {
	var ranges []Range
	uidStr := strconv.Itoa(uid)
	sc := bufio.NewScanner(r)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		owner, rng, err := parseSubIDLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w (want \"user:start:count\", e.g. \"%s:100000:65536\")", name, lineNo, err, userName)
		}
		if owner == userName || owner == uidStr {
			ranges = append(ranges, rng)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return ranges, nil
}

func parseSubIDLine(line string) (string, Range, error) {
	fields := strings.Split(line, ":")
	if len(fields) != 3 {
		return "", Range{}, fmt.Errorf("%q has %d fields, not 3", line, len(fields))
	}
	if fields[0] == "" {
		return "", Range{}, fmt.Errorf("%q has no user", line)
	}
	start, err := strconv.ParseUint(fields[1], 10, 32)
	if err != nil {
		return "", Range{}, fmt.Errorf("%q: bad start %q", line, fields[1])
	}
	count, err := strconv.ParseUint(fields[2], 10, 32)
	if err != nil || count == 0 {
		return "", Range{}, fmt.Errorf("%q: bad count %q", line, fields[2])
	}
	if start+count-1 > 0xFFFFFFFE {
		return "", Range{}, fmt.Errorf("%q: range ends past the largest id", line)
	}
	return fields[0], Range{Start: uint32(start), Count: uint32(count)}, nil
}

// readSubIDFile is ParseSubIDFile on a path; a missing file means no ranges.
func readSubIDFile(path, userName string, uid int) ([]Range, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	return ParseSubIDFile(f, path, userName, uid)
}

// ParseGetsubidsOutput parses the output of `getsubids [-g] USER`: lines like "0: alice 100000 65536".
func ParseGetsubidsOutput(out []byte) ([]Range, error) {
	var ranges []Range
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || !strings.HasSuffix(f[0], ":") {
			return nil, fmt.Errorf("unexpected getsubids output line %q", line)
		}
		start, err1 := strconv.ParseUint(f[2], 10, 32)
		count, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			return nil, fmt.Errorf("unexpected getsubids output line %q", line)
		}
		ranges = append(ranges, Range{Start: uint32(start), Count: uint32(count)})
	}
	return ranges, nil
}

// getsubids runs the getsubids helper at path for the user; gid selects -g.
func getsubids(path, userName string, gid bool) ([]Range, error) {
	args := []string{userName}
	if gid {
		args = []string{"-g", userName}
	}
	cmd := exec.Command(path, args...)
	cmd.Env = []string{}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("running %s %s: %w: %s", path, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return ParseGetsubidsOutput(out)
}
