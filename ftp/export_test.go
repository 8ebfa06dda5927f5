package ftp

// SetQuickMax sets the largest download sent on the worker pool as soon
// as its data connection waits (dtp.QuickMax by default), so that a test
// can make the send buffer fill and reach the hand-over to the usual
// path. Before the factory's first session.
func SetQuickMax(f *Factory, n int64) { f.quickMax = n }
