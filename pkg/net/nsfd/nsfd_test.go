package nsfd

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSendRecv(t *testing.T) {
	p, c, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	if err := Send(c, "/proc/self/ns/net"); err != nil {
		t.Fatal(err)
	}
	f, err := Recv(p, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got, want unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &got); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/ns/net", &want); err != nil {
		t.Fatal(err)
	}
	if got.Ino != want.Ino || got.Dev != want.Dev {
		t.Fatalf("received another file than the namespace")
	}
}

func TestRecvWhenThePeerCloses(t *testing.T) {
	p, c, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if f, err := Recv(p, 5*time.Second); err == nil {
		f.Close()
		t.Fatal("received a namespace from a closed socket")
	}
}

func TestRecvTimeout(t *testing.T) {
	p, c, err := SocketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	begin := time.Now()
	if _, err := Recv(p, 100*time.Millisecond); err == nil || time.Since(begin) > 5*time.Second {
		t.Fatalf("no timeout: %v after %s", err, time.Since(begin))
	}
}
