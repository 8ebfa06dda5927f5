package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/gnetftp/gnetftp/ftp"
	"github.com/gnetftp/gnetftp/ftp/auth"
)

// vhostConfig is one [[vhost]] table of the configuration file: a virtual
// host that clients choose with HOST (RFC 7151) before they log in, with
// its own root and users file. Keys are named as the flags they mirror.
type vhostConfig struct {
	// Name is the host name clients send (required).
	Name string `toml:"name"`
	// Root holds the host's homes, as --root (required; created if
	// missing).
	Root string `toml:"root"`
	// Users is the host's users file, as --users ("" for none).
	Users string `toml:"users"`
	// Anonymous allows anonymous read-only logins, from AnonymousRoot
	// (default ROOT/pub). Default false.
	Anonymous bool `toml:"anonymous"`
	// AnonymousRoot is --anonymous-root for this host.
	AnonymousRoot string `toml:"anonymous-root"`
	// Welcome is the text of HOST's 220 reply (default --welcome's).
	Welcome string `toml:"welcome"`
}

// vhostKeys are the keys a [[vhost]] table may have, in printing order.
var vhostKeys = []string{"name", "root", "users", "anonymous", "anonymous-root", "welcome"}

// loadVhosts reads the [[vhost]] tables of the configuration file at
// path. A key they do not know, a [vhost] that is not a list of tables, a
// missing name or root, a name given twice, or a host no one could log
// in to, is an error naming the table.
func loadVhosts(path string) ([]vhostConfig, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(text), &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, ok := raw["vhost"]
	if !ok {
		return nil, nil
	}
	if _, isList := v.([]map[string]any); !isList {
		return nil, fmt.Errorf("%s: vhost: want [[vhost]] tables (one per virtual host, with name, root and users)", path)
	}
	var doc struct {
		Vhost []vhostConfig `toml:"vhost"`
	}
	md, err := toml.Decode(string(text), &doc)
	if err != nil {
		return nil, fmt.Errorf("%s: vhost: %w", path, err)
	}
	for _, k := range md.Undecoded() {
		if len(k) > 1 && k[0] == "vhost" {
			return nil, fmt.Errorf("%s: vhost: %s: unknown key (a [[vhost]] has %s)", path, k[len(k)-1], strings.Join(vhostKeys, ", "))
		}
	}
	seen := map[string]bool{}
	for i, vh := range doc.Vhost {
		where := fmt.Sprintf("%s: [[vhost]] #%d", path, i+1)
		if vh.Name != "" {
			where += fmt.Sprintf(" (%s)", vh.Name)
		}
		switch key := strings.ToLower(strings.TrimSuffix(vh.Name, ".")); {
		case vh.Name == "":
			return nil, fmt.Errorf("%s: name is required", where)
		case vh.Root == "":
			return nil, fmt.Errorf("%s: root is required", where)
		case vh.Users == "" && !vh.Anonymous:
			return nil, fmt.Errorf("%s: no one could log in: give users or anonymous = true", where)
		case seen[key]:
			return nil, fmt.Errorf("%s: name given twice", where)
		default:
			seen[key] = true
		}
	}
	return doc.Vhost, nil
}

// printVhosts writes the [[vhost]] tables as a configuration file says
// them (ftpd check-config), after the top-level settings.
func printVhosts(vhosts []vhostConfig, w io.Writer) {
	for _, vh := range vhosts {
		values := map[string]string{
			"name": strconv.Quote(vh.Name), "root": strconv.Quote(vh.Root), "users": strconv.Quote(vh.Users),
			"anonymous": strconv.FormatBool(vh.Anonymous), "anonymous-root": strconv.Quote(vh.AnonymousRoot),
			"welcome": strconv.Quote(vh.Welcome),
		}
		fmt.Fprintln(w, "\n[[vhost]]")
		for _, k := range vhostKeys {
			fmt.Fprintf(w, "%s = %s\n", k, values[k])
		}
	}
}

// vhostUsers is a virtual host's users file, for SIGHUP's reload.
type vhostUsers struct {
	name string
	file *auth.UsersFile
}

// virtualHosts makes the server's virtual hosts: each root created if
// missing, each users file loaded (returned, for SIGHUP's reload).
func virtualHosts(vhosts []vhostConfig) ([]ftp.VirtualHost, []vhostUsers, error) {
	var out []ftp.VirtualHost
	var files []vhostUsers
	for _, vh := range vhosts {
		root, err := filepath.Abs(vh.Root)
		if err != nil {
			return nil, nil, fmt.Errorf("vhost %s: root: %w", vh.Name, err)
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, nil, fmt.Errorf("vhost %s: creating root: %w", vh.Name, err)
		}
		v := ftp.VirtualHost{Name: vh.Name, Root: root, AllowAnonymous: vh.Anonymous, AnonymousRoot: vh.AnonymousRoot, Welcome: vh.Welcome}
		if vh.Users != "" {
			uf, err := auth.LoadUsersFile(vh.Users, auth.Config{})
			if err != nil {
				return nil, nil, fmt.Errorf("vhost %s: %w", vh.Name, err)
			}
			v.Users = uf
			files = append(files, vhostUsers{vh.Name, uf})
		}
		out = append(out, v)
	}
	return out, files, nil
}

// vhostNames lists the virtual hosts' names, sorted (the start-up line).
func vhostNames(vhosts []vhostConfig) string {
	names := make([]string, len(vhosts))
	for i, vh := range vhosts {
		names[i] = vh.Name
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkVhostUsers loads every virtual host's users file, creating
// nothing (ftpd check-config).
func checkVhostUsers(vhosts []vhostConfig) error {
	for _, vh := range vhosts {
		if vh.Users == "" {
			continue
		}
		if _, err := auth.LoadUsersFile(vh.Users, auth.Config{}); err != nil {
			return fmt.Errorf("vhost %s: %w", vh.Name, err)
		}
	}
	return nil
}
