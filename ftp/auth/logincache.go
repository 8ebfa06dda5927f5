package auth

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
)

// LoginCache remembers recent successful logins, so that a user logging
// in again and again costs a SHA-256 and a map lookup instead of a
// bcrypt. It holds no password: each entry is the user and a SHA-256 of a
// per-instance random salt, the user and the password, worthless outside
// this process. Bounded (least recently used out); safe for concurrent
// use. UsersFile and the fleet's database store (pgstore.Users) use it.
type LoginCache struct {
	salt [32]byte
	size int // negative: remembers nothing

	mu  sync.Mutex
	lru *list.List // of loginKey, front = most recent
	m   map[loginKey]*list.Element
	// gen counts Forget calls: a check that raced one is not
	// remembered, so a changed password cannot come back through the
	// cache.
	gen uint64
}

type loginKey struct {
	user   string
	digest [32]byte
}

// NewLoginCache returns an empty cache of at most size entries
// (negative: a cache that remembers nothing).
func NewLoginCache(size int) (*LoginCache, error) {
	c := &LoginCache{size: size, lru: list.New(), m: map[loginKey]*list.Element{}}
	if _, err := rand.Read(c.salt[:]); err != nil {
		return nil, fmt.Errorf("auth: salt: %w", err)
	}
	return c, nil
}

func (c *LoginCache) key(user, password string) loginKey {
	h := sha256.New()
	h.Write(c.salt[:])
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(password))
	k := loginKey{user: user}
	h.Sum(k.digest[:0])
	return k
}

// Has reports whether user logged in with password recently.
func (c *LoginCache) Has(user, password string) bool {
	k := c.key(user, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[k]
	if ok {
		c.lru.MoveToFront(el)
	}
	return ok
}

// Gen is the generation to give Add for a check that starts now.
func (c *LoginCache) Gen() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Add remembers a successful login checked since gen (Gen's value when
// the check began): not if Forget ran meanwhile.
func (c *LoginCache) Add(user, password string, gen uint64) {
	if c.size < 0 {
		return
	}
	k := c.key(user, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if el, ok := c.m[k]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.m[k] = c.lru.PushFront(k)
	for c.lru.Len() > c.size {
		delete(c.m, c.lru.Remove(c.lru.Back()).(loginKey))
	}
}

// Forget drops user's logins ("" drops everyone's), and makes every check
// in progress unrememberable.
func (c *LoginCache) Forget(user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if user == "" {
		c.lru.Init()
		clear(c.m)
		return
	}
	for k, el := range c.m {
		if k.user == user {
			c.lru.Remove(el)
			delete(c.m, k)
		}
	}
}

// Len reports how many logins are remembered.
func (c *LoginCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
