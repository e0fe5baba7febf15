package builtin

import (
	"context"
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/rootless-containers/rootlesskit/v2/pkg/port"
)

// BenchmarkConnections measures sequential connections (connect, read a greeting, close) through the
// driver, both halves in this process and namespace, beside the same client talking to the same
// server directly: go test -run=^$ -bench=Connections ./pkg/net/builtin/
func BenchmarkConnections(b *testing.B) {
	srv, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go func() { c.Write([]byte("x\n")); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	pf, cf, err := SocketPair()
	if err != nil {
		b.Fatal(err)
	}
	p, err := NewParent(pf)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ch, err := NewChild(cf, ChildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	go ch.Serve()
	hp := freePort(b, "tcp")
	if _, err := p.AddPort(context.Background(), port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: hp, ChildPort: srv.Addr().(*net.TCPAddr).Port}); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, addr string) {
		buf := make([]byte, 8)
		for i := 0; i < b.N; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Read(buf); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
	}
	b.Run("direct", func(b *testing.B) { run(b, srv.Addr().String()) })
	b.Run("builtin", func(b *testing.B) { run(b, net.JoinHostPort("127.0.0.1", strconv.Itoa(hp))) })
}
