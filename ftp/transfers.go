// Transfers: RETR, STOR and APPE on their own goroutine, their final
// reply on the loop, and ABOR.

package ftp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/dtp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
	"github.com/gnetftp/gnetftp/ftp/shell"
	"github.com/gnetftp/gnetftp/protocol"
)

// runTransfer starts a transfer goroutine: 150 now, then work, then the
// final reply on the loop. The idle timeout is off meanwhile; commands
// other than ABOR/STAT/NOOP/QUIT wait for the end. For an upload, data
// that ended is committed (by cleanup) only if the control connection
// still stands (controlStillOpen). The transfer is logged from its
// goroutine, so that it is logged even when the session is gone before
// the final reply could be sent.
//
// opening is the 150's text; "" is the usual one.
//
// (A small download whose data connection already waits does not come
// here: quickSend does it on the worker pool, quickDone replies.)
func (s *session) runTransfer(kind, p, opening string, d dtp.Channel, work func(ctx context.Context, c dataConn) (int64, error), cleanup func(err error) error) {
	ctx, cancel := context.WithCancel(context.Background())
	x := &transfer{cancel: cancel}
	s.xfer = x
	prevTimeout := s.SetTimeout(0)
	if opening == "" {
		opening = "File status okay; about to open data connection."
	}
	s.reply(ftpwire.StatusFileStatusOK, opening)
	start := time.Now()
	loop := s.Transport.Loop()
	upload := kind == "STOR" || kind == "APPE" || kind == "STOU"
	lpath := shell.LocalPath(s.sh, p)
	secure := s.dataTLS()
	logTransfer := s.transferLog(kind, p, lpath, start)
	go func() {
		var n int64
		conn, err := openData(ctx, d, secure)
		openErr := err
		if err == nil {
			n, err = s.safely(func() (int64, error) { return work(ctx, conn) })
			if _, panicked := err.(*deferred.PanicError); panicked {
				conn.close()
			}
			if err == nil && upload {
				settle(time.Since(start))
				err = s.controlStillOpen(ctx, loop)
			}
		}
		if cleanup != nil {
			if _, cerr := s.safely(func() (int64, error) { return 0, cleanup(err) }); err == nil {
				err = cerr
			}
		}
		if logTransfer != nil {
			logTransfer(n, err)
		}
		took := time.Since(start)
		kept := keptListener(d)
		callOrDrop(loop, func() {
			cancel()
			if prevTimeout > 0 {
				s.SetTimeout(prevTimeout)
			}
			if kept != nil {
				s.keepPassive(kept)
			}
			s.finishTransfer(x, kind, p, lpath, n, took, openErr, err) // a held 150 goes with its first reply
			s.xfer = nil
			s.resume()
		}, func() {
			if kept != nil {
				kept.Close() // the session is gone
			}
		})
	}()
}

// transferLog is the function that logs a transfer of p that started at
// start, callable from the transfer's goroutine (it holds copies of what
// it needs from the session); nil when transfers are not logged.
func (s *session) transferLog(kind, p, lpath string, start time.Time) func(n int64, err error) {
	if !s.logs() {
		return nil
	}
	logger, peer, user, vpath := s.f.cfg.Logger, s.Transport.RemoteAddr().String(), logText(s.user), logText(p)
	return func(n int64, err error) {
		logger.Info("ftp transfer", "peer", peer, "user", user, "kind", kind, "path", logText(lpath), "ftp_path", vpath,
			"bytes", n, "duration_ms", durationMS(time.Since(start)), "ok", err == nil, "err", errString(err))
	}
}

// callOrDrop runs fn on loop, or dropped (on the calling goroutine or the
// loop) when fn cannot run there any more because the connection is gone.
func callOrDrop(loop protocol.Loop, fn, dropped func()) {
	if dn, ok := loop.(protocol.DropNotifier); ok {
		if !dn.CallFromThreadOrDrop(fn, dropped) {
			dropped()
		}
		return
	}
	if !loop.CallFromThread(fn) {
		dropped()
	}
}

// How long an upload's end waits before its control connection is
// looked at (settle): nothing for an upload shorter than minSettled,
// else a share of its duration, between 200 us and maxSettle.
const (
	minSettled  = 20 * time.Millisecond
	settleShare = 100
	maxSettle   = 10 * time.Millisecond
)

