// Package leaktest wraps goleak for this project's test binaries.
//
// gnet starts a process-wide ants goroutine pool when its package is
// initialised (pkg/pool/goroutine.DefaultWorkerPool) and never stops it; its
// two housekeeping goroutines are not ours and are ignored. Everything else
// that outlives a test binary is reported as a leak.
package leaktest

import (
	"fmt"
	"os"
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

// Main is VerifyTestMain for a binary whose run needs wrapping (a
// service started for the tests and stopped after them, as
// pgtest.Main): it runs run, then fails the binary if goroutines leaked,
// and exits.
func Main(run func() int) {
	code := run()
	if code == 0 {
		if err := goleak.Find(Options()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
