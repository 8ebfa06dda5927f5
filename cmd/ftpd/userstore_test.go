package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/internal/pgtest"
)

// `ftpd user` on the fleet's database works as on a file: add (password
// from standard input), set, list, del, and the same refusals.
func TestUserCommandsOnPostgreSQL(t *testing.T) {
	dsn := pgtest.DSN(t)
	var out, errOut bytes.Buffer
	do := func(stdin string, args ...string) int {
		out.Reset()
		errOut.Reset()
		return run(append([]string{"user"}, args...), strings.NewReader(stdin), &out, &errOut)
	}
	require.Equal(t, 0, do("secret\n", "add", "--users", dsn, "--quota", "1GiB", "--max-sessions", "2", "alice"), errOut.String())
	assert.Contains(t, out.String(), "alice added to the PostgreSQL database")
	assert.NotContains(t, out.String(), dsn, "the DSN is not printed")
	assert.Equal(t, 1, do("x\n", "add", "--users", dsn, "alice"), "alice exists already")
	assert.Contains(t, errOut.String(), "already")
	assert.Equal(t, 1, do("x\n", "add", "--users", dsn, "ftp"), "reserved for anonymous logins")
	require.Equal(t, 0, do("", "set", "--users", dsn, "--read-only", "alice"), errOut.String())
	require.Equal(t, 0, do("", "list", "--users", dsn), errOut.String())
	assert.Regexp(t, `alice\s+ROOT/alice\s+read-only\s+1GiB\s+-\s+2`, out.String())
	require.Equal(t, 0, do("", "del", "--users", dsn, "alice"), errOut.String())
	assert.Equal(t, 1, do("", "del", "--users", dsn, "alice"))
	require.Equal(t, 0, do("", "list", "--users", dsn))
	assert.NotContains(t, out.String(), "alice")
}

// TestRedactDSN: check-config prints --users without a database's
// password, in every form pgx takes one.
func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"/etc/ftpd/users": "/etc/ftpd/users",
		"postgres://ftpd:pw@db/ftpd?sslmode=require":            "postgres://ftpd:xxxxx@db/ftpd?sslmode=require",
		"postgresql://ftpd@db/ftpd?password=pw&sslmode=require": "postgresql://ftpd@db/ftpd?password=xxxxx&sslmode=require",
		"postgres://ftpd@db/ftpd":                               "postgres://ftpd@db/ftpd",
		"host=db dbname=ftpd password=pw user=ftpd":             "host=db dbname=ftpd password=xxxxx user=ftpd",
		"host=db dbname=ftpd password='p w\\'x' user=ftpd":      "host=db dbname=ftpd password=xxxxx user=ftpd",
	} {
		assert.Equal(t, want, redactDSN(in), in)
	}
}
