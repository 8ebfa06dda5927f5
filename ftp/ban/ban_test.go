package ban_test

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/clock"
	"github.com/gnetftp/gnetftp/ftp/ban"
	"github.com/gnetftp/gnetftp/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.VerifyTestMain(m) }

var (
	a = netip.MustParseAddr("192.0.2.1")
	b = netip.MustParseAddr("192.0.2.2")
)

func fail(t *testing.T, m ban.Store, addr netip.Addr, n int) (ban.Ban, bool) {
	t.Helper()
	var last ban.Ban
	var banned bool
	for range n {
		last, banned = m.Failed(addr)
	}
	return last, banned
}

func TestAfterFailuresWithinTheWindowTheAddressIsBannedForAWhile(t *testing.T) {
	c := clock.NewManualClock()
	m := ban.NewMemory(ban.Config{After: 3, Window: time.Minute, For: 10 * time.Minute, Clock: c})
	_, banned := fail(t, m, a, 2)
	assert.False(t, banned)
	_, ok := m.Check(a)
	assert.False(t, ok, "two failures are under the limit")
	got, banned := m.Failed(a)
	require.True(t, banned, "the third failure bans")
	assert.Equal(t, netip.MustParsePrefix("192.0.2.1/32"), got.Prefix)
	assert.Equal(t, c.Now().Add(10*time.Minute), got.Until)
	assert.Equal(t, 3, got.Failures)

	for i := int64(1); i <= 3; i++ {
		r, ok := m.Check(a)
		require.True(t, ok)
		assert.Equal(t, i, r.Refused, "each refusal counts")
	}
	_, ok = m.Check(b)
	assert.False(t, ok, "other addresses are not banned")
	_, banned = m.Failed(a)
	assert.False(t, banned, "an address already banned is banned once")

	c.Advance(10*time.Minute - time.Nanosecond)
	_, ok = m.Check(a)
	assert.True(t, ok)
	c.Advance(time.Nanosecond)
	_, ok = m.Check(a)
	assert.False(t, ok, "the ban ends after For")
	assert.Equal(t, 0, m.Banned())
	assert.Equal(t, 0, m.Len(), "an expired ban leaves nothing behind")
	_, banned = fail(t, m, a, 2)
	assert.False(t, banned, "the failures before the ban do not count again")
}

func TestFailuresOutsideTheWindowDoNotBan(t *testing.T) {
	c := clock.NewManualClock()
	m := ban.NewMemory(ban.Config{After: 3, Window: time.Minute, Clock: c})
	for range 10 {
		_, banned := m.Failed(a)
		require.False(t, banned)
		c.Advance(31 * time.Second) // 3 failures span 62 s > 60 s
	}
	fail(t, m, b, 1)
	c.Advance(30 * time.Second)
	fail(t, m, b, 1)
	c.Advance(30 * time.Second)
	_, banned := m.Failed(b)
	assert.True(t, banned, "3 failures in exactly the window ban (a sliding window, not fixed slots)")
}

