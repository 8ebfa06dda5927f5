package local

import (
	"os/user"
	"strconv"
	"sync"
)

// maxCachedIDs bounds each of the uid and gid caches. A tree with more
// distinct owners than this lists the rest by number, without lookups.
const maxCachedIDs = 4096

// idNames caches uid and gid to name lookups for LIST. A lookup can be
// slow (it may read /etc/passwd or ask NSS, even LDAP), so each id is
// looked up once per Local; an unknown id is remembered as its number.
// Safe for concurrent use: one Local serves many sessions.
type idNames struct {
	mu     sync.Mutex
	users  map[uint32]string
	groups map[uint32]string
}

func newIDNames() *idNames {
	return &idNames{users: map[uint32]string{}, groups: map[uint32]string{}}
}

func lookupUser(id string) (string, error) {
	u, err := user.LookupId(id)
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

func lookupGroup(id string) (string, error) {
	g, err := user.LookupGroupId(id)
	if err != nil {
		return "", err
	}
	return g.Name, nil
}

func (n *idNames) user(uid uint32) string  { return n.name(n.users, uid, lookupUser) }
func (n *idNames) group(gid uint32) string { return n.name(n.groups, gid, lookupGroup) }

func (n *idNames) name(cache map[uint32]string, id uint32, lookup func(string) (string, error)) string {
	n.mu.Lock()
	name, ok := cache[id]
	full := len(cache) >= maxCachedIDs
	n.mu.Unlock()
	if ok {
		return name
	}
	num := strconv.FormatUint(uint64(id), 10)
	if full {
		return num
	}
	name, err := lookup(num) // outside the lock: it may block
	if err != nil || name == "" {
		name = num
	}
	n.mu.Lock()
	cache[id] = name
	n.mu.Unlock()
	return name
}
