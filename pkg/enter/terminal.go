package enter

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// terminal is a new pseudo-terminal for the command and, when the caller's stdin is a terminal, that
// terminal (put in raw mode while proxying, and reset to how it was found).
type terminal struct {
	master console.Console
	// masterFile is master's file, for the read deadline of drain; master owns it.
	masterFile *os.File
	slave      *os.File
	// stdin is the caller's input; caller is the same file as a terminal, nil when it is not one.
	stdin  *os.File
	caller console.Console
	raw    bool
	copied chan struct{}
}

// openTerminal allocates a pty pair, sized like stdin when stdin is a terminal.
func openTerminal(stdin *os.File) (*terminal, error) {
	// Opened here rather than by the library so that drain can set a read deadline: os.OpenFile
	// puts a terminal in the runtime's poller.
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("--tty: opening /dev/ptmx: %w", err)
	}
	master, slavePath, err := console.NewPtyFromFile(ptmx)
	if err != nil {
		ptmx.Close()
		return nil, fmt.Errorf("--tty: setting up the pty: %w", err)
	}
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("--tty: opening %s: %w", slavePath, err)
	}
	t := &terminal{master: master, masterFile: ptmx, slave: slave, stdin: stdin}
	if c, err := console.ConsoleFromFile(stdin); err == nil {
		t.caller = c
	} else if !errors.Is(err, console.ErrNotAConsole) {
		t.close()
		return nil, fmt.Errorf("--tty: reading the terminal's settings: %w", err)
	}
	t.resize()
	return t, nil
}

// resize copies the caller's terminal size to the pty.
func (t *terminal) resize() {
	if t.master == nil || t.caller == nil {
		return
	}
	_ = t.master.ResizeFrom(t.caller) // a failed resize is cosmetic
}

// startProxy puts the caller's terminal in raw mode and copies between it and the pty.
func (t *terminal) startProxy() {
	if t.caller != nil && t.caller.SetRaw() == nil {
		t.raw = true
	}
	t.copied = make(chan struct{})
	go func() {
		_, _ = io.Copy(t.master, t.stdin) // ends with the process; the command's side decides
	}()
	go func() {
		defer close(t.copied)
		_, _ = io.Copy(os.Stdout, t.master) // EIO once every holder of the slave is gone
	}()
}

// drain waits briefly for the command's last output, then restores the caller's terminal.
func (t *terminal) drain() {
	if t.copied != nil {
		_ = t.masterFile.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		<-t.copied
	}
	t.restore()
}

// restore resets the caller's terminal to the settings it had when openTerminal found it.
func (t *terminal) restore() {
	if t.raw {
		_ = t.caller.Reset() // nothing better to do if the terminal is gone
		t.raw = false
	}
}

// close releases the pty and restores the caller's terminal; safe on every exit path.
func (t *terminal) close() {
	t.restore()
	if t.slave != nil {
		t.slave.Close()
	}
	if t.master != nil {
		t.master.Close()
	}
}

// sendConsole sends the pty master over a unix socket with SCM_RIGHTS, as runc's --console-socket:
// the message is the terminal's name, the one fd the master.
func sendConsole(path string, master console.File) error {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return fmt.Errorf("--console-socket %s: %w", path, err)
	}
	defer conn.Close()
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("--console-socket %s: not a unix socket", path)
	}
	rights := unix.UnixRights(int(master.Fd()))
	if _, _, err := uc.WriteMsgUnix([]byte(master.Name()), rights, nil); err != nil {
		return fmt.Errorf("--console-socket %s: sending the terminal: %w", path, err)
	}
	return nil
}
