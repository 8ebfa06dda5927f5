package listing_test

import (
	"path"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gnetftp/gnetftp/ftp/listing"
)

// globCases are patterns and names whose path.Match results the compiled
// glob must give.
var globCases = []struct{ pattern, name string }{
	{"*", "anything"}, {"*", ""}, {"*.txt", "a.txt"}, {"*.txt", "a.txt.gz"}, {"a*b*c", "aXXbYYc"},
	{"a*b*c", "aXXbYY"}, {"?", "é"}, {"??", "é"}, {"*?", "éé"}, {"*??", "é"}, {"[a-c]x", "bx"},
	{"[^a-c]x", "bx"}, {"[^a-c]x", "dx"}, {"[é-ê]", "ê"}, {`\*`, "*"}, {`\*`, "a"}, {`[\]]`, "]"},
	{"[", "["}, {"a[", "a"}, {"[]", "]"}, {`\`, `\`}, {"[a-]", "a"}, {"**a", "xa"}, {"*a*", "bab"},
	{"x*", "x"}, {"*x", "x"}, {"*ab", "aab"}, {"a?c", "abc"}, {"a?c", "ac"}, {"[!a]", "b"}, {"[^]a]", "b"},
	{"*", "a/b"}, {"\xff*", "\xffa"}, {"*", "\xff"}, {"?", "\xff"},
}

func TestGlobAgreesWithPathMatch(t *testing.T) {
	for _, c := range globCases {
		want, err := path.Match(c.pattern, c.name)
		want = want && err == nil
		g, cerr := listing.CompileGlob(c.pattern)
		require.NoError(t, cerr, c.pattern)
		assert.Equal(t, want, g.Match(c.name), "%q against %q", c.pattern, c.name)
		assert.Equal(t, want, listing.Match(c.pattern, c.name), "%q against %q", c.pattern, c.name)
	}
}

// Patterns over the limits are refused, not run.
func TestGlobLimits(t *testing.T) {
	_, err := listing.CompileGlob(strings.Repeat("a", listing.MaxGlobLen+1))
	assert.ErrorIs(t, err, listing.ErrGlobTooComplex)
	_, err = listing.CompileGlob(strings.Repeat("a?", listing.MaxGlobElements/2+1))
	assert.ErrorIs(t, err, listing.ErrGlobTooComplex)
	g, err := listing.CompileGlob(strings.Repeat("*", listing.MaxGlobLen))
	require.NoError(t, err, "a run of stars is one element")
	assert.True(t, g.Match("x"))
	assert.False(t, listing.Match(strings.Repeat("a", listing.MaxGlobLen+1), strings.Repeat("a", listing.MaxGlobLen+1)),
		"Match refuses what CompileGlob refuses")
}

func FuzzGlob(f *testing.F) {
	for _, c := range globCases {
		f.Add(c.pattern, c.name)
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		g, err := listing.CompileGlob(pattern)
		if err != nil {
			return
		}
		want, perr := path.Match(pattern, name)
		if got := g.Match(name); got != (want && perr == nil) {
			t.Fatalf("%q against %q: %v, path.Match says %v (%v)", pattern, name, got, want, perr)
		}
	})
}

// BenchmarkGlob is the worst case of path.Match (a long chunk after a
// star, tried at every position of a long name) against the compiled
// glob, and a common pattern.
func BenchmarkGlob(b *testing.B) {
	name := strings.Repeat("a", 255)
	worst := "*" + strings.Repeat("a", listing.MaxGlobElements-2) + "b"
	for _, c := range []struct{ label, pattern, name string }{
		{"worst", worst, name},
		{"common", "*.jpg", "IMG_20240101_123456.jpg"},
	} {
		g, err := listing.CompileGlob(c.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.label+"/Glob", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				g.Match(c.name)
			}
		})
		b.Run(c.label+"/reference-path.Match", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				_, _ = path.Match(c.pattern, c.name)
			}
		})
	}
}
