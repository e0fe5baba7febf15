package process

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

func TestParseCap(t *testing.T) {
	for in, want := range map[string]string{"CAP_NET_ADMIN": "CAP_NET_ADMIN", "net_admin": "CAP_NET_ADMIN", "SYS_ADMIN": "CAP_SYS_ADMIN", "cap_chown": "CAP_CHOWN"} {
		got, err := ParseCap(in)
		if err != nil || got != want {
			t.Errorf("ParseCap(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseCap("CAP_FLY"); err == nil {
		t.Error("CAP_FLY accepted")
	}
}

func TestCapsOf(t *testing.T) {
	caps, err := capsOf([]string{"CAP_CHOWN", "net_bind_service", "CAP_CHECKPOINT_RESTORE"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []capability.Cap{0, 10, 40}; !slices.Equal(caps, want) {
		t.Fatalf("capsOf = %v, want %v", caps, want)
	}
	if _, err := capsOf([]string{"CAP_KILL", "CAP_FLY"}); err == nil {
		t.Fatal("CAP_FLY accepted")
	}
}

func TestMovePreserved(t *testing.T) {
	// Runs in a child process: it renumbers fds of the test binary.
	if os.Getenv("RKEXEC_TEST_MOVE_PRESERVED") == "1" {
		// fd 3 is free (closed by the parent's layout), 4 and 5 are the files.
		if err := MovePreserved(4, 2); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		for fd, want := range map[int]string{3: "a", 4: "b"} {
			b := make([]byte, 1)
			if _, err := unix.Pread(fd, b, 0); err != nil || string(b) != want {
				fmt.Printf("fd %d: %q, %v; want %q\n", fd, b, err, want)
				os.Exit(1)
			}
		}
		if _, err := unix.FcntlInt(5, unix.F_GETFD, 0); err == nil {
			fmt.Println("fd 5 still open")
			os.Exit(1)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	var files []*os.File
	for _, name := range []string{"a", "b"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMovePreserved$")
	cmd.Env = append(os.Environ(), "RKEXEC_TEST_MOVE_PRESERVED=1")
	// fd 3 is a placeholder the child "closed": /dev/null, which MovePreserved overwrites.
	cmd.ExtraFiles = append([]*os.File{devnull}, files...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
