package pgstore

// Die stops a's heartbeat without giving anything back, as a node
// killed with SIGKILL does: what it holds lapses with its lease.
func (a *Accounts) Die() {
	a.cancel()
	a.wg.Wait()
}
