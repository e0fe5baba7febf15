package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkexec/rkexec/pkg/enter"
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
		Args:  argsUsage(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := findSandbox(args[0])
			if err != nil {
				return err
			}
			ns, err := namespacesOf(b.ChildPID)
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), infoOutput{
				State: b.State, Alive: b.Alive, Namespaces: ns,
				Uptime: time.Since(b.Started).Round(time.Second).String(),
			})
		},
	}
}

// namespacesOf reads the namespace identities of pid, e.g. "net" → "net:[4026532008]".
func namespacesOf(pid int) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range enter.NamespaceTypes() {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, t))
		if err != nil {
			if os.IsNotExist(err) && t == "time" {
				continue // kernels before 5.6 have no time namespaces
			}
			return nil, fmt.Errorf("reading the namespaces of sandbox pid %d: %w", pid, err)
		}
		out[t] = link
	}
	return out, nil
}
