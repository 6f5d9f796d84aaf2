package store

import (
	"bytes"
	"strings"
	"testing"
)

// globCases are Redis's: the KEYS cases of tests/unit/keyspace.tcl, the examples of the
// KEYS documentation, and the edges of util.c's stringmatchlen (which Redis only fuzzes
// for crashes), each answer being what redis-server 7 on amd64 gives.
var globCases = []struct {
	pattern, s string
	want       bool
}{
	// keyspace.tcl: KEYS with pattern, KEYS to get all keys, KEYS with hashtag, long key.
	{"foo*", "foo_a", true},
	{"foo*", "key_x", false},
	{"*", "key_z", true},
	{"*", "dlskeriewrioeuwqoirueioqwrueoqwrueqw", true},
	{"{a}*", "{a}x", true},
	{"{a}*", "{b}a", false},
	{"*{b}*", "{b}c", true},
	{"*{b}*", "{a}y", false},
	// The KEYS documentation.
	{"h?llo", "hello", true},
	{"h?llo", "hxllo", true},
	{"h?llo", "hllo", false},
	{"h*llo", "hllo", true},
	{"h*llo", "heeeello", true},
	{"h[ae]llo", "hello", true},
	{"h[ae]llo", "hallo", true},
	{"h[ae]llo", "hillo", false},
	{"h[^e]llo", "hallo", true},
	{"h[^e]llo", "hbllo", true},
	{"h[^e]llo", "hello", false},
	{"h[a-b]llo", "hallo", true},
	{"h[a-b]llo", "hbllo", true},
	{"h[a-b]llo", "hcllo", false},
	// Empty pattern and empty string: the empty string matches the empty pattern only.
	{"", "", true},
	{"", "a", false},
	{"*", "", true}, // what KEYS and SCAN answer; stringmatchlen itself says false
	{"**", "", false},
	{"?", "", false},
	// Stars: runs collapse, trailing stars match nothing at the end.
	{"a*", "a", true},
	{"a**", "a", true},
	{"a*b", "a", false},
	{"*a", "ba", true},
	{"*a", "ab", false},
	{"*?*", "a", true},
	{"a*b*c", "abbbbbc", true},
	{"*world*", "hello world again", true},
	{"a*a*a*b", "aaaab", true},
	{"a*a*a*b", "aaaa", false},
	// Escapes, outside and inside classes.
	{`\*`, "*", true},
	{`\*`, "a", false},
	{`\?`, "?", true},
	{`\?`, "x", false},
	{`a\`, `a\`, true},
	{`\`, `\`, true},
	{`\[a]`, "[a]", true},
	{`[\]]`, "]", true},
	{`[\^a]`, "^", true},
	{`[\`, `\`, true},
	// Classes: reversed ranges, '-' at an edge, empty and unterminated classes.
	{"[z-a]", "m", true},
	{"[z-a]", "A", false},
	{"[a-c-e]", "-", true},
	{"[a-c-e]", "e", true},
	{"[a-c-e]", "d", false},
	{"[-a]", "-", true},
	{"[]]", "]", false},
	{"[]", "x", false},
	{"[^]", "x", true},
	{"[^]x", "ax", true},
	{"[abc", "a", true},
	{"[abc", "ab", false},
	{"[^", "x", true},
	{"[", "x", false},
	{"[a-]", "_", true}, // the range a-']' (reversed), then unterminated
	{"[a-]", "-", false},
	{"[a-]x", "x", true}, // one class: ']'-'a' and 'x'
	{"[a-]x", "_x", false},
	// Range bounds compare as signed chars.
	{"[\x00-\xff]", "\x00", true},
	{"[\x00-\xff]", "\xff", true},
	{"[\x00-\xff]", "a", false},
	{"[\x00-\xff]", "\x80", false},
	{"[a-\xff]", "A", true},
	{"[a-\xff]", "b", false},
	{"[\x80-\xff]", "\x90", true},
	{"[\x80-\xff]", "a", false},
	// Bytes are compared as bytes.
	{"*\x00*", "a\x00b", true},
	{"caf?", "caf\xc3\xa9", false},
	{"caf??", "caf\xc3\xa9", true},
	// keyspace.tcl: "Regression for pattern matching long nested loops".
	{"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 40), false},
	// keyspace.tcl: "Regression for pattern matching very long nested loops": the nesting
	// limit gives up although the pattern would match.
	{strings.Repeat("*?", 50000), strings.Repeat("a", 50000), false},
	// The limit is 1000 nested stars; a last '*' past it still matches.
	{strings.Repeat("*a", 1000), strings.Repeat("a", 1000), true},
	{strings.Repeat("*a", 1001), strings.Repeat("a", 1001), false},
	{strings.Repeat("*a", 1000) + "*", strings.Repeat("a", 1000) + "b", true},
}

func TestMatchRedisCases(t *testing.T) {
	for _, c := range globCases {
		if got := Match([]byte(c.pattern), []byte(c.s)); got != c.want {
			t.Errorf("Match(%.40q, %.40q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
		if strings.Count(c.pattern, "*") > maxStarNesting {
			continue
		}
		if got := refMatch([]byte(c.pattern), []byte(c.s)); got != c.want {
			t.Errorf("the reference matcher: refMatch(%.40q, %.40q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// matchWorkBound is the most steps a match may take: the pattern once per offset of s.
func matchWorkBound(p, s []byte) int { return (len(p) + 1) * (len(s) + 1) }

func TestMatchWorkIsBoundedOnNestedStars(t *testing.T) {
	for _, c := range []struct{ pattern, s string }{
		{"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 40)},
		{strings.Repeat("*a", 20) + "b", strings.Repeat("a", 4096)},
		{strings.Repeat("?*", 500) + "b", strings.Repeat("a", 4096)},
		{strings.Repeat("*[a-z]", 200) + "[^a]", strings.Repeat("a", 4096)},
		{strings.Repeat("*?", 50000), strings.Repeat("a", 50000)},
	} {
		p, s := []byte(c.pattern), []byte(c.s)
		ok, steps := match(p, s)
		if ok {
			t.Errorf("match(%.40q, %d bytes) matched", c.pattern, len(s))
		}
		if limit := matchWorkBound(p, s); steps > limit {
			t.Errorf("match(%.40q, %d bytes) took %d steps, more than (len(pattern)+1)*(len(s)+1) = %d",
				c.pattern, len(s), steps, limit)
		}
	}
	// Without the early exit, the first case alone takes over C(40,20) ~ 1.4e11 steps.
	_, steps := match([]byte("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b"), bytes.Repeat([]byte("a"), 40))
	if steps > 2000 {
		t.Errorf("the nested-loop regression pattern took %d steps, want at most 2000", steps)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p, s := []byte("user:*:[a-z]?[^0-9]*\\*"), []byte("user:1234:ab!xyz*")
	if !Match(p, s) {
		t.Fatalf("Match(%q, %q) = false", p, s)
	}
	if n := testing.AllocsPerRun(100, func() { Match(p, s) }); n != 0 {
		t.Errorf("Match allocates %v times per call, want 0", n)
	}
}

// FuzzMatch compares Match with refMatch, a dynamic-programming matcher over the same
// pattern elements, and checks that no input takes more than matchWorkBound steps.
func FuzzMatch(f *testing.F) {
	for _, c := range globCases {
		if len(c.pattern) <= 64 && len(c.s) <= 64 {
			f.Add([]byte(c.pattern), []byte(c.s))
		}
	}
	f.Fuzz(func(t *testing.T, p, s []byte) {
		if len(p) > 256 || len(s) > 256 {
			t.Skip("long inputs make the reference matcher slow; the table covers them")
		}
		got := Match(p, s)
		if want := refMatch(p, s); got != want {
			t.Errorf("Match(%q, %q) = %v, the reference says %v", p, s, got, want)
		}
		if _, steps := match(p, s); steps > matchWorkBound(p, s) {
			t.Errorf("Match(%q, %q) took %d steps, more than %d", p, s, steps, matchWorkBound(p, s))
		}
	})
}

// refElem is one element of a pattern for refMatch: a '*', or the set of bytes one
// position matches.
type refElem struct {
	star bool
	set  [256]bool
}

// refMatch is the reference for Match: the pattern is parsed into elements with Redis's
// class rules, then a table says for each pair of suffixes whether the elements' suffix
// matches the string's. It ignores the nesting limit (at most 1000 stars).
func refMatch(p, s []byte) bool {
	if len(s) == 0 {
		return len(p) == 0 || string(p) == "*"
	}
	elems := refParse(p)
	// ok[i][j]: elems[i:] matches s[j:].
	ok := make([][]bool, len(elems)+1)
	for i := range ok {
		ok[i] = make([]bool, len(s)+1)
	}
	ok[len(elems)][len(s)] = true
	for i := len(elems) - 1; i >= 0; i-- {
		for j := len(s); j >= 0; j-- {
			e := &elems[i]
			switch {
			case e.star:
				ok[i][j] = ok[i+1][j] || j < len(s) && ok[i][j+1]
			case j < len(s):
				ok[i][j] = e.set[s[j]] && ok[i+1][j+1]
			}
		}
	}
	return ok[0][0]
}

func refParse(p []byte) []refElem {
	var out []refElem
	for len(p) > 0 {
		var e refElem
		switch {
		case p[0] == '*':
			e.star = true
			p = p[1:]
		case p[0] == '?':
			for c := range e.set {
				e.set[c] = true
			}
			p = p[1:]
		case p[0] == '[':
			p = refClass(p[1:], &e.set)
		case p[0] == '\\' && len(p) > 1:
			e.set[p[1]] = true
			p = p[2:]
		default:
			e.set[p[0]] = true
			p = p[1:]
		}
		out = append(out, e)
	}
	return out
}

// refClass fills set from the class body at the start of p and returns what follows it.
func refClass(p []byte, set *[256]bool) []byte {
	negate := len(p) > 0 && p[0] == '^'
	if negate {
		p = p[1:]
	}
	var in [256]bool
	for len(p) > 0 && p[0] != ']' {
		switch {
		case p[0] == '\\' && len(p) > 1:
			in[p[1]] = true
			p = p[2:]
		case len(p) >= 3 && p[1] == '-':
			lo, hi := min(int8(p[0]), int8(p[2])), max(int8(p[0]), int8(p[2]))
			for c := int(lo); c <= int(hi); c++ {
				in[byte(int8(c))] = true
			}
			p = p[3:]
		default:
			in[p[0]] = true
			p = p[1:]
		}
	}
	if len(p) > 0 {
		p = p[1:] // the closing ']'
	}
	for c := range set {
		set[c] = in[c] != negate
	}
	return p
}
