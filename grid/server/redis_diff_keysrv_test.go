package server

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/rdb"
)

// keysrvSetup fills both sides with one value of every encoding the grid has.
var keysrvSetup = [][]string{
	{"SET", "{s}int", "12345"}, {"SET", "{s}big", "123456789012"}, {"SET", "{s}emb", "hello"},
	{"SET", "{s}raw", strings.Repeat("r", 45)}, {"SET", "{s}neg", "-7"}, {"SET", "{s}zero", "0"},
	{"HSET", "{s}hsmall", "a", "1", "b", "two", "c", "-3000"},
	{"HSET", "{s}hlong", "f", strings.Repeat("v", 65)},
	{"SADD", "{s}sint", "3", "1", "-2", "70000", "9999999999"},
	{"SADD", "{s}sstr", "x", "y", "10"},
	{"RPUSH", "{s}list", "3", "1", "2", "10", "-1", "2.5", "b", "a"},
	{"RPUSH", "{s}alist", "b", "a", "c", "B", ""},
	{"RPUSH", "{s}nums", "5", " 3", "0x10", "1e2", "-inf", "", "+4"},
	{"SADD", "{s}snum", "5", "3", "-1", "20"},
	{"ZADD", "{s}zsmall", "1", "a", "2", "b"},
	{"ZADD", "{s}zmix", "0", "c", "-0", "z", "1.5", "x", "inf", "i", "-inf", "j", "100", "10", "0.1", "p", "1e300", "q",
		"4503599627370497", "r", "-4503599627370495", "s", "123456789012", "t", "-2.5e-300", "u"},
}

// bigValues adds values past the small encodings' limits on both sides.
func (d *diffRun) bigValues() {
	d.t.Helper()
	hb, sb, lb := []string{"HSET", "{s}hbig"}, []string{"SADD", "{s}sbig"}, []string{"RPUSH", "{s}lbig"}
	for i := range 600 {
		hb = append(hb, fmt.Sprint("f", i), fmt.Sprint(i*31))
		sb = append(sb, fmt.Sprint(i*7-100))
		lb = append(lb, fmt.Sprint("element-", i%97, strings.Repeat("z", i%40)))
	}
	d.check(exact, hb...)
	d.check(exact, sb...)
	d.check(exact, lb...)
	d.check(exact, "SADD", "{s}sbigstr", "a", "b")
	d.check(exact, "RPUSH", "{s}lhuge", strings.Repeat("h", 20000), "x", strings.Repeat("k", 9000))
	zb, zs := []string{"ZADD", "{s}zbig"}, []string{"ZADD", "{s}zshrunk"}
	for i := range 300 {
		zb = append(zb, fmt.Sprint(float64(i%41)/8-2), fmt.Sprint("member-", i, strings.Repeat("q", i%30)))
		zs = append(zs, fmt.Sprint(i), fmt.Sprint(i))
	}
	d.check(exact, zb...)
	d.check(exact, zs...)
	d.check(exact, "ZREMRANGEBYRANK", "{s}zshrunk", "0", "289")
	d.check(exact, "ZADD", "{s}zlong", "-0", strings.Repeat("m", 65), "2", "x")
}

var keysrvKeys = []string{"{s}int", "{s}big", "{s}emb", "{s}raw", "{s}neg", "{s}zero", "{s}hsmall", "{s}hlong",
	"{s}sint", "{s}sstr", "{s}list", "{s}alist", "{s}nums", "{s}snum", "{s}hbig", "{s}sbig", "{s}lbig", "{s}sbigstr", "{s}lhuge",
	"{s}zsmall", "{s}zmix", "{s}zbig", "{s}zshrunk", "{s}zlong"}

func TestKeysrvAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, c := range keysrvSetup {
		d.check(exact, c...)
	}
	d.bigValues()
	for _, k := range keysrvKeys {
		d.check(exact, "OBJECT", "ENCODING", k)
		d.check(exact, "OBJECT", "REFCOUNT", k)
	}
	for _, tc := range []struct {
		class compareClass
		args  []string
	}{
		{exact, []string{"OBJECT", "ENCODING", "{s}none"}},
		{exact, []string{"OBJECT", "REFCOUNT", "{s}none"}},
		{exact, []string{"OBJECT", "HELP"}},
		{exact, []string{"OBJECT", "ENCODING"}},
		{exact, []string{"OBJECT", "NOSUCH", "x"}},
		{exact, []string{"DUMP", "{s}none"}},
		{exact, []string{"RESTORE", "{s}new", "0", "garbage"}},
		{exact, []string{"RESTORE", "{s}int", "0", "garbage"}},
		{exact, []string{"RESTORE", "{s}int", "0", "garbage", "REPLACE"}},
		{exact, []string{"RESTORE", "{s}new", "-1", "garbage"}},
		{exact, []string{"RESTORE", "{s}new", "x", "garbage"}},
		{exact, []string{"RESTORE", "{s}new", "0", "garbage", "NOSUCH"}},
		{exact, []string{"RESTORE", "{s}new", "0", "garbage", "IDLETIME", "-1"}},
		{exact, []string{"RESTORE", "{s}new", "0", "garbage", "IDLETIME", "x"}},
		{exact, []string{"RESTORE", "{s}new", "0", "garbage", "FREQ", "256"}},
		{exact, []string{"RESTORE", "{s}new", "0", "garbage", "FREQ", "1", "IDLETIME", "1"}},
		{exact, []string{"RESTORE", "{s}new", "0", "garbage", "IDLETIME"}},
		{exact, []string{"RESTORE", "{s}new", "0", "\x00\x01a\x0a\x00" + "\x00\x00\x00\x00\x00\x00\x00\x00"}},
		{exact, []string{"RESTORE", "{s}new"}},
		{exact, []string{"SORT", "{s}list"}},
		{exact, []string{"SORT", "{s}list", "ALPHA"}},
		{exact, []string{"SORT", "{s}alist", "ALPHA", "DESC"}},
		{exact, []string{"SORT", "{s}alist"}},
		{exact, []string{"SORT", "{s}nums"}},
		{exact, []string{"SORT", "{s}nums", "DESC", "LIMIT", "1", "3"}},
		{exact, []string{"SORT", "{s}list", "BY", "nosort"}},
		{exact, []string{"SORT", "{s}list", "BY", "nosort", "DESC", "LIMIT", "2", "3"}},
		{exact, []string{"SORT", "{s}list", "BY", "nosort", "LIMIT", "-5", "100"}},
		{exact, []string{"SORT", "{s}list", "ALPHA", "LIMIT", "100", "1"}},
		{exact, []string{"SORT", "{s}list", "ALPHA", "LIMIT", "2", "0"}},
		{exact, []string{"SORT", "{s}list", "ALPHA", "LIMIT", "2", "-7"}},
		{exact, []string{"SORT", "{s}list", "LIMIT", "1"}},
		{exact, []string{"SORT", "{s}list", "LIMIT", "x", "1"}},
		{exact, []string{"SORT", "{s}list", "BY", "w_*"}},
		{exact, []string{"SORT", "{s}list", "BY", "{s}w_*"}},
		{exact, []string{"SORT", "{s}list", "GET", "#"}},
		{exact, []string{"SORT", "{s}list", "NOSUCH"}},
		{exact, []string{"SORT", "{s}emb"}},
		{exact, []string{"SORT", "{s}hsmall"}},
		{exact, []string{"SORT", "{s}none"}},
		{exact, []string{"SORT", "{s}sint"}},
		{exact, []string{"SORT", "{s}sstr", "ALPHA"}},
		{exact, []string{"SORT", "{s}sstr"}},
		{exact, []string{"SORT", "{s}sbig", "DESC", "LIMIT", "10", "5"}},
		{multiset, []string{"SORT", "{s}sstr", "BY", "nosort"}},
		{exact, []string{"SORT", "{s}zmix", "ALPHA"}},
		{exact, []string{"SORT", "{s}zmix"}},
		{exact, []string{"SORT", "{s}zshrunk", "DESC"}},
		{exact, []string{"SORT", "{s}zmix", "BY", "nosort"}},
		{exact, []string{"SORT", "{s}zmix", "BY", "nosort", "DESC", "LIMIT", "1", "3"}},
		{exact, []string{"SORT", "{s}zbig", "BY", "nosort", "LIMIT", "250", "100"}},
		{exact, []string{"SORT", "{s}zbig", "ALPHA", "DESC", "LIMIT", "3", "4"}},
		{exact, []string{"ZADD", "{s}zsorted", "1", "a"}},
		{exact, []string{"SORT", "{s}zsorted", "LIMIT", "x", "1"}},
		{exact, []string{"OBJECT", "ENCODING", "{s}zsorted"}},
		{exact, []string{"SORT_RO", "{s}zsorted", "ALPHA"}},
		{exact, []string{"OBJECT", "ENCODING", "{s}zsorted"}},
		{exact, []string{"ZRANGE", "{s}zsorted", "0", "-1", "WITHSCORES"}},
		{exact, []string{"SORT", "{s}zbig", "BY", "nosort", "STORE", "{s}dst"}},
		{exact, []string{"LRANGE", "{s}dst", "0", "-1"}},
		{exact, []string{"SORT", "{s}sstr", "BY", "nosort", "STORE", "{s}dst"}},
		{exact, []string{"LRANGE", "{s}dst", "0", "-1"}},
		{exact, []string{"SORT", "{s}list", "DESC", "STORE", "{s}dst"}},
		{exact, []string{"LRANGE", "{s}dst", "0", "-1"}},
		{exact, []string{"EXPIRE", "{s}dst", "1000"}},
		{exact, []string{"SORT", "{s}list", "LIMIT", "0", "2", "STORE", "{s}dst"}},
		{exact, []string{"TTL", "{s}dst"}},
		{exact, []string{"SORT", "{s}none", "STORE", "{s}dst"}},
		{exact, []string{"EXISTS", "{s}dst"}},
		{exact, []string{"SORT", "{s}list", "STORE", "{other}dst"}},
		{exact, []string{"SORT_RO", "{s}list", "DESC"}},
		{exact, []string{"SORT_RO", "{s}list", "STORE", "{s}dst"}},
		{exact, []string{"SORT_RO", "{s}emb"}},
		{exact, []string{"MOVE", "{s}int", "1"}},
		{exact, []string{"MOVE", "{s}int"}},
		{exact, []string{"WAIT", "0", "0"}},
		{exact, []string{"WAIT", "x", "0"}},
		{exact, []string{"WAIT", "0", "x"}},
		{exact, []string{"WAIT", "0", "-1"}},
		{exact, []string{"WAIT", "1", "1"}},
		{exact, []string{"DEBUG", "SLEEP", "0"}},
		{exact, []string{"DEBUG"}},
		{exact, []string{"MEMORY", "USAGE", "{s}none"}},
		{exact, []string{"MEMORY", "USAGE", "{s}int", "SAMPLES", "-1"}},
		{exact, []string{"MEMORY", "USAGE", "{s}int", "SAMPLES", "x"}},
		{exact, []string{"MEMORY", "USAGE", "{s}int", "SAMPLES"}},
		{exact, []string{"MEMORY", "USAGE", "{s}int", "NOSUCH", "1"}},
		{exact, []string{"MEMORY", "HELP"}},
		{exact, []string{"MEMORY", "PURGE"}},
		{exact, []string{"COMMAND", "GETKEYS", "GET", "a"}},
		{exact, []string{"COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"}},
		{exact, []string{"COMMAND", "GETKEYS", "SORT", "a", "LIMIT", "0", "1", "STORE", "b", "STORE", "c"}},
		{exact, []string{"COMMAND", "GETKEYS", "SINTERCARD", "2", "a", "b", "LIMIT", "1"}},
		{exact, []string{"COMMAND", "GETKEYS", "LMPOP", "2", "a", "b", "LEFT"}},
		{exact, []string{"COMMAND", "GETKEYS", "OBJECT", "ENCODING", "a"}},
		{exact, []string{"COMMAND", "GETKEYS", "GET"}},
		{exact, []string{"COMMAND", "GETKEYS", "GET", "a", "b"}},
		{exact, []string{"COMMAND", "GETKEYS", "NOSUCH", "a"}},
		{exact, []string{"COMMAND", "GETKEYS", "PING", "a"}},
		{exact, []string{"COMMAND", "GETKEYSANDFLAGS", "GET", "a"}},
		{exact, []string{"COMMAND", "GETKEYSANDFLAGS", "SORT", "a", "STORE", "b"}},
		{exact, []string{"COMMAND", "GETKEYSANDFLAGS", "COPY", "a", "b"}},
		{exact, []string{"COMMAND", "COUNT", "x"}},
		{exact, []string{"COMMAND", "LIST", "FILTERBY"}},
		{exact, []string{"COMMAND", "LIST", "FILTERBY", "NOSUCH", "x"}},
		{exact, []string{"COMMAND", "LIST", "FILTERBY", "MODULE", "x"}},
		{multiset, []string{"COMMAND", "LIST", "FILTERBY", "PATTERN", "sort*"}},
		{multiset, []string{"COMMAND", "LIST", "FILTERBY", "PATTERN", "object|e*"}},
		{multiset, []string{"COMMAND", "LIST", "FILTERBY", "PATTERN", "memory|*"}},
		{exact, []string{"CONFIG", "GET", "set-max-intset-entries"}},
		{exact, []string{"CONFIG", "GET", "list-max-listpack-size"}},
		{exact, []string{"CONFIG", "GET", "maxmemory-samples"}},
		{exact, []string{"CONFIG", "SET", "hz", "x"}},
		{exact, []string{"CONFIG", "SET", "hz", "0"}},
		{exact, []string{"CONFIG", "SET", "databases", "3"}},
		{exact, []string{"CONFIG", "SET", "nosuch", "3"}},
		{exact, []string{"CONFIG", "SET", "notify-keyspace-events", "KEA"}},
		{exact, []string{"CONFIG", "GET", "notify-keyspace-events"}},
		{exact, []string{"CONFIG", "SET", "notify-keyspace-events", "Q"}},
		{exact, []string{"CONFIG", "SET", "notify-keyspace-events", ""}},
		{exact, []string{"CONFIG", "SET", "timeout", "-1"}},
		{exact, []string{"CONFIG", "SET", "maxmemory-policy", "nosuch"}},
		{exact, []string{"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"}},
		{exact, []string{"CONFIG", "GET", "maxmemory-policy"}},
		{exact, []string{"CONFIG", "SET", "maxmemory-policy", "noeviction"}},
		{exact, []string{"CONFIG", "SET", "maxmemory-samples", "10", "hz", "50"}},
		{exact, []string{"CONFIG", "GET", "maxmemory-samples"}},
		{exact, []string{"CONFIG", "RESETSTAT"}},
	} {
		d.check(tc.class, tc.args...)
	}
	// Values Redis writes without LZF compression (at most 20 bytes) and in an order both
	// keep dump byte for byte alike.
	for _, k := range []string{"{s}int", "{s}big", "{s}emb", "{s}neg", "{s}zero", "{s}hsmall", "{s}list", "{s}alist", "{s}nums", "{s}zsmall"} {
		d.check(exact, "DUMP", k)
	}
	// INFO commandstats: the same fields for a command both ran.
	statLine := func(c *redis.Client) string {
		v, err := do(c, []string{"INFO", "commandstats"})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(v.(string), "\r\n") {
			if strings.HasPrefix(l, "cmdstat_sort_ro:") {
				return regexp.MustCompile(`[0-9.]+`).ReplaceAllString(l, "N")
			}
		}
		return ""
	}
	d.check(exact, "SORT_RO", "{s}list")
	d.check(exact, "SORT_RO", "{s}emb")
	if g, r := statLine(d.grid), statLine(d.redis); g != r || g == "" {
		t.Errorf("INFO commandstats line for SORT_RO: grid %q, redis %q", g, r)
	}
	// The shapes of what counts the grid's own memory.
	for _, k := range keysrvKeys {
		d.check(shape, "MEMORY", "USAGE", k)
		d.check(shape, "MEMORY", "USAGE", k, "SAMPLES", "0")
	}
	d.check(shape, "OBJECT", "HELP")
	// A key restored with a TTL, an absolute one, one already past.
	p, _ := do(d.redis, []string{"DUMP", "{s}emb"})
	d.check(exact, "RESTORE", "{s}ttl", "100000", p.(string))
	if ttl, err := do(d.grid, []string{"PTTL", "{s}ttl"}); err != nil || ttl.(int64) <= 90000 || ttl.(int64) > 100000 {
		t.Errorf("PTTL after RESTORE with 100000: %v", ttl)
	}
	d.check(exact, "RESTORE", "{s}abs", "4102444800000", p.(string), "ABSTTL")
	d.check(exact, "PEXPIRETIME", "{s}abs")
	d.check(exact, "RESTORE", "{s}past", "1", p.(string), "ABSTTL")
	d.check(exact, "EXISTS", "{s}past")
	d.check(exact, "RESTORE", "{s}abs", "1", p.(string), "ABSTTL", "REPLACE")
	d.check(exact, "EXISTS", "{s}abs")
	d.check(exact, "RESTORE", "{s}idle", "0", p.(string), "IDLETIME", "10", "REPLACE")
	d.check(exact, "GET", "{s}idle")
	d.check(exact, "COMMAND", "GETKEYS", "SORT_RO", "{s}list", "ALPHA")
	for _, name := range []string{"sort", "sort_ro", "dump", "restore", "object|encoding", "memory|usage", "move"} {
		info, err := do(d.grid, []string{"COMMAND", "INFO", name})
		want, _ := do(d.redis, []string{"COMMAND", "INFO", name})
		if err != nil || fmt.Sprint(info.([]any)[0].([]any)[:6]) != fmt.Sprint(want.([]any)[0].([]any)[:6]) {
			t.Errorf("COMMAND INFO %s: %v, redis %v", name, info, want)
		}
	}
}

