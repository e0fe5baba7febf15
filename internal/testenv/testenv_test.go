package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUsersFileNamesBothUsers reads the real file: a rename there must keep both keys.
func TestUsersFileNamesBothUsers(t *testing.T) {
	for _, key := range []string{SubidUserKey, NoSubidUserKey} {
		t.Setenv(key, "")
		name, err := User(key)
		if err != nil {
			t.Fatal(err)
		}
		if name == "" {
			t.Fatalf("%s is empty", key)
		}
	}
	a, _ := SubidUser()
	b, _ := NoSubidUser()
	if a == b {
		t.Fatalf("both test users are %q: the tests need two different users", a)
	}
}

func TestEnvironmentWins(t *testing.T) {
	t.Setenv(SubidUserKey, "someone-else")
	if got, err := SubidUser(); err != nil || got != "someone-else" {
		t.Fatalf("SubidUser() = %q, %v; want the environment's value", got, err)
	}
}

func TestReadUsersFileRejectsShell(t *testing.T) {
	for _, line := range []string{"A=$(id)", "A='x'", "noequals", "=v"} {
		path := filepath.Join(t.TempDir(), "users.env")
		if err := os.WriteFile(path, []byte("# c\n\n"+line+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadUsersFile(path); err == nil {
			t.Errorf("%q accepted", line)
		}
	}
}
