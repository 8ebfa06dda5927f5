//go:build !unix

package dtp

// Ready reports whether a connection waits in the listener's queue; off
// Unix it cannot tell without blocking and says no.
func (p *Passive) Ready() bool { return false }
