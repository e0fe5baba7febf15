package nsenter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// bootstrap is the decoded form of the message stage 0 reads. Its rules are
// those of rkx_parse_bootstrap in bootstrap.c; FuzzBootstrapParse checks
// that both accept the same messages and read the same values.
type bootstrap struct {
	CloneFlags uint32
	Join       []Namespace // in join order (user first) once validated
	MapsByGo   bool
	Hostname   string
	Setsid     bool
	// ClearPdeathsig: stage 2 clears its parent-death signal as its last step.
	ClearPdeathsig bool
	// Stage2Name is stage 2's PR_SET_NAME; empty keeps "rkexec:[2:INIT]".
	Stage2Name string
	// Debug: the stages log their steps at debug level.
	Debug bool
	// Init: stage 2 runs the command named by its arguments from C (init.c), as InitReap says.
	Init bool
	// InitReap: with Init, the command runs as a child of stage 2, which reaps and relays signals.
	InitReap bool
	// MountProc: stage 2 mounts a fresh /proc (it needs CLONE_NEWNS).
	MountProc bool
	// Exec: stage 2 execs an exec message from C instead of returning to Go.
	Exec bool
	// RootInGo: stage 2 returns to Go while the id maps are written; Go takes uid 0.
	RootInGo bool
	// HandoffFD and HandoffTap: stage 2 creates the tap device HandoffTap and sends its network
	// namespace on HandoffFD (0: none).
	HandoffFD  int
	HandoffTap string
}

var errBootstrap = errors.New("bootstrap")

func bootstrapErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBootstrap, fmt.Sprintf(format, args...))
}

// validate checks the rules that do not depend on the encoding, and sorts
// Join into join order.
func (b *bootstrap) validate() error {
	if b.CloneFlags&^allNSFlags() != 0 {
		return bootstrapErr("clone flags %#x: not CLONE_NEW* flags: %#x", b.CloneFlags, b.CloneFlags&^allNSFlags())
	}
	var sorted [8]*Namespace
	var joined uint32
	for i := range b.Join {
		ns := &b.Join[i]
		idx := nsIndex(ns.Type)
		if idx < 0 {
			return bootstrapErr("namespace %s:%s: unknown type", ns.Type, ns.Path)
		}
		if !strings.HasPrefix(ns.Path, "/") {
			return bootstrapErr("namespace %s:%s: path is not absolute", ns.Type, ns.Path)
		}
		if strings.IndexByte(ns.Path, 0) >= 0 {
			return bootstrapErr("namespace %s: path contains a NUL byte", ns.Type)
		}
		if len(ns.Path) > maxNamespacePath {
			return bootstrapErr("namespace %s: path longer than %d bytes", ns.Type, maxNamespacePath)
		}
		if sorted[idx] != nil {
			return bootstrapErr("namespace %s:%s: type listed twice", ns.Type, ns.Path)
		}
		sorted[idx] = ns
		joined |= nsTypes()[idx].flag
	}
	if both := joined & b.CloneFlags; both != 0 {
		return bootstrapErr("namespace %s both joined and unshared", nsName(both&-both))
	}
	if b.Hostname != "" {
		if strings.IndexByte(b.Hostname, 0) >= 0 {
			return bootstrapErr("hostname: contains a NUL byte")
		}
		if len(b.Hostname) > maxHostname {
			return bootstrapErr("hostname: longer than %d bytes", maxHostname)
		}
		if b.CloneFlags&nsTypes()[4].flag == 0 {
			return bootstrapErr("hostname needs CLONE_NEWUTS in the clone flags")
		}
	}
	if b.Stage2Name != "" {
		if strings.IndexByte(b.Stage2Name, 0) >= 0 {
			return bootstrapErr("stage-2 name: contains a NUL byte")
		}
		if len(b.Stage2Name) > maxStageName {
			return bootstrapErr("stage-2 name: longer than %d bytes", maxStageName)
		}
	}
	if b.MapsByGo != (b.CloneFlags&nsTypes()[0].flag != 0) {
		return bootstrapErr("maps-by-go must be set exactly when CLONE_NEWUSER is unshared")
	}
	if b.InitReap && !b.Init {
		return bootstrapErr("init-reap needs init")
	}
	if b.MountProc && b.CloneFlags&nsTypes()[1].flag == 0 {
		return bootstrapErr("mount-proc needs CLONE_NEWNS in the clone flags")
	}
	if b.RootInGo && (b.CloneFlags&nsTypes()[0].flag == 0 || b.CloneFlags&nsTypes()[2].flag != 0) {
		return bootstrapErr("root-in-go needs CLONE_NEWUSER and no CLONE_NEWNET in the clone flags")
	}
	if b.HandoffFD != 0 {
		if err := checkNetHandoff(b.HandoffFD, b.HandoffTap); err != nil {
			return err
		}
		if b.CloneFlags&nsTypes()[2].flag == 0 {
			return bootstrapErr("net-handoff needs CLONE_NEWNET in the clone flags")
		}
	}
	if b.RootInGo && (b.Init || b.MountProc || b.Exec) {
		return bootstrapErr("root-in-go cannot be combined with init, mount-proc or exec")
	}
	join := make([]Namespace, 0, len(b.Join))
	for _, ns := range sorted {
		if ns != nil {
			join = append(join, *ns)
		}
	}
	if len(join) == 0 {
		join = nil
	}
	b.Join = join
	return nil
}

