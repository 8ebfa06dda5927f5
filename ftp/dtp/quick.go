package dtp

import "net"

// QuickMax is the largest download QuickSend is meant for: what a new
// connection's send buffer takes whatever the client does (tcp_wmem's
// default 16 KiB), so that the sendfile neither waits for the client nor
// blocks. Larger ones go the usual way (Accept, Send).
const QuickMax = 16 << 10

// Quick is what QuickSend did.
type Quick struct {
	// Taken: a connection from the client waited in the listener's
	// queue and QuickSend used it. When false nothing happened.
	Taken bool
	// Sent counts the bytes of the file written to the connection.
	Sent int64
	// Rest, when not nil, is the connection, whose send buffer filled
	// after Sent bytes: the caller sends the rest with Send.
	Rest *net.TCPConn
	// Err: the transfer failed (ErrPeerClosed, ErrLocalIO) and the
	// connection was reset.
	Err error
}