// TestDumpRestoreAcrossRedisServer moves every value both ways: redis-server's DUMP
// restored into the grid, the grid's DUMP restored into redis-server, each compared
// whole with the original.
func TestDumpRestoreAcrossRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, c := range keysrvSetup {
		d.check(exact, c...)
	}
	d.bigValues()
	for _, k := range keysrvKeys {
		fromRedis, err := do(d.redis, []string{"DUMP", k})
		if err != nil || fromRedis == nil {
			t.Fatalf("DUMP %s on redis: %v %v", k, fromRedis, err)
		}
		fromGrid, err := do(d.grid, []string{"DUMP", k})
		if err != nil || fromGrid == nil {
			t.Fatalf("DUMP %s on the grid: %v %v", k, fromGrid, err)
		}
		if _, err := do(d.grid, []string{"RESTORE", k + "r", "0", fromRedis.(string)}); err != nil {
			t.Errorf("RESTORE into the grid of redis's DUMP of %s: %v", k, err)
		}
		if _, err := do(d.redis, []string{"RESTORE", k + "r", "0", fromGrid.(string)}); err != nil {
			t.Errorf("RESTORE into redis of the grid's DUMP of %s: %v", k, err)
		}
		d.checkValue(k + "r")
		d.check(exact, "OBJECT", "ENCODING", k+"r")
		// And back again, each side restoring its own payload.
		d.check(exact, "RESTORE", k+"r", "0", fromGrid.(string), "REPLACE")
		d.checkValue(k + "r")
	}
}

