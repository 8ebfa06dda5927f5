package shell_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/shell"
)

// TestUploadsSideBySideUnderAQuota: 8 uploads of 704 KiB written in
// turns, 32 KiB at a time, against a 3 MiB quota: together they reach the
// quota when each has written 384 KiB. The first refused gives its bytes
// back at once (not when its client stops sending), so the others go on:
// the quota ends full of whole files (4 of them) and nothing else, rather
// than every upload refused while each held part of it.
func TestUploadsSideBySideUnderAQuota(t *testing.T) {
	l, dir := newLocal(t)
	sh := shell.Limit(l, "", shell.NewQuota(3<<20, 0))
	const size, step = 704 << 10, 32 << 10
	chunk := bytes.Repeat([]byte("q"), step)
	type up struct {
		w       shell.WriteFile
		written int
		refused bool
	}
	ups := make([]*up, 8)
	for i := range ups {
		w, err := sh.OpenForWriting(fmt.Sprintf("/f%d.bin", i), 0, false)
		require.NoError(t, err)
		ups[i] = &up{w: w}
	}
	// A refused upload's writes are dropped without an error (the server
	// drains the client): the refusal shows at Commit.
	for written := 0; written < size; written += step {
		for _, u := range ups {
			n, err := u.w.Write(chunk)
			require.NoError(t, err)
			require.Equal(t, step, n)
		}
	}
	committed := 0
	for i, u := range ups {
		err := u.w.Commit()
		if err == nil {
			committed++
			continue
		}
		assert.ErrorIs(t, err, shell.ErrQuota, "upload %d", i)
	}
	var onDisk int64
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		assert.EqualValues(t, size, fi.Size(), "%s: only whole uploads", e.Name())
		onDisk += fi.Size()
	}
	assert.Equal(t, 4, committed, "3 MiB holds 4 uploads of 704 KiB")
	assert.Len(t, entries, committed, "the refused ones left nothing")
	assert.LessOrEqual(t, onDisk, int64(3<<20))
}
