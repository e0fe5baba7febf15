package enter

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// terminal is a new pseudo-terminal for the command and, when the caller's stdin is a terminal, that
// terminal's saved state (it is put in raw mode while proxying).
type terminal struct {
	master, slave *os.File
	caller        *os.File
	saved         *term.State
	copied        chan struct{}
}

// openTerminal allocates a pty pair sized like caller when caller is a terminal.
func openTerminal(caller *os.File) (*terminal, error) {
	// Non-blocking, so that the master is pollable and drain can time out.
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("--tty: opening /dev/ptmx: %w", err)
	}
	master := os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, fmt.Errorf("--tty: unlocking the pty: %w", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("--tty: pty number: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	slave, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("--tty: opening %s: %w", name, err)
	}
	t := &terminal{master: master, slave: slave, caller: caller}
	t.resize()
	return t, nil
}

// resize copies the caller's terminal size to the pty.
func (t *terminal) resize() {
	if t.master == nil || !term.IsTerminal(int(t.caller.Fd())) {
		return
	}
	ws, err := unix.IoctlGetWinsize(int(t.caller.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return
	}
	_ = unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, ws) // a failed resize is cosmetic
}

// startProxy puts the caller's terminal in raw mode and copies between it and the pty.
func (t *terminal) startProxy() {
	if term.IsTerminal(int(t.caller.Fd())) {
		if st, err := term.MakeRaw(int(t.caller.Fd())); err == nil {
			t.saved = st
		}
	}
	t.copied = make(chan struct{})
	go func() {
		_, _ = io.Copy(t.master, t.caller) // ends with the process; the command's side decides
	}()
	go func() {
		defer close(t.copied)
		_, _ = io.Copy(os.Stdout, t.master) // EIO once every holder of the slave is gone
	}()
}

// drain waits briefly for the command's last output, then restores the caller's terminal.
func (t *terminal) drain() {
	if t.copied != nil {
		_ = t.master.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		<-t.copied
	}
	t.restore()
}

func (t *terminal) restore() {
	if t.saved != nil {
		_ = term.Restore(int(t.caller.Fd()), t.saved) // nothing better to do if the terminal is gone
		t.saved = nil
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

// sendConsole sends the pty master over a unix socket with SCM_RIGHTS, as runc's --console-socket.
func sendConsole(path string, master *os.File) error {
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
