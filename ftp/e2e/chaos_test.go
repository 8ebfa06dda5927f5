package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/internal/ftptest"
)

// chaosClient is one control connection of the chaos test: commands and
// replies by hand, with a deadline on everything.
type chaosClient struct {
	c  net.Conn
	rd *bufio.Reader
}

func chaosDial(addr string) (*chaosClient, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	k := &chaosClient{c: c, rd: bufio.NewReader(c)}
	if _, err := k.reply(); err != nil {
		c.Close()
		return nil, err
	}
	return k, nil
}

// reply reads one whole reply.
func (k *chaosClient) reply() (ftpwire.Reply, error) { return readReply(k.rd) }

// readReply reads one whole reply with ftpwire's assembler.
func readReply(rd *bufio.Reader) (ftpwire.Reply, error) {
	var a ftpwire.Assembler
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			return ftpwire.Reply{}, err
		}
		r, done, err := a.Add(strings.TrimRight(line, "\r\n"))
		if err != nil {
			return ftpwire.Reply{}, err
		}
		if done {
			return r, nil
		}
	}
}

func (k *chaosClient) cmd(line string) (ftpwire.Reply, error) {
	if _, err := io.WriteString(k.c, line+"\r\n"); err != nil {
		return ftpwire.Reply{}, err
	}
	return k.reply()
}