// settle lets a client that is dying finish closing its connections
// before the upload whose data just ended is judged by its control
// connection. The kernel closes a dying process's descriptors last
// opened first, so the data connection's FIN goes out before the control
// connection's, and on one host waking this server for the first
// preempts the client before the second (on a loaded host it may then
// wait for a processor for a while). An upload long enough to be killed
// midway therefore sleeps 1% of its duration (at least 200 us, at most
// 10 ms, which nobody notices after a transfer that long) on its
// goroutine, which leaves the processor to the client; a small STOR does
// not wait. Measured with curl killed 1.5 s into an upload, on 2 cores:
// looking at once, 10 of 24 killed uploads were committed on a quiet
// machine; after a sched_yield, 0 of 37 there but 1 of 15 with 3 busy
// loops beside and 3 of 15 with 5; after the sleep (no yield), 0 of 50,
// 30 of them with 5 busy loops beside. A sched_yield for every upload
// instead cost small STORs ~50 us each on a busy machine (it hands the
// processor to anyone).
func settle(took time.Duration) {
	if took >= minSettled {
		time.Sleep(min(maxSettle, max(took/settleShare, 200*time.Microsecond)))
	}
}

// errControlClosed: an upload's data ended, but its control connection
// had closed (the client died: the kernel closes both of its connections
// at once), so the end of the data is no proof that the client sent it
// all, and the upload is not committed.
var errControlClosed = errors.New("ftp: control connection closed before the upload could be committed")

// controlStillOpen asks the loop, from the transfer's goroutine, whether
// the control connection still stands now that an upload's data has
// ended: the session is not lost or closing, the transfer not aborted,
// and the transport does not see the client's FIN or RST pending
// (protocol.PeerChecker). errControlClosed otherwise, and also when the
// loop can no longer run anything for the session.
func (s *session) controlStillOpen(ctx context.Context, loop protocol.Loop) error {
	answer := make(chan bool, 1)
	check := func() {
		pc, canTell := s.Transport.(protocol.PeerChecker)
		answer <- ctx.Err() == nil && !s.lost && !s.Transport.Disconnecting() && !(canTell && pc.PeerClosed())
	}
	var accepted bool
	if dn, ok := loop.(protocol.DropNotifier); ok {
		accepted = dn.CallFromThreadOrDrop(check, func() { answer <- false })
	} else {
		accepted = loop.CallFromThread(check)
	}
	if !accepted {
		return errControlClosed
	}
	select {
	case alive := <-answer:
		if alive {
			return nil
		}
	case <-ctx.Done(): // the session was lost (or the transfer aborted) before the check ran
	}
	return errControlClosed
}

// safely runs part of a transfer on its goroutine. The shell's readers
// and writers are pluggable code outside this package: a panic in one of
// them becomes a *deferred.PanicError (a 451 for this transfer) instead of
// ending the whole server, as a handler's panic on the loop does.
func (s *session) safely(fn func() (int64, error)) (n int64, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.f.cfg.Logger.Error("ftp transfer panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = &deferred.PanicError{Value: v}
		}
	}()
	return fn()
}

