package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// pendingIdle matches an entry of XPENDING's extended form up to its idle milliseconds.
var pendingIdle = regexp.MustCompile(`(\*4\r\n\$\d+\r\n[0-9]+-[0-9]+\r\n\$\d+\r\n[^\r]*\r\n):\d+\r\n`)

// The blocking commands against redis-server: clients block in turn on both servers,
// another client writes, and every reply (the blocked clients' included) is compared
// byte for byte in RESP2.

// rawConn is a RESP connection whose replies are read whole, as raw bytes.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *rawConn) send(args ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, encodeCmd(args...)); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one whole reply.
func (c *rawConn) reply() string {
	c.t.Helper()
	if err := c.nc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	var b strings.Builder
	if err := readReply(c.br, &b); err != nil {
		c.t.Fatalf("reading a reply: %v (so far %q)", err, b.String())
	}
	return b.String()
}

func readReply(br *bufio.Reader, b *strings.Builder) error {
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	b.WriteString(line)
	if len(line) < 3 {
		return fmt.Errorf("short line %q", line)
	}
	n, _ := strconv.Atoi(strings.TrimRight(line[1:], "\r\n"))
	switch line[0] {
	case '$', '=':
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		b.Write(buf)
	case '*', '~', '>':
		for range max(n, 0) {
			if err := readReply(br, b); err != nil {
				return err
			}
		}
	case '%':
		for range 2 * n {
			if err := readReply(br, b); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *rawConn) do(args ...string) string {
	c.t.Helper()
	c.send(args...)
	return c.reply()
}

// waitBlockedRaw waits until the server c is connected to reports n blocked clients.
func (c *rawConn) waitBlocked(n int) {
	c.t.Helper()
	want := fmt.Sprintf("blocked_clients:%d\r\n", n)
	for deadline := time.Now().Add(5 * time.Second); ; {
		info := c.do("INFO", "clients")
		if strings.Contains(info, want) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("waiting for %q:\n%s", want, info)
		}
		time.Sleep(time.Millisecond) // polling
	}
}

// newDiffRunExpiring is newDiffRun with the grid's active expiry running, as an instance
// runs it: a stream key that expires unblocks its group readers without being touched.
func newDiffRunExpiring(t *testing.T) *diffRun {
	t.Helper()
	rdb := startRedis(t)
	s, dial := startServer(t, Config{Replication: Standalone{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.store.RunExpiry(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	grid := redis.NewClient(&redis.Options{Addr: dial().nc.RemoteAddr().String(), Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { grid.Close() })
	return &diffRun{t: t, redis: rdb, grid: grid}
}

func TestBlockingAgainstRedisServer(t *testing.T) {
	d := newDiffRunExpiring(t)
	redisAddr, gridAddr := d.redis.Options().Addr, d.grid.Options().Addr
	tests := []struct {
		name     string
		setup    [][]string
		blockers [][]string // each on its own connection, in this order
		writes   [][]string
		check    []string // keys whose lists are compared at the end
		after    [][]string
		resp3    bool // the blocked clients speak RESP3
	}{
		{name: "fifo", blockers: [][]string{{"BLPOP", "{k}a", "0"}, {"BRPOP", "{k}b", "{k}a", "0"}, {"BLPOP", "{k}a", "{k}b", "0"}},
			writes: [][]string{{"RPUSH", "{k}a", "1", "2", "3", "4"}, {"LLEN", "{k}a"}}, check: []string{"{k}a"}},
		{name: "one push serves two", blockers: [][]string{{"BRPOP", "{k}a", "0"}, {"BRPOP", "{k}a", "0"}},
			writes: [][]string{{"LPUSH", "{k}a", "1", "2", "3"}}, check: []string{"{k}a"}},
		{name: "same key twice", blockers: [][]string{{"BLPOP", "{k}a", "{k}a", "0"}},
			writes: [][]string{{"LPUSH", "{k}a", "1", "2"}}, check: []string{"{k}a"}},
		{name: "blmpop count", blockers: [][]string{{"BLMPOP", "0", "2", "{k}a", "{k}b", "LEFT", "COUNT", "3"}, {"BLMPOP", "0", "1", "{k}b", "RIGHT"}},
			writes: [][]string{{"RPUSH", "{k}b", "1", "2"}, {"RPUSH", "{k}b", "3", "4", "5"}}, check: []string{"{k}b"}},
		{name: "blmove chain", blockers: [][]string{{"BLMOVE", "{k}a", "{k}b", "LEFT", "RIGHT", "0"}, {"BLPOP", "{k}b", "0"}},
			writes: [][]string{{"RPUSH", "{k}a", "x", "y"}, {"LLEN", "{k}b"}}, check: []string{"{k}a", "{k}b"}},
		{name: "blmove rotation", setup: [][]string{{"RPUSH", "{k}t", "1", "2", "3"}},
			blockers: [][]string{{"BRPOPLPUSH", "{k}a", "{k}a", "0"}},
			writes:   [][]string{{"RENAME", "{k}t", "{k}a"}}, check: []string{"{k}a"}},
		{name: "blmove destination of another type", setup: [][]string{{"SET", "{k}d", "s"}},
			blockers: [][]string{{"BLMOVE", "{k}a", "{k}d", "LEFT", "LEFT", "0"}, {"BLPOP", "{k}a", "0"}},
			writes:   [][]string{{"RPUSH", "{k}a", "1", "2"}}, check: []string{"{k}a"}},
		{name: "key of another type meanwhile", blockers: [][]string{{"BLPOP", "{k}a", "0"}},
			writes: [][]string{{"SET", "{k}a", "s"}, {"DEL", "{k}a"}, {"RPUSH", "{k}a", "z"}}, check: []string{"{k}a"}},
		{name: "copy and rpoplpush wake", setup: [][]string{{"RPUSH", "{k}t", "1", "2"}},
			blockers: [][]string{{"BLPOP", "{k}a", "0"}, {"BLPOP", "{k}b", "0"}},
			writes:   [][]string{{"COPY", "{k}t", "{k}a"}, {"RPOPLPUSH", "{k}t", "{k}b"}, {"LRANGE", "{k}t", "0", "-1"}}},
		{name: "timeout", blockers: [][]string{{"BLPOP", "{k}a", "0.01"}, {"BLMOVE", "{k}a", "{k}b", "LEFT", "LEFT", "0.01"}, {"BLMPOP", "0.01", "1", "{k}a", "LEFT"}}},
		{name: "zset fifo", blockers: [][]string{{"BZPOPMIN", "{k}a", "0"}, {"BZPOPMAX", "{k}b", "{k}a", "0"}, {"BZMPOP", "0", "2", "{k}a", "{k}b", "MIN", "COUNT", "2"}},
			writes: [][]string{{"ZADD", "{k}a", "1", "x", "2", "y", "3", "z", "4", "w", "5", "v"}, {"ZCARD", "{k}a"}},
			after:  [][]string{{"ZRANGE", "{k}a", "0", "-1", "WITHSCORES"}}},
		{name: "zset resp3", resp3: true, blockers: [][]string{{"BZPOPMIN", "{k}a", "0"}, {"BZMPOP", "0", "1", "{k}a", "MAX", "COUNT", "2"}},
			writes: [][]string{{"ZADD", "{k}a", "1.5", "x", "2", "y", "3e3", "z"}}},
		{name: "zset stores wake", setup: [][]string{{"ZADD", "{k}s", "1", "x", "2", "y"}},
			blockers: [][]string{{"BZPOPMIN", "{k}a", "0"}, {"BZPOPMAX", "{k}b", "0"}, {"BZPOPMIN", "{k}c", "0"}, {"BZMPOP", "0", "1", "{k}d", "MAX", "COUNT", "5"}},
			writes: [][]string{{"ZUNIONSTORE", "{k}a", "2", "{k}s", "{k}s"}, {"ZINTERSTORE", "{k}b", "1", "{k}s"},
				{"ZRANGESTORE", "{k}c", "{k}s", "1", "1"}, {"ZDIFFSTORE", "{k}d", "1", "{k}s"}},
			after: [][]string{{"ZRANGE", "{k}a", "0", "-1", "WITHSCORES"}, {"ZRANGE", "{k}b", "0", "-1"}, {"EXISTS", "{k}c", "{k}d"}}},
		{name: "zincrby and copy wake", setup: [][]string{{"ZADD", "{k}s", "7", "x"}},
			blockers: [][]string{{"BZPOPMIN", "{k}a", "0"}, {"BZPOPMIN", "{k}b", "0"}},
			writes:   [][]string{{"ZINCRBY", "{k}a", "0.25", "m"}, {"COPY", "{k}s", "{k}b"}}},
		{name: "list and zset waiters on one key", blockers: [][]string{{"BLPOP", "{k}a", "0"}, {"BZPOPMIN", "{k}a", "0"}},
			writes: [][]string{{"ZADD", "{k}a", "1", "x", "2", "y"}, {"DEL", "{k}a"}, {"RPUSH", "{k}a", "l"}}},
		{name: "zset timeout", blockers: [][]string{{"BZPOPMIN", "{k}a", "0.01"}, {"BZPOPMAX", "{k}a", "{k}b", "0.01"}, {"BZMPOP", "0.01", "1", "{k}a", "MIN"}}},
		{name: "xread", setup: [][]string{{"XADD", "{k}x", "1-1", "f", "v"}},
			blockers: [][]string{{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"}, {"XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "{k}y", "{k}x", "0-0", "1-1"},
				{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "5-0"}, {"XREAD", "BLOCK", "0", "STREAMS", "{k}y", "$"}},
			writes: [][]string{{"XADD", "{k}x", "2-1", "a", "1"}, {"XADD", "{k}x", "6-0", "b", "2"}, {"SET", "{k}y", "s"}, {"DEL", "{k}y"}, {"XADD", "{k}y", "1-0", "c", "3"}}},
		{name: "xread count and rename", setup: [][]string{{"XADD", "{k}t", "1-0", "a", "1"}, {"XADD", "{k}t", "2-0", "b", "2"}, {"XADD", "{k}t", "3-0", "c", "3"}},
			blockers: [][]string{{"XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "{k}x", "0-0"}},
			writes:   [][]string{{"RENAME", "{k}t", "{k}x"}}},
		{name: "xread resp3", resp3: true, blockers: [][]string{{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "{k}x", "$", "0-0"}},
			writes: [][]string{{"XADD", "{k}x", "1-1", "f", "v"}}},
		{name: "xreadgroup", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c1", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "g", "c2", "COUNT", "1", "NOACK", "BLOCK", "0", "STREAMS", "{k}x", ">"}},
			writes:   [][]string{{"XADD", "{k}x", "1-1", "a", "1"}, {"XADD", "{k}x", "2-1", "b", "2"}},
			after:    [][]string{{"XPENDING", "{k}x", "g"}, {"XINFO", "GROUPS", "{k}x"}, {"XREADGROUP", "GROUP", "g", "c1", "STREAMS", "{k}x", "0"}}},
		{name: "xreadgroup group destroyed", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}x", "h", "$"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "h", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}},
			writes:   [][]string{{"XGROUP", "DESTROY", "{k}x", "g"}, {"XADD", "{k}x", "1-1", "a", "1"}}},
		{name: "xreadgroup stream deleted", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}},
			writes:   [][]string{{"DEL", "{k}x"}, {"XADD", "{k}x", "1-1", "a", "1"}}},
		{name: "xreadgroup stream replaced", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}y", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"},
				{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}y", ">"}},
			writes: [][]string{{"SET", "{k}x", "s"}, {"DEL", "{k}x"}, {"XADD", "{k}x", "1-1", "a", "1"}, {"FLUSHALL"}}},
		{name: "xreadgroup stream renamed away", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}y", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}y", ">"}},
			writes:   [][]string{{"RENAME", "{k}x", "{k}z"}, {"UNLINK", "{k}y"}, {"EXISTS", "{k}x", "{k}y", "{k}z"}}},
		{name: "xreadgroup stream renamed over", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}y", "g", "$", "MKSTREAM"},
			{"XADD", "{k}s", "5-0", "f", "v"}, {"XGROUP", "CREATE", "{k}s", "g", "0"}, {"XADD", "{k}t", "6-0", "f", "w"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}y", ">"}},
			writes:   [][]string{{"RENAME", "{k}s", "{k}x"}, {"COPY", "{k}t", "{k}y", "REPLACE"}},
			after:    [][]string{{"XPENDING", "{k}x", "g"}}},
		{name: "xreadgroup stream expired in the past", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}},
			writes:   [][]string{{"PEXPIREAT", "{k}x", "1"}, {"EXISTS", "{k}x"}}},
		{name: "xreadgroup stream expired", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}y", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}y", "{k}x", ">", ">"}},
			writes:   [][]string{{"PEXPIRE", "{k}x", "20"}}},
		{name: "xreadgroup one of two streams deleted", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}y", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", "0", "STREAMS", "{k}x", "{k}y", ">", ">"}},
			writes:   [][]string{{"DEL", "{k}y"}, {"XADD", "{k}x", "1-1", "a", "1"}},
			after:    [][]string{{"XLEN", "{k}x"}}},
		{name: "xreadgroup stream recreated in a transaction", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}y", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}y", ">"}},
			writes: [][]string{{"MULTI"}, {"DEL", "{k}x", "{k}y"}, {"XADD", "{k}x", "1-1", "a", "1"}, {"XGROUP", "CREATE", "{k}x", "g", "0"},
				{"XADD", "{k}y", "2-1", "b", "2"}, {"EXEC"}},
			after: [][]string{{"XPENDING", "{k}x", "g"}}},
		{name: "xreadgroup group destroyed and recreated", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"}},
			writes: [][]string{{"MULTI"}, {"XGROUP", "DESTROY", "{k}x", "g"}, {"XGROUP", "CREATE", "{k}x", "g", "$"}, {"EXEC"},
				{"XGROUP", "DESTROY", "{k}x", "g"}, {"XADD", "{k}x", "1-1", "a", "1"}}},
		{name: "xreadgroup consumer deleted", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}},
			writes:   [][]string{{"XGROUP", "DELCONSUMER", "{k}x", "g", "c"}, {"XADD", "{k}x", "1-1", "a", "1"}},
			after:    [][]string{{"XPENDING", "{k}x", "g"}}}, // the consumer is back, owning the entry
		{name: "xreadgroup entries deleted and group rewound", setup: [][]string{{"XADD", "{k}x", "1-1", "a", "1"}, {"XGROUP", "CREATE", "{k}x", "g", "$"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}},
			writes:   [][]string{{"XDEL", "{k}x", "1-1"}, {"XTRIM", "{k}x", "MAXLEN", "0"}, {"XGROUP", "SETID", "{k}x", "g", "0"}, {"XADD", "{k}x", "3-1", "c", "3"}}},
		{name: "xread through deletions", setup: [][]string{{"XADD", "{k}x", "1-1", "a", "1"}, {"XADD", "{k}x", "2-1", "b", "2"}, {"XGROUP", "CREATE", "{k}x", "g", "$"}},
			blockers: [][]string{{"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "$"}, {"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "2-5"}},
			writes: [][]string{{"XDEL", "{k}x", "1-1", "2-1"}, {"XTRIM", "{k}x", "MAXLEN", "0"}, {"XGROUP", "DESTROY", "{k}x", "g"}, {"DEL", "{k}x"},
				{"XADD", "{k}x", "1-5", "c", "3"}, {"PEXPIREAT", "{k}x", "1"}, {"SET", "{k}x", "s"}, {"RENAME", "{k}x", "{k}y"}, {"XADD", "{k}x", "3-0", "d", "4"}}},
		{name: "xreadgroup resp3 and setid", resp3: true, setup: [][]string{{"XADD", "{k}x", "1-1", "f", "v"}, {"XGROUP", "CREATE", "{k}x", "g", "$"}},
			blockers: [][]string{{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}},
			writes:   [][]string{{"XGROUP", "SETID", "{k}x", "g", "0"}, {"XADD", "{k}x", "2-1", "f", "w"}},
			after:    [][]string{{"XPENDING", "{k}x", "g", "-", "+", "10"}}},
		{name: "stream timeout", setup: [][]string{{"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"}},
			blockers: [][]string{{"XREAD", "BLOCK", "10", "STREAMS", "{k}x", "$"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "{k}x", ">"}}},
		{name: "stream timeout resp3", resp3: true, blockers: [][]string{{"XREAD", "BLOCK", "10", "STREAMS", "{k}x", "$"}, {"BZPOPMIN", "{k}z", "0.01"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type side struct {
				ctl      *rawConn
				blockers []*rawConn
			}
			sides := []*side{{ctl: dialRaw(t, redisAddr)}, {ctl: dialRaw(t, gridAddr)}}
			both := func(args ...string) {
				t.Helper()
				want, got := sides[0].ctl.do(args...), sides[1].ctl.do(args...)
				if strings.EqualFold(args[0], "XPENDING") && len(args) > 3 {
					// The extended form's idle times depend on when the millisecond ticks.
					want, got = pendingIdle.ReplaceAllString(want, "$1:0\r\n"), pendingIdle.ReplaceAllString(got, "$1:0\r\n")
				}
				if want != got {
					t.Errorf("%q:\nredis: %q\n grid: %q", args, want, got)
				}
			}
			both("FLUSHALL")
			for _, args := range tc.setup {
				both(args...)
			}
			timeouts := slices.ContainsFunc(tc.blockers, func(b []string) bool { return slices.Contains(b, "0.01") || slices.Contains(b, "10") })
			for _, sd := range sides {
				addr := redisAddr
				if sd == sides[1] {
					addr = gridAddr
				}
				for i, args := range tc.blockers {
					b := dialRaw(t, addr)
					if tc.resp3 {
						b.do("HELLO", "3")
					}
					b.send(args...)
					if !timeouts {
						sd.ctl.waitBlocked(i + 1)
					}
					sd.blockers = append(sd.blockers, b)
				}
			}
			for _, args := range tc.writes {
				both(args...)
			}
			for i := range tc.blockers {
				want, got := sides[0].blockers[i].reply(), sides[1].blockers[i].reply()
				if want != got {
					t.Errorf("blocked client %d %q:\nredis: %q\n grid: %q", i, tc.blockers[i], want, got)
				}
			}
			for _, k := range tc.check {
				both("LRANGE", k, "0", "-1")
			}
			for _, args := range tc.after {
				both(args...)
			}
			for _, sd := range sides {
				sd.ctl.waitBlocked(0)
			}
		})
	}
}

