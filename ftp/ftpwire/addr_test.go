package ftpwire_test

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

func TestParsePORT(t *testing.T) {
	good := []struct{ arg, want string }{
		{"127,0,0,1,200,10", "127.0.0.1:51210"},
		{"10,1,2,3,0,21", "10.1.2.3:21"},
		{" 10, 1,2,3 ,0,21 ", "10.1.2.3:21"}, // blanks around fields, as Python peers
		{"255,255,255,255,255,255", "255.255.255.255:65535"},
		{"001,002,003,004,000,001", "1.2.3.4:1"},
		{"0,0,0,0,1,0", "0.0.0.0:256"},
	}
	for _, c := range good {
		a, err := ftpwire.ParsePORT(c.arg)
		require.NoError(t, err, c.arg)
		assert.Equal(t, c.want, a.String(), c.arg)
		assert.Len(t, a.IP, net.IPv4len, "4-byte form: %q", c.arg)
	}
	bad := []string{
		"", ",,,,,", "1,2,3,4,5", "1,2,3,4,5,6,7", "1,2,3,4,5,6,", ",1,2,3,4,5",
		"256,0,0,1,1,1", "1,2,3,4,1,256", "a,b,c,d,e,f", "1,2,3,4,-1,2", "1,2,3,4,+1,2",
		"1,2,3,4,-0,2", "127,0,0,1,0,0", "1x,2,3,4,5,6", "1,2,3,4,5,6x", "0001,2,3,4,5,6",
		"1,2,3,4,5 6,7", "1.2.3.4,5,6", "(1,2,3,4,5,6)", "1,2,3,4,5,\x006", "١,2,3,4,5,6",
		"1,2,3,4,5,\u00a06",
	}
	for _, arg := range bad {
		_, err := ftpwire.ParsePORT(arg)
		assert.ErrorIs(t, err, ftpwire.ErrSyntax, "%q", arg)
	}
}

func TestParseEPRT(t *testing.T) {
	good := []struct{ arg, want string }{
		{"|1|132.235.1.2|6275|", "132.235.1.2:6275"},
		{"|2|1080::8:800:200C:417A|5282|", "[1080::8:800:200c:417a]:5282"},
		{"|2|::1|5282|", "[::1]:5282"},
		{"!2!::1!5282!", "[::1]:5282"},
		{"#1#127.0.0.1#65535#", "127.0.0.1:65535"},
		{"|2|::ffff:127.0.0.1|1024|", "127.0.0.1:1024"}, // mapped: IPv6 text, IPv4 result
		{" |1|1.2.3.4|5| ", "1.2.3.4:5"},
	}
	for _, c := range good {
		a, err := ftpwire.ParseEPRT(c.arg)
		require.NoError(t, err, c.arg)
		assert.Equal(t, c.want, a.String(), c.arg)
	}
	unsupported := []string{"|3|1.2.3.4|5|", "|0|1.2.3.4|5|", "|99|::1|5|", "|3|garbage|x|"}
	for _, arg := range unsupported {
		_, err := ftpwire.ParseEPRT(arg)
		assert.ErrorIs(t, err, ftpwire.ErrUnsupportedNetwork, "%q", arg)
	}
	bad := []string{
		"", "|", "||||", "|1|1.2.3.4|", "|1|1.2.3.4|5", "1|1.2.3.4|5|", "|1|1.2.3.4|5|6|",
		"|1|::1|5|", "|2|1.2.3.4|5|", "|1|1.2.3.4|0|", "|1|1.2.3.4|65536|", "|1|1.2.3.4|+5|",
		"|1|1.2.3.4|-5|", "|1|1.2.3.4|005000|", "|x|1.2.3.4|5|", "||1.2.3.4|5|", "|+1|1.2.3.4|5|",
		"|1|1.2.3|5|", "|1|1.2.3.4.5|5|", "|2|fe80::1%eth0|5|", "|1| 1.2.3.4|5|",
		"\x7f1\x7f1.2.3.4\x7f5\x7f", " 1 1.2.3.4 5 ", "|1|host.example|5|",
	}
	for _, arg := range bad {
		_, err := ftpwire.ParseEPRT(arg)
		assert.ErrorIs(t, err, ftpwire.ErrSyntax, "%q", arg)
	}
}