// finishTransfer tells the events and sends the final reply (the
// transfer's goroutine has logged it).
func (s *session) finishTransfer(x *transfer, kind, p, lpath string, n int64, took time.Duration, openErr, err error) {
	complete := err == nil && openErr == nil && !x.stopped
	s.notify(func(ev Events) {
		cause := err
		switch {
		case openErr != nil:
			cause = openErr
		case x.stopped && cause == nil:
			cause = context.Canceled
		}
		ev.TransferDone(TransferEvent{SessionInfo: s.info(), Command: kind, Path: p, LocalPath: lpath, Bytes: n, Duration: took,
			ASCII: s.ascii, Complete: complete, Err: cause})
	})
	switch {
	case x.aborted:
		s.reply(ftpwire.StatusTransferAborted, "Transfer aborted.  Data connection closed.")
		if x.abortQueued {
			s.abortOwed = true // the ABOR behind other commands answers in its turn
		} else {
			s.reply(ftpwire.StatusTransferComplete, "Abort successful")
		}
	case x.stopped: // by QUIT: its 221 follows
		s.reply(ftpwire.StatusTransferAborted, "Transfer aborted.  Data connection closed.")
	case openErr != nil:
		s.reply(dataOpenReply(openErr))
	case err == nil:
		s.reply(ftpwire.StatusTransferComplete, "Transfer Complete.")
	case errors.Is(err, dtp.ErrPeerClosed), errors.Is(err, context.Canceled), errors.Is(err, errControlClosed):
		s.reply(ftpwire.StatusTransferAborted, "Transfer aborted.  Data connection closed.")
	default:
		s.replyErr(err, p)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// prepare resolves a transfer's path and takes the data channel and the
// REST offset; it has replied when ok is false.
func (s *session) prepare(arg string) (p string, d dtp.Channel, offset int64, ok bool) {
	p, err := s.path(arg)
	if err != nil {
		s.replyErr(err, arg)
		return "", d, 0, false
	}
	if d, ok = s.takeData(); !ok {
		return "", d, 0, false
	}
	offset, s.rest = s.rest, 0
	return p, d, offset, true
}

func (s *session) cmdRETR(arg string) {
	p, d, offset, ok := s.prepare(arg)
	if !ok {
		return
	}
	sh, ascii, down, peer := s.sh, s.ascii, s.down, s.peerIP
	cc, quick := d.(*countedChannel)
	quickMax := s.f.quickMax
	quick = quick && !ascii && down == nil && s.dataTLS() == nil
	blockingOwned(s, func() (retrOpen, error) {
		start := time.Now()
		f, err := sh.OpenForReading(p, offset)
		if err != nil {
			return retrOpen{}, err
		}
		r := retrOpen{f: f, start: start}
		if quick {
			r.quickSend(cc, peer, offset, quickMax)
		}
		return r, nil
	}, func(r retrOpen, err error) {
		if err != nil {
			d.Close()
			s.replyErr(err, arg)
			return
		}
		if r.q.Taken && r.q.Rest == nil {
			s.quickDone(p, cc, r)
			return
		}
		var src io.Reader = r.f
		if r.q.Rest != nil { // the send buffer filled: the rest goes the usual way
			cc.accepted = r.q.Rest
			src = &io.LimitedReader{R: r.f, N: r.left - r.q.Sent}
		}
		f := r.f
		s.runTransfer("RETR", p, "", d, func(ctx context.Context, conn dataConn) (int64, error) {
			n, err := conn.send(ctx, paceDown(ctx, src, down), ascii, s.f.cfg.Data.IdleTimeout)
			return r.q.Sent + n, err
		}, func(error) error { return f.Close() })
	}, func(r retrOpen) {
		if r.f != nil && (!r.q.Taken || r.q.Rest != nil) { // else quickSend closed it
			r.f.Close()
		}
		if r.q.Rest != nil {
			_ = r.q.Rest.Close()
		}
		d.Close()
	})
}

// retrOpen is a RETR's file, opened on the worker pool, and what
// quickSend did with it there.
type retrOpen struct {
	f     io.ReadCloser
	start time.Time
	left  int64     // the bytes quickSend meant to send
	q     dtp.Quick // Taken: the data connection was used (f is closed unless q.Rest)
	took  time.Duration
}

// quickSend sends, on the worker pool right after the open, a binary
// download in clear of at most dtp.QuickMax bytes whose passive data
// connection already waits in the listener's queue (dtp.QuickSend: no
// goroutine, no netpoller, and one trip from the loop and back instead of
// two), so that the loop only has to send the 150 and the 226, in one
// write. The transfer
// then neither waits for the client nor blocks, so a client that reads
// its data only after the 150 loses nothing (vsftpd also sends its 150
// only once the data connection is up). The file is sent with the size
// it has now. On the worker pool; the countedChannel is the transfer's
// alone until the loop has the result.
func (r *retrOpen) quickSend(cc *countedChannel, peer net.IP, offset, max int64) {
	file, isFile := r.f.(*os.File)
	if !isFile {
		return
	}
	fi, err := file.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	r.left = fi.Size() - offset // OpenForReading's reader starts at offset
	if r.left < 0 || r.left > max {
		return
	}
	if r.q = cc.p.QuickSend(peer, file, offset, r.left); r.q.Taken {
		cc.opened = true
		cc.release()
		if r.q.Rest == nil {
			_ = file.Close()
			r.took = time.Since(r.start)
		}
	}
}

// quickDone ends, on the loop, a RETR that quickSend did on the pool:
// the 150 and the final reply in one write, the transfer told and
// logged, the passive listener kept for the session's next transfer.
func (s *session) quickDone(p string, cc *countedChannel, r retrOpen) {
	lpath := shell.LocalPath(s.sh, p)
	if log := s.transferLog("RETR", p, lpath, r.start); log != nil {
		log(r.q.Sent, r.q.Err)
	}
	x := &transfer{cancel: func() {}, opening: "File status okay; about to open data connection."}
	s.xfer = x
	s.finishTransfer(x, "RETR", p, lpath, r.q.Sent, r.took, nil, r.q.Err) // the 150 goes with it
	s.xfer = nil
	s.keepPassive(cc.p)
}

func (s *session) cmdSTOR(arg string) { s.store(arg, false) }

func (s *session) cmdAPPE(arg string) { s.store(arg, true) }

func (s *session) store(arg string, appendMode bool) {
	p, d, offset, ok := s.prepare(arg)
	if !ok {
		return
	}
	if appendMode {
		offset = -1
	}
	sh, ascii := s.sh, s.ascii
	kind := map[bool]string{false: "STOR", true: "APPE"}[appendMode]
	blockingOwned(s, func() (shell.WriteFile, error) { return sh.OpenForWriting(p, offset, appendMode) }, func(w shell.WriteFile, err error) {
		if err != nil {
			d.Close()
			s.replyErr(err, arg)
			return
		}
		s.receive(kind, p, "", d, w, ascii)
	}, func(w shell.WriteFile) { _ = w.Abort(); d.Close() })
}

// receive runs an upload into w: committed if every byte came, else
// aborted.
func (s *session) receive(kind, p, opening string, d dtp.Channel, w shell.WriteFile, ascii bool) {
	up := s.up
	s.runTransfer(kind, p, opening, d, func(ctx context.Context, conn dataConn) (int64, error) {
		return conn.receive(ctx, paceUp(ctx, w, up), ascii, s.f.cfg.Data.IdleTimeout)
	}, func(err error) error {
		if err != nil {
			_ = w.Abort() // the old file stays as it was
			return nil
		}
		return w.Commit()
	})
}

// stouTries bounds the names STOU tries: NAME, NAME.1 ... NAME.99.
const stouTries = 100

// errNoUniqueName: every name STOU tried was taken.
var errNoUniqueName = ftpwire.Errorf(ftpwire.StatusBadFileName, "Could not make a unique file name.")

// cmdSTOU stores an upload under a name that exists nowhere in its
// directory (RFC 959 4.1.3, RFC 1123 4.1.2.9: "150 FILE: name"): the
// argument, if any, is the name wanted, else "stou.RANDOM"; a name taken
// gets ".1", ".2" ... appended, as in vsftpd. The upload is atomic like
// STOR's, and never replaces a file, even one made under the same name
// during the upload (shell.ExclusiveCreator; 550 "File exists" then).
func (s *session) cmdSTOU(arg string) {
	s.rest = 0 // no restart into a name not yet chosen
	want := strings.TrimSpace(arg)
	if want == "" {
		var rnd [4]byte
		_, _ = rand.Read(rnd[:])
		want = "stou." + hex.EncodeToString(rnd[:])
	}
	p, err := s.path(want)
	if err != nil {
		s.replyErr(err, want)
		return
	}
	if p == "/" {
		s.replyErr(shell.ErrIsDir, want)
		return
	}
	d, ok := s.takeData()
	if !ok {
		return
	}
	sh, ascii := s.sh, s.ascii
	type created struct {
		w shell.WriteFile
		p string
	}
	blockingOwned(s, func() (created, error) {
		for i := range stouTries {
			cand := p
			if i > 0 {
				cand = p + "." + strconv.Itoa(i)
			}
			if ec, ok := sh.(shell.ExclusiveCreator); ok {
				w, err := ec.CreateExclusive(cand)
				if errors.Is(err, fs.ErrExist) {
					continue
				}
				return created{w, cand}, err
			}
			if _, err := sh.Stat(cand); err == nil {
				continue
			} else if !errors.Is(err, fs.ErrNotExist) {
				return created{}, err
			}
			w, err := sh.OpenForWriting(cand, 0, false)
			return created{w, cand}, err
		}
		return created{}, errNoUniqueName
	}, func(c created, err error) {
		if err != nil {
			d.Close()
			s.replyErr(err, want)
			return
		}
		name := path.Base(c.p)
		if dir, _ := path.Split(want); dir != "" {
			name = dir + name
		}
		s.receive("STOU", c.p, "FILE: "+name, d, c.w, ascii)
	}, func(c created) { _ = c.w.Abort(); d.Close() })
}

func (s *session) cmdABOR(string) {
	s.closeData()
	switch {
	case s.abortOwed:
		// This ABOR stopped the transfer from behind other commands; the
		// transfer's 426 went out in its place, this is ABOR's own reply.
		s.abortOwed = false
		s.reply(ftpwire.StatusTransferComplete, "Abort successful")
	case s.xfer == nil:
		s.reply(ftpwire.StatusNoTransfer, "No transfer to abort.")
	default:
		s.stopTransfer(true) // the transfer's completion sends 426 and then 226
	}
}

// stopTransfer cancels the running transfer (ABOR, QUIT); its completion
// sends its 426. Commands received after it wait for that reply.
func (s *session) stopTransfer(abort bool) {
	s.closeData()
	s.xfer.stopped = true
	s.xfer.aborted = s.xfer.aborted || abort
	s.xfer.cancel()
}
