// Package rtmetrics reads a fixed set of runtime/metrics values by name,
// for the packages that steer the Go runtime from its own figures
// (memtrim, gcfloor). The samples are allocated once; a Read allocates
// nothing.
package rtmetrics

import (
	"math"
	"runtime/metrics"
)

// Reader reads its names' values. Its methods are for one goroutine.
type Reader struct{ m []metrics.Sample }

// New is a Reader of names (each a runtime/metrics name of a uint64
// value, such as "/gc/heap/live:bytes").
func New(names ...string) *Reader {
	r := &Reader{m: make([]metrics.Sample, len(names))}
	for i, n := range names {
		r.m[i].Name = n
	}
	return r
}

// Read reads every value once; Int64 returns them.
func (r *Reader) Read() { metrics.Read(r.m) }

// Int64 is the i-th name's value as of the last Read: 0 when this Go
// release does not have it (or it is not a uint64), and math.MaxInt64
// for a value beyond it.
func (r *Reader) Int64(i int) int64 {
	v := r.m[i].Value
	if v.Kind() != metrics.KindUint64 {
		return 0
	}
	if u := v.Uint64(); u <= math.MaxInt64 {
		return int64(u)
	}
	return math.MaxInt64
}
