// Command connbench measures sequential TCP connections per second, for scripts/bench.sh: a client that
// connects, sends one byte, reads it back and closes, one connection after the other, against a server
// that echoes one byte per connection and closes. It is a benchmark tool, not part of rkexec.
//
//	connbench server -addr 0.0.0.0:18122 -ready FILE   # FILE is created once the socket listens
//	connbench client -addr 127.0.0.1:18122 -n 5000 -d 3s -quit
//
// The client stops after -n connections or -d, whichever comes first, and prints one line:
//
//	connections=N errors=E seconds=S rate=R
//
// where R counts the successful connections only. -quit then sends the server the byte 'q', which makes
// it exit once it has echoed it, so a server inside a sandbox ends the sandbox's command by itself.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

const quitByte = 'q'

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: connbench server|client [flags] (see the package doc)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q (want server or client)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "connbench: %v\n", err)
		os.Exit(1)
	}
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18121", "address to listen on")
	ready := fs.String("ready", "", "file to create once the socket listens")
	_ = fs.Parse(args)

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	if *ready != "" {
		if err := os.WriteFile(*ready, nil, 0o644); err != nil {
			return fmt.Errorf("ready file: %w", err)
		}
	}
	quit := make(chan struct{}, 1)
	go func() {
		<-quit
		ln.Close()
	}()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) { // closed after a quit byte
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			if echo(conn) == quitByte {
				select {
				case quit <- struct{}{}:
				default:
				}
			}
		}()
	}
}

// echo reads one byte from conn, writes it back and closes conn; it returns the byte (0 on error).
func echo(conn net.Conn) byte {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return 0
	}
	if _, err := conn.Write(b[:]); err != nil {
		return 0
	}
	return b[0]
}

func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:18121", "server address")
	n := fs.Int("n", 5000, "stop after this many connections")
	d := fs.Duration("d", 3*time.Second, "stop after this long")
	quit := fs.Bool("quit", false, "tell the server to exit at the end")
	_ = fs.Parse(args)

	var ok, failed int
	var lastErr error
	start := time.Now()
	end := start.Add(*d)
	for i := 0; i < *n && time.Now().Before(end); i++ {
		if err := roundTrip(*addr, 'x'); err != nil {
			failed++
			lastErr = err
			continue
		}
		ok++
	}
	elapsed := time.Since(start).Seconds()
	fmt.Printf("connections=%d errors=%d seconds=%.3f rate=%.0f\n", ok, failed, elapsed, float64(ok)/elapsed)
	if lastErr != nil {
		fmt.Fprintf(os.Stderr, "connbench: last error: %v\n", lastErr)
	}
	if *quit {
		if err := roundTrip(*addr, quitByte); err != nil {
			return fmt.Errorf("telling the server to quit: %w", err)
		}
	}
	if ok == 0 {
		return errors.New("no connection succeeded")
	}
	return nil
}

// roundTrip connects to addr, sends b, reads one byte back and closes.
func roundTrip(addr string, b byte) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte{b}); err != nil {
		return err
	}
	var got [1]byte
	if _, err := io.ReadFull(conn, got[:]); err != nil {
		return err
	}
	if got[0] != b {
		return fmt.Errorf("echo: got %q, want %q", got[0], b)
	}
	return nil
}
