package portspec

import (
	"errors"
	"testing"

	"github.com/rootless-containers/rootlesskit/v2/pkg/port"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]port.Spec{
		"127.0.0.1:8080:80/tcp":            {Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildPort: 80},
		"0.0.0.0:53:53/udp4":               {Proto: "udp4", ParentIP: "0.0.0.0", ParentPort: 53, ChildPort: 53},
		"[::1]:8080:80/tcp6":               {Proto: "tcp6", ParentIP: "::1", ParentPort: 8080, ChildPort: 80},
		"[::1]:8080:127.0.0.1:80/tcp":      {Proto: "tcp", ParentIP: "::1", ParentPort: 8080, ChildIP: "127.0.0.1", ChildPort: 80},
		"127.0.0.1:8080:[::1]:80/tcp":      {Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildIP: "::1", ChildPort: 80},
		"127.0.0.1:8080:10.0.2.100:80/udp": {Proto: "udp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildIP: "10.0.2.100", ChildPort: 80},
		":8080:80/tcp":                     {Proto: "tcp", ParentPort: 8080, ChildPort: 80},
		"[::]:65535:[::1]:1/udp6":          {Proto: "udp6", ParentIP: "::", ParentPort: 65535, ChildIP: "::1", ChildPort: 1},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
			continue
		}
		if again, err := Parse(String(got)); err != nil || again != got {
			t.Errorf("String(%q) = %q does not parse back: %+v %v", in, String(got), again, err)
		}
	}
	for _, in := range []string{"", "8080", "8080:80", "127.0.0.1:8080:80", "127.0.0.1:8080:80/sctp",
		"127.0.0.1:8080:80/icmp", "127.0.0.1:0:80/tcp", "127.0.0.1:8080:0/tcp", "127.0.0.1:65536:80/tcp",
		"127.0.0.1:-1:80/tcp", "localhost:8080:80/tcp", "[::1]:8080:80/tcp4", "127.0.0.1:8080:80/udp6",
		"1.2.3.4.5:1:1/tcp", "127.0.0.1:x:80/tcp", "127.0.0.1:8080:80/tcp,127.0.0.1:8081:81/tcp"} {
		if got, err := Parse(in); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: accepted as %+v (%v)", in, got, err)
		}
	}
}

func TestConflict(t *testing.T) {
	have := []port.Status{{ID: 3, Spec: port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildPort: 80}}}
	if err := Conflict(port.Spec{Proto: "tcp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildPort: 81}, have); !errors.Is(err, ErrConflict) {
		t.Errorf("same host address: %v", err)
	}
	if err := Conflict(port.Spec{Proto: "udp", ParentIP: "127.0.0.1", ParentPort: 8080, ChildPort: 80}, have); err != nil {
		t.Errorf("other proto: %v", err)
	}
	if err := Conflict(port.Spec{Proto: "tcp", ParentIP: "127.0.0.2", ParentPort: 8080, ChildPort: 80}, have); err != nil {
		t.Errorf("other address: %v", err)
	}
}

func TestIndex(t *testing.T) {
	ports := []port.Status{{ID: 3}, {ID: 7}}
	if i, err := Index(ports, 7); err != nil || i != 1 {
		t.Errorf("Index(7) = %d, %v; want 1", i, err)
	}
	if _, err := Index(ports, 4); !errors.Is(err, ErrNotFound) {
		t.Errorf("Index(4) error %v, want ErrNotFound", err)
	}
}
