package process

import (
	"errors"
	"fmt"

	"github.com/rkexec/rkexec/pkg/nsenter"
	"github.com/rkexec/rkexec/pkg/ttyguard"
	"github.com/rkexec/rkexec/pkg/wire"
)

// ForNsexec turns s into what nsexec's stage 2 applies from C (nsenter.Exec) for `rkexec exec`:
// the same decisions as Exec takes here (which user, which capability sets, the ttyguard filter), so
// the command starts inside the sandbox with no Go runtime in between. The C side applies them in
// Exec's order and reports failures as Exec does. s.ListenPID is not supported there (the init's
// socket-activated target runs through Exec).
func ForNsexec(s wire.ExecSpec) (nsenter.Exec, error) {
	p := &s.Process
	if len(p.Args) == 0 {
		return nsenter.Exec{}, errors.New("no command given")
	}
	if s.ListenPID {
		return nsenter.Exec{}, errors.New("LISTEN_PID is not set by nsexec's exec stage")
	}
	if !s.ExecSync {
		return nsenter.Exec{}, errors.New("nsexec's exec stage needs the exec socket")
	}
	x := nsenter.Exec{
		Args:              p.Args,
		Env:               p.Env,
		Cwd:               p.Cwd,
		SwitchUser:        switchesUser(p.User),
		UID:               p.User.UID,
		GID:               p.User.GID,
		Groups:            p.User.AdditionalGids,
		NoNewPrivs:        p.NoNewPrivileges,
		Terminal:          p.Terminal,
		ParentDeathSignal: s.ParentDeathSignal,
		PreserveFDs:       s.PreserveFDs,
		Detach:            s.Detach,
	}
	keep, bounding := capSets(s)
	if keep != nil {
		caps, err := capsOf(keep)
		if err != nil {
			return nsenter.Exec{}, err
		}
		x.KeepSet = true
		for _, c := range caps {
			x.Keep = append(x.Keep, nsenter.Cap{Num: int(c), Name: capName(c)})
		}
	}
	if bounding != nil {
		caps, err := capsOf(bounding)
		if err != nil {
			return nsenter.Exec{}, err
		}
		x.BoundingSet = true
		for _, c := range caps {
			x.Bounding |= 1 << uint(c)
		}
	}
	if !s.AllowTIOCSTI {
		f, err := ttyguard.Filter()
		if err != nil {
			return nsenter.Exec{}, fmt.Errorf("%w; --allow-tiocsti runs without it", err)
		}
		x.Seccomp = f
	}
	return x, nil
}
