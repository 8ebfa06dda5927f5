package ftp_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// confined is a factory with the server's own defaults (no fixture
// opt-outs): alice has no home in the users file, root has "/", and
// anonymous is on.
func confined(t *testing.T) (*ftp.Factory, string) {
	t.Helper()
	root := t.TempDir()
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(users, "alice", "secret", bcrypt.MinCost))
	require.NoError(t, auth.SetPassword(users, "bob", "secret", bcrypt.MinCost))
	require.NoError(t, auth.SetPassword(users, "admin", "secret", bcrypt.MinCost))
	require.NoError(t, auth.SetHome(users, "admin", "/"))
	uf, err := auth.LoadUsersFile(users, auth.Config{})
	require.NoError(t, err)
	f, err := ftp.NewFactory(ftp.Config{Root: root, Users: uf, AllowAnonymous: true, Logger: ftptest.Logger()})
	require.NoError(t, err)
	t.Cleanup(f.StopFactory)
	return f, root
}

func loginAs(t *testing.T, f *ftp.Factory, root, user, pass string) *pi {
	t.Helper()
	h := connectPI(t, f, root)
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	h.cmd("USER " + user)
	require.Regexp(t, `^230`, h.cmd("PASS "+pass))
	return h
}

// A user without a home in the users file is confined to <root>/<name>
// (created on the first login): another user's home and the rest of the
// root are out of reach. Only a user configured with "/" has the root.
func TestUsersAreConfinedToTheirOwnHome(t *testing.T) {
	f, root := confined(t)
	writeFile(t, root, "secret.txt", "root's")
	writeFile(t, root, "bob/bob.txt", "bob's")

	alice := loginAs(t, f, root, "alice", "secret")
	assert.DirExists(t, filepath.Join(root, "alice"), "the home is created on first login")
	data := alice.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", alice.cmd("LIST"))
	assert.Empty(t, readAll(t, data), "a new home is empty")
	assert.Equal(t, "226 Transfer Complete.", alice.next())
	assert.Equal(t, "550 /secret.txt: No such file or directory.", alice.cmd("DELE /secret.txt"))
	assert.Equal(t, "550 ../bob: No such file or directory.", alice.cmd("CWD ../bob"))
	assert.Equal(t, `257 "/made" created`, alice.cmd("MKD made"))
	assert.DirExists(t, filepath.Join(root, "alice", "made"), "alice writes in her home")
	assert.NoDirExists(t, filepath.Join(root, "made"))

	admin := loginAs(t, f, root, "admin", "secret")
	assert.Equal(t, "213 6", admin.cmd("SIZE secret.txt"), "home / is the whole root")
	assert.Equal(t, "213 5", admin.cmd("SIZE bob/bob.txt"))
}

// Anonymous sees only <root>/pub (read-only), never the users' homes, and
// only files readable by everyone (vsftpd's anon_world_readable_only).
func TestAnonymousSeesOnlyPubAndWorldReadableFiles(t *testing.T) {
	f, root := confined(t)
	writeFile(t, root, "alice/private.txt", "alice's")
	writeFile(t, root, "pub/open.txt", "for all")
	writeFile(t, root, "pub/closed.txt", "owner only")
	require.NoError(t, os.Chmod(filepath.Join(root, "pub/closed.txt"), 0o640))

	anon := loginAs(t, f, root, "anonymous", "guest@")
	assert.Equal(t, "550 /alice/private.txt: No such file or directory.", anon.cmd("SIZE /alice/private.txt"))
	assert.Equal(t, "550 ../alice: No such file or directory.", anon.cmd("CWD ../alice"))
	data := anon.pasv()
	assert.Equal(t, "150 File status okay; about to open data connection.", anon.cmd("RETR open.txt"))
	assert.Equal(t, "for all", readAll(t, data))
	assert.Equal(t, "226 Transfer Complete.", anon.next())
	anon.pasv()
	assert.Equal(t, "550 closed.txt: Permission denied.", anon.cmd("RETR closed.txt"))
	assert.Equal(t, "550 x: Permission denied.", anon.cmd("MKD x"))
}
