package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// connPair is one client connection to Redis and one to the grid, sent the same commands.
type connPair struct {
	t           *testing.T
	name        string
	redis, grid *redis.Conn
	n           *int
}

func (d *diffRun) connPair(name string) *connPair {
	ctx := context.Background()
	p := &connPair{t: d.t, name: name, redis: d.redis.Conn(), grid: d.grid.Conn(), n: &d.n}
	d.t.Cleanup(func() { p.redis.Close(); p.grid.Close() })
	if err := p.redis.Ping(ctx).Err(); err != nil {
		d.t.Fatal(err)
	}
	if err := p.grid.Ping(ctx).Err(); err != nil {
		d.t.Fatal(err)
	}
	return p
}

func doConn(c *redis.Conn, args []string) (any, error) {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = s
	}
	v, err := c.Do(context.Background(), a...).Result()
	if err == redis.Nil {
		return nil, nil
	}
	return v, err
}

// check sends args on both connections, compares the replies exactly and returns the
// grid's: its value, or its error.
func (p *connPair) check(args ...string) any {
	p.t.Helper()
	*p.n++
	want, werr := doConn(p.redis, args)
	got, gerr := doConn(p.grid, args)
	if fmt.Sprint(werr) != fmt.Sprint(gerr) || !reflect.DeepEqual(want, got) {
		p.t.Errorf("command %d, client %s %q:\nredis: %v %v\n grid: %v %v", *p.n, p.name, args, want, werr, got, gerr)
	}
	if gerr != nil {
		return gerr
	}
	return got
}

// TestTransactionsAgainstRedisServer runs random transactions on one connection while a
// second one writes between its commands, some of them writes that change nothing (which
// Redis does not count as touching a watched key), and compares every reply of both:
// +QUEUED and the refusals that abort a transaction, EXEC's array with its runtime errors,
// EXECABORT, the null array of a transaction whose watched key changed, DISCARD, UNWATCH,
// and what the keys hold afterwards.
func TestTransactionsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	a, b := d.connPair("A"), d.connPair("B")
	rng := rand.New(rand.NewPCG(7, 11))
	keys := []string{"{k}a", "{k}b", "{k}l", "{k}s", "{k}h", "{k}n"}
	key := func() string { return keys[rng.IntN(len(keys))] }
	val := func() string { return []string{"1", "7", "x", "", "-3"}[rng.IntN(5)] }
	// write is a write some of whose forms change nothing.
	write := func() []string {
		k := key()
		switch rng.IntN(20) {
		case 0:
			return []string{"SET", k, val()}
		case 1:
			return []string{"SET", k, val(), []string{"NX", "XX"}[rng.IntN(2)]}
		case 2:
			return []string{"SETNX", k, val()}
		case 3:
			return []string{"INCR", k}
		case 4:
			return []string{"INCRBY", k, "0"}
		case 5:
			return []string{"DEL", k, key()}
		case 6:
			return []string{"LPUSH", k, val()}
		case 7:
			return []string{"LPUSHX", k, val()}
		case 8:
			return []string{"RPOP", k}
		case 9:
			return []string{"SADD", k, val()}
		case 10:
			return []string{"SREM", k, val()}
		case 11:
			return []string{"HSET", k, "f", val()}
		case 12:
			return []string{"HDEL", k, "f"}
		case 13:
			return []string{"EXPIRE", k, "1000"}
		case 14:
			return []string{"PERSIST", k}
		case 15:
			return []string{"APPEND", k, val()}
		case 16:
			return []string{"RPOPLPUSH", k, key()}
		case 17:
			return []string{"RENAME", k, key()}
		case 18:
			return []string{"HINCRBY", k, "f", "1"}
		default:
			return []string{"GETDEL", k}
		}
	}
	// queued is a command for a transaction: mostly writes and reads, some refused while
	// queueing (unknown, arity, CROSSSLOT), some that act at once inside MULTI.
	queued := func() []string {
		k := key()
		switch rng.IntN(24) {
		case 0:
			return []string{"GET", k}
		case 1:
			return []string{"MGET", k, key()}
		case 2:
			return []string{"TYPE", k}
		case 3:
			return []string{"LRANGE", k, "0", "-1"}
		case 4:
			return []string{"BLPOP", k, "0"}
		case 5:
			return []string{"BLMOVE", k, key(), "LEFT", "RIGHT", "0"}
		case 6:
			return []string{"NOSUCHCOMMAND", k}
		case 7:
			return []string{"GET"}
		case 8:
			return []string{"MGET", k, "{j}x"}
		case 9:
			return []string{"WATCH", k}
		case 10:
			return []string{"MULTI"}
		case 11:
			return []string{"PING"}
		case 12:
			return []string{"UNWATCH"}
		case 13:
			return []string{"SISMEMBER", k, val()}
		case 14:
			return []string{"HGETALL", k}
		case 15:
			return []string{"INCR", "{j}x"} // another slot: CROSSSLOT at EXEC beside a {k} key
		default:
			return write()
		}
	}
	steps := 1500
	if testing.Short() {
		steps = 500
	}
	outcomes := map[string]int{}
	for range steps {
		if rng.IntN(2) == 0 {
			args := []string{"WATCH"}
			for range 1 + rng.IntN(3) {
				args = append(args, key())
			}
			a.check(args...)
		}
		for range rng.IntN(3) {
			b.check(write()...)
		}
		if rng.IntN(8) == 0 {
			a.check("UNWATCH")
		}
		a.check("MULTI")
		for range rng.IntN(6) {
			a.check(queued()...)
			if rng.IntN(4) == 0 {
				b.check(write()...)
			}
		}
		switch rng.IntN(12) {
		case 0:
			a.check("DISCARD")
		case 1:
			a.check("EXEC", "extra")
		default:
			switch v := a.check("EXEC").(type) {
			case error:
				outcomes[strings.Fields(v.Error())[0]]++
			case nil:
				outcomes["null (a watched key changed)"]++
			default:
				outcomes["ran"]++
			}
		}
		if rng.IntN(10) == 0 {
			a.check("EXEC") // without MULTI
		}
		for _, k := range keys {
			b.check("TYPE", k)
		}
	}
	for _, k := range keys {
		switch typ, _ := doConn(b.grid, []string{"TYPE", k}); typ {
		case "string":
			b.check("GET", k)
		case "list":
			b.check("LRANGE", k, "0", "-1")
		case "hash":
			b.check("HGETALL", k)
		}
	}
	t.Logf("%d commands compared; EXEC outcomes: %v", d.n, outcomes)
	for _, o := range []string{"ran", "null (a watched key changed)", "EXECABORT", "CROSSSLOT"} {
		if outcomes[o] == 0 {
			t.Errorf("no EXEC ended %s: the random transactions miss a case", o)
		}
	}
}

