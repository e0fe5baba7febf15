package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rkexec/rkexec/pkg/statedir"
)

func newPsCommand() *cobra.Command {
	var format string
	var prune bool
	cmd := &cobra.Command{
		Use:   "ps [flags]",
		Short: "List the sandboxes in $XDG_RUNTIME_DIR/rkexec",
		Long: `List the sandboxes whose state directories are in $XDG_RUNTIME_DIR/rkexec (or /tmp/rkexec-UID).
A sandbox whose rkexec was killed shows "dead" as its uptime; --prune removes those.
To run a command named ps in a new sandbox, use: rkexec -- ps`,
		Args: argsUsage(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usageError{fmt.Errorf("invalid --format %q: use table or json", format)}
			}
			root := statedir.Root(os.Getenv(envXDGRuntimeDir), os.Geteuid())
			boxes, err := statedir.List(root)
			if err != nil {
				return err
			}
			if prune {
				boxes = pruneDead(cmd.ErrOrStderr(), boxes)
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), psJSON(boxes))
			}
			return writeTable(cmd.OutOrStdout(), boxes, time.Now())
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format [table, json]")
	cmd.Flags().BoolVar(&prune, "prune", false, "remove the state directories of dead sandboxes")
	return cmd
}

// psEntry is one sandbox in `rkexec ps --format json`.
type psEntry struct {
	statedir.State
	Alive bool `json:"alive"`
}

func psJSON(boxes []statedir.Sandbox) []psEntry {
	out := []psEntry{}
	for _, b := range boxes {
		out = append(out, psEntry{State: b.State, Alive: b.Alive})
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeTable(w io.Writer, boxes []statedir.Sandbox, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPID\tNET\tPORTS\tUPTIME\tCOMMAND")
	for _, b := range boxes {
		uptime := "dead"
		if b.Alive {
			uptime = humanDuration(now.Sub(b.Started))
		}
		ports := "-"
		if len(b.Ports) > 0 {
			ports = strings.Join(b.Ports, ",")
		}
		pid, network := "-", b.Network
		if b.ParentPID != 0 {
			pid = fmt.Sprint(b.ParentPID)
		}
		if network == "" {
			network = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, pid, network, ports, uptime, strings.Join(b.Command, " "))
	}
	return tw.Flush()
}

func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// pruneDead removes dead sandboxes' state directories and returns the living ones.
func pruneDead(stderr io.Writer, boxes []statedir.Sandbox) []statedir.Sandbox {
	var alive []statedir.Sandbox
	for _, b := range boxes {
		if b.Alive {
			alive = append(alive, b)
			continue
		}
		if err := statedir.Prune(b.StateDir); err != nil {
			fmt.Fprintf(stderr, "rkexec: pruning %s: %v\n", b.StateDir, err)
			continue
		}
		fmt.Fprintf(stderr, "rkexec: removed dead sandbox %s\n", b.Name)
	}
	return alive
}

// findSandbox resolves NAME (in the sandboxes directory) or a state directory path, and checks it is
// the caller's and alive.
func findSandbox(arg string) (statedir.Sandbox, error) {
	dir := arg
	if !strings.Contains(arg, "/") {
		if err := statedir.CheckName(arg); err != nil {
			return statedir.Sandbox{}, err
		}
		dir = filepath.Join(statedir.Root(os.Getenv(envXDGRuntimeDir), os.Geteuid()), arg)
	}
	b, err := statedir.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return b, fmt.Errorf("no sandbox %q (%s does not exist; see rkexec ps)", arg, dir)
	}
	if err != nil {
		return b, err
	}
	if !b.Alive {
		return b, fmt.Errorf("sandbox %q is not running: its rkexec exited or was killed (remove it with rkexec ps --prune)", arg)
	}
	return b, nil
}
