package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gnetftp/gnetftp/ftp/auth"
	"github.com/gnetftp/gnetftp/ftp/ftptls"
	"github.com/gnetftp/gnetftp/ftp/pgstore"
)

// configKeyLine finds where a top-level key is set: BurntSushi/toml knows
// but does not export positions, and a configuration file is flat.
var configKeyLine = regexp.MustCompile(`^\s*("?)([A-Za-z0-9_-]+)("?)\s*=`)

// applyConfig sets every flag named by a key of the TOML file at path
// that the command line did not set (flags override the file). A key
// without a flag, a table, or a value its flag refuses is an error naming
// the key and its line. Lists set repeatable flags once per element.
// The [[vhost]] tables are loadVhosts'.
// Durations are strings ("10m"), as on the command line.
func applyConfig(fs *flag.FlagSet, path string, setOnCommandLine map[string]bool) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var values map[string]any
	if _, err := toml.Decode(string(text), &values); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	lines := map[string]int{}
	for i, l := range strings.Split(string(text), "\n") {
		if m := configKeyLine.FindStringSubmatch(l); m != nil {
			if _, seen := lines[m[2]]; !seen {
				lines[m[2]] = i + 1
			}
		}
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return lines[keys[i]] < lines[keys[j]] })
	for _, k := range keys {
		where := fmt.Sprintf("%s:%d: %s", path, lines[k], k)
		if lines[k] == 0 {
			where = fmt.Sprintf("%s: %s", path, k)
		}
		if k == "vhost" {
			continue // [[vhost]] tables: loadVhosts
		}
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			return fmt.Errorf("%s: unknown key (every key is a flag of ftpd --help, without the dashes)", where)
		}
		if setOnCommandLine[k] {
			continue
		}
		v := values[k]
		items, isList := v.([]any)
		if !isList {
			items = []any{v}
		}
		for _, item := range items {
			s, err := configValue(item)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			if err := f.Value.Set(s); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	return nil
}

// configValue turns a TOML value into the text its flag parses.
func configValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case map[string]any:
		return "", errors.New("a table is not a setting here")
	case []any:
		return "", errors.New("a list inside a list is not a setting")
	}
	return "", fmt.Errorf("unsupported value %v (%T)", v, v)
}

// repeatable is a flag given once per value (--listen, --ban-allow): a
// list in a configuration file.
type repeatable interface{ values() []string }

// printSettings writes the effective value of every setting, as a
// configuration file would set it (ftpd check-config).
func printSettings(fs *flag.FlagSet, w io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "cpuprofile" || f.Name == "memprofile" {
			return
		}
		v := f.Value.String()
		if f.Name == "users" {
			v = redactDSN(v) // a database's password is never printed
		}
		if l, ok := f.Value.(repeatable); ok {
			parts := []string{}
			for _, p := range l.values() {
				parts = append(parts, strconv.Quote(p))
			}
			fmt.Fprintf(w, "%s = [%s]\n", f.Name, strings.Join(parts, ", "))
			return
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			fmt.Fprintf(w, "%s = %s\n", f.Name, v)
			return
		}
		switch fmt.Sprintf("%T", f.Value) { // the flag package's own types
		case "*flag.intValue", "*flag.int64Value", "*flag.uintValue", "*flag.uint64Value", "*flag.float64Value":
			fmt.Fprintf(w, "%s = %s\n", f.Name, v)
			return
		}
		fmt.Fprintf(w, "%s = %s\n", f.Name, strconv.Quote(v))
	})
}

// checkConfig implements `ftpd check-config --config FILE [flags]`: the
// settings are parsed and checked as serving would (the users files are
// loaded) and the effective ones printed, one "key = value" per line,
// then the [[vhost]] tables.
func checkConfig(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if isDatabase(o.users) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		db, err := pgstore.Open(ctx, o.users, pgstore.Options{}) // reachable, schema in place
		if err != nil {
			return fmt.Errorf("--users: %w", err)
		}
		db.Close()
	} else if o.users != "" {
		if _, err := auth.LoadUsersFile(o.users, auth.Config{}); err != nil {
			return err
		}
	}
	if err := checkVhostUsers(o.vhosts); err != nil {
		return err
	}
	if o.tlsCert != "" {
		if _, err := ftptls.LoadCerts(o.tlsCert, o.tlsKey); err != nil {
			return err
		}
	}
	if _, err := newLogger(o, io.Discard); err != nil {
		return err
	}
	printSettings(o.flags, stdout)
	printVhosts(o.vhosts, stdout)
	return nil
}
