// Package api serves RootlessKit's REST API v1 on a unix socket (<state-dir>/api.sock), so that
// rootlessctl, docker's port proxy and `rkexec port` manage the sandbox's published ports:
//
//	GET    /v1/info        api.Info
//	GET    /v1/ports       []port.Status ([] when empty)
//	POST   /v1/ports       port.Spec → 201 port.Status
//	DELETE /v1/ports/{id}  200
//
// The JSON shapes are rootlesskit/v2's pkg/api and pkg/port types. Errors are answered as
// {"message": "..."} (RootlessKit's client turns that into its error text) with a 4xx status for
// the caller's mistakes: 400 malformed, 404 unknown id, 409 already published, 413 body too large.
//
// It does not forward ports itself: it calls a PortDriver.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	rkapi "github.com/rootless-containers/rootlesskit/v2/pkg/api"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/pkg/net/portspec"
	"github.com/rkexec/rkexec/pkg/net/unixsock"
)

// MaxBody bounds a request body.
const MaxBody = 64 << 10

// PortDriver manages published ports (it must be safe for concurrent use).
type PortDriver interface {
	port.Manager
	Info(context.Context) (*rkapi.PortDriverInfo, error)
}

// NetworkDriver describes the network.
type NetworkDriver interface {
	Info(context.Context) (*rkapi.NetworkDriverInfo, error)
}

// Backend is what the API reports and acts on.
type Backend struct {
	// StateDir and ChildPID are reported by /v1/info; ChildPID may be nil (0) until the sandbox's pid
	// is known.
	StateDir string
	ChildPID func() int
	// Version is rkexec's version, reported as the implementation version.
	Version string
	// Network is nil for the host network.
	Network NetworkDriver
	// Ports is nil without a port driver (then the port requests fail with 400).
	Ports PortDriver
}

// Handler returns the API's HTTP handler.
func Handler(b *Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", b.getInfo)
	mux.HandleFunc("GET /v1/ports", b.getPorts)
	mux.HandleFunc("POST /v1/ports", b.postPort)
	mux.HandleFunc("DELETE /v1/ports/{id}", b.deletePort)
	return mux
}

func (b *Backend) getInfo(w http.ResponseWriter, r *http.Request) {
	info := rkapi.Info{APIVersion: rkapi.Version, Version: b.Version, StateDir: b.StateDir}
	if b.ChildPID != nil {
		info.ChildPID = b.ChildPID()
	}
	var err error
	if b.Network != nil {
		if info.NetworkDriver, err = b.Network.Info(r.Context()); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	if b.Ports != nil {
		if info.PortDriver, err = b.Ports.Info(r.Context()); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, info)
}

func (b *Backend) getPorts(w http.ResponseWriter, r *http.Request) {
	if !b.havePorts(w) {
		return
	}
	ports, err := b.Ports.ListPorts(r.Context())
	if err != nil {
		writeError(w, status(err, http.StatusInternalServerError), err)
		return
	}
	if ports == nil {
		ports = []port.Status{}
	}
	slices.SortFunc(ports, func(a, b port.Status) int { return a.ID - b.ID })
	writeJSON(w, http.StatusOK, ports)
}

func (b *Backend) postPort(w http.ResponseWriter, r *http.Request) {
	if !b.havePorts(w) {
		return
	}
	var sp port.Spec
	if code, err := decode(w, r, &sp); err != nil {
		writeError(w, code, err)
		return
	}
	if err := portspec.Validate(sp); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	st, err := b.Ports.AddPort(r.Context(), sp)
	if err != nil {
		writeError(w, status(err, http.StatusBadRequest), err)
		return
	}
	writeJSON(w, http.StatusCreated, st)
}

func (b *Backend) deletePort(w http.ResponseWriter, r *http.Request) {
	if !b.havePorts(w) {
		return
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad port id %q: want a positive number", r.PathValue("id")))
		return
	}
	if err := b.Ports.RemovePort(r.Context(), id); err != nil {
		writeError(w, status(err, http.StatusBadRequest), err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (b *Backend) havePorts(w http.ResponseWriter) bool {
	if b.Ports == nil {
		writeError(w, http.StatusBadRequest, errors.New("no port driver: start the sandbox with --port-driver=builtin or slirp4netns"))
		return false
	}
	return true
}

// decode reads one JSON value with no unknown fields and nothing after it.
func decode(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return 0, nil
	}
	if mb := new(http.MaxBytesError); errors.As(err, &mb) {
		return http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", MaxBody)
	}
	return http.StatusBadRequest, fmt.Errorf("bad request body: %w", err)
}

func status(err error, otherwise int) int {
	switch {
	case errors.Is(err, portspec.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, portspec.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, portspec.ErrInvalid):
		return http.StatusBadRequest
	}
	return otherwise
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n')) // a write error is the client's going away; nothing to do
}

func writeError(w http.ResponseWriter, code int, err error) {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{err.Error()}) // a struct of one string always marshals
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// Server serves the API on a unix socket.
type Server struct {
	path string
	srv  *http.Server
	done chan error
}

// Serve listens on path (replacing a stale socket left there, never another kind of file), makes it
// 0600 and serves b until Close.
func Serve(path string, b *Backend) (*Server, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("API socket %s: a non-socket file is in the way", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale API socket: %w", err)
		}
	}
	l, err := unixsock.Listen(path)
	if err != nil {
		return nil, fmt.Errorf("API socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		os.Remove(path)
		return nil, fmt.Errorf("API socket: %w", err)
	}
	s := &Server{path: path, done: make(chan error, 1), srv: &http.Server{
		Handler:           Handler(b),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    MaxBody,
	}}
	go func() { s.done <- s.srv.Serve(l) }()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops serving, waits a little for requests in progress, and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	if e := <-s.done; e != nil && !errors.Is(e, http.ErrServerClosed) {
		err = errors.Join(err, e)
	}
	s.done <- nil // a second Close finds the server stopped
	if e := os.Remove(s.path); e != nil && !errors.Is(e, os.ErrNotExist) {
		err = errors.Join(err, e)
	}
	return err
}
