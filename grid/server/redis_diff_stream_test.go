package server

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Streams against redis-server: explicit IDs are compared exactly; "*" IDs, idle times
// and seen-times (the clocks of two servers) by their shape.

var (
	autoID   = regexp.MustCompile(`^[0-9]{13}-[0-9]+$`)
	timeKeys = map[string]bool{"idle": true, "seen-time": true, "radix-tree-nodes": true, "radix-tree-keys": true}
)

// normTimes replaces what depends on the clock or the encoding in a reply: the values
// after "idle", "seen-time" and the radix tree counts, the idle time and delivery time in
// pending entries, and "*" IDs.
func normTimes(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i := range x {
			if i > 0 {
				if k, ok := x[i-1].(string); ok && timeKeys[k] {
					out[i] = "T"
					continue
				}
			}
			out[i] = normTimes(x[i])
		}
		// A pending entry [id consumer idle count] or [id time count].
		if len(x) == 4 {
			if _, ok := x[2].(int64); ok {
				if _, ok := x[1].(string); ok {
					out[2] = "T"
				}
			}
		}
		if len(x) == 3 {
			if _, ok := x[1].(int64); ok {
				if _, ok := x[2].(int64); ok {
					out[1] = "T"
				}
			}
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(x))
		for k, val := range x {
			if ks, ok := k.(string); ok && timeKeys[ks] {
				out[k] = "T"
				continue
			}
			out[normTimes(k)] = normTimes(val)
		}
		return out
	case string:
		if autoID.MatchString(x) {
			return "AUTO-ID"
		}
	}
	return v
}

// checkNorm compares the replies after normTimes.
func (d *diffRun) checkNorm(args ...string) any {
	d.t.Helper()
	d.n++
	want, werr := do(d.redis, args)
	got, gerr := do(d.grid, args)
	if os.Getenv("STREAM_DIFF_LOG") != "" {
		d.t.Logf("%d %q -> %v %v", d.n, args, want, werr)
	}
	if werr != nil || gerr != nil {
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			d.t.Errorf("command %d %q:\nredis: error %v\n grid: %v %v", d.n, args, werr, got, gerr)
		}
		return got
	}
	if w, g := normTimes(want), normTimes(got); !reflect.DeepEqual(w, g) {
		d.t.Errorf("command %d %q:\nredis: %v\n grid: %v", d.n, args, w, g)
	}
	return got
}

func TestStreamEdgesAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	script := [][]string{
		{"XADD", "{s}a", "1-1", "f", "v"},
		{"XADD", "{s}a", "1-1", "f", "v"},
		{"XADD", "{s}a", "1-0", "f", "v"},
		{"XADD", "{s}a", "0-0", "f", "v"},
		{"XADD", "{s}new", "0-0", "f", "v"},
		{"XADD", "{s}a", "1-*", "f", "v"},
		{"XADD", "{s}a", "5-*", "f", "v", "g", "w"},
		{"XADD", "{s}a", "5", "f", "v"},
		{"XADD", "{s}a", "6", "f"},
		{"XADD", "{s}a", "6"},
		{"XADD", "{s}a", "abc", "f", "v"},
		{"XADD", "{s}a", "-", "f", "v"},
		{"XADD", "{s}a", "7-x", "f", "v"},
		{"XADD", "{s}a", "NOMKSTREAM", "8-0", "f", "v"},
		{"XADD", "{s}none", "NOMKSTREAM", "8-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN", "3", "9-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN", "~", "3", "10-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN", "=", "3", "LIMIT", "2", "11-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN", "~", "3", "LIMIT", "2", "11-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN", "-1", "12-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN", "3", "MINID", "1", "12-0", "f", "v"},
		{"XADD", "{s}a", "LIMIT", "5", "12-0", "f", "v"},
		{"XADD", "{s}a", "LIMIT", "-5", "12-0", "f", "v"},
		{"XADD", "{s}a", "MINID", "=", "10", "12-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN", "x", "12-0", "f", "v"},
		{"XADD", "{s}a", "MAXLEN"},
		{"XADD", "{s}a", "MAXLEN", "1"},
		{"XLEN", "{s}a"},
		{"XRANGE", "{s}a", "-", "+"},
		{"XRANGE", "{s}a", "(11", "+"},
		{"XRANGE", "{s}a", "(", "+"},
		{"XRANGE", "{s}a", "(-", "+"},
		{"XRANGE", "{s}a", "-", "(18446744073709551615-18446744073709551615"},
		{"XRANGE", "{s}a", "(18446744073709551615-18446744073709551615", "+"},
		{"XRANGE", "{s}a", "-", "+", "COUNT", "1"},
		{"XRANGE", "{s}a", "-", "+", "COUNT", "0"},
		{"XRANGE", "{s}a", "-", "+", "COUNT", "-1"},
		{"XRANGE", "{s}a", "-", "+", "COUNT"},
		{"XRANGE", "{s}a", "-", "+", "LIMIT", "1"},
		{"XRANGE", "{s}none", "-", "+", "COUNT", "0"},
		{"XREVRANGE", "{s}a", "+", "-"},
		{"XREVRANGE", "{s}a", "+", "-", "COUNT", "2"},
		{"XREVRANGE", "{s}a", "(12", "(10"},
		{"XDEL", "{s}a", "11-0", "99-0", "bad"},
		{"XDEL", "{s}a", "11-0", "99-0"},
		{"XINFO", "STREAM", "{s}a"},
		{"XTRIM", "{s}a", "MAXLEN", "1"},
		{"XTRIM", "{s}a"},
		{"XTRIM", "{s}a", "LIMIT", "1"},
		{"XTRIM", "{s}a", "FOO", "1"},
		{"XTRIM", "{s}none", "MAXLEN", "1"},
		{"XINFO", "STREAM", "{s}a"},
		{"XSETID", "{s}a", "1-0"},
		{"XSETID", "{s}a", "100-0", "ENTRIESADDED", "1"},
		{"XSETID", "{s}a", "100-0", "ENTRIESADDED", "-1"},
		{"XSETID", "{s}a", "100-0", "MAXDELETEDID", "200-0"},
		{"XSETID", "{s}a", "100-0", "ENTRIESADDED", "50", "MAXDELETEDID", "50-0"},
		{"XSETID", "{s}a", "90-0"},
		{"XSETID", "{s}none", "90-0"},
		{"XINFO", "STREAM", "{s}a"},
		{"SET", "{s}str", "x"},
		{"XADD", "{s}str", "*", "f", "v"},
		{"XLEN", "{s}str"},
		{"XRANGE", "{s}str", "-", "+"},
		{"XREAD", "STREAMS", "{s}str", "0"},
		{"XINFO", "STREAM", "{s}str"},
		{"XINFO", "STREAM", "{s}none"},
		{"XINFO", "STREAM", "{s}a", "FULL", "COUNT"},
		{"XINFO", "STREAM", "{s}a", "FULLX"},
		{"TYPE", "{s}a"},
		// Reads.
		{"DEL", "{s}a"},
		{"XADD", "{s}a", "1-0", "a", "1"},
		{"XADD", "{s}a", "2-0", "a", "2", "b", "3"},
		{"XADD", "{s}a", "3-0", "a", "4"},
		{"XADD", "{s}b", "1-0", "x", "y"},
		{"XREAD", "STREAMS", "{s}a", "{s}b", "0", "0"},
		{"XREAD", "COUNT", "1", "STREAMS", "{s}a", "{s}b", "1", "0"},
		{"XREAD", "STREAMS", "{s}a", "{s}b", "$", "$"},
		{"XREAD", "STREAMS", "{s}a", "{s}b", "0"},
		{"XREAD", "STREAMS", "{s}a", "{s}none", "0", "0"},
		{"XREAD", "STREAMS", "{s}a", ">"},
		{"XREAD", "GROUP", "g", "c", "STREAMS", "{s}a", "0"},
		{"XREAD", "NOACK", "STREAMS", "{s}a", "0"},
		{"XREAD", "COUNT", "x", "STREAMS", "{s}a", "0"},
		{"XREAD", "BLOCK", "-1", "STREAMS", "{s}a", "0"},
		{"XREAD", "BLOCK", "x", "STREAMS", "{s}a", "0"},
		{"XREAD", "COUNT", "1", "{s}a", "0"},
		{"XREAD", "STREAMS", "{s}a", "bad"},
		// Groups.
		{"XGROUP", "CREATE", "{s}a", "g", "0"},
		{"XGROUP", "CREATE", "{s}a", "g", "0"},
		{"XGROUP", "CREATE", "{s}none", "g", "0"},
		{"XGROUP", "CREATE", "{s}mk", "g", "$", "MKSTREAM"},
		{"XGROUP", "CREATE", "{s}a", "h", "$", "ENTRIESREAD", "-2"},
		{"XGROUP", "CREATE", "{s}a", "h", "$", "ENTRIESREAD", "1"},
		{"XGROUP", "CREATE", "{s}a", "i", "bad"},
		{"XGROUP", "CREATE", "{s}a", "i", "0", "FOO"},
		{"XGROUP", "CREATE", "{s}str", "i", "0"},
		{"XGROUP", "CREATE", "{s}a"},
		{"XGROUP", "FOO", "{s}a"},
		{"XINFO", "GROUPS", "{s}a"},
		{"XINFO", "GROUPS", "{s}mk"},
		{"XREADGROUP", "GROUP", "g", "c1", "COUNT", "1", "STREAMS", "{s}a", ">"},
		{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{s}a", ">"},
		{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{s}a", ">"},
		{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{s}a", "0"},
		{"XREADGROUP", "GROUP", "g", "c2", "STREAMS", "{s}a", "0"},
		{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{s}a", "$"},
		{"XREADGROUP", "GROUP", "nog", "c1", "STREAMS", "{s}a", ">"},
		{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{s}none", ">"},
		{"XREADGROUP", "STREAMS", "{s}a", ">"},
		{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{s}a"},
		{"XPENDING", "{s}a", "g"},
		{"XPENDING", "{s}a", "g", "-", "+", "10"},
		{"XPENDING", "{s}a", "g", "-", "+", "10", "c1"},
		{"XPENDING", "{s}a", "g", "-", "+", "10", "c9"},
		{"XPENDING", "{s}a", "g", "IDLE", "0", "-", "+", "10"},
		{"XPENDING", "{s}a", "g", "IDLE", "100000", "-", "+", "10"},
		{"XPENDING", "{s}a", "g", "-", "+"},
		{"XPENDING", "{s}a", "nog"},
		{"XPENDING", "{s}none", "g"},
		{"XINFO", "CONSUMERS", "{s}a", "g"},
		{"XINFO", "CONSUMERS", "{s}a", "nog"},
		{"XINFO", "GROUPS", "{s}a"},
		{"XACK", "{s}a", "g", "1-0", "5-0"},
		{"XACK", "{s}a", "g", "bad"},
		{"XACK", "{s}a", "nog", "1-0"},
		{"XDEL", "{s}a", "2-0"},
		{"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{s}a", "0"},
		{"XINFO", "GROUPS", "{s}a"},
		{"XCLAIM", "{s}a", "g", "c2", "0", "2-0", "3-0"},
		{"XCLAIM", "{s}a", "g", "c2", "0", "3-0", "JUSTID"},
		{"XCLAIM", "{s}a", "g", "c2", "0", "1-0", "FORCE", "RETRYCOUNT", "7"},
		{"XCLAIM", "{s}a", "g", "c2", "0", "3-0", "FOO"},
		{"XCLAIM", "{s}a", "g", "c2", "x", "3-0"},
		{"XCLAIM", "{s}a", "g", "c2", "0", "3-0", "LASTID", "9-0"},
		{"XCLAIM", "{s}a", "nog", "c2", "0", "3-0"},
		{"XPENDING", "{s}a", "g", "-", "+", "10"},
		{"XINFO", "GROUPS", "{s}a"},
		{"XADD", "{s}a", "4-0", "a", "5"},
		{"XREADGROUP", "GROUP", "g", "c3", "STREAMS", "{s}a", ">"},
		{"XDEL", "{s}a", "4-0"},
		{"XAUTOCLAIM", "{s}a", "g", "c3", "0", "0", "COUNT", "1"},
		{"XAUTOCLAIM", "{s}a", "g", "c3", "0", "0"},
		{"XAUTOCLAIM", "{s}a", "g", "c3", "0", "0", "JUSTID"},
		{"XAUTOCLAIM", "{s}a", "g", "c3", "0", "0", "COUNT", "0"},
		{"XAUTOCLAIM", "{s}a", "g", "c3", "x", "0"},
		{"XAUTOCLAIM", "{s}a", "nog", "c3", "0", "0"},
		{"XINFO", "STREAM", "{s}a", "FULL"},
		{"XINFO", "STREAM", "{s}a", "FULL", "COUNT", "1"},
		{"XGROUP", "SETID", "{s}a", "g", "0", "ENTRIESREAD", "0"},
		{"XGROUP", "SETID", "{s}a", "nog", "0"},
		{"XGROUP", "SETID", "{s}a", "g", "$"},
		{"XINFO", "GROUPS", "{s}a"},
		{"XGROUP", "CREATECONSUMER", "{s}a", "g", "c9"},
		{"XGROUP", "CREATECONSUMER", "{s}a", "g", "c9"},
		{"XGROUP", "DELCONSUMER", "{s}a", "g", "c2"},
		{"XGROUP", "DELCONSUMER", "{s}a", "g", "nobody"},
		{"XINFO", "CONSUMERS", "{s}a", "g"},
		{"XGROUP", "DESTROY", "{s}a", "g"},
		{"XGROUP", "DESTROY", "{s}a", "g"},
		{"XGROUP", "DESTROY", "{s}none", "g"},
		{"XINFO", "GROUPS", "{s}a"},
		{"XINFO", "STREAM", "{s}a"},
		{"XREADGROUP", "GROUP", "h", "c", "NOACK", "STREAMS", "{s}a", "0-0"},
		{"SCAN", "0", "TYPE", "stream", "COUNT", "1000"},
		{"XREAD", "STREAMS", "{s}a", "{t}b", "0", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "{s}a", "{t}b", ">", ">"},
		{"EXPIRE", "{s}a", "1000"},
		{"TTL", "{s}a"},
		{"PERSIST", "{s}a"},
		{"TYPE", "{s}mk"},
		{"COPY", "{s}a", "{s}copy"},
		{"XINFO", "STREAM", "{s}copy", "FULL"},
		{"RENAME", "{s}copy", "{s}renamed"},
		{"XINFO", "GROUPS", "{s}renamed"},
		{"XADD", "{s}max", "18446744073709551615-18446744073709551614", "f", "v"},
		{"XADD", "{s}max", "18446744073709551615-*", "f", "v"},
		{"XADD", "{s}max", "18446744073709551615-*", "f", "v"},
		{"XADD", "{s}max", "*", "f", "v"},
		{"XADD", "{s}p", "18446744073709551616-0", "f", "v"},
		{"XRANGE", "{s}a", "18446744073709551616-0", "+"},
		{"XADD", "{s}p", "+1-0", "f", "v"},
		{"XRANGE", "{s}a", "+1-0", "+"},
		{"XADD", "{s}p", " 1-0", "f", "v"},
		{"XRANGE", "{s}a", " 1-0", "+"},
		{"XADD", "{s}p", "01-0", "f", "v"},
		{"XRANGE", "{s}a", "01-0", "+"},
		{"XADD", "{s}p", "1-", "f", "v"},
		{"XRANGE", "{s}a", "1-", "+"},
		{"XADD", "{s}p", "-1", "f", "v"},
		{"XRANGE", "{s}a", "-1", "+"},
		{"XADD", "{s}p", "-0", "f", "v"},
		{"XRANGE", "{s}a", "-0", "+"},
		{"XADD", "{s}p", " -5", "f", "v"},
		{"XRANGE", "{s}a", " -5", "+"},
		{"XADD", "{s}p", "00000000000000000000000001-1", "f", "v"},
		{"XRANGE", "{s}a", "00000000000000000000000001-1", "+"},
		{"XADD", "{s}p", "1- 1", "f", "v"},
		{"XRANGE", "{s}a", "1- 1", "+"},
		{"XRANGE", "{s}max", "(+", "+"},
		{"XRANGE", "{s}max", "-", "(-"},
		{"XRANGE", "{s}max", "(0-0", "(0-1"},
		{"XRANGE", "{s}max", "5", "5"},
		{"XREVRANGE", "{s}max", "+", "-", "COUNT", "1", "COUNT", "2"},
		{"XGROUP", "CREATE", "{s}max", "g", "+"},
		{"XGROUP", "CREATE", "{s}max", "g", "-"},
		{"XGROUP", "CREATE", "{s}max", "g", "5"},
		{"XGROUP", "SETID", "{s}max", "g", "-"},
		{"XGROUP", "SETID", "{s}max", "g", "+"},
		{"XGROUP", "SETID", "{s}max", "g", "0", "ENTRIESREAD"},
		{"XGROUP", "SETID", "{s}max", "g", "0", "FOO", "1"},
		{"XINFO", "GROUPS", "{s}max"},
		{"XREADGROUP", "GROUP", "g", "c", "COUNT", "0", "STREAMS", "{s}max", ">"},
		{"XPENDING", "{s}max", "g", "(0", "(18446744073709551615-18446744073709551615", "10"},
		{"XPENDING", "{s}max", "g", "(+", "+", "10"},
		{"XPENDING", "{s}max", "g", "-", "+", "x"},
		{"XPENDING", "{s}max", "g", "IDLE", "x", "-", "+", "1"},
		{"XPENDING", "{s}max", "g", "IDLE", "1", "-", "+"},
		{"XAUTOCLAIM", "{s}max", "g", "c2", "0", "(0-0", "COUNT", "1"},
		{"XAUTOCLAIM", "{s}max", "g", "c2", "0", "(+"},
		{"XAUTOCLAIM", "{s}max", "g", "c2", "0", "0", "COUNT"},
		{"XAUTOCLAIM", "{s}max", "g", "c2", "0", "0", "FOO"},
		{"XCLAIM", "{s}max", "g", "c3", "0", "1-0", "FORCE", "JUSTID"},
		{"XCLAIM", "{s}max", "g", "c3", "0", "18446744073709551615-18446744073709551614", "FORCE", "JUSTID"},
		{"XCLAIM", "{s}max", "g", "c3", "-5", "18446744073709551615-18446744073709551614", "TIME", "1", "RETRYCOUNT", "-3"},
		{"XPENDING", "{s}max", "g", "-", "+", "10"},
		{"XCLAIM", "{s}max", "g", "c3", "0", "18446744073709551615-18446744073709551614", "IDLE"},
		{"XINFO", "STREAM", "{s}max", "FULL", "COUNT", "-1"},
		{"XINFO", "CONSUMERS", "{s}max", "g"},
		{"XTRIM", "{s}max", "MAXLEN", "~", "0", "LIMIT", "0"},
		{"XTRIM", "{s}max", "MINID", "~", "0", "LIMIT", "1"},
		{"XTRIM", "{s}max", "MAXLEN", "=", "0"},
		{"XINFO", "STREAM", "{s}max"},
		{"XSETID", "{s}max", "0-0"},
		{"XSETID", "{s}max", "0-5", "MAXDELETEDID", "0-6"},
		{"XSETID", "{s}max", "0-5", "MAXDELETEDID", "0-4", "ENTRIESADDED", "x"},
		{"XSETID", "{s}max", "0-5", "FOO"},
		{"XSETID", "{s}max", "-"},
		{"XLEN", "{s}str"},
		{"XDEL", "{s}str", "1-0"},
		{"XTRIM", "{s}str", "MAXLEN", "0"},
		{"XACK", "{s}str", "g", "1-0"},
		{"XPENDING", "{s}str", "g"},
		{"XGROUP", "DESTROY", "{s}str", "g"},
		{"XINFO", "GROUPS", "{s}str"},
		{"XINFO", "CONSUMERS", "{s}str", "g"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "{s}str", ">"},
		{"XCLAIM", "{s}str", "g", "c", "0", "1-0"},
		{"XAUTOCLAIM", "{s}str", "g", "c", "0", "0"},
		{"XSETID", "{s}str", "1-0"},
		{"XADD", "{s}auto", "*", "f", "v"},
		{"XADD", "{s}auto", "MAXLEN", "0", "*", "f", "v"},
		{"XLEN", "{s}auto"},
	}
	for _, args := range script {
		if args[0] == "SCAN" {
			d.check(multiset, "KEYS", "*")
			for _, c := range []*redis.Client{d.redis, d.grid} {
				page, err := do(c, args)
				if err != nil {
					t.Fatal(err)
				}
				keys := sorted(page.([]any)[1])
				if want := sorted([]any{"{s}a", "{s}b", "{s}mk"}); !reflect.DeepEqual(keys, want) {
					t.Errorf("SCAN TYPE stream: %v, want %v", keys, want)
				}
			}
			continue
		}
		d.checkNorm(args...)
	}
}

// streamField draws fields so that entries share or do not share their node's master
// fields.
func streamField(rng *rand.Rand) string {
	return []string{"f", "g", "name", "v"}[rng.IntN(4)]
}

func TestStreamsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	seed := uint64(21)
	if v, err := strconv.ParseUint(os.Getenv("STREAM_DIFF_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 22))
	keys := []string{"{s}s0", "{s}s1", "{s}s2"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	next := map[string]int{}
	id := func(k string) string {
		next[k] += 1 + rng.IntN(3)
		return fmt.Sprintf("%d-%d", next[k]/2, next[k]%2)
	}
	anyID := func() string { return fmt.Sprintf("%d-%d", rng.IntN(200), rng.IntN(2)) }
	groups := []string{"g1", "g2"}
	steps := 3000
	if testing.Short() {
		steps = 1000
	}
	for range steps {
		k := key()
		g := groups[rng.IntN(2)]
		cons := fmt.Sprintf("c%d", rng.IntN(3))
		switch rng.IntN(24) {
		case 20:
			d.checkNorm("XADD", k, id(k), "big", fmt.Sprintf("%0*d", 100+rng.IntN(3000), rng.IntN(10)))
		case 21:
			d.checkNorm("XREADGROUP", "GROUP", g, cons, "NOACK", "STREAMS", k, ">")
			d.checkNorm("XINFO", "STREAM", k, "FULL", "COUNT", strconv.Itoa(rng.IntN(3)))
		case 22:
			d.checkNorm("XGROUP", "SETID", k, g, anyID(), "ENTRIESREAD", strconv.Itoa(rng.IntN(20)-1))
			d.checkNorm("XINFO", "GROUPS", k)
		case 23:
			d.checkNorm("XCLAIM", k, g, cons, "0", anyID(), anyID(), "IDLE", "5", "LASTID", anyID())
			d.checkNorm("XPENDING", k, g, "IDLE", "0", "-", "+", "5", cons)
		case 0, 1, 2, 3, 4:
			args := []string{"XADD", k}
			switch rng.IntN(6) {
			case 0:
				args = append(args, "MAXLEN", strconv.Itoa(rng.IntN(30)))
			case 1:
				args = append(args, "MINID", "=", anyID())
			case 2:
				args = append(args, "MAXLEN", "~", strconv.Itoa(rng.IntN(300)))
			}
			args = append(args, id(k))
			for range 1 + rng.IntN(3) {
				args = append(args, streamField(rng), strconv.Itoa(rng.IntN(1000)))
			}
			d.checkNorm(args...)
		case 5:
			d.checkNorm("XDEL", k, anyID(), anyID())
		case 6:
			d.checkNorm("XRANGE", k, anyID(), "+", "COUNT", strconv.Itoa(rng.IntN(5)))
			d.checkNorm("XREVRANGE", k, "+", "("+anyID())
		case 7:
			d.checkNorm("XTRIM", k, []string{"MAXLEN", "MINID"}[rng.IntN(2)], []string{"=", "~"}[rng.IntN(2)], strconv.Itoa(rng.IntN(100)))
		case 8:
			d.checkNorm("XGROUP", "CREATE", k, g, []string{"0", "$", anyID()}[rng.IntN(3)], "MKSTREAM")
		case 9, 10:
			d.checkNorm("XREADGROUP", "GROUP", g, cons, "COUNT", strconv.Itoa(rng.IntN(4)), "STREAMS", k, []string{">", ">", "0"}[rng.IntN(3)])
		case 11:
			d.checkNorm("XACK", k, g, anyID(), anyID(), anyID())
		case 12:
			d.checkNorm("XPENDING", k, g)
			d.checkNorm("XPENDING", k, g, "-", "+", "20")
		case 13:
			d.checkNorm("XCLAIM", k, g, cons, "0", anyID(), anyID(), []string{"JUSTID", "FORCE", "RETRYCOUNT"}[rng.IntN(3)], "3")
		case 14:
			d.checkNorm("XAUTOCLAIM", k, g, cons, "0", anyID(), "COUNT", strconv.Itoa(1+rng.IntN(5)))
		case 15:
			d.checkNorm("XINFO", "GROUPS", k)
			d.checkNorm("XINFO", "STREAM", k)
		case 16:
			d.checkNorm("XINFO", "STREAM", k, "FULL")
			d.checkNorm("XINFO", "CONSUMERS", k, g)
		case 17:
			d.checkNorm("XREAD", "COUNT", strconv.Itoa(rng.IntN(4)), "STREAMS", k, key(), anyID(), "$")
		case 18:
			d.checkNorm("XGROUP", []string{"DELCONSUMER", "CREATECONSUMER"}[rng.IntN(2)], k, g, cons)
			d.checkNorm("XGROUP", "SETID", k, g, anyID())
		case 19:
			if rng.IntN(10) == 0 {
				d.checkNorm("DEL", k)
				next[k] = 0
			}
			d.checkNorm("XLEN", k)
		}
		if t.Failed() {
			return
		}
	}
}

func TestStreamsRESP3AgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, c := range []**redis.Client{&d.redis, &d.grid} {
		r3 := redis.NewClient(&redis.Options{Addr: (*c).Options().Addr, Protocol: 3, MaxRetries: -1})
		t.Cleanup(func() { r3.Close() })
		*c = r3
	}
	for _, args := range [][]string{
		{"XADD", "{s}a", "1-0", "f", "v"}, {"XADD", "{s}b", "2-0", "g", "w"},
		{"XREAD", "STREAMS", "{s}a", "{s}b", "0", "0"}, {"XREAD", "STREAMS", "{s}a", "$"},
		{"XGROUP", "CREATE", "{s}a", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "{s}a", ">"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "{s}a", ">"},
		{"XPENDING", "{s}a", "g"}, {"XINFO", "GROUPS", "{s}a"}, {"XINFO", "STREAM", "{s}a"},
		{"XINFO", "STREAM", "{s}a", "FULL"}, {"XINFO", "CONSUMERS", "{s}a", "g"},
		{"XAUTOCLAIM", "{s}a", "g", "c", "0", "0"}, {"XRANGE", "{s}a", "-", "+", "COUNT", "0"},
	} {
		d.checkNorm(args...)
	}
}
