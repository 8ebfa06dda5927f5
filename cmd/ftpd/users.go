package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
)

// sighupReminder follows every change to a users file: the running
// server reads it again only when told.
const sighupReminder = "a running ftpd reads it again on SIGHUP (kill -HUP $(pidof ftpd), or systemctl reload ftpd)"

// userUsage is `ftpd user`'s usage, shown on a mistake and with --help.
const userUsage = `usage:
  ftpd user add  --users FILE [limits] NAME   add NAME; the password is read from standard input
                                              (asked twice, not echoed, on a terminal)
  ftpd user set  --users FILE [limits] [--password] NAME
                                              change NAME's home or limits (only those given),
                                              and its password with --password
  ftpd user del  --users FILE NAME            remove NAME
  ftpd user list --users FILE                 every user, its home and its limits
  ftpd user rescan --users postgres://… [--root DIR | --storage URL] NAME...
                                              count NAME's home again and set the fleet's
                                              recorded quota usage to it

limits:
  --home DIR          home under --root ("/": the whole root; default ROOT/NAME)
  --read-only         download and list only (perm=elr)
  --no-delete         no DELE or RMD (drops "d")
  --no-rename         no RNFR/RNTO (drops "f")
  --perm LETTERS      pyftpdlib's permission letters: e cd, l list, r download, a append/resume,
                      d delete, f rename, m mkdir, w store, M chmod, T set times (default all)
  --quota SIZE        bytes under the home, e.g. 500MiB, 2GiB; 0: none
  --quota-files N     files under the home; 0: none
  --max-sessions N    sessions at once (over it: 421); 0: none
  --rate-down RATE    each session's downloads, bytes/s, e.g. 2MiB; 0: the server's --rate-down
  --rate-up RATE      each session's uploads, bytes/s; 0: the server's --rate-up
`

// sizeFlag is a byte count flag with KiB/MiB/GiB suffixes.
type sizeFlag struct {
	v    *int64
	rate bool
}

func (s sizeFlag) String() string {
	if s.v == nil || *s.v == 0 {
		return "0"
	}
	return auth.FormatSize(*s.v)
}

func (s sizeFlag) Set(v string) (err error) {
	if s.rate {
		*s.v, err = auth.ParseRate(v)
	} else {
		*s.v, err = auth.ParseSize(v)
	}
	return err
}

// userFlags are the flags of `ftpd user`'s subcommands.
type userFlags struct {
	fs         *flag.FlagSet
	users      string
	home       string
	readOnly   bool
	noDelete   bool
	noRename   bool
	perm       string
	quota      int64
	quotaFiles int64
	maxSess    int
	rateDown   int64
	rateUp     int64
	cost       int
	password   bool
	name       string
}

func newUserFlags(cmd string) *userFlags {
	u := &userFlags{fs: flag.NewFlagSet("ftpd user "+cmd, flag.ContinueOnError)}
	fs := u.fs
	fs.SetOutput(io.Discard)
	fs.StringVar(&u.users, "users", "", "users file")
	fs.StringVar(&u.home, "home", "", "home")
	fs.BoolVar(&u.readOnly, "read-only", false, "read only")
	fs.BoolVar(&u.noDelete, "no-delete", false, "no delete")
	fs.BoolVar(&u.noRename, "no-rename", false, "no rename")
	fs.StringVar(&u.perm, "perm", "", "permission letters")
	fs.Var(sizeFlag{v: &u.quota}, "quota", "bytes")
	fs.Int64Var(&u.quotaFiles, "quota-files", 0, "files")
	fs.IntVar(&u.maxSess, "max-sessions", 0, "sessions")
	fs.Var(sizeFlag{v: &u.rateDown, rate: true}, "rate-down", "bytes/s")
	fs.Var(sizeFlag{v: &u.rateUp, rate: true}, "rate-up", "bytes/s")
	fs.IntVar(&u.cost, "cost", 0, "bcrypt cost (default 10)")
	fs.BoolVar(&u.password, "password", false, "set: read a new password from standard input")
	return u
}

