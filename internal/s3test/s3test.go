// Package s3test runs a real S3 store for tests: SeaweedFS's `weed mini`
// (master, volume server, filer and S3 gateway in one process) on free
// ports of 127.0.0.1, telemetry off, in a temporary directory, stopped by
// its pid. The binary is built by `make test-deps` outside the project's
// module (SeaweedFS's dependency graph is enormous) and cached by
// version as $(go env GOPATH)/bin/weed-WeedVersion; $WEED overrides it.
//
// A test binary shares one store (Shared, stopped by TestMain): it takes
// about 5 s to become writable. Tests keep apart by key prefix.
package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	s3shell "github.com/gnetftp/gnetftp/ftp/shell/s3"
)

// WeedVersion is the SeaweedFS module version the Makefile builds (the
// Makefile's WEED_VERSION; a test keeps the two equal).
const WeedVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// Credentials and bucket of every store this package starts.
const (
	AccessKey = "testkey"
	SecretKey = "testsecret"
	Bucket    = "ftp"
)

// ErrNoWeed: the weed binary is not installed (make test-deps builds it).
var ErrNoWeed = errors.New("s3test: SeaweedFS's weed binary is missing (make test-deps builds it)")

// Binary is the weed binary: $WEED, or GOPATH/bin/weed-WeedVersion.
func Binary() (string, error) {
	p := os.Getenv("WEED")
	if p == "" {
		gopath := build.Default.GOPATH
		if i := strings.IndexByte(gopath, os.PathListSeparator); i >= 0 {
			gopath = gopath[:i]
		}
		p = filepath.Join(gopath, "bin", "weed-"+WeedVersion)
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%w: %s", ErrNoWeed, p)
	}
	return p, nil
}

// Server is a running weed mini.
type Server struct {
	// Endpoint is the S3 gateway's URL, http://127.0.0.1:PORT.
	Endpoint string
	// Pid is weed's process id.
	Pid int

	cmd    *exec.Cmd
	exited chan struct{}
	dir    string
	ports  []int
	log    string
	seq    atomic.Int64
}

// ReadyTimeout bounds the wait for the first PUT that works (a fresh
// master holds volume allocation for some seconds; a busy machine more).
const ReadyTimeout = 120 * time.Second

// Start runs weed mini and returns once a real PUT succeeds.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var last error
	for try := 0; try < 3; try++ { // a port taken between the check and weed's bind
		s, err := start(bin)
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, last
}

func start(bin string) (*Server, error) {
	base, err := freeBase()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "weedmini.")
	if err != nil {
		return nil, fmt.Errorf("s3test: %w", err)
	}
	conf := fmt.Sprintf(`{"identities":[{"name":"ftpd","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","List","Tagging","Write"]}]}`, AccessKey, SecretKey)
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: %w", err)
	}
	s3port := base + 333
	p := func(n int) string { return strconv.Itoa(n) }
	args := []string{"-logdir=" + dir, "mini", "-dir=" + dir, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + p(base+1), "-volume.port=" + p(base+2), "-filer.port=" + p(base+3), "-s3.port=" + p(s3port),
		"-admin.port=" + p(base+4), "-admin.ui=false", "-admin.port.legacy=0", "-webdav=false",
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=" + filepath.Join(dir, "s3.json"), "-bucket=" + Bucket,
		"-master.telemetry=false", "-master.telemetry.url=http://127.0.0.1:9/"}
	logPath := filepath.Join(dir, "stdout.log")
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr() // Linux: never outlives the test binary
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("s3test: starting %s: %w", bin, err)
	}
	logf.Close()
	s := &Server{Endpoint: "http://127.0.0.1:" + p(s3port), Pid: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{}),
		dir: dir, ports: []int{base + 1, base + 2, base + 3, base + 4, s3port}, log: logPath}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// freeBase picks B such that B+1…B+4 and B+333, and each of them plus
// 10000 (weed's gRPC ports), are free on 127.0.0.1.
func freeBase() (int, error) {
	for range 50 {
		base := 20000 + rand.IntN(9000)
		ok := true
		for _, port := range []int{base + 1, base + 2, base + 3, base + 4, base + 333} {
			if !free(port) || !free(port+10000) {
				ok = false
				break
			}
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("s3test: no free ports for weed")
}

func free(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// waitReady waits, at most ReadyTimeout, until a PUT into the bucket
// works: a port that answers is not yet a store that is writable.
func (s *Server) waitReady() error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	defer s3shell.CloseIdleConnections(c)
	deadline := time.Now().Add(ReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("s3test: weed exited before it was ready: %s", s.tail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(Bucket)})
		_, last = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(Bucket), Key: aws.String(".probe"),
			Body: bytes.NewReader([]byte("ok")), ContentLength: aws.Int64(2)})
		if last == nil {
			_, last = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(Bucket), Key: aws.String(".probe")})
		}
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("s3test: weed not writable after %v: %v; %s", ReadyTimeout, last, s.tail())
}

// tail is the end of weed's output, for failures.
func (s *Server) tail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Client is a new S3 client of the store (close its idle connections with
// s3.CloseIdleConnections).
func (s *Server) Client() (*awss3.Client, error) {
	return s3shell.NewClient(s3shell.ClientConfig{Endpoint: s.Endpoint, AccessKey: AccessKey, SecretKey: SecretKey, PathStyle: true})
}

// Prefix is a key prefix no other caller of this Server gets: tests keep
// apart under it.
func (s *Server) Prefix(name string) string {
	return fmt.Sprintf("%s-%d", strings.NewReplacer("/", "-", " ", "-").Replace(name), s.seq.Add(1))
}

// StorageURL is ftpd's --storage for prefix in this store.
func (s *Server) StorageURL(prefix string) string {
	return "s3://" + Bucket + "/" + prefix + "?endpoint=" + s.Endpoint + "&region=us-east-1"
}

// Env is the environment ftpd needs for this store's credentials.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey}
}

// Stop ends weed by its pid (SIGTERM, SIGKILL after 10 s) and removes its
// directory and the sockets it leaves in /tmp.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dir)
	for _, port := range s.ports {
		for _, p := range []int{port, port + 10000} { // HTTP and gRPC ports
			socks, _ := filepath.Glob(fmt.Sprintf("/tmp/seaweedfs-*-%d.sock", p))
			for _, f := range socks {
				os.Remove(f)
			}
		}
	}
}

// Shared is one Server for a whole test binary, started by the first Get
// and stopped by Stop (call it from TestMain after m.Run).
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the shared server, starting it the first time. Without the
// weed binary the test is skipped, or fails when CI=true; a weed that
// does not start fails the test.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() { sh.srv, sh.err = Start() })
	switch {
	case errors.Is(sh.err, ErrNoWeed) && os.Getenv("CI") != "true":
		t.Skip(sh.err)
	case sh.err != nil:
		t.Fatal(sh.err)
	}
	return sh.srv
}

// Stop stops the server if Get started one.
func (sh *Shared) Stop() {
	sh.once.Do(func() {}) // no start after this
	if sh.srv != nil {
		sh.srv.Stop()
	}
}