func nsName(flag uint32) string {
	for _, t := range nsTypes() {
		if t.flag == flag {
			return t.name
		}
	}
	return fmt.Sprintf("%#x", flag)
}

// encode validates b and returns the message. It always writes the clone
// flags and every boolean, so equal bootstraps encode to equal bytes.
func (b bootstrap) encode() ([]byte, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	return b.marshal()
}

// marshal writes b as it is, valid or not (tests use it to reach the
// C parser's checks).
func (b bootstrap) marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(make([]byte, bootstrapHdrLen))
	put := func(typ uint16, payload []byte) {
		var hdr [attrHdrLen]byte
		binary.NativeEndian.PutUint16(hdr[0:], uint16(attrHdrLen+len(payload)))
		binary.NativeEndian.PutUint16(hdr[2:], typ)
		buf.Write(hdr[:])
		buf.Write(payload)
		buf.Write(make([]byte, align(len(payload))-len(payload)))
	}
	put(attrCloneFlags, binary.NativeEndian.AppendUint32(nil, b.CloneFlags))
	for _, ns := range b.Join {
		put(attrJoinNS, append([]byte(ns.Type+":"+ns.Path), 0))
	}
	put(attrMapsByGo, []byte{boolByte(b.MapsByGo)})
	if b.Hostname != "" {
		put(attrHostname, append([]byte(b.Hostname), 0))
	}
	if b.Stage2Name != "" {
		put(attrStage2Name, append([]byte(b.Stage2Name), 0))
	}
	put(attrClearPdeathsig, []byte{boolByte(b.ClearPdeathsig)})
	put(attrSetsid, []byte{boolByte(b.Setsid)})
	put(attrDebug, []byte{boolByte(b.Debug)})
	if b.Init {
		put(attrInit, []byte{1})
	}
	if b.InitReap {
		put(attrInitReap, []byte{1})
	}
	if b.MountProc {
		put(attrMountProc, []byte{1})
	}
	if b.Exec {
		put(attrExec, []byte{1})
	}
	if b.RootInGo {
		put(attrRootInGo, []byte{1})
	}
	if b.HandoffFD != 0 {
		put(attrNetHandoff, append([]byte(strconv.Itoa(b.HandoffFD)+":"+b.HandoffTap), 0))
	}
	out := buf.Bytes()
	if len(out) > bootstrapMaxLen {
		return nil, bootstrapErr("message is %d bytes, limit is %d", len(out), bootstrapMaxLen)
	}
	binary.NativeEndian.PutUint32(out[0:], uint32(len(out)))
	binary.NativeEndian.PutUint16(out[4:], bootstrapMsgType)
	binary.NativeEndian.PutUint16(out[6:], bootstrapVersion)
	return out, nil
}

