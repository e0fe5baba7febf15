package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	rkapi "github.com/rootless-containers/rootlesskit/v2/pkg/api"
	"github.com/rootless-containers/rootlesskit/v2/pkg/api/client"
	"github.com/rootless-containers/rootlesskit/v2/pkg/port"

	"github.com/rkexec/rkexec/pkg/net/portspec"
)

// memPorts is a port driver that only keeps a table.
type memPorts struct {
	mu    sync.Mutex
	next  int
	ports []port.Status
}

func (m *memPorts) Info(context.Context) (*rkapi.PortDriverInfo, error) {
	return &rkapi.PortDriverInfo{Driver: "mem", Protos: portspec.Protos}, nil
}

func (m *memPorts) AddPort(_ context.Context, sp port.Spec) (*port.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := portspec.Conflict(sp, m.ports); err != nil {
		return nil, err
	}
	m.next++
	st := port.Status{ID: m.next, Spec: sp}
	m.ports = append(m.ports, st)
	return &st, nil
}

func (m *memPorts) ListPorts(context.Context) ([]port.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]port.Status(nil), m.ports...), nil
}

func (m *memPorts) RemovePort(_ context.Context, id int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, st := range m.ports {
		if st.ID == id {
			m.ports = append(m.ports[:i], m.ports[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %d", portspec.ErrNotFound, id)
}

type netInfo struct{}

func (netInfo) Info(context.Context) (*rkapi.NetworkDriverInfo, error) {
	return &rkapi.NetworkDriverInfo{Driver: "slirp4netns", ChildIP: net.ParseIP("10.0.2.100"), DNS: []net.IP{net.ParseIP("10.0.2.3")}}, nil
}

func serve(t *testing.T, b *Backend) (string, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "api.sock")
	s, err := Serve(path, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path, s
}

// raw sends one request and returns the status and body.
func raw(t *testing.T, path, method, url, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	req, err := http.NewRequest(method, "http://rootlesskit"+url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRootlessKitClient(t *testing.T) {
	path, _ := serve(t, &Backend{StateDir: "/run/x", ChildPID: func() int { return 42 }, Version: "test", Network: netInfo{}, Ports: &memPorts{}})
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
	c, err := client.New(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.APIVersion != rkapi.Version || info.StateDir != "/run/x" || info.ChildPID != 42 || info.Version != "test" ||
		info.NetworkDriver == nil || !info.NetworkDriver.ChildIP.Equal(net.ParseIP("10.0.2.100")) ||
		info.PortDriver == nil || info.PortDriver.Driver != "mem" {
		t.Fatalf("info: %+v", info)
	}
	pm := c.PortManager()
	if l, err := pm.ListPorts(ctx); err != nil || len(l) != 0 {
		t.Fatalf("empty list: %v %v", l, err)
	}
	if code, body := raw(t, path, "GET", "/v1/ports", ""); code != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("an empty list is []: %d %q", code, body)
	}
	sp := port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildPort: 80}
	st, err := pm.AddPort(ctx, sp)
	if err != nil || st.Spec != sp || st.ID != 1 {
		t.Fatalf("add: %+v %v", st, err)
	}
	if _, err := pm.AddPort(ctx, sp); err == nil || !strings.Contains(err.Error(), "already published") {
		t.Fatalf("a duplicate add: %v", err)
	}
	if l, err := pm.ListPorts(ctx); err != nil || len(l) != 1 || l[0] != *st {
		t.Fatalf("list: %v %v", l, err)
	}
	if err := pm.RemovePort(ctx, 7); err == nil || !strings.Contains(err.Error(), "no such port") {
		t.Fatalf("removing an unknown id: %v", err)
	}
	if err := pm.RemovePort(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if l, err := pm.ListPorts(ctx); err != nil || len(l) != 0 {
		t.Fatalf("list after remove: %v %v", l, err)
	}
}

func TestBadRequests(t *testing.T) {
	path, _ := serve(t, &Backend{Ports: &memPorts{}})
	good := `{"proto":"tcp","parentIP":"127.0.0.1","parentPort":8080,"childPort":80}`
	for _, tc := range []struct {
		name, method, url, body string
		code                    int
		msg                     string
	}{
		{"bad json", "POST", "/v1/ports", `{"proto":`, 400, "bad request body"},
		{"not an object", "POST", "/v1/ports", `[1,2]`, 400, "bad request body"},
		{"unknown field", "POST", "/v1/ports", `{"proto":"tcp","parentPort":1,"childPort":1,"evil":1}`, 400, "unknown field"},
		{"two values", "POST", "/v1/ports", good + good, 400, "more than one"},
		{"huge body", "POST", "/v1/ports", `{"proto":"` + strings.Repeat("x", 2*MaxBody) + `"}`, 413, "larger than"},
		{"no proto", "POST", "/v1/ports", `{"parentPort":8080,"childPort":80}`, 400, "proto"},
		{"sctp", "POST", "/v1/ports", `{"proto":"sctp","parentPort":8080,"childPort":80}`, 400, "proto"},
		{"port 0", "POST", "/v1/ports", `{"proto":"tcp","parentPort":0,"childPort":80}`, 400, "ParentPort"},
		{"bad ip", "POST", "/v1/ports", `{"proto":"tcp","parentIP":"x","parentPort":1,"childPort":80}`, 400, "ParentIP"},
		{"empty body", "POST", "/v1/ports", ``, 400, "bad request body"},
		{"bad id", "DELETE", "/v1/ports/abc", ``, 400, "bad port id"},
		{"negative id", "DELETE", "/v1/ports/-1", ``, 400, "bad port id"},
		{"unknown id", "DELETE", "/v1/ports/99", ``, 404, "no such port"},
		{"wrong method", "PUT", "/v1/ports", ``, 405, ""},
		{"unknown path", "GET", "/v2/info", ``, 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := raw(t, path, tc.method, tc.url, tc.body)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("%d %q, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	// Still serving.
	if code, body := raw(t, path, "POST", "/v1/ports", good); code != 201 {
		t.Fatalf("a good add after the bad ones: %d %q", code, body)
	}
}

func TestConcurrentDuplicateAdds(t *testing.T) {
	path, _ := serve(t, &Backend{Ports: &memPorts{}})
	good := `{"proto":"tcp","parentIP":"127.0.0.1","parentPort":8080,"childPort":80}`
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := raw(t, path, "POST", "/v1/ports", good)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Fatalf("status codes of %d concurrent adds of one port: %v", n, count)
	}
}

func TestNoPortDriver(t *testing.T) {
	path, _ := serve(t, &Backend{StateDir: "/x"})
	if code, body := raw(t, path, "GET", "/v1/ports", ""); code != 400 || !strings.Contains(body, "--port-driver") {
		t.Fatalf("%d %q", code, body)
	}
	c, _ := client.New(path)
	info, err := c.Info(context.Background())
	if err != nil || info.PortDriver != nil || info.NetworkDriver != nil {
		t.Fatalf("info: %+v %v", info, err)
	}
}

func TestSocketFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api.sock")
	// A stale socket (a SIGKILLed rkexec's) is replaced.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	s, err := Serve(path, &Backend{})
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left after Close: %v", err)
	}
	// Any other file is left alone.
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := Serve(path, &Backend{}); err == nil || !strings.Contains(err.Error(), "non-socket") {
		t.Fatalf("over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "x" {
		t.Fatal("the regular file was touched")
	}
}
