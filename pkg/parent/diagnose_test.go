package parent

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestDiagnoseCloneError(t *testing.T) {
	const (
		maxNS    = "/proc/sys/user/max_user_namespaces"
		userns   = "/proc/sys/kernel/unprivileged_userns_clone"
		apparmor = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
	)
	for name, tc := range map[string]struct {
		err     error
		sysctls map[string]int // missing: the file cannot be read
		want    string
		notWant string
	}{
		"user namespaces disabled": {unix.ENOSPC, map[string]int{maxNS: 0}, "sudo sysctl -w user.max_user_namespaces=28633", ""},
		"Debian's switch off":      {unix.EPERM, map[string]int{maxNS: 100, userns: 0}, "sudo sysctl -w kernel.unprivileged_userns_clone=1", ""},
		"AppArmor restricts":       {unix.EACCES, map[string]int{maxNS: 100, userns: 1, apparmor: 1}, `an AppArmor profile granting "userns,"`, ""},
		"AppArmor, no Debian knob": {unix.EPERM, map[string]int{maxNS: 100, apparmor: 1}, "kernel.apparmor_restrict_unprivileged_userns is 1", ""},
		"limit reached":            {unix.ENOSPC, map[string]int{maxNS: 5, userns: 1, apparmor: 0}, "the limit of user namespaces (sysctl user.max_user_namespaces) is reached", ""},
		"EPERM, nothing to blame":  {unix.EPERM, map[string]int{maxNS: 5, userns: 1, apparmor: 0}, "creating the user namespace: nsexec stage-1: unshare user: operation not permitted", "sysctl"},
		"no sysctl readable":       {unix.EINVAL, map[string]int{}, "unshare user: invalid argument", "sysctl"},
		"another errno: no advice": {unix.ENOMEM, map[string]int{maxNS: 0}, "unshare user: cannot allocate memory", "sysctl"},
	} {
		t.Run(name, func(t *testing.T) {
			var read []string
			readSysctl := func(path string) (int, bool) {
				read = append(read, path)
				v, ok := tc.sysctls[path]
				return v, ok
			}
			err := diagnoseCloneError(fmt.Errorf("nsexec stage-1: unshare user: %w", tc.err), readSysctl)
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || (tc.notWant != "" && strings.Contains(msg, tc.notWant)) {
				t.Errorf("got %q, want it to contain %q and not %q", msg, tc.want, tc.notWant)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%q does not wrap %v", msg, tc.err)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("%q is not one line", msg)
			}
			if tc.err == unix.ENOMEM && len(read) > 0 {
				t.Errorf("sysctls read for an errno they cannot explain: %v", read)
			}
		})
	}
}
