//go:build !linux

package reactor

// peerFinished cannot look behind pending data outside Linux: the peer
// is taken to be there.
func peerFinished(int) bool { return false }
