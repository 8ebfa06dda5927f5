package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
	"github.com/jlaffaye/ftp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
	"github.com/gnetftp/gnetftp/internal/ftptest"
	"github.com/gnetftp/gnetftp/internal/pgtest"
	"github.com/gnetftp/gnetftp/internal/s3test"
)

// fleet3 is three real ftpd processes, node 1 on 127.0.0.1, node 2 on
// 127.0.0.2 and node 3 on 127.0.0.3, sharing one PostgreSQL database
// (--users postgres://…: users, bans) and one key prefix of the shared
// SeaweedFS bucket (--storage s3://…: each user's home is a prefix under
// it). Only the test's goroutine uses it.
type fleet3 struct {
	dsn    string
	srv    *s3test.Server
	c      *awss3.Client // straight to the store, to look at what the nodes left
	prefix string        // the storage prefix every node serves
	nodes  [3]*fleetNode // nodes[0] is node 1
	curl   string
	top    testing.TB // the whole test: a node restarted in a subtest outlives it
}

// outliving is a subtest's testing.TB whose cleanups and temporary
// directories belong to the whole test instead: failures are still the
// subtest's, on its goroutine.
type outliving struct {
	testing.TB
	top testing.TB
}

func (o outliving) Cleanup(fn func()) { o.top.Cleanup(fn) }
func (o outliving) TempDir() string   { return o.top.TempDir() }

// fleet3Pass is every fleet3 user's password.
const fleet3Pass = "secret"

// fleet3IP is node n's address (n from 1 to 3).
func fleet3IP(n int) string { return fmt.Sprintf("127.0.0.%d", n) }

// startFleet3 starts the three nodes on a fresh database and prefix.
func startFleet3(t *testing.T) *fleet3 {
	t.Helper()
	start := time.Now()
	f := &fleet3{curl: requireTool(t, "curl"), dsn: pgtest.DSN(t), srv: weed.Get(t), top: t}
	ftptest.Binary(t)
	t.Logf("PostgreSQL, SeaweedFS and the ftpd build ready: %v", time.Since(start).Round(time.Millisecond))
	c, err := f.srv.Client()
	require.NoError(t, err)
	t.Cleanup(func() { s3shell.CloseIdleConnections(c) })
	f.c, f.prefix = c, f.srv.Prefix("fleet3")
	start = time.Now()
	for n := 1; n <= 3; n++ {
		f.startNode(t, n, "")
	}
	t.Logf("three nodes serving: %v", time.Since(start).Round(time.Millisecond))
	return f
}

// startNode starts (or starts again) node n; query is added to its
// --storage URL. What a node needs: its own --listen address, the
// fleet's --users DSN and --storage URL, and the S3 credentials in its
// environment. The node's process lives until the whole test's end (or
// its Kill or Stop). Passive listeners bind the address the client reached,
// so the nodes need no passive ranges of their own here (on separate
// hosts behind a balancer: --public-host is the node's own address).
func (f *fleet3) startNode(t *testing.T, n int, query string) *fleetNode {
	t.Helper()
	ot := outliving{TB: t, top: f.top}
	args := []string{"--listen", fleet3IP(n) + ":0", "--root", ot.TempDir(), "--users", f.dsn,
		"--storage", f.srv.StorageURL(f.prefix) + query, "--ban-after", "3", "--login-timeout", "20s"}
	p := ftptest.Start(ot, func(cmd *exec.Cmd) { cmd.Env = append(os.Environ(), f.srv.Env()...) }, args...)
	f.nodes[n-1] = &fleetNode{p}
	return f.nodes[n-1]
}

// node is node n (1 to 3).
func (f *fleet3) node(n int) *fleetNode { return f.nodes[n-1] }

// userCmd runs the real `ftpd user ARGS --users DSN` (the CLI of any
// node: they share the database) with stdin, and returns its output.
func (f *fleet3) userCmd(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(ftptest.Binary(t), append(append([]string{"user"}, args...), "--users", f.dsn)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "ftpd user %s: %s", strings.Join(args, " "), out.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill() // only the process this test started
		<-done
		t.Fatalf("ftpd user %s: no answer in 60 s: %s", strings.Join(args, " "), out.String())
	}
	return out.String()
}

