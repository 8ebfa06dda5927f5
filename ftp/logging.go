// Logging that a client cannot turn into a flood: client-named text is
// cut short, and each session's warnings go through a token bucket.

package ftp

import (
	"strconv"
	"time"
)

// maxLogText is the most of a client-named string (path, user name,
// error text that quotes a path) a log line carries: a command line may
// hold 16 KiB, and a client repeating it must not write that to the log
// each time.
const maxLogText = 256

// logText returns s cut to maxLogText bytes, with a marker saying how
// long it was.
func logText(s string) string {
	if len(s) <= maxLogText {
		return s
	}
	return s[:maxLogText] + "...[" + strconv.Itoa(len(s)) + " bytes]"
}

// Each session may log warnBurst warnings at once, then one per
// warnEvery; the others are counted, and the next line that goes out (or
// the session's end) says how many were dropped.
const (
	warnBurst = 5
	warnEvery = 10 * time.Second
)

// warnBucket is a session's warning budget; loop-only, like the session.
type warnBucket struct {
	tokens  int
	last    time.Time // when tokens were last added
	dropped int64     // since the last line that went out
}

// warn logs a warning about this session unless its budget is spent.
func (s *session) warn(msg string, args ...any) {
	now := s.Transport.Loop().Now()
	b := s.warns
	if b == nil {
		b = &warnBucket{tokens: warnBurst, last: now}
		s.warns = b
	}
	if n := int(now.Sub(b.last) / warnEvery); n > 0 {
		b.tokens = min(warnBurst, b.tokens+n)
		b.last = b.last.Add(time.Duration(n) * warnEvery)
	}
	if b.tokens == 0 {
		b.dropped++
		s.f.stats.warningsSuppressed.Add(1)
		return
	}
	b.tokens--
	args = append([]any{"peer", s.Transport.RemoteAddr().String()}, args...)
	if b.dropped > 0 {
		args = append(args, "suppressed", b.dropped)
		b.dropped = 0
	}
	s.f.cfg.Logger.Warn(msg, args...)
}
