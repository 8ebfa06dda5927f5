package ftp

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