// TestBlockedStreamEvictedAgainstRedisServer evicts the stream a group reader waits on
// (the only volatile key under volatile-ttl, with maxmemory far below what is used) and
// compares what the reader is answered and which keys are left.
func TestBlockedStreamEvictedAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	var replies [2][]string
	for i, addr := range []string{d.redis.Options().Addr, d.grid.Options().Addr} {
		ctl, reader := dialRaw(t, addr), dialRaw(t, addr)
		for _, args := range [][]string{{"FLUSHALL"}, {"XGROUP", "CREATE", "{k}x", "g", "$", "MKSTREAM"},
			{"PEXPIRE", "{k}x", "100000"}, {"SET", "{k}keep", "v"}} {
			ctl.do(args...)
		}
		reader.send("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">")
		ctl.waitBlocked(1)
		ctl.do("CONFIG", "SET", "maxmemory-policy", "volatile-ttl")
		ctl.do("CONFIG", "SET", "maxmemory", "1")
		ctl.do("SET", "{k}w", "v") // refused for memory either way, after evicting the stream
		replies[i] = append(replies[i], reader.reply())
		ctl.do("CONFIG", "SET", "maxmemory", "0")
		ctl.do("CONFIG", "SET", "maxmemory-policy", "noeviction")
		replies[i] = append(replies[i], ctl.do("EXISTS", "{k}x"), ctl.do("EXISTS", "{k}keep"))
		ctl.waitBlocked(0)
	}
	if !slices.Equal(replies[0], replies[1]) {
		t.Errorf("reader's reply, then EXISTS of the stream and of the other key:\nredis: %q\n grid: %q", replies[0], replies[1])
	}
}

