package server

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// zsetMember draws members that cross the encodings' limits: short ones (a listpack) and
// 65-byte ones (the large encoding).
func zsetMember(rng *rand.Rand) string {
	switch rng.IntN(12) {
	case 0:
		return strings.Repeat("L", 64) + strconv.Itoa(rng.IntN(5))
	case 1, 2, 3:
		return strconv.Itoa(rng.IntN(40))
	}
	return "m" + strconv.Itoa(rng.IntN(300))
}

// zsetScore draws scores: small integers (many ties), fractions, big, and infinities.
func zsetScore(rng *rand.Rand) string {
	switch rng.IntN(14) {
	case 0:
		return "inf"
	case 1:
		return "-inf"
	case 2:
		return "+inf"
	case 3:
		return strconv.FormatFloat(rng.Float64()*10-5, 'g', -1, 64)
	case 4:
		return "1.1"
	case 5:
		return "1e20"
	case 6:
		return "-0"
	}
	return strconv.Itoa(rng.IntN(30) - 10)
}

// zsetBound draws a BYSCORE range end, sometimes exclusive.
func zsetBound(rng *rand.Rand) string {
	s := zsetScore(rng)
	if rng.IntN(3) == 0 {
		return "(" + s
	}
	return s
}

// zsetLex draws a BYLEX range end.
func zsetLex(rng *rand.Rand) string {
	switch rng.IntN(6) {
	case 0:
		return "-"
	case 1:
		return "+"
	case 2:
		return "(" + zsetMember(rng)
	}
	return "[" + zsetMember(rng)
}

func TestZSetsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(5, 6))
	keys := []string{"{k}z0", "{k}z1", "{k}z2", "{k}s", "{k}str"}
	d.check(exact, "SET", "{k}str", "text")
	d.check(exact, "SET", "{k}text", "never a zset")
	d.check(exact, "SADD", "{k}s", "m1", "m2", "7", "x")
	key := func() string { return keys[rng.IntN(len(keys))] }
	zkey := func() string { return keys[rng.IntN(3)] }
	some := func(n int) []string {
		var out []string
		for range 1 + rng.IntN(n) {
			out = append(out, key())
		}
		return out
	}
	pairs := func(n int) []string {
		var out []string
		for range n {
			out = append(out, zsetScore(rng), zsetMember(rng))
		}
		return out
	}
	withScores := func(args []string) []string {
		if rng.IntN(2) == 0 {
			return append(args, "WITHSCORES")
		}
		return args
	}
	limit := func(args []string) []string {
		if rng.IntN(2) == 0 {
			return append(args, "LIMIT", strconv.Itoa(rng.IntN(6)-1), strconv.Itoa(rng.IntN(8)-2))
		}
		return args
	}
	rank := func() string { return strconv.Itoa(rng.IntN(40) - 20) }
	steps := 3000
	if testing.Short() {
		steps = 1200
	}
	for range steps {
		k := zkey()
		switch rng.IntN(32) {
		case 0, 1, 2:
			args := []string{"ZADD", k}
			for _, o := range []string{"NX", "XX", "GT", "LT", "CH"} {
				if rng.IntN(8) == 0 {
					args = append(args, o)
				}
			}
			d.check(exact, append(args, pairs(1+rng.IntN(6))...)...)
		case 3:
			d.check(exact, append([]string{"ZADD", k}, pairs(100+rng.IntN(200))...)...)
		case 4:
			args := []string{"ZADD", k, "INCR"}
			for _, o := range []string{"NX", "XX", "GT", "LT"} {
				if rng.IntN(6) == 0 {
					args = append(args, o)
				}
			}
			d.check(exact, append(args, pairs(1)...)...)
			d.check(exact, "ZINCRBY", k, zsetScore(rng), zsetMember(rng))
		case 5:
			var ms []string
			for range 1 + rng.IntN(20) {
				ms = append(ms, zsetMember(rng))
			}
			d.check(exact, append([]string{"ZREM", k}, ms...)...)
		case 6:
			d.check(exact, "ZSCORE", k, zsetMember(rng))
			d.check(exact, "ZMSCORE", k, zsetMember(rng), zsetMember(rng))
		case 7:
			d.check(exact, "ZCARD", k)
			d.check(exact, "TYPE", k)
			d.check(exact, "ZCOUNT", k, zsetBound(rng), zsetBound(rng))
		case 8:
			d.check(exact, withScores([]string{"ZRANGE", k, rank(), rank()})...)
		case 9:
			args := []string{"ZRANGE", k, zsetBound(rng), zsetBound(rng), "BYSCORE"}
			if rng.IntN(2) == 0 {
				args = append(args, "REV")
			}
			d.check(exact, withScores(limit(args))...)
		case 10:
			d.check(exact, withScores(limit([]string{"ZRANGEBYSCORE", k, zsetBound(rng), zsetBound(rng)}))...)
			d.check(exact, withScores(limit([]string{"ZREVRANGEBYSCORE", k, zsetBound(rng), zsetBound(rng)}))...)
		case 11:
			d.check(exact, withScores([]string{"ZREVRANGE", k, rank(), rank()})...)
		case 12:
			d.check(exact, "ZRANK", k, zsetMember(rng))
			d.check(exact, "ZREVRANK", k, zsetMember(rng))
		case 13:
			args := []string{"ZPOPMIN", k}
			if rng.IntN(2) == 0 {
				args = []string{"ZPOPMAX", k}
			}
			if rng.IntN(2) == 0 {
				args = append(args, strconv.Itoa(rng.IntN(5)))
			}
			d.check(exact, args...)
		case 14:
			ks := some(3)
			args := append([]string{"ZMPOP", strconv.Itoa(len(ks))}, ks...)
			args = append(args, []string{"MIN", "MAX"}[rng.IntN(2)])
			if rng.IntN(2) == 0 {
				args = append(args, "COUNT", strconv.Itoa(1+rng.IntN(4)))
			}
			d.check(exact, args...)
		case 15:
			args := []string{"ZRANDMEMBER", k}
			if rng.IntN(3) > 0 {
				args = append(args, strconv.Itoa(rng.IntN(40)-20))
				if rng.IntN(2) == 0 {
					args = append(args, "WITHSCORES")
				}
			}
			d.check(shape, args...)
		case 16, 17:
			op := []string{"ZUNION", "ZINTER", "ZDIFF"}[rng.IntN(3)]
			ks := some(3)
			args := append([]string{op, strconv.Itoa(len(ks))}, ks...)
			if op != "ZDIFF" && rng.IntN(2) == 0 {
				args = append(args, "WEIGHTS")
				for range ks {
					args = append(args, []string{"1", "2", "0", "-1.5", "inf"}[rng.IntN(5)])
				}
			}
			if op != "ZDIFF" && rng.IntN(2) == 0 {
				args = append(args, "AGGREGATE", []string{"SUM", "MIN", "MAX"}[rng.IntN(3)])
			}
			d.check(exact, withScores(args)...)
		case 18:
			op := []string{"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"}[rng.IntN(3)]
			ks := some(3)
			args := append([]string{op, k, strconv.Itoa(len(ks))}, ks...)
			if op != "ZDIFFSTORE" && rng.IntN(2) == 0 {
				args = append(args, "AGGREGATE", []string{"SUM", "MIN", "MAX"}[rng.IntN(3)])
			}
			d.check(exact, args...)
			d.check(exact, "ZRANGE", k, "0", "-1", "WITHSCORES")
		case 19:
			ks := some(3)
			args := append([]string{"ZINTERCARD", strconv.Itoa(len(ks))}, ks...)
			if rng.IntN(2) == 0 {
				args = append(args, "LIMIT", strconv.Itoa(rng.IntN(5)))
			}
			d.check(exact, args...)
		case 20:
			d.check(exact, "ZREMRANGEBYSCORE", k, zsetBound(rng), zsetBound(rng))
			d.check(exact, "ZREMRANGEBYRANK", k, rank(), rank())
		case 21:
			args := []string{"ZRANGESTORE", zkey(), k, zsetBound(rng), zsetBound(rng), "BYSCORE"}
			if rng.IntN(2) == 0 {
				args = append(args, "REV")
			}
			d.check(exact, limit(args)...)
			d.check(exact, "ZRANGE", args[1], "0", "-1", "WITHSCORES")
		case 22:
			// Lex ranges are defined over members of one score.
			lk := "{k}lex"
			var ms []string
			for range 1 + rng.IntN(8) {
				ms = append(ms, "0", zsetMember(rng))
			}
			d.check(exact, append([]string{"ZADD", lk}, ms...)...)
			d.check(exact, limit([]string{"ZRANGEBYLEX", lk, zsetLex(rng), zsetLex(rng)})...)
			d.check(exact, limit([]string{"ZREVRANGEBYLEX", lk, zsetLex(rng), zsetLex(rng)})...)
			d.check(exact, "ZLEXCOUNT", lk, zsetLex(rng), zsetLex(rng))
			d.check(exact, limit([]string{"ZRANGE", lk, zsetLex(rng), zsetLex(rng), "BYLEX", "REV"})...)
			if rng.IntN(4) == 0 {
				d.check(exact, "ZREMRANGEBYLEX", lk, zsetLex(rng), zsetLex(rng))
			}
		case 23:
			args := []string{"ZSCAN", k, "0", "COUNT", strconv.Itoa(1 + rng.IntN(20))}
			if rng.IntN(2) == 0 {
				args = append(args, "MATCH", "*1*")
			}
			d.check(scanAll, args...)
		case 24:
			if rng.IntN(4) == 0 {
				d.check(exact, "DEL", k)
			}
		case 25:
			// Whole values: renamed, copied, expiring, found by type.
			k2 := zkey()
			switch rng.IntN(3) {
			case 0:
				d.check(exact, "RENAME", k, k2)
			case 1:
				d.check(exact, "COPY", k, k2, "REPLACE")
			default:
				d.check(exact, "EXPIREAT", k, strconv.Itoa(4102444800+rng.IntN(1000)))
				d.check(exact, "TOUCH", k, k2)
			}
			d.check(exact, "ZRANGE", k2, "0", "-1", "WITHSCORES")
			d.check(exact, "PEXPIRETIME", k2)
			d.check(exact, "SCAN", "0", "TYPE", "zset", "MATCH", k2, "COUNT", "100000")
		default:
			d.check(exact, diffZSetErrors[rng.IntN(len(diffZSetErrors))]...)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	for _, k := range keys[:3] {
		d.check(exact, "ZRANGE", k, "0", "-1", "WITHSCORES")
	}
	t.Logf("%d commands compared", d.n)
}

// diffZSetErrors are the sorted-set commands' error cases: arity, syntax, ranges, slots,
// types.
var diffZSetErrors = [][]string{
	{"ZADD", "{k}z0"},
	{"ZADD", "{k}z0", "1"},
	{"ZADD", "{k}z0", "NX", "XX", "1", "a"},
	{"ZADD", "{k}z0", "GT", "LT", "1", "a"},
	{"ZADD", "{k}z0", "NX", "GT", "1", "a"},
	{"ZADD", "{k}z0", "INCR", "1", "a", "2", "b"},
	{"ZADD", "{k}z0", "nan", "a"},
	{"ZADD", "{k}z0", "x", "a"},
	{"ZADD", "{k}z0", "1", "a", "2"},
	{"ZADD", "{k}z0", "0x10", "hex"},
	{"ZADD", "{k}text", "1", "a"},
	{"ZADD", "{k}none", "XX", "1", "a"},
	{"ZADD", "{k}none", "XX", "INCR", "1", "a"},
	{"ZADD", "{k}inf", "inf", "a"},
	{"ZINCRBY", "{k}inf", "-inf", "a"},
	{"ZINCRBY", "{k}z0", "x", "a"},
	{"ZINCRBY", "{k}text", "1", "a"},
	{"ZSCORE", "{k}text", "a"},
	{"ZSCORE", "{k}none", "a"},
	{"ZMSCORE", "{k}none", "a", "b"},
	{"ZCARD", "{k}text"},
	{"ZCOUNT", "{k}z0", "x", "1"},
	{"ZCOUNT", "{k}z0", "(", "1"},
	{"ZCOUNT", "{k}z0", "nan", "1"},
	{"ZCOUNT", "{k}z0", "-inf", "+inf"},
	{"ZLEXCOUNT", "{k}z0", "a", "+"},
	{"ZLEXCOUNT", "{k}z0", "-", "+"},
	{"ZRANGE", "{k}z0", "0", "1", "LIMIT", "0", "1"},
	{"ZRANGE", "{k}z0", "0", "1", "LIMIT", "0", "-1"},
	{"ZRANGE", "{k}z0", "-", "+", "BYLEX", "WITHSCORES"},
	{"ZRANGE", "{k}z0", "0", "1", "FOO"},
	{"ZRANGE", "{k}z0", "0", "1", "BYSCORE", "BYLEX"},
	{"ZRANGE", "{k}z0", "0", "1", "REV", "REV"},
	{"ZRANGE", "{k}z0", "0", "x"},
	{"ZRANGE", "{k}z0", "0", "1", "BYSCORE", "LIMIT", "x", "1"},
	{"ZRANGE", "{k}z0", "0", "1", "LIMIT", "1"},
	{"ZRANGE", "{k}text", "0", "1"},
	{"ZRANGE", "{k}none", "0", "1"},
	{"ZREVRANGE", "{k}z0", "0", "1", "REV"},
	{"ZREVRANGE", "{k}z0", "0", "1", "BYSCORE"},
	{"ZRANGEBYSCORE", "{k}z0", "0", "1", "BYSCORE"},
	{"ZRANGEBYSCORE", "{k}z0", "a", "1"},
	{"ZRANGEBYLEX", "{k}z0", "-", "+", "WITHSCORES"},
	{"ZRANGEBYLEX", "{k}z0", "a", "+"},
	{"ZRANGESTORE", "{k}d", "{k}z0", "0", "1", "WITHSCORES"},
	{"ZRANGESTORE", "{k}d", "{j}z0", "0", "1"},
	{"ZRANGESTORE", "{k}d", "{k}text", "0", "1"},
	{"ZRANGESTORE", "{k}z1", "{k}none", "0", "1"},
	{"ZRANK", "{k}text", "a"},
	{"ZRANK", "{k}z0", "a", "WITHSCORE"},
	{"ZPOPMIN", "{k}z0", "-1"},
	{"ZPOPMIN", "{k}z0", "x"},
	{"ZPOPMIN", "{k}z0", "1", "2"},
	{"ZPOPMAX", "{k}none"},
	{"ZPOPMAX", "{k}none", "0"},
	{"ZPOPMIN", "{k}text"},
	{"ZMPOP", "0", "{k}z0", "MIN"},
	{"ZMPOP", "x", "{k}z0", "MIN"},
	{"ZMPOP", "5", "{k}z0", "MIN"},
	{"ZMPOP", "1", "{k}z0", "FOO"},
	{"ZMPOP", "1", "{k}z0", "MIN", "COUNT", "0"},
	{"ZMPOP", "1", "{k}z0", "MIN", "COUNT", "x"},
	{"ZMPOP", "1", "{k}z0", "MIN", "COUNT", "1", "COUNT", "1"},
	{"ZMPOP", "1", "{k}z0", "MIN", "FOO"},
	{"ZMPOP", "2", "{k}none", "{k}text", "MAX"},
	{"ZMPOP", "1", "{k}none", "MAX"},
	{"ZMPOP", "2", "{k}z0", "{j}z1", "MAX"},
	{"ZRANDMEMBER", "{k}z0", "x"},
	{"ZRANDMEMBER", "{k}z0", "1", "FOO"},
	{"ZRANDMEMBER", "{k}z0", "1", "WITHSCORES", "x"},
	{"ZRANDMEMBER", "{k}z0", "-9223372036854775808"},
	{"ZRANDMEMBER", "{k}z0", "-9223372036854775807", "WITHSCORES"},
	{"ZRANDMEMBER", "{k}none", "5"},
	{"ZRANDMEMBER", "{k}none"},
	{"ZRANDMEMBER", "{k}text"},
	{"ZUNION", "0", "{k}z0"},
	{"ZUNION", "x", "{k}z0"},
	{"ZUNION", "3", "{k}z0"},
	{"ZUNION", "1", "{k}z0", "WEIGHTS"},
	{"ZUNION", "1", "{k}z0", "WEIGHTS", "x"},
	{"ZUNION", "1", "{k}z0", "AGGREGATE", "FOO"},
	{"ZUNION", "1", "{k}z0", "AGGREGATE"},
	{"ZUNION", "2", "{k}z0", "{k}text"},
	{"ZUNION", "2", "{k}z0", "{j}z1"},
	{"ZDIFF", "1", "{k}z0", "WEIGHTS", "1"},
	{"ZDIFF", "1", "{k}z0", "AGGREGATE", "SUM"},
	{"ZINTER", "2", "{k}z0", "{k}s", "WITHSCORES"},
	{"ZUNIONSTORE", "{k}d", "0", "{k}z0"},
	{"ZUNIONSTORE", "{k}d", "1", "{k}z0", "WITHSCORES"},
	{"ZUNIONSTORE", "{j}d", "1", "{k}z0"},
	{"ZINTERSTORE", "{k}d", "1", "{k}text"},
	{"ZDIFFSTORE", "{k}d", "2", "{k}z0"},
	{"ZINTERCARD", "0", "{k}z0"},
	{"ZINTERCARD", "3", "{k}z0"},
	{"ZINTERCARD", "1", "{k}z0", "LIMIT", "-1"},
	{"ZINTERCARD", "1", "{k}text"},
	{"ZREMRANGEBYSCORE", "{k}z0", "x", "1"},
	{"ZREMRANGEBYRANK", "{k}z0", "x", "1"},
	{"ZREMRANGEBYLEX", "{k}z0", "x", "+"},
	{"ZREMRANGEBYLEX", "{k}text", "-", "+"},
	{"ZSCAN", "{k}z0", "x"},
	{"ZSCAN", "{k}z0", "0", "COUNT", "0"},
	{"ZSCAN", "{k}text", "0"},
	{"ZSCAN", "{k}none", "0"},
	{"TYPE", "{k}z0"},
}

// TestZSetCommandInfoAgainstRedisServer compares what cluster clients route by (arity,
// flags, first key, last key, step) for the sorted-set commands, and the key specs of
// those that have them written down.
func TestZSetCommandInfoAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	withSpecs := map[string]bool{"zrangestore": true, "zunion": true, "zinter": true, "zdiff": true,
		"zintercard": true, "zmpop": true, "zunionstore": true, "zinterstore": true, "zdiffstore": true}
	for _, cmd := range zsetCommands() {
		name := cmd.name
		want, werr := do(d.redis, []string{"COMMAND", "INFO", name})
		got, gerr := do(d.grid, []string{"COMMAND", "INFO", name})
		if werr != nil || gerr != nil {
			t.Fatalf("COMMAND INFO %s: %v %v", name, werr, gerr)
		}
		w, g := want.([]any)[0].([]any), got.([]any)[0].([]any)
		if fmt.Sprint(w[:2], w[3:6]) != fmt.Sprint(g[:2], g[3:6]) || fmt.Sprint(sorted(w[2])) != fmt.Sprint(sorted(g[2])) {
			t.Errorf("COMMAND INFO %s:\nredis: %v\n grid: %v", name, w[:6], g[:6])
		}
		if withSpecs[name] && fmt.Sprint(w[8]) != fmt.Sprint(g[8]) {
			t.Errorf("COMMAND INFO %s key specs:\nredis: %v\n grid: %v", name, w[8], g[8])
		}
	}
}
