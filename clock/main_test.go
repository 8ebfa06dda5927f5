package clock_test

import (
	"testing"
	"time"

	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

// safety is the bound on waits that should end at once: a guard against
// hangs, never a wait for an expected delay.
const safety = 10 * time.Second
