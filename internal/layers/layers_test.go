// Package layers checks the project's import rules (README, Layout): only
// reactor/ and the programs under cmd/ import gnet, and what a protocol
// author uses (protocol, linereceiver, timeout, deferred, clock) and the
// FTP packages built on them never link the reactor or gnet.
package layers

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

const module = "github.com/gnetftp/gnetftp"

// imports maps each package directory (relative to the repository root) to
// the module packages and gnet packages its non-test files import; gnetAny
// lists every directory with any file (tests included) importing gnet.
func imports(t *testing.T) (deps map[string][]string, gnetAny map[string]bool) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	deps, gnetAny = map[string][]string{}, map[string]bool{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// third_party holds forks of other modules (gnet), not packages
		// of ours: their imports follow their own rules.
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "third_party" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, _ := filepath.Rel(root, filepath.Dir(p))
		dir = filepath.ToSlash(dir)
		test := strings.HasSuffix(p, "_test.go")
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(path, "github.com/panjf2000/gnet") {
				gnetAny[dir] = true
			}
			if test {
				continue
			}
			switch {
			case strings.HasPrefix(path, module+"/"):
				deps[dir] = append(deps[dir], strings.TrimPrefix(path, module+"/"))
			case strings.HasPrefix(path, "github.com/panjf2000/gnet"):
				deps[dir] = append(deps[dir], "gnet")
			}
		}
		if _, ok := deps[dir]; !ok {
			deps[dir] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return deps, gnetAny
}

func TestOnlyReactorAndProgramsImportGnet(t *testing.T) {
	_, gnetAny := imports(t)
	for dir := range gnetAny {
		if dir != "reactor" && !strings.HasPrefix(dir, "cmd/") {
			t.Errorf("%s imports gnet: only reactor/ and cmd/* may", dir)
		}
	}
}

func TestProtocolLayersDoNotLinkTheReactor(t *testing.T) {
	deps, _ := imports(t)
	var reach func(dir string, seen map[string]bool)
	reach = func(dir string, seen map[string]bool) {
		for _, d := range deps[dir] {
			if !seen[d] {
				seen[d] = true
				reach(d, seen)
			}
		}
	}
	for dir := range deps {
		author := dir == "protocol" || dir == "linereceiver" || dir == "timeout" || dir == "deferred" || dir == "clock" ||
			strings.HasPrefix(dir, "protocol/") || strings.HasPrefix(dir, "linereceiver/") ||
			dir == "ftp" || (strings.HasPrefix(dir, "ftp/") && dir != "ftp/e2e")
		if !author {
			continue
		}
		seen := map[string]bool{}
		reach(dir, seen)
		for _, bad := range []string{"reactor", "gnet"} {
			if seen[bad] {
				t.Errorf("%s links %s", dir, bad)
			}
		}
	}
}