// addUser adds name (password fleet3Pass, home the prefix name) through
// the CLI; args are more flags (--quota 1MiB, --max-sessions 2, …).
func (f *fleet3) addUser(t *testing.T, name string, args ...string) {
	t.Helper()
	out := f.userCmd(t, fleet3Pass+"\n", append(append([]string{"add", "--cost", "4"}, args...), name)...)
	require.Contains(t, out, "every node sees the change")
}

// session logs user in on node n from the loopback address from, with
// jlaffaye/ftp; every connection it makes (control and data) is bound
// to from and has a deadline 3 minutes on, so nothing it does can hang.
func (f *fleet3) session(t *testing.T, n int, from, user string) *ftp.ServerConn {
	t.Helper()
	c, err := f.dial(n, from, user)
	require.NoError(t, err, "node %d", n)
	t.Cleanup(func() { _ = c.Quit() })
	return c
}

// dial is session for any goroutine: the caller quits the session; a
// refused login is an error (its text has the reply code).
func (f *fleet3) dial(n int, from, user string) (*ftp.ServerConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := ftp.Dial(f.node(n).Addr, ftp.DialWithDialFunc(func(network, addr string) (net.Conn, error) {
		conn, err := d.Dial(network, addr)
		if err == nil {
			_ = conn.SetDeadline(time.Now().Add(3 * time.Minute))
		}
		return conn, err
	}))
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, fleet3Pass); err != nil {
		_ = c.Quit()
		return nil, err
	}
	return c, nil
}

// objects are the sizes of the objects under user's home, by name (the
// home's marker, a key ending in "/", left out).
func (f *fleet3) objects(t *testing.T, user string) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]int64{}
	p := awss3.NewListObjectsV2Paginator(f.c, &awss3.ListObjectsV2Input{Bucket: aws.String(s3test.Bucket), Prefix: aws.String(f.key(user, ""))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		require.NoError(t, err)
		for _, o := range page.Contents {
			if name := strings.TrimPrefix(aws.ToString(o.Key), f.key(user, "")); name != "" && !strings.HasSuffix(name, "/") {
				out[name] = aws.ToInt64(o.Size)
			}
		}
	}
	return out
}

// url is ftp://user:pass@node n/path.
func (f *fleet3) url(n int, user, path string) string {
	return fmt.Sprintf("ftp://%s:%s@%s/%s", user, fleet3Pass, f.node(n).Addr, path)
}

// curlFrom runs curl from the loopback address from (control and data
// connections), bounded to 2 minutes.
func (f *fleet3) curlFrom(t *testing.T, from string, args ...string) string {
	t.Helper()
	return runTool(t, 2*time.Minute, f.curl, append([]string{"--silent", "--show-error", "--max-time", "110", "--interface", from}, args...)...)
}

// uploads are the multipart uploads in progress under user's home.
func (f *fleet3) uploads(t *testing.T, user string) []types.MultipartUpload {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := f.c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String(s3test.Bucket), Prefix: aws.String(f.key(user, ""))})
	require.NoError(t, err)
	return out.Uploads
}

// key is the bucket key of user's file name.
func (f *fleet3) key(user, name string) string { return f.prefix + "/" + user + "/" + name }

// object reads user's file name straight from the store.
func (f *fleet3) object(t *testing.T, user, name string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := f.c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(s3test.Bucket), Key: aws.String(f.key(user, name))})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// fleetSHA is the hex sha256 of b.
func fleetSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fleetRetrSHA downloads name through c and returns its sha256 and length.
func fleetRetrSHA(t *testing.T, c *ftp.ServerConn, name string) (string, int) {
	t.Helper()
	r, err := c.Retr(name)
	require.NoError(t, err, "RETR %s", name)
	h := sha256.New()
	n, err := io.Copy(h, r)
	require.NoError(t, err, "RETR %s", name)
	require.NoError(t, r.Close(), "RETR %s: the transfer's reply", name)
	return hex.EncodeToString(h.Sum(nil)), int(n)
}

