package sealedexe

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCopyIsSealedAndWhole(t *testing.T) {
	c, err := New(40)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if fd := int(c.f.Fd()); fd < 40 {
		t.Errorf("fd %d, want at least 40", fd)
	}
	got, err := unix.FcntlInt(c.f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || got != seals {
		t.Errorf("seals %#x (%v), want %#x", got, err, seals)
	}
	// Through the path a process would be started from: writing fails, the bytes are the binary's.
	if w, err := os.OpenFile(c.Path(), os.O_WRONLY, 0); err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
		if !errors.Is(err, unix.EPERM) {
			t.Errorf("write to the sealed copy: %v, want EPERM", err)
		}
	}
	self, err1 := os.ReadFile("/proc/self/exe")
	copied, err2 := os.ReadFile(c.Path())
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if string(self) != string(copied) {
		t.Errorf("the copy has %d bytes, the binary %d, or they differ", len(copied), len(self))
	}
}

// TestNeededWhenOwnerMappedOrOthersMayWrite: an owner mapped inside always needs the copy; an
// unmapped one only when group or others may write the binary.
func TestNeededWhenOwnerMappedOrOthersMayWrite(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		t.Fatal(err)
	}
	mappedOwner := func(uid uint32) bool { return uid == st.Uid }
	if got, err := Needed(mappedOwner); err != nil || !got {
		t.Errorf("Needed with the owner mapped = %v, %v; want true", got, err)
	}
	nobody := func(uint32) bool { return false }
	want := st.Mode&0o022 != 0
	if got, err := Needed(nobody); err != nil || got != want {
		t.Errorf("Needed with nothing mapped, mode %o = %v, %v; want %v", st.Mode&0o777, got, err, want)
	}
}
