//go:build linux

package nsenter

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// sampleBootstraps are valid messages of every shape, the seeds of the
// fuzz targets.
func sampleBootstraps() []bootstrap {
	return []bootstrap{
		{},
		{Setsid: true},
		{ClearPdeathsig: true, Stage2Name: "rkexec:child"},
		{Stage2Name: strings.Repeat("n", maxStageName)},
		{CloneFlags: unix.CLONE_NEWUTS, Hostname: "h"},
		{CloneFlags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS |
			unix.CLONE_NEWIPC | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME | unix.CLONE_NEWNET,
			MapsByGo: true, Hostname: strings.Repeat("x", maxHostname), Setsid: true},
		{Join: []Namespace{
			{"time", "/proc/1/ns/time"}, {"net", "/proc/1/ns/net"}, {"user", "/proc/1/ns/user"},
			{"cgroup", "/proc/1/ns/cgroup"}, {"ipc", "/proc/1/ns/ipc"}, {"uts", "/proc/1/ns/uts"},
			{"pid", "/proc/1/ns/pid"}, {"mnt", "/p:a:t:h"},
		}},
		{Join: []Namespace{{"net", "/" + strings.Repeat("n", maxNamespacePath-1)}},
			CloneFlags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID, MapsByGo: true},
		{CloneFlags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, MapsByGo: true, RootInGo: true, ClearPdeathsig: true},
		{CloneFlags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET, MapsByGo: true, HandoffFD: 7, HandoffTap: "tap0"},
	}
}

func TestBootstrapRoundTrip(t *testing.T) {
	for _, b := range sampleBootstraps() {
		msg, err := b.encode()
		if err != nil {
			t.Fatalf("encode %+v: %v", b, err)
		}
		want := b
		if err := want.validate(); err != nil {
			t.Fatal(err)
		}
		got, err := decodeBootstrap(msg)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Go decode: %+v, %v; want %+v", got, err, want)
		}
		cgot, err := cParseBootstrap(msg)
		if err != nil || !reflect.DeepEqual(cgot, want) {
			t.Errorf("C parse: %+v, %v; want %+v", cgot, err, want)
		}
	}
}

