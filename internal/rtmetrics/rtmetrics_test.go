package rtmetrics_test

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gnetftp/gnetftp/internal/leaktest"
	"github.com/gnetftp/gnetftp/internal/rtmetrics"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

var sink []byte

// Values come by position, are read again by each Read, and an unknown
// name reads as 0.
func TestReader(t *testing.T) {
	r := rtmetrics.New("/gc/heap/allocs:bytes", "/gc/cycles/total:gc-cycles", "/no/such:metric")
	r.Read()
	allocs, cycles := r.Int64(0), r.Int64(1)
	sink = make([]byte, 1<<20)
	runtime.GC()
	r.Read()
	assert.GreaterOrEqual(t, r.Int64(0)-allocs, int64(1<<20), "a MiB allocated since")
	assert.Greater(t, r.Int64(1), cycles, "a collection since")
	assert.Zero(t, r.Int64(2))
	assert.Zero(t, testing.AllocsPerRun(10, r.Read), "a Read allocates nothing")
}
