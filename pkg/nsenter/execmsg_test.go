//go:build linux

package nsenter

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// execSamples are exec specs that cover every attribute, and the bare minimum.
func execSamples() []Exec {
	filter := []unix.SockFilter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x06, K: 0x7fff0000}}
	return []Exec{
		{Args: []string{"true"}},
		{Args: []string{"sh", "-c", "", "with space", "ünï\ncode"}, Env: []string{"A=1", "", "PATH=/bin"}, Cwd: "/tmp",
			ParentDeathSignal: 9, PreserveFDs: 2},
		{Args: []string{"id"}, SwitchUser: true, UID: 1000, GID: 0},
		{Args: []string{"id"}, SwitchUser: true, UID: 0, GID: 0, Groups: []uint32{5, 0, 4294967295}},
		{Args: []string{"ping"}, KeepSet: true, Keep: []Cap{{0, "CAP_CHOWN"}, {13, "CAP_NET_RAW"}, {40, "CAP_CHECKPOINT_RESTORE"}},
			BoundingSet: true, Bounding: 1<<13 | 1<<5, NoNewPrivs: true, Terminal: true, Detach: true, Seccomp: filter},
		{Args: []string{"x"}, BoundingSet: true, Bounding: 0},
		{Args: []string{"x"}, KeepSet: true},
	}
}

// TestExecMessageRoundTrip: what EncodeExec writes, the C parser reads back as it was.
func TestExecMessageRoundTrip(t *testing.T) {
	for _, x := range execSamples() {
		msg, err := EncodeExec(x)
		if err != nil {
			t.Fatalf("EncodeExec(%+v): %v", x, err)
		}
		got, err := cParseExec(msg)
		if err != nil {
			t.Fatalf("C parser refused the encoding of %+v: %v", x, err)
		}
		if !reflect.DeepEqual(got, x) {
			t.Errorf("C parser read\n%+v\nfrom the encoding of\n%+v", got, x)
		}
	}
}

// TestExecMessageBig: an argument list of several MiB (over what execve takes) still crosses, so
// that the command's own execve reports the limit.
func TestExecMessageBig(t *testing.T) {
	x := Exec{Args: []string{"true"}}
	for i := 0; i < 7<<10; i++ {
		x.Args = append(x.Args, strings.Repeat("x", 1024))
	}
	msg, err := EncodeExec(x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cParseExec(msg)
	if err != nil || len(got.Args) != len(x.Args) {
		t.Fatalf("C parser: %d arguments, %v; want %d", len(got.Args), err, len(x.Args))
	}
}

func TestEncodeExecRefuses(t *testing.T) {
	for _, x := range []Exec{
		{},
		{Args: []string{"a\x00b"}},
		{Args: []string{"a"}, Env: []string{"A=\x00"}},
		{Args: []string{"a"}, KeepSet: true, Keep: []Cap{{64, "CAP_X"}}},
		{Args: []string{"a"}, ParentDeathSignal: 65},
		{Args: []string{"a"}, PreserveFDs: -1},
		{Args: []string{"a"}, Seccomp: []unix.SockFilter{}},
	} {
		if _, err := EncodeExec(x); err == nil {
			t.Errorf("EncodeExec(%+v) accepted", x)
		}
	}
}

// TestExecParseRejects: the C parser refuses every malformed message with a reason.
func TestExecParseRejects(t *testing.T) {
	good, err := EncodeExec(Exec{Args: []string{"true"}, Cwd: "/"})
	if err != nil {
		t.Fatal(err)
	}
	attr := func(typ uint32, payload ...byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(execAttrHdr+len(payload)))
		b = binary.NativeEndian.AppendUint32(b, typ)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	withHeader := func(body []byte) []byte {
		b := make([]byte, execHdrLen)
		b = append(b, body...)
		binary.NativeEndian.PutUint32(b, uint32(len(b)))
		binary.NativeEndian.PutUint16(b[4:], execMsgType)
		binary.NativeEndian.PutUint16(b[6:], execVersion)
		return b
	}
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	required := append(attr(execAttrPdeathsig, u32(0)...), attr(execAttrPreserve, u32(0)...)...)
	arg := attr(execAttrArg, 't', 0)
	cases := map[string][]byte{
		"empty":              nil,
		"short header":       good[:4],
		"truncated":          good[:len(good)-4],
		"wrong length":       append(append([]byte{}, good...), 0, 0, 0, 0),
		"no argument":        withHeader(required),
		"no pdeathsig":       withHeader(append(arg, attr(execAttrPreserve, u32(0)...)...)),
		"unknown attribute":  withHeader(append(append(arg, required...), attr(99)...)),
		"repeated cwd":       withHeader(append(append(arg, required...), append(attr(execAttrCwd, '/', 0), attr(execAttrCwd, '/', 0)...)...)),
		"empty cwd":          withHeader(append(append(arg, required...), attr(execAttrCwd, 0)...)),
		"unterminated":       withHeader(append(attr(execAttrArg, 't'), required...)),
		"inner NUL":          withHeader(append(attr(execAttrArg, 't', 0, 'u', 0), required...)),
		"flag with payload":  withHeader(append(append(arg, required...), attr(execAttrDetach, 1)...)),
		"short user":         withHeader(append(append(arg, required...), attr(execAttrUser, 1, 0, 0, 0)...)),
		"keep without names": withHeader(append(append(arg, required...), attr(execAttrKeep, 1, 0, 0, 0, 0, 0, 0, 0)...)),
		"pdeathsig 65":       withHeader(append(arg, append(attr(execAttrPdeathsig, u32(65)...), attr(execAttrPreserve, u32(0)...)...)...)),
		"odd filter":         withHeader(append(append(arg, required...), attr(execAttrSeccomp, 1, 2, 3)...)),
		"attr past the end":  withHeader(append(append(arg, required...), binary.NativeEndian.AppendUint32(nil, 64)...)),
	}
	bad := append([]byte{}, good...)
	bad[len(bad)-1] = 1 // padding of the cwd
	cases["non-zero padding"] = bad
	for name, msg := range cases {
		if _, err := cParseExec(msg); err == nil {
			t.Errorf("%s: accepted %x", name, msg)
		} else if !strings.HasPrefix(err.Error(), "exec message: ") {
			t.Errorf("%s: error %q does not say what it is about", name, err)
		}
	}
}

// FuzzExecParse feeds the C parser arbitrary bytes: it must not crash, and whatever it accepts
// encodes back to a message it reads alike.
func FuzzExecParse(f *testing.F) {
	for _, x := range execSamples() {
		msg, err := EncodeExec(x)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		x, err := cParseExec(msg)
		if err != nil {
			return
		}
		again, err := EncodeExec(x)
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", x, err)
		}
		y, err := cParseExec(again)
		if err != nil || !reflect.DeepEqual(x, y) {
			t.Fatalf("round trip: %+v -> %+v, %v", x, y, err)
		}
	})
}
