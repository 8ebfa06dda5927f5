package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
)

// userStore is where `ftpd user` reads and writes users: a users file,
// or the fleet's PostgreSQL database (--users postgres://…). Changes are
// made by Put and Delete and saved by Save.
type userStore interface {
	Lookup(name string) (auth.User, bool, error)
	// Check validates u as Put would, without changing anything (before
	// a password is asked for).
	Check(u auth.User) error
	Put(u auth.User) error
	Delete(name string) (bool, error)
	Users() ([]auth.User, error)
	Save() error
	// Where names the store in messages; Reminder says how running
	// servers learn of a change.
	Where() string
	Reminder() string
	Close()
}

// openUserStore opens --users: a database DSN or a file path.
func openUserStore(users string) (userStore, error) {
	if !isDatabase(users) {
		t, err := auth.ReadUsersFileText(users)
		if err != nil {
			return nil, err
		}
		return &fileUsers{path: users, t: t}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := pgstore.Open(ctx, users, pgstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("--users: %w", err)
	}
	return &dbUsers{db: db}, nil
}

type fileUsers struct {
	path string
	t    *auth.UsersFileText
}

func (f *fileUsers) Lookup(name string) (auth.User, bool, error) {
	u, ok := f.t.Lookup(name)
	return u, ok, nil
}

func (f *fileUsers) Check(u auth.User) error {
	t, err := auth.ReadUsersFileText(f.path)
	if err != nil {
		return err
	}
	if u.Hash == "" {
		u.Hash = placeholderHash
	}
	return t.Put(u)
}

func (f *fileUsers) Put(u auth.User) error            { return f.t.Put(u) }
func (f *fileUsers) Delete(name string) (bool, error) { return f.t.Delete(name), nil }
func (f *fileUsers) Users() ([]auth.User, error)      { return f.t.Users(), nil }
func (f *fileUsers) Save() error                      { return f.t.Write() }
func (f *fileUsers) Where() string                    { return f.path }
func (f *fileUsers) Reminder() string                 { return sighupReminder }
func (f *fileUsers) Close()                           {}

// placeholderHash stands in for the hash when a user is checked before
// its password is asked for (a valid bcrypt hash of nothing anyone knows).
const placeholderHash = "$2a$04$0000000000000000000000000000000000000000000000000000."

// dbUsers writes each change at once (Put, Delete); Save does nothing.
type dbUsers struct{ db *pgstore.DB }

func (d *dbUsers) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

func (d *dbUsers) Lookup(name string) (auth.User, bool, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	return d.db.GetUser(ctx, name)
}

func (d *dbUsers) Check(u auth.User) error {
	if !auth.ValidName(u.Name) {
		return fmt.Errorf("user name %q is not allowed (it must be usable as a directory name)", u.Name)
	}
	if auth.Reserved(u.Name) {
		return fmt.Errorf("user name %q is reserved for anonymous logins", u.Name)
	}
	return nil
}

func (d *dbUsers) Put(u auth.User) error {
	ctx, cancel := d.ctx()
	defer cancel()
	return d.db.PutUser(ctx, u)
}

func (d *dbUsers) Delete(name string) (bool, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	return d.db.DeleteUser(ctx, name)
}

func (d *dbUsers) Users() ([]auth.User, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	return d.db.ListUsers(ctx)
}

// Accounts is what the fleet counts of each user now (ftpd user list's
// USED and ONLINE columns).
func (d *dbUsers) Accounts() (map[string]pgstore.UserAccount, error) {
	ctx, cancel := d.ctx()
	defer cancel()
	return d.db.UserAccounts(ctx)
}

func (d *dbUsers) Save() error   { return nil }
func (d *dbUsers) Where() string { return "the PostgreSQL database" }
func (d *dbUsers) Close()        { d.db.Close() }
func (d *dbUsers) Reminder() string {
	return "every node sees the change at once (its cached logins of the user are dropped)"
}
