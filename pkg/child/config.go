package child

// Config is what the parent tells the child, in an environment variable of the caller's choosing.
type Config struct {
	// Target is the command and its arguments.
	Target []string `json:"target"`
	// CopyUp lists directories to replace with a writable tmpfs of symlinks to the originals.
	CopyUp []string `json:"copy_up,omitempty"`
	// Namespaces are the CLONE_NEW* flags of namespaces to create for the target (pid, uts, ipc,
	// cgroup, time); 0 starts the target directly.
	Namespaces uintptr `json:"namespaces,omitempty"`
	// Hostname is set in the new UTS namespace.
	Hostname string `json:"hostname,omitempty"`
	// Reaper runs the target under a PID 1 that reaps orphans; only with a new pid namespace.
	Reaper bool `json:"reaper,omitempty"`
	// ListenFDs is the number of systemd socket-activation fds, at 3 and up, to hand to the target.
	ListenFDs int `json:"listen_fds,omitempty"`
	// Propagation is the mount propagation of / ("rprivate", "rslave", ...).
	Propagation string `json:"propagation"`
	// StateDir is the sandbox's state directory; StateDirCreated says whether rkexec made it.
	StateDir        string `json:"state_dir"`
	StateDirCreated bool   `json:"state_dir_created"`
	// Debug turns on debug logging.
	Debug bool `json:"debug,omitempty"`
	// FDs are the descriptors the parent passed.
	FDs FDs `json:"fds"`
}

// FDs are descriptor numbers inherited from the parent.
type FDs struct {
	FromParent int `json:"from_parent"` // message pipe, parent to child
	ToParent   int `json:"to_parent"`   // message pipe, child to parent
	Lock       int `json:"lock"`        // the state dir lock, held while the child lives
}
