package store

// maxStarNesting is how many '*' a match may enter before it gives up, as Redis's
// stringmatchlen does to protect itself against abusive patterns: a pattern with more
// '*' than this, each followed by more pattern, matches nothing once the 1001st is reached.
const maxStarNesting = 1000

// Match reports whether s matches the glob pattern with Redis 7's stringmatchlen rules
// (case-sensitive), quirks included:
//   - '*' matches any run of bytes, '?' any one byte, '\' makes the next byte literal (a
//     trailing '\' is itself literal);
//   - "[abc]", "[^abc]", "[a-z]" match one byte of (or, with '^', not of) a class; a range
//     may be reversed ("[z-a]") and its bounds compare as signed chars, as Redis built for
//     amd64 does (so "[a-\xff]" holds 0xff and the bytes up to 'a', not 'a' to 0xff),
//     "\x" in a class is the literal x, and a class without its ']' runs to the end of
//     the pattern;
//   - the empty string matches only the empty pattern and "*" (stringmatchlen itself
//     answers false for "*" too, but Redis's KEYS and SCAN answer "*" without calling
//     it: the empty key is listed by "*", not by "**");
//   - past maxStarNesting nested '*', the match fails.
//
// Like Redis (which added the same early exit against patterns such as
// "a*a*a*...*b"), once the pattern after a '*' has been tried at every remaining offset,
// no earlier '*' is tried longer: the rest would have to match at a later offset still.
// The work is therefore at most proportional to len(pattern)*len(s), never exponential.
// Match does not allocate.
func Match(pattern, s []byte) bool {
	if len(pattern) == 1 && pattern[0] == '*' {
		return true
	}
	ok, _ := match(pattern, s)
	return ok
}

// match is Match that also counts its steps (one per pattern byte examined), so that
// tests can bound the work of a pattern without timing it.
func match(p, s []byte) (matched bool, steps int) {
	var (
		pi, si int
		// The innermost '*' entered: the pattern just after it (-1: none) and the next
		// offset of s it lets the rest of the pattern start at.
		resumeP = -1
		resumeS int
		stars   int
	)
	for {
		if pi < len(p) && si < len(s) {
			steps++
			ok := false
			switch c := p[pi]; c {
			case '*':
				for pi+1 < len(p) && p[pi+1] == '*' {
					pi++
					steps++
				}
				if pi == len(p)-1 {
					return true, steps
				}
				if stars == maxStarNesting {
					return false, steps
				}
				stars++
				pi++
				resumeP, resumeS = pi, si+1
				continue
			case '?':
				ok = true
				pi++
			case '[':
				var n int
				pi, ok, n = matchClass(p, pi+1, s[si])
				steps += n
			case '\\':
				if pi+1 < len(p) {
					pi++
				}
				ok = p[pi] == s[si]
				pi++
			default:
				ok = c == s[si]
				pi++
			}
			if ok {
				si++
				if si < len(s) {
					continue
				}
				for pi < len(p) && p[pi] == '*' {
					pi++
					steps++
				}
				if pi == len(p) {
					return true, steps
				}
			}
		} else if pi == len(p) && si == len(s) {
			return true, steps
		}
		// This attempt failed: let the innermost '*' take one more byte, if it can.
		if resumeP < 0 || resumeS == len(s) {
			return false, steps
		}
		pi, si = resumeP, resumeS
		resumeS++
	}
}

// matchClass matches the class whose body starts at p[pi] (just past its '[') against c.
func matchClass(p []byte, pi int, c byte) (next int, ok bool, steps int) {
	negate := pi < len(p) && p[pi] == '^'
	if negate {
		pi++
	}
	for ; ; pi++ {
		steps++
		switch {
		case pi == len(p):
			// Unterminated: the class is the rest of the pattern.
			return pi, ok != negate, steps
		case p[pi] == '\\' && pi+1 < len(p):
			pi++
			ok = ok || p[pi] == c
		case p[pi] == ']':
			return pi + 1, ok != negate, steps
		case pi+2 < len(p) && p[pi+1] == '-':
			lo, hi := int8(p[pi]), int8(p[pi+2])
			if lo > hi {
				lo, hi = hi, lo
			}
			ok = ok || lo <= int8(c) && int8(c) <= hi
			pi += 2
		default:
			ok = ok || p[pi] == c
		}
	}
}
