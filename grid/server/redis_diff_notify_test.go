package server

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/slots"
)

// The keyspace notifications differential test: the same commands on redis-server 7.0
// and on the grid, each with one PSUBSCRIBE '__key*@0__:*' subscriber, and the events
// each command sent compared in order. After each command a PUBLISH on a channel the
// pattern matches marks its end on both streams.

// notifyPattern is what the subscribers of the differential test subscribe to.
const notifyPattern = "__key*@0__:*"

// notifyMark is the channel that ends each command's events.
const notifyMark = "__keyspace@0__:__mark__"

// notifySide is one server of the differential test: a connection for the commands and
// a subscriber.
type notifySide struct {
	name   string
	client *redis.Client
	cmd    *redis.Conn
	sub    *redis.PubSub
}

type notifyDiff struct {
	t     *testing.T
	ctx   context.Context
	sides [2]*notifySide // Redis, the grid
	grid  *Server
	n     int
	// inMulti: the commands are queued by a MULTI.
	inMulti bool
}

// newNotifyDiff starts Redis (extra: more of its settings) and the grid, sets classes
// on both and subscribes.
func newNotifyDiff(t *testing.T, classes string, extra ...string) *notifyDiff {
	rdb := startRedis(t, extra...)
	s, dial := startServer(t, Config{Replication: Standalone{}})
	gdb := redis.NewClient(&redis.Options{Addr: dial().nc.RemoteAddr().String(), Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { gdb.Close() })
	ctx := context.Background()
	d := &notifyDiff{t: t, ctx: ctx, grid: s}
	for i, c := range []*redis.Client{rdb, gdb} {
		side := &notifySide{name: []string{"redis", "grid"}[i], client: c, cmd: c.Conn()}
		t.Cleanup(func() { side.cmd.Close() })
		if err := side.cmd.ConfigSet(ctx, "notify-keyspace-events", classes).Err(); err != nil {
			t.Fatalf("%s: CONFIG SET notify-keyspace-events %s: %v", side.name, classes, err)
		}
		side.sub = c.PSubscribe(ctx, notifyPattern)
		t.Cleanup(func() { side.sub.Close() })
		if _, err := side.sub.Receive(ctx); err != nil {
			t.Fatalf("%s: PSUBSCRIBE: %v", side.name, err)
		}
		d.sides[i] = side
	}
	return d
}

// until reads side's events up to the one stop accepts (included) and returns them as
// "channel message" lines.
func (d *notifyDiff) until(side *notifySide, stop func(*redis.Message) bool) []string {
	d.t.Helper()
	var out []string
	for {
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		m, err := side.sub.ReceiveMessage(ctx)
		cancel()
		if err != nil {
			d.t.Fatalf("%s: waiting for events after command %d: %v (so far %q)", side.name, d.n, err, out)
		}
		if m.Pattern != notifyPattern {
			d.t.Fatalf("%s: message for pattern %q, want %q", side.name, m.Pattern, notifyPattern)
		}
		out = append(out, m.Channel+" "+m.Payload)
		if stop(m) {
			return out
		}
	}
}

// mark publishes the end of command n on both and returns each side's events up to it.
func (d *notifyDiff) mark() [2][]string {
	d.t.Helper()
	var got [2][]string
	tag := strconv.Itoa(d.n)
	for i, side := range d.sides {
		if err := side.cmd.Publish(d.ctx, notifyMark, tag).Err(); err != nil {
			d.t.Fatalf("%s: PUBLISH: %v", side.name, err)
		}
		got[i] = d.until(side, func(m *redis.Message) bool { return m.Channel == notifyMark && m.Payload == tag })
		got[i] = got[i][:len(got[i])-1]
	}
	return got
}

// run sends args to both servers and compares the replies and then the events.
func (d *notifyDiff) run(args ...string) {
	d.t.Helper()
	d.n++
	var replies [2]string
	for i, side := range d.sides {
		a := make([]any, len(args))
		for j, s := range args {
			a[j] = s
		}
		v, err := side.cmd.Do(d.ctx, a...).Result()
		replies[i] = fmt.Sprintf("%v %v", v, err)
	}
	if replies[0] != replies[1] {
		d.t.Errorf("command %d %q: replies differ:\nredis: %s\n grid: %s", d.n, args, replies[0], replies[1])
	}
	// Inside MULTI the marking PUBLISH would be queued: the events are compared at EXEC.
	switch strings.ToUpper(args[0]) {
	case "MULTI":
		d.inMulti = true
	case "EXEC", "DISCARD":
		d.inMulti = false
	}
	if !d.inMulti {
		d.compare(args, d.mark())
	}
}

func (d *notifyDiff) compare(what any, got [2][]string) {
	d.t.Helper()
	if !reflect.DeepEqual(got[0], got[1]) {
		d.t.Errorf("command %d %q: events differ:\nredis: %q\n grid: %q", d.n, what, got[0], got[1])
	}
}

// notifySequence covers every command of the data model that sends events, with the cases
// where Redis sends an extra event ("del" when a pop empties a key, "expire" after SET
// EX, "new" for a created key) or none (nothing changed).
var notifySequence = [][]string{
	// Strings.
	{"SET", "{k}s", "v"}, {"SET", "{k}s", "v2", "EX", "100"}, {"SET", "{k}s", "v3", "KEEPTTL"},
	{"SET", "{k}s", "x", "NX"}, {"SET", "{k}s", "y", "XX", "GET"}, {"SET", "{k}none", "y", "XX"},
	{"SETNX", "{k}n", "1"}, {"SETNX", "{k}n", "2"}, {"SETEX", "{k}e", "100", "v"}, {"PSETEX", "{k}e", "100000", "v"},
	{"GETSET", "{k}s", "z"}, {"MSET", "{k}a", "1", "{k}b", "2"}, {"MSETNX", "{k}a", "1", "{k}c", "3"},
	{"MSETNX", "{k}c", "3", "{k}d", "4"}, {"INCR", "{k}a"}, {"DECR", "{k}a"}, {"INCRBY", "{k}a", "5"},
	{"DECRBY", "{k}a", "2"}, {"INCRBYFLOAT", "{k}a", "1.5"}, {"INCR", "{k}s"}, {"INCR", "{k}new"},
	{"APPEND", "{k}ap", "hello"}, {"APPEND", "{k}ap", "x"}, {"SETRANGE", "{k}sr", "0", ""},
	{"SETRANGE", "{k}ap", "0", ""}, {"SETRANGE", "{k}ap", "1", "E"}, {"SETRANGE", "{k}sr2", "3", "ab"},
	{"GETEX", "{k}s", "EX", "100"}, {"GETEX", "{k}s", "PERSIST"}, {"GETEX", "{k}s", "PERSIST"},
	{"GETEX", "{k}s"}, {"GETEX", "{k}s", "PXAT", "1"}, {"GETDEL", "{k}ap"}, {"GETDEL", "{k}ap"},
	{"DEL", "{k}a", "{k}b", "{k}zz"}, {"UNLINK", "{k}c"}, {"SETEX", "{k}past", "-1", "v"},
	// Bits and HyperLogLog.
	{"SETBIT", "{k}bit", "7", "1"}, {"SETBIT", "{k}bit", "7", "1"}, {"SETBIT", "{k}bit", "100", "0"},
	{"SETBIT", "{k}bit", "7", "0"}, {"BITFIELD", "{k}bf", "SET", "u8", "0", "255", "GET", "u8", "0"},
	{"BITFIELD", "{k}bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "300"}, {"BITFIELD", "{k}bf", "GET", "u8", "0"},
	{"BITFIELD", "{k}bf", "INCRBY", "u8", "0", "1"}, {"BITOP", "AND", "{k}dest", "{k}bit", "{k}bf"},
	{"BITOP", "AND", "{k}dest", "{k}none1", "{k}none2"}, {"BITOP", "OR", "{k}dest", "{k}none1"},
	{"PFADD", "{k}hll", "a", "b", "c"}, {"PFADD", "{k}hll", "a"}, {"PFMERGE", "{k}hll2", "{k}hll"},
	// The keyspace.
	{"SET", "{k}d", "v"}, {"EXPIRE", "{k}d", "100"}, {"EXPIRE", "{k}d", "100", "NX"},
	{"PEXPIRE", "{k}d", "100000", "XX"}, {"EXPIREAT", "{k}d", "1"}, {"EXPIRE", "{k}none", "100"},
	{"PERSIST", "{k}n"}, {"SET", "{k}p", "v", "EX", "100"}, {"PERSIST", "{k}p"},
	{"RENAME", "{k}p", "{k}p2"}, {"RENAME", "{k}p2", "{k}n"}, {"RENAMENX", "{k}n", "{k}sr2"},
	{"RENAMENX", "{k}n", "{k}rn"}, {"RENAME", "{k}rn", "{k}rn"}, {"COPY", "{k}rn", "{k}cp"},
	{"COPY", "{k}rn", "{k}cp", "REPLACE"}, {"COPY", "{k}rn", "{k}cp"}, {"TOUCH", "{k}rn"},
	{"RPUSH", "{k}sl", "3", "1", "2"}, {"SORT", "{k}sl", "STORE", "{k}sorted"},
	{"SORT", "{k}sl", "LIMIT", "5", "5", "STORE", "{k}sorted"}, {"SORT", "{k}empty", "STORE", "{k}sorted"},
	// Hashes.
	{"HSET", "{k}h", "f", "1", "g", "2"}, {"HSET", "{k}h", "f", "1"}, {"HSETNX", "{k}h", "f", "3"},
	{"HSETNX", "{k}h", "z", "3"}, {"HMSET", "{k}h", "a", "1"}, {"HINCRBY", "{k}h", "f", "2"},
	{"HINCRBYFLOAT", "{k}h", "f", "1.5"}, {"HDEL", "{k}h", "nope"}, {"HDEL", "{k}h", "f", "g", "z"},
	{"HDEL", "{k}h", "a"},
	// Sets.
	{"SADD", "{k}s1", "a", "b", "c"}, {"SADD", "{k}s1", "a"}, {"SREM", "{k}s1", "x"}, {"SREM", "{k}s1", "a"},
	{"SPOP", "{k}s1", "0"}, {"SMOVE", "{k}s1", "{k}s2", "b"}, {"SMOVE", "{k}s1", "{k}s2", "x"},
	{"SADD", "{k}s2", "c"}, {"SMOVE", "{k}s1", "{k}s2", "c"}, {"SMOVE", "{k}s2", "{k}s2", "c"},
	{"SADD", "{k}s3", "x"}, {"SPOP", "{k}s3"}, {"SADD", "{k}s3", "x"}, {"SPOP", "{k}s3", "5"},
	{"SINTERSTORE", "{k}si", "{k}s2", "{k}s2"}, {"SUNIONSTORE", "{k}su", "{k}s2", "{k}nope"},
	{"SDIFFSTORE", "{k}si", "{k}s2", "{k}s2"}, {"SDIFFSTORE", "{k}sx", "{k}s2", "{k}s2"},
	{"SINTERSTORE", "{k}su", "{k}s2", "{k}nope"},
	// Lists.
	{"LPUSH", "{k}l", "a", "b"}, {"RPUSH", "{k}l", "c"}, {"LPUSHX", "{k}nol", "a"}, {"RPUSHX", "{k}l", "d"},
	{"LINSERT", "{k}l", "BEFORE", "c", "x"}, {"LINSERT", "{k}l", "BEFORE", "nope", "x"}, {"LSET", "{k}l", "0", "z"},
	{"LREM", "{k}l", "0", "nope"}, {"LREM", "{k}l", "1", "x"}, {"LTRIM", "{k}l", "0", "-1"}, {"LPOP", "{k}l"},
	{"RPOP", "{k}l", "1"}, {"LPOP", "{k}l", "0"}, {"LMOVE", "{k}l", "{k}l2", "LEFT", "RIGHT"},
	{"RPOPLPUSH", "{k}l2", "{k}l2"}, {"RPOPLPUSH", "{k}l", "{k}l2"}, {"RPUSH", "{k}l3", "a"},
	{"LMPOP", "2", "{k}nol", "{k}l3", "LEFT"}, {"RPUSH", "{k}l4", "a", "b"}, {"LTRIM", "{k}l4", "5", "10"},
	{"LTRIM", "{k}nol", "0", "1"}, {"BLPOP", "{k}l2", "0"}, {"RPUSH", "{k}l5", "a"},
	{"BLMOVE", "{k}l5", "{k}l6", "RIGHT", "LEFT", "0"}, {"BRPOP", "{k}l6", "0"},
	{"RPUSH", "{k}l7", "a", "b"}, {"BLMPOP", "0", "1", "{k}l7", "RIGHT", "COUNT", "5"},
	// Sorted sets.
	{"ZADD", "{k}z", "1", "a", "2", "b"}, {"ZADD", "{k}z", "1", "a"}, {"ZADD", "{k}z", "XX", "5", "a"},
	{"ZADD", "{k}z", "XX", "5", "nope"}, {"ZADD", "{k}z", "INCR", "1", "a"}, {"ZINCRBY", "{k}z", "0", "a"},
	{"ZINCRBY", "{k}z", "1", "c"}, {"ZREM", "{k}z", "nope"}, {"ZREM", "{k}z", "c"},
	{"ZRANGESTORE", "{k}zr", "{k}z", "0", "-1"}, {"ZRANGESTORE", "{k}zr", "{k}z", "5", "10"},
	{"ZREMRANGEBYSCORE", "{k}z", "100", "200"}, {"ZADD", "{k}z", "3", "c", "4", "d", "5", "e"},
	{"ZREMRANGEBYSCORE", "{k}z", "3", "3"}, {"ZREMRANGEBYRANK", "{k}z", "0", "0"},
	{"ZADD", "{k}zl", "0", "a", "0", "b", "0", "c"}, {"ZREMRANGEBYLEX", "{k}zl", "[a", "[a"},
	{"ZPOPMIN", "{k}z"}, {"ZPOPMAX", "{k}z", "10"}, {"ZPOPMAX", "{k}z"}, {"ZADD", "{k}z2", "1", "a"},
	{"ZUNIONSTORE", "{k}zu", "2", "{k}z2", "{k}zl"}, {"ZINTERSTORE", "{k}zu", "2", "{k}z2", "{k}nope"},
	{"ZDIFFSTORE", "{k}zd", "1", "{k}z2"}, {"ZMPOP", "1", "{k}zd", "MIN"}, {"BZPOPMIN", "{k}zl", "0"},
	{"BZPOPMAX", "{k}zl", "0"}, {"ZADD", "{k}zl", "1", "a", "2", "b"}, {"BZMPOP", "0", "1", "{k}zl", "MAX", "COUNT", "9"},
	// Streams.
	{"XADD", "{k}x", "1-1", "f", "v"}, {"XADD", "{k}x", "MAXLEN", "1", "2-1", "f", "v"},
	{"XADD", "{k}x", "MAXLEN", "5", "3-1", "f", "v"}, {"XADD", "{k}nox", "NOMKSTREAM", "*", "f", "v"},
	{"XADD", "{k}x", "1-1", "f", "v"}, {"XTRIM", "{k}x", "MAXLEN", "5"}, {"XTRIM", "{k}x", "MAXLEN", "0"},
	{"XADD", "{k}x", "4-1", "f", "v"}, {"XDEL", "{k}x", "9-9"}, {"XDEL", "{k}x", "4-1"},
	{"XADD", "{k}x", "5-1", "f", "v"}, {"XGROUP", "CREATE", "{k}x", "g", "0"},
	{"XGROUP", "CREATE", "{k}x2", "g", "$", "MKSTREAM"}, {"XGROUP", "CREATE", "{k}x3", "g", "$"},
	{"XGROUP", "CREATECONSUMER", "{k}x", "g", "c1"}, {"XGROUP", "CREATECONSUMER", "{k}x", "g", "c1"},
	{"XGROUP", "DELCONSUMER", "{k}x", "g", "c1"}, {"XGROUP", "DELCONSUMER", "{k}x", "g", "nope"},
	{"XGROUP", "SETID", "{k}x", "g", "0"}, {"XSETID", "{k}x", "6-0"}, {"XADD", "{k}x", "7-1", "f", "v"},
	{"XREADGROUP", "GROUP", "g", "c2", "COUNT", "1", "STREAMS", "{k}x", ">"},
	{"XCLAIM", "{k}x", "g", "c3", "0", "5-1", "JUSTID"}, {"XAUTOCLAIM", "{k}x", "g", "c4", "0", "0", "JUSTID"},
	{"XACK", "{k}x", "g", "5-1"}, {"XGROUP", "DESTROY", "{k}x", "g"}, {"XGROUP", "DESTROY", "{k}x", "g"},
	// A transaction: its commands send their events as EXEC runs them.
	{"MULTI"}, {"SET", "{k}m", "1"}, {"INCR", "{k}m"}, {"LPUSH", "{k}m", "x"}, {"DEL", "{k}m"}, {"EXEC"},
	// A script: its commands send their events as it calls them.
	{"EVAL", "redis.call('SET', KEYS[1], 'v'); redis.call('LPUSH', KEYS[2], 'a'); redis.call('LPOP', KEYS[2]); return redis.call('GET', KEYS[3])", "3", "{k}e1", "{k}e2", "{k}emiss"},
}

// notifyReads are read commands on keys that exist and keys that do not, for the
// keymiss events (class m).
var notifyReads = [][]string{
	{"GET", "{k}miss"}, {"GET", "{k}n"}, {"MGET", "{k}miss", "{k}n", "{k}miss2"}, {"EXISTS", "{k}miss", "{k}n"},
	{"TYPE", "{k}miss"}, {"TTL", "{k}miss"}, {"PTTL", "{k}n"}, {"STRLEN", "{k}miss"}, {"GETRANGE", "{k}miss", "0", "1"},
	{"HGET", "{k}miss", "f"}, {"HGETALL", "{k}miss"}, {"HLEN", "{k}miss"}, {"HEXISTS", "{k}miss", "f"},
	{"SMEMBERS", "{k}miss"}, {"SISMEMBER", "{k}miss", "a"}, {"SCARD", "{k}miss"}, {"SINTER", "{k}s2", "{k}miss"},
	{"SUNION", "{k}miss", "{k}miss2"}, {"SINTERCARD", "2", "{k}miss", "{k}s2"}, {"SRANDMEMBER", "{k}miss"},
	{"LRANGE", "{k}miss", "0", "-1"}, {"LLEN", "{k}miss"}, {"LINDEX", "{k}miss", "0"}, {"LPOS", "{k}miss", "a"},
	{"ZRANGE", "{k}miss", "0", "-1"}, {"ZSCORE", "{k}miss", "a"}, {"ZCARD", "{k}miss"}, {"ZRANK", "{k}miss", "a"},
	{"ZUNION", "2", "{k}miss", "{k}z2"}, {"ZCOUNT", "{k}miss", "0", "1"}, {"XLEN", "{k}miss"},
	{"XRANGE", "{k}miss", "-", "+"}, {"XREAD", "STREAMS", "{k}miss", "0"}, {"GETBIT", "{k}miss", "0"},
	{"BITCOUNT", "{k}miss"}, {"BITPOS", "{k}miss", "1"}, {"PFCOUNT", "{k}miss"}, {"DUMP", "{k}miss"},
	{"OBJECT", "ENCODING", "{k}miss"}, {"TOUCH", "{k}miss"}, {"EXPIRETIME", "{k}miss"}, {"SORT_RO", "{k}miss"},
	{"LCS", "{k}miss", "{k}n"}, {"HRANDFIELD", "{k}miss"}, {"ZRANDMEMBER", "{k}miss"}, {"SMISMEMBER", "{k}miss", "a"},
	{"HSTRLEN", "{k}miss", "f"}, {"ZMSCORE", "{k}miss", "a"}, {"XINFO", "STREAM", "{k}miss"},
	{"SSCAN", "{k}miss", "0"}, {"MEMORY", "USAGE", "{k}miss"},
	// Writes that read other keys.
	{"SINTERSTORE", "{k}dst", "{k}miss", "{k}s2"}, {"SUNIONSTORE", "{k}dst", "{k}miss", "{k}s2"},
	{"ZUNIONSTORE", "{k}dst", "2", "{k}miss", "{k}z2"}, {"COPY", "{k}miss", "{k}dst"}, {"BITOP", "OR", "{k}dst", "{k}miss"},
	{"PFMERGE", "{k}dst2", "{k}miss"}, {"SORT", "{k}miss", "STORE", "{k}dst"}, {"ZRANGESTORE", "{k}dst", "{k}miss", "0", "-1"},
	{"GETDEL", "{k}miss"}, {"GETEX", "{k}miss"}, {"LMOVE", "{k}miss", "{k}dst", "LEFT", "LEFT"}, {"RENAME", "{k}miss", "{k}dst"},
	{"GETSET", "{k}miss3", "v"}, {"SET", "{k}miss4", "v", "GET"}, {"INCR", "{k}miss5"},
}

// TestKeyspaceNotificationsAgainstRedisServer runs notifySequence with every class on,
// then the same with only some classes: the events each command sends must be Redis's.
func TestKeyspaceNotificationsAgainstRedisServer(t *testing.T) {
	for _, classes := range []string{"KEAn", "Kgl", "E$zxn", "Km"} {
		t.Run(classes, func(t *testing.T) {
			d := newNotifyDiff(t, classes)
			for _, args := range notifySequence {
				d.run(args...)
			}
			for _, args := range notifyReads {
				d.run(args...)
			}
			// A RESTORE of the payload Redis dumps: "new" and "restore", or "del" for one
			// already expired over a key it replaces.
			d.run("SET", "{k}dump", "payload")
			payload, err := d.sides[0].cmd.Dump(d.ctx, "{k}dump").Result()
			if err != nil {
				t.Fatal(err)
			}
			d.run("RESTORE", "{k}r", "0", payload)
			d.run("RESTORE", "{k}r", "100000", payload, "REPLACE")
			d.run("RESTORE", "{k}r", "1", payload, "REPLACE", "ABSTTL")
			d.run("RESTORE", "{k}r", "1", payload, "REPLACE", "ABSTTL")
		})
	}
}

// TestKeyspaceNotificationsExpiryAgainstRedisServer checks the expired events: a key a
// command finds expired (lazy expiry, with Redis's active expiry switched off and the
// grid's not running), then keys the active expiry removes.
func TestKeyspaceNotificationsExpiryAgainstRedisServer(t *testing.T) {
	d := newNotifyDiff(t, "KEAn", "--enable-debug-command", "yes")
	if err := d.sides[0].cmd.Do(d.ctx, "DEBUG", "SET-ACTIVE-EXPIRE", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for _, step := range [][][]string{
		{{"SET", "{k}lz", "v", "PX", "1"}, {"GET", "{k}lz"}},
		{{"SET", "{k}lz", "v", "PX", "1"}, {"LPUSH", "{k}lz", "a"}},
		{{"SET", "{k}lz2", "v", "PX", "1"}, {"EXISTS", "{k}lz2"}},
		{{"SET", "{k}lz3", "v", "PX", "1"}, {"SET", "{k}lz3", "w"}},
		{{"HSET", "{k}lz4", "f", "v"}, {"PEXPIRE", "{k}lz4", "1"}, {"HDEL", "{k}lz4", "f"}},
		{{"SET", "{k}lz5", "v", "PX", "1"}, {"RENAME", "{k}lz5", "{k}lz6"}},
		{{"SET", "{k}past", "v", "EXAT", "1"}, {"SET", "{k}past", "w"}},
		{{"SET", "{k}past", "v", "PXAT", "1"}, {"DEL", "{k}past"}},
	} {
		for _, args := range step[:len(step)-1] {
			d.run(args...)
		}
		waitExpired(t)
		d.run(step[len(step)-1]...)
	}
	if err := d.sides[0].cmd.Do(d.ctx, "DEBUG", "SET-ACTIVE-EXPIRE", "1").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.grid.store.RunExpiry(ctx)
	d.run("SET", "{k}ac", "v", "PX", "20")
	var got [2][]string
	for i, side := range d.sides {
		got[i] = d.until(side, func(m *redis.Message) bool { return m.Channel == "__keyevent@0__:expired" })
	}
	d.compare("active expiry of {k}ac", got)
}

// waitExpired lets the 1 ms expiries of TestKeyspaceNotificationsExpiryAgainstRedisServer
// pass: it waits for the clock, not for either server.
func waitExpired(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Millisecond)
	for time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// TestKeyspaceNotificationsEvictionAgainstRedisServer fills both servers past a small
// maxmemory under allkeys-lru: each sends "evicted" for the keys eviction removes (which
// keys differs: the servers count memory differently), and besides those, the same
// events as Redis.
func TestKeyspaceNotificationsEvictionAgainstRedisServer(t *testing.T) {
	d := newNotifyDiff(t, "KEA")
	for _, side := range d.sides {
		info, err := side.cmd.Info(d.ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		used := infoInt(t, info, "used_memory")
		if err := side.cmd.ConfigSet(d.ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
			t.Fatal(err)
		}
		if err := side.cmd.ConfigSet(d.ctx, "maxmemory", strconv.FormatInt(used+256<<10, 10)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	value := strings.Repeat("v", 1024)
	evicted := [2]map[string]bool{{}, {}}
	for i := range 2000 {
		// Keys in many slots (eviction passes over the slot being written) of the
		// grid's partition.
		key := fmt.Sprintf("ev%d", i)
		if p := d.grid.View().Owner(slots.Of([]byte(key))); p == nil || p.ID != 0 {
			continue
		}
		d.n++
		for _, side := range d.sides {
			if err := side.cmd.Set(d.ctx, key, value, 0).Err(); err != nil {
				t.Fatalf("%s: SET %s: %v", side.name, key, err)
			}
		}
		got := d.mark()
		for j := range got {
			var own []string
			for _, ev := range got[j] {
				if k, ok := strings.CutPrefix(ev, "__keyevent@0__:evicted "); ok {
					evicted[j][k] = true
				} else if !strings.HasPrefix(ev, "__keyspace@0__:") || !strings.HasSuffix(ev, " evicted") {
					own = append(own, ev)
				}
			}
			got[j] = own
		}
		d.compare([]string{"SET", key, "..."}, got)
	}
	for j, side := range d.sides {
		if len(evicted[j]) == 0 {
			t.Errorf("%s: no evicted events for %d keys of 1kb past a maxmemory 256kb above the start", side.name, d.n)
		}
		t.Logf("%s: %d keys evicted", side.name, len(evicted[j]))
		for k := range evicted[j] {
			if n, err := side.cmd.Exists(d.ctx, k).Result(); err != nil || n != 0 {
				t.Errorf("%s: evicted event for %s, which EXISTS finds (%d, %v)", side.name, k, n, err)
			}
		}
	}
}

// infoInt reads an integer field of an INFO reply.
func infoInt(t *testing.T, info, name string) int64 {
	t.Helper()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s: %q: %v", name, v, err)
			}
			return n
		}
	}
	t.Fatalf("INFO has no %s", name)
	return 0
}

// TestNotifyConfigAgainstRedisServer compares CONFIG SET and GET of
// notify-keyspace-events and of client-output-buffer-limit's pubsub class with Redis's,
// good and bad values.
func TestNotifyConfigAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, v := range []string{"", "KEA", "AKE", "A", "Kg", "gK", "EK$", "KEAm", "KEAmn", "Kn", "g$lshzxetdKE",
		"g$lshzxetKE", "xxKK", "Q", "KEA ", "kea", "d"} {
		d.check(exact, "CONFIG", "SET", "notify-keyspace-events", v)
		d.check(exact, "CONFIG", "GET", "notify-keyspace-events")
	}
	d.check(exact, "CONFIG", "GET", "client-output-buffer-limit")
	for _, v := range []string{"pubsub 1mb 512kb 10", "pubsub 1 2 3", "PUBSUB 2mb 1mb 0", "pubsub 1mb 512kb",
		"master 0 0 0", "foo 1 2 3", "pubsub x 2 3", "pubsub 1 2 -1", "pubsub 1 2 3x", "normal 0 0 0 pubsub 1gb 0 0",
		"replica 256mb 64mb 60", "pubsub 32mb 8mb 60"} {
		d.check(exact, "CONFIG", "SET", "client-output-buffer-limit", v)
		d.check(exact, "CONFIG", "GET", "client-output-buffer-limit")
	}
}

// TestKeyspaceNotificationsBlockedAgainstRedisServer checks the events of blocked
// clients served by another client's write: the write's event, then the pop's (and
// "del" for the key it emptied), before the writer's next command.
func TestKeyspaceNotificationsBlockedAgainstRedisServer(t *testing.T) {
	d := newNotifyDiff(t, "KEAn")
	for _, tc := range []struct{ block, write []string }{
		{[]string{"BLPOP", "{k}bl", "0"}, []string{"RPUSH", "{k}bl", "a"}},
		{[]string{"BLMOVE", "{k}bl", "{k}bl2", "LEFT", "RIGHT", "0"}, []string{"LPUSH", "{k}bl", "a", "b"}},
		{[]string{"BLMPOP", "0", "1", "{k}bl3", "LEFT", "COUNT", "5"}, []string{"LPUSH", "{k}bl3", "a", "b"}},
		{[]string{"BZPOPMIN", "{k}bz", "0"}, []string{"ZADD", "{k}bz", "1", "a"}},
		{[]string{"BZMPOP", "0", "1", "{k}bz", "MAX"}, []string{"ZADD", "{k}bz", "1", "a", "2", "b"}},
	} {
		done := make(chan error, len(d.sides))
		for _, side := range d.sides {
			blocker := side.client.Conn() // a second connection, blocked until the write
			t.Cleanup(func() { blocker.Close() })
			go func() {
				a := make([]any, len(tc.block))
				for j, s := range tc.block {
					a[j] = s
				}
				done <- blocker.Do(d.ctx, a...).Err()
			}()
			testutil.Eventually(t, 10*time.Second, side.name+" client blocked by "+tc.block[0], func() bool {
				info, err := side.cmd.Info(d.ctx, "clients").Result()
				return err == nil && strings.Contains(info, "blocked_clients:1\r\n")
			})
		}
		d.run(tc.write...)
		for range d.sides {
			if err := <-done; err != nil {
				t.Fatalf("%q: %v", tc.block, err)
			}
		}
	}
}
