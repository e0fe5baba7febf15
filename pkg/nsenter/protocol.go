package nsenter

import "golang.org/x/sys/unix"

// The protocol between the Go caller and nsexec.c, defined here once.
// nsexec.h mirrors every value with a #define; TestProtocolMatchesC checks
// that they agree. Change both together.

// Environment variables. The names are fixed here rather than passed in by
// cmd/ because the C side reads them before any Go code runs.
const (
	// EnvInitPipe names the fd of the init pipe (a socketpair) in stage 0.
	// Its presence is what makes the constructor do anything.
	EnvInitPipe = "_RKEXEC_NSEXEC_INITPIPE"
	// EnvLogPipe names the fd on which the stages write JSON error lines.
	EnvLogPipe = "_RKEXEC_NSEXEC_LOGPIPE"
	// EnvStage is "2" in the process that returns to Go (see IsStage2).
	// Stage 2 rewrites EnvInitPipe=N into EnvStage=2 and blanks EnvLogPipe.
	EnvStage = "_RKEXEC_NSEXEC_STAGE"
)

// The bootstrap message: a header (u32 total length, u16 message type, u16
// version), then attributes (u16 length with its header, u16 type, payload,
// zero padding to attrAlign), all in native byte order.
const (
	bootstrapMsgType = 0x524b // "RK"
	bootstrapVersion = 1
	bootstrapHdrLen  = 8
	bootstrapMaxLen  = 1 << 20
	attrHdrLen       = 4
	attrAlign        = 4
)

// Attribute types.
const (
	attrCloneFlags = 1 // u32: CLONE_NEW* flags to unshare
	attrJoinNS     = 2 // NUL-terminated "type:/abs/path", once per type
	attrMapsByGo   = 3 // u8 bool: stage 1 waits for the Go side to write its id maps
	attrHostname   = 4 // NUL-terminated hostname, needs CLONE_NEWUTS
	attrSetsid     = 5 // u8 bool: stage 2 calls setsid
	// u8 bool: stage 2 clears its parent-death signal as its last step before returning to Go
	attrClearPdeathsig = 6
	attrStage2Name     = 7 // NUL-terminated name of stage 2 (PR_SET_NAME) for the Go code it runs
	attrDebug          = 8 // u8 bool: the stages log their steps as "debug" lines on the log pipe
	// u8 bool: stage 2 does not return to Go; C code (init.c) runs the command its arguments name
	attrInit = 24
	// u8 bool: with attrInit, stage 2 runs the command as its child and reaps (a PID 1)
	attrInitReap = 25
	// u8 bool: stage 2 mounts a fresh /proc before it reports ready; needs CLONE_NEWNS
	attrMountProc = 26
	// u8 bool: stage 2 reads an exec message (execmsg.go) on ExecFD and execs it from C (exec.c)
	attrExec = 16
	// u8 bool: stage 2 returns to Go while the caller writes the id maps and takes uid 0 there
	// (BecomeRoot); needs CLONE_NEWUSER, not with attrInit, attrMountProc or attrExec
	attrRootInGo = 27
	// NUL-terminated "FD:TAP": stage 2 creates the persistent tap device TAP and sends its network
	// namespace on the socket FD before it returns to Go; needs CLONE_NEWNET
	attrNetHandoff = 28
)

// Limits.
const (
	maxNamespacePath = 4095
	maxHostname      = 64
	maxStageName     = 15 // PR_SET_NAME keeps 15 bytes and a NUL
	maxNetHandoff    = 32 // "FD:TAP"
)

// Bytes the Go side writes on the init pipe after writing the id maps.
const (
	syncMapsDone   = 0x41
	syncMapsFailed = 0x42
)

// nsTypes lists the namespace types in the order stage 1 joins them: the
// user namespace first and alone, so that its capabilities apply to the rest.
func nsTypes() [8]nsType {
	return [8]nsType{
		{"user", unix.CLONE_NEWUSER},
		{"mnt", unix.CLONE_NEWNS},
		{"net", unix.CLONE_NEWNET},
		{"pid", unix.CLONE_NEWPID},
		{"uts", unix.CLONE_NEWUTS},
		{"ipc", unix.CLONE_NEWIPC},
		{"cgroup", unix.CLONE_NEWCGROUP},
		{"time", unix.CLONE_NEWTIME},
	}
}

// NamespaceTypes lists the namespace types rkexec knows, by their names in /proc/PID/ns, in the
// order nsexec joins them: a sandbox's namespaces are these.
func NamespaceTypes() []string {
	var names []string
	for _, t := range nsTypes() {
		names = append(names, t.name)
	}
	return names
}

type nsType struct {
	name string
	flag uint32
}

// nsIndex returns the position of a namespace type in nsTypes, or -1.
func nsIndex(name string) int {
	for i, t := range nsTypes() {
		if t.name == name {
			return i
		}
	}
	return -1
}

// allNSFlags is the union of the CLONE_NEW* flags of nsTypes.
func allNSFlags() uint32 {
	var all uint32
	for _, t := range nsTypes() {
		all |= t.flag
	}
	return all
}
