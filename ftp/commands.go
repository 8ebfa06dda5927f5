package ftp

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
	"github.com/gnetftp/gnetftp/ftp/shell"
)

type argMode int

const (
	argOptional argMode = iota
	argRequired
	argNone
)

// command is one row of the command table.
type command struct {
	name           string
	public         bool // allowed before login (also: in any state)
	arg            argMode
	duringTransfer bool // served while a transfer runs (else queued)
	urgent         bool // served during a transfer even with commands queued before it
	help           string
	run            func(s *Session, arg string) // nil: known but not implemented (502)
}

// commandTable is the declarative table of every command the server knows
// (RFC 959, 2389, 2428, 3659 and the X* aliases of RFC 775).
func commandTable() map[string]*command {
	rows := []*command{
		{name: "USER", public: true, arg: argRequired, help: "USER <name>: log in as name", run: (*Session).cmdUSER},
		{name: "PASS", public: true, arg: argOptional, help: "PASS <password>: the password for USER", run: (*Session).cmdPASS},
		{name: "QUIT", public: true, arg: argNone, duringTransfer: true, urgent: true, help: "QUIT: end the session", run: (*Session).cmdQUIT},
		{name: "NOOP", arg: argNone, duringTransfer: true, help: "NOOP: do nothing", run: (*Session).cmdNOOP},
		{name: "SYST", arg: argNone, help: "SYST: system type", run: (*Session).cmdSYST},
		{name: "FEAT", public: true, arg: argNone, help: "FEAT: list extensions", run: (*Session).cmdFEAT},
		{name: "OPTS", arg: argRequired, help: "OPTS UTF8 ON: UTF-8 is always on", run: (*Session).cmdOPTS},
		{name: "HELP", public: true, arg: argOptional, help: "HELP [command]: this help", run: (*Session).cmdHELP},
		{name: "STAT", arg: argOptional, duringTransfer: true, urgent: true, help: "STAT [path]: server status, or a listing over the control connection", run: (*Session).cmdSTAT},
		{name: "PWD", arg: argNone, help: "PWD: print the working directory", run: (*Session).cmdPWD},
		{name: "CWD", arg: argRequired, help: "CWD <dir>: change the working directory", run: (*Session).cmdCWD},
		{name: "CDUP", arg: argNone, help: "CDUP: go to the parent directory", run: (*Session).cmdCDUP},
		{name: "MKD", arg: argRequired, help: "MKD <dir>: make a directory", run: (*Session).cmdMKD},
		{name: "RMD", arg: argRequired, help: "RMD <dir>: remove an empty directory", run: (*Session).cmdRMD},
		{name: "DELE", arg: argRequired, help: "DELE <file>: delete a file", run: (*Session).cmdDELE},
		{name: "RNFR", arg: argRequired, help: "RNFR <from>: rename from", run: (*Session).cmdRNFR},
		{name: "RNTO", arg: argRequired, help: "RNTO <to>: rename to", run: (*Session).cmdRNTO},
		{name: "SIZE", arg: argRequired, help: "SIZE <file>: size in bytes", run: (*Session).cmdSIZE},
		{name: "MDTM", arg: argRequired, help: "MDTM <file>: modification time (UTC)", run: (*Session).cmdMDTM},
		{name: "MFMT", arg: argRequired, help: "MFMT <YYYYMMDDHHMMSS> <path>: set the modification time (UTC)", run: (*Session).cmdMFMT},
		{name: "TYPE", arg: argRequired, help: "TYPE A|I|L 8: transfer type", run: (*Session).cmdTYPE},
		{name: "STRU", arg: argRequired, help: "STRU F: file structure", run: (*Session).cmdSTRU},
		{name: "MODE", arg: argRequired, help: "MODE S: stream mode", run: (*Session).cmdMODE},
		{name: "ALLO", arg: argOptional, help: "ALLO: not needed here", run: (*Session).cmdALLO},
		{name: "REST", arg: argRequired, help: "REST <offset>: restart the next RETR/STOR at offset", run: (*Session).cmdREST},
		{name: "PASV", arg: argNone, help: "PASV: passive mode (IPv4)", run: (*Session).cmdPASV},
		{name: "EPSV", arg: argOptional, help: "EPSV [1|2|ALL]: extended passive mode", run: (*Session).cmdEPSV},
		{name: "PORT", arg: argRequired, help: "PORT h1,h2,h3,h4,p1,p2: active mode", run: (*Session).cmdPORT},
		{name: "EPRT", arg: argRequired, help: "EPRT |proto|addr|port|: extended active mode", run: (*Session).cmdEPRT},
		{name: "LIST", arg: argOptional, help: "LIST [path]: long listing", run: (*Session).cmdLIST},
		{name: "NLST", arg: argOptional, help: "NLST [path|glob]: names", run: (*Session).cmdNLST},
		{name: "MLSD", arg: argOptional, help: "MLSD [dir]: machine-readable listing (RFC 3659)", run: (*Session).cmdMLSD},
		{name: "MLST", arg: argOptional, help: "MLST [path]: facts of one entry (RFC 3659)", run: (*Session).cmdMLST},
		{name: "RETR", arg: argRequired, help: "RETR <file>: download", run: (*Session).cmdRETR},
		{name: "STOR", arg: argRequired, help: "STOR <file>: upload (atomic: the old file stays until the upload completes)", run: (*Session).cmdSTOR},
		{name: "APPE", arg: argRequired, help: "APPE <file>: append", run: (*Session).cmdAPPE},
		{name: "ABOR", arg: argNone, duringTransfer: true, urgent: true, help: "ABOR: abort the transfer", run: (*Session).cmdABOR},
		// Known, not implemented: 502 (Twisted's behaviour for these).
		{name: "ACCT"}, {name: "REIN"}, {name: "SITE"}, {name: "SMNT"}, {name: "STOU"},
		{name: "AUTH"}, {name: "PBSZ"}, {name: "PROT"},
		{name: "HOST"}, {name: "LANG"},
	}
	aliases := map[string]string{"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XMKD": "MKD", "XRMD": "RMD"}
	t := make(map[string]*command, len(rows)+len(aliases))
	for _, r := range rows {
		t[r.name] = r
	}
	for alias, to := range aliases {
		t[alias] = t[to]
	}
	return t
}

