package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRoundTripThroughShortReads(t *testing.T) {
	var buf bytes.Buffer
	sent := []*Message{
		{Name: ParentHello},
		{Name: NetworkConfigured, Network: &Network{Dev: "tap0", IP: "10.0.2.100", Netmask: 24, Gateway: "10.0.2.2", DNS: []string{"10.0.2.3"}, MTU: 65520}},
		{Name: TargetStarted, TargetPID: 42},
	}
	for _, m := range sent {
		if err := Send(&buf, m); err != nil {
			t.Fatal(err)
		}
	}
	r := iotest.OneByteReader(&buf)
	for _, want := range sent {
		got, err := Expect(r, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if want.Network != nil && got.Network.Gateway != want.Network.Gateway {
			t.Fatalf("gateway %q, want %q", got.Network.Gateway, want.Network.Gateway)
		}
		if got.TargetPID != want.TargetPID {
			t.Fatalf("target pid %d, want %d", got.TargetPID, want.TargetPID)
		}
	}
	if _, err := Recv(r); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

func TestExpectReportsRemoteError(t *testing.T) {
	var buf bytes.Buffer
	if err := SendError(&buf, "mounts", errors.New("copy-up /etc: permission denied"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := Expect(&buf, UserNSReady)
	var re *RemoteError
	if !errors.As(err, &re) || re.Step != "mounts" {
		t.Fatalf("got %v, want a RemoteError for step mounts", err)
	}
	if err.Error() != "mounts: copy-up /etc: permission denied" {
		t.Fatalf("message %q", err.Error())
	}
}

func TestExpectRejectsWrongMessage(t *testing.T) {
	var buf bytes.Buffer
	_ = Send(&buf, &Message{Name: ChildHello})
	if _, err := Expect(&buf, UserNSReady); err == nil || !strings.Contains(err.Error(), "got ChildHello") {
		t.Fatalf("got %v", err)
	}
}

func TestRecvRejectsBadFrames(t *testing.T) {
	for name, frame := range map[string][]byte{
		"zero length":   {0, 0, 0, 0},
		"too long":      binary.LittleEndian.AppendUint32(nil, MaxSize+1),
		"truncated":     append(binary.LittleEndian.AppendUint32(nil, 10), '{'),
		"short header":  {1, 0},
		"not json":      append(binary.LittleEndian.AppendUint32(nil, 3), "abc"...),
		"nameless json": append(binary.LittleEndian.AppendUint32(nil, 2), "{}"...),
	} {
		if _, err := Recv(bytes.NewReader(frame)); err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: got %v, want a decoding error", name, err)
		}
	}
}

func TestSendRejectsOversizedMessage(t *testing.T) {
	err := Send(io.Discard, &Message{Name: Error, Error: strings.Repeat("x", MaxSize)})
	if err == nil {
		t.Fatal("oversized message was sent")
	}
}
