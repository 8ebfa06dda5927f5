package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
)

func TestRealmHomes(t *testing.T) {
	root := t.TempDir()
	r, err := local.NewRealm(local.RealmConfig{Root: root})
	require.NoError(t, err)
	defer r.Close()
	for _, c := range []struct {
		login shell.Login
		dir   string
	}{
		{shell.Login{User: "alice"}, "alice"},
		{shell.Login{User: "bob", Home: "/"}, ""},
		{shell.Login{User: "carol", Home: "shared/team"}, "shared/team"},
		{shell.Login{User: "dave", Home: "../../etc"}, "etc"}, // never above the root
	} {
		sh, err := r.Shell(c.login)
		require.NoError(t, err, c.login)
		require.NoError(t, sh.MakeDirectory("/mark-"+c.login.User))
		assert.DirExists(t, filepath.Join(root, c.dir, "mark-"+c.login.User), c.login)
		again, ok := r.ReadyShell(c.login)
		assert.True(t, ok, "opened once, then ready without blocking")
		assert.Same(t, sh, again)
	}
	for _, bad := range []string{"", ".", "..", "a/b"} {
		_, err := r.Shell(shell.Login{User: bad})
		assert.Error(t, err, "user %q cannot name a home", bad)
	}
	_, err = r.Shell(shell.Login{User: "anonymous", Anonymous: true})
	assert.ErrorIs(t, err, local.ErrNoAnonymous, "no anonymous root: no anonymous logins")
	require.NoError(t, r.Close())
	_, err = r.Shell(shell.Login{User: "alice"})
	assert.ErrorIs(t, err, local.ErrRealmClosed)
}

func TestRealmAnonymousIsReadOnlyAndWorldReadableOnly(t *testing.T) {
	root := t.TempDir()
	pub := filepath.Join(root, "pub")
	r, err := local.NewRealm(local.RealmConfig{Root: root, AnonymousRoot: pub})
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, os.WriteFile(filepath.Join(pub, "open"), []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(pub, "closed"), []byte("x"), 0o600))
	sh, ok := r.ReadyShell(shell.Login{User: "ftp", Anonymous: true})
	require.True(t, ok)
	assert.True(t, shell.IsReadOnly(sh))
	f, err := sh.OpenForReading("/open", 0)
	require.NoError(t, err)
	f.Close()
	_, err = sh.OpenForReading("/closed", 0)
	assert.ErrorIs(t, err, os.ErrPermission)
}

// A home that is a symlink pointing out of the root is refused: the home
// is opened through the realm's os.Root.
func TestRealmRefusesAHomeThatLeavesTheRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "mallory")))
	r, err := local.NewRealm(local.RealmConfig{Root: root})
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Shell(shell.Login{User: "mallory"})
	assert.Error(t, err)
	_, err = r.Shell(shell.Login{User: "x", Home: "mallory/sub"})
	assert.Error(t, err)
	entries, _ := os.ReadDir(outside)
	assert.Empty(t, entries, "nothing was created outside")
}