func (s *Session) cmdUSER(arg string) {
	if s.state == stateAuthed || s.state == stateRenaming {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: already logged in")
		return
	}
	s.user = arg
	s.state = stateInAuth
	s.anonymous = s.f.cfg.AllowAnonymous && (strings.EqualFold(arg, "anonymous") || strings.EqualFold(arg, "ftp"))
	if s.anonymous {
		s.reply(ftpwire.StatusNeedPassword, "Guest login ok, type your email address as password.")
		return
	}
	s.replyf(ftpwire.StatusNeedPassword, "Password required for %s.", printable(arg))
}

func (s *Session) cmdPASS(arg string) {
	if s.state != stateInAuth {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: USER required before PASS")
		return
	}
	user := s.user
	users := s.f.cfg.Users
	anonymous := s.anonymous
	if sh, ok := s.quickLogin(user, arg); ok {
		s.loggedIn(sh)
		return
	}
	realm := s.f.cfg.Realm
	blocking(s, func() (shell.Shell, error) {
		if anonymous {
			return realm.Shell(shell.Login{User: user, Anonymous: true})
		}
		if users == nil {
			return nil, errBadLogin
		}
		home, err := users.Authenticate(user, arg)
		if err != nil {
			return nil, errBadLogin
		}
		return realm.Shell(shell.Login{User: user, Home: home})
	}, func(sh shell.Shell, err error) {
		if err != nil {
			s.loginFailed(err)
			return
		}
		s.loggedIn(sh)
	})
}

