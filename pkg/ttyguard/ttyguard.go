// Package ttyguard keeps a sandboxed command from pushing input into its terminal: it installs a
// seccomp filter under which ioctl(TIOCSTI) and ioctl(TIOCLINUX) fail with EPERM, in every thread of
// the calling process and, because seccomp filters are inherited across fork and execve and cannot be
// removed, in every process started from it afterwards. A process that shares the caller's terminal
// could otherwise type a line into the caller's shell after it exits (bubblewrap's CVE-2017-5226, on
// kernels with dev.tty.legacy_tiocsti=1). This is Flatpak's remedy: unlike a new session (setsid) it
// keeps job control, since the command stays in the caller's session and foreground process group.
//
// The filter checks the system-call ABI first (seccomp_data.arch, and the x32 bit on x86-64), so a
// 32-bit program on a 64-bit kernel cannot get past it through the compat entry point; an ABI the
// filter does not know kills the process. Only the low 32 bits of the request are compared, as the
// kernel's tty layer reads them. Everything else is allowed.
//
// Installing a filter without no_new_privs needs CAP_SYS_ADMIN in the caller's user namespace: rkexec
// installs it in processes that are root of the sandbox's user namespace, so no_new_privs stays off
// and setuid programs inside keep working. The package does not decide when to install it (package
// child and `rkexec exec`'s stage 2 do) and filters nothing else.
package ttyguard

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Install installs the filter in every thread of the calling process (SECCOMP_FILTER_FLAG_TSYNC).
// It needs CAP_SYS_ADMIN in the current user namespace, or no_new_privs set.
func Install() error {
	filter, err := Filter()
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC,
		uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	switch {
	case errno == unix.EACCES:
		return fmt.Errorf("installing the seccomp filter against TIOCSTI: %w (needs CAP_SYS_ADMIN in the user namespace, or no_new_privs)", errno)
	case errno == unix.EINVAL:
		return fmt.Errorf("installing the seccomp filter against TIOCSTI: %w (is the kernel built without CONFIG_SECCOMP_FILTER?)", errno)
	case errno != 0:
		return fmt.Errorf("installing the seccomp filter against TIOCSTI: %w", errno)
	case r != 0:
		// With TSYNC, a positive return is the thread that could not take the filter.
		return fmt.Errorf("installing the seccomp filter against TIOCSTI: thread %d cannot be synchronised", r)
	}
	return nil
}

// Filter returns the filter's program, for a process that installs it without Go (nsexec's exec
// stage) with seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC) as Install does.
func Filter() ([]unix.SockFilter, error) {
	abis, err := abisFor(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(program(abis))
	if err != nil {
		return nil, fmt.Errorf("assembling the seccomp filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return filter, nil
}

// abi is one system-call ABI a process may use on the running kernel, as seccomp_data shows it.
type abi struct {
	// Name is for messages and tests ("x86_64", "i386", ...).
	Name string
	// Arch is seccomp_data.arch, an AUDIT_ARCH_* value.
	Arch uint32
	// IoctlNrs are the values of seccomp_data.nr that are ioctl in this ABI.
	IoctlNrs []uint32
	// BigEndian says how the ABI lays out the 64-bit seccomp_data.args: which half is the low word.
	BigEndian bool
}

// x32SyscallBit marks x32 system calls on x86-64, which report AUDIT_ARCH_X86_64 too.
const x32SyscallBit = 0x40000000

// abisFor returns every ABI that programs may use on a kernel that runs a GOARCH binary (a 386 rkexec
// may run on an x86-64 kernel, and then so may 64-bit programs): all of them must be filtered.
func abisFor(goarch string) ([]abi, error) {
	switch goarch {
	case "amd64", "386":
		return []abi{
			// x86-64, and x32 (nr 514 with the x32 bit: compat_sys_ioctl), which shares its arch value.
			{Name: "x86_64", Arch: unix.AUDIT_ARCH_X86_64, IoctlNrs: []uint32{16, x32SyscallBit | 514}},
			{Name: "i386", Arch: unix.AUDIT_ARCH_I386, IoctlNrs: []uint32{54}},
		}, nil
	case "arm64", "arm":
		return []abi{
			{Name: "aarch64", Arch: unix.AUDIT_ARCH_AARCH64, IoctlNrs: []uint32{29}},
			{Name: "arm", Arch: unix.AUDIT_ARCH_ARM, IoctlNrs: []uint32{54}},
		}, nil
	case "riscv64":
		return []abi{
			{Name: "riscv64", Arch: unix.AUDIT_ARCH_RISCV64, IoctlNrs: []uint32{29}},
			{Name: "riscv32", Arch: unix.AUDIT_ARCH_RISCV32, IoctlNrs: []uint32{29}},
		}, nil
	case "loong64":
		return []abi{{Name: "loongarch64", Arch: unix.AUDIT_ARCH_LOONGARCH64, IoctlNrs: []uint32{29}}}, nil
	case "ppc64le":
		return []abi{{Name: "ppc64le", Arch: unix.AUDIT_ARCH_PPC64LE, IoctlNrs: []uint32{54}}}, nil
	case "s390x":
		return []abi{
			{Name: "s390x", Arch: unix.AUDIT_ARCH_S390X, IoctlNrs: []uint32{54}, BigEndian: true},
			{Name: "s390", Arch: unix.AUDIT_ARCH_S390, IoctlNrs: []uint32{54}, BigEndian: true},
		}, nil
	}
	return nil, errors.New("blocking TIOCSTI: no seccomp filter for " + goarch + " (its system-call ABIs are not known to rkexec)")
}

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg1 = 16 + 8 // args[1], the ioctl request
)

// Actions.
const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retEPERM = unix.SECCOMP_RET_ERRNO | (uint32(unix.EPERM) & unix.SECCOMP_RET_DATA)
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
)

// requests are the ioctl requests the filter refuses.
func requests() []uint32 { return []uint32{unix.TIOCSTI, unix.TIOCLINUX} }

// program returns the classic BPF program of the filter for the given ABIs: per ABI, a block that
// checks the arch, then the system-call number, then the request, and ends in a return; after the
// last block, an unknown ABI is killed.
func program(abis []abi) []bpf.Instruction {
	reqs := requests()
	var prog []bpf.Instruction
	for _, a := range abis {
		argLow := uint32(offArg1)
		if a.BigEndian {
			argLow += 4
		}
		n, m := len(a.IoctlNrs), len(reqs)
		block := make([]bpf.Instruction, 0, n+m+5)
		block = append(block, bpf.LoadAbsolute{Off: offNr, Size: 4})
		for i, nr := range a.IoctlNrs {
			// Past the other numbers and the allow, to the load of the request.
			block = append(block, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipTrue: uint8(n - i)})
		}
		block = append(block, bpf.RetConstant{Val: retAllow}) // not ioctl
		block = append(block, bpf.LoadAbsolute{Off: argLow, Size: 4})
		for j, req := range reqs {
			// Past the other requests and the allow, to the EPERM.
			block = append(block, bpf.JumpIf{Cond: bpf.JumpEqual, Val: req, SkipTrue: uint8(m - j)})
		}
		block = append(block, bpf.RetConstant{Val: retAllow}, bpf.RetConstant{Val: retEPERM})
		prog = append(prog,
			bpf.LoadAbsolute{Off: offArch, Size: 4},
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: a.Arch, SkipTrue: uint8(len(block))})
		prog = append(prog, block...)
	}
	return append(prog, bpf.RetConstant{Val: retKill})
}