// TestKeysrvRandomAgainstRedisServer runs random sorts, dumps and restores on both, of
// lists, sets, hashes, sorted sets and streams.
func TestKeysrvRandomAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(21, 22))
	keys := []string{"{r}a", "{r}b", "{r}c"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	elem := func() string {
		switch rng.IntN(4) {
		case 0:
			return strconv.Itoa(rng.IntN(200) - 100)
		case 1:
			return strconv.FormatFloat(rng.Float64()*100-50, 'f', 2, 64)
		case 2:
			return string(rune('a' + rng.IntN(26)))
		}
		return setMember(rng)
	}
	steps := 1500
	if testing.Short() {
		steps = 500
	}
	nextID := 0
	for range steps {
		k, k2 := key(), key()
		switch rng.IntN(13) {
		case 10:
			d.check(exact, "ZADD", k, strconv.Itoa(rng.IntN(9)-4), elem(), "1.5", elem())
		case 11:
			// Explicit IDs, so both sides make the same entries.
			nextID++
			d.check(exact, "XADD", k, fmt.Sprint(nextID/3+1, "-", nextID%3), elem(), elem(), "f", elem())
		case 12:
			d.check(exact, "XDEL", k, fmt.Sprint(rng.IntN(nextID/3+1)+1, "-", rng.IntN(3)))
		case 0:
			d.check(exact, "RPUSH", k, elem(), elem(), elem())
		case 1:
			d.check(exact, "SADD", k, elem(), elem())
		case 2:
			d.check(exact, "DEL", k)
		case 3, 4:
			args := []string{"SORT", k}
			if rng.IntN(2) == 0 {
				args = append(args, "ALPHA")
			}
			if rng.IntN(2) == 0 {
				args = append(args, "DESC")
			}
			if rng.IntN(3) == 0 {
				args = append(args, "LIMIT", strconv.Itoa(rng.IntN(6)-1), strconv.Itoa(rng.IntN(6)-1))
			}
			if rng.IntN(3) == 0 {
				args = append(args, "STORE", k2)
			}
			d.check(exact, args...)
			d.checkValue(k2)
		case 5:
			d.check(exact, "SORT", k, "BY", "nosort", "STORE", k2)
			d.checkValue(k2)
		case 6, 7:
			p, err := do(d.grid, []string{"DUMP", k})
			if err != nil || p == nil {
				continue
			}
			d.check(exact, "RESTORE", k2, "0", p.(string), "REPLACE")
			d.checkValue(k2)
			if kind, _ := do(d.grid, []string{"TYPE", k2}); kind == "stream" {
				if g, r := streamView(t, d.grid, k2, false), streamView(t, d.redis, k2, false); g != r {
					t.Errorf("stream %s restored from the grid's DUMP:\n grid: %.1500s\nredis: %.1500s", k2, g, r)
				}
			}
		case 8:
			d.check(exact, "OBJECT", "ENCODING", k)
		case 9:
			d.check(exact, "HSET", k, elem(), elem())
		}
	}
}

// TestCommandDocsAgainstRedisServer compares COMMAND DOCS's since and COMMAND INFO's arity
// of the commands this file's area serves with redis-server's (summaries and groups follow
// the grid's table, worded as Redis's later documentation words them).
func TestCommandDocsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, name := range []string{"dump", "restore", "sort", "sort_ro", "move", "wait", "debug", "object", "object|encoding",
		"object|refcount", "object|help", "memory", "memory|usage", "memory|doctor", "memory|stats", "memory|purge",
		"memory|malloc-stats", "memory|help", "command|getkeys", "command|getkeysandflags", "command|list", "config|set",
		"config|get", "config|resetstat", "config|rewrite"} {
		field := func(c *redis.Client) string {
			v, err := do(c, []string{"COMMAND", "DOCS", name})
			if err != nil {
				t.Fatal(err)
			}
			arr, _ := v.([]any)
			if len(arr) < 2 {
				return "missing"
			}
			doc := arr[1].([]any)
			out := map[string]any{}
			for i := 0; i+1 < len(doc); i += 2 {
				if k := doc[i].(string); k == "since" {
					out[k] = doc[i+1]
				}
			}
			info, _ := do(c, []string{"COMMAND", "INFO", name})
			return fmt.Sprint(out, info.([]any)[0].([]any)[1])
		}
		if g, r := field(d.grid), field(d.redis); g != r {
			t.Errorf("COMMAND DOCS %s:\n grid: %s\nredis: %s", name, g, r)
		}
	}
}

