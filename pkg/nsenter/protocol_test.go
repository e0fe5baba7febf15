//go:build linux

package nsenter

import (
	"reflect"
	"testing"
)

// TestProtocolMatchesC checks every number and name that nsexec.h mirrors
// from protocol.go, as the compiled C code sees it.
func TestProtocolMatchesC(t *testing.T) {
	var order []uint32
	for _, ns := range nsTypes() {
		order = append(order, ns.flag)
	}
	goValues := map[string]any{
		"EnvInitPipe":        EnvInitPipe,
		"EnvLogPipe":         EnvLogPipe,
		"EnvStage":           EnvStage,
		"bootstrapMsgType":   bootstrapMsgType,
		"bootstrapVersion":   bootstrapVersion,
		"bootstrapHdrLen":    bootstrapHdrLen,
		"bootstrapMaxLen":    bootstrapMaxLen,
		"attrHdrLen":         attrHdrLen,
		"attrAlign":          attrAlign,
		"attrCloneFlags":     attrCloneFlags,
		"attrJoinNS":         attrJoinNS,
		"attrMapsByGo":       attrMapsByGo,
		"attrHostname":       attrHostname,
		"attrSetsid":         attrSetsid,
		"attrClearPdeathsig": attrClearPdeathsig,
		"attrStage2Name":     attrStage2Name,
		"attrDebug":          attrDebug,
		"attrInit":           attrInit,
		"attrInitReap":       attrInitReap,
		"attrMountProc":      attrMountProc,
		"attrExec":           attrExec,
		"attrRootInGo":       attrRootInGo,
		"attrNetHandoff":     attrNetHandoff,
		"maxNetHandoff":      maxNetHandoff,
		"maxStageName":       maxStageName,
		"maxNamespacePath":   maxNamespacePath,
		"maxHostname":        maxHostname,
		"syncMapsDone":       syncMapsDone,
		"syncMapsFailed":     syncMapsFailed,
		"nsOrder":            order,
		"execMsgType":        execMsgType,
		"execVersion":        execVersion,
		"execHdrLen":         execHdrLen,
		"execAttrHdr":        execAttrHdr,
		"execMaxLen":         execMaxLen,
		"execMaxFilter":      execMaxFilter,
		"ExecFD":             ExecFD,
		"execAttrArg":        execAttrArg,
		"execAttrEnv":        execAttrEnv,
		"execAttrCwd":        execAttrCwd,
		"execAttrUser":       execAttrUser,
		"execAttrKeep":       execAttrKeep,
		"execAttrCapName":    execAttrCapName,
		"execAttrBounding":   execAttrBounding,
		"execAttrNoNewPrivs": execAttrNoNewPrivs,
		"execAttrTerminal":   execAttrTerminal,
		"execAttrPdeathsig":  execAttrPdeathsig,
		"execAttrPreserve":   execAttrPreserve,
		"execAttrDetach":     execAttrDetach,
		"execAttrSeccomp":    execAttrSeccomp,
	}
	cValues := cProtocol()
	for name, want := range goValues {
		if got, ok := cValues[name]; !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Go %v (%T), C %v (%T)", name, want, want, got, got)
		}
	}
	for name := range cValues {
		if _, ok := goValues[name]; !ok {
			t.Errorf("%s: in C only", name)
		}
	}
	for _, ns := range nsTypes() {
		if got := cNSName(ns.flag); got != ns.name {
			t.Errorf("C name of %#x: %q, Go %q", ns.flag, got, ns.name)
		}
	}
}
