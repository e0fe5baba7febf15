package test

// Command lines and environments of any size the kernel accepts reach the command: rkexec's own
// processes get their configs over pipes, not in environment variables (each limited to 128 KiB).
// Over the kernel's limit, the command's own execve fails, and the error says so.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const bigSize = 200 << 10 // over the 128 KiB of one environment variable

// bigArgs returns arguments of bigSize bytes in all, 1 KiB each.
func bigArgs() []string {
	args := make([]string, bigSize/1024)
	for i := range args {
		args[i] = fmt.Sprintf("%04d", i) + strings.Repeat("a", 1020)
	}
	return args
}

// bigEnv returns variables BIG_0000.. of bigSize bytes in all.
func bigEnv() []string {
	env := make([]string, bigSize/1024)
	for i := range env {
		env[i] = fmt.Sprintf("BIG_%04d=", i) + strings.Repeat("e", 1015)
	}
	return env
}

// countArgs is a command that prints its argument count and their total length.
var countArgs = []string{"sh", "-c", `n=0; for a in "$@"; do n=$((n + ${#a})); done; echo "$# $n"`, "sh"}

// countEnv is a command that prints how many BIG_ variables it has and the length of the last one.
var countEnv = []string{"sh", "-c", `env | grep -c '^BIG_'; printf %s "$BIG_0199" | wc -c`}

func TestLargeCommandLineReachesTheCommand(t *testing.T) {
	args := bigArgs()
	want := fmt.Sprintf("%d %d", len(args), bigSize)
	for _, flags := range [][]string{nil, {"--pidns"}, {"--pidns", "--utsns"}} {
		t.Run(strings.Join(append([]string{"run"}, flags...), " "), func(t *testing.T) {
			res := rkexec(t, append(append(flags, "--"), append(countArgs, args...)...)...)
			wantExit(t, res, 0)
			if got := strings.TrimSpace(res.Stdout); got != want {
				t.Errorf("the command saw %q arguments and bytes, want %q", got, want)
			}
		})
	}
	t.Run("exec", func(t *testing.T) {
		s := startSandbox(t, "bigargs", "--pidns")
		res := s.exec(t, append([]string{s.name, "--"}, append(countArgs, args...)...)...)
		wantExit(t, res, 0)
		if got := strings.TrimSpace(res.Stdout); got != want {
			t.Errorf("the command saw %q arguments and bytes, want %q", got, want)
		}
	})
}

func TestLargeEnvironmentReachesTheCommand(t *testing.T) {
	env := bigEnv()
	want := strconv.Itoa(len(env)) + "\n1015"
	for _, flags := range [][]string{nil, {"--pidns"}, {"--pidns", "--utsns"}} {
		t.Run(strings.Join(append([]string{"run"}, flags...), " "), func(t *testing.T) {
			res := rkexecOpts(t, runOpts{Env: env}, append(append(flags, "--"), countEnv...)...)
			wantExit(t, res, 0)
			if got := strings.TrimSpace(res.Stdout); got != want {
				t.Errorf("the command saw %q (count, length of the last), want %q", got, want)
			}
		})
	}
	t.Run("exec", func(t *testing.T) {
		s := startSandbox(t, "bigenv", "--pidns")
		opts := s.opts()
		opts.Env = env
		res := rkexecOpts(t, opts, append([]string{"exec", s.name, "--"}, countEnv...)...)
		wantExit(t, res, 0)
		if got := strings.TrimSpace(res.Stdout); got != want {
			t.Errorf("the command saw %q (count, length of the last), want %q", got, want)
		}
	})
}

// TestOverTheKernelsLimitNamesIt: a command line longer than execve accepts (6 MiB at most, 3/4 of
// the default stack limit), given in a --process file, fails at the command's own execve, with
// 126 and a one-line error that says "argument list too long", not a failure to join the sandbox.
func TestOverTheKernelsLimitNamesIt(t *testing.T) {
	s := startSandbox(t, "toobig")
	args := []string{"true"}
	for i := 0; i < 7<<10; i++ { // 7 MiB of 1 KiB arguments
		args = append(args, strings.Repeat("x", 1024))
	}
	b, err := json.Marshal(map[string]any{"args": args, "env": []string{"PATH=/usr/bin:/bin"}, "cwd": "/"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	res := s.exec(t, "--process", file, s.name)
	wantExit(t, res, 126)
	oneErrorLine(t, res, "argument list too long")
	for _, wrong := range []string{"namespace", "joining"} {
		if strings.Contains(res.Stderr, wrong) {
			t.Errorf("the error blames %q: %s", wrong, res.Stderr)
		}
	}
}