func TestBootstrapJoinOrder(t *testing.T) {
	b := bootstrap{Join: []Namespace{{"pid", "/p"}, {"mnt", "/m"}, {"user", "/u"}}}
	msg, err := b.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := cParseBootstrap(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := []Namespace{{"user", "/u"}, {"mnt", "/m"}, {"pid", "/p"}}
	if !reflect.DeepEqual(got.Join, want) {
		t.Errorf("C join order %v, want %v", got.Join, want)
	}
}

// attr builds one attribute, padded.
func attr(typ uint16, payload ...byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(attrHdrLen+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	return append(b, make([]byte, align(len(payload))-len(payload))...)
}

// message builds a header with the right length around attributes.
func message(attrs ...[]byte) []byte {
	body := bytes.Join(attrs, nil)
	b := binary.NativeEndian.AppendUint32(nil, uint32(bootstrapHdrLen+len(body)))
	b = binary.NativeEndian.AppendUint16(b, bootstrapMsgType)
	b = binary.NativeEndian.AppendUint16(b, bootstrapVersion)
	return append(b, body...)
}

func TestBootstrapRejects(t *testing.T) {
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	str := func(s string) []byte { return append([]byte(s), 0) }
	badPad := attr(attrSetsid, 1)
	badPad[len(badPad)-1] = 7
	wrongLen := message(attr(attrSetsid, 0))
	wrongLen[0]++
	for name, msg := range map[string][]byte{
		"empty":              nil,
		"header only short":  message()[:6],
		"wrong length":       wrongLen,
		"wrong type":         append([]byte{8, 0, 0, 0, 1, 0}, 1, 0),
		"unknown attribute":  message(attr(99)),
		"attribute too big":  append(message(), 200, 0, 1, 0),
		"attribute len < 4":  message([]byte{2, 0, 1, 0}),
		"non-zero padding":   message(badPad),
		"bool 2":             message(attr(attrSetsid, 2)),
		"bool as u32":        message(attr(attrSetsid, 1, 0, 0, 0)),
		"flags as u8":        message(attr(attrCloneFlags, 0)),
		"flags not NEW":      message(attr(attrCloneFlags, u32(unix.CLONE_VM)...)),
		"flags twice":        message(attr(attrCloneFlags, u32(0)...), attr(attrCloneFlags, u32(0)...)),
		"hostname no NUL":    message(attr(attrCloneFlags, u32(unix.CLONE_NEWUTS)...), attr(attrHostname, 'h')),
		"hostname inner NUL": message(attr(attrCloneFlags, u32(unix.CLONE_NEWUTS)...), attr(attrHostname, 'h', 0, 'i', 0)),
		"hostname empty":     message(attr(attrCloneFlags, u32(unix.CLONE_NEWUTS)...), attr(attrHostname, 0)),
		"hostname no uts":    message(attr(attrHostname, str("h")...)),
		"ns no colon":        message(attr(attrJoinNS, str("net")...)),
		"ns unknown":         message(attr(attrJoinNS, str("foo:/x")...)),
		"ns relative":        message(attr(attrJoinNS, str("net:x")...)),
		"ns empty path":      message(attr(attrJoinNS, str("net:")...)),
		"ns twice":           message(attr(attrJoinNS, str("net:/a")...), attr(attrJoinNS, str("net:/b")...)),
		"ns joined+new":      message(attr(attrCloneFlags, u32(unix.CLONE_NEWNET)...), attr(attrJoinNS, str("net:/a")...)),
		"userns no maps":     message(attr(attrCloneFlags, u32(unix.CLONE_NEWUSER)...)),
		"maps no userns":     message(attr(attrMapsByGo, 1)),
		"pdeathsig 2":        message(attr(attrClearPdeathsig, 2)),
		"pdeathsig twice":    message(attr(attrClearPdeathsig, 0), attr(attrClearPdeathsig, 0)),
		"name too long":      message(attr(attrStage2Name, str(strings.Repeat("n", maxStageName+1))...)),
		"name empty":         message(attr(attrStage2Name, 0)),
		"name twice":         message(attr(attrStage2Name, str("a")...), attr(attrStage2Name, str("b")...)),
		"maps twice":         message(attr(attrCloneFlags, u32(unix.CLONE_NEWUSER)...), attr(attrMapsByGo, 1), attr(attrMapsByGo, 1)),
		"hostname twice":     message(attr(attrCloneFlags, u32(unix.CLONE_NEWUTS)...), attr(attrHostname, str("h")...), attr(attrHostname, str("h")...)),
		"setsid twice":       message(attr(attrSetsid, 0), attr(attrSetsid, 0)),
		"debug twice":        message(attr(attrDebug, 0), attr(attrDebug, 0)),
		"root-in-go no user": message(attr(attrRootInGo, 1)),
		"handoff no net":     message(attr(attrNetHandoff, str("4:tap0")...)),
		"handoff fd 2":       message(attr(attrCloneFlags, u32(unix.CLONE_NEWNET)...), attr(attrNetHandoff, str("2:tap0")...)),
		"handoff no fd":      message(attr(attrCloneFlags, u32(unix.CLONE_NEWNET)...), attr(attrNetHandoff, str(":tap0")...)),
		"handoff long tap":   message(attr(attrCloneFlags, u32(unix.CLONE_NEWNET)...), attr(attrNetHandoff, str("4:0123456789abcdef")...)),
		"handoff slash":      message(attr(attrCloneFlags, u32(unix.CLONE_NEWNET)...), attr(attrNetHandoff, str("4:a/b")...)),
		"root-in-go + net": message(attr(attrCloneFlags, u32(unix.CLONE_NEWUSER|unix.CLONE_NEWNET)...), attr(attrMapsByGo, 1),
			attr(attrRootInGo, 1)),
		"root-in-go + init": message(attr(attrCloneFlags, u32(unix.CLONE_NEWUSER)...), attr(attrMapsByGo, 1),
			attr(attrRootInGo, 1), attr(attrInit, 1)),
		"root-in-go twice": message(attr(attrCloneFlags, u32(unix.CLONE_NEWUSER)...), attr(attrMapsByGo, 1),
			attr(attrRootInGo, 1), attr(attrRootInGo, 1)),
	} {
		if b, err := decodeBootstrap(msg); err == nil {
			t.Errorf("%s: Go accepted %x as %+v", name, msg, b)
		}
		if b, err := cParseBootstrap(msg); err == nil {
			t.Errorf("%s: C accepted %x as %+v", name, msg, b)
		} else if !strings.HasPrefix(err.Error(), "bootstrap: ") {
			t.Errorf("%s: C error %q", name, err)
		}
	}
}

func addSeeds(f *testing.F) {
	for _, b := range sampleBootstraps() {
		msg, err := b.encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	f.Add(message(attr(99)))
	f.Add(message(attr(attrSetsid, 1, 0, 0, 0)))
}

// FuzzBootstrapParse feeds the C parser (in-process, through cgo) and the
// Go decoder the same bytes: both must accept the same messages and read
// the same values, and neither may crash.
func FuzzBootstrapParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		cb, cerr := cParseBootstrap(msg)
		gb, gerr := decodeBootstrap(msg)
		if (cerr == nil) != (gerr == nil) {
			t.Fatalf("C error %v, Go error %v for %x", cerr, gerr, msg)
		}
		if cerr == nil && !reflect.DeepEqual(cb, gb) {
			t.Fatalf("C read %+v, Go read %+v from %x", cb, gb, msg)
		}
	})
}

// FuzzBootstrapRoundTrip: whatever the decoder accepts, the encoder writes
// back to bytes that decode to the same value (and that C parses alike).
func FuzzBootstrapRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		b, err := decodeBootstrap(msg)
		if err != nil {
			return
		}
		again, err := b.encode()
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", b, err)
		}
		b2, err := decodeBootstrap(again)
		if err != nil || !reflect.DeepEqual(b, b2) {
			t.Fatalf("round trip: %+v -> %x -> %+v, %v", b, again, b2, err)
		}
		again2, err := b2.encode()
		if err != nil || !bytes.Equal(again, again2) {
			t.Fatalf("encoding is not canonical: %x then %x (%v)", again, again2, err)
		}
	})
}
