package gcfloor_test

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/gcfloor"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

const mib = 1 << 20

// The percent lifts the next goal to the floor and no further: by Go's
// minimum for a small heap, by the live bytes for a larger one, and not
// at all once twice the live heap passes the floor.
func TestPercent(t *testing.T) {
	for _, c := range []struct {
		name  string
		floor int64
		base  int
		heap  gcfloor.Heap
		want  int
	}{
		{"tiny heap: Go's 4 MiB minimum times 4", 16 * mib, 100, gcfloor.Heap{Live: mib / 2}, 400},
		{"no heap yet", 16 * mib, 100, gcfloor.Heap{}, 400},
		{"6 MiB live: 6+6*p/100 = 16", 16 * mib, 100, gcfloor.Heap{Live: 6 * mib}, 167},
		{"stacks and globals count as scanned", 16 * mib, 100, gcfloor.Heap{Live: 4 * mib, Stacks: 2 * mib, Globals: 2 * mib}, 150},
		{"live half the floor: the base", 16 * mib, 100, gcfloor.Heap{Live: 8 * mib}, 100},
		{"live past the floor: the base", 16 * mib, 100, gcfloor.Heap{Live: 40 * mib}, 100},
		{"a higher base is kept", 16 * mib, 300, gcfloor.Heap{Live: 6 * mib}, 300},
		{"GOGC=off stays off", 16 * mib, -1, gcfloor.Heap{Live: mib}, -1},
		{"a floor under Go's own changes nothing", 4 * mib, 100, gcfloor.Heap{Live: mib}, 100},
		{"64 MiB floor", 64 * mib, 100, gcfloor.Heap{Live: mib}, 1600},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, gcfloor.Percent(c.floor, c.base, c.heap))
		})
	}
}

// With the floor, churning through garbage on a small live heap runs a
// quarter of the collections it runs without (16 MiB against 4 MiB goals),
// and stop restores the percent.
func TestFloorCutsCollectionsOnASmallHeap(t *testing.T) {
	base := debug.SetGCPercent(100)
	defer debug.SetGCPercent(base)
	stop := gcfloor.Start(gcfloor.Config{Floor: 16 * mib})
	require.True(t, churnUntil(t, 400), "a small heap that churns: the full 16 MiB floor")
	with := cycles(churn)
	stop()
	assertGOGC(t, 100, "stop restores the base")
	runtime.GC()
	without := cycles(churn)

	t.Logf("collections for 256 MiB of garbage: %d without the floor, %d with", without, with)
	require.Greater(t, without, uint64(30), "4 MiB goals: about 64 collections")
	assert.Less(t, with, without/2)
}

// Once the live heap is past half the floor, the collector paces as GOGC
// says again.
func TestFloorStepsAsideForALargeHeap(t *testing.T) {
	startFastFloor(t)

	keep := make([][]byte, 0, 24)
	for range 24 {
		keep = append(keep, make([]byte, mib))
	}
	assert.True(t, churnUntil(t, 100), "24 MiB live")
	runtime.KeepAlive(keep)

	keep = nil
	assert.True(t, churnUntil(t, 400), "small again")
}

// The floor follows the allocation rate: a process that allocates slowly
// keeps Go's own pacing (no floor to spread its long-lived objects over).
func TestFloorFollowsTheAllocationRate(t *testing.T) {
	startFastFloor(t)
	// Collections 10 ms apart with next to no allocation: the smoothed
	// rate halves at each, down to Go's own 4 MiB (bounded: 200 rounds).
	for i := 0; i < 200 && read("/gc/gogc:percent") != 100; i++ {
		time.Sleep(10 * time.Millisecond)
		runtime.GC()
	}
	assertGOGC(t, 100, "slow")
}

// FloorFor: what is allocated in the spacing, between Go's 4 MiB and the
// largest floor.
func TestFloorFor(t *testing.T) {
	for _, c := range []struct {
		rate float64
		want int64
	}{
		{0, 4 * mib},
		{30e6, 4 * mib},              // 3 MB in 100 ms: Go's own
		{80 * mib, 8 * mib},          // 8 MiB in 100 ms
		{170e6, 16 * mib},            // 17 MB: at the largest
		{2e9, 16 * mib},              // capped
		{100 * mib, int64(10 * mib)}, // 10 MiB
		{45 * mib, int64(4.5 * float64(mib))},
	} {
		assert.Equal(t, c.want, gcfloor.FloorFor(c.rate, 100*time.Millisecond, 16*mib), "rate %.0f", c.rate)
	}
}

var sink []byte

// startFastFloor starts a 16 MiB floor from GOGC=100 (both undone at the
// test's end) and churns until it is in force: a small heap allocating
// fast gets the full floor, GOGC 400.
func startFastFloor(t *testing.T) {
	base := debug.SetGCPercent(100)
	stop := gcfloor.Start(gcfloor.Config{Floor: 16 * mib})
	t.Cleanup(func() { stop(); debug.SetGCPercent(base) })
	require.True(t, churnUntil(t, 400), "small and fast: the floor's full 16 MiB")
}

// churnUntil churns until the GC percent is want (bounded: 40 rounds); the
// percent is set by a cleanup after each collection, from the allocation
// rate since the one before.
func churnUntil(t *testing.T, want uint64) bool {
	t.Helper()
	for range 40 {
		churn()
		if read("/gc/gogc:percent") == want {
			return true
		}
	}
	t.Logf("GOGC %d, want %d", read("/gc/gogc:percent"), want)
	return false
}

// churn allocates 256 MiB in 4 KiB pieces, keeping none.
func churn() {
	for range 64 << 10 {
		sink = make([]byte, 4<<10)
	}
	sink = nil
}

func cycles(f func()) uint64 {
	before := read("/gc/cycles/total:gc-cycles")
	f()
	return read("/gc/cycles/total:gc-cycles") - before
}

// assertGOGC waits for the GC percent to become want: the cleanup that
// sets it runs on the runtime's cleanup goroutine after the collection.
func assertGOGC(t *testing.T, want uint64, msg string) bool {
	t.Helper()
	return assert.Eventually(t, func() bool { return read("/gc/gogc:percent") == want }, 5*time.Second, time.Millisecond,
		"%s: GOGC %d, want %d", msg, read("/gc/gogc:percent"), want)
}

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
