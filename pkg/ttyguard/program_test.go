package ttyguard

import (
	"encoding/binary"
	"runtime"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   uint32
	arch uint32
	ip   uint64
	args [6]uint64
}

// packet lays d out for x/net/bpf's VM, whose 32-bit loads read big-endian words, so that each word
// reads as the kernel would read it natively on an ABI of the given byte order.
func (d seccompData) packet(bigEndian bool) []byte {
	words := []uint32{d.nr, d.arch}
	for _, v := range append([]uint64{d.ip}, d.args[:]...) {
		lo, hi := uint32(v), uint32(v>>32)
		if bigEndian {
			words = append(words, hi, lo)
		} else {
			words = append(words, lo, hi)
		}
	}
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func run(t *testing.T, vm *bpf.VM, d seccompData, bigEndian bool) uint32 {
	t.Helper()
	ret, err := vm.Run(d.packet(bigEndian))
	if err != nil {
		t.Fatalf("running the filter on %+v: %v", d, err)
	}
	return uint32(ret)
}

func actionName(ret uint32) string {
	switch ret {
	case retAllow:
		return "ALLOW"
	case retEPERM:
		return "ERRNO(EPERM)"
	case retKill:
		return "KILL_PROCESS"
	}
	return "unknown action"
}

// TestProgram runs the filter of every supported family on synthetic seccomp_data: ioctl TIOCSTI and
// TIOCLINUX get EPERM in every ABI of the family, whatever the request's high 32 bits; other ioctls,
// other system calls with the same argument, and the same numbers in another ABI are allowed; an ABI
// the family does not have is killed.
func TestProgram(t *testing.T) {
	for _, goarch := range []string{"amd64", "386", "arm64", "arm", "riscv64", "loong64", "ppc64le", "s390x"} {
		t.Run(goarch, func(t *testing.T) {
			abis, err := abisFor(goarch)
			if err != nil {
				t.Fatal(err)
			}
			vm, err := bpf.NewVM(program(abis))
			if err != nil {
				t.Fatalf("the program does not load: %v", err)
			}
			for _, a := range abis {
				be := a.BigEndian
				for _, nr := range a.IoctlNrs {
					for _, req := range []uint64{unix.TIOCSTI, unix.TIOCLINUX, 0xffffffff00000000 | unix.TIOCSTI, 1<<32 | unix.TIOCLINUX} {
						d := seccompData{nr: nr, arch: a.Arch, args: [6]uint64{0, req, 0xdead}}
						if got := run(t, vm, d, be); got != retEPERM {
							t.Errorf("%s: ioctl (nr %#x) request %#x: %s, want ERRNO(EPERM)", a.Name, nr, req, actionName(got))
						}
					}
					for _, req := range []uint64{unix.TIOCGWINSZ, unix.TIOCSCTTY, unix.TIOCSTI + 1, unix.TIOCSTI << 32} {
						d := seccompData{nr: nr, arch: a.Arch, args: [6]uint64{0, req}}
						if got := run(t, vm, d, be); got != retAllow {
							t.Errorf("%s: ioctl (nr %#x) request %#x: %s, want ALLOW", a.Name, nr, req, actionName(got))
						}
					}
				}
				// TIOCSTI as another argument, or as the request of another system call.
				for _, d := range []seccompData{
					{nr: a.IoctlNrs[0], arch: a.Arch, args: [6]uint64{unix.TIOCSTI, 0, unix.TIOCSTI}},
					{nr: a.IoctlNrs[0] + 1, arch: a.Arch, args: [6]uint64{0, unix.TIOCSTI}},
					{nr: 0, arch: a.Arch, args: [6]uint64{0, unix.TIOCSTI}},
				} {
					if got := run(t, vm, d, be); got != retAllow {
						t.Errorf("%s: %+v: %s, want ALLOW", a.Name, d, actionName(got))
					}
				}
			}
			for _, arch := range []uint32{0, unix.AUDIT_ARCH_MIPS, unix.AUDIT_ARCH_PPC64, unix.AUDIT_ARCH_SPARC64} {
				d := seccompData{nr: 16, arch: arch, args: [6]uint64{0, unix.TIOCSTI}}
				if got := run(t, vm, d, false); got != retKill {
					t.Errorf("unknown arch %#x: %s, want KILL_PROCESS", arch, actionName(got))
				}
			}
		})
	}
}

// TestProgramX86 pins the x86 numbers that differ between its ABIs: nr 16 is ioctl on x86-64 but
// lchown on i386, 54 is ioctl on i386 but setsockopt on x86-64, and x32 calls carry their own bit.
func TestProgramX86(t *testing.T) {
	abis, err := abisFor("amd64")
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(program(abis))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    seccompData
		want uint32
	}{
		{"x86_64 ioctl", seccompData{nr: 16, arch: unix.AUDIT_ARCH_X86_64}, retEPERM},
		{"x32 ioctl", seccompData{nr: x32SyscallBit | 514, arch: unix.AUDIT_ARCH_X86_64}, retEPERM},
		{"i386 ioctl", seccompData{nr: 54, arch: unix.AUDIT_ARCH_I386}, retEPERM},
		{"x86_64 setsockopt", seccompData{nr: 54, arch: unix.AUDIT_ARCH_X86_64}, retAllow},
		{"i386 lchown", seccompData{nr: 16, arch: unix.AUDIT_ARCH_I386}, retAllow},
		{"x32 nr 16 (no such call)", seccompData{nr: x32SyscallBit | 16, arch: unix.AUDIT_ARCH_X86_64}, retAllow},
	} {
		c.d.args[1] = unix.TIOCSTI
		if got := run(t, vm, c.d, false); got != c.want {
			t.Errorf("%s with TIOCSTI: %s, want %s", c.name, actionName(got), actionName(c.want))
		}
	}
}

// TestNativeIoctlNumber checks the table against x/sys/unix for the architecture the test runs on.
func TestNativeIoctlNumber(t *testing.T) {
	native := map[string]string{"amd64": "x86_64", "386": "i386", "arm64": "aarch64", "arm": "arm",
		"riscv64": "riscv64", "loong64": "loongarch64", "ppc64le": "ppc64le", "s390x": "s390x"}[runtime.GOARCH]
	abis, err := abisFor(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range abis {
		if a.Name == native {
			if a.IoctlNrs[0] != unix.SYS_IOCTL {
				t.Errorf("%s: ioctl is %d in the table, %d in x/sys/unix", a.Name, a.IoctlNrs[0], unix.SYS_IOCTL)
			}
			return
		}
	}
	t.Errorf("%s: no %q in the table", runtime.GOARCH, native)
}

func TestUnknownGOARCH(t *testing.T) {
	if _, err := abisFor("mips"); err == nil {
		t.Error("abisFor(mips) returned a table: an ABI the filter does not know would bypass it")
	}
}