// quickLogin logs in on the loop when nothing has to block: an anonymous
// user, or a password the authenticator verified recently, with a shell
// that is open already. Otherwise PASS goes to the pool.
func (s *Session) quickLogin(user, password string) (shell.Shell, bool) {
	home := ""
	if !s.anonymous {
		ca, ok := s.f.cfg.Users.(auth.CachedAuthenticator)
		if !ok {
			return nil, false
		}
		if home, ok = ca.AuthenticateCached(user, password); !ok {
			return nil, false
		}
	}
	rr, ok := s.f.cfg.Realm.(shell.ReadyRealm)
	if !ok {
		return nil, false
	}
	return rr.ReadyShell(shell.Login{User: user, Home: home, Anonymous: s.anonymous})
}

func (s *Session) loggedIn(sh shell.Shell) {
	s.sh = sh
	s.state = stateAuthed
	if s.anonymous {
		s.reply(ftpwire.StatusLoggedIn, "Anonymous login ok, access restrictions apply.")
		return
	}
	s.reply(ftpwire.StatusLoggedIn, "User logged in, proceed")
}

var errBadLogin = errors.New("ftp: login failed")

// loginFailed answers 530 after the same delay whatever went wrong, and
// keeps the session paused meanwhile so a client cannot race it.
func (s *Session) loginFailed(err error) {
	if !errors.Is(err, errBadLogin) {
		s.f.cfg.Logger.Warn("ftp login error", "peer", s.Transport.RemoteAddr().String(), "user", s.user, "err", err)
	}
	s.f.cfg.Logger.Info("ftp login failed", "peer", s.Transport.RemoteAddr().String(), "user", s.user)
	s.state = stateUnauth
	s.failures++
	s.busy = true
	s.LineReceiver.PauseProducing()
	s.Transport.Loop().CallLater(s.f.cfg.FailedLoginDelay, func() {
		s.busy = false
		s.reply(ftpwire.StatusNotLoggedIn, "Sorry, Authentication failed.")
		if s.failures >= s.f.cfg.MaxLoginFailures {
			s.reply(ftpwire.StatusServiceNotAvailable, "Too many failed logins, closing control connection.")
			s.Transport.LoseConnection()
			return
		}
		s.resume()
	})
}

func (s *Session) cmdQUIT(string) {
	if s.xfer != nil {
		s.xfer.cancel()
	}
	s.reply(ftpwire.StatusClosing, "Goodbye.")
	s.Transport.LoseConnection()
}

func (s *Session) cmdNOOP(string) { s.reply(ftpwire.StatusCommandOK, "Command OK") }
func (s *Session) cmdSYST(string) { s.reply(ftpwire.StatusSystemType, "UNIX Type: L8") }

// features are what FEAT lists besides MLST (whose line depends on the
// session's facts): only what is implemented.
var features = []string{"EPRT", "EPSV", "MDTM", "MFMT", "PASV", "REST STREAM", "SIZE", "TVFS", "TYPE A;I", "UTF8"}

func (s *Session) cmdFEAT(string) {
	s.reply(ftpwire.StatusSystemStatus, "Features:\n "+strings.Join(features, "\n ")+"\n "+s.facts.Feature()+"\nEnd")
}

func (s *Session) cmdOPTS(arg string) {
	if strings.EqualFold(strings.Join(strings.Fields(arg), " "), "UTF8 ON") {
		s.reply(ftpwire.StatusCommandOK, "UTF8 mode is always on.")
		return
	}
	if name, facts, _ := strings.Cut(strings.TrimSpace(arg), " "); strings.EqualFold(name, "MLST") {
		s.facts = listing.ParseFacts(facts)
		s.reply(ftpwire.StatusCommandOK, "MLST OPTS "+s.facts.String())
		return
	}
	s.replyf(ftpwire.StatusNotImplemented, "Option '%s' not implemented.", printable(arg))
}