// parse reads flags before and after NAME (`user add alice --quota 1GiB`
// as well as `user add --quota 1GiB alice`).
func (u *userFlags) parse(args []string, wantName bool) error {
	var pos []string
	for {
		if err := u.fs.Parse(args); err != nil {
			return err
		}
		if u.fs.NArg() == 0 {
			break
		}
		pos = append(pos, u.fs.Arg(0))
		args = u.fs.Args()[1:]
	}
	switch {
	case u.users == "":
		return errors.New("--users FILE is required")
	case wantName && len(pos) != 1:
		return errors.New("give exactly one user NAME")
	case !wantName && len(pos) != 0:
		return fmt.Errorf("unexpected argument %q", pos[0])
	case u.quotaFiles < 0 || u.maxSess < 0:
		return errors.New("--quota-files and --max-sessions: want 0 (none) or more")
	}
	if wantName {
		u.name = pos[0]
	}
	return nil
}

// set reports whether the flag name was given.
func (u *userFlags) set(name string) bool {
	given := false
	u.fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// applyTo changes usr as the given flags say; the others keep usr's.
func (u *userFlags) applyTo(usr *auth.User) error {
	l := &usr.Limits
	if u.set("home") {
		usr.Home = u.home
	}
	if u.set("perm") {
		p, err := auth.NormalizePerm(u.perm)
		if err != nil {
			return fmt.Errorf("--perm: %w", err)
		}
		l.Perm = p
	}
	perm := l.Perm
	if perm == "" {
		perm = auth.PermLetters
	}
	drop := func(letters string) {
		for _, c := range letters {
			perm = strings.ReplaceAll(perm, string(c), "")
		}
	}
	add := func(letters string) {
		for _, c := range letters {
			if !strings.ContainsRune(perm, c) {
				perm += string(c)
			}
		}
	}
	// --read-only=false and the like give their letters back first, so
	// that a restriction given with them always wins.
	restrictions := []struct {
		name    string
		on      bool
		letters string
	}{{"read-only", u.readOnly, "adfmwMT"}, {"no-delete", u.noDelete, "d"}, {"no-rename", u.noRename, "f"}}
	for _, f := range restrictions {
		if u.set(f.name) && !f.on {
			add(f.letters)
		}
	}
	for _, f := range restrictions {
		if u.set(f.name) && f.on {
			drop(f.letters)
		}
	}
	p, err := auth.NormalizePerm(perm)
	if err != nil {
		return err
	}
	l.Perm = p
	if u.set("quota") {
		l.Quota = u.quota
	}
	if u.set("quota-files") {
		l.QuotaFiles = u.quotaFiles
	}
	if u.set("max-sessions") {
		l.MaxSessions = u.maxSess
	}
	if u.set("rate-down") {
		l.RateDown = u.rateDown
	}
	if u.set("rate-up") {
		l.RateUp = u.rateUp
	}
	return nil
}

// userCommands are `ftpd user`'s subcommands.
var userCommands = map[string]func(args []string, stdin io.Reader, stdout, stderr io.Writer) error{
	"add":    userAdd,
	"set":    userSet,
	"del":    userDel,
	"list":   userList,
	"rescan": userRescan,
}

// userCmd implements `ftpd user add|set|del|list|rescan`.
func userCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, userUsage)
		if len(args) == 0 {
			return errors.New("give add, set, del, list or rescan")
		}
		return nil
	}
	cmd := userCommands[args[0]]
	if cmd == nil {
		return fmt.Errorf("unknown subcommand %q (add, set, del, list or rescan; ftpd user --help)", args[0])
	}
	return cmd(args[1:], stdin, stdout, stderr)
}

func userAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	u, st, err := openUserCmd("add", args)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, exists, err := st.Lookup(u.name); err != nil {
		return err
	} else if exists {
		return fmt.Errorf("%s is in %s already (change it with ftpd user set)", u.name, st.Where())
	}
	usr := auth.User{Name: u.name}
	if err := u.applyTo(&usr); err != nil {
		return err
	}
	if err := st.Check(usr); err != nil { // the name and home checked before asking for a password
		return err
	}
	if err := newPassword(&usr, u, stdin, stderr); err != nil {
		return err
	}
	return saveUser(st, usr, "added to", stdout)
}

// openUserCmd parses the arguments of `ftpd user CMD NAME` and opens
// the store --users names.
func openUserCmd(cmd string, args []string) (*userFlags, userStore, error) {
	u := newUserFlags(cmd)
	if err := u.parse(args, true); err != nil {
		return nil, nil, err
	}
	st, err := openUserStore(u.users)
	return u, st, err
}

