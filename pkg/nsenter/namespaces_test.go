//go:build linux

package nsenter

import (
	"os"
	"testing"
)

// TestNamespaceTypesAreProcNames: every exported namespace type names a /proc/PID/ns entry (the
// callers open /proc/PID/ns/TYPE), once, and the list is the one stage 1 joins in, user first.
func TestNamespaceTypesAreProcNames(t *testing.T) {
	names := NamespaceTypes()
	if len(names) != len(nsTypes()) || names[0] != "user" {
		t.Fatalf("NamespaceTypes() = %q: not nsTypes' list, user first", names)
	}
	seen := map[string]bool{}
	for i, n := range names {
		if n != nsTypes()[i].name || seen[n] {
			t.Errorf("NamespaceTypes()[%d] = %q: not nsTypes' or repeated", i, n)
		}
		seen[n] = true
		if _, err := os.Lstat("/proc/self/ns/" + n); err != nil {
			t.Errorf("namespace type %q: %v", n, err)
		}
	}
}