// streamSetup builds, on one server only, streams of every shape DUMP must carry: many
// listpacks (entries past stream-node-max-entries and -bytes, fields alike and not), deleted
// and trimmed entries, every entry deleted, consumer groups with pending entries moved
// between consumers, consumers with none, groups with no consumers, an unknown
// entries-read, counters set by XSETID, and an expiry.
var streamSetup = [][]string{
	{"XADD", "{s}xone", "1-1", "f", "v"},
	{"XGROUP", "CREATE", "{s}xmk", "g", "$", "MKSTREAM"},
	{"XADD", "{s}xgone", "5-1", "a", "1"}, {"XADD", "{s}xgone", "5-2", "a", "2"},
	{"XDEL", "{s}xgone", "5-1", "5-2"},
	{"XGROUP", "CREATE", "{s}xgone", "g", "0", "ENTRIESREAD", "1"},
	{"XADD", "{s}xg", "1-1", "name", "a", "n", "1"}, {"XADD", "{s}xg", "1-2", "name", "b", "n", "2"},
	{"XADD", "{s}xg", "2-0", "other", "x"}, {"XADD", "{s}xg", "3-0", "name", "c", "n", "-70000"},
	{"XADD", "{s}xg", "3-1", "name", "d", "n", "1.5"},
	{"XGROUP", "CREATE", "{s}xg", "g1", "0"}, {"XGROUP", "CREATE", "{s}xg", "g2", "$"},
	{"XGROUP", "CREATE", "{s}xg", "empty", "1-2"},
	{"XREADGROUP", "GROUP", "g1", "alice", "COUNT", "3", "STREAMS", "{s}xg", ">"},
	{"XREADGROUP", "GROUP", "g1", "bob", "COUNT", "1", "STREAMS", "{s}xg", ">"},
	{"XCLAIM", "{s}xg", "g1", "bob", "0", "1-2", "TIME", "1700000000000", "RETRYCOUNT", "7"},
	{"XACK", "{s}xg", "g1", "1-1"},
	{"XGROUP", "CREATECONSUMER", "{s}xg", "g1", "carol"},
	{"XDEL", "{s}xg", "1-2"},
	{"XGROUP", "SETID", "{s}xg", "g2", "2-0"},
	{"XADD", "{s}xset", "7-7", "k", "v"},
	{"XSETID", "{s}xset", "9-9", "ENTRIESADDED", "40", "MAXDELETEDID", "8-0"},
	{"PEXPIREAT", "{s}xset", "4102444800000"},
}

// bigStreams adds {s}xbig (no deletions) and {s}xtrim (trimmed inside a listpack) on c.
func bigStreams(t *testing.T, c *redis.Client) {
	t.Helper()
	for i := range 420 {
		args := []string{"XADD", "{s}xbig", fmt.Sprintf("%d-%d", 1+i/4, i%4), "f", fmt.Sprint(i)}
		switch {
		case i%9 == 0:
			args = append(args[:3], "g", strings.Repeat("v", 30*i))
		case i%13 == 0:
			args = append(args, "extra", "x")
		}
		if _, err := do(c, args); err != nil {
			t.Fatal(err)
		}
		if _, err := do(c, []string{"XADD", "{s}xtrim", "*", "i", fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"XTRIM", "{s}xtrim", "MAXLEN", "=", "150"},
		{"XGROUP", "CREATE", "{s}xtrim", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "COUNT", "20", "STREAMS", "{s}xtrim", ">"},
		{"XGROUP", "CREATE", "{s}xbig", "g", "$"},
	} {
		if _, err := do(c, args); err != nil {
			t.Fatal(args, err)
		}
	}
}

var streamKeys = []string{"{s}xone", "{s}xmk", "{s}xgone", "{s}xg", "{s}xset", "{s}xbig", "{s}xtrim"}

// streamView is what the read commands show of the stream at key: every entry, the whole
// XINFO STREAM FULL (radix tree counts masked unless exactTree), the groups, the type,
// the encoding and the expiry.
func streamView(t *testing.T, c *redis.Client, key string, exactTree bool) string {
	t.Helper()
	var out []any
	for _, args := range [][]string{
		{"TYPE", key}, {"OBJECT", "ENCODING", key}, {"PEXPIRETIME", key}, {"XLEN", key},
		{"XRANGE", key, "-", "+"}, {"XREVRANGE", key, "+", "-", "COUNT", "3"},
		{"XINFO", "STREAM", key, "FULL"}, {"XINFO", "GROUPS", key},
		{"XPENDING", key, "g1"},
	} {
		v, err := do(c, args)
		if err != nil {
			v = strings.ReplaceAll(err.Error(), key, "KEY")
		}
		if args[1] == "STREAM" && !exactTree {
			v = maskTree(v)
		}
		out = append(out, v)
	}
	return fmt.Sprintf("%q", out)
}

// maskTree replaces the radix tree counts of an XINFO STREAM reply: they follow the
// layout of the entries in listpacks, which deleted entries and each server's node
// limits change.
func maskTree(v any) any {
	arr, ok := v.([]any)
	if !ok {
		return v
	}
	out := slices.Clone(arr)
	for i := 0; i+1 < len(out); i += 2 {
		if k, _ := out[i].(string); k == "radix-tree-keys" || k == "radix-tree-nodes" {
			out[i+1] = "N"
		}
	}
	return out
}

// TestDumpRestoreStreamsAcrossRedisServer moves streams both ways: redis-server's DUMP
// restored into the grid reads back as on redis-server, times included (they are in the
// payload); the grid's DUMP of that restored into redis-server reads back the same again,
// into the same listpacks when no entry was deleted.
func TestDumpRestoreStreamsAcrossRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, args := range streamSetup {
		if _, err := do(d.redis, args); err != nil {
			t.Fatal(args, err)
		}
	}
	bigStreams(t, d.redis)
	for _, k := range streamKeys {
		fromRedis, err := do(d.redis, []string{"DUMP", k})
		if err != nil || fromRedis == nil {
			t.Fatalf("DUMP %s on redis: %v %v", k, fromRedis, err)
		}
		// DUMP carries no expiry: RESTORE gives {s}xset the one it has on redis.
		restore := func(c *redis.Client, key string, payload any) error {
			args := []string{"RESTORE", key, "0", payload.(string)}
			if k == "{s}xset" {
				args = append(args, "ABSTTL")
				args[2] = "4102444800000"
			}
			_, err := do(c, args)
			return err
		}
		if err := restore(d.grid, k, fromRedis); err != nil {
			t.Fatalf("RESTORE %s into the grid: %v", k, err)
		}
		want := streamView(t, d.redis, k, false)
		if got := streamView(t, d.grid, k, false); got != want {
			t.Errorf("%s restored into the grid:\n grid: %.1500s\nredis: %.1500s", k, got, want)
		}
		fromGrid, err := do(d.grid, []string{"DUMP", k})
		if err != nil || fromGrid == nil {
			t.Fatalf("DUMP %s on the grid: %v %v", k, fromGrid, err)
		}
		if err := restore(d.redis, k+"g", fromGrid); err != nil {
			t.Fatalf("RESTORE into redis of the grid's DUMP of %s: %v", k, err)
		}
		if err := restore(d.grid, k+"g", fromGrid); err != nil {
			t.Fatalf("RESTORE into the grid of its own DUMP of %s: %v", k, err)
		}
		exactTree := k == "{s}xbig"
		if got := streamView(t, d.redis, k+"g", exactTree); got != streamView(t, d.redis, k, exactTree) {
			t.Errorf("%s through the grid's DUMP into redis:\n got: %.1500s\nwant: %.1500s", k, got, streamView(t, d.redis, k, exactTree))
		}
		if got := streamView(t, d.grid, k+"g", false); got != want {
			t.Errorf("%s through the grid's DUMP into the grid:\n got: %.1500s\nwant: %.1500s", k, got, want)
		}
	}
}

