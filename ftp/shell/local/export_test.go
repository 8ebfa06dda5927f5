package local

// NewUncached is New without the listing cache, for benchmarks
// that compare both.
func NewUncached(dir string) (*Local, error) {
	l, err := New(dir)
	if err != nil {
		return nil, err
	}
	_ = l.cache.close()
	l.cache = nil
	return l, nil
}

// Fstatats is how many entries l's List has stat'ed so far.
func Fstatats(l *Local) int64 { return l.fstatats.Load() }

// NewNamedUploads is New with uploads in hidden named files, as where
// the filesystem has no O_TMPFILE.
func NewNamedUploads(dir string) (*Local, error) {
	l, err := New(dir)
	if err != nil {
		return nil, err
	}
	l.linkByProc = false
	return l, nil
}

// TempPrefix is the reserved prefix of uploads' names.
const TempPrefix = tempPrefix

// Swept is closed when l's start-up sweep of stale uploads is over.
func Swept(l *Local) <-chan struct{} { return l.swept }
