// Package leaktest wraps goleak for this project's test binaries.
//
// gnet starts a process-wide ants goroutine pool when its package is
// initialised (pkg/pool/goroutine.DefaultWorkerPool) and never stops it; its
// two housekeeping goroutines are not ours and are ignored. Everything else
// that outlives a test binary is reported as a leak.
package leaktest

import (
	"testing"

	"go.uber.org/goleak"
)

// Options are the goleak options every package of this project uses.
func Options() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	}
}

// VerifyTestMain runs the tests, then fails the binary if goroutines leaked.
func VerifyTestMain(m *testing.M) { goleak.VerifyTestMain(m, Options()...) }
