package shell_test

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/shelltest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func newLocal(t *testing.T) (shell.Shell, string) {
	dir := t.TempDir()
	l, err := shell.NewLocal(dir)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, dir
}

func TestLocalConformance(t *testing.T) { shelltest.Run(t, newLocal) }

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
	}
	for _, c := range cases {
		got, err := shell.Resolve(c.cwd, c.arg)
		require.NoError(t, err, c)
		assert.Equal(t, c.want, got, c)
	}
	for _, bad := range []struct{ cwd, arg string }{{"/", ".."}, {"/a", "../../b"}, {"/", "/.."}, {"/", "a\x00b"}} {
		_, err := shell.Resolve(bad.cwd, bad.arg)
		assert.ErrorIs(t, err, shell.ErrInvalidPath, bad)
	}
}

// The zero-copy paths depend on types: RETR hands a *os.File to io.Copy
// (sendfile), STOR copies into a writer that is an io.ReaderFrom (splice).
func TestLocalKeepsTheZeroCopyTypes(t *testing.T) {
	sh, _ := newLocal(t)
	w, err := sh.OpenForWriting("/f", 0, false)
	require.NoError(t, err)
	_, ok := w.(io.ReaderFrom)
	assert.True(t, ok, "upload writer implements io.ReaderFrom (splice from *net.TCPConn)")
	require.NoError(t, w.Commit())
	r, err := sh.OpenForReading("/f", 0)
	require.NoError(t, err)
	defer r.Close()
	_, isFile := r.(interface{ Fd() uintptr })
	assert.True(t, isFile, "reads are an *os.File (sendfile into *net.TCPConn)")
	var _ io.ReaderFrom = (*net.TCPConn)(nil)
}