func (s *Session) cmdHELP(arg string) {
	if arg = strings.ToUpper(strings.TrimSpace(arg)); arg != "" {
		c := s.f.commands[arg]
		if c == nil || c.run == nil {
			s.replyf(ftpwire.StatusArgSyntaxError, "Unknown command %s.", printable(arg))
			return
		}
		s.reply(ftpwire.StatusHelp, c.help)
		return
	}
	var names []string
	for name, c := range s.f.commands {
		if c.run != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("The following commands are recognized:\n")
	for i, n := range names {
		if i%8 == 0 {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%-5s", n)
	}
	b.WriteString("\nHelp OK.")
	s.reply(ftpwire.StatusHelp, b.String())
}

func (s *Session) cmdSTAT(arg string) {
	if strings.TrimSpace(arg) == "" {
		mode := "BINARY"
		if s.ascii {
			mode = "ASCII"
		}
		xfer := "No data connection"
		if s.xfer != nil {
			xfer = "Data transfer in progress"
		}
		s.reply(ftpwire.StatusSystemStatus, fmt.Sprintf("FTP server status:\n Connected to %s\n Logged in as %s\n TYPE: %s, STRUcture: File, MODE: Stream\n %s\nEnd of status",
			s.Transport.RemoteAddr(), printable(s.user), mode, xfer))
		return
	}
	if s.xfer != nil {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: transfer in progress")
		return
	}
	s.listing(arg, false, func(buf []byte, err error, p string) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		text := "Status of " + p + ":\n" + strings.TrimRight(strings.ReplaceAll(string(buf), "\r\n", "\n"), "\n") + "\nEnd of status"
		if len(buf) == 0 {
			text = "Status of " + p + ":\nEnd of status"
		}
		s.reply(ftpwire.StatusFileStatus, text)
	})
}

func (s *Session) cmdPWD(string) {
	s.reply(ftpwire.StatusPathCreated, s.quote(s.cwd)+" is the current directory")
}

func (s *Session) quote(p string) string { return `"` + strings.ReplaceAll(p, `"`, `""`) + `"` }

func (s *Session) cmdCWD(arg string) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh := s.sh
	blocking(s, func() (struct{}, error) { return struct{}{}, sh.Access(p) }, func(_ struct{}, err error) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		s.cwd = p
		s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK")
	})
}

func (s *Session) cmdCDUP(string) { s.cmdCWD("..") }

// simple runs one shell mutation and replies ok on success.
func (s *Session) simple(arg string, op func(shell.Shell, string) error, ok func(p string)) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh := s.sh
	blocking(s, func() (struct{}, error) { return struct{}{}, op(sh, p) }, func(_ struct{}, err error) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		ok(p)
	})
}

func (s *Session) cmdMKD(arg string) {
	s.simple(arg, shell.Shell.MakeDirectory, func(p string) {
		s.reply(ftpwire.StatusPathCreated, s.quote(p)+" created")
	})
}