// reseal replaces a payload's object (what precedes its version and checksum) and seals
// it again, so the object itself is what RESTORE judges.
func reseal(payload string, object func(b []byte) []byte) string {
	b := []byte(payload)
	return string(rdb.Seal(object(slices.Clone(b[:len(b)-10]))))
}

// TestRestoreOptionsAcrossRedisServer restores a sorted set and a stream redis-server
// DUMPed into both with every option and every kind of bad payload, comparing replies.
func TestRestoreOptionsAcrossRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, args := range [][]string{
		{"ZADD", "{s}src-z", "1", "a", "2.5", "b", "-inf", "c"},
		{"XADD", "{s}src-x", "1-1", "f", "v"},
		{"XGROUP", "CREATE", "{s}src-x", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "{s}src-x", ">"},
	} {
		if _, err := do(d.redis, args); err != nil {
			t.Fatal(args, err)
		}
	}
	d.check(exact, "SET", "{s}str", "x")
	for _, src := range []string{"{s}src-z", "{s}src-x"} {
		v, err := do(d.redis, []string{"DUMP", src})
		if err != nil {
			t.Fatal(err)
		}
		p := v.(string)
		for _, tc := range []struct {
			class compareClass
			args  []string
		}{
			{exact, []string{"RESTORE", "{s}k", "0", p}},
			{exact, []string{"TYPE", "{s}k"}},
			{exact, []string{"OBJECT", "ENCODING", "{s}k"}},
			{exact, []string{"RESTORE", "{s}k", "0", p}},
			{exact, []string{"RESTORE", "{s}str", "0", p}},
			{exact, []string{"RESTORE", "{s}str", "0", p, "REPLACE"}},
			{exact, []string{"TYPE", "{s}str"}},
			{exact, []string{"RESTORE", "{s}k", "100000", p, "REPLACE"}},
			{shape, []string{"PTTL", "{s}k"}},
			{exact, []string{"RESTORE", "{s}k", "4102444800000", p, "ABSTTL", "REPLACE"}},
			{exact, []string{"PEXPIRETIME", "{s}k"}},
			{exact, []string{"RESTORE", "{s}k", "1", p, "ABSTTL", "REPLACE"}},
			{exact, []string{"EXISTS", "{s}k"}},
			{exact, []string{"RESTORE", "{s}past", "1", p, "ABSTTL"}},
			{exact, []string{"EXISTS", "{s}past"}},
			{exact, []string{"RESTORE", "{s}k", "0", p, "IDLETIME", "1000"}},
			{exact, []string{"OBJECT", "FREQ", "{s}k"}},
			{exact, []string{"CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"}},
			{exact, []string{"RESTORE", "{s}k", "0", p, "FREQ", "100", "REPLACE"}},
			{exact, []string{"OBJECT", "FREQ", "{s}k"}},
			{exact, []string{"OBJECT", "IDLETIME", "{s}k"}},
			{exact, []string{"RESTORE", "{s}k", "0", p, "IDLETIME", "5", "REPLACE"}},
			{exact, []string{"OBJECT", "FREQ", "{s}k"}},
			{exact, []string{"CONFIG", "SET", "maxmemory-policy", "noeviction"}},
			{exact, []string{"RESTORE", "{s}k", "0", p, "FREQ", "7", "REPLACE"}},
			{exact, []string{"RESTORE", "{s}k", "0", p, "FREQ", "256", "REPLACE"}},
			{exact, []string{"RESTORE", "{s}k", "0", p, "IDLETIME", "1", "FREQ", "1", "REPLACE"}},
			// A wrong checksum, a newer version, a payload cut short or too short to have a
			// trailer, an object cut short, one of another type byte.
			{exact, []string{"RESTORE", "{s}bad", "0", p[:len(p)-1] + "x"}},
			{exact, []string{"RESTORE", "{s}bad", "0", p[:len(p)-10] + "\x0b\x00" + p[len(p)-8:]}},
			{exact, []string{"RESTORE", "{s}bad", "0", p[:len(p)-3]}},
			{exact, []string{"RESTORE", "{s}bad", "0", p[:5]}},
			{exact, []string{"RESTORE", "{s}bad", "0", reseal(p, func(b []byte) []byte { return b[:len(b)-1] })}},
			{exact, []string{"RESTORE", "{s}bad", "0", reseal(p, func(b []byte) []byte { return b[:len(b)/2] })}},
			{exact, []string{"RESTORE", "{s}bad", "0", reseal(p, func(b []byte) []byte { return b[:1] })}},
			{exact, []string{"RESTORE", "{s}bad", "0", reseal(p, func(b []byte) []byte { b[0] = 0x63; return b })}},
			{exact, []string{"RESTORE", "{s}bad", "0", reseal(p, func(b []byte) []byte { b[0] = 0x14; return b })}},
			{exact, []string{"EXISTS", "{s}bad"}},
		} {
			d.check(tc.class, tc.args...)
		}
		// IDLETIME: the key was last accessed that long ago, as far as each clock knows.
		for _, c := range []*redis.Client{d.redis, d.grid} {
			if _, err := do(c, []string{"RESTORE", "{s}k", "0", p, "IDLETIME", "1000", "REPLACE"}); err != nil {
				t.Fatal(err)
			}
			if idle, err := do(c, []string{"OBJECT", "IDLETIME", "{s}k"}); err != nil || idle.(int64) < 1000 || idle.(int64) > 1002 {
				t.Errorf("OBJECT IDLETIME after RESTORE IDLETIME 1000: %v %v", idle, err)
			}
		}
		d.check(exact, "DEL", "{s}k")
	}
}

