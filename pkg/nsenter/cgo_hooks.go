//go:build linux

package nsenter

// Test hooks: in-process access to the C parser and to the C mirror of the
// protocol constants, for FuzzBootstrapParse and TestProtocolMatchesC, and to the
// C init's list of relayed signals, for TestInitRelaysWhatSigforwardRelays. They
// have no side effects; nothing outside the tests calls them.

/*
#include <stdlib.h>
#include "nsexec.h"
#include "exec.h"
#include "init.h"

static char *rkx_exec_arg(struct rkx_exec *x, size_t i) { return x->argv[i]; }
static char *rkx_exec_env(struct rkx_exec *x, size_t i) { return x->envp[i]; }
static const char *rkx_exec_cap_name(struct rkx_exec *x, int c) { return x->cap_name[c]; }

static const char *rkx_env_initpipe(void) { return RKX_ENV_INITPIPE; }
static const char *rkx_env_logpipe(void) { return RKX_ENV_LOGPIPE; }
static const char *rkx_env_stage(void) { return RKX_ENV_STAGE; }
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// cParseBootstrap runs rkx_parse_bootstrap on a copy of msg.
func cParseBootstrap(msg []byte) (bootstrap, error) {
	buf := C.malloc(C.size_t(len(msg) + 1)) // +1: malloc(0) may return NULL
	defer C.free(buf)
	copy(unsafe.Slice((*byte)(buf), len(msg)), msg)
	var out C.struct_rkx_bootstrap
	var errbuf [512]C.char
	if C.rkx_parse_bootstrap((*C.uint8_t)(buf), C.size_t(len(msg)), &out, &errbuf[0], C.size_t(len(errbuf))) != 0 {
		return bootstrap{}, errors.New(C.GoString(&errbuf[0]))
	}
	b := bootstrap{
		CloneFlags: uint32(out.clone_flags),
		MapsByGo:   out.maps_by_go != 0,
		Setsid:     out.setsid != 0,

		ClearPdeathsig: out.clear_pdeathsig != 0,
		Debug:          out.debug != 0,
		Init:           out.init != 0,
		InitReap:       out.init_reap != 0,
		MountProc:      out.mount_proc != 0,
		Exec:           out.exec != 0,
		RootInGo:       out.root_in_go != 0,
	}
	if out.handoff_fd >= 0 {
		b.HandoffFD, b.HandoffTap = int(out.handoff_fd), C.GoString(&out.handoff_tap[0])
	}
	if out.hostname != nil {
		b.Hostname = C.GoString(out.hostname)
	}
	if out.stage2_name != nil {
		b.Stage2Name = C.GoString(out.stage2_name)
	}
	for i := 0; i < int(out.njoin); i++ {
		j := out.join[i]
		b.Join = append(b.Join, Namespace{Type: C.GoString(j.name), Path: C.GoString(j.path)})
	}
	return b, nil
}

// cProtocol returns the values nsexec.h defines, by their Go names.
func cProtocol() map[string]any {
	nsOrder := make([]uint32, C.RKX_NS_COUNT)
	for i := range nsOrder {
		nsOrder[i] = uint32(C.rkx_ns_order[i])
	}
	return map[string]any{
		"EnvInitPipe":        C.GoString(C.rkx_env_initpipe()),
		"EnvLogPipe":         C.GoString(C.rkx_env_logpipe()),
		"EnvStage":           C.GoString(C.rkx_env_stage()),
		"bootstrapMsgType":   int(C.RKX_BOOTSTRAP_MSG_TYPE),
		"bootstrapVersion":   int(C.RKX_BOOTSTRAP_VERSION),
		"bootstrapHdrLen":    int(C.RKX_BOOTSTRAP_HDR_LEN),
		"bootstrapMaxLen":    int(C.RKX_BOOTSTRAP_MAX_LEN),
		"attrHdrLen":         int(C.RKX_ATTR_HDR_LEN),
		"attrAlign":          int(C.RKX_ATTR_ALIGN),
		"attrCloneFlags":     int(C.RKX_ATTR_CLONE_FLAGS),
		"attrJoinNS":         int(C.RKX_ATTR_JOIN_NS),
		"attrMapsByGo":       int(C.RKX_ATTR_MAPS_BY_GO),
		"attrHostname":       int(C.RKX_ATTR_HOSTNAME),
		"attrSetsid":         int(C.RKX_ATTR_SETSID),
		"attrClearPdeathsig": int(C.RKX_ATTR_CLEAR_PDEATHSIG),
		"attrStage2Name":     int(C.RKX_ATTR_STAGE2_NAME),
		"attrDebug":          int(C.RKX_ATTR_DEBUG),
		"attrInit":           int(C.RKX_ATTR_INIT),
		"attrInitReap":       int(C.RKX_ATTR_INIT_REAP),
		"attrMountProc":      int(C.RKX_ATTR_MOUNT_PROC),
		"attrExec":           int(C.RKX_ATTR_EXEC),
		"attrRootInGo":       int(C.RKX_ATTR_ROOT_IN_GO),
		"attrNetHandoff":     int(C.RKX_ATTR_NET_HANDOFF),
		"maxNetHandoff":      int(C.RKX_MAX_NET_HANDOFF),
		"maxStageName":       int(C.RKX_MAX_STAGE_NAME),
		"maxNamespacePath":   int(C.RKX_MAX_NS_PATH),
		"maxHostname":        int(C.RKX_MAX_HOSTNAME),
		"syncMapsDone":       int(C.RKX_SYNC_MAPS_DONE),
		"syncMapsFailed":     int(C.RKX_SYNC_MAPS_FAILED),
		"nsOrder":            nsOrder,
		"execMsgType":        int(C.RKX_EXEC_MSG_TYPE),
		"execVersion":        int(C.RKX_EXEC_VERSION),
		"execHdrLen":         int(C.RKX_EXEC_HDR_LEN),
		"execAttrHdr":        int(C.RKX_EXEC_ATTR_HDR),
		"execMaxLen":         int(C.RKX_EXEC_MAX_LEN),
		"execMaxFilter":      int(C.RKX_EXEC_MAX_FILTER),
		"ExecFD":             int(C.RKX_EXEC_FD),
		"execAttrArg":        int(C.RKX_EXEC_ARG),
		"execAttrEnv":        int(C.RKX_EXEC_ENV),
		"execAttrCwd":        int(C.RKX_EXEC_CWD),
		"execAttrUser":       int(C.RKX_EXEC_USER),
		"execAttrKeep":       int(C.RKX_EXEC_KEEP),
		"execAttrCapName":    int(C.RKX_EXEC_CAP_NAME),
		"execAttrBounding":   int(C.RKX_EXEC_BOUNDING),
		"execAttrNoNewPrivs": int(C.RKX_EXEC_NO_NEW_PRIVS),
		"execAttrTerminal":   int(C.RKX_EXEC_TERMINAL),
		"execAttrPdeathsig":  int(C.RKX_EXEC_PDEATHSIG),
		"execAttrPreserve":   int(C.RKX_EXEC_PRESERVE),
		"execAttrDetach":     int(C.RKX_EXEC_DETACH),
		"execAttrSeccomp":    int(C.RKX_EXEC_SECCOMP),
	}
}

// cInitRelays returns rkx_init_relays(sig): whether the C init relays sig.
func cInitRelays(sig int) bool { return C.rkx_init_relays(C.int(sig)) != 0 }

// cNSName returns rkx_ns_name(flag).
func cNSName(flag uint32) string {
	s := C.rkx_ns_name(C.uint32_t(flag))
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// cParseExec runs rkx_parse_exec on a copy of msg and returns what it read as an Exec (Keep in
// ascending order, Seccomp nil when absent).
func cParseExec(msg []byte) (Exec, error) {
	buf := C.malloc(C.size_t(len(msg) + 1))
	defer C.free(buf)
	copy(unsafe.Slice((*byte)(buf), len(msg)), msg)
	var x C.struct_rkx_exec
	var errbuf [512]C.char
	if C.rkx_parse_exec((*C.uint8_t)(buf), C.size_t(len(msg)), &x, &errbuf[0], C.size_t(len(errbuf))) != 0 {
		return Exec{}, errors.New(C.GoString(&errbuf[0]))
	}
	defer C.rkx_free_exec(&x)
	e := Exec{
		SwitchUser:        x.switch_user != 0,
		UID:               uint32(x.uid),
		GID:               uint32(x.gid),
		KeepSet:           x.keep_set != 0,
		BoundingSet:       x.bounding_set != 0,
		Bounding:          uint64(x.bounding),
		NoNewPrivs:        x.no_new_privs != 0,
		Terminal:          x.terminal != 0,
		ParentDeathSignal: int(x.pdeathsig),
		PreserveFDs:       int(x.preserve_fds),
		Detach:            x.detach != 0,
	}
	for i := 0; i < int(x.argc); i++ {
		e.Args = append(e.Args, C.GoString(C.rkx_exec_arg(&x, C.size_t(i))))
	}
	if C.rkx_exec_arg(&x, x.argc) != nil {
		return Exec{}, errors.New("argv is not NULL-terminated")
	}
	for i := 0; i < int(x.envc); i++ {
		e.Env = append(e.Env, C.GoString(C.rkx_exec_env(&x, C.size_t(i))))
	}
	if C.rkx_exec_env(&x, x.envc) != nil {
		return Exec{}, errors.New("envp is not NULL-terminated")
	}
	if x.cwd != nil {
		e.Cwd = C.GoString(x.cwd)
	}
	groups := C.GoBytes(unsafe.Pointer(x.groups), C.int(4*x.ngroups))
	for i := 0; i+4 <= len(groups); i += 4 {
		e.Groups = append(e.Groups, binary.NativeEndian.Uint32(groups[i:]))
	}
	for c := 0; c < 64; c++ {
		if uint64(x.keep)&(1<<uint(c)) != 0 {
			e.Keep = append(e.Keep, Cap{Num: c, Name: C.GoString(C.rkx_exec_cap_name(&x, C.int(c)))})
		}
	}
	if x.filter != nil {
		raw := C.GoBytes(unsafe.Pointer(x.filter), C.int(8*x.nfilter))
		for i := 0; i+8 <= len(raw); i += 8 {
			e.Seccomp = append(e.Seccomp, unix.SockFilter{Code: binary.NativeEndian.Uint16(raw[i:]), Jt: raw[i+2], Jf: raw[i+3], K: binary.NativeEndian.Uint32(raw[i+4:])})
		}
	}
	return e, nil
}
