// Commands that touch neither files nor data connections: QUIT, NOOP,
// SYST, FEAT, OPTS, HELP, STAT without a path, TYPE, STRU, MODE, ALLO.

package ftp

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/listing"
)

// cmdQUIT ends the session. During a transfer QUIT is queued after
// stopping it (see queue), so it runs once the transfer has answered.
func (s *session) cmdQUIT(string) {
	s.reply(ftpwire.StatusClosing, "Goodbye.")
	s.Transport.LoseConnection()
}

func (s *session) cmdNOOP(string) { s.reply(ftpwire.StatusCommandOK, "Command OK") }

func (s *session) cmdSYST(string) { s.reply(ftpwire.StatusSystemType, "UNIX Type: L8") }

// features are what FEAT lists besides MLST (whose line depends on the
// session's facts): only what is implemented.
var features = []string{"EPRT", "EPSV", "HOST", "MDTM", "MFMT", "PASV", "REST STREAM", "SIZE", "TVFS", "TYPE A;I", "UTF8"}

func (s *session) cmdFEAT(string) {
	feats := features
	if s.f.cfg.TLS != nil {
		feats = append(append([]string(nil), tlsFeatures...), features...)
	}
	s.reply(ftpwire.StatusSystemStatus, "Features:\n "+strings.Join(feats, "\n ")+"\n "+s.facts.Feature()+"\nEnd")
}

func (s *session) cmdOPTS(arg string) {
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

func (s *session) cmdHELP(arg string) {
	if arg = strings.ToUpper(strings.TrimSpace(arg)); arg != "" {
		if name, sub, _ := strings.Cut(arg, " "); name == "SITE" {
			s.reply(s.siteHelp(sub)) // HELP SITE [CHMOD]
			return
		}
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

func (s *session) cmdSTAT(arg string) {
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
	s.statListing(arg)
}

// cmdTYPE accepts A, A N, I and L 8 (Twisted rejects "A N" and "L 8").
func (s *session) cmdTYPE(arg string) {
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

func (s *session) cmdSTRU(arg string) {
	if strings.EqualFold(strings.TrimSpace(arg), "F") {
		s.reply(ftpwire.StatusCommandOK, "Command OK")
		return
	}
	s.replyf(ftpwire.StatusNotImplementedParam, "Not implemented for parameter '%s'.", printable(arg))
}

func (s *session) cmdMODE(arg string) {
	if strings.EqualFold(strings.TrimSpace(arg), "S") {
		s.reply(ftpwire.StatusCommandOK, "Command OK")
		return
	}
	s.replyf(ftpwire.StatusNotImplementedParam, "Not implemented for parameter '%s'.", printable(arg))
}

func (s *session) cmdALLO(string) {
	s.reply(ftpwire.StatusSuperfluous, "Command not implemented, superfluous at this site")
}