// fleetList is LIST's names and sizes (jlaffaye/ftp asks MLSD).
func fleetList(t *testing.T, c *ftp.ServerConn) map[string]uint64 {
	t.Helper()
	entries, err := c.List("")
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, e := range entries {
		if e.Type == ftp.EntryTypeFile {
			out[e.Name] = e.Size
		}
	}
	return out
}

// fleetTemp writes b to a new file and returns its path.
func fleetTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// fleetLimitScenarios are the fleet-wide limits checked on the same three
// nodes, after the other scenarios (all three nodes up, the database
// back and listened to again): the hook for more of them. Each entry
// names the user it needs (name, then `ftpd user add` flags such as
// "--quota", "1MiB" or "--max-sessions", "2"; home: the prefix name),
// which the test adds before the fleet's first login: a login that
// overlaps a change to any user may run without its limits (see
// TestFleetLimitsHoldWhenAUserChangesDuringALogin), and these scenarios
// are about the limits across nodes, not that race. run drives the nodes
// with f.session, f.dial and f.curlFrom, from loopback addresses of its
// own (failed logins count towards bans fleet-wide).
var fleetLimitScenarios = []struct {
	name string
	user []string
	run  func(t *testing.T, f *fleet3)
}{
	{"QuotaFilledThroughTwoNodesAtOnce", []string{"quinn", "--quota", "3MiB"}, fleetQuotaThroughTwoNodes},
	{"MaxSessionsHoldAcrossTheFleet", []string{"max2", "--max-sessions", "2"}, fleetMaxSessions},
}

// fleetQuotaThroughTwoNodes: a user with a 3 MiB quota uploads 8 files
// of 700 KiB at once, half through node 1 and half through node 3: the
// objects in the bucket never pass the quota, each is whole, the uploads
// refused got 552; filled up in turns through both, 4 fit; a delete
// through node 2 makes room on node 3.
func fleetQuotaThroughTwoNodes(t *testing.T, f *fleet3) {
	const quota = 3 << 20 // quinn's
	data := randomBytes(t, 700<<10)
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := f.dial([]int{1, 3}[i%2], "127.0.0.51", "quinn")
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Quit()
			errs[i] = c.Stor(fmt.Sprintf("f%d.bin", i), bytes.NewReader(data))
		}()
	}
	wg.Wait()
	stored := 0
	for i, err := range errs {
		if err == nil {
			stored++
		} else {
			assert.Contains(t, err.Error(), "552", "upload %d: refused for the quota, nothing else", i)
		}
	}
	objs := f.objects(t, "quinn")
	var total int64
	for name, size := range objs {
		total += size
		assert.Equal(t, int64(len(data)), size, "%s: whole, never part of an upload", name)
	}
	assert.LessOrEqual(t, total, int64(quota), "the quota holds across the nodes")
	assert.Len(t, objs, stored, "what was refused left nothing in the bucket")
	assert.GreaterOrEqual(t, stored, 1)
	assert.Empty(t, f.uploads(t, "quinn"), "and no multipart upload")

	// What is left, in turns through nodes 1 and 3 (uploads at once may
	// be refused for room held by the others while they run).
	for i := 0; ; i++ {
		c, err := f.dial([]int{1, 3}[i%2], "127.0.0.51", "quinn")
		require.NoError(t, err)
		err = c.Stor(fmt.Sprintf("g%d.bin", i), bytes.NewReader(data))
		_ = c.Quit()
		if err != nil {
			assert.Contains(t, err.Error(), "552")
			break
		}
		require.Less(t, i, 8, "the quota must refuse at last")
	}
	objs = f.objects(t, "quinn")
	assert.Len(t, objs, 4, "4 x 700 KiB fit 3 MiB, a fifth does not")

	c2 := f.session(t, 2, "127.0.0.52", "quinn")
	var one string
	for name := range objs {
		one = name
		break
	}
	require.NotEmpty(t, one)
	require.NoError(t, c2.Delete(one), "DELE through node 2")
	c3 := f.session(t, 3, "127.0.0.53", "quinn")
	assert.NoError(t, c3.Stor("after-delete.bin", bytes.NewReader(data)), "the delete through node 2 made room on node 3")
	err := c3.Stor("over.bin", bytes.NewReader(data))
	require.Error(t, err, "full again")
	assert.Contains(t, err.Error(), "552")
	assert.Len(t, f.objects(t, "quinn"), 4)
}