// TestBlockingArgumentsAgainstRedisServer compares what the blocking commands answer at
// once: timeouts parsed or refused (a list with data answers a valid one), wrong types,
// syntax and arity errors, CLIENT UNBLOCK's checks, and COMMAND INFO.
func TestBlockingArgumentsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	d.check(exact, "RPUSH", "{k}full", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20")
	d.check(exact, "SET", "{k}s", "x")
	for _, timeout := range []string{"0", "-1", "x", "inf", "-inf", "+inf", "nan", "1e400", "-1e400", "0x10", "0x", " 1", "1 ",
		"1e3", "-0", "+0.5", ".5", "5.", "1e-400", "0.0001", "-0.0001", "9223372036854775", "9223372036854775807",
		"18446744073709551616", "1_0", "0b1", "", "1e", "2.5e-3"} {
		d.check(exact, "BLPOP", "{k}full", timeout)
		d.check(exact, "BLMOVE", "{k}full", "{k}full", "LEFT", "RIGHT", timeout)
	}
	for _, args := range [][]string{
		{"BLPOP", "{k}none", "{k}s", "0"}, {"BLPOP", "{k}full", "{k}s", "0"}, {"BRPOP", "{k}s", "{k}full", "0"},
		{"BRPOPLPUSH", "{k}s", "{k}d", "0"}, {"BLMOVE", "{k}full", "{k}s", "LEFT", "LEFT", "0"},
		{"BLMOVE", "{k}full", "{k}d", "UP", "LEFT", "0"}, {"BLMOVE", "{k}full", "{k}d", "LEFT", "DOWN", "x"},
		{"BLMPOP", "x", "0", "{k}full", "LEFT"}, {"BLMPOP", "x", "1", "{k}full", "LEFT", "COUNT", "0"},
		{"BLMPOP", "x", "1", "{k}full", "MID"}, {"BLMPOP", "x", "1", "{k}full", "LEFT"},
		{"BLMPOP", "0", "2", "{k}none", "{k}full", "RIGHT", "COUNT", "3"}, {"BLMPOP", "0", "1", "{k}full", "LEFT", "COUNT", "2", "COUNT", "2"},
		{"BLMPOP", "0", "1", "{k}full", "LEFT", "COUNT"}, {"BLMPOP", "0", "5", "{k}full", "LEFT"}, {"BLMPOP", "0", "1", "{k}s", "LEFT"},
		{"BLPOP", "{k}full"}, {"BRPOPLPUSH", "{k}full", "{k}d"}, {"BLMPOP", "0", "1", "{k}full"},
		{"CLIENT", "UNBLOCK", "1", "foo"}, {"CLIENT", "UNBLOCK", "x", "foo"}, {"CLIENT", "UNBLOCK", "x"},
		{"CLIENT", "UNBLOCK", "99999"}, {"CLIENT", "UNBLOCK", "99999", "error"},
	} {
		d.check(exact, args...)
	}
	d.check(exact, "LRANGE", "{k}full", "0", "-1")
	// Sorted sets and streams: with data they answer at once, so every timeout is checked.
	d.check(exact, "ZADD", "{k}z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f", "7", "g", "8", "h", "9", "i")
	for i := range 40 {
		d.check(exact, "ZADD", "{k}z", strconv.Itoa(10+i), "m"+strconv.Itoa(i))
	}
	d.check(exact, "XADD", "{k}x", "1-1", "f", "v")
	d.check(exact, "XGROUP", "CREATE", "{k}x", "g", "0")
	for _, timeout := range []string{"0", "-1", "x", "inf", "nan", "1e400", "0x10", "", "1e3", "-0", ".5", "1e-400", "-0.0001", "9223372036854775807"} {
		d.check(exact, "BZPOPMIN", "{k}z", timeout)
		d.check(exact, "BZMPOP", timeout, "1", "{k}z", "MAX")
	}
	for _, timeout := range []string{"0", "-1", "x", "1.5", "", "+1", " 1", "-0", "0x10", "9223372036854775807", "9223372036854775808", "18446744073709551616"} {
		d.check(exact, "XREAD", "BLOCK", timeout, "STREAMS", "{k}x", "0")
	}
	for _, args := range [][]string{
		{"BZPOPMIN", "{k}none", "{k}s", "0"}, {"BZPOPMAX", "{k}z", "{k}s", "0"}, {"BZPOPMAX", "{k}s", "{k}z", "0"}, {"BZPOPMIN", "{k}full", "0"},
		{"BZMPOP", "x", "0", "{k}z", "MIN"}, {"BZMPOP", "x", "y", "{k}z", "MIN"}, {"BZMPOP", "x", "1", "{k}z", "MIN", "COUNT", "0"},
		{"BZMPOP", "x", "1", "{k}z", "MID"}, {"BZMPOP", "x", "1", "{k}z", "MIN"}, {"BZMPOP", "x", "2", "{k}z", "{k}b"},
		{"BZMPOP", "0", "2", "{k}none", "{k}z", "MAX", "COUNT", "3"}, {"BZMPOP", "0", "1", "{k}z", "MIN", "COUNT", "2", "COUNT", "2"},
		{"BZMPOP", "0", "1", "{k}z", "MIN", "COUNT"}, {"BZMPOP", "0", "1", "{k}z", "MIN", "LIMIT", "1"}, {"BZMPOP", "0", "1", "{k}s", "MIN"},
		{"BZMPOP", "0", "9223372036854775807", "{k}z", "MIN"}, {"BZMPOP", "0", "1", "{k}z", "MIN", "COUNT", "-1"},
		{"BZPOPMIN", "{k}z"}, {"BZMPOP", "0", "1", "{k}z"}, {"BZPOPMAX"},
		{"XREAD", "BLOCK", "0", "STREAMS", "{k}s", "$"}, {"XREAD", "BLOCK", "0", "STREAMS", "{k}x", ">"},
		{"XREAD", "BLOCK", "0", "BLOCK", "5", "COUNT", "1", "STREAMS", "{k}x", "0"}, {"XREAD", "COUNT", "-5", "BLOCK", "0", "STREAMS", "{k}x", "0"},
		{"XREAD", "BLOCK", "0", "STREAMS", "{k}x"}, {"XREAD", "BLOCK"}, {"XREAD", "BLOCK", "0", "STREAMS", "{k}x", "{k}y", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "x", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "-1", "STREAMS", "{k}x", ">"},
		{"XREADGROUP", "GROUP", "nog", "c", "BLOCK", "0", "STREAMS", "{k}x", ">"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}x", "$"},
		{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "{k}s", ">"}, {"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "NOACK", "STREAMS", "{k}none", ">"},
		{"XPENDING", "{k}x", "g"},
	} {
		d.check(exact, args...)
	}
	d.check(exact, "ZRANGE", "{k}z", "0", "-1", "WITHSCORES")
	// The keys cluster clients route by (redis-py asks COMMAND GETKEYS for movable ones).
	for _, args := range [][]string{
		{"BLPOP", "a", "b", "0"}, {"BLMPOP", "0", "2", "a", "b", "LEFT"}, {"BLMOVE", "a", "b", "LEFT", "LEFT", "0"},
		{"BZPOPMIN", "a", "b", "0"}, {"BZPOPMAX", "a", "0"}, {"BZMPOP", "0", "2", "a", "b", "MIN", "COUNT", "2"},
		{"BZMPOP", "0", "3", "a", "b", "MIN"}, {"BZMPOP", "0", "0", "a", "MIN"}, {"BZPOPMIN", "a"},
		{"XREAD", "BLOCK", "0", "STREAMS", "a", "b", "0", "$"}, {"XREAD", "COUNT", "2", "BLOCK", "10", "STREAMS", "a", "0"},
		{"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "NOACK", "STREAMS", "a", "b", ">", ">"}, {"XREAD", "BLOCK", "0", "STREAMS", "a"},
	} {
		d.check(exact, append([]string{"COMMAND", "GETKEYS"}, args...)...)
	}
	for _, name := range []string{"blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop", "xread", "xreadgroup"} {
		want, werr := do(d.redis, []string{"COMMAND", "INFO", name})
		got, gerr := do(d.grid, []string{"COMMAND", "INFO", name})
		if werr != nil || gerr != nil {
			t.Fatalf("COMMAND INFO %s: %v %v", name, werr, gerr)
		}
		w, g := want.([]any)[0].([]any), got.([]any)[0].([]any)
		if fmt.Sprint(w[:2], w[3:6]) != fmt.Sprint(g[:2], g[3:6]) || fmt.Sprint(sorted(w[2])) != fmt.Sprint(sorted(g[2])) {
			t.Errorf("COMMAND INFO %s:\nredis: %v\n grid: %v", name, w[:6], g[:6])
		}
		if name != "blmpop" && fmt.Sprint(w[8]) != fmt.Sprint(g[8]) {
			t.Errorf("COMMAND INFO %s key specs:\nredis: %v\n grid: %v", name, w[8], g[8])
		}
	}
}
