package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/rkexec/rkexec/pkg/statedir"
)

// infoOutput is `rkexec info`'s JSON.
type infoOutput struct {
	statedir.State
	Alive      bool              `json:"alive"`
	Uptime     string            `json:"uptime"`
	Namespaces map[string]string `json:"namespaces"`
}

func newInfoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "info NAME|STATE_DIR",
		Short: "Show a running sandbox as JSON: pids, namespaces, network, ports, state dir",
		Long: `Show a running sandbox as JSON. The name, state directory, pids and namespaces are checked as
rkexec exec checks them (the lock holder, the process tree, namespace ownership); the command,
network, ports and start time are what the sandbox's state.json says.`,
		Args: argsUsage(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, sb, err := openSandbox(args[0])
			if err != nil {
				return err
			}
			defer b.Close()
			defer sb.Close()
			ns, err := sb.Namespaces()
			if err != nil {
				return err
			}
			st := b.State
			st.Name, st.StateDir, st.ParentPID, st.ChildPID = b.Name, b.Path, sb.Holder, sb.PID
			return writeJSON(cmd.OutOrStdout(), infoOutput{
				State: st, Alive: true, Namespaces: ns,
				Uptime: time.Since(st.Started).Round(time.Second).String(),
			})
		},
	}
}