func TestAllowedAddressesAreNeverBanned(t *testing.T) {
	m := ban.NewMemory(ban.Config{After: 1, Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/30")}})
	_, banned := fail(t, m, a, 100)
	assert.False(t, banned)
	_, ok := m.Check(a)
	assert.False(t, ok)
	assert.Equal(t, 0, m.Len(), "failures of allowed addresses are not even kept")
	_, banned = m.Failed(netip.MustParseAddr("192.0.2.9"))
	assert.True(t, banned, "outside the allowed prefix")
	_, banned = m.Failed(netip.MustParseAddr("::ffff:192.0.2.1"))
	assert.False(t, banned, "an IPv4-mapped address is the IPv4 address")
}

func TestIPv6AddressesCountPerPrefix(t *testing.T) {
	m := ban.NewMemory(ban.Config{After: 2})
	m.Failed(netip.MustParseAddr("2001:db8:1:2::1"))
	got, banned := m.Failed(netip.MustParseAddr("2001:db8:1:2:ffff::9"))
	require.True(t, banned, "two addresses of one /64 are one client")
	assert.Equal(t, netip.MustParsePrefix("2001:db8:1:2::/64"), got.Prefix)
	_, ok := m.Check(netip.MustParseAddr("2001:db8:1:2::77"))
	assert.True(t, ok)
	_, ok = m.Check(netip.MustParseAddr("2001:db8:1:3::1"))
	assert.False(t, ok)

	per := ban.NewMemory(ban.Config{After: 2, IPv6Prefix: 128})
	per.Failed(netip.MustParseAddr("2001:db8::1"))
	_, banned = per.Failed(netip.MustParseAddr("2001:db8::2"))
	assert.False(t, banned, "IPv6Prefix 128 counts addresses apart")
}

func TestTheTableIsBoundedAndForgetsTheOldestFirst(t *testing.T) {
	c := clock.NewManualClock()
	m := ban.NewMemory(ban.Config{After: 2, MaxEntries: 100, Clock: c})
	first := netip.MustParseAddr("10.0.0.1")
	m.Failed(first)
	for i := range 10000 {
		c.Advance(time.Millisecond)
		m.Failed(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
	}
	assert.Equal(t, 100, m.Len(), "a client owning many addresses cannot grow the table")
	_, banned := m.Failed(first)
	assert.False(t, banned, "the oldest entry was forgotten")
	recent := netip.AddrFrom4([4]byte{10, 1, byte(9999 >> 8), byte(9999 & 0xff)})
	_, banned = m.Failed(recent)
	assert.True(t, banned, "a recent one was kept")
}

func TestOldFailuresAreSweptAway(t *testing.T) {
	c := clock.NewManualClock()
	m := ban.NewMemory(ban.Config{After: 5, Window: time.Minute, Clock: c})
	for i := range 50 {
		m.Failed(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}))
	}
	c.Advance(2 * time.Minute)
	for i := range 30 {
		m.Failed(netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}))
	}
	assert.Equal(t, 30, m.Len(), "entries whose failures left the window go as new ones come")
}

func TestConcurrentUse(t *testing.T) {
	m := ban.NewMemory(ban.Config{After: 3, MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				addr := netip.AddrFrom4([4]byte{10, byte(g), 0, byte(i % 97)})
				m.Failed(addr)
				m.Check(addr)
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, m.Len(), 50)
}

func TestNeverBansAnyone(t *testing.T) {
	_, banned := fail(t, ban.Never{}, a, 1000)
	assert.False(t, banned)
	_, ok := ban.Never{}.Check(a)
	assert.False(t, ok)
}

func BenchmarkCheckWithNoBans(b *testing.B) {
	m := ban.NewMemory(ban.Config{})
	b.ReportAllocs()
	for b.Loop() {
		m.Check(a)
	}
}

func BenchmarkCheckWithBans(b *testing.B) {
	m := ban.NewMemory(ban.Config{After: 1})
	for i := range 1000 {
		m.Failed(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Check(a)
	}
}

// A ban decided elsewhere (another node) refuses at once, keeps the
// bans in the order of their ends, and lapses on time.
func TestImpose(t *testing.T) {
	clk := clock.NewManualClock()
	m := ban.NewMemory(ban.Config{Clock: clk, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::7")
	// A local ban lasting For (30 min), then an imposed one ending sooner.
	for range ban.DefaultAfter {
		m.Failed(a)
	}
	_, banned := m.Check(a)
	require.True(t, banned)
	assert.True(t, m.Impose(netip.PrefixFrom(b, 128), clk.Now().Add(time.Minute), 4))
	assert.False(t, m.Impose(netip.PrefixFrom(b, 128), clk.Now().Add(30*time.Second), 4), "an earlier end changes nothing")
	bn, banned := m.Check(netip.MustParseAddr("2001:db8::99"))
	require.True(t, banned, "counted under the /64")
	assert.Equal(t, "2001:db8::/64", bn.Prefix.String())
	assert.False(t, m.Impose(netip.MustParsePrefix("10.1.2.3/32"), clk.Now().Add(time.Hour), 1), "allowed addresses are never banned")
	assert.False(t, m.Impose(netip.MustParsePrefix("192.0.2.9/32"), clk.Now(), 1), "a ban already over")

	clk.Advance(2 * time.Minute)
	_, banned = m.Check(b)
	assert.False(t, banned, "the imposed ban lapsed, before the local one")
	_, banned = m.Check(a)
	assert.True(t, banned, "the local ban, which ends later, stands")
	assert.Equal(t, 1, m.Banned())
}