func (s *Session) cmdRMD(arg string) {
	s.simple(arg, shell.Shell.RemoveDirectory, func(string) { s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK") })
}

func (s *Session) cmdDELE(arg string) {
	s.simple(arg, shell.Shell.RemoveFile, func(string) { s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK") })
}

// RNFR checks that the source exists (as vsftpd and pyftpdlib do; Twisted
// does not), so a client learns about a typo before RNTO.
func (s *Session) cmdRNFR(arg string) {
	s.simple(arg, func(sh shell.Shell, p string) error { _, err := sh.Stat(p); return err }, func(p string) {
		s.renameFrom = p
		s.state = stateRenaming
		s.reply(ftpwire.StatusPending, "Requested file action pending further information.")
	})
}

func (s *Session) cmdRNTO(arg string) {
	from := s.renameFrom
	s.renameFrom = ""
	s.state = stateAuthed
	s.simple(arg, func(sh shell.Shell, p string) error { return sh.Rename(from, p) }, func(string) {
		s.reply(ftpwire.StatusFileActionOK, "Requested File Action Completed OK")
	})
}

// stat runs Stat on the pool and hands a found entry to found.
func (s *Session) stat(arg string, found func(fi fs.FileInfo)) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	sh := s.sh
	blocking(s, func() (fs.FileInfo, error) { return sh.Stat(p) }, func(fi fs.FileInfo, err error) {
		if err != nil {
			s.replyErr(err, arg)
			return
		}
		found(fi)
	})
}

func (s *Session) cmdSIZE(arg string) {
	s.stat(arg, func(fi fs.FileInfo) {
		if fi.IsDir() {
			s.replyf(ftpwire.StatusFileUnavailable, "%s: is a directory", printable(arg))
			return
		}
		s.replyf(ftpwire.StatusFileStatus, "%d", fi.Size())
	})
}

func (s *Session) cmdMDTM(arg string) {
	s.stat(arg, func(fi fs.FileInfo) {
		s.reply(ftpwire.StatusFileStatus, fi.ModTime().UTC().Format("20060102150405"))
	})
}

// cmdMFMT sets a file's modification time: "MFMT YYYYMMDDHHMMSS path"
// (UTC, draft-somers-ftp-mfxx, as pure-ftpd, ProFTPD and pyftpdlib);
// lftp and FileZilla send it after an upload to keep the original's time.
func (s *Session) cmdMFMT(arg string) {
	stamp, name, ok := strings.Cut(strings.TrimLeft(arg, " "), " ")
	stamp, _, _ = strings.Cut(stamp, ".") // fractions of a second are dropped
	t, err := time.ParseInLocation("20060102150405", stamp, time.UTC)
	if !ok || err != nil || strings.TrimSpace(name) == "" {
		s.replyf(ftpwire.StatusArgSyntaxError, "Syntax error: MFMT YYYYMMDDHHMMSS path (got '%s').", printable(arg))
		return
	}
	ts, can := s.sh.(shell.TimeSetter)
	if !can {
		s.reply(ftpwire.StatusNotImplemented, "Command 'MFMT' not implemented for this filesystem")
		return
	}
	p, err := s.path(name)
	if err != nil {
		s.replyErr(err, name)
		return
	}
	blocking(s, func() (struct{}, error) { return struct{}{}, ts.SetModTime(p, t) }, func(_ struct{}, err error) {
		if err != nil {
			s.replyErr(err, name)
			return
		}
		s.replyf(ftpwire.StatusFileStatus, "Modify=%s; %s", t.Format("20060102150405"), p)
	})
}

// cmdTYPE accepts A, A N, I and L 8 (Twisted rejects "A N" and "L 8").
func (s *Session) cmdTYPE(arg string) {
	switch strings.ToUpper(strings.Join(strings.Fields(arg), " ")) {
	case "A", "A N":
		s.ascii = true
		s.reply(ftpwire.StatusCommandOK, "Type set to A.")
	case "I", "L 8":
		s.ascii = false
		s.reply(ftpwire.StatusCommandOK, "Type set to I.")
	default:
		s.replyf(ftpwire.StatusNotImplementedParam, "Not implemented for parameter '%s'.", printable(arg))
	}
}

func (s *Session) cmdSTRU(arg string) {
	if strings.EqualFold(strings.TrimSpace(arg), "F") {
		s.reply(ftpwire.StatusCommandOK, "Command OK")
		return
	}
	s.replyf(ftpwire.StatusNotImplementedParam, "Not implemented for parameter '%s'.", printable(arg))
}

func (s *Session) cmdMODE(arg string) {
	if strings.EqualFold(strings.TrimSpace(arg), "S") {
		s.reply(ftpwire.StatusCommandOK, "Command OK")
		return
	}
	s.replyf(ftpwire.StatusNotImplementedParam, "Not implemented for parameter '%s'.", printable(arg))
}

func (s *Session) cmdALLO(string) {
	s.reply(ftpwire.StatusSuperfluous, "Command not implemented, superfluous at this site")
}

func (s *Session) cmdREST(arg string) {
	n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
	if err != nil || n < 0 {
		s.replyf(ftpwire.StatusArgSyntaxError, "syntax error in argument(s) %s.", printable(arg))
		return
	}
	s.rest = n
	s.replyf(ftpwire.StatusPending, "Restarting at %d. Send STOR or RETR to initiate transfer.", n)
}

// localIP is the control connection's real local address (getsockname).
func (s *Session) localIP() net.IP {
	if ta, ok := s.Transport.LocalAddr().(*net.TCPAddr); ok {
		return ta.IP
	}
	return net.IPv4(127, 0, 0, 1)
}

func (s *Session) closeData() {
	if s.pasv != nil {
		s.pasv.Close()
		s.pasv = nil
	}
	s.active = nil
}

func (s *Session) cmdPASV(string) {
	if s.epsvAll {
		s.reply(ftpwire.StatusBadSequence, "Incorrect sequence of commands: may not send PASV after EPSV ALL")
		return
	}
	ip := s.localIP()
	if ip.To4() == nil {
		s.reply(ftpwire.StatusNotImplemented, "PASV available only for IPv4 (use EPSV instead)")
		return
	}
	announce := ip
	if s.f.pubIP != nil {
		announce = s.f.pubIP
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
func (s *Session) listenPassive(ip net.IP, ok func(p *dtp.Passive)) {
	s.closeData()
	cfg := s.f.cfg.Data
	if cfg.OnForeignPeer == nil {
		logger, peer := s.f.cfg.Logger, s.Transport.RemoteAddr()
		cfg.OnForeignPeer = func(remote *net.TCPAddr) { // on the accepting goroutine
			logger.Warn("ftp data connection from another host refused (RFC 2577)", "peer", peer.String(), "from", remote.String())
		}
	}
	p, err := dtp.Listen(cfg, s.f.ports, ip)
	if err != nil {
		s.f.cfg.Logger.Warn("ftp passive listen", "err", err)
		s.reply(ftpwire.StatusCantOpenData, "Can't open data connection.")
		return
	}
	s.pasv = p
	ok(p)
}

func (s *Session) cmdEPSV(arg string) {
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
		s.reply(ftpwire.StatusNetworkProtocol, "Network protocol not supported, use ("+map[bool]string{true: "1", false: "2"}[v4]+")")
		return
	}
	s.listenPassive(ip, func(p *dtp.Passive) {
		s.replyf(ftpwire.StatusExtendedPassive, "Entering Extended Passive Mode (|||%d|).", p.Port())
	})
}

func (s *Session) cmdPORT(arg string) { s.activeMode("PORT", arg, ftpwire.ParsePORT) }
func (s *Session) cmdEPRT(arg string) { s.activeMode("EPRT", arg, ftpwire.ParseEPRT) }

func (s *Session) activeMode(name, arg string, parse func(string) (*net.TCPAddr, error)) {
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
	if err := dtp.CheckActive(s.f.cfg.Data, s.peerIP, target); err != nil {
		s.f.cfg.Logger.Warn("ftp refused active data address", "peer", s.Transport.RemoteAddr().String(), "target", target.String(), "err", err)
		s.replyf(ftpwire.StatusSyntaxError, "Illegal %s command: %v.", name, err)
		return
	}
	s.closeData()
	s.active = target
	s.replyf(ftpwire.StatusCommandOK, "%s OK", name)
}

func (s *Session) cmdABOR(string) {
	s.closeData()
	if s.xfer == nil {
		s.reply(ftpwire.StatusNoTransfer, "No transfer to abort.")
		return
	}
	s.xfer.aborted = true
	s.xfer.cancel() // the transfer's completion sends 426 and then 226
}
