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
	duringTransfer bool // answered at once during a transfer when nothing before it waits (else queued)
	urgent         bool // stops a running transfer at once, even behind queued commands; its reply keeps its place
	help           string
	run            func(s *session, arg string) // nil: known but not implemented (502)
}

// commandTable is the declarative table of every command the server knows
// (RFC 959, 2389, 2428, 3659, 7151 and the X* aliases of RFC 775). SITE's
// subcommands have a table of their own (siteTable).
func commandTable() map[string]*command {
	rows := []*command{
		{name: "USER", public: true, arg: argRequired, help: "USER <name>: log in as name", run: (*session).cmdUSER},
		{name: "PASS", public: true, arg: argOptional, help: "PASS <password>: the password for USER", run: (*session).cmdPASS},
		{name: "HOST", public: true, arg: argRequired, help: "HOST <name>: the virtual host to log in to, before USER (RFC 7151)", run: (*session).cmdHOST},
		{name: "REIN", public: true, arg: argNone, help: "REIN: log out and start again as just after connecting", run: (*session).cmdREIN},
		{name: "QUIT", public: true, arg: argNone, urgent: true, help: "QUIT: end the session", run: (*session).cmdQUIT},
		{name: "NOOP", arg: argNone, duringTransfer: true, help: "NOOP: do nothing", run: (*session).cmdNOOP},
		{name: "SYST", arg: argNone, help: "SYST: system type", run: (*session).cmdSYST},
		{name: "FEAT", public: true, arg: argNone, help: "FEAT: list extensions", run: (*session).cmdFEAT},
		{name: "OPTS", public: true, arg: argRequired, help: "OPTS UTF8 ON: UTF-8 is always on", run: (*session).cmdOPTS},
		{name: "HELP", public: true, arg: argOptional, help: "HELP [command]: this help", run: (*session).cmdHELP},
		{name: "STAT", arg: argOptional, duringTransfer: true, help: "STAT [path]: server status, or a listing over the control connection", run: (*session).cmdSTAT},
		{name: "PWD", arg: argNone, help: "PWD: print the working directory", run: (*session).cmdPWD},
		{name: "CWD", arg: argRequired, help: "CWD <dir>: change the working directory", run: (*session).cmdCWD},
		{name: "CDUP", arg: argNone, help: "CDUP: go to the parent directory", run: (*session).cmdCDUP},
		{name: "MKD", arg: argRequired, help: "MKD <dir>: make a directory", run: (*session).cmdMKD},
		{name: "RMD", arg: argRequired, help: "RMD <dir>: remove an empty directory", run: (*session).cmdRMD},
		{name: "DELE", arg: argRequired, help: "DELE <file>: delete a file", run: (*session).cmdDELE},
		{name: "RNFR", arg: argRequired, help: "RNFR <from>: rename from", run: (*session).cmdRNFR},
		{name: "RNTO", arg: argRequired, help: "RNTO <to>: rename to", run: (*session).cmdRNTO},
		{name: "SIZE", arg: argRequired, help: "SIZE <file>: size in bytes", run: (*session).cmdSIZE},
		{name: "MDTM", arg: argRequired, help: "MDTM <file>: modification time (UTC)", run: (*session).cmdMDTM},
		{name: "MFMT", arg: argRequired, help: "MFMT <YYYYMMDDHHMMSS> <path>: set the modification time (UTC)", run: (*session).cmdMFMT},
		{name: "TYPE", arg: argRequired, help: "TYPE A|I|L 8: transfer type", run: (*session).cmdTYPE},
		{name: "STRU", arg: argRequired, help: "STRU F: file structure", run: (*session).cmdSTRU},
		{name: "MODE", arg: argRequired, help: "MODE S: stream mode", run: (*session).cmdMODE},
		{name: "ALLO", arg: argOptional, help: "ALLO: not needed here", run: (*session).cmdALLO},
		{name: "REST", arg: argRequired, help: "REST <offset>: restart the next RETR/STOR at offset", run: (*session).cmdREST},
		{name: "PASV", arg: argNone, help: "PASV: passive mode (IPv4)", run: (*session).cmdPASV},
		{name: "EPSV", arg: argOptional, help: "EPSV [1|2|ALL]: extended passive mode", run: (*session).cmdEPSV},
		{name: "PORT", arg: argRequired, help: "PORT h1,h2,h3,h4,p1,p2: active mode", run: (*session).cmdPORT},
		{name: "EPRT", arg: argRequired, help: "EPRT |proto|addr|port|: extended active mode", run: (*session).cmdEPRT},
		{name: "LIST", arg: argOptional, help: "LIST [path]: long listing", run: (*session).cmdLIST},
		{name: "NLST", arg: argOptional, help: "NLST [path|glob]: names", run: (*session).cmdNLST},
		{name: "MLSD", arg: argOptional, help: "MLSD [dir]: machine-readable listing (RFC 3659)", run: (*session).cmdMLSD},
		{name: "MLST", arg: argOptional, help: "MLST [path]: facts of one entry (RFC 3659)", run: (*session).cmdMLST},
		{name: "RETR", arg: argRequired, help: "RETR <file>: download", run: (*session).cmdRETR},
		{name: "STOR", arg: argRequired, help: "STOR <file>: upload (atomic: the old file stays until the upload completes)", run: (*session).cmdSTOR},
		{name: "STOU", arg: argOptional, help: "STOU [name]: upload under a new unique name, told in the 150 reply (atomic, never replaces a file)", run: (*session).cmdSTOU},
		{name: "APPE", arg: argRequired, help: "APPE <file>: append", run: (*session).cmdAPPE},
		{name: "ABOR", arg: argNone, duringTransfer: true, urgent: true, help: "ABOR: abort the transfer", run: (*session).cmdABOR},
		{name: "SITE", arg: argRequired, help: "SITE <CHMOD|UTIME|HELP> ...: site commands (HELP SITE or SITE HELP lists them)", run: (*session).cmdSITE},
		{name: "AUTH", public: true, arg: argRequired, help: "AUTH TLS: make the control connection TLS (RFC 4217)", run: (*session).cmdAUTH},
		{name: "PBSZ", public: true, arg: argRequired, help: "PBSZ 0: protection buffer size, after AUTH TLS", run: (*session).cmdPBSZ},
		{name: "PROT", public: true, arg: argRequired, help: "PROT P|C: data connections with TLS (P) or without (C)", run: (*session).cmdPROT},
		{name: "CCC", public: true, arg: argNone, help: "CCC: clear the control connection (refused)", run: (*session).cmdCCC},
		// Known, not implemented: 502 (Twisted's behaviour for these).
		{name: "ACCT"}, {name: "SMNT"}, {name: "LANG"},
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