// TestRestoreCorruptPayloadsAgainstRedisServer restores the same corrupted payloads
// (resealed, so the object is judged) into redis-server with sanitize-dump-payload yes and
// into the grid: what redis-server refuses the grid refuses; what both take reads back
// the same (a sorted set's members and scores as a set: redis-server keeps a listpack in
// the disorder it came in). The grid refuses more: what Redis takes but cannot serve
// consistently (a stream whose counts or IDs disagree with its entries, a score that is not
// a number).
func TestRestoreCorruptPayloadsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	if _, err := do(d.redis, []string{"CONFIG", "SET", "sanitize-dump-payload", "yes"}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"ZADD", "{s}zs", "1", "a", "2.5", "b", "-inf", "c", "7", "12345"},
		{"XADD", "{s}x", "1-1", "f", "v", "g", "w"}, {"XADD", "{s}x", "1-2", "f", "x", "g", "y"},
		{"XADD", "{s}x", "2-0", "h", "1"}, {"XGROUP", "CREATE", "{s}x", "g1", "0"},
		{"XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "{s}x", ">"},
		{"XGROUP", "CREATECONSUMER", "{s}x", "g1", "bob"}, {"XGROUP", "CREATE", "{s}x", "g2", "$"},
		{"XDEL", "{s}x", "1-2"},
		{"HSET", "{s}h", "a", "1", "b", "two"}, {"RPUSH", "{s}l", "a", "1", "-5000"}, {"SADD", "{s}si", "1", "2", "70000"},
	} {
		if _, err := do(d.redis, args); err != nil {
			t.Fatal(args, err)
		}
	}
	var seeds [][]byte
	for _, k := range []string{"{s}zs", "{s}x", "{s}h", "{s}l", "{s}si"} {
		v, err := do(d.redis, []string{"DUMP", k})
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, []byte(v.(string)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	runs := 3000
	if testing.Short() {
		runs = 800
	}
	stats := map[string]int{}
	for range runs {
		seed := seeds[rng.IntN(len(seeds))]
		obj := slices.Clone(seed[:len(seed)-10])
		at := rng.IntN(len(obj))
		switch rng.IntN(3) {
		case 0:
			obj[at] ^= byte(1 << rng.IntN(8))
		case 1:
			obj[at] = []byte{0, 0xff, 0x80, 0x40, 0xc0, 0x13, 0x11}[rng.IntN(7)]
		default:
			obj = obj[:max(at, 1)]
		}
		p := string(rdb.Seal(obj))
		for _, c := range []*redis.Client{d.redis, d.grid} {
			if _, err := do(c, []string{"DEL", "{s}k"}); err != nil {
				t.Fatal(err)
			}
		}
		_, rerr := do(d.redis, []string{"RESTORE", "{s}k", "0", p})
		_, gerr := do(d.grid, []string{"RESTORE", "{s}k", "0", p})
		switch {
		case rerr != nil && gerr == nil:
			t.Fatalf("the grid restored what redis-server refuses (%v): %x", rerr, obj)
		case rerr != nil && rerr.Error() != gerr.Error():
			t.Fatalf("refused as %v, redis-server: %v: %x", gerr, rerr, obj)
		case rerr != nil:
			stats["both refuse"]++
		case gerr != nil:
			stats["only the grid refuses"]++
		default:
			stats["both restore"]++
			kind, _ := do(d.redis, []string{"TYPE", "{s}k"})
			var want, got string
			switch kind {
			case "zset":
				w, _ := do(d.redis, []string{"ZRANGE", "{s}k", "0", "-1", "WITHSCORES"})
				g, _ := do(d.grid, []string{"ZRANGE", "{s}k", "0", "-1", "WITHSCORES"})
				want, got = fmt.Sprint(sorted(pairs(w))), fmt.Sprint(sorted(pairs(g)))
			case "stream":
				want, got = streamView(t, d.redis, "{s}k", false), streamView(t, d.grid, "{s}k", false)
			default:
				d.checkValue("{s}k")
			}
			if want != got {
				t.Fatalf("restored %x:\n grid: %.1500s\nredis: %.1500s", obj, got, want)
			}
		}
	}
	t.Logf("%d corrupted payloads: %v", runs, stats)
}

// pairs groups a WITHSCORES reply into member-score pairs.
func pairs(v any) any {
	arr, _ := v.([]any)
	out := make([]any, 0, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		out = append(out, fmt.Sprint(arr[i], "=", arr[i+1]))
	}
	return out
}

// rdbLen appends an RDB length.
func rdbLen(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, byte(n>>8)|0x40, byte(n))
	}
	return binary.BigEndian.AppendUint32(append(b, 0x80), uint32(n))
}

// rdbStr appends an RDB string, raw.
func rdbStr(b []byte, s string) []byte { return append(rdbLen(b, uint64(len(s))), s...) }

