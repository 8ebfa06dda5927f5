package shell_test

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
	"github.com/gnetftp/gnetftp/ftp/shell/shelltest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func newLocal(t *testing.T) (shell.Shell, string) {
	dir := t.TempDir()
	l, err := local.New(dir)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func TestReadOnlyConformance(t *testing.T) {
	shelltest.RunReadOnly(t, func(t *testing.T) (shell.Shell, string) {
		l, dir := newLocal(t)
		return shell.ReadOnly(l), dir
	})
}

func TestResolve(t *testing.T) {
	cases := []struct{ cwd, arg, want string }{
		{"/", "a", "/a"},
		{"/a", "b/c", "/a/b/c"},
		{"/a/b", "..", "/a"},
		{"/a/b", "../../c", "/c"},
		{"/a", "/x/./y//z/", "/x/y/z"},
		{"/a", "", "/a"},
		{"/a", ".", "/a"},
		{"/a", "/", "/"},
		{"/", "a/b/../../c/./d/", "/c/d"},
		{"/a/../b", "c", "/b/c"},
		{"/", "...", "/..."},
		{"/", "a b/ c", "/a b/ c"},
	}
	for _, c := range cases {
		got, err := shell.Resolve(c.cwd, c.arg)
		require.NoError(t, err, c)
		assert.Equal(t, c.want, got, c)
	}
	for _, bad := range []struct{ cwd, arg string }{
		{"/", ".."}, {"/a", "../../b"}, {"/", "/.."}, {"/", "a\x00b"}, {"/a\x00", "b"},
		{"/a/../..", "b"}, {"/x", "/a/b/../../../c"}, {"/", "../etc/passwd"},
	} {
		_, err := shell.Resolve(bad.cwd, bad.arg)
		assert.ErrorIs(t, err, shell.ErrInvalidPath, bad)
	}
}

// FuzzResolve checks Resolve against path.Clean as an oracle: a path that
// climbs above "/" at any point (or holds a NUL) is ErrInvalidPath, any
// other is the cleaned absolute path. This is the rule that keeps every
// client name inside the served root.
//
//	go test -run '^$' -fuzz FuzzResolve ./ftp/shell
func FuzzResolve(f *testing.F) {
	f.Add("/a/b", "../../c")
	f.Add("/", "..")
	f.Add("/a/../..", "b")
	f.Add("a", "/x/./y//z/..")
	f.Add("/", "a\x00b")
	f.Fuzz(func(t *testing.T, cwd, arg string) {
		got, err := shell.Resolve(cwd, arg)
		joined := arg
		if !strings.HasPrefix(arg, "/") {
			joined = cwd + "/" + arg
		}
		c := path.Clean(strings.TrimLeft(joined, "/"))
		climbs := c == ".." || strings.HasPrefix(c, "../")
		if strings.ContainsRune(cwd+arg, 0) || climbs {
			if !errors.Is(err, shell.ErrInvalidPath) {
				t.Fatalf("Resolve(%q, %q) = %q, %v; want ErrInvalidPath", cwd, arg, got, err)
			}
			return
		}
		want := "/" + c
		if c == "." {
			want = "/"
		}
		if err != nil || got != want {
			t.Fatalf("Resolve(%q, %q) = %q, %v; want %q", cwd, arg, got, err, want)
		}
	})
}

// ReadOnly keeps NLST cheap: it passes ListNames through, or builds it
// from List for shells without it.
func TestReadOnlyListNames(t *testing.T) {
	l, dir := newLocal(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), nil, 0o644))
	for _, sh := range []shell.Shell{shell.ReadOnly(l), shell.ReadOnly(listOnly{l})} {
		nl, ok := sh.(shell.NameLister)
		require.True(t, ok)
		got, err := nl.ListNames("/")
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, got)
	}
}

// listOnly hides Local's NameLister.
type listOnly struct{ shell.Shell }
