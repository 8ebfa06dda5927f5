// The session's host and its reset: HOST (RFC 7151) chooses a virtual
// host before login, REIN (RFC 959 4.1.1) goes back to just after the
// greeting.

package ftp

import (
	"net/netip"
	"strings"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
)

// maxHostName is the longest host name HOST takes (RFC 1035's 253).
const maxHostName = 253

// hostKey is how a HOST argument or a VirtualHost's name is compared:
// lower case, without a trailing dot; an IPv6 literal inside brackets
// ("[2001:db8::1]", RFC 7151 section 3), an IPv4 address as it is. ok is
// false for anything else than a host name (letters, digits, hyphens,
// underscores between dots) or an IP address.
func hostKey(name string) (key string, ok bool) {
	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
		a, err := netip.ParseAddr(name[1 : len(name)-1])
		if err != nil || !a.Is6() {
			return "", false
		}
		return "[" + a.String() + "]", true
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		return a.String(), true
	}
	if name == "" || len(name) > maxHostName {
		return "", false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return name, true
}

// cmdHOST chooses the virtual host to log in to (RFC 7151): before USER
// only (503 after it, and after login), 504 for a name the server does
// not serve. A server without virtual hosts accepts any well-formed
// name and changes nothing. The reply is the host's greeting.
func (s *session) cmdHOST(arg string) {
	if s.state != stateUnauth {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: HOST must come before USER")
		return
	}
	key, ok := hostKey(arg)
	if !ok {
		s.replyf(ftpwire.StatusArgSyntaxError, "Syntax error: HOST <host name or IP address> (got '%s').", printable(arg))
		return
	}
	if len(s.f.vhosts) == 0 {
		s.reply(ftpwire.StatusServiceReady, s.f.defaultHost.welcome)
		return
	}
	h := s.f.vhosts[key]
	if h == nil {
		s.replyf(ftpwire.StatusNotImplementedParam, "Unknown host '%s'.", printable(arg))
		return
	}
	s.host = h
	s.reply(ftpwire.StatusServiceReady, h.welcome)
}

// cmdREIN resets the session to what it was just after the greeting
// (RFC 959 4.1.1): logged out, the default host, the transfer parameters
// (TYPE, REST, PORT/PASV, EPSV ALL, OPTS MLST) back to their defaults,
// the login deadline started again. A transfer in progress completes
// first (REIN waits in the queue like any command). What the connection
// itself negotiated stays (TLS), and so do the failed login count and
// any ban.
func (s *session) cmdREIN(string) {
	s.closeData()
	s.dropLimits() // logged out: no longer one of the user's sessions
	s.state = stateUnauth
	s.user, s.anonymous, s.sh = "", false, nil
	s.cwd, s.renameFrom = "/", ""
	s.ascii, s.rest, s.epsvAll = false, 0, false
	s.facts = listing.AllFacts
	s.host = s.f.defaultHost
	s.loginSince = s.Transport.Loop().Now()
	s.touch()
	s.reply(ftpwire.StatusServiceReady, "Service ready for new user.")
}
