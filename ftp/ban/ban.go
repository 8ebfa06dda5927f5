// Package ban refuses client addresses that keep failing to log in
// (fail2ban's maxretry/findtime/bantime, inside the server): after After
// failed logins within Window an address is banned for For, and the
// server refuses its connections before they cost a password hash.
//
// Store is the contract the FTP server uses; Memory is the in-process
// implementation (one server). A store shared by a fleet (PostgreSQL)
// implements the same two calls, answering from a local copy kept
// current in the background, since both are called on event loops.
package ban

import (
	"container/list"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gnetftp/gnetftp/clock"
)

// Ban is one banned address (or IPv6 prefix).
type Ban struct {
	// Prefix is what is banned: an IPv4 address as a /32, an IPv6 address
	// as its /64 by default (Config.IPv6Prefix).
	Prefix netip.Prefix
	// Until is when the ban ends.
	Until time.Time
	// Failures is how many failed logins within the window started it.
	Failures int
	// Refused counts the connections refused under this ban so far, the
	// one being refused included (1 on the first refusal).
	Refused int64
}

// Store keeps failed logins and bans. Its methods are called on event
// loops, for every connection and every failed login, from many loops at
// once: they must be safe for concurrent use and must never block (no
// network round trip: a shared store answers from a local copy and
// writes behind).
type Store interface {
	// Check reports whether addr is banned now, and the ban; each true
	// answer counts as one refusal (Ban.Refused).
	Check(addr netip.Addr) (Ban, bool)
	// Failed records one failed login from addr. It reports the ban when
	// this failure started one (true once per ban); false for an allowed
	// address, one already banned, or one still under the limit.
	Failed(addr netip.Addr) (Ban, bool)
}

// Never is a Store that bans no one: bans turned off.
type Never struct{}

// Check always reports false.
func (Never) Check(netip.Addr) (Ban, bool) { return Ban{}, false }

// Failed records nothing.
func (Never) Failed(netip.Addr) (Ban, bool) { return Ban{}, false }

// Config tunes a Memory store. Zero values get the defaults listed.
type Config struct {
	// After is how many failed logins within Window ban an address;
	// default 10.
	After int
	// Window is the span in which After failures ban; default 10 minutes.
	Window time.Duration
	// For is how long a ban lasts; default 30 minutes.
	For time.Duration
	// Allow lists addresses that are never banned (their failures are
	// not even counted); default none: loopback is not exempt.
	Allow []netip.Prefix
	// IPv6Prefix is the prefix length under which IPv6 addresses count as
	// one (a host usually owns a whole /64 and can pick any address in
	// it); default 64, 128 counts every address apart.
	IPv6Prefix int
	// MaxEntries bounds the addresses remembered (with failures or a
	// ban); past it the address whose last failure is oldest is
	// forgotten, so a client owning many addresses cannot grow the table
	// without bound. Default 10,000 (about 300 bytes each plus 8 per
	// failure kept).
	MaxEntries int
	// Clock is the source of time; default clock.RealClock (tests give a
	// clock.ManualClock and need no sleeps).
	Clock clock.Clock
}

// Defaults of Config.
const (
	DefaultAfter      = 10
	DefaultWindow     = 10 * time.Minute
	DefaultFor        = 30 * time.Minute
	DefaultMaxEntries = 10000
)

