// Data-channel setup: PASV and EPSV (RFC 959, RFC 2428) open a passive
// listener, PORT and EPRT name an active target, REST sets the restart
// point; the next transfer command takes the channel.

package ftp

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

func (s *session) cmdREST(arg string) {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		s.replyf(ftpwire.StatusArgSyntaxError, "syntax error in argument(s) %s.", printable(arg))
		return
	}
	s.rest = n
	s.replyf(ftpwire.StatusPending, "Restarting at %d. Send STOR or RETR to initiate transfer.", n)
}

// localIP is the control connection's real local address (getsockname).
func (s *session) localIP() net.IP {
	if ta, ok := s.Transport.LocalAddr().(*net.TCPAddr); ok {
		return ta.IP
	}
	return net.IPv4(127, 0, 0, 1)
}

// closeData closes the data channel prepared for the next transfer and
// the passive listener kept from the last one, if any.
func (s *session) closeData() {
	if s.data != nil {
		s.data.Close()
		s.data = nil
	}
	if s.kept != nil {
		s.kept.Close()
		s.kept = nil
	}
}

// keepPassive takes back, on the loop, the passive listener of a transfer
// that has ended, for the session's next PASV/EPSV: one socket, bind,
// listen and close per session instead of per transfer. It is closed
// instead when the session has prepared another channel meanwhile, or
// when more than half of the passive range is in use (kept listeners must
// not starve other sessions of ports). A kept listener is closed like a
// waiting one after the accept timeout without a PASV/EPSV (nobody holds
// a port without using it), and by PORT/EPRT, REIN and the session's end.
// While kept, nothing accepts on it: what connects waits in its small
// queue (dtp.Passive.SetSmallBacklog) until the next PASV/EPSV drains it
// or the listener closes. A kept listener does not count against
// MaxPassivePerIP (a session holds at most one); it counts again from
// the PASV/EPSV that reuses it until its connection is accepted.
func (s *session) keepPassive(p *dtp.Passive) {
	if s.lost || s.data != nil || s.kept != nil || !s.f.ports.Spare() {
		p.Close()
		return
	}
	s.kept = p
	if d := s.f.cfg.Data.WithDefaults().AcceptTimeout; d > 0 {
		s.armAcceptTimer(d)
	}
}

// reclaimPassive returns the session's kept passive listener (or the one
// of a PASV/EPSV no transfer has taken yet) if it listens on ip, with
// whatever connected to it since closed (Drain), and nil otherwise.
func (s *session) reclaimPassive(ip net.IP) *dtp.Passive {
	p := s.kept
	s.kept = nil
	if cc, ok := s.data.(*countedChannel); ok && cc.keep && p == nil {
		p, s.data = cc.p, nil
		cc.release()
	}
	if p == nil {
		return nil
	}
	if want := ip.To4(); (want == nil && !p.Addr().IP.Equal(ip)) || (want != nil && !p.Addr().IP.Equal(want)) {
		p.Close()
		return nil
	}
	if _, err := p.Drain(); err != nil {
		s.warn("ftp passive drain", "err", err)
		p.Close()
		return nil
	}
	return p
}

// armAcceptTimer sees to it that the passive channel just set up is
// closed if no transfer command takes it within d: nobody may hold a port
// without using it (the next transfer command then gets 425). One timer
// per session serves every PASV: it is left running when a command takes
// the channel, and when it fires it closes the channel only if that has
// waited d, else waits again for the rest (a PASV costs no timer of its
// own, the hot path of small transfers).
func (s *session) armAcceptTimer(d time.Duration) {
	s.passiveSince = s.Transport.Loop().Now()
	if s.dataTimer != nil && s.dataTimer.Active() {
		return
	}
	var check func()
	check = func() {
		s.dataTimer = nil
		if _, waiting := s.data.(*countedChannel); !waiting && s.kept == nil {
			return
		}
		if left := d - s.Transport.Loop().Now().Sub(s.passiveSince); left > 0 {
			s.dataTimer = s.Transport.Loop().CallLater(left, check)
			return
		}
		s.closeData()
	}
	s.dataTimer = s.Transport.Loop().CallLater(d, check)
}

