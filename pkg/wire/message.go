package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"syscall"
)

// MaxSize bounds one frame's JSON body. It is generous enough for any command the kernel could run:
// execve takes at most 6 MiB of arguments and environment (3/4 of the default 8 MiB stack limit),
// and JSON's escapes make a string at most six times longer. A frame is read as it arrives, so a
// large length in a header costs nothing until its bytes come.
const MaxSize = 64 << 20

// Names of the messages, in the order they are sent.
const (
	ParentHello       = "ParentHello"
	ChildHello        = "ChildHello"
	IDMapsWritten     = "IDMapsWritten"
	UserNSReady       = "UserNSReady"
	NetworkConfigured = "NetworkConfigured"
	PortDriverReady   = "PortDriverReady"
	TargetStarted     = "TargetStarted"
	TargetExited      = "TargetExited"
	Error             = "Error"
)

// Message is one step of the handshake. Only the fields of its kind are set.
type Message struct {
	Name string `json:"name"`
	// Step names the handshake step that failed; Error messages only.
	Step string `json:"step,omitempty"`
	// Error is the failure text; Error messages only.
	Error string `json:"error,omitempty"`
	// ExitCode is the exit code the receiver should use for an Error (e.g. 126, 127); 0 means 125.
	ExitCode int `json:"exit_code,omitempty"`
	// Child is the child's whole configuration; ParentHello only.
	Child *ChildConfig `json:"child,omitempty"`
	// Network is the configuration to apply inside; NetworkConfigured only, nil for the host network.
	Network *Network `json:"network,omitempty"`
	// PortDriver is opaque data for the child side of the port driver; PortDriverReady only.
	PortDriver map[string]string `json:"port_driver,omitempty"`
	// TargetPID is the target's pid as seen by the child; TargetStarted only.
	TargetPID int `json:"target_pid,omitempty"`
	// Signal is the signal that killed the target, 0 when it exited; CoreDump says it dumped core.
	// TargetExited only: the child's exit code (128+N) cannot tell a signal from an exit status.
	Signal   int  `json:"signal,omitempty"`
	CoreDump bool `json:"core_dump,omitempty"`
}

// Network describes the interface the child configures inside its network namespace.
type Network struct {
	Dev     string   `json:"dev"`
	IP      string   `json:"ip"`
	Netmask int      `json:"netmask"`
	Gateway string   `json:"gateway"`
	DNS     []string `json:"dns,omitempty"`
	MTU     int      `json:"mtu"`
	// Opaque is driver-specific data.
	Opaque map[string]string `json:"opaque,omitempty"`
}

// ErrPeerGone reports that the other side closed its end: it exited or was killed.
var ErrPeerGone = errors.New("the other side exited")

// RemoteError is an Error message received from the other side.
type RemoteError struct {
	Step     string
	Msg      string
	ExitCode int
}

func (e *RemoteError) Error() string {
	if e.Step == "" {
		return e.Msg
	}
	return e.Step + ": " + e.Msg
}

// Send writes m to w as one frame.
func Send(w io.Writer, m *Message) error {
	if err := writeFrame(w, m); err != nil {
		return fmt.Errorf("sending message %s: %w", m.Name, err)
	}
	return nil
}

// WriteConfig writes v (an InitConfig or an ExecSpec) to w as one frame.
func WriteConfig(w io.Writer, v any) error {
	if err := writeFrame(w, v); err != nil {
		return fmt.Errorf("sending the %T: %w", v, err)
	}
	return nil
}

// ReadConfig reads one frame from r into v (an InitConfig or an ExecSpec).
func ReadConfig(r io.Reader, v any) error {
	body, err := readFrame(r)
	if errors.Is(err, io.EOF) {
		err = ErrPeerGone
	}
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		return fmt.Errorf("reading the %T: %w", v, err)
	}
	return nil
}

func writeFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	if len(body) > MaxSize {
		return fmt.Errorf("%d bytes, more than the limit of %d", len(body), MaxSize)
	}
	frame := make([]byte, 4+len(body))
	binary.LittleEndian.PutUint32(frame, uint32(len(body)))
	copy(frame[4:], body)
	if _, err := w.Write(frame); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			err = ErrPeerGone
		}
		return err
	}
	return nil
}

// readFrame reads one frame's body. io.EOF means r ended before the frame began.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("reading the header: %w", err)
		}
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0 || n > MaxSize {
		return nil, fmt.Errorf("length %d is outside 1..%d", n, MaxSize)
	}
	// Read as it arrives: the header alone allocates nothing.
	body, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err == nil && len(body) < int(n) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, fmt.Errorf("reading a body of %d bytes: %w", n, err)
	}
	return body, nil
}

// SendError tells the other side that step failed with err.
func SendError(w io.Writer, step string, err error, exitCode int) error {
	return Send(w, &Message{Name: Error, Step: step, Error: err.Error(), ExitCode: exitCode})
}

// Recv reads one frame from r. io.EOF means the other side closed the pipe between messages.
func Recv(r io.Reader) (*Message, error) {
	body, err := readFrame(r)
	if errors.Is(err, io.EOF) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading message: %w", err)
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decoding message: %w", err)
	}
	if m.Name == "" {
		return nil, errors.New("decoding message: no name")
	}
	return &m, nil
}

// Expect reads one message and checks that it is the named one. An Error message from the other side
// comes back as a *RemoteError; a closed pipe as an error naming the message that was expected.
func Expect(r io.Reader, name string) (*Message, error) {
	m, err := Recv(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("waiting for %s: %w", name, ErrPeerGone)
		}
		return nil, fmt.Errorf("waiting for %s: %w", name, err)
	}
	if m.Name == Error {
		return nil, &RemoteError{Step: m.Step, Msg: m.Error, ExitCode: m.ExitCode}
	}
	if m.Name != name {
		return nil, fmt.Errorf("waiting for %s: got %s", name, m.Name)
	}
	return m, nil
}
