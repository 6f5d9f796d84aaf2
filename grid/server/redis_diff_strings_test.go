package server

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// hashField draws fields and values that cross the small encoding's limits (65-byte
// values make a table) and numbers for the increments.
func hashField(rng *rand.Rand) string {
	switch rng.IntN(10) {
	case 0:
		return strings.Repeat("v", 65)
	case 1, 2:
		return strconv.Itoa(rng.IntN(50) - 10)
	case 3:
		return []string{"1.5", "-0.25", "1e3", "0x10", "abc", "", "3.0e-2"}[rng.IntN(7)]
	default:
		return fmt.Sprintf("f%d", rng.IntN(40))
	}
}

func TestHashesAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(7, 8))
	keys := []string{"{k}h0", "{k}h1", "{k}h2", "{k}str"}
	d.check(exact, "SET", "{k}str", "text")
	d.check(exact, "SET", "{k}text", "never a hash")
	key := func() string { return keys[rng.IntN(len(keys))] }
	pairs := func(n int) []string {
		var out []string
		for range n {
			out = append(out, hashField(rng), hashField(rng))
		}
		return out
	}
	steps := 3000
	if testing.Short() {
		steps = 1000
	}
	for range steps {
		k := key()
		switch rng.IntN(18) {
		case 0, 1:
			d.check(exact, append([]string{"HSET", k}, pairs(1+rng.IntN(5))...)...)
		case 2:
			d.check(exact, append([]string{"HSET", k}, pairs(100+rng.IntN(100))...)...)
		case 3:
			d.check(exact, "HSETNX", k, hashField(rng), hashField(rng))
		case 4:
			d.check(exact, "HDEL", k, hashField(rng), hashField(rng))
		case 5:
			d.check(multiset, "HKEYS", k)
			d.check(multiset, "HVALS", k)
		case 6:
			d.check(exact, "HSTRLEN", k, hashField(rng))
			d.check(exact, "HLEN", k)
		case 7:
			d.check(exact, "HINCRBYFLOAT", k, hashField(rng), hashField(rng))
		case 8:
			d.check(exact, "HINCRBYFLOAT", k, "n", []string{"0.1", "1.23456789012345678", "-5", "1e20", "2.5e-3"}[rng.IntN(5)])
			d.check(exact, "HGET", k, "n")
		case 9:
			args := []string{"HRANDFIELD", k}
			if rng.IntN(3) > 0 {
				args = append(args, strconv.Itoa(rng.IntN(40)-20))
				if rng.IntN(2) == 0 {
					args = append(args, "WITHVALUES")
				}
			}
			d.check(shape, args...)
		case 10:
			args := []string{"HSCAN", k, "0", "COUNT", strconv.Itoa(1 + rng.IntN(20))}
			if rng.IntN(2) == 0 {
				args = append(args, "MATCH", "f1*")
			}
			d.check(scanAll, args...)
		case 11:
			if rng.IntN(4) == 0 {
				d.check(exact, "DEL", k)
			}
			d.check(exact, "SET", "{k}str", "text")
		case 12:
			d.check(exact, "HINCRBY", k, hashField(rng), strconv.Itoa(rng.IntN(10)))
		default:
			d.check(exact, diffHashErrors[rng.IntN(len(diffHashErrors))]...)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for _, k := range keys {
		d.check(multiset, "HGETALL", k)
	}
	t.Logf("%d commands compared", d.n)
}

// diffHashErrors are the hash commands' error and edge cases.
var diffHashErrors = [][]string{
	{"HSETNX", "{k}h0", "f"},
	{"HSETNX", "{k}text", "f", "v"},
	{"HKEYS", "{k}text"},
	{"HKEYS", "{k}none"},
	{"HVALS", "{k}text"},
	{"HVALS", "{k}h0", "x"},
	{"HSTRLEN", "{k}text", "f"},
	{"HSTRLEN", "{k}none", "f"},
	{"HINCRBYFLOAT", "{k}h0", "f", "x"},
	{"HINCRBYFLOAT", "{k}h0", "f", "inf"},
	{"HINCRBYFLOAT", "{k}h0", "f", "-infinity"},
	{"HINCRBYFLOAT", "{k}h0", "f", "nan"},
	{"HINCRBYFLOAT", "{k}h0", "f", " 1"},
	{"HINCRBYFLOAT", "{k}h0", "f", "1e5000"},
	{"HINCRBYFLOAT", "{k}text", "f", "1"},
	{"HINCRBYFLOAT", "{k}text", "f", "x"},
	{"HINCRBYFLOAT", "{k}none", "f", "1e400"},
	{"HRANDFIELD", "{k}h0", "x"},
	{"HRANDFIELD", "{k}h0", "-9223372036854775808"},
	{"HRANDFIELD", "{k}h0", "-9223372036854775807", "WITHVALUES"},
	{"HRANDFIELD", "{k}h0", "1", "WITHVALUE"},
	{"HRANDFIELD", "{k}h0", "1", "WITHVALUES", "x"},
	{"HRANDFIELD", "{k}none", "3", "FOO"},
	{"HRANDFIELD", "{k}none", "3"},
	{"HRANDFIELD", "{k}none"},
	{"HRANDFIELD", "{k}text"},
	{"HRANDFIELD", "{k}text", "0"},
	{"HRANDFIELD", "{k}h0", "0", "WITHVALUES"},
	{"HSCAN", "{k}h0", "x"},
	{"HSCAN", "{k}h0", "0", "COUNT", "0"},
	{"HSCAN", "{k}h0", "0", "MATCH"},
	{"HSCAN", "{k}h0", "0", "NOVALUES"},
	{"HSCAN", "{k}none", "0", "FOO"},
	{"HSCAN", "{k}text", "0"},
}

// strValue draws string values: numbers for the increments, text, empty.
func strValue(rng *rand.Rand) string {
	switch rng.IntN(8) {
	case 0:
		return strconv.Itoa(rng.IntN(100) - 20)
	case 1:
		return []string{"1.5", "-0.25", "1e3", "0x10", "", "3.0e-2", "1.23456789012345678", "5."}[rng.IntN(8)]
	case 2:
		return strings.Repeat("x", rng.IntN(200))
	default:
		return fmt.Sprintf("v%d", rng.IntN(30))
	}
}

func TestStringsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(9, 10))
	keys := []string{"{k}a", "{k}b", "{k}c", "{k}hash"}
	d.check(exact, "HSET", "{k}hash", "f", "v")
	d.check(exact, "HSET", "{k}h", "f", "never a string")
	key := func() string { return keys[rng.IntN(len(keys))] }
	off := func() string { return strconv.Itoa(rng.IntN(30) - 10) }
	steps := 3000
	if testing.Short() {
		steps = 1000
	}
	for range steps {
		k := key()
		switch rng.IntN(20) {
		case 0, 1:
			d.check(exact, "SET", k, strValue(rng))
		case 2:
			d.check(exact, "GETSET", k, strValue(rng))
			d.check(exact, "TTL", k)
		case 3:
			d.check(exact, "GETDEL", k)
		case 4:
			args := []string{"GETEX", k}
			switch rng.IntN(5) {
			case 0:
				args = append(args, "EX", strconv.Itoa(1+rng.IntN(1000)))
			case 1:
				args = append(args, "PX", strconv.Itoa(1000+rng.IntN(100000)))
			case 2:
				args = append(args, "PERSIST")
			case 3:
				args = append(args, "PXAT", "1")
			}
			d.check(exact, args...)
			d.check(exact, "TTL", k)
		case 5:
			d.check(exact, "SETNX", k, strValue(rng))
		case 6:
			d.check(exact, "MSETNX", k, strValue(rng), key(), strValue(rng))
		case 7:
			d.check(exact, "SETRANGE", k, strconv.Itoa(rng.IntN(20)), strValue(rng))
		case 8, 9:
			d.check(exact, []string{"GETRANGE", "SUBSTR"}[rng.IntN(2)], k, off(), off())
		case 10:
			d.check(exact, "INCRBYFLOAT", k, strValue(rng))
		case 11:
			d.check(exact, "INCRBYFLOAT", k, []string{"0.1", "1.23456789012345678", "-5", "1e20", "2.5e-3", "1e400", "-1e-20"}[rng.IntN(7)])
		case 12:
			d.check(exact, "SETEX", k, strconv.Itoa(1+rng.IntN(100)), strValue(rng))
			d.check(exact, "TTL", k)
		case 13:
			d.check(exact, "APPEND", k, strValue(rng))
			d.check(exact, "STRLEN", k)
		case 14:
			d.check(exact, "EXPIRE", k, "1000")
		default:
			d.check(exact, diffStringErrors[rng.IntN(len(diffStringErrors))]...)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for _, k := range keys {
		d.check(exact, "TYPE", k)
		d.check(exact, "GETRANGE", k, "0", "-1")
	}
	t.Logf("%d commands compared", d.n)
}

// diffStringErrors are the string commands' error and edge cases.
var diffStringErrors = [][]string{
	{"GETEX", "{k}a", "PX", "0"},
	{"GETEX", "{k}a", "EX", "-1"},
	{"GETEX", "{k}a", "EX", "x"},
	{"GETEX", "{k}a", "EX", "9223372036854775807"},
	{"GETEX", "{k}a", "PERSIST", "EX", "10"},
	{"GETEX", "{k}a", "EX", "10", "PX", "10"},
	{"GETEX", "{k}a", "EX"},
	{"GETEX", "{k}a", "FOO"},
	{"GETEX", "{k}none", "EX", "10"},
	{"GETEX", "{k}none", "FOO"},
	{"GETEX", "{k}h", "EX", "10"},
	{"GETEX", "{k}h", "FOO"},
	{"GETEX"},
	{"GETDEL", "{k}h"},
	{"GETDEL", "{k}none"},
	{"GETDEL", "{k}a", "x"},
	{"GETSET", "{k}h", "x"},
	{"GETSET", "{k}a"},
	{"MSETNX", "{k}a"},
	{"MSETNX", "{k}a", "1", "{k}b"},
	{"MSETNX", "{k}x", "1", "{j}y", "2"},
	{"MSETNX", "{k}n1", "1", "{k}n1", "2"},
	{"MSETNX", "{k}h", "1"},
	{"SETNX", "{k}h", "1"},
	{"SETRANGE", "{k}none", "536870912", ""},
	{"SETRANGE", "{k}none", "536870912", "a"},
	{"SETRANGE", "{k}a", "536870911", ""},
	{"SETRANGE", "{k}a", "536870911", "ab"},
	{"SETRANGE", "{k}none", "-1", "a"},
	{"SETRANGE", "{k}none", "x", "a"},
	{"SETRANGE", "{k}h", "0", "a"},
	{"SETRANGE", "{k}h", "-1", "a"},
	{"SETRANGE", "{k}h", "0", ""},
	{"GETRANGE", "{k}a", "x", "1"},
	{"GETRANGE", "{k}h", "0", "1"},
	{"GETRANGE", "{k}h", "x", "1"},
	{"GETRANGE", "{k}none", "0", "-1"},
	{"GETRANGE", "{k}a", "-1", "-5"},
	{"GETRANGE", "{k}a", "-100", "100"},
	{"GETRANGE", "{k}a", "-9223372036854775808", "9223372036854775807"},
	{"SUBSTR", "{k}a", "0"},
	{"INCRBYFLOAT", "{k}h", "x"},
	{"INCRBYFLOAT", "{k}a", "inf"},
	{"INCRBYFLOAT", "{k}a", "nan"},
	{"INCRBYFLOAT", "{k}a", " 1"},
	{"INCRBYFLOAT", "{k}a", "1e5000"},
	{"INCRBYFLOAT", "{k}a", "0b1"},
	{"INCRBYFLOAT", "{k}a", "1_0"},
	{"SETEX", "{k}a", "0", "v"},
	{"PSETEX", "{k}a", "-1", "v"},
	{"SETEX", "{k}a", "x", "v"},
}

// lcsValue draws strings over a small alphabet, so long common subsequences and many
// equally long ones (where the walk back decides which ranges IDX reports) are common.
func lcsValue(rng *rand.Rand) string {
	b := make([]byte, rng.IntN(40))
	for i := range b {
		b[i] = "abcd"[rng.IntN(4)]
	}
	return string(b)
}

func TestLCSAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(13, 14))
	d.check(exact, "SET", "{k}doc1", "ohmytext")
	d.check(exact, "SET", "{k}doc2", "mynewtext")
	d.check(exact, "HSET", "{k}h", "f", "v")
	for _, args := range [][]string{
		// Redis's documented examples.
		{"LCS", "{k}doc1", "{k}doc2"},
		{"LCS", "{k}doc1", "{k}doc2", "LEN"},
		{"LCS", "{k}doc1", "{k}doc2", "IDX"},
		{"LCS", "{k}doc1", "{k}doc2", "IDX", "MINMATCHLEN", "4"},
		{"LCS", "{k}doc1", "{k}doc2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"},
		// Errors, in Redis's order.
		{"LCS", "{k}doc1", "{k}h"},
		{"LCS", "{k}h", "{k}none", "FOO"},
		{"LCS", "{k}doc1", "{k}doc2", "FOO"},
		{"LCS", "{k}doc1", "{k}doc2", "LEN", "IDX"},
		{"LCS", "{k}doc1", "{k}doc2", "MINMATCHLEN"},
		{"LCS", "{k}doc1", "{k}doc2", "MINMATCHLEN", "x"},
		{"LCS", "{k}doc1", "{k}doc2", "IDX", "MINMATCHLEN", "-5"},
		{"LCS", "{k}doc1", "{j}doc2"},
		{"LCS", "{k}doc1"},
		{"LCS", "{k}none", "{k}none2"},
		{"LCS", "{k}none", "{k}doc1", "IDX", "WITHMATCHLEN"},
		{"LCS", "{k}doc1", "{k}doc1", "IDX", "WITHMATCHLEN"},
	} {
		d.check(exact, args...)
	}
	steps := 1500
	if testing.Short() {
		steps = 500
	}
	for range steps {
		d.check(exact, "SET", "{k}a", lcsValue(rng))
		d.check(exact, "SET", "{k}b", lcsValue(rng))
		switch rng.IntN(3) {
		case 0:
			d.check(exact, "LCS", "{k}a", "{k}b")
		case 1:
			d.check(exact, "LCS", "{k}a", "{k}b", "LEN")
		default:
			args := []string{"LCS", "{k}a", "{k}b", "IDX"}
			if rng.IntN(2) == 0 {
				args = append(args, "MINMATCHLEN", strconv.Itoa(rng.IntN(4)))
			}
			if rng.IntN(2) == 0 {
				args = append(args, "WITHMATCHLEN")
			}
			d.check(exact, args...)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d commands compared", d.n)
}
