package nsenter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Exec is what stage 2 becomes when Config.Exec is set: nsexec's C code (exec.c) reads it on fd
// ExecFD once it runs, applies it and executes the command itself, so no Go runtime starts inside
// the sandbox. The caller computes every decision (which user, which capabilities, the seccomp
// filter); the C side only applies them, in the order package process applies a wire.ExecSpec.
//
// On fd ExecFD the C side then keeps the exec socket protocol of package enter: it moves the socket
// above the preserved fds, close-on-exec, so that the command's execve closes it; a failure before
// that is "exit N" on it (and "rkexec exec: ..." on stderr, exit status N); with Detach it forks the
// command, sends "started", waits for "ack" and exits 0.
type Exec struct {
	Args []string // Args[0] is looked up in Env's PATH (a default PATH without one), after Cwd
	Env  []string // the whole environment
	Cwd  string   // empty: stay where stage 2 is
	// SwitchUser changes groups (to Groups), gid and uid; without it stage 2 stays root.
	SwitchUser bool
	UID, GID   uint32
	Groups     []uint32
	// Keep, when KeepSet, becomes the effective, permitted, inheritable and ambient sets (for a root
	// that stays root, with what it holds that the bounding set allows); capability numbers.
	Keep    []Cap
	KeepSet bool
	// Bounding, when BoundingSet, is the bounding set to keep; every other capability is dropped.
	Bounding    uint64
	BoundingSet bool
	NoNewPrivs  bool
	// Terminal makes stdin (a terminal) the controlling terminal; detached, of a new session.
	Terminal bool
	// ParentDeathSignal is the command's; 0 clears nsexec's.
	ParentDeathSignal int
	// PreserveFDs is how many fds after the exec socket (ExecFD+1, ...) move to 3, 4, ...
	PreserveFDs int
	// Detach starts the command as a child and reports it (see above).
	Detach bool
	// Seccomp is a filter installed first, as root of the namespace (no no_new_privs); nil for none.
	Seccomp []unix.SockFilter
}

// Cap is a capability by number, with its name for error messages (CAP_NET_ADMIN).
type Cap struct {
	Num  int
	Name string
}

// ExecFD is where stage 2 reads the exec message: the exec socket, wire.ExecSpecFD (package enter
// passes it as the first extra file).
const ExecFD = 3

// The exec message: a header (u32 total length, u16 type, u16 version), then attributes (u32 length
// with its header, u32 type, payload, zero padding to attrAlign), in native byte order. exec.h
// mirrors these; TestProtocolMatchesC checks them.
const (
	execMsgType   = 0x5258 // "RX"
	execVersion   = 1
	execHdrLen    = 8
	execAttrHdr   = 8
	execMaxLen    = 64 << 20 // as wire.MaxSize: more than execve takes
	execMaxFilter = 4096     // BPF_MAXINSNS
)

// Exec message attribute types.
const (
	execAttrArg        = 1  // string, repeated, in order (may be empty)
	execAttrEnv        = 2  // string, repeated, in order
	execAttrCwd        = 3  // string, once, not empty
	execAttrUser       = 4  // u32 uid, u32 gid, then u32 groups; once; its presence switches user
	execAttrKeep       = 5  // u64 mask, once
	execAttrCapName    = 6  // u32 capability, name string; repeated, for messages
	execAttrBounding   = 7  // u64 mask, once
	execAttrNoNewPrivs = 8  // no payload, once
	execAttrTerminal   = 9  // no payload, once
	execAttrPdeathsig  = 10 // u32, once
	execAttrPreserve   = 11 // u32, once
	execAttrDetach     = 12 // no payload, once
	execAttrSeccomp    = 13 // struct sock_filter[], once
)

