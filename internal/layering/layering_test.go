package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/rkexec/rkexec/internal/testenv"
)

const module = "github.com/rkexec/rkexec/"

// rolePackages are the packages of the roles, by role; each may import none of the others.
var rolePackages = map[string]string{
	module + "pkg/parent":      "parent",
	module + "pkg/child":       "child",
	module + "pkg/sandboxinit": "init",
	module + "pkg/enter":       "exec",
}

type goPackage struct {
	ImportPath string
	Imports    []string
}

// TestRolesMeetOnlyOnTheWire lists every package of the module with `go list` and fails for each
// role package that reaches another role's package, printing the chain of imports.
func TestRolesMeetOnlyOnTheWire(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Missing(t, "the go command: %v", err)
		return
	}
	out, err := exec.Command(goTool, "list", "-deps", "-json", module+"...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	imports, err := parseList(out)
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range rolePackages {
		if _, ok := imports[pkg]; !ok {
			t.Errorf("role package %s is not in the module any more: update rolePackages", pkg)
		}
	}
	for _, v := range violations(imports) {
		t.Error(v)
	}
}

// TestViolationsFindsAnIndirectImport proves the check can fail: a role reaching another through a
// shared package is reported with the whole chain.
func TestViolationsFindsAnIndirectImport(t *testing.T) {
	imports := map[string][]string{
		module + "pkg/parent":      {module + "pkg/wire", module + "pkg/helper"},
		module + "pkg/helper":      {module + "pkg/child"},
		module + "pkg/child":       {module + "pkg/wire"},
		module + "pkg/wire":        nil,
		module + "pkg/sandboxinit": {module + "pkg/wire"},
		module + "pkg/enter":       {module + "pkg/wire"},
	}
	got := violations(imports)
	want := "the parent role (pkg/parent) imports the child role (pkg/child): pkg/parent -> pkg/helper -> pkg/child"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("violations %q, want [%q]", got, want)
	}
}

func parseList(out []byte) (map[string][]string, error) {
	imports := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return imports, nil
		} else if err != nil {
			return nil, err
		}
		if strings.HasPrefix(p.ImportPath, module) {
			imports[p.ImportPath] = p.Imports
		}
	}
}

// violations returns one line per role package that reaches another role's package.
func violations(imports map[string][]string) []string {
	var out []string
	roles := make([]string, 0, len(rolePackages))
	for pkg := range rolePackages {
		roles = append(roles, pkg)
	}
	sort.Strings(roles)
	for _, from := range roles {
		// Breadth first, so the chain printed is a shortest one.
		prev := map[string]string{from: ""}
		queue := []string{from}
		for len(queue) > 0 {
			pkg := queue[0]
			queue = queue[1:]
			if role, ok := rolePackages[pkg]; ok && pkg != from {
				out = append(out, "the "+rolePackages[from]+" role ("+short(from)+") imports the "+role+" role ("+short(pkg)+"): "+chain(prev, pkg))
				continue // one report per reached role package
			}
			for _, imp := range imports[pkg] {
				if _, seen := prev[imp]; !seen && strings.HasPrefix(imp, module) {
					prev[imp] = pkg
					queue = append(queue, imp)
				}
			}
		}
	}
	return out
}

func chain(prev map[string]string, pkg string) string {
	var parts []string
	for p := pkg; p != ""; p = prev[p] {
		parts = append([]string{short(p)}, parts...)
	}
	return strings.Join(parts, " -> ")
}

func short(pkg string) string { return strings.TrimPrefix(pkg, module) }
