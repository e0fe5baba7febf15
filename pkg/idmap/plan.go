package idmap

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
)

// Mapping is one line of a uid_map or gid_map file.
type Mapping struct {
	InsideID  uint32
	OutsideID uint32
	Size      uint32
}

func (m Mapping) String() string { return fmt.Sprintf("%d %d %d", m.InsideID, m.OutsideID, m.Size) }

// Method says how a Plan is written.
type Method string

// The ways to write maps.
const (
	// MethodHelpers runs newuidmap and newgidmap (subordinate ranges).
	MethodHelpers Method = "newuidmap"
	// MethodDirectFull writes an identity map of every id this process has, directly; only root can.
	MethodDirectFull Method = "direct-full"
	// MethodDirectSingle writes a single mapping of the caller directly, after denying setgroups.
	MethodDirectSingle Method = "direct-single"
)

// Plan is the uid and gid maps for one user namespace and how to write them.
type Plan struct {
	Method Method
	UIDMap []Mapping
	GIDMap []Mapping
	// NewUIDMap and NewGIDMap are the resolved helper paths for MethodHelpers.
	NewUIDMap string
	NewGIDMap string
	// Warning, when set, is the one line to show the user about a degraded map.
	Warning string
}

// MapsOutsideUID reports whether the uid map gives the host uid a name inside the namespace.
func (p Plan) MapsOutsideUID(uid uint32) bool {
	for _, m := range p.UIDMap {
		if uid >= m.OutsideID && uint64(uid) < uint64(m.OutsideID)+uint64(m.Size) {
			return true
		}
	}
	return false
}

// Caller is who the maps are for.
type Caller struct {
	UID, GID int
	Name     string
}

// CurrentCaller describes the calling process's effective user. A uid without a passwd entry is
// named by its number, which numeric subuid lines match.
func CurrentCaller() Caller {
	c := Caller{UID: os.Geteuid(), GID: os.Getegid(), Name: strconv.Itoa(os.Geteuid())}
	if name, ok := userName(c.Name, user.LookupId, "getent"); ok {
		c.Name = name
	}
	return c
}

// userName finds the name of uid through lookupID (os/user: in the static build rkexec ships, the
// pure-Go /etc/passwd reader, as a static binary cannot load glibc's NSS modules), then through NSS
// with getent(1), for users of other sources (LDAP, SSSD) whose subuid lines name them.
func userName(uid string, lookupID func(string) (*user.User, error), getent string) (string, bool) {
	if u, err := lookupID(uid); err == nil {
		return u.Username, true
	}
	out, err := exec.Command(getent, "passwd", uid).Output()
	if err != nil {
		return "", false
	}
	name, _, ok := strings.Cut(string(out), ":")
	return name, ok && name != ""
}

// Lookup is what MakePlan needs from the host; tests replace it.
type Lookup struct {
	// LookPath finds a helper binary.
	LookPath func(string) (string, error)
	// SubUIDFile and SubGIDFile are the static sources.
	SubUIDFile, SubGIDFile string
	// Getsubids runs the dynamic source.
	Getsubids func(path, userName string, gid bool) ([]Range, error)
	// SelfUIDMap and SelfGIDMap are this process's own maps, the ids root can hand on.
	SelfUIDMap, SelfGIDMap string
	// NSSwitchFile is nsswitch.conf, whose "subid:" line sends getsubids to another source.
	NSSwitchFile string
}

// HostLookup is the real host.
func HostLookup() Lookup {
	return Lookup{
		LookPath:   exec.LookPath,
		SubUIDFile: "/etc/subuid", SubGIDFile: "/etc/subgid",
		Getsubids:  getsubids,
		SelfUIDMap: "/proc/self/uid_map", SelfGIDMap: "/proc/self/gid_map",
		NSSwitchFile: "/etc/nsswitch.conf",
	}
}

// MakePlan decides the maps for caller, resolving helpers on the host (before any namespace change).
func MakePlan(caller Caller, source Source, host Lookup) (Plan, error) {
	if caller.UID == 0 {
		// Real root has every id; root of a user namespace (rkexec in rkexec) has those of its maps.
		uids, err := identityOf(host.SelfUIDMap)
		if err != nil {
			return Plan{}, err
		}
		gids, err := identityOf(host.SelfGIDMap)
		if err != nil {
			return Plan{}, err
		}
		return Plan{Method: MethodDirectFull, UIDMap: uids, GIDMap: gids}, nil
	}
	uidRanges, gidRanges, err := subIDRanges(caller, source, host)
	if err != nil {
		return Plan{}, err
	}
	newuidmap, uerr := host.LookPath("newuidmap")
	newgidmap, gerr := host.LookPath("newgidmap")
	var missing string
	switch {
	case len(uidRanges) == 0 && len(gidRanges) == 0:
		missing = fmt.Sprintf("no subordinate ids for user %s in %s and %s", caller.Name, host.SubUIDFile, host.SubGIDFile)
	case len(uidRanges) == 0:
		missing = fmt.Sprintf("no subordinate uids for user %s in %s", caller.Name, host.SubUIDFile)
	case len(gidRanges) == 0:
		missing = fmt.Sprintf("no subordinate gids for user %s in %s", caller.Name, host.SubGIDFile)
	case uerr != nil || gerr != nil:
		missing = "newuidmap/newgidmap not found in PATH"
	}
	if missing != "" {
		return singlePlan(caller, missing, freeStart(host.SubUIDFile, host.SubGIDFile)), nil
	}
	return Plan{
		Method:    MethodHelpers,
		UIDMap:    fullMap(caller.UID, uidRanges),
		GIDMap:    fullMap(caller.GID, gidRanges),
		NewUIDMap: newuidmap,
		NewGIDMap: newgidmap,
	}, nil
}