// EncodeExec returns the exec message for x.
func EncodeExec(x Exec) ([]byte, error) {
	if len(x.Args) == 0 {
		return nil, errors.New("nsenter: exec: no command")
	}
	buf := make([]byte, execHdrLen, 256)
	put := func(typ uint32, payload ...[]byte) {
		n := 0
		for _, p := range payload {
			n += len(p)
		}
		buf = binary.NativeEndian.AppendUint32(buf, uint32(execAttrHdr+n))
		buf = binary.NativeEndian.AppendUint32(buf, typ)
		for _, p := range payload {
			buf = append(buf, p...)
		}
		for (execAttrHdr+n)%attrAlign != 0 {
			buf = append(buf, 0)
			n++
		}
	}
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }
	str := func(what, s string) ([]byte, error) {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, fmt.Errorf("nsenter: exec: %s %q contains a NUL byte", what, s)
		}
		return append([]byte(s), 0), nil
	}
	for _, a := range x.Args {
		b, err := str("argument", a)
		if err != nil {
			return nil, err
		}
		put(execAttrArg, b)
	}
	for _, e := range x.Env {
		b, err := str("environment variable", e)
		if err != nil {
			return nil, err
		}
		put(execAttrEnv, b)
	}
	if x.Cwd != "" {
		b, err := str("--cwd", x.Cwd)
		if err != nil {
			return nil, err
		}
		put(execAttrCwd, b)
	}
	if x.SwitchUser {
		p := [][]byte{u32(x.UID), u32(x.GID)}
		for _, g := range x.Groups {
			p = append(p, u32(g))
		}
		put(execAttrUser, p...)
	}
	if x.KeepSet {
		var mask uint64
		for _, c := range x.Keep {
			if c.Num < 0 || c.Num > 63 {
				return nil, fmt.Errorf("nsenter: exec: capability %d out of range", c.Num)
			}
			mask |= 1 << uint(c.Num)
			b, err := str("capability name", c.Name)
			if err != nil {
				return nil, err
			}
			put(execAttrCapName, u32(uint32(c.Num)), b)
		}
		put(execAttrKeep, u64(mask))
	}
	if x.BoundingSet {
		put(execAttrBounding, u64(x.Bounding))
	}
	if x.NoNewPrivs {
		put(execAttrNoNewPrivs)
	}
	if x.Terminal {
		put(execAttrTerminal)
	}
	if x.ParentDeathSignal < 0 || x.ParentDeathSignal > 64 {
		return nil, fmt.Errorf("nsenter: exec: parent-death signal %d out of range", x.ParentDeathSignal)
	}
	put(execAttrPdeathsig, u32(uint32(x.ParentDeathSignal)))
	if x.PreserveFDs < 0 || x.PreserveFDs > 1<<20 {
		return nil, fmt.Errorf("nsenter: exec: %d preserved fds", x.PreserveFDs)
	}
	put(execAttrPreserve, u32(uint32(x.PreserveFDs)))
	if x.Detach {
		put(execAttrDetach)
	}
	if x.Seccomp != nil {
		if len(x.Seccomp) == 0 || len(x.Seccomp) > execMaxFilter {
			return nil, fmt.Errorf("nsenter: exec: seccomp filter of %d instructions", len(x.Seccomp))
		}
		p := make([]byte, 0, 8*len(x.Seccomp))
		for _, ins := range x.Seccomp {
			p = binary.NativeEndian.AppendUint16(p, ins.Code)
			p = append(p, ins.Jt, ins.Jf)
			p = binary.NativeEndian.AppendUint32(p, ins.K)
		}
		put(execAttrSeccomp, p)
	}
	if len(buf) > execMaxLen {
		return nil, fmt.Errorf("nsenter: exec: the command line and environment are %d bytes, more than the limit of %d", len(buf), execMaxLen)
	}
	binary.NativeEndian.PutUint32(buf[0:], uint32(len(buf)))
	binary.NativeEndian.PutUint16(buf[4:], execMsgType)
	binary.NativeEndian.PutUint16(buf[6:], execVersion)
	return buf, nil
}
