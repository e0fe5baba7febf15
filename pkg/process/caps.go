package process

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// capNames are the capabilities by number (capabilities(7)), up to CAP_CHECKPOINT_RESTORE.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// ParseCap accepts "CAP_NET_ADMIN", "net_admin" or "NET_ADMIN" and returns the canonical name.
func ParseCap(s string) (string, error) {
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "CAP_") {
		name = "CAP_" + name
	}
	if capNumber(name) < 0 {
		return "", fmt.Errorf("unknown capability %q (see capabilities(7))", s)
	}
	return name, nil
}

func capNumber(name string) int {
	for i, n := range capNames {
		if n == name {
			return i
		}
	}
	return -1
}

// capMask is a 64-bit capability set.
type capMask uint64

func maskOf(names []string) (capMask, error) {
	var m capMask
	for _, n := range names {
		c, err := ParseCap(n)
		if err != nil {
			return 0, err
		}
		m |= 1 << uint(capNumber(c))
	}
	return m, nil
}

// lastCap is the highest capability the running kernel knows.
func lastCap() int {
	for c := len(capNames) - 1; c >= 0; c-- {
		if err := unix.Prctl(unix.PR_CAPBSET_READ, uintptr(c), 0, 0, 0); err == nil {
			return c
		}
	}
	return int(unix.CAP_LAST_CAP)
}

// dropBounding removes every capability not in keep from the bounding set.
func dropBounding(keep capMask) error {
	for c := 0; c <= lastCap(); c++ {
		if keep&(1<<uint(c)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil {
			return fmt.Errorf("dropping %s from the bounding set: %w", capNames[c], err)
		}
	}
	return nil
}

// setCaps sets the thread's permitted, effective and inheritable sets to m and raises m as ambient,
// so a non-root command keeps them across exec.
func setCaps(m capMask) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(m), Permitted: uint32(m), Inheritable: uint32(m)},
		{Effective: uint32(m >> 32), Permitted: uint32(m >> 32), Inheritable: uint32(m >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("setting capabilities: %w", err)
	}
	for c := 0; c <= lastCap(); c++ {
		if m&(1<<uint(c)) == 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c), 0, 0); err != nil {
			return fmt.Errorf("raising ambient %s: %w", capNames[c], err)
		}
	}
	return nil
}