func align(n int) int { return (n + attrAlign - 1) &^ (attrAlign - 1) }

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// decodeBootstrap parses a whole message as strictly as the C parser.
func decodeBootstrap(msg []byte) (bootstrap, error) {
	var b bootstrap
	if len(msg) < bootstrapHdrLen {
		return b, bootstrapErr("message is %d bytes, shorter than its header", len(msg))
	}
	if n := binary.NativeEndian.Uint32(msg); uint64(n) != uint64(len(msg)) {
		return b, bootstrapErr("header says %d bytes, message is %d", n, len(msg))
	}
	if len(msg) > bootstrapMaxLen {
		return b, bootstrapErr("message is %d bytes, limit is %d", len(msg), bootstrapMaxLen)
	}
	if len(msg)%attrAlign != 0 {
		return b, bootstrapErr("message length %d is not a multiple of %d", len(msg), attrAlign)
	}
	if t := binary.NativeEndian.Uint16(msg[4:]); t != bootstrapMsgType {
		return b, bootstrapErr("message type %#x, want %#x", t, bootstrapMsgType)
	}
	if v := binary.NativeEndian.Uint16(msg[6:]); v != bootstrapVersion {
		return b, bootstrapErr("version %d, want %d", v, bootstrapVersion)
	}
	seen := map[uint16]bool{}
	for off := bootstrapHdrLen; off < len(msg); {
		if len(msg)-off < attrHdrLen {
			return b, bootstrapErr("attribute at offset %d: truncated header", off)
		}
		alen := int(binary.NativeEndian.Uint16(msg[off:]))
		atype := binary.NativeEndian.Uint16(msg[off+2:])
		if alen < attrHdrLen {
			return b, bootstrapErr("attribute %d at offset %d: length %d is too small", atype, off, alen)
		}
		padded := align(alen)
		if padded > len(msg)-off {
			return b, bootstrapErr("attribute %d at offset %d: length %d runs past the end", atype, off, alen)
		}
		for _, c := range msg[off+alen : off+padded] {
			if c != 0 {
				return b, bootstrapErr("attribute %d at offset %d: non-zero padding", atype, off)
			}
		}
		p := msg[off+attrHdrLen : off+alen]
		off += padded

		name := onceAttrName(atype)
		if name != "" {
			if seen[atype] {
				return b, bootstrapErr("%s: attribute repeated", name)
			}
			seen[atype] = true
		}
		var err error
		switch atype {
		case attrCloneFlags:
			if len(p) != 4 {
				return b, bootstrapErr("clone flags: payload is %d bytes, want 4", len(p))
			}
			b.CloneFlags = binary.NativeEndian.Uint32(p)
			if b.CloneFlags&^allNSFlags() != 0 {
				return b, bootstrapErr("clone flags %#x: not CLONE_NEW* flags", b.CloneFlags)
			}
		case attrJoinNS:
			spec, err := decodeString(p, maxNamespacePath+8, "namespace")
			if err != nil {
				return b, err
			}
			typ, path, ok := strings.Cut(spec, ":")
			if !ok {
				return b, bootstrapErr("namespace %s: want type:path", spec)
			}
			if nsIndex(typ) < 0 {
				return b, bootstrapErr("namespace %s: unknown type", spec)
			}
			if !strings.HasPrefix(path, "/") {
				return b, bootstrapErr("namespace %s: path is not absolute", spec)
			}
			for _, ns := range b.Join {
				if ns.Type == typ {
					return b, bootstrapErr("namespace %s: type listed twice", spec)
				}
			}
			if len(path) > maxNamespacePath {
				return b, bootstrapErr("namespace %s: path longer than %d bytes", typ, maxNamespacePath)
			}
			b.Join = append(b.Join, Namespace{Type: typ, Path: path})
		case attrMapsByGo:
			b.MapsByGo, err = decodeBool(p, name)
		case attrHostname:
			b.Hostname, err = decodeString(p, maxHostname, name)
		case attrSetsid:
			b.Setsid, err = decodeBool(p, name)
		case attrClearPdeathsig:
			b.ClearPdeathsig, err = decodeBool(p, name)
		case attrStage2Name:
			b.Stage2Name, err = decodeString(p, maxStageName, name)
		case attrDebug:
			b.Debug, err = decodeBool(p, name)
		case attrInit:
			b.Init, err = decodeBool(p, name)
		case attrInitReap:
			b.InitReap, err = decodeBool(p, name)
		case attrMountProc:
			b.MountProc, err = decodeBool(p, name)
		case attrExec:
			b.Exec, err = decodeBool(p, name)
		case attrRootInGo:
			b.RootInGo, err = decodeBool(p, name)
		case attrNetHandoff:
			var s string
			if s, err = decodeString(p, maxNetHandoff, name); err == nil {
				b.HandoffFD, b.HandoffTap, err = parseNetHandoff(s)
			}
		default:
			return b, bootstrapErr("unknown attribute type %d at offset %d", atype, off-padded)
		}
		if err != nil {
			return b, err
		}
	}
	if err := b.validate(); err != nil {
		return bootstrap{}, err
	}
	return b, nil
}