// fleetMaxSessions: a user with --max-sessions 2 has a session on node 1
// and one on node 2; a third on node 3 (or node 1) gets 421; one logged
// out lets node 3 in.
func fleetMaxSessions(t *testing.T, f *fleet3) {
	a := f.session(t, 1, "127.0.0.55", "max2")
	b := f.session(t, 2, "127.0.0.55", "max2")
	for _, n := range []int{3, 1} {
		c, err := f.dial(n, "127.0.0.56", "max2")
		if err == nil {
			_ = c.Quit()
		}
		require.Error(t, err, "a third session, on node %d", n)
		assert.Contains(t, err.Error(), "421", "too many sessions: service not available")
	}
	_, err := b.List("")
	assert.NoError(t, err, "the sessions in are not disturbed")
	require.NoError(t, a.Quit())
	var c *ftp.ServerConn
	require.True(t, waitFor(15*time.Second, func() bool {
		c, err = f.dial(3, "127.0.0.57", "max2")
		return err == nil
	}), "node 1's logout lets a session in on node 3: %v", err)
	_ = c.Quit()
}

// Three ftpd nodes on one PostgreSQL database and one S3 bucket
// (SeaweedFS), as a fleet behind a balancer would be: a file uploaded
// through one is listed and downloaded byte for byte through the others;
// a ban earned on one is enforced by another; a user deleted through the
// CLI cannot log in anywhere a second later; a node killed mid-upload
// leaves the old object intact and the retry through another node wins;
// PostgreSQL stopped and started again: new logins get 421 meanwhile,
// sessions already in keep working, and logins come back by themselves.
func TestFleetOfThreeOnPostgresAndS3(t *testing.T) {
	began := time.Now()
	f := startFleet3(t)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		f.addUser(t, u)
	}
	for _, s := range fleetLimitScenarios {
		f.addUser(t, s.user[0], s.user[1:]...)
	}
	t.Logf("fleet of three up, users added: %v", time.Since(began).Round(time.Millisecond))
	phase := func(name string, fn func(t *testing.T)) {
		start := time.Now()
		t.Run(name, fn)
		t.Logf("%s: %v", name, time.Since(start).Round(time.Millisecond))
	}

	phase("UploadOnOneReadOnTheOthers", func(t *testing.T) {
		data := randomBytes(t, 12<<20+4321) // three parts of 5 MiB: a multipart upload
		src := fleetTemp(t, "shared.bin", data)
		f.curlFrom(t, "127.0.0.11", "-T", src, f.url(1, "alice", "shared.bin"))
		obj, err := f.object(t, "alice", "shared.bin")
		require.NoError(t, err)
		assert.Equal(t, fleetSHA(data), fleetSHA(obj), "in the bucket under alice's home prefix")

		c2 := f.session(t, 2, "127.0.0.12", "alice")
		assert.Equal(t, map[string]uint64{"shared.bin": uint64(len(data))}, fleetList(t, c2), "LIST through node 2")
		size, err := c2.FileSize("shared.bin")
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), size, "SIZE through node 2")
		got, n := fleetRetrSHA(t, c2, "shared.bin")
		assert.Equal(t, [2]any{fleetSHA(data), len(data)}, [2]any{got, n}, "RETR through node 2")

		listing := f.curlFrom(t, "127.0.0.13", f.url(3, "alice", ""))
		assert.Contains(t, listing, "shared.bin", "LIST through node 3 (curl)")
		assert.Contains(t, listing, fmt.Sprint(len(data)), "with its size")
		dl := filepath.Join(t.TempDir(), "dl.bin")
		f.curlFrom(t, "127.0.0.13", "-o", dl, f.url(3, "alice", "shared.bin"))
		b, err := os.ReadFile(dl)
		require.NoError(t, err)
		assert.Equal(t, fleetSHA(data), fleetSHA(b), "RETR through node 3 (curl)")

		cb := f.session(t, 3, "127.0.0.13", "bob")
		assert.Empty(t, fleetList(t, cb), "bob's home is another prefix: alice's file is not in it")
	})

	phase("BanOnOneRefusedOnAnother", func(t *testing.T) {
		const attacker = "127.0.0.9"
		for i := 1; i <= 3; i++ { // --ban-after 3, all on node 1
			g, code := fleetLoginFrom(t, attacker, f.node(1).Addr, "bob", "wrong")
			require.Equal(t, [2]int{220, 530}, [2]int{g, code}, "bad password %d on node 1", i)
		}
		start := time.Now()
		var g int
		banned := waitFor(15*time.Second, func() bool {
			g, _ = fleetLoginFrom(t, attacker, f.node(3).Addr, "bob", fleet3Pass)
			return g == 421
		})
		require.True(t, banned, "node 3 refuses the address banned on node 1 (last greeting %d): %s", g, f.node(3).Log)
		t.Logf("node 3 refused the address %v after the third bad password on node 1", time.Since(start).Round(time.Millisecond))
		g, _ = fleetLoginFrom(t, attacker, f.node(2).Addr, "bob", fleet3Pass)
		assert.Equal(t, 421, g, "and node 2")
		g, code := fleetLoginFrom(t, "127.0.0.10", f.node(3).Addr, "bob", fleet3Pass)
		assert.Equal(t, [2]int{220, 230}, [2]int{g, code}, "another address still logs in on node 3")
	})

	phase("DeletedThroughCLICannotLogIn", func(t *testing.T) {
		for range 2 { // node 1 has dave's login cached
			_, code := fleetLoginFrom(t, "127.0.0.20", f.node(1).Addr, "dave", fleet3Pass)
			require.Equal(t, 230, code)
		}
		out := f.userCmd(t, "", "del", "dave") // node 2's CLI: the same binary on the same database
		require.Contains(t, out, "dave removed")
		deleted := time.Now()
		var code, logins int
		var tried time.Time // when the last attempt began: a 530 comes a second late (FailedLoginDelay)
		refused := waitFor(10*time.Second, func() bool {
			tried = time.Now()
			_, code = fleetLoginFrom(t, "127.0.0.21", f.node(1).Addr, "dave", fleet3Pass)
			logins += map[bool]int{true: 1}[code == 230]
			return code == 530
		})
		require.True(t, refused, "node 1 still logs dave in 10 s after the delete (last reply %d)", code)
		took := tried.Sub(deleted)
		t.Logf("node 1 refused the deleted user in a login begun %v after the CLI returned (%d logins before it)",
			took.Round(time.Millisecond), logins)
		assert.Less(t, took, 2*time.Second, "a deleted user cannot log in a second or so later")
		for n, from := range map[int]string{2: "127.0.0.22", 3: "127.0.0.23"} {
			_, code := fleetLoginFrom(t, from, f.node(n).Addr, "dave", fleet3Pass)
			assert.Equal(t, 530, code, "nor on node %d", n)
		}
	})

	phase("NodeKilledMidUpload", func(t *testing.T) {
		old := randomBytes(t, 1<<20+17)
		f.curlFrom(t, "127.0.0.30", "-T", fleetTemp(t, "old.bin", old), f.url(1, "carol", "keep.bin"))
		newData := randomBytes(t, 24<<20)
		newFile := fleetTemp(t, "new.bin", newData)
		require.Empty(t, f.uploads(t, "carol"))

		// Through node 2 at 2 MiB/s: once a 5 MiB part has gone up, the
		// multipart upload exists in the store; then node 2 dies.
		cmd := exec.Command(f.curl, "--silent", "--max-time", "110", "--interface", "127.0.0.31", "--limit-rate", "2M",
			"-T", newFile, f.url(2, "carol", "keep.bin"))
		require.NoError(t, cmd.Start())
		var curlErr error
		curlDone := make(chan struct{}) // closed once curl has been waited for
		go func() { curlErr = cmd.Wait(); close(curlDone) }()
		t.Cleanup(func() { // a failure before the kill: end the client
			select {
			case <-curlDone:
			default:
				_ = cmd.Process.Kill() // only the process this test started
				<-curlDone
			}
		})
		require.True(t, waitFor(30*time.Second, func() bool { return len(f.uploads(t, "carol")) == 1 }),
			"node 2 started a multipart upload: %s", f.node(2).Log)
		n2 := f.node(2)
		require.NoError(t, syscall.Kill(n2.Pid, syscall.SIGKILL)) // node 2's pid, started by this test
		select {
		case <-n2.Exited():
		case <-time.After(30 * time.Second):
			t.Fatal("node 2 still running 30 s after SIGKILL")
		}
		select {
		case <-curlDone:
			assert.Error(t, curlErr, "the client's upload failed with its node")
		case <-time.After(60 * time.Second):
			t.Fatal("curl still uploading to a dead node after 60 s")
		}

		c1 := f.session(t, 1, "127.0.0.32", "carol")
		assert.Equal(t, map[string]uint64{"keep.bin": uint64(len(old))}, fleetList(t, c1), "LIST through node 1: the old object only")
		size, err := c1.FileSize("keep.bin")
		require.NoError(t, err)
		assert.Equal(t, int64(len(old)), size, "SIZE through node 1")
		got, n := fleetRetrSHA(t, c1, "keep.bin")
		assert.Equal(t, [2]any{fleetSHA(old), len(old)}, [2]any{got, n}, "RETR through node 1: the old bytes")
		left := f.uploads(t, "carol")
		require.Len(t, left, 1, "the dead node's multipart upload stays in the store")
		assert.Equal(t, f.key("carol", "keep.bin"), aws.ToString(left[0].Key))
		deadUpload := aws.ToString(left[0].UploadId)

		// The client retries on node 3; node 1 serves the new bytes.
		f.curlFrom(t, "127.0.0.33", "-T", newFile, f.url(3, "carol", "keep.bin"))
		size, err = c1.FileSize("keep.bin")
		require.NoError(t, err)
		assert.Equal(t, int64(len(newData)), size, "SIZE through node 1 after the retry")
		got, n = fleetRetrSHA(t, c1, "keep.bin")
		assert.Equal(t, [2]any{fleetSHA(newData), len(newData)}, [2]any{got, n}, "RETR through node 1: the retried upload's bytes")

		// Nobody aborts the dead node's upload: the live nodes cannot tell
		// it from one in progress elsewhere. A node's start aborts uploads
		// older than stale-upload-age (1 h by default, more than the
		// longest upload, so a restart never cuts another node's upload).
		uploadIDs := func() []string {
			var ids []string
			for _, u := range f.uploads(t, "carol") {
				ids = append(ids, aws.ToString(u.UploadId))
			}
			sort.Strings(ids)
			return ids
		}
		assert.Equal(t, []string{deadUpload}, uploadIDs(), "still there after the retry")
		f.startNode(t, 2, "")
		assert.Equal(t, []string{deadUpload}, uploadIDs(), "node 2 restarted with the default age: too young to be stale")
		f.node(2).Stop(t)
		f.startNode(t, 2, "&stale-upload-age=1s") // only for this check: no upload is in progress now
		assert.Empty(t, uploadIDs(), "node 2 restarted with stale-upload-age=1s aborted it")
		assert.Contains(t, f.node(2).Log.String(), "stale multipart uploads aborted")
		_, code := fleetLoginFrom(t, "127.0.0.34", f.node(2).Addr, "carol", fleet3Pass)
		assert.Equal(t, 230, code, "node 2 is back in the fleet")

		// A running node sweeps too (every quarter of the age): an upload
		// left now is aborted without any node starting.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err = f.c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
			Bucket: aws.String(s3test.Bucket), Key: aws.String(f.key("carol", "left.bin"))})
		require.NoError(t, err)
		require.Len(t, uploadIDs(), 1)
		assert.True(t, waitFor(30*time.Second, func() bool { return len(uploadIDs()) == 0 }),
			"node 2, running, aborted the upload once it was stale")
		f.node(2).Stop(t)
		f.startNode(t, 2, "") // the default age again: its sweeps must not cut the next phases' uploads
	})

	phase("DatabaseStoppedAndRestarted", func(t *testing.T) {
		data := randomBytes(t, 3<<20+5)
		f.curlFrom(t, "127.0.0.40", "-T", fleetTemp(t, "e.bin", data), f.url(1, "erin", "e.bin"))
		var in [3]*ftp.ServerConn // logged in before the database goes
		for n := 1; n <= 3; n++ {
			in[n-1] = f.session(t, n, "127.0.0.41", "erin")
		}

		stopped := time.Now()
		pgtest.Stop(t)
		restarted := false
		t.Cleanup(func() {
			if !restarted {
				pgtest.Restart(t)
			}
		})
		for n := 1; n <= 3; n++ { // frank never logged in: no node has him cached
			g, code := fleetLoginFrom(t, "127.0.0.42", f.node(n).Addr, "frank", fleet3Pass)
			assert.Equal(t, [2]int{220, 421}, [2]int{g, code}, "node %d: a new login while the database is down", n)
		}
		for n := 1; n <= 3; n++ {
			// erin's login is cached on every node, and a node drops its
			// cache once it notices its listening connection gone (it may
			// miss changes from then on): from then on, 421 too.
			var code int
			ok := waitFor(15*time.Second, func() bool {
				_, code = fleetLoginFrom(t, "127.0.0.42", f.node(n).Addr, "erin", fleet3Pass)
				return code == 421
			})
			assert.True(t, ok, "node %d: erin's cached login is refused too once the node has lost the database (last reply %d)", n, code)
		}
		for n, c := range in {
			assert.Equal(t, map[string]uint64{"e.bin": uint64(len(data))}, fleetList(t, c), "node %d: a session already in lists", n+1)
			got, size := fleetRetrSHA(t, c, "e.bin")
			assert.Equal(t, [2]any{fleetSHA(data), len(data)}, [2]any{got, size}, "node %d: and downloads", n+1)
		}
		t.Logf("database down for %v", time.Since(stopped).Round(time.Millisecond))

		pgtest.Restart(t)
		restarted = true
		back := time.Now()
		for n := 1; n <= 3; n++ {
			var code int
			ok := waitFor(60*time.Second, func() bool {
				_, code = fleetLoginFrom(t, "127.0.0.43", f.node(n).Addr, "frank", fleet3Pass)
				return code == 230
			})
			require.True(t, ok, "node %d logs in again by itself after the restart (last reply %d): %s", n, code, f.node(n).Log)
			_, code = fleetLoginFrom(t, "127.0.0.43", f.node(n).Addr, "erin", fleet3Pass)
			assert.Equal(t, 230, code, "node %d: erin too", n)
		}
		t.Logf("all three nodes logged in again %v after the database restarted", time.Since(back).Round(time.Millisecond))
		for n, c := range in {
			got, _ := fleetRetrSHA(t, c, "e.bin")
			assert.Equal(t, fleetSHA(data), got, "node %d: the old session still works", n+1)
		}
		for n := 1; n <= 3; n++ {
			assert.Contains(t, f.node(n).Log.String(), "user store unavailable", "node %d logged the outage", n)
		}

		// The nodes listen for user changes again (each has its LISTEN
		// connection back), and act on them: frank, cached on every node
		// since the restart, deleted through the CLI, is refused on all.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db, err := pgx.Connect(ctx, f.dsn)
		require.NoError(t, err)
		defer db.Close(context.Background())
		var listening int
		require.True(t, waitFor(30*time.Second, func() bool {
			err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
				AND query = 'LISTEN ftpd_users'`).Scan(&listening)
			return err == nil && listening == 3
		}), "every node listens for user changes again (%d do)", listening)
		require.Contains(t, f.userCmd(t, "", "del", "frank"), "frank removed")
		deleted := time.Now()
		for n := 1; n <= 3; n++ {
			var code int
			ok := waitFor(10*time.Second, func() bool {
				_, code = fleetLoginFrom(t, fmt.Sprintf("127.0.0.%d", 43+n), f.node(n).Addr, "frank", fleet3Pass)
				return code == 530
			})
			assert.True(t, ok, "node %d: a user deleted after the outage is refused (last reply %d)", n, code)
		}
		t.Logf("frank, deleted after the outage, refused by all three nodes %v after the CLI returned", time.Since(deleted).Round(time.Millisecond))
	})

	for _, s := range fleetLimitScenarios {
		phase(s.name, func(t *testing.T) { s.run(t, f) })
	}
	t.Logf("whole fleet test: %v", time.Since(began).Round(time.Millisecond))
}

// A user's limits hold on every login, also one whose password check
// overlaps a change to some other user anywhere in the fleet. (They did
// not: pgstore.Users.Authenticate records a login's home and limits only
// when no user changed while it ran (the cache generation), and
// UserLimits answers "no limits" for a user it has no record of, so that
// session ran without its limits: a read-only user could upload, a
// max-sessions or quota user was not counted. Right after `ftpd user
// add`, whose own notification races the first login, 1 of 6 read-only
// users could STOR on their first login.) Made deterministic here: the
// users table is locked while node 1 checks the password, and a change
// of another user is notified meanwhile.
func TestFleetLimitsHoldWhenAUserChangesDuringALogin(t *testing.T) {
	f := startFleet3(t)
	f.addUser(t, "reader", "--read-only")
	f.addUser(t, "other")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	lock, err := pgx.Connect(ctx, f.dsn)
	require.NoError(t, err)
	defer lock.Close(context.Background())
	tx, err := lock.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(context.Background())
	_, err = tx.Exec(ctx, "LOCK TABLE ftpd_users IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	// pg_stat_activity is read from a connection of its own, outside the
	// locking transaction: within a transaction PostgreSQL answers every
	// read of it from the snapshot its first read took, so a poll begun
	// before node 1's query arrived would never see it wait.
	watch, err := pgx.Connect(ctx, f.dsn)
	require.NoError(t, err)
	defer watch.Close(context.Background())

	type result struct {
		c   *ftp.ServerConn
		err error
	}
	login := make(chan result, 1)
	go func() {
		c, err := f.dial(1, "127.0.0.61", "reader")
		login <- result{c, err}
	}()
	var early *result // a login that ended without waiting for the table
	waited := waitFor(20*time.Second, func() bool {
		select {
		case r := <-login:
			early = &r
			return true
		default:
		}
		var waiting int
		err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE '%FROM ftpd_users%'`).Scan(&waiting)
		return err == nil && waiting > 0
	})
	if early != nil {
		t.Fatalf("node 1's login ended while the users table was locked: %v", early.err)
	}
	if !waited {
		var activity []string
		rows, err := watch.Query(ctx, `SELECT coalesce(wait_event_type, '') || ' ' || coalesce(wait_event, '') || ' ' || state || ': ' || left(query, 120)
			FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
		if err == nil {
			for rows.Next() {
				var a string
				if rows.Scan(&a) == nil {
					activity = append(activity, a)
				}
			}
			rows.Close()
		}
		t.Fatalf("node 1's password check never waited for the users table; the database's sessions:\n%s", strings.Join(activity, "\n"))
	}
	notify, err := pgx.Connect(ctx, f.dsn)
	require.NoError(t, err)
	defer notify.Close(context.Background())
	_, err = notify.Exec(ctx, "SELECT pg_notify('ftpd_users', 'other')") // what `ftpd user set other …` sends
	require.NoError(t, err)
	// Nothing shows when node 1 has heard it (its cache's generation is
	// internal): a second, far more than a notification's round trip on
	// loopback, and far less than the query's 5 s timeout.
	time.Sleep(time.Second)
	require.NoError(t, tx.Rollback(ctx))

	var r result
	select {
	case r = <-login:
	case <-time.After(60 * time.Second):
		t.Fatal("no login reply 60 s after the users table was released")
	}
	require.NoError(t, r.err, "the password is right")
	defer r.c.Quit()
	err = r.c.Stor("x.bin", bytes.NewReader([]byte("must not be stored")))
	assert.Error(t, err, "a read-only user cannot upload, whatever changed during its login")
	_, err = f.object(t, "reader", "x.bin")
	assert.Error(t, err, "nothing in the bucket")
}
