package shell

// NewLocalUncached is NewLocal without the listing cache, for benchmarks
// that compare both.
func NewLocalUncached(dir string) (*Local, error) {
	l, err := NewLocal(dir)
	if err != nil {
		return nil, err
	}
	_ = l.cache.close()
	l.cache = nil
	return l, nil
}

// Fstatats is how many entries l's List has stat'ed so far.
func Fstatats(l *Local) int64 { return l.fstatats.Load() }