// TestTransactionEdgesAgainstRedisServer compares the fixed cases: nesting, commands
// that act at once inside MULTI, arity of the transaction commands themselves, CROSSSLOT
// across queued commands, and watches of keys of two slots.
func TestTransactionEdgesAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	a, b := d.connPair("A"), d.connPair("B")
	for _, args := range [][]string{
		{"EXEC"}, {"DISCARD"}, {"EXEC", "x"}, {"DISCARD", "x"}, {"MULTI", "x"}, {"WATCH"}, {"UNWATCH", "x"},
		{"MULTI"}, {"EXEC"},
		{"MULTI"}, {"MULTI"}, {"SET", "{k}a", "1"}, {"EXEC"},
		{"MULTI"}, {"WATCH", "{k}a"}, {"INCR", "{k}a"}, {"EXEC"},
		{"MULTI"}, {"EXEC", "x"}, {"EXEC"},
		{"MULTI"}, {"DISCARD", "x"}, {"EXEC"},
		{"MULTI"}, {"SET", "{k}a", "1"}, {"SET", "{j}b", "2"}, {"EXEC"},
		{"MULTI"}, {"SET", "{k}a", "1"}, {"NOPE"}, {"SET", "{j}b", "2"}, {"EXEC"},
		{"MULTI"}, {"MSET", "{k}a", "1", "{j}b", "2"}, {"GET", "{k}a"}, {"EXEC"},
		{"MULTI"}, {"PING"}, {"ECHO", "hi"}, {"EXEC"},
		{"SET", "{k}s", "str"}, {"MULTI"}, {"INCR", "{k}s"}, {"SET", "{k}c", "1"}, {"LPUSH", "{k}s", "x"}, {"EXEC"}, {"GET", "{k}c"},
		{"DEL", "{k}l"}, {"MULTI"}, {"BLPOP", "{k}l", "0"}, {"BRPOP", "{k}l", "0"}, {"BLMOVE", "{k}l", "{k}m", "LEFT", "LEFT", "0"},
		{"BRPOPLPUSH", "{k}l", "{k}m", "0"}, {"BLMPOP", "0", "1", "{k}l", "LEFT"}, {"BZPOPMIN", "{k}z", "0"},
		{"BZMPOP", "0", "1", "{k}z", "MAX"}, {"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"}, {"WAIT", "0", "0"}, {"EXEC"},
		{"XADD", "{k}x", "1-1", "f", "v"}, {"XGROUP", "CREATE", "{k}x", "g", "$"}, {"MULTI"},
		{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"EXEC"},
		{"MULTI"}, {"LPUSH", "{k}l", "v"}, {"BLPOP", "{k}l", "0"}, {"EXEC"},
		{"WATCH", "{k}a", "{j}b"},
		{"WATCH", "{k}a"}, {"WATCH", "{j}b"}, {"MULTI"}, {"SET", "{k}z", "1"}, {"EXEC"},
		{"MULTI"}, {"SET", "{k}a", "1"}, {"SET", "{j}b", "2"}, {"EXEC"}, {"MULTI"}, {"EXEC"},
		{"MULTI"}, {"UNWATCH"}, {"EXEC"},
	} {
		a.check(args...)
	}
	// A watched key of another slot than the transaction's, written by another client.
	a.check("WATCH", "{k}a")
	a.check("WATCH", "{j}b")
	b.check("SET", "{j}b", "3")
	a.check("MULTI")
	a.check("SET", "{k}z", "1")
	a.check("EXEC")
	// Flushing touches the watched keys that exist, only those.
	for _, exists := range []bool{false, true} {
		b.check("FLUSHALL")
		if exists {
			b.check("SET", "{k}a", "1")
		}
		a.check("WATCH", "{k}a")
		b.check("FLUSHALL")
		a.check("MULTI")
		a.check("PING")
		a.check("EXEC")
	}
	// Another client's transaction touches a watched key; a watch then DISCARD forgets it.
	a.check("WATCH", "{k}a")
	b.check("MULTI")
	b.check("SET", "{k}a", "2")
	b.check("EXEC")
	a.check("MULTI")
	a.check("GET", "{k}a")
	a.check("EXEC")
	a.check("WATCH", "{k}a")
	b.check("SET", "{k}a", "3")
	a.check("MULTI")
	a.check("DISCARD")
	a.check("MULTI")
	a.check("GET", "{k}a")
	a.check("EXEC")
	// Own writes touch too; a key expired before WATCH is not touched by its removal.
	a.check("WATCH", "{k}a")
	a.check("SET", "{k}a", "4")
	a.check("MULTI")
	a.check("EXEC")
	a.check("SET", "{k}e", "1", "PX", "1")
	testutil.Eventually(t, 10*time.Second, "{k}e expired on both", func() bool {
		g, _ := doConn(a.grid, []string{"EXISTS", "{k}e"})
		r, _ := doConn(a.redis, []string{"EXISTS", "{k}e"})
		return g == int64(0) && r == int64(0)
	})
	a.check("WATCH", "{k}e")
	a.check("MULTI")
	a.check("GET", "{k}e")
	a.check("EXEC")
	a.check("WATCH", "{k}e")
	b.check("SET", "{k}e", "2")
	a.check("MULTI")
	a.check("GET", "{k}e")
	a.check("EXEC")
	for _, name := range []string{"multi", "exec", "discard", "watch", "unwatch"} {
		want, werr := doConn(a.redis, []string{"COMMAND", "INFO", name})
		got, gerr := doConn(a.grid, []string{"COMMAND", "INFO", name})
		if werr != nil || gerr != nil {
			t.Fatalf("COMMAND INFO %s: %v %v", name, werr, gerr)
		}
		w, g := want.([]any)[0].([]any), got.([]any)[0].([]any)
		if fmt.Sprint(w[:6]) != fmt.Sprint(g[:6]) {
			t.Errorf("COMMAND INFO %s:\nredis: %v\n grid: %v", name, w[:6], g[:6])
		}
		if fmt.Sprint(w[8]) != fmt.Sprint(g[8]) {
			t.Errorf("COMMAND INFO %s key specs:\nredis: %v\n grid: %v", name, w[8], g[8])
		}
	}
}
