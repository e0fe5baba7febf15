package main

// rootlesskit-docker-proxy: what RootlessKit's command of that name does for dockerd 20.10 to 27,
// which runs it (dockerd-rootless.sh sets --userland-proxy-path) inside the sandbox for every
// published port, with docker-proxy's flags and a pipe on fd 3 to hear "0\n" (listening) or
// "1\n" and the error. It asks the sandbox's API (ROOTLESSKIT_STATE_DIR/api.sock) to publish the
// host port, runs the real docker-proxy inside for the container's side, listening on the loopback
// address where the port driver delivers, and removes the port when it is told to stop.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	rkapi "github.com/rootless-containers/rootlesskit/v2/pkg/api"
	"github.com/rootless-containers/rootlesskit/v2/pkg/api/client"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"
	"golang.org/x/sys/unix"
)

const (
	// realDockerProxy is the program that forwards the container's side, looked up on PATH.
	realDockerProxy = "docker-proxy"
	// dockerProxyReadyFD is the pipe to dockerd: "0\n" when the proxy listens, "1\n" and the error
	// when it failed.
	dockerProxyReadyFD = 3
	// dockerProxyAPITimeout bounds one call to the sandbox's API.
	dockerProxyAPITimeout = 30 * time.Second
)

// dockerProxyFlags are docker-proxy's flags, as dockerd passes them.
type dockerProxyFlags struct {
	containerIP   string
	containerPort int
	hostIP        string
	hostPort      int
	proto         string
}

// dockerProxy is the command's whole life; it returns the exit code.
func dockerProxy(args []string) int {
	// Without dockerd (by hand), fd 3 is not open: nobody to tell.
	var ready *os.File
	if _, err := unix.FcntlInt(dockerProxyReadyFD, unix.F_GETFD, 0); err == nil {
		ready = os.NewFile(dockerProxyReadyFD, "docker-proxy-ready")
	}
	err := runDockerProxy(args, ready)
	if err == nil {
		return 0
	}
	var ec exitCode
	if errors.As(err, &ec) {
		return int(ec)
	}
	if ready != nil {
		fmt.Fprintf(ready, "1\n%s", err)
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", nameDockerProxy, oneLine(err.Error()))
	return 1
}

// runDockerProxy runs the proxy; ready is dockerd's pipe, or nil.
func runDockerProxy(args []string, ready *os.File) error {
	var f dockerProxyFlags
	fl := flag.NewFlagSet(nameDockerProxy, flag.ContinueOnError)
	fl.StringVar(&f.containerIP, "container-ip", "", "container ip")
	fl.IntVar(&f.containerPort, "container-port", -1, "container port")
	fl.StringVar(&f.hostIP, "host-ip", "", "host ip")
	fl.IntVar(&f.hostPort, "host-port", -1, "host port")
	fl.StringVar(&f.proto, "proto", "tcp", "proxy protocol")
	fl.SetOutput(io.Discard)
	if err := fl.Parse(args); err != nil {
		return fmt.Errorf("%w (flags: -container-ip, -container-port, -host-ip, -host-port, -proto)", err)
	}
	stateDir := os.Getenv(envStateDir)
	if stateDir == "" {
		return fmt.Errorf("$%s is not set: run %s inside rootlesskit (or rkexec) with a network of its own", envStateDir, nameDockerProxy)
	}
	c, err := client.New(filepath.Join(stateDir, "api.sock"))
	if err != nil {
		return fmt.Errorf("connecting to the API socket in %s: %w", stateDir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerProxyAPITimeout)
	defer cancel()
	info, err := c.Info(ctx)
	if err != nil {
		return fmt.Errorf("asking the API socket in %s for its info: %w", stateDir, err)
	}
	// No port driver: docker-proxy does it all (RootlessKit's proxy execs it too).
	if info.PortDriver == nil || info.PortDriver.Driver == "none" || info.PortDriver.Driver == "implicit" {
		exe, err := exec.LookPath(realDockerProxy)
		if err != nil {
			return fmt.Errorf("%w (install docker-proxy, which comes with dockerd)", err)
		}
		return syscall.Exec(exe, append([]string{realDockerProxy}, args...), os.Environ())
	}
	spec, err := dockerProxySpec(&f, info)
	if err != nil {
		var unsupported *unsupportedProtoError
		if errors.As(err, &unsupported) {
			// As RootlessKit: the port is not forwarded, and dockerd goes on without it.
			fmt.Fprintf(os.Stderr, "%s: warning: %v\n", nameDockerProxy, err)
			if ready != nil {
				_, err = io.WriteString(ready, "0\n")
				return err
			}
			return nil
		}
		return err
	}
	exe, err := exec.LookPath(realDockerProxy)
	if err != nil {
		return fmt.Errorf("%w (install docker-proxy, which comes with dockerd)", err)
	}
	// Signals from now on: SIGINT is how dockerd stops a proxy, SIGTERM its parent-death signal;
	// either ends it with the port removed.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	pm := c.PortManager()
	st, err := pm.AddPort(ctx, spec)
	if err != nil {
		return fmt.Errorf("publishing %s: %w", portLabel(spec), err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), dockerProxyAPITimeout)
		defer cancel()
		if err := pm.RemovePort(ctx, st.ID); err != nil {
			fmt.Fprintf(os.Stderr, "%s: warning: removing port %d (%s): %v\n", nameDockerProxy, st.ID, portLabel(spec), err)
		}
	}()
	cmd := exec.Command(exe,
		"-container-ip", f.containerIP,
		"-container-port", strconv.Itoa(f.containerPort),
		"-host-ip", spec.ChildIP,
		"-host-port", strconv.Itoa(f.hostPort),
		"-proto", f.proto)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// docker-proxy tells dockerd itself that it listens, on the same fd 3.
	if ready != nil {
		cmd.ExtraFiles = []*os.File{ready}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", realDockerProxy, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-stop:
		_ = cmd.Process.Kill() // it may have exited meanwhile
		<-exited
		return nil
	case err := <-exited:
		// It failed (and told dockerd), or was killed: this ends with it, the port removed.
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return exitCode(ee.ExitCode() & 0xff)
		}
		return err
	}
}

