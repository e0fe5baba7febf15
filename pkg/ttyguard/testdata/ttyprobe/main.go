// Command ttyprobe is a test helper of package ttyguard. With -install it sets no_new_privs (so that
// no privilege is needed) and installs the filter. Then, given a command, it executes it (to show that
// the filter is inherited); without one it tries ioctls on its stdin, which should be its controlling
// terminal, and prints one NAME=RESULT line each (OK or the errno's name), and how many of its threads
// run under a seccomp filter.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rkexec/rkexec/pkg/ttyguard"
)

// x32Ioctl is ioctl in the x32 ABI of x86-64 (514 with the x32 bit).
const x32Ioctl = 0x40000000 | 514

func main() {
	install := flag.Bool("install", false, "set no_new_privs and install the filter first")
	flag.Parse()
	if *install {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "ttyprobe: no_new_privs:", err)
			os.Exit(2)
		}
		if err := ttyguard.Install(); err != nil {
			fmt.Fprintln(os.Stderr, "ttyprobe:", err)
			os.Exit(2)
		}
	}
	if args := flag.Args(); len(args) > 0 {
		err := syscall.Exec(args[0], args, os.Environ())
		fmt.Fprintln(os.Stderr, "ttyprobe: exec:", err)
		os.Exit(2)
	}
	c := byte('#')
	arg := uintptr(unsafe.Pointer(&c))
	probe("sti", unix.SYS_IOCTL, unix.TIOCSTI, arg)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		high := uint64(0xffffffff00000000)
		probe("sti-high", unix.SYS_IOCTL, uintptr(high|unix.TIOCSTI), arg)
	}
	if runtime.GOARCH == "amd64" {
		probe("sti-x32", x32Ioctl, unix.TIOCSTI, arg)
	}
	sub := byte(6) // TIOCL_GETSHIFTSTATE: harmless, and only a virtual console answers it
	probe("linux", unix.SYS_IOCTL, unix.TIOCLINUX, uintptr(unsafe.Pointer(&sub)))
	var ws unix.Winsize
	probe("winsz", unix.SYS_IOCTL, unix.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	fmt.Printf("threads=%s\n", threadsFiltered())
}

func probe(name string, trap, req, arg uintptr) {
	_, _, errno := unix.Syscall(trap, 0, req, arg)
	if errno == 0 {
		fmt.Printf("%s=OK\n", name)
		return
	}
	fmt.Printf("%s=%s\n", name, unix.ErrnoName(errno))
}

// threadsFiltered says how many of the process's threads run under a seccomp filter, as "N/M".
func threadsFiltered() string {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		return "unknown"
	}
	n := 0
	for _, status := range tasks {
		b, err := os.ReadFile(status)
		if err != nil {
			return "unknown"
		}
		if strings.Contains(string(b), "\nSeccomp:\t2\n") {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(tasks))
}
