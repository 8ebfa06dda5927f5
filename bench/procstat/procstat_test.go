package procstat_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/bench/procstat"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

func TestMemoryOfATree(t *testing.T) {
	self, err := procstat.RSS(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, self, int64(1<<20))
	child := exec.Command("sleep", "30")
	require.NoError(t, child.Start())
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }() // the child this test started
	tree, err := procstat.Tree(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, tree.RSS, self/2, "the child's RSS is added")
	assert.Positive(t, tree.PSS)
	_, err = procstat.Field("/proc/self/status", "NoSuchField")
	assert.Error(t, err)
	assert.Positive(t, procstat.RaiseNoFile())
}

func TestCPUOfATree(t *testing.T) {
	before, err := procstat.CPU(os.Getpid())
	require.NoError(t, err)
	// A child that burns CPU and is reaped: its time moves into this
	// process's cutime/cstime, so the tree's total still grows by it.
	child := exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done")
	require.NoError(t, child.Run())
	after, err := procstat.CPU(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, after, before, "the reaped child's CPU time is counted")
	_, err = procstat.CPU(1 << 30)
	assert.Error(t, err, "no such process")
}

func TestThreadCPUSeesAMillisecond(t *testing.T) {
	before, err := procstat.ThreadCPU(os.Getpid())
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for start := time.Now(); time.Since(start) < 2*time.Millisecond; {
		} // 2 ms of wall time: at least some of it on a CPU
	}()
	<-done
	// A running thread's time is brought up to date when it leaves the
	// CPU (as a server's threads do between operations): let them sleep.
	time.Sleep(50 * time.Millisecond)
	after, err := procstat.ThreadCPU(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, after, before, "a few milliseconds of work show, well under CPU's 10 ms tick")
	_, err = procstat.ThreadCPU(1 << 30)
	assert.Error(t, err, "no such process")
}