// unsupportedProtoError is a protocol the sandbox's port driver does not forward.
type unsupportedProtoError struct {
	proto, driver, addr string
}

func (e *unsupportedProtoError) Error() string {
	return fmt.Sprintf("protocol %q is not supported by the port driver %q, discarding request for %q", e.proto, e.driver, e.addr)
}

// dockerProxySpec is the port to publish for docker-proxy's flags: the host's address and port to the
// same port on a loopback address inside (or, for a driver that cannot deliver there, the sandbox's
// own address), where the real docker-proxy listens. The protocol gets the host address's family
// (tcp4, tcp6), which the port drivers need and dockerd 20.10 and later leave out.
func dockerProxySpec(f *dockerProxyFlags, info *rkapi.Info) (port.Spec, error) {
	if f.hostPort <= 0 || f.hostPort > 65535 {
		return port.Spec{}, fmt.Errorf("invalid -host-port %d", f.hostPort)
	}
	hostIP := f.hostIP
	if hostIP == "" {
		hostIP = "0.0.0.0" // every address, as docker-proxy takes it
	}
	ip := net.ParseIP(hostIP)
	if ip == nil {
		return port.Spec{}, fmt.Errorf("invalid -host-ip %q: give an IP address", f.hostIP)
	}
	v6 := ip.To4() == nil
	proto := f.proto
	if !strings.HasSuffix(proto, "4") && !strings.HasSuffix(proto, "6") {
		if v6 {
			proto += "6"
		} else {
			proto += "4"
		}
	}
	if !slices.Contains(info.PortDriver.Protos, proto) {
		return port.Spec{}, &unsupportedProtoError{proto: proto, driver: info.PortDriver.Driver, addr: net.JoinHostPort(hostIP, strconv.Itoa(f.hostPort))}
	}
	childIP := "127.0.0.1"
	if v6 {
		childIP = "::1"
	}
	if info.PortDriver.DisallowLoopbackChildIP {
		if info.NetworkDriver == nil || info.NetworkDriver.ChildIP == nil {
			return port.Spec{}, fmt.Errorf("the port driver %q cannot deliver to a loopback address, and the network has no address of its own", info.PortDriver.Driver)
		}
		childIP = info.NetworkDriver.ChildIP.String()
	}
	return port.Spec{Proto: proto, ParentIP: hostIP, ParentPort: f.hostPort, ChildIP: childIP, ChildPort: f.hostPort}, nil
}

func portLabel(sp port.Spec) string {
	return net.JoinHostPort(sp.ParentIP, strconv.Itoa(sp.ParentPort)) + "/" + sp.Proto
}
