package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/rootless-containers/rootlesskit/v2/pkg/api/client"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"
	"github.com/spf13/cobra"

	"github.com/rkexec/rkexec/pkg/net/portspec"
	"github.com/rkexec/rkexec/pkg/parent"
)

func newPortCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "port",
		Short: "Publish, list and remove a running sandbox's ports (through its api.sock)",
		Args:  argsUsage(0, 0),
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "add NAME|STATE_DIR SPEC",
		Short:   "Publish a port, e.g. rkexec port add web 127.0.0.1:8080:80/tcp",
		Args:    argsUsage(2, 2),
		Example: "  rkexec port add web 127.0.0.1:8080:80/tcp\n  rkexec port add web [::1]:8443:127.0.0.1:443/tcp",
		RunE: func(c *cobra.Command, args []string) error {
			sp, err := portspec.Parse(args[1])
			if err != nil {
				return usageError{err}
			}
			return withPorts(args[0], func(ctx context.Context, pm port.Manager) error {
				st, err := pm.AddPort(ctx, sp)
				if err != nil {
					return fmt.Errorf("port add %s: %w", args[1], err)
				}
				fmt.Fprintln(c.OutOrStdout(), st.ID)
				return nil
			})
		},
	}, &cobra.Command{
		Use:     "ls NAME|STATE_DIR",
		Aliases: []string{"list"},
		Short:   "List the published ports",
		Args:    argsUsage(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			var list []port.Status
			if err := withPorts(args[0], func(ctx context.Context, pm port.Manager) (err error) {
				if list, err = pm.ListPorts(ctx); err != nil {
					return fmt.Errorf("port ls: %w", err)
				}
				return nil
			}); err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tPROTO\tHOST\tCHILD")
			for _, st := range list {
				sp := st.Spec
				child := strconv.Itoa(sp.ChildPort)
				if sp.ChildIP != "" {
					child = sp.ChildIP + ":" + child
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", st.ID, sp.Proto, portspec.HostAddr(sp), child)
			}
			return w.Flush()
		},
	}, &cobra.Command{
		Use:     "rm NAME|STATE_DIR ID",
		Aliases: []string{"remove"},
		Short:   "Remove a published port",
		Args:    argsUsage(2, 2),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := strconv.Atoi(args[1])
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("invalid port id %q: give the number rkexec port ls shows", args[1])}
			}
			return withPorts(args[0], func(ctx context.Context, pm port.Manager) error {
				if err := pm.RemovePort(ctx, id); err != nil {
					return fmt.Errorf("port rm %d: %w", id, err)
				}
				return nil
			})
		},
	})
	return cmd
}

// withPorts runs f with the port manager of the running sandbox name, within a time limit.
func withPorts(name string, f func(context.Context, port.Manager) error) error {
	pm, done, err := portClient(name)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f(ctx, pm.PortManager())
}

// portClient connects to the API socket of the running sandbox name (checked as rkexec exec checks
// it), through the state directory opened there; the caller calls done when finished.
func portClient(name string) (c client.Client, done func(), err error) {
	box, sb, err := openSandbox(name)
	if err != nil {
		return nil, nil, err
	}
	done = func() { sb.Close(); box.Close() }
	sock := fmt.Sprintf("/proc/self/fd/%d/%s", box.DirFile().Fd(), parent.APISocket)
	if _, err := os.Lstat(sock); err != nil {
		done()
		return nil, nil, fmt.Errorf("sandbox %s has no API socket (it was started without --net): %w", box.Name, errors.Unwrap(err))
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	return client.NewWithHTTPClient(hc), done, nil
}