func (s *session) cmdPASV(string) {
	if s.epsvAll {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: may not send PASV after EPSV ALL")
		return
	}
	if s.dataProtRefused() {
		return
	}
	ip := s.localIP()
	if ip.To4() == nil {
		s.reply(ftpwire.StatusNotImplemented, "PASV available only for IPv4 (use EPSV instead)")
		return
	}
	announce := ip
	if pub := s.f.pubIP.Load(); pub != nil {
		announce = *pub
	}
	s.listenPassive(ip, func(p *dtp.Passive) {
		s.replyf(ftpwire.StatusPassive, "Entering Passive Mode (%s).", ftpwire.FormatPASV(announce, p.Port()))
	})
}

// listenPassive replaces the session's data channel with a new passive
// listener on ip, then calls ok with it. It runs on the loop: socket,
// bind and listen are non-blocking calls with nothing on disk (Twisted's
// listenTCP runs on the reactor thread too), and a trip through the pool
// would cost more than the work and make EPSV wait behind stalled
// filesystem calls.
func (s *session) listenPassive(ip net.IP, ok func(p *dtp.Passive)) {
	p := s.reclaimPassive(ip)
	s.closeData()
	cfg := s.f.cfg.Data
	if cfg.OnForeignPeer == nil {
		logger, peer := s.f.cfg.Logger, s.Transport.RemoteAddr()
		cfg.OnForeignPeer = func(remote *net.TCPAddr) { // on the accepting goroutine
			logger.Warn("ftp data connection from another host refused (RFC 2577)", "peer", peer.String(), "from", remote.String())
		}
	}
	if !s.f.takePassive(s.ip) {
		if p != nil {
			p.Close()
		}
		s.refused(RefusedMaxPassivePerIP)
		s.reply(ftpwire.StatusCantOpenData, "Can't open data connection: too many passive connections open from your address.")
		return
	}
	if p == nil {
		var err error
		if p, err = dtp.Listen(cfg, s.f.ports, ip); err != nil {
			s.f.releasePassive(s.ip)
			s.warn("ftp passive listen", "err", err)
			s.reply(ftpwire.StatusCantOpenData, "Can't open data connection.")
			return
		}
		if err := p.SetSmallBacklog(); err != nil {
			s.warn("ftp passive listen", "err", err)
		}
	}
	s.data = &countedChannel{p: p, peer: s.peerIP, f: s.f, ip: s.ip, keep: true}
	if d := cfg.AcceptTimeout; d > 0 {
		s.armAcceptTimer(d)
	}
	ok(p)
}

// countedChannel is the dtp.Channel of a passive listener (p.Channel's,
// without a second allocation), counted against its client IP
// (Factory.takePassive) until its connection is accepted or it is
// closed, whichever comes first. With keep, a successful Open leaves the
// listener open: the transfer hands it back to the session at its end
// (keepPassive), or closes it if the session is gone.
type countedChannel struct {
	p        *dtp.Passive
	peer     net.IP
	f        *Factory
	ip       string
	keep     bool
	opened   bool // Open accepted a connection (the transfer's goroutine)
	released atomic.Bool
	// accepted is the connection quickSend took from the queue and
	// could not finish with, for Open to return.
	accepted *net.TCPConn
}

func (c *countedChannel) Open(ctx context.Context) (*net.TCPConn, error) {
	var conn *net.TCPConn
	var err error
	if conn, c.accepted = c.accepted, nil; conn != nil {
		c.opened = true
		return conn, nil
	}
	if c.keep {
		if conn, err = c.p.AcceptKeep(ctx, c.peer); err != nil {
			c.p.Close()
		}
		c.opened = err == nil
	} else {
		conn, err = c.p.Accept(ctx, c.peer)
	}
	c.release()
	return conn, err
}

// keptListener is the listener d left open when its Open accepted a
// connection, for the session to keep (see countedChannel), nil if none.
// Whatever failed after the accept (a TLS handshake on the data
// connection, the transfer) leaves it to the session all the same. On the
// transfer's goroutine, after Open.
func keptListener(d dtp.Channel) *dtp.Passive {
	if cc, ok := d.(*countedChannel); ok && cc.opened {
		return cc.p
	}
	return nil
}

func (c *countedChannel) Close() error {
	if c.accepted != nil {
		_ = c.accepted.Close()
		c.accepted = nil
	}
	err := c.p.Close()
	c.release()
	return err
}

func (c *countedChannel) release() {
	if c.released.CompareAndSwap(false, true) {
		c.f.releasePassive(c.ip)
	}
}

