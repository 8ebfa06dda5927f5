package memtrim_test

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/memtrim"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

const mib = 1 << 20

// A trim is due when the process was quiet for an interval and retains
// enough beyond its live heap; not under steady allocation, not for a
// small or relatively small gain, and not sooner than its last cost
// allows.
func TestDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	step := 250 * time.Millisecond
	cfg := memtrim.Config{} // defaults: 256 KiB quiet, 4 MiB gain, 1%

	t.Run("burst then quiet", func(t *testing.T) {
		tr := memtrim.New(cfg)
		assert.False(t, tr.Due(t0, memtrim.Sample{Allocated: 0, Live: 10 * mib, Retained: 10 * mib}), "the first sample only sets the start")
		assert.False(t, tr.Due(t0.Add(step), memtrim.Sample{Allocated: 50 * mib, Live: 20 * mib, Retained: 60 * mib}), "allocating: a burst")
		assert.True(t, tr.Due(t0.Add(2*step), memtrim.Sample{Allocated: 50*mib + 1000, Live: 20 * mib, Retained: 60 * mib}), "quiet, 40 MiB beyond the live heap")
	})
	t.Run("steady load", func(t *testing.T) {
		tr := memtrim.New(cfg)
		for i := range 20 {
			assert.False(t, tr.Due(t0.Add(time.Duration(i)*step), memtrim.Sample{Allocated: int64(i) * 8 * mib, Live: 20 * mib, Retained: 60 * mib}))
		}
	})
	t.Run("small gain", func(t *testing.T) {
		tr := memtrim.New(cfg)
		tr.Due(t0, memtrim.Sample{Live: 10 * mib, Retained: 13 * mib})
		assert.False(t, tr.Due(t0.Add(step), memtrim.Sample{Live: 10 * mib, Retained: 13 * mib}), "3 MiB: below MinGain")
		tr.Due(t0.Add(2*step), memtrim.Sample{Live: 100 * mib, Retained: 120 * mib})
		assert.False(t, tr.Due(t0.Add(3*step), memtrim.Sample{Live: 100 * mib, Retained: 120 * mib}), "20 MiB of 100 live: below a quarter")
	})
	t.Run("cost bounds the next", func(t *testing.T) {
		tr := memtrim.New(cfg)
		quiet := memtrim.Sample{Allocated: 1, Live: 20 * mib, Retained: 60 * mib}
		tr.Due(t0, quiet)
		assert.True(t, tr.Due(t0.Add(step), quiet))
		tr.Trimmed(t0.Add(step), 50*time.Millisecond, memtrim.Sample{Allocated: 1, Live: 20 * mib, Retained: 21 * mib})
		assert.False(t, tr.Due(t0.Add(2*step), quiet), "50 ms at 1%: not before 5 s")
		assert.False(t, tr.Due(t0.Add(step+4900*time.Millisecond), quiet))
		assert.True(t, tr.Due(t0.Add(step+5*time.Second), quiet))
	})
}

// retained is the heap memory the process holds and has not returned.
func retained() int64 {
	m := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(m)
	return int64(m[0].Value.Uint64() + m[1].Value.Uint64() + m[2].Value.Uint64())
}

var sink [][]byte

// Start returns the garbage of a burst to the system once the process is
// quiet, and stop ends its goroutine.
func TestStartReturnsABurstsGarbage(t *testing.T) {
	stop := memtrim.Start(memtrim.Config{Interval: 20 * time.Millisecond})
	defer stop()
	for range 64 {
		sink = append(sink, make([]byte, mib))
	}
	sink = nil
	peak := retained()
	assert.GreaterOrEqual(t, peak, int64(48*mib), "the burst is held")
	deadline := time.Now().Add(20 * time.Second) // a bound against a hang, not an expected delay
	for retained() > peak/2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Less(t, retained(), peak/2, "most of the burst returned (from %d MiB)", peak/mib)
	runtime.KeepAlive(sink)
}
