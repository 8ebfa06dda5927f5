package client

import (
	"strings"

	"github.com/gnetftp/gnetftp/deferred"
	"github.com/gnetftp/gnetftp/ftp/ftpwire"
)

// Command sends one command and resolves with its final reply, whatever
// its code; it fails only when the connection ends or times out first.
// Loop-only.
func (c *Client) Command(cmd string) *deferred.Deferred[ftpwire.Reply] {
	d := deferred.NewDeferred[ftpwire.Reply](c.Loop())
	c.Do(cmd, func(r ftpwire.Reply) {
		if r.Preliminary() {
			return
		}
		if r.Code == 0 {
			d.ResolveNow(r, c.Err())
			return
		}
		d.ResolveNow(r, nil)
	})
	return d
}

// expect sends cmd and resolves with its reply when the code is one of
// want, else fails with a *ReplyError naming shown (cmd, or a redacted
// form of it).
func (c *Client) expect(cmd, shown string, want ...int) *deferred.Deferred[ftpwire.Reply] {
	d := deferred.NewDeferred[ftpwire.Reply](c.Loop())
	c.Do(cmd, func(r ftpwire.Reply) {
		if r.Preliminary() {
			return
		}
		d.ResolveNow(r, c.check(shown, r, want...))
	})
	return d
}

// check turns a final reply into an operation's error: nil for a wanted
// code, the connection's failure for Reply{}, else a *ReplyError.
func (c *Client) check(shown string, r ftpwire.Reply, want ...int) error {
	if r.Code == 0 {
		return c.Err()
	}
	for _, w := range want {
		if r.Code == w {
			return nil
		}
	}
	return &ReplyError{Command: shown, Reply: r}
}

// Login sends USER and, when asked, PASS; it resolves with the 230 (or a
// 230 straight after USER, for servers that need no password) and fails
// with a *ReplyError otherwise. The password never appears in an error.
// Loop-only.
func (c *Client) Login(user, pass string) *deferred.Deferred[ftpwire.Reply] {
	d := deferred.NewDeferred[ftpwire.Reply](c.Loop())
	c.Do("USER "+user, func(r ftpwire.Reply) {
		switch {
		case r.Preliminary():
		case r.Code == ftpwire.StatusNeedPassword:
			c.Do("PASS "+pass, func(r ftpwire.Reply) {
				if !r.Preliminary() {
					d.ResolveNow(r, c.check("PASS ****", r, ftpwire.StatusLoggedIn))
				}
			})
		default:
			d.ResolveNow(r, c.check("USER "+user, r, ftpwire.StatusLoggedIn))
		}
	})
	return d
}

// Cwd changes the working directory (250). Loop-only.
func (c *Client) Cwd(dir string) *deferred.Deferred[ftpwire.Reply] {
	return c.expect("CWD "+dir, "CWD "+dir, ftpwire.StatusFileActionOK)
}

// Pwd resolves with the working directory, unquoted (RFC 959 appendix
// II: a doubled quote inside is one quote). Loop-only.
func (c *Client) Pwd() *deferred.Deferred[string] {
	return deferred.Then(c.expect("PWD", "PWD", ftpwire.StatusPathCreated), func(r ftpwire.Reply) (string, error) {
		text := r.Text()
		start := strings.IndexByte(text, '"')
		if start < 0 {
			return "", &ReplyError{Command: "PWD", Reply: r}
		}
		var b strings.Builder
		for i := start + 1; i < len(text); i++ {
			if text[i] == '"' {
				if i+1 < len(text) && text[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				return b.String(), nil
			}
			b.WriteByte(text[i])
		}
		return "", &ReplyError{Command: "PWD", Reply: r}
	})
}

// Binary sets TYPE I, once per connection (transfers send it themselves
// when it was not sent). Loop-only.
func (c *Client) Binary() *deferred.Deferred[ftpwire.Reply] {
	c.binary = true
	return c.expect("TYPE I", "TYPE I", ftpwire.StatusCommandOK)
}

// Quit sends QUIT, resolves with the 221 and closes the connection.
// Loop-only.
func (c *Client) Quit() *deferred.Deferred[ftpwire.Reply] {
	d := deferred.NewDeferred[ftpwire.Reply](c.Loop())
	c.Do("QUIT", func(r ftpwire.Reply) {
		if r.Preliminary() {
			return
		}
		c.Transport.LoseConnection()
		d.ResolveNow(r, c.check("QUIT", r, ftpwire.StatusClosing))
	})
	return d
}
