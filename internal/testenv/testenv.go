// Package testenv tells the tests what the project's test set-up (scripts/setup-test-env.sh) made for
// them, so that no test names a user the set-up does not create: the test users' names come from
// scripts/test-users.env, through the variables scripts/test.sh exports or, when go test runs
// without it, from the file itself. It also holds the rule for a missing prerequisite: skip, except
// under CI=true, where it is a failure. And it opens the pipes and pseudo-terminals tests need (Pipe, OpenPty).
//
// It is for tests only; nothing in rkexec itself imports it.
package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	// UsersFile is the file, relative to the module root, that names the test users.
	UsersFile = "scripts/test-users.env"
	// SubidUserKey names the user with /etc/subuid and /etc/subgid ranges.
	SubidUserKey = "RKEXEC_TEST_USER"
	// NoSubidUserKey names the user without ranges.
	NoSubidUserKey = "RKEXEC_TEST_USER_NOSUBID"
)

// InCI reports whether the tests run in CI (CI=true), where a missing prerequisite fails.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing reports a missing prerequisite: t fails under CI=true and skips elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("missing prerequisite (CI=true, so not skipping): %s", msg)
	}
	t.Skipf("missing prerequisite: %s", msg)
}

// SubidUser returns the name of the test user with subordinate ids.
func SubidUser() (string, error) { return User(SubidUserKey) }

// NoSubidUser returns the name of the test user without subordinate ids.
func NoSubidUser() (string, error) { return User(NoSubidUserKey) }

// User returns the test user named by key: the environment's value, else UsersFile's.
func User(key string) (string, error) {
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("%s is not set and %s cannot be found: %w", key, UsersFile, err)
	}
	path := filepath.Join(root, UsersFile)
	values, err := ReadUsersFile(path)
	if err != nil {
		return "", err
	}
	v, ok := values[key]
	if !ok || v == "" {
		return "", fmt.Errorf("%s names no %s", path, key)
	}
	return v, nil
}

// ReadUsersFile parses a KEY=value file (comments and blank lines allowed).
func ReadUsersFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(value, " \t'\"$`") {
			return nil, fmt.Errorf("%s:%d: want KEY=value with a plain value, got %q", path, n, line)
		}
		out[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// ModuleRoot is the nearest directory above the working directory (go test runs a test in its
// package's directory) that holds go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = up
	}
}
