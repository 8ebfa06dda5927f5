package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// helpGroups sorts the flags of `ftpd --help` by topic. A flag is placed
// by its name, or else by a prefix; one in no group goes under "Other",
// so a flag added without updating this table still shows.
var helpGroups = []struct {
	title    string
	names    []string
	prefixes []string
}{
	{"Listening and data connections", []string{"listen", "listen-tls", "public-host", "passive-ports", "loops", "procs", "transport", "allow-foreign-data", "allow-privileged-ports"}, nil},
	{"Files and users", []string{"root", "storage", "users", "run-as", "config", "fleet-lease"}, []string{"anonymous"}},
	{"TLS (FTPS)", nil, []string{"tls-"}},
	{"Limits and timeouts", []string{"idle-timeout", "login-timeout", "data-timeout", "shutdown-grace", "hash-workers"}, []string{"max-", "rate-"}},
	{"Bans", nil, []string{"ban-"}},
	{"Memory", []string{"gc-heap-floor", "trim-memory"}, nil},
	{"Logging, metrics and hooks", []string{"log-format", "log-level", "metrics-listen", "xferlog", "cpuprofile", "memprofile"}, []string{"on-", "hook-"}},
}

// helpGroup is the title of f's group.
func helpGroup(name string) string {
	for _, g := range helpGroups {
		for _, n := range g.names {
			if n == name {
				return g.title
			}
		}
		for _, p := range g.prefixes {
			if strings.HasPrefix(name, p) {
				return g.title
			}
		}
	}
	return "Other"
}

// printHelp writes the usage text and every flag, grouped, to w.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usageHead)
	sets := map[string]*flag.FlagSet{}
	fs.VisitAll(func(f *flag.Flag) {
		title := helpGroup(f.Name)
		g := sets[title]
		if g == nil {
			g = flag.NewFlagSet(title, flag.ContinueOnError)
			sets[title] = g
		}
		g.Var(f.Value, f.Name, f.Usage)
		g.Lookup(f.Name).DefValue = f.DefValue
	})
	titles := make([]string, 0, len(helpGroups)+1)
	for _, g := range helpGroups {
		titles = append(titles, g.title)
	}
	for _, title := range append(titles, "Other") {
		g := sets[title]
		if g == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		g.SetOutput(w)
		g.PrintDefaults()
	}
}

// version is what `ftpd --version` prints: the module's version, or the
// commit it was built from, and the Go release.
func version() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	out := "ftpd " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += " " + rev
		if dirty {
			out += "+changes"
		}
	}
	return out + " " + runtime.Version()
}