// singlePlan maps only the caller; the warning suggests a range starting at start, free in both files.
func singlePlan(caller Caller, why string, start uint32) Plan {
	return Plan{
		Method: MethodDirectSingle,
		UIDMap: []Mapping{{InsideID: 0, OutsideID: uint32(caller.UID), Size: 1}},
		GIDMap: []Mapping{{InsideID: 0, OutsideID: uint32(caller.GID), Size: 1}},
		Warning: fmt.Sprintf("%s: mapping only uid %d and gid %d (as root), so chown to any other id fails; "+
			"for 65536 ids install newuidmap/newgidmap (package uidmap) and add \"%s:%d:65536\" to /etc/subuid and /etc/subgid",
			why, caller.UID, caller.GID, caller.Name, start),
	}
}

// freeStart is where a new 65536-id range can start: 100000, or after the last range any user has in
// the files (an unreadable or malformed file counts as empty: this is only a suggestion).
func freeStart(files ...string) uint32 {
	start := uint64(100000)
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if _, r, err := parseSubIDLine(line); err == nil && uint64(r.Start)+uint64(r.Count) > start {
				start = uint64(r.Start) + uint64(r.Count)
			}
		}
	}
	if start > 4294967295-65536 {
		return 100000
	}
	return uint32(start)
}

// fullMap maps 0 to the caller and the ranges to 1 and up.
func fullMap(id int, ranges []Range) []Mapping {
	m := []Mapping{{InsideID: 0, OutsideID: uint32(id), Size: 1}}
	next := uint32(1)
	for _, r := range ranges {
		if uint64(next)+uint64(r.Count) > 4294967295 {
			break
		}
		m = append(m, Mapping{InsideID: next, OutsideID: r.Start, Size: r.Count})
		next += r.Count
	}
	return m
}

func subIDRanges(caller Caller, source Source, host Lookup) (uids, gids []Range, err error) {
	switch source {
	case SourceStatic:
		return staticRanges(caller, host)
	case SourceDynamic:
		return dynamicRanges(caller, host)
	case SourceAuto, "":
		// getsubids asks the "subid" database of nsswitch.conf, which is /etc/subuid and /etc/subgid
		// when nsswitch.conf names no other: then reading them here gives the same, without an exec.
		if !nsswitchHasSubid(host.NSSwitchFile) {
			return staticRanges(caller, host)
		}
		uids, gids, err := dynamicRanges(caller, host)
		if err == nil && len(uids) > 0 && len(gids) > 0 {
			return uids, gids, nil
		}
		return staticRanges(caller, host)
	}
	return nil, nil, fmt.Errorf("invalid subid source %q", source)
}

func staticRanges(caller Caller, host Lookup) ([]Range, []Range, error) {
	uids, err := readSubIDFile(host.SubUIDFile, caller.Name, caller.UID)
	if err != nil {
		return nil, nil, err
	}
	gids, err := readSubIDFile(host.SubGIDFile, caller.Name, caller.UID)
	if err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

// errNoGetsubids reports that the dynamic source is not installed.
var errNoGetsubids = errors.New("getsubids not found in PATH (install the uidmap package, or use --subid-source=static)")

func dynamicRanges(caller Caller, host Lookup) ([]Range, []Range, error) {
	path, err := host.LookPath("getsubids")
	if err != nil {
		return nil, nil, errNoGetsubids
	}
	// Two independent helper runs: side by side.
	type result struct {
		ranges []Range
		err    error
	}
	gidc := make(chan result, 1)
	go func() {
		r, err := host.Getsubids(path, caller.Name, true)
		gidc <- result{r, err}
	}()
	uids, uerr := host.Getsubids(path, caller.Name, false)
	gid := <-gidc
	if uerr != nil {
		return nil, nil, fmt.Errorf("subordinate uids of %s: %w", caller.Name, uerr)
	}
	if gid.err != nil {
		return nil, nil, fmt.Errorf("subordinate gids of %s: %w", caller.Name, gid.err)
	}
	return uids, gid.ranges, nil
}

// helperArgs renders maps as newuidmap's arguments after the pid.
func helperArgs(m []Mapping) []string {
	var args []string
	for _, e := range m {
		args = append(args, strconv.FormatUint(uint64(e.InsideID), 10), strconv.FormatUint(uint64(e.OutsideID), 10), strconv.FormatUint(uint64(e.Size), 10))
	}
	return args
}

// fileContent renders maps as a uid_map file's content.
func fileContent(m []Mapping) string {
	var b strings.Builder
	for _, e := range m {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// identityOf reads a uid_map or gid_map file and maps each of its inside ranges to itself.
func identityOf(path string) ([]Mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var m []Mapping
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: unexpected line %q", path, line)
		}
		inside, err1 := strconv.ParseUint(f[0], 10, 32)
		size, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: unexpected line %q", path, line)
		}
		m = append(m, Mapping{InsideID: uint32(inside), OutsideID: uint32(inside), Size: uint32(size)})
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return m, nil
}

// nsswitchHasSubid reports whether nsswitch.conf at path configures the "subid" database. An
// unreadable file counts as configured, so that getsubids decides.
func nsswitchHasSubid(path string) bool {
	if path == "" {
		return true
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "subid:") && strings.TrimSpace(strings.TrimPrefix(line, "subid:")) != "" {
			return true
		}
	}
	return false
}
