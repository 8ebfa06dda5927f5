package listing

import (
	"errors"
	"path"
	"strings"
	"unicode/utf8"
)

// Limits of a glob (NLST and LIST "dir/*.txt"): the pattern is compiled
// once per listing into at most MaxGlobElements elements (a literal
// character, '?', a class "[...]", a run of '*'), matched against each
// name by simulating every element at once in one machine word
// (bit-parallel), so a name costs one table lookup per byte whatever the
// pattern. path.Match, which it agrees with, tries a star's chunk at every
// position: 200 µs for a 255-byte name against "*aaa...ab", 10 s for a
// directory of 50,000 such names.
const (
	// MaxGlobLen bounds a pattern's length in bytes.
	MaxGlobLen = 128
	// MaxGlobElements bounds its elements (one bit each in a uint64,
	// with the accepting state).
	MaxGlobElements = 63
)

// ErrGlobTooComplex: a pattern over MaxGlobLen or MaxGlobElements.
var ErrGlobTooComplex = errors.New("listing: glob pattern too long or complex")

// Glob is a compiled pattern; its Match is safe for concurrent use.
type Glob struct {
	pattern string
	bad     bool        // malformed: matches nothing (as path.Match's error)
	slow    bool        // not valid UTF-8: path.Match decides
	n       int         // elements; bit n is the accepting state
	stars   uint64      // elements that are '*'
	any     uint64      // elements that are '?'
	ascii   [128]uint64 // non-star elements accepting each ASCII byte
	lits    map[rune]uint64
	classes []class
}

// class is a "[...]" element.
type class struct {
	bit    uint64
	negate bool
	ranges []runeRange
}

type runeRange struct{ lo, hi rune }

func (c *class) accepts(r rune) bool {
	in := false
	for _, rg := range c.ranges {
		if rg.lo <= r && r <= rg.hi {
			in = true
			break
		}
	}
	return in != c.negate
}

// CompileGlob compiles an NLST glob pattern with path.Match's syntax. A
// malformed pattern compiles into one that matches nothing (as Match
// always said); one over the limits is ErrGlobTooComplex.
func CompileGlob(pattern string) (*Glob, error) {
	if len(pattern) > MaxGlobLen {
		return nil, ErrGlobTooComplex
	}
	g := &Glob{pattern: pattern, lits: map[rune]uint64{}}
	if _, err := path.Match(pattern, ""); err != nil {
		g.bad = true
		return g, nil
	}
	if !utf8.ValidString(pattern) {
		g.slow = true
		return g, nil
	}
	for p := pattern; p != ""; {
		if g.n >= MaxGlobElements {
			return nil, ErrGlobTooComplex
		}
		bit := uint64(1) << g.n
		switch p[0] {
		case '*':
			for p != "" && p[0] == '*' {
				p = p[1:]
			}
			g.stars |= bit
		case '?':
			p = p[1:]
			g.any |= bit
		case '[':
			c, rest := parseClass(p[1:])
			c.bit, p = bit, rest
			g.classes = append(g.classes, c)
		default:
			if p[0] == '\\' {
				p = p[1:] // path.Match checked that something follows
			}
			r, w := utf8.DecodeRuneInString(p)
			p = p[w:]
			g.lits[r] |= bit
		}
		g.n++
	}
	for b := 0; b < 128; b++ {
		g.ascii[b] = g.accepting(rune(b))
	}
	return g, nil
}

// parseClass reads a class after its '[' (well-formed: path.Match
// checked) and returns what follows its ']'.
func parseClass(p string) (class, string) {
	var c class
	if p != "" && p[0] == '^' {
		c.negate, p = true, p[1:]
	}
	for first := true; first || p[0] != ']'; first = false {
		lo, rest := classChar(p)
		hi := lo
		if rest != "" && rest[0] == '-' {
			hi, rest = classChar(rest[1:])
		}
		c.ranges = append(c.ranges, runeRange{lo, hi})
		p = rest
	}
	return c, p[1:]
}

// classChar reads one (possibly escaped) character of a class.
func classChar(p string) (rune, string) {
	if p[0] == '\\' {
		p = p[1:]
	}
	r, w := utf8.DecodeRuneInString(p)
	return r, p[w:]
}

// accepting is the set of non-star elements that accept r.
func (g *Glob) accepting(r rune) uint64 {
	m := g.any | g.lits[r]
	for i := range g.classes {
		if g.classes[i].accepts(r) {
			m |= g.classes[i].bit
		}
	}
	return m
}

// Match reports whether name matches, as path.Match(pattern, name) would.
// Names that are not valid UTF-8, or hold a '/' (never a directory
// entry's), are left to path.Match itself, within the pattern limits.
func (g *Glob) Match(name string) bool {
	if g.bad {
		return false
	}
	if g.slow || strings.IndexByte(name, '/') >= 0 || !utf8.ValidString(name) {
		ok, err := path.Match(g.pattern, name)
		return err == nil && ok
	}
	// Bit i: the first i elements match what has been read. A star
	// matches the empty string (closure), then stays put on every
	// character; runs of stars are one element, so one closure step is
	// enough.
	s := uint64(1)
	s |= (s & g.stars) << 1
	for i := 0; i < len(name); {
		var acc uint64
		if c := name[i]; c < utf8.RuneSelf {
			acc, i = g.ascii[c], i+1
		} else {
			r, w := utf8.DecodeRuneInString(name[i:])
			acc, i = g.accepting(r), i+w
		}
		s = s&g.stars | (s&acc)<<1
		s |= (s & g.stars) << 1
		if s == 0 {
			return false
		}
	}
	return s&(uint64(1)<<g.n) != 0
}
