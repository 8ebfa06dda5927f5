package ftp_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/ftp/shell/local"
)

func TestSiteHelp(t *testing.T) {
	h := newPI(t, nil)
	require.Equal(t, "220 gnetftp FTP server ready.", h.next())
	assert.Equal(t, "530 Please login with USER and PASS.", h.cmd("SITE HELP"))
	h.cmd("USER alice")
	h.cmd("PASS secret")
	list := h.cmd("SITE HELP")
	assert.Regexp(t, `^214-The following SITE commands are recognized:\n SITE CHMOD <mode> <path>: .*\n SITE HELP .*\n SITE UTIME .*\n214 Help OK\.$`, list)
	assert.Equal(t, list, h.cmd("HELP SITE"), "HELP SITE lists the SITE commands")
	assert.Equal(t, list, h.cmd("site help"))
	assert.Regexp(t, `^214 SITE CHMOD <mode> <path>: `, h.cmd("SITE HELP chmod"))
	assert.Regexp(t, `^214 SITE UTIME `, h.cmd("HELP SITE UTIME"))
	assert.Equal(t, "501 Unknown SITE command NOPE.", h.cmd("SITE HELP NOPE"))
	assert.Equal(t, "500 Unknown SITE command 'FROB' (SITE HELP lists them).", h.cmd("SITE FROB x"))
	assert.Equal(t, "501 Syntax error: SITE requires an argument.", h.cmd("SITE"))
}

func TestSiteChmod(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f.txt", "x")
	writeFile(t, h.root, "my file.txt", "x")
	require.NoError(t, os.Mkdir(filepath.Join(h.root, "d"), 0o755))
	mode := func(name string) fs.FileMode {
		fi, err := os.Stat(filepath.Join(h.root, name))
		require.NoError(t, err)
		return fi.Mode()
	}
	assert.Equal(t, "200 SITE CHMOD command ok.", h.cmd("SITE CHMOD 600 f.txt"))
	assert.Equal(t, fs.FileMode(0o600), mode("f.txt"))
	assert.Equal(t, "200 SITE CHMOD command ok.", h.cmd("site chmod 0640 /f.txt"))
	assert.Equal(t, fs.FileMode(0o640), mode("f.txt"))
	assert.Equal(t, "200 SITE CHMOD command ok.", h.cmd("SITE CHMOD 755 my file.txt"), "a path with a space")
	assert.Equal(t, fs.FileMode(0o755), mode("my file.txt"))
	assert.Equal(t, "200 SITE CHMOD command ok.", h.cmd("SITE CHMOD 1777 d"))
	assert.Equal(t, fs.ModeDir|fs.ModeSticky|0o777, mode("d"))
	assert.Equal(t, "550 f.txt: setuid and setgid bits are not allowed.", h.cmd("SITE CHMOD 4755 f.txt"))
	assert.Equal(t, "550 f.txt: setuid and setgid bits are not allowed.", h.cmd("SITE CHMOD 2755 f.txt"))
	assert.Equal(t, fs.FileMode(0o640), mode("f.txt"))
	for _, bad := range []string{"SITE CHMOD 644", "SITE CHMOD 9 f.txt", "SITE CHMOD rwx f.txt", "SITE CHMOD 17777 f.txt", "SITE CHMOD -1 f.txt"} {
		assert.Regexp(t, `^501 Syntax error: SITE CHMOD <octal mode> <path> `, h.cmd(bad), bad)
	}
	assert.Equal(t, "550 nope: No such file or directory.", h.cmd("SITE CHMOD 644 nope"))
	assert.Equal(t, "550 ../../x: No such file or directory.", h.cmd("SITE CHMOD 644 ../../x"))
}

func TestSiteUtime(t *testing.T) {
	h := newPI(t, nil)
	h.login()
	writeFile(t, h.root, "f.txt", "x")
	writeFile(t, h.root, "two words.txt", "x")
	mtime := func(name string) time.Time {
		fi, err := os.Stat(filepath.Join(h.root, name))
		require.NoError(t, err)
		return fi.ModTime().UTC()
	}
	for _, c := range []struct {
		cmd, file string
		want      time.Time
	}{
		{"SITE UTIME f.txt 20200102030405", "f.txt", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"SITE UTIME 20210102030405 f.txt", "f.txt", time.Date(2021, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"SITE UTIME 202201020304 f.txt", "f.txt", time.Date(2022, 1, 2, 3, 4, 0, 0, time.UTC)},
		{"SITE UTIME f.txt 20190101000000 20230405060708 20190101000000 UTC", "f.txt", time.Date(2023, 4, 5, 6, 7, 8, 0, time.UTC)},
		{"SITE UTIME two words.txt 20240102030405", "two words.txt", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"SITE UTIME two words.txt 20190101000000 20180405060708 20190101000000 UTC", "two words.txt", time.Date(2018, 4, 5, 6, 7, 8, 0, time.UTC)},
	} {
		assert.Equal(t, "200 SITE UTIME command ok.", h.cmd(c.cmd), c.cmd)
		assert.Equal(t, c.want, mtime(c.file), c.cmd)
	}
	for _, bad := range []string{"SITE UTIME f.txt", "SITE UTIME 20200102030405", "SITE UTIME f.txt 2020", "SITE UTIME f.txt 20201302030405",
		"SITE UTIME f\t20190101000000\t20180405060708\t20190101000000\tUTC"} {
		assert.Regexp(t, `^501 Syntax error: SITE UTIME `, h.cmd(bad), bad)
	}
	assert.Equal(t, "550 nope: No such file or directory.", h.cmd("SITE UTIME nope 20200102030405"))
	for _, odd := range []string{"SITE UTIME", "SITE UTIME  ", "SITE UTIME \t\t\t\t UTC", "SITE UTIME a b c d UTC",
		"SITE UTIME 20190101000000 20190101000000 20190101000000 UTC", "SITE CHMOD", "SITE CHMOD  ", "SITE \x00", "SITE HELP \xff"} {
		assert.NotRegexp(t, `^451`, h.cmd(odd), "%q", odd)
	}
}

// Anonymous users (a read-only shell) may change nothing; a shell
// without the capability answers 502.
func TestSiteChangesRefusedWhereTheShellCannot(t *testing.T) {
	h := newPI(t, func(c *ftp.Config) { c.AllowAnonymous = true })
	writeFile(t, h.root, "pub/f.txt", "x")
	h.loginAnonymous()
	assert.Equal(t, "550 f.txt: Permission denied.", h.cmd("SITE CHMOD 777 f.txt"))
	assert.Equal(t, "550 f.txt: Permission denied.", h.cmd("SITE UTIME f.txt 20200102030405"))
	fi, err := os.Stat(filepath.Join(h.root, "pub", "f.txt"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o644), fi.Mode())

	h2 := newPI(t, func(c *ftp.Config) {
		c.Realm = shell.RealmFunc(func(shell.Login) (shell.Shell, error) {
			l, err := local.New(c.Root)
			return listOnly{l}, err
		})
	})
	h2.login()
	assert.Equal(t, "502 SITE CHMOD not implemented for this filesystem.", h2.cmd("SITE CHMOD 644 f.txt"))
	assert.Equal(t, "502 SITE UTIME not implemented for this filesystem.", h2.cmd("SITE UTIME f.txt 20200102030405"))
}
