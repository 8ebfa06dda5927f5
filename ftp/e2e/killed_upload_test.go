package e2e_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client process killed in the middle of an upload: the kernel closes
// its control and data connections together, so the data connection ends
// with what looks like a complete upload. The server commits an upload
// only if the control connection still stands once the data has ended,
// so the old file stays intact every time, and every transfer is logged
// with its result although the session is gone. (On the server that
// committed at the data's end, 5 of 5 such uploads truncated the file
// and none was logged.)
func TestKilledUploaderNeverReplacesTheOldFile(t *testing.T) {
	curl := requireTool(t, "curl")
	p := startFTPDProcess(t)
	old := randomBytes(t, 1<<20)
	keep := filepath.Join(p.root, "keep.bin")
	require.NoError(t, os.WriteFile(keep, old, 0o644))
	big := filepath.Join(t.TempDir(), "big")
	require.NoError(t, os.WriteFile(big, randomBytes(t, 16<<20), 0o644))

	const tries = 5
	for i := 1; i <= tries; i++ {
		cmd := exec.Command(curl, "-s", "--limit-rate", "1M", "-T", big,
			fmt.Sprintf("ftp://alice:secret@%s/keep.bin", p.addr))
		require.NoError(t, cmd.Start())
		time.Sleep(1500 * time.Millisecond)                     // mid-upload: 16 MiB at 1 MiB/s
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL)) // only the process this test started
		_ = cmd.Wait()
		logged := waitFor(20*time.Second, func() bool { return len(p.logLines(`msg="ftp transfer"`, "kind=STOR")) >= i })
		assert.True(t, logged, "try %d: the interrupted upload is logged:\n%s", i, p.Log.String())
		got, err := os.ReadFile(keep)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(old, got), "try %d: keep.bin is the old file (%d bytes, want %d)", i, len(got), len(old))
		assert.Equal(t, []string{"keep.bin"}, dirNames(t, p.root), "try %d: nothing else on disk", i)
	}
	lines := p.logLines(`msg="ftp transfer"`, "kind=STOR")
	require.Len(t, lines, tries)
	for _, l := range lines {
		assert.Contains(t, l, "ok=false", l)
		assert.Contains(t, l, "path=/keep.bin", l)
	}

	// A client that is not killed still replaces the file.
	runTool(t, 60*time.Second, curl, "-s", "-T", big, fmt.Sprintf("ftp://alice:secret@%s/keep.bin", p.addr))
	got, err := os.ReadFile(keep)
	require.NoError(t, err)
	want, err := os.ReadFile(big)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "a complete upload is committed")
	assert.True(t, waitFor(10*time.Second, func() bool {
		return len(p.logLines(`msg="ftp transfer"`, "kind=STOR", "ok=true")) == 1
	}), "and logged")
}

// dirNames lists a directory's names.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
