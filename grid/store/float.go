package store

import (
	"bytes"
	"math/big"
)

// Redis's INCRBYFLOAT and HINCRBYFLOAT compute in C's long double: on the x86-64 and arm64
// builds it ships, an 80-bit x87 extended float (64-bit mantissa, exponent up to 16383) or
// a wider one. A big.Float of 64 bits of precision rounds every parse and sum as the x87
// does, so the results, printed as Redis prints them, are the same text.
const (
	ldPrec   = 64
	ldMaxExp = 16384  // a value at or above 2^16384 overflows (strtold: HUGE_VAL)
	ldMinExp = -16445 // below the smallest subnormal it underflows to zero
	// ldMaxChars is Redis's MAX_LONG_DOUBLE_CHARS: longer arguments are not numbers.
	ldMaxChars = 5 * 1024
)

// ParseLongDouble parses b as Redis's string2ld does (strtold): decimal or hexadecimal,
// optional sign and exponent, inf and infinity; no spaces around it, no NaN, nothing that
// overflows or underflows to zero. An infinite result is valid: the callers refuse it with
// their own words.
func ParseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= ldMaxChars || isSpaceByte(b[0]) {
		return nil, false
	}
	s := b
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg, s = s[0] == '-', s[1:]
	}
	if bytes.EqualFold(s, []byte("inf")) || bytes.EqualFold(s, []byte("infinity")) {
		return new(big.Float).SetInf(neg), true
	}
	if len(s) == 0 || bytes.IndexByte(s, '_') >= 0 {
		return nil, false
	}
	// big.Float also reads 0b and 0o prefixes, which strtold does not.
	hex := len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
	if !hex && bytes.ContainsAny(s, "xXpPbBoO") {
		return nil, false
	}
	for _, c := range s {
		valid := '0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
		if hex {
			valid = valid || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == 'x' || c == 'X' || c == 'p' || c == 'P'
		}
		if !valid {
			return nil, false
		}
	}
	f, _, err := new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven).Parse(string(b), 0)
	if err != nil || !ldInRange(f) || f.Sign() == 0 && !allZero(s) {
		return nil, false
	}
	return f, true
}

// allZero reports whether a number's text denotes zero itself (and so is not an
// underflow): no digit other than 0 before its exponent.
func allZero(s []byte) bool {
	if len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
		if i := bytes.IndexAny(s, "pP"); i >= 0 {
			s = s[:i]
		}
	} else if i := bytes.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	for _, c := range s {
		if c != '0' && c != '.' {
			return false
		}
	}
	return true
}

// ldInRange reports whether f, finite, is within long double's range (zero included).
func ldInRange(f *big.Float) bool {
	if f.IsInf() {
		return false
	}
	if f.Sign() == 0 {
		return true
	}
	exp := f.MantExp(nil)
	return exp <= ldMaxExp && exp >= ldMinExp
}

// ldAdd returns a+b rounded to long double, and false when the sum is infinite (either
// was, or it overflowed).
func ldAdd(a, b *big.Float) (*big.Float, bool) {
	if a.IsInf() || b.IsInf() {
		return nil, false
	}
	sum := new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven).Add(a, b)
	if sum.Sign() != 0 && sum.MantExp(nil) > ldMaxExp {
		return nil, false
	}
	return sum, true
}

// FormatLongDouble renders f as Redis's ld2string in its human mode: printf's "%.17Lf",
// trailing zeros (and a trailing point) removed, "-0" made "0".
func FormatLongDouble(dst []byte, f *big.Float) []byte {
	start := len(dst)
	dst = f.Append(dst, 'f', 17)
	if bytes.IndexByte(dst[start:], '.') >= 0 {
		dst = bytes.TrimRight(dst, "0")
		dst = bytes.TrimSuffix(dst, []byte("."))
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}
