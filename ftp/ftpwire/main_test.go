package ftpwire_test

import (
	"net"
	"testing"

	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

var loopback = net.IPv4(127, 0, 0, 1).To4()