func (s *session) cmdEPSV(arg string) {
	kind, err := ftpwire.ParseEPSVArg(arg)
	ip := s.localIP()
	v4 := ip.To4() != nil
	switch {
	case errors.Is(err, ftpwire.ErrUnsupportedNetwork):
		s.reply(ftpwire.StatusNetworkProtocol, "Network protocol not supported, use (1,2)")
		return
	case err != nil:
		s.replyf(ftpwire.StatusArgSyntaxError, "syntax error in argument(s) %s.", printable(strings.TrimSpace(arg)))
		return
	case kind == ftpwire.EPSVAll:
		s.epsvAll = true
		s.reply(ftpwire.StatusCommandOK, "EPSV ALL OK")
		return
	case kind == ftpwire.EPSVIPv4 && !v4, kind == ftpwire.EPSVIPv6 && v4:
		s.reply(ftpwire.StatusNetworkProtocol, "Network protocol not supported, use ("+familyNumber(ip)+")")
		return
	}
	if s.dataProtRefused() {
		return
	}
	s.listenPassive(ip, func(p *dtp.Passive) {
		s.replyf(ftpwire.StatusExtendedPassive, "Entering Extended Passive Mode (|||%d|).", p.Port())
	})
}

func (s *session) cmdPORT(arg string) { s.activeMode("PORT", arg, ftpwire.ParsePORT) }

func (s *session) cmdEPRT(arg string) { s.activeMode("EPRT", arg, ftpwire.ParseEPRT) }

func (s *session) activeMode(name, arg string, parse func(string) (*net.TCPAddr, error)) {
	if s.epsvAll {
		s.replyf(ftpwire.StatusBadSequence, "Incorrect sequence of commands: may not send %s after EPSV ALL", name)
		return
	}
	target, err := parse(arg)
	switch {
	case errors.Is(err, ftpwire.ErrUnsupportedNetwork):
		s.reply(ftpwire.StatusNetworkProtocol, "Network protocol not supported, use (1,2)")
		return
	case err != nil:
		s.replyf(ftpwire.StatusArgSyntaxError, "syntax error in argument(s) %s.", printable(arg))
		return
	}
	if s.dataProtRefused() {
		return
	}
	if err := dtp.CheckActive(s.f.cfg.Data, s.peerIP, target); err != nil {
		s.warn("ftp refused active data address", "target", target.String(), "err", err)
		if errors.Is(err, dtp.ErrForeignAddress) && (target.IP.To4() == nil) != (s.peerIP.To4() == nil) {
			// The other family than the control connection's can only be
			// another host (RFC 2428 section 2: 522 names what works).
			s.reply(ftpwire.StatusNetworkProtocol, "Network protocol not supported, use ("+familyNumber(s.peerIP)+")")
			return
		}
		s.replyf(ftpwire.StatusSyntaxError, "Illegal %s command: %s.", name, activeRefusal(err))
		return
	}
	s.closeData()
	s.data = dtp.ActiveChannel(s.f.cfg.Data, s.peerIP, target)
	s.replyf(ftpwire.StatusCommandOK, "%s OK", name)
}

// takeData hands the prepared data connection to a transfer; a transfer
// command without PASV/EPSV/PORT/EPRT first gets 425 (as in vsftpd;
// Twisted says 503).
func (s *session) takeData() (dtp.Channel, bool) {
	if s.data == nil {
		s.reply(ftpwire.StatusCantOpenData, "Use PORT, PASV, EPRT or EPSV first.")
		return nil, false
	}
	d := s.data
	s.data = nil // from now on Accept's own timeout applies
	return d, true
}

// familyNumber is RFC 2428's network protocol number of ip's family: "1"
// for IPv4, "2" for IPv6.
func familyNumber(ip net.IP) string {
	if ip.To4() != nil {
		return "1"
	}
	return "2"
}

// activeRefusals are the reply texts of dtp.CheckActive's refusals: the
// package's own error texts carry its name, which is no client's business.
var activeRefusals = []struct {
	err  error
	text string
}{
	{dtp.ErrForeignAddress, "data connection to a third host refused"},
	{dtp.ErrPrivilegedPort, "data connection to a privileged port refused"},
}

// activeRefusal is the reply text for a refused PORT/EPRT target.
func activeRefusal(err error) string {
	for _, r := range activeRefusals {
		if errors.Is(err, r.err) {
			return r.text
		}
	}
	return "bad address"
}
