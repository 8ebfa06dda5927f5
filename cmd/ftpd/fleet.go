package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"

	"github.com/gnetftp/gnetftp/ftp/ban"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
)

// isDatabase reports whether --users names a PostgreSQL database rather
// than a file: a postgres:// or postgresql:// URL, or a key=value DSN.
func isDatabase(users string) bool {
	return strings.HasPrefix(users, "postgres://") || strings.HasPrefix(users, "postgresql://") ||
		(strings.Contains(users, "=") && strings.Contains(users, "dbname"))
}

// dsnPassword finds the password of a key=value DSN, or of a URL's query.
var dsnPassword = regexp.MustCompile(`(password=)('(?:[^'\\]|\\.)*'|[^\s&]*)`)

// redactDSN is --users as check-config prints it: a database's password
// (in the URL's user part, its query, or a key=value DSN) replaced by
// xxxxx; a file name is returned as it is.
func redactDSN(users string) string {
	if !isDatabase(users) {
		return users
	}
	if u, err := url.Parse(users); err == nil && u.Scheme != "" {
		users = u.Redacted()
	}
	return dsnPassword.ReplaceAllString(users, "${1}xxxxx")
}

// fleet is what a node shares with the others through PostgreSQL.
type fleet struct {
	db       *pgstore.DB
	users    *pgstore.Users
	bans     *pgstore.Bans
	accounts *pgstore.Accounts // quota usage and max-sessions across the fleet
}

// openFleet connects to --users's database (creating or migrating the
// schema) and starts the user and ban stores.
func openFleet(ctx context.Context, o options, logger *slog.Logger) (*fleet, error) {
	db, err := pgstore.Open(ctx, o.users, pgstore.Options{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--users: %w", err)
	}
	users, err := db.Users(pgstore.UsersOptions{})
	if err != nil {
		db.Close()
		return nil, err
	}
	accounts, err := db.Accounts(pgstore.AccountsOptions{Lease: o.fleetLease})
	if err != nil {
		users.Close()
		db.Close()
		return nil, err
	}
	bans := db.Bans(ban.Config{After: o.banAfter, Window: o.banWindow, For: o.banFor, Allow: o.banAllow},
		pgstore.BanOptions{Node: accounts.Node()})
	logger.Info("users, bans, quota usage and session counts in PostgreSQL", "schema", pgstore.SchemaVersion, "node", accounts.Node())
	return &fleet{db: db, users: users, bans: bans, accounts: accounts}, nil
}

func (f *fleet) close() {
	f.accounts.Close()
	f.bans.Close()
	f.users.Close()
	f.db.Close()
}