// onceAttrName names, for errors, the attributes that may appear once; "" for the others.
func onceAttrName(t uint16) string {
	switch t {
	case attrCloneFlags:
		return "clone flags"
	case attrMapsByGo:
		return "maps-by-go"
	case attrHostname:
		return "hostname"
	case attrSetsid:
		return "setsid"
	case attrClearPdeathsig:
		return "clear-pdeathsig"
	case attrStage2Name:
		return "stage-2 name"
	case attrDebug:
		return "debug"
	case attrInit:
		return "init"
	case attrInitReap:
		return "init-reap"
	case attrMountProc:
		return "mount-proc"
	case attrExec:
		return "exec"
	case attrRootInGo:
		return "root-in-go"
	case attrNetHandoff:
		return "net-handoff"
	}
	return ""
}

// decodeString accepts 1..max bytes followed by exactly one NUL.
func decodeString(p []byte, max int, what string) (string, error) {
	switch {
	case len(p) < 2:
		return "", bootstrapErr("%s: empty", what)
	case p[len(p)-1] != 0:
		return "", bootstrapErr("%s: not NUL-terminated", what)
	case bytes.IndexByte(p[:len(p)-1], 0) >= 0:
		return "", bootstrapErr("%s: contains a NUL byte", what)
	case len(p)-1 > max:
		return "", bootstrapErr("%s: longer than %d bytes", what, max)
	}
	return string(p[:len(p)-1]), nil
}

// parseNetHandoff reads "FD:TAP" (checkNetHandoff says what each may be). Mirrors parse_handoff in
// bootstrap.c.
func parseNetHandoff(s string) (fd int, tap string, err error) {
	digits, tap, ok := strings.Cut(s, ":")
	if !ok || digits == "" {
		return 0, "", bootstrapErr("net-handoff %s: want FD:TAP", s)
	}
	for _, c := range digits {
		if c < '0' || c > '9' || fd > 1000000 {
			return 0, "", bootstrapErr("net-handoff %s: bad fd", s)
		}
		fd = fd*10 + int(c-'0')
	}
	return fd, tap, checkNetHandoff(fd, tap)
}

// checkNetHandoff checks a hand-off's socket fd (3 and up) and tap device name (1 to 15 bytes, no
// '/', ':' or white space).
func checkNetHandoff(fd int, tap string) error {
	if fd < 3 {
		return bootstrapErr("net-handoff %d:%s: fd below 3", fd, tap)
	}
	if len(tap) == 0 || len(tap) > 15 {
		return bootstrapErr("net-handoff %d:%s: tap name of %d bytes, want 1 to 15", fd, tap, len(tap))
	}
	if strings.ContainsAny(tap, "/: \t\n") {
		return bootstrapErr("net-handoff %d:%s: bad tap name", fd, tap)
	}
	return nil
}

func decodeBool(p []byte, what string) (bool, error) {
	if len(p) != 1 {
		return false, bootstrapErr("%s: payload is %d bytes, want 1", what, len(p))
	}
	if p[0] > 1 {
		return false, bootstrapErr("%s: boolean is %d, want 0 or 1", what, p[0])
	}
	return p[0] == 1, nil
}
