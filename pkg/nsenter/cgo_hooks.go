//go:build linux

package nsenter

// Test hooks: in-process access to the C parser and to the C mirror of the
// protocol constants, for FuzzBootstrapParse and TestProtocolMatchesC. They
// have no side effects; nothing outside the tests calls them.

/*
#include <stdlib.h>
#include "nsexec.h"

static const char *rkx_env_initpipe(void) { return RKX_ENV_INITPIPE; }
static const char *rkx_env_logpipe(void) { return RKX_ENV_LOGPIPE; }
static const char *rkx_env_stage(void) { return RKX_ENV_STAGE; }
*/
import "C"

import (
	"errors"
	"unsafe"
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
		"maxStageName":       int(C.RKX_MAX_STAGE_NAME),
		"maxNamespacePath":   int(C.RKX_MAX_NS_PATH),
		"maxHostname":        int(C.RKX_MAX_HOSTNAME),
		"syncMapsDone":       int(C.RKX_SYNC_MAPS_DONE),
		"syncMapsFailed":     int(C.RKX_SYNC_MAPS_FAILED),
		"nsOrder":            nsOrder,
	}
}

// cNSName returns rkx_ns_name(flag).
func cNSName(flag uint32) string {
	s := C.rkx_ns_name(C.uint32_t(flag))
	if s == nil {
		return ""
	}
	return C.GoString(s)
}
