package ftpbench_test

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/ftpbench"
	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftptls"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/testcert"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// server runs this project's FTP server with an anonymous root holding a
// 1 MiB file, a 4 KiB file and a directory of 200 entries.
func server(t *testing.T) (string, string) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "big.bin"), make([]byte, 1<<20), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "small.bin"), make([]byte, 4096), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "dir"), 0o755))
	for i := 0; i < 200; i++ {
		require.NoError(t, os.WriteFile(filepath.Join(root, "dir", string(rune('a'+i%26))+string(rune('a'+i/26))), nil, 0o644))
	}
	f, _ := ftptest.Factory(t, func(c *ftp.Config) { c.Root = root })
	return ftptest.Serve(t, f, "127.0.0.1:0").String(), root
}

func TestScenariosAgainstTheServer(t *testing.T) {
	addr, root := server(t)
	ru := ftpbench.NewRunner(ftpbench.Config{Addr: addr, Timeout: 20 * time.Second})
	defer ru.Close()
	ctx := context.Background()

	var during ftpbench.IdleResult
	res := ru.Idle(ctx, 300, 64, nil, func(r ftpbench.IdleResult) { during = r })
	assert.Equal(t, 300, res.LoggedIn, res.FirstError)
	assert.Equal(t, during, res)

	logins := ru.Logins(ctx, 4, 40, time.Minute, nil)
	assert.Zero(t, logins.Errors, logins.FirstErr)
	assert.GreaterOrEqual(t, logins.Ops, 40)

	small := ru.Transfers(ctx, "small", 4, 100, time.Minute, "RETR small.bin", 0, nil)
	assert.Zero(t, small.Errors, small.FirstErr)
	assert.GreaterOrEqual(t, small.Ops, 100)
	assert.Equal(t, int64(small.Ops)*4096, small.Bytes, "every transfer moved the whole file")

	retr := ru.Transfers(ctx, "retr", 2, 2, time.Minute, "RETR big.bin", 0, nil)
	assert.Zero(t, retr.Errors, retr.FirstErr)
	assert.Equal(t, int64(retr.Ops)<<20, retr.Bytes)

	list := ru.Transfers(ctx, "list", 1, 3, time.Minute, "LIST dir", 0, nil)
	assert.Zero(t, list.Errors, list.FirstErr)
	assert.Positive(t, list.Bytes)
	assert.Positive(t, list.Latency.First, "the first (cold) LIST is kept apart")

	lat := ru.Latency(ctx, 4, 2, time.Second, "big.bin", nil, nil)
	assert.Zero(t, lat.Errors)
	assert.Positive(t, lat.NOOP.N)
	assert.Positive(t, lat.Bulk_.Ops+lat.Bulk_.Errors, "bulk transfers ran meanwhile")

	mbps, err := ftpbench.LoopbackLimit(filepath.Join(root, "big.bin"))
	require.NoError(t, err)
	assert.Positive(t, mbps)

}

func TestStorNeedsWriteAccess(t *testing.T) {
	addr, _ := server(t)
	ru := ftpbench.NewRunner(ftpbench.Config{Addr: addr, Timeout: 20 * time.Second})
	defer ru.Close()
	stor := ru.Transfers(context.Background(), "stor", 1, 1, time.Minute, "STOR x.bin", 1<<20, nil)
	assert.Equal(t, 1, stor.Errors, "anonymous users cannot upload")
	assert.Contains(t, stor.FirstErr, "550")
}

// TestTLSScenariosAgainstTheServer runs the scenarios with Config.TLS
// against this project's server with FTPS, which requires every PROT P
// data connection to resume its own control connection's session (522
// otherwise): idle sessions (AUTH TLS, login, PBSZ, PROT P), logins,
// downloads and an upload, all TLS 1.3.
func TestTLSScenariosAgainstTheServer(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "big.bin"), make([]byte, 1<<20), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "small.bin"), make([]byte, 4096), 0o644))
	certFile, keyFile, err := testcert.MustNew().WriteFiles(t.TempDir())
	require.NoError(t, err)
	certs, err := ftptls.LoadCerts(certFile, keyFile)
	require.NoError(t, err)
	f, _ := ftptest.Factory(t, func(c *ftp.Config) { c.Root = root; c.TLS = ftptls.NewServer(certs) })
	addr := ftptest.Serve(t, f, "127.0.0.1:0").String()
	ru := ftpbench.NewRunner(ftpbench.Config{Addr: addr, User: ftptest.User, Pass: ftptest.Password, Timeout: 20 * time.Second,
		TLS: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}})
	defer ru.Close()
	ctx := context.Background()

	res := ru.Idle(ctx, 50, 16, nil, nil)
	assert.Equal(t, 50, res.LoggedIn, res.FirstError)
	assert.Equal(t, "TLS 1.3 TLS_AES_128_GCM_SHA256 X25519MLKEM768", res.TLS, "Go's default key exchange between Go client and server")

	logins := ru.Logins(ctx, 4, 20, time.Minute, nil)
	assert.Zero(t, logins.Errors, logins.FirstErr)
	assert.GreaterOrEqual(t, logins.Ops, 20)

	small := ru.Transfers(ctx, "small", 4, 40, time.Minute, "RETR small.bin", 0, nil)
	assert.Zero(t, small.Errors, small.FirstErr)
	assert.Equal(t, int64(small.Ops)*4096, small.Bytes, "every PROT P transfer resumed and moved the whole file")

	retr := ru.Transfers(ctx, "retr", 1, 1, time.Minute, "RETR big.bin", 0, nil)
	assert.Zero(t, retr.Errors, retr.FirstErr)
	assert.Equal(t, int64(1<<20), retr.Bytes)

	stor := ru.Transfers(ctx, "stor", 1, 1, time.Minute, "STOR up.bin", 1<<20, nil)
	assert.Zero(t, stor.Errors, stor.FirstErr)
	st, err := os.Stat(filepath.Join(root, "up.bin"))
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20), st.Size(), "the upload is on disk")

	lat := ru.Latency(ctx, 2, 1, time.Second, "big.bin", nil, nil)
	assert.Zero(t, lat.Errors, lat.FirstErr)
	assert.Positive(t, lat.NOOP.N, "the prober logs in over TLS")
}
