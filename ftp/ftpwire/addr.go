package ftpwire

import (
	"net"
	"strconv"
	"strings"
)

// trimBlanks drops ASCII spaces and tabs around s (not Unicode spaces:
// what is left must be plain digits anyway).
func trimBlanks(s string) string { return strings.Trim(s, " \t") }

// digits parses a run of 1..maxLen ASCII digits, nothing else (no sign,
// no blanks inside), as strconv.Atoi alone would accept "+1" and "-0".
func digits(s string, maxLen int) (int, bool) {
	if len(s) == 0 || len(s) > maxLen {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// ParsePORT parses RFC 959's "h1,h2,h3,h4,p1,p2": exactly six fields of
// one to three decimal digits, each 0..255, and a port other than 0.
// Blanks around a field are tolerated ("1, 2,3,4,5,6"), as Twisted and
// pyftpdlib tolerate them (Python's int()); vsftpd also insists on six
// fields but reads each with atoi, which would take "1x" as 1 — that is
// refused here. Every error is ErrSyntax (501).
func ParsePORT(arg string) (*net.TCPAddr, error) {
	var b [6]int
	rest := arg
	for i := range b {
		field := rest
		if i < len(b)-1 {
			comma := strings.IndexByte(rest, ',')
			if comma < 0 {
				return nil, ErrSyntax
			}
			field, rest = rest[:comma], rest[comma+1:]
		} else if strings.IndexByte(rest, ',') >= 0 {
			return nil, ErrSyntax
		}
		v, ok := digits(trimBlanks(field), 3)
		if !ok || v > 255 {
			return nil, ErrSyntax
		}
		b[i] = v
	}
	port := b[4]<<8 | b[5]
	if port == 0 {
		return nil, ErrSyntax
	}
	ip := net.IPv4(byte(b[0]), byte(b[1]), byte(b[2]), byte(b[3])).To4()
	return &net.TCPAddr{IP: ip, Port: port}, nil
}

// EPRT/EPSV network protocol numbers (RFC 2428).
const (
	protoIPv4 = 1
	protoIPv6 = 2
)

// ParseEPRT parses RFC 2428's "<d>proto<d>addr<d>port<d>", where <d> is
// any character from '!' to '~' ("|" in practice): "|1|132.235.1.2|6275|",
// "|2|::1|5282|". A numeric protocol other than 1 or 2 is
// ErrUnsupportedNetwork (522); everything else wrong is ErrSyntax (501),
// including an address of the other family than the protocol says (an
// IPv4-mapped IPv6 address such as ::ffff:1.2.3.4 is IPv6 text and goes
// with protocol 2; the result is then the IPv4 address).
func ParseEPRT(arg string) (*net.TCPAddr, error) {
	arg = trimBlanks(arg)
	if len(arg) < 2 || arg[0] < '!' || arg[0] > '~' {
		return nil, ErrSyntax
	}
	f := strings.Split(arg, arg[:1])
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return nil, ErrSyntax
	}
	protoText, addr, portText := f[1], f[2], f[3]
	proto, ok := digits(protoText, 9)
	if !ok {
		return nil, ErrSyntax
	}
	if proto != protoIPv4 && proto != protoIPv6 {
		return nil, ErrUnsupportedNetwork
	}
	ip := net.ParseIP(addr)
	if ip == nil || (proto == protoIPv6) != strings.Contains(addr, ":") {
		return nil, ErrSyntax
	}
	port, ok := digits(portText, 5)
	if !ok || port < 1 || port > 65535 {
		return nil, ErrSyntax
	}
	return &net.TCPAddr{IP: unmap(ip), Port: port}, nil
}

// EPSVKind is what an EPSV argument asks for.
type EPSVKind int

// EPSV arguments (RFC 2428 section 3).
const (
	// EPSVAny: no argument, the control connection's protocol.
	EPSVAny EPSVKind = iota
	// EPSVIPv4: "EPSV 1".
	EPSVIPv4
	// EPSVIPv6: "EPSV 2".
	EPSVIPv6
	// EPSVAll: "EPSV ALL", from now on only EPSV (PORT/PASV/EPRT get 503).
	EPSVAll
)

// ParseEPSVArg parses EPSV's optional argument: "", "1", "2" or "ALL"
// (any case). Another number is ErrUnsupportedNetwork (522, "use (1,2)");
// anything else ErrSyntax (501). Whether 1 or 2 matches the control
// connection's family is the PI's check (522 too).
func ParseEPSVArg(arg string) (EPSVKind, error) {
	arg = trimBlanks(arg)
	switch {
	case arg == "":
		return EPSVAny, nil
	case strings.EqualFold(arg, "ALL"):
		return EPSVAll, nil
	}
	proto, ok := digits(arg, 9)
	switch {
	case !ok:
		return 0, ErrSyntax
	case proto == protoIPv4:
		return EPSVIPv4, nil
	case proto == protoIPv6:
		return EPSVIPv6, nil
	}
	return 0, ErrUnsupportedNetwork
}

// FormatPASV formats a 227 address: "h1,h2,h3,h4,p1,p2". ip must be IPv4
// (or IPv4-mapped); any other address formats as 0,0,0,0, since PASV
// cannot express it (the PI answers 502 and points to EPSV instead).
func FormatPASV(ip net.IP, port int) string {
	v4 := ip.To4()
	if v4 == nil {
		v4 = net.IPv4zero.To4()
	}
	b := make([]byte, 0, len("255,255,255,255,255,255"))
	for _, v := range [...]int{int(v4[0]), int(v4[1]), int(v4[2]), int(v4[3]), port >> 8 & 0xff, port & 0xff} {
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return string(b)
}

// FormatEPSV formats a 229 address: "(|||port|)".
func FormatEPSV(port int) string {
	return "(|||" + strconv.Itoa(port) + "|)"
}

// FormatPORT formats a PORT argument, "h1,h2,h3,h4,p1,p2" (the same text
// as a 227 address). ip must be IPv4; see FormatPASV.
func FormatPORT(ip net.IP, port int) string { return FormatPASV(ip, port) }

// FormatEPRT formats an EPRT argument: "|1|1.2.3.4|port|" for IPv4 (and
// IPv4-mapped) addresses, "|2|::1|port|" for IPv6.
func FormatEPRT(ip net.IP, port int) string {
	proto := "2"
	if v4 := ip.To4(); v4 != nil {
		proto, ip = "1", v4
	}
	return "|" + proto + "|" + ip.String() + "|" + strconv.Itoa(port) + "|"
}

// ParsePASVReply reads the address of a 227 reply's text. RFC 959 leaves
// the text around the six numbers free, so, as RFC 1123 section 4.1.2.6
// advises, it scans for the first run of six comma-separated numbers
// (each 0-255, the port not 0): "Entering Passive Mode (127,0,0,1,4,1)."
// and "=127,0,0,1,4,1" both parse. Anything else is ErrSyntax.
func ParsePASVReply(text string) (*net.TCPAddr, error) {
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || (i > 0 && (isDigit(text[i-1]) || text[i-1] == ',')) {
			continue
		}
		j := i
		for j < len(text) && (isDigit(text[j]) || text[j] == ',') {
			j++
		}
		if a, err := ParsePORT(text[i:j]); err == nil {
			return a, nil
		}
	}
	return nil, ErrSyntax
}

// ParseEPSVReply reads the port of a 229 reply's text: "(<d><d><d>port<d>)"
// with the same delimiter <d> (a printable character other than a digit,
// "|" in practice) four times and a port of 1 to 65535 (RFC 2428 section
// 3). The host is the control connection's peer by definition. Anything
// else is ErrSyntax.
func ParseEPSVReply(text string) (int, error) {
	for {
		open := strings.IndexByte(text, '(')
		if open < 0 {
			return 0, ErrSyntax
		}
		text = text[open+1:]
		if len(text) < 6 {
			return 0, ErrSyntax
		}
		d := text[0]
		if d < '!' || d > '~' || isDigit(d) || text[1] != d || text[2] != d {
			continue
		}
		end := strings.IndexByte(text[3:], d)
		if end < 0 || 3+end+1 >= len(text) || text[3+end+1] != ')' {
			continue
		}
		port, ok := digits(text[3:3+end], 5)
		if !ok || port < 1 || port > 65535 {
			return 0, ErrSyntax
		}
		return port, nil
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// unmap returns the 4-byte form of an IPv4 or IPv4-mapped IPv6 address,
// ip itself otherwise.
func unmap(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}
