package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/rkexec/rkexec/pkg/enter"
	"github.com/rkexec/rkexec/pkg/statedir"
)

func newPsCommand() *cobra.Command {
	var format string
	var prune bool
	cmd := &cobra.Command{
		Use:   "ps [flags]",
		Short: "List the sandboxes in $XDG_RUNTIME_DIR/rkexec",
		Long: `List the sandboxes whose state directories are in $XDG_RUNTIME_DIR/rkexec (or, without it,
/run/user/UID/rkexec or /tmp/rkexec-UID). UPTIME is "dead" for a sandbox whose rkexec is gone,
"starting" while one starts, and "broken" for one whose state files or processes do not check out
(with a warning on stderr); --prune removes the dead ones.
To run a command named ps in a new sandbox, use: rkexec -- ps`,
		Args: argsUsage(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usageError{fmt.Errorf("invalid --format %q: use table or json", format)}
			}
			root := statedir.Root(os.Getenv(envXDGRuntimeDir), os.Geteuid())
			if _, err := statedir.CheckRoot(root, false); err != nil {
				return err
			}
			boxes, err := listSandboxes(cmd.ErrOrStderr(), root)
			if err != nil {
				return err
			}
			if prune {
				boxes = pruneDead(cmd.ErrOrStderr(), root, boxes)
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

// Statuses of a sandbox in rkexec ps.
const (
	statusRunning  = "running"
	statusStarting = "starting"
	statusDead     = "dead"
	statusBroken   = "broken"
)

// psBox is one sandbox as rkexec ps shows it: named by its directory, its pids checked against the
// kernel, the rest (command, network, ports, start) what its state.json claims.
type psBox struct {
	statedir.State
	status string
}

// listSandboxes finds the sandboxes under root and checks the running ones (enter.Pin); whatever is
// wrong with one is a one-line warning on stderr, and never keeps the others from being listed.
func listSandboxes(stderr io.Writer, root string) ([]psBox, error) {
	found, problems, err := statedir.List(root)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "rkexec: warning: %s: %s\n", printable(filepath.Join(root, p.Name)), oneLine(p.Err.Error()))
	}
	var out []psBox
	for _, b := range found {
		box := psBox{State: b.State, status: statusDead}
		box.Name, box.StateDir, box.ParentPID, box.ChildPID = b.Name, b.Path, 0, 0
		warn := func(err error) {
			fmt.Fprintf(stderr, "rkexec: warning: sandbox %s: %s\n", b.Name, oneLine(err.Error()))
		}
		switch {
		case b.StateErr != nil && !errors.Is(b.StateErr, os.ErrNotExist):
			box.State = statedir.State{Name: b.Name, StateDir: b.Path}
			warn(b.StateErr)
			if b.Alive {
				box.status = statusBroken
			}
		case !b.Alive:
		case b.StateErr != nil:
			box.status = statusStarting
		default:
			sb, err := enter.Pin(b.DirFile(), b.LockFile(), b.State.ParentPID, b.State.ChildPID)
			if err != nil {
				warn(err)
				box.status = statusBroken
				break
			}
			box.status, box.ParentPID, box.ChildPID = statusRunning, sb.Holder, sb.PID
			sb.Close()
		}
		b.Close()
		out = append(out, box)
	}
	return out, nil
}

// psEntry is one sandbox in `rkexec ps --format json`.
type psEntry struct {
	statedir.State
	Alive  bool   `json:"alive"`
	Status string `json:"status"`
}

func psJSON(boxes []psBox) []psEntry {
	out := []psEntry{}
	for _, b := range boxes {
		out = append(out, psEntry{State: b.State, Alive: b.status != statusDead, Status: b.status})
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeTable(w io.Writer, boxes []psBox, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPID\tNET\tPORTS\tUPTIME\tCOMMAND")
	for _, b := range boxes {
		uptime := b.status
		if b.status == statusRunning {
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
		command := "-"
		if len(b.Command) > 0 {
			command = strings.Join(b.Command, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, pid, printable(network), printable(ports), uptime, printable(command))
	}
	return tw.Flush()
}

// printable returns s, or s quoted when it holds anything but graphic characters and spaces: what a
// sandbox wrote into its state.json must not move the cursor or add a line to the caller's terminal.
func printable(s string) string {
	for _, r := range s {
		if r != ' ' && !unicode.IsGraphic(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return s
}

func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// pruneDead removes the state directories of dead sandboxes under root, by the names they were found
// by, and returns the others.
func pruneDead(stderr io.Writer, root string, boxes []psBox) []psBox {
	var kept []psBox
	for _, b := range boxes {
		if b.status != statusDead {
			kept = append(kept, b)
			continue
		}
		if err := statedir.Prune(root, b.Name); err != nil {
			fmt.Fprintf(stderr, "rkexec: pruning %s: %s\n", b.Name, oneLine(err.Error()))
			kept = append(kept, b)
			continue
		}
		fmt.Fprintf(stderr, "rkexec: removed dead sandbox %s\n", b.Name)
	}
	return kept
}

// openSandbox resolves NAME (in the state root) or a state directory path, and checks with the
// kernel that it is a running sandbox of the caller's (enter.Pin): exec and info reach a sandbox this
// way only. The caller closes both.
func openSandbox(arg string) (*statedir.Sandbox, *enter.Sandbox, error) {
	dir := arg
	if !strings.Contains(arg, "/") {
		if err := statedir.CheckName(arg); err != nil {
			return nil, nil, err
		}
		root := statedir.Root(os.Getenv(envXDGRuntimeDir), os.Geteuid())
		if _, err := statedir.CheckRoot(root, false); err != nil {
			return nil, nil, err
		}
		dir = filepath.Join(root, arg)
	} else {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return nil, nil, fmt.Errorf("state dir %q: %w", arg, err)
		}
		dir = abs
	}
	b, err := statedir.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("no sandbox %q (%s does not exist; see rkexec ps)", arg, dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if !b.Alive {
		b.Close()
		return nil, nil, fmt.Errorf("sandbox %q is not running: its rkexec exited or was killed (remove it with rkexec ps --prune)", arg)
	}
	if b.StateErr != nil {
		b.Close()
		if errors.Is(b.StateErr, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("sandbox %q is still starting: it has no %s yet", arg, statedir.StateFile)
		}
		return nil, nil, fmt.Errorf("sandbox %q: %w", arg, b.StateErr)
	}
	sb, err := enter.Pin(b.DirFile(), b.LockFile(), b.State.ParentPID, b.State.ChildPID)
	if err != nil {
		b.Close()
		return nil, nil, fmt.Errorf("sandbox %q: %w", arg, err)
	}
	return b, sb, nil
}