func TestParseEPSVArg(t *testing.T) {
	cases := []struct {
		arg  string
		kind ftpwire.EPSVKind
		err  error
	}{
		{"", ftpwire.EPSVAny, nil},
		{"  ", ftpwire.EPSVAny, nil},
		{"1", ftpwire.EPSVIPv4, nil},
		{"2", ftpwire.EPSVIPv6, nil},
		{"ALL", ftpwire.EPSVAll, nil},
		{"all", ftpwire.EPSVAll, nil},
		{"3", 0, ftpwire.ErrUnsupportedNetwork},
		{"0", 0, ftpwire.ErrUnsupportedNetwork},
		{"ALLX", 0, ftpwire.ErrSyntax},
		{"x", 0, ftpwire.ErrSyntax},
		{"-1", 0, ftpwire.ErrSyntax},
		{"1 2", 0, ftpwire.ErrSyntax},
	}
	for _, c := range cases {
		kind, err := ftpwire.ParseEPSVArg(c.arg)
		if c.err != nil {
			assert.ErrorIs(t, err, c.err, "%q", c.arg)
			continue
		}
		require.NoError(t, err, "%q", c.arg)
		assert.Equal(t, c.kind, kind, "%q", c.arg)
	}
}

func TestFormat(t *testing.T) {
	assert.Equal(t, "127,0,0,1,200,10", ftpwire.FormatPASV(loopback, 51210))
	assert.Equal(t, "127,0,0,1,200,10", ftpwire.FormatPASV(net.ParseIP("::ffff:127.0.0.1"), 51210))
	assert.Equal(t, "10,0,0,255,0,21", ftpwire.FormatPASV(net.IPv4(10, 0, 0, 255), 21))
	assert.Equal(t, "0,0,0,0,255,255", ftpwire.FormatPASV(net.IPv6loopback, 65535), "PASV cannot carry IPv6")
	assert.Equal(t, "(|||51210|)", ftpwire.FormatEPSV(51210))
}

// checkPORT is the fuzz property of ParsePORT: a result is an IPv4
// address with a valid port, and formatting it for 227 parses back to it.
func checkPORT(t *testing.T, s string) {
	a, err := ftpwire.ParsePORT(s)
	if err != nil {
		if !errors.Is(err, ftpwire.ErrSyntax) {
			t.Fatalf("ParsePORT(%q): %v", s, err)
		}
		return
	}
	if len(a.IP) != net.IPv4len || a.Port <= 0 || a.Port > 65535 {
		t.Fatalf("ParsePORT(%q) = %v", s, a)
	}
	again, err := ftpwire.ParsePORT(ftpwire.FormatPASV(a.IP, a.Port))
	if err != nil || !again.IP.Equal(a.IP) || again.Port != a.Port {
		t.Fatalf("round trip of %q: %v %v", s, again, err)
	}
}

// checkEPRT is the fuzz property of ParseEPRT: errors are one of the two
// kinds, and a result formatted back as EPRT parses to itself.
func checkEPRT(t *testing.T, s string) {
	a, err := ftpwire.ParseEPRT(s)
	if err != nil {
		if !errors.Is(err, ftpwire.ErrSyntax) && !errors.Is(err, ftpwire.ErrUnsupportedNetwork) {
			t.Fatalf("ParseEPRT(%q): %v", s, err)
		}
		return
	}
	if a.IP == nil || a.Port <= 0 || a.Port > 65535 {
		t.Fatalf("ParseEPRT(%q) = %v", s, a)
	}
	proto := "2"
	if a.IP.To4() != nil {
		proto = "1"
	}
	again, err := ftpwire.ParseEPRT("|" + proto + "|" + a.IP.String() + "|" + strconv.Itoa(a.Port) + "|")
	if err != nil || !again.IP.Equal(a.IP) || again.Port != a.Port {
		t.Fatalf("round trip of %q: %v %v", s, again, err)
	}
}

// The seed corpus is in testdata/fuzz/Fuzz*/; `go test` runs it, and
// `go test -fuzz=FuzzParsePORT ./ftp/ftpwire/` explores further.
func FuzzParsePORT(f *testing.F) {
	f.Add("127,0,0,1,200,10")
	f.Fuzz(checkPORT)
}

func FuzzParseEPRT(f *testing.F) {
	f.Add("|1|132.235.1.2|6275|")
	f.Fuzz(checkEPRT)
}
