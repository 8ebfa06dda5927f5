package ftp_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// FuzzSession drives one session with arbitrary command lines (the input
// split at '\n') and checks what a client and the host can observe: no
// panic; every byte written is a well-formed reply (CRLF-terminated lines,
// the first of each reply "ddd text" or "ddd-text", a CR inside a line
// only as RFC 2640's CR NUL); every command gets a reply unless the connection closed;
// and nothing outside the served root changes, although the root holds
// symlinks that point out of it.
//
// PORT and EPRT lines are dropped: the server would connect to whatever
// loopback port the fuzzer names (FuzzParsePORT and FuzzParseEPRT in
// ftp/dtp cover their parsers). Data connections are never opened, so
// transfers end with 425 after a short accept timeout.
//
//	go test -run '^$' -fuzz FuzzSession ./ftp
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"USER alice\nPASS secret\nPWD\nMKD d\nCWD d\nCDUP\nRMD d\nQUIT",
		"USER alice\nPASS secret\nCWD up\nMKD up/x\nDELE up/outside.txt\nRNFR up/outside.txt\nRNTO mine.txt",
		"USER alice\nPASS secret\nRNFR in.txt\nRNTO rel/stolen.txt\nSTOR rel/new\nAPPE up/outside.txt",
		"USER alice\nPASS secret\nEPSV\nSTOR a\nPASV\nRETR in.txt\nABOR\nSTAT\nREST 3\nNLST",
		"USER anonymous\nPASS x@\nLIST -la\nMLSD /\nMLST in.txt\nSIZE in.txt\nMDTM in.txt\nFEAT\nHELP\nSYST",
		"USER alice\nPASS secret\nMFMT 20210101000000 in.txt\nOPTS MLST type;size;\nTYPE A\nMODE S\nSTRU F",
		"USER alice\nPASS wrong\nUSER alice\nPASS wrong\nPASS\n\n \r\nNOOP\nCWD /../..\nCWD \x00",
		"USER alice\nPASS secret\nMKD a\rb\nCWD a\rb\nRETR x\r226 fake",
		"HOST a.example\nUSER alice\nHOST b\nPASS secret\nSITE CHMOD 777 up/outside.txt\nSITE UTIME up/outside.txt 20200101000000\nSITE HELP\nPASV\nSTOU up/x\nREIN\nPWD",
		"USER alice\nPASS secret\nSITE CHMOD 4755 in.txt\nSITE UTIME in.txt a b c UTC\nHELP SITE\nLIST -d up\nNLST -CF up\nRMD up\nREIN x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		h := newPI(t, func(c *ftp.Config) { c.Data.AcceptTimeout = 20 * time.Millisecond })
		outside := filepath.Dir(h.root)
		writeFile(t, h.root, "in.txt", "inside\n")
		writeFile(t, outside, "outside.txt", "outside\n")
		if err := os.Symlink(outside, filepath.Join(h.root, "up")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("..", filepath.Join(h.root, "rel")); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, outside, h.root)

		replies, sent := 0, 0
		out := ""
		pump := func(want int) {
			// Run the loop until want replies have come or the session
			// closed. Failed-login delays and timeouts run on the fake
			// clock, which moves when nothing else happens.
			for deadline := time.Now().Add(10 * time.Second); ; {
				out += h.tr.Take()
				if replies = countReplies(t, out); replies >= want || h.tr.Lost {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d replies to %d commands; output so far %q", replies, want-1, out)
				}
				if h.tr.FakeLoop.WaitPending(5*time.Millisecond) == 0 {
					h.tr.FakeLoop.Advance(time.Second)
				}
			}
		}
		pump(1) // the greeting
		for line := range bytes.SplitSeq(script, []byte("\n")) {
			if h.tr.Lost || sent == maxFuzzLines {
				break
			}
			u := strings.ToUpper(string(line))
			if strings.Contains(u, "PORT") || strings.Contains(u, "EPRT") {
				continue
			}
			h.p.DataReceived(append(append([]byte(nil), line...), '\n'))
			sent++
			pump(1 + sent)
		}
		h.p.ConnectionLost(nil)
		h.tr.Lost = true
		h.tr.FakeLoop.WaitPending(50 * time.Millisecond)
		out += h.tr.Take()
		countReplies(t, out)

		after := snapshot(t, outside, h.root)
		if len(before) != len(after) {
			t.Fatalf("outside the root before %v, after %v", before, after)
		}
		for k, v := range before {
			if after[k] != v {
				t.Fatalf("outside the root %s was %q, is %q", k, v, after[k])
			}
		}
	})
}

// maxFuzzLines keeps one run of FuzzSession short.
const maxFuzzLines = 64

// countReplies checks the framing of everything complete in out and
// returns the number of whole replies.
func countReplies(t *testing.T, out string) int {
	t.Helper()
	n := 0
	for {
		r, rest, ok := cutReply(out)
		if !ok {
			return n
		}
		if _, ok := ftpwire.ParseCode(r); !ok || len(r) < 4 || (r[3] != ' ' && r[3] != '-') {
			t.Fatalf("reply %q does not start with a code", r)
		}
		if strings.Contains(strings.ReplaceAll(r, "\r\x00", ""), "\r") {
			t.Fatalf("bare CR inside reply %q", r)
		}
		out = rest
		n++
	}
}

// snapshot records every path under dir except root's subtree: its type,
// size and content (for files), so that any change outside shows.
func snapshot(t *testing.T, dir, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(b)
		}
		m[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
