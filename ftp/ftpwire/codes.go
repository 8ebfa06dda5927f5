package ftpwire

// Reply codes, named after their meaning in RFC 959 section 4.2.1 unless
// another RFC is given. Only codes this project sends or reads are named.
const (
	StatusFileStatusOK        = 150 // RFC 959: about to open data connection
	StatusCommandOK           = 200 // RFC 959
	StatusSuperfluous         = 202 // RFC 959: command not implemented, superfluous at this site (ALLO)
	StatusSystemStatus        = 211 // RFC 959: system status, or help reply (STAT, FEAT in RFC 2389)
	StatusFileStatus          = 213 // RFC 959: file status (SIZE and MDTM in RFC 3659, STAT path)
	StatusHelp                = 214 // RFC 959
	StatusSystemType          = 215 // RFC 959: NAME system type
	StatusServiceReady        = 220 // RFC 959: service ready for new user
	StatusClosing             = 221 // RFC 959: service closing control connection
	StatusNoTransfer          = 225 // RFC 959: data connection open; no transfer in progress (ABOR)
	StatusTransferComplete    = 226 // RFC 959: closing data connection; requested file action successful
	StatusPassive             = 227 // RFC 959: entering passive mode (h1,h2,h3,h4,p1,p2)
	StatusExtendedPassive     = 229 // RFC 2428 section 3: entering extended passive mode (|||port|)
	StatusLoggedIn            = 230 // RFC 959: user logged in, proceed
	StatusAuthOK              = 234 // RFC 2228 section 4: security data exchange complete (AUTH)
	StatusFileActionOK        = 250 // RFC 959: requested file action okay, completed
	StatusPathCreated         = 257 // RFC 959: "PATHNAME" created
	StatusNeedPassword        = 331 // RFC 959: user name okay, need password
	StatusPending             = 350 // RFC 959: requested file action pending further information (RNFR, REST)
	StatusServiceNotAvailable = 421 // RFC 959: service not available, closing control connection
	StatusCantOpenData        = 425 // RFC 959: can't open data connection
	StatusTransferAborted     = 426 // RFC 959: connection closed; transfer aborted
	StatusTLSUnavailable      = 431 // RFC 2228 section 4: need some unavailable resource to process security
	StatusFileBusy            = 450 // RFC 959: requested file action not taken; file unavailable (busy)
	StatusLocalError          = 451 // RFC 959: requested action aborted; local error in processing
	StatusInsufficientStorage = 452 // RFC 959: requested action not taken; insufficient storage space
	StatusSyntaxError         = 500 // RFC 959: syntax error, command unrecognized
	StatusArgSyntaxError      = 501 // RFC 959: syntax error in parameters or arguments
	StatusNotImplemented      = 502 // RFC 959: command not implemented
	StatusBadSequence         = 503 // RFC 959: bad sequence of commands
	StatusNotImplementedParam = 504 // RFC 959: command not implemented for that parameter
	StatusProtLevelRefused    = 521 // RFC 4217 section 9: data connection cannot be opened with this PROT setting
	StatusNetworkProtocol     = 522 // RFC 2428 section 2: network protocol not supported, use (1,2)
	StatusDataTLSFailed       = 522 // RFC 4217 section 10.2: the data connection's TLS failed (or did not resume the session)
	StatusNotLoggedIn         = 530 // RFC 959: not logged in
	StatusCommandProtDenied   = 533 // RFC 2228 section 4: command protection level denied for policy reasons (CCC in clear)
	StatusProtectionDenied    = 534 // RFC 2228 section 4: request denied for policy reasons
	StatusProtNotSupported    = 536 // RFC 2228 section 4: requested PROT level not supported by mechanism
	StatusFileUnavailable     = 550 // RFC 959: requested action not taken; file unavailable
	StatusExceededStorage     = 552 // RFC 959: requested file action aborted; exceeded storage allocation
	StatusBadFileName         = 553 // RFC 959: requested action not taken; file name not allowed
	StatusRestartInvalid      = 554 // RFC 1123 section 4.1.3.4: invalid REST parameter
)