// kill drops the connection the way a killed process does: at once, with
// a reset, nothing flushed.
func kill(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (k *chaosClient) pasv() (net.Conn, error) {
	r, err := k.cmd("EPSV")
	if err != nil {
		return nil, err
	}
	if r.Code != 229 {
		return nil, fmt.Errorf("EPSV: %s", r)
	}
	port, err := ftpwire.ParseEPSVReply(r.Text())
	if err != nil {
		return nil, err
	}
	d, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
	if err == nil {
		_ = d.SetDeadline(time.Now().Add(60 * time.Second))
	}
	return d, err
}

// outcome is what a worker knows the server must have kept.
type outcome struct {
	name string
	want []byte // nil: unknown (the test only checks it is one of the versions)
	old  []byte
}

// TestChaos: hundreds of clients at once do random valid and invalid
// commands against a real ftpd process and drop their connections at
// random points, some mid-upload as a killed client does. Afterwards every
// upload that got its 226 is on disk byte for byte, every interrupted one
// left the old file, no temporary file is visible in a listing or on
// disk, the server's descriptors are back to where they were, and it
// still serves.
func TestChaos(t *testing.T) {
	const workers, steps = 200, 12
	root := t.TempDir()
	users := filepath.Join(t.TempDir(), "users")
	require.NoError(t, auth.SetPassword(users, "alice", "secret", bcrypt.MinCost))
	require.NoError(t, auth.SetHome(users, "alice", "/"))
	old := map[string][]byte{}
	for i := 0; i < workers; i++ {
		name := fmt.Sprintf("keep-%03d.bin", i)
		b := make([]byte, 64<<10+i)
		_, _ = rand.Read(b)
		old[name] = b
		require.NoError(t, os.WriteFile(filepath.Join(root, name), b, 0o644))
	}
	p := ftptest.Start(t, nil, "--root", root, "--users", users, "--anonymous", "--anonymous-root", root,
		"--log-level", "error", "--max-connections-per-ip", "0", "--ban-after", "0", "--login-timeout", "30s")
	baseline := countFDs(t, p.Pid)

	var mu sync.Mutex
	var outcomes []outcome
	var problems []string
	problem := func(f string, a ...any) {
		mu.Lock()
		problems = append(problems, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), 42))
			keep := fmt.Sprintf("keep-%03d.bin", w)
			for s := 0; s < steps; s++ {
				k, err := chaosDial(p.Addr)
				if err != nil {
					problem("worker %d: dial: %v", w, err)
					return
				}
				if r, err := k.cmd("USER alice"); err != nil || r.Code != 331 {
					kill(k.c)
					continue
				}
				pass := "secret"
				if rng.IntN(8) == 0 {
					pass = "wrong"
				}
				if r, err := k.cmd("PASS " + pass); err != nil || r.Code != 230 {
					kill(k.c)
					continue
				}
				switch rng.IntN(8) {
				case 0: // garbage, then a command that must still work
					_, _ = k.c.Write([]byte("\xff\xfe\x00junk\r\nPORT 1,2,3\r\nREST -1\r\nCWD /../..\r\n"))
					for i := 0; i < 4; i++ {
						if _, err := k.reply(); err != nil {
							break
						}
					}
					if r, err := k.cmd("NOOP"); err != nil || r.Code != 200 {
						problem("worker %d: NOOP after garbage: %v %v", w, r, err)
					}
				case 1: // a complete upload of a new file
					name := fmt.Sprintf("new-%03d-%d.bin", w, s)
					body := make([]byte, 1+rng.IntN(200<<10))
					_, _ = rand.Read(body)
					if d, err := k.pasv(); err == nil {
						if r, err := k.cmd("STOR " + name); err == nil && r.Code == 150 {
							_, _ = d.Write(body)
							d.Close()
							if r, err := k.reply(); err == nil && r.Code == 226 {
								mu.Lock()
								outcomes = append(outcomes, outcome{name: name, want: body})
								mu.Unlock()
							}
						} else {
							d.Close()
						}
					}
				case 2: // an upload over keep killed half-way
					if d, err := k.pasv(); err == nil {
						if r, err := k.cmd("STOR " + keep); err == nil && r.Code == 150 {
							half := make([]byte, 16<<10)
							_, _ = d.Write(half)
							kill(d)
							kill(k.c)
							mu.Lock()
							outcomes = append(outcomes, outcome{name: keep, old: old[keep]})
							mu.Unlock()
							continue
						}
						d.Close()
					}
				case 3: // a download dropped at a random point
					if d, err := k.pasv(); err == nil {
						if r, err := k.cmd("RETR " + keep); err == nil && r.Code == 150 {
							buf := make([]byte, rng.IntN(32<<10)+1)
							_, _ = io.ReadFull(d, buf)
						}
						kill(d)
						kill(k.c)
						continue
					}
				case 4: // a listing, checked for temporary files
					if d, err := k.pasv(); err == nil {
						if r, err := k.cmd("NLST"); err == nil && r.Code == 150 {
							names, _ := io.ReadAll(d)
							for _, n := range strings.Split(string(names), "\r\n") {
								if n != "" && !strings.HasPrefix(n, "keep-") && !strings.HasPrefix(n, "new-") {
									problem("worker %d: NLST shows %q", w, n)
								}
							}
							_, _ = k.reply()
						}
						d.Close()
					}
				case 5: // ABOR during a download
					if d, err := k.pasv(); err == nil {
						if r, err := k.cmd("RETR " + keep); err == nil && r.Code == 150 {
							r1, err1 := k.cmd("ABOR")
							if err1 == nil && r1.Code != 426 && r1.Code != 226 {
								problem("worker %d: ABOR: %s", w, r1)
							}
							if err1 == nil && r1.Code == 426 {
								_, _ = k.reply() // the 226 after the 426
							}
						}
						d.Close()
					}
				case 6: // an over-long line: 500 and a close
					_, _ = k.c.Write(bytes.Repeat([]byte("A"), 20000))
					_, _ = k.c.Write([]byte("\r\n"))
					_, _ = io.Copy(io.Discard, k.rd)
				default: // leave mid-dialogue without a word
				}
				if rng.IntN(2) == 0 {
					_, _ = k.cmd("QUIT")
				}
				kill(k.c)
			}
		}(w)
	}
	wg.Wait()
	require.Empty(t, problems)

	// Every completed upload is on disk; every killed one left the old file.
	completed, killed := 0, 0
	for _, o := range outcomes {
		if o.want != nil {
			completed++
		} else {
			killed++
		}
	}
	require.NotZero(t, completed, "the run completed uploads")
	require.NotZero(t, killed, "the run killed uploads")
	t.Logf("%d workers x %d sessions: %d uploads completed, %d killed mid-upload", workers, steps, completed, killed)
	for _, o := range outcomes {
		got, err := os.ReadFile(filepath.Join(root, o.name))
		require.NoError(t, err, o.name)
		if o.want != nil {
			assert.True(t, bytes.Equal(o.want, got), "%s: the completed upload is on disk", o.name)
		} else {
			assert.True(t, bytes.Equal(o.old, got), "%s: a killed upload left the old file (%d bytes, old %d)", o.name, len(got), len(o.old))
		}
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		assert.True(t, strings.HasPrefix(e.Name(), "keep-") || strings.HasPrefix(e.Name(), "new-"), "left on disk: %s", e.Name())
	}

	// Descriptors come back (sessions wind down asynchronously: poll).
	deadline := time.Now().Add(30 * time.Second)
	n := countFDs(t, p.Pid)
	for n > baseline+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		n = countFDs(t, p.Pid)
	}
	if !assert.LessOrEqual(t, n, baseline+2, "descriptors back to baseline (%d before)", baseline) {
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid))
		for _, e := range ents {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p.Pid, e.Name()))
			t.Log(e.Name(), l)
		}
		t.Log(p.Log.String())
	}
	k, err := chaosDial(p.Addr)
	require.NoError(t, err, "still serving")
	r, err := k.cmd("USER anonymous")
	require.NoError(t, err)
	assert.Equal(t, 331, r.Code)
	kill(k.c)
}

// countFDs counts the server's descriptors other than pipes: Go keeps a
// pool of pipe pairs for splice(2) (one per upload running at once,
// dropped by the garbage collector when idle), which a quiet server may
// hold long after the uploads ended. Sockets, files and directories are
// what a leak would show in.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); err == nil && strings.HasPrefix(l, "pipe:") {
			continue
		}
		n++
	}
	return n
}