// newPassword asks for usr's password and hashes it.
func newPassword(usr *auth.User, u *userFlags, stdin io.Reader, stderr io.Writer) error {
	pw, err := askPassword(u.name, stdin, stderr)
	if err != nil {
		return err
	}
	usr.Hash, err = auth.HashPassword(pw, u.cost)
	return err
}

// saveUser writes usr to st and says so ("added to", "updated in").
func saveUser(st userStore, usr auth.User, done string, stdout io.Writer) error {
	if err := st.Put(usr); err != nil {
		return err
	}
	if err := st.Save(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ftpd user: %s %s %s (%s); %s\n", usr.Name, done, st.Where(), usr.Limits, st.Reminder())
	return nil
}

func userSet(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	u, st, err := openUserCmd("set", args)
	if err != nil {
		return err
	}
	defer st.Close()
	usr, ok, err := st.Lookup(u.name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no user %s in %s (add it with ftpd user add)", u.name, st.Where())
	}
	if err := u.applyTo(&usr); err != nil {
		return err
	}
	if u.password {
		if err := newPassword(&usr, u, stdin, stderr); err != nil {
			return err
		}
	}
	return saveUser(st, usr, "updated in", stdout)
}

func userDel(args []string, _ io.Reader, stdout, _ io.Writer) error {
	u, st, err := openUserCmd("del", args)
	if err != nil {
		return err
	}
	defer st.Close()
	deleted, err := st.Delete(u.name)
	if err != nil {
		return err
	}
	if !deleted {
		return fmt.Errorf("no user %s in %s", u.name, st.Where())
	}
	if err := st.Save(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ftpd user: %s removed from %s (its files stay); %s\n", u.name, st.Where(), st.Reminder())
	return nil
}

func userList(args []string, _ io.Reader, stdout, _ io.Writer) error {
	u := newUserFlags("list")
	if err := u.parse(args, false); err != nil {
		return err
	}
	if !isDatabase(u.users) {
		if _, err := os.Stat(u.users); err != nil {
			return err
		}
	}
	st, err := openUserStore(u.users)
	if err != nil {
		return err
	}
	defer st.Close()
	list, err := st.Users()
	if err != nil {
		return err
	}
	// With a database, what the fleet counts now: quota usage and
	// sessions open on live nodes.
	var accounts map[string]pgstore.UserAccount
	if db, ok := st.(*dbUsers); ok {
		if accounts, err = db.Accounts(); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	head := "USER\tHOME\tPERM\tQUOTA\tFILES\tSESSIONS\tDOWN/S\tUP/S"
	if accounts != nil {
		head += "\tUSED\tONLINE"
	}
	fmt.Fprintln(tw, head)
	for _, usr := range list {
		l := usr.Limits
		home := usr.Home
		if home == "" {
			home = "ROOT/" + usr.Name
		}
		perm := auth.PermSummary(l.Perm)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", usr.Name, home, perm, orNone(auth.FormatSize(l.Quota)),
			orNone(count(l.QuotaFiles)), orNone(count(int64(l.MaxSessions))), orDefault(auth.FormatSize(l.RateDown)),
			orDefault(auth.FormatSize(l.RateUp)))
		if accounts != nil {
			a := accounts[usr.Name]
			used := "-" // no node has counted the home yet
			if a.Known {
				used = fmt.Sprintf("%s/%d", orZero(auth.FormatSize(a.Bytes)), a.Files)
			}
			if a.Held > 0 {
				used += " (+" + auth.FormatSize(a.Held) + " uploading)"
			}
			fmt.Fprintf(tw, "\t%s\t%d", used, a.Sessions)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func count(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// askPassword reads the new password: on a terminal with a prompt on
// stderr, no echo, twice; otherwise one line of stdin (scripts pipe it).
func askPassword(name string, stdin io.Reader, stderr io.Writer) (string, error) {
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return readPassword(stdin)
	}
	fd := int(f.Fd())
	fmt.Fprintf(stderr, "Password for %s: ", name)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(stderr, "Again: ")
	again, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if string(pw) != string(again) {
		return "", errors.New("the passwords differ")
	}
	if len(pw) == 0 {
		return "", errors.New("empty password")
	}
	return string(pw), nil
}