// ziplistOf encodes short strings as a ziplist (Redis before 7.0).
func ziplistOf(elems ...string) []byte {
	var body []byte
	prev, tail := 0, 10
	for _, e := range elems {
		tail = 10 + len(body)
		entry := append([]byte{byte(prev), byte(len(e))}, e...)
		body = append(body, entry...)
		prev = len(entry)
	}
	zl := binary.LittleEndian.AppendUint32(nil, uint32(10+len(body)+1))
	zl = binary.LittleEndian.AppendUint32(zl, uint32(tail))
	zl = binary.LittleEndian.AppendUint16(zl, uint16(len(elems)))
	return append(append(zl, body...), 0xff)
}

// streamV1 rewrites the grid's DUMP of a stream (uncompressed, RDB_TYPE_STREAM_LISTPACKS_2)
// as Redis 5 and 6 wrote it (RDB_TYPE_STREAM_LISTPACKS): without the first and
// max-deleted IDs, entries-added and the groups' entries-read. Group and consumer names
// must not be integers (the grid writes those integer-encoded).
func streamV1(t *testing.T, payload string) string {
	t.Helper()
	in := []byte(payload[:len(payload)-10])
	pos := 1
	length := func() uint64 {
		c := in[pos]
		pos++
		switch c >> 6 {
		case 0:
			return uint64(c & 0x3f)
		case 1:
			pos++
			return uint64(c&0x3f)<<8 | uint64(in[pos-1])
		}
		if c == 0x81 {
			pos += 8
			return binary.BigEndian.Uint64(in[pos-8:])
		}
		if c != 0x80 {
			t.Fatalf("length encoding %x at %d", c, pos-1)
		}
		pos += 4
		return uint64(binary.BigEndian.Uint32(in[pos-4:]))
	}
	out := []byte{15}
	copyFrom := func(start int) { out = append(out, in[start:pos]...) }
	str := func() {
		start := pos
		pos += int(length())
		copyFrom(start)
	}
	start := pos
	nodes := length()
	copyFrom(start)
	for range 2 * nodes {
		str()
	}
	start = pos
	length() // length
	length() // last ID
	length()
	copyFrom(start)
	for range 5 { // first ID, max-deleted ID, entries-added
		length()
	}
	start = pos
	groups := length()
	copyFrom(start)
	for range groups {
		str()
		start = pos
		length() // last ID
		length()
		copyFrom(start)
		length() // entries-read
		start = pos
		pel := length()
		for range pel {
			pos += 24
			length()
		}
		consumers := length()
		copyFrom(start)
		for range consumers {
			str()
			start = pos
			pos += 8
			pel := length()
			pos += 16 * int(pel)
			copyFrom(start)
		}
	}
	if pos != len(in) {
		t.Fatalf("stream payload of %d bytes read to %d", len(in), pos)
	}
	return string(rdb.Seal(out))
}

// TestOlderPayloadsAcrossRedisServer restores into redis-server and the grid the sorted
// sets and streams older Redis versions wrote (scores as text, ziplists, streams without
// Redis 7.0's counters): both read them back the same, the counters derived alike.
func TestOlderPayloadsAcrossRedisServer(t *testing.T) {
	d := newDiffRun(t)
	zsetText := rdbLen([]byte{3}, 4)
	for _, ms := range [][2]string{{"a", "1.5"}, {"b", "-3"}, {"c", "+inf"}, {"d", "-inf"}} {
		zsetText = rdbStr(zsetText, ms[0])
		switch ms[1] {
		case "+inf":
			zsetText = append(zsetText, 254)
		case "-inf":
			zsetText = append(zsetText, 255)
		default:
			zsetText = append(append(zsetText, byte(len(ms[1]))), ms[1]...)
		}
	}
	zsetZiplist := rdbStr([]byte{12}, string(ziplistOf("z", "-inf", "x", "1", "y", "2.25")))
	for _, p := range [][]byte{zsetText, zsetZiplist} {
		d.check(exact, "RESTORE", "{s}old", "0", string(rdb.Seal(p)), "REPLACE")
		d.check(exact, "ZRANGE", "{s}old", "0", "-1", "WITHSCORES")
		d.check(exact, "OBJECT", "ENCODING", "{s}old")
	}
	// Streams made on the grid, rewritten as Redis 6 wrote them.
	for _, args := range [][]string{
		{"XADD", "{s}v1", "1-1", "f", "v"}, {"XADD", "{s}v1", "1-2", "f", "w"}, {"XADD", "{s}v1", "3-0", "g", "x"},
		{"XADD", "{s}v1", "4-0", "f", "y"}, {"XDEL", "{s}v1", "1-1", "3-0"},
		{"XGROUP", "CREATE", "{s}v1", "first", "0"}, {"XGROUP", "CREATE", "{s}v1", "last", "$"},
		{"XGROUP", "CREATE", "{s}v1", "mid", "2-0"}, {"XGROUP", "CREATE", "{s}v1", "past", "9-0"},
		{"XREADGROUP", "GROUP", "first", "alice", "COUNT", "1", "STREAMS", "{s}v1", ">"},
		{"XADD", "{s}v1e", "5-5", "a", "1"}, {"XDEL", "{s}v1e", "5-5"}, {"XGROUP", "CREATE", "{s}v1e", "g", "$"},
		{"XADD", "{s}v1n", "1-1", "a", "1"}, {"XADD", "{s}v1n", "2-1", "a", "2"}, {"XGROUP", "CREATE", "{s}v1n", "at", "1-1"},
		{"XGROUP", "CREATE", "{s}v1n", "before", "0-1"},
	} {
		mustDo(t, d.grid, args...)
	}
	for _, k := range []string{"{s}v1", "{s}v1e", "{s}v1n"} {
		p := streamV1(t, mustDo(t, d.grid, "DUMP", k).(string))
		d.check(exact, "RESTORE", k+"old", "0", p)
		if got, want := streamView(t, d.grid, k+"old", false), streamView(t, d.redis, k+"old", false); got != want {
			t.Errorf("%s as Redis 6 wrote it:\n grid: %.1500s\nredis: %.1500s", k, got, want)
		}
	}
}