func (c Config) withDefaults() Config {
	if c.After <= 0 {
		c.After = DefaultAfter
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.For <= 0 {
		c.For = DefaultFor
	}
	if c.IPv6Prefix <= 0 || c.IPv6Prefix > 128 {
		c.IPv6Prefix = 64
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	return c
}

// Memory is the in-process Store: a bounded table of recent failures and
// bans, safe for concurrent use. Check costs one atomic load while no
// address is banned, so the connections of a server under no attack
// never take its lock.
type Memory struct {
	cfg    Config
	banned atomic.Int64 // entries on the bans list: Check's fast path

	mu      sync.Mutex
	entries map[netip.Addr]*entry
	byFail  list.List // of *entry, oldest last failure first
	bans    list.List // of *entry, earliest end first (every ban lasts For)
}

type entry struct {
	key      netip.Addr
	prefix   netip.Prefix
	fails    []int64 // times (UnixNano) of the last After failures, a ring
	next     int     // ring position of the next failure
	last     int64   // time of the last failure
	until    time.Time
	failures int
	refused  int64
	failEl   *list.Element
	banEl    *list.Element
}

// NewMemory returns an empty store.
func NewMemory(cfg Config) *Memory {
	m := &Memory{cfg: cfg.withDefaults(), entries: map[netip.Addr]*entry{}}
	m.byFail.Init()
	m.bans.Init()
	return m
}

// key is the table's key for addr: the address itself, or its IPv6
// prefix.
func (m *Memory) key(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 32
	if addr.Is6() {
		bits = m.cfg.IPv6Prefix
	}
	p, _ := addr.Prefix(bits)
	return p
}

func (m *Memory) allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range m.cfg.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Check implements Store.
func (m *Memory) Check(addr netip.Addr) (Ban, bool) {
	if m.banned.Load() == 0 {
		return Ban{}, false
	}
	p := m.key(addr)
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	e := m.entries[p.Addr()]
	if e == nil || e.banEl == nil {
		return Ban{}, false
	}
	e.refused++
	return e.ban(), true
}

// Failed implements Store.
func (m *Memory) Failed(addr netip.Addr) (Ban, bool) {
	if !addr.IsValid() || m.allowed(addr) {
		return Ban{}, false
	}
	p := m.key(addr)
	now := m.cfg.Clock.Now()
	t := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	m.sweep(t)
	e := m.entries[p.Addr()]
	switch {
	case e != nil && e.banEl != nil:
		return Ban{}, false // a session opened before the ban
	case e == nil:
		if len(m.entries) >= m.cfg.MaxEntries {
			m.remove(m.byFail.Front().Value.(*entry))
		}
		e = &entry{key: p.Addr(), prefix: p}
		m.entries[e.key] = e
		e.failEl = m.byFail.PushBack(e)
	default:
		m.byFail.MoveToBack(e.failEl)
	}
	e.last = t
	if len(e.fails) < m.cfg.After {
		e.fails = append(e.fails, t)
	} else {
		e.fails[e.next] = t
	}
	e.next = (e.next + 1) % m.cfg.After
	// The ring holds the last After failures; when it is full, the
	// oldest of them is at next.
	if len(e.fails) < m.cfg.After || t-e.fails[e.next%len(e.fails)] > int64(m.cfg.Window) {
		return Ban{}, false
	}
	e.until = now.Add(m.cfg.For)
	e.failures = len(e.fails)
	e.refused = 0
	e.fails, e.next = e.fails[:0], 0
	e.banEl = m.bans.PushBack(e)
	m.banned.Add(1)
	return e.ban(), true
}

// Impose bans prefix until the given time, a ban decided elsewhere (by
// another node of a fleet, through a shared store): Check refuses its
// addresses from now on. A ban already in force is extended if until is
// later. It reports whether the prefix was not banned before. An
// allowed address is never banned.
func (m *Memory) Impose(prefix netip.Prefix, until time.Time, failures int) bool {
	prefix = m.key(prefix.Addr()) // this store's granularity
	if !prefix.IsValid() || m.allowed(prefix.Addr()) {
		return false
	}
	now := m.cfg.Clock.Now()
	if !until.After(now) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	e := m.entries[prefix.Addr()]
	isNew := e == nil || e.banEl == nil
	switch {
	case e == nil:
		if len(m.entries) >= m.cfg.MaxEntries {
			m.remove(m.byFail.Front().Value.(*entry))
		}
		e = &entry{key: prefix.Addr(), prefix: prefix, last: now.UnixNano()}
		m.entries[e.key] = e
		e.failEl = m.byFail.PushBack(e)
	case e.banEl != nil && !until.After(e.until):
		return false
	case e.banEl != nil:
		m.bans.Remove(e.banEl)
		e.banEl = nil
		m.banned.Add(-1)
	}
	e.until, e.failures, e.fails, e.next = until, failures, e.fails[:0], 0
	if isNew {
		e.refused = 0
	}
	// The bans list stays in order of their ends (expire relies on it):
	// an imposed ban may end before bans made here.
	at := m.bans.Back()
	for at != nil && at.Value.(*entry).until.After(until) {
		at = at.Prev()
	}
	if at == nil {
		e.banEl = m.bans.PushFront(e)
	} else {
		e.banEl = m.bans.InsertAfter(e, at)
	}
	m.banned.Add(1)
	return isNew
}

// Allowed reports whether addr is on the allow list (never banned).
func (m *Memory) Allowed(addr netip.Addr) bool { return m.allowed(addr) }

// Config returns the store's configuration, defaults applied.
func (m *Memory) Config() Config { return m.cfg }

// Key is the prefix under which this store counts addr (its IPv6 /64 by
// default): what a shared store records.
func (m *Memory) Key(addr netip.Addr) netip.Prefix { return m.key(addr) }

func (e *entry) ban() Ban {
	return Ban{Prefix: e.prefix, Until: e.until, Failures: e.failures, Refused: e.refused}
}

// expire ends the bans whose time is up (the bans list is in order of
// their ends: every ban lasts For on one clock).
func (m *Memory) expire(now time.Time) {
	for el := m.bans.Front(); el != nil; el = m.bans.Front() {
		e := el.Value.(*entry)
		if now.Before(e.until) {
			return
		}
		m.bans.Remove(el)
		e.banEl = nil
		e.until = time.Time{}
		m.banned.Add(-1)
		if len(e.fails) == 0 {
			m.remove(e)
		}
	}
}

// sweep forgets a few entries whose last failure left the window and
// that are not banned, so the table shrinks after an attack; it does
// constant work per call.
func (m *Memory) sweep(now int64) {
	for range 2 {
		el := m.byFail.Front()
		if el == nil {
			return
		}
		e := el.Value.(*entry)
		if e.banEl != nil || now-e.last <= int64(m.cfg.Window) {
			return
		}
		m.remove(e)
	}
}

func (m *Memory) remove(e *entry) {
	if e.banEl != nil {
		m.bans.Remove(e.banEl)
		e.banEl = nil
		m.banned.Add(-1)
	}
	m.byFail.Remove(e.failEl)
	delete(m.entries, e.key)
}

// Len reports how many addresses the table holds (with failures or a
// ban).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Banned reports how many addresses are banned now.
func (m *Memory) Banned() int {
	now := m.cfg.Clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	return m.bans.Len()
}
