package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/store"
)

// syncedPrimary is the replication of a primary whose backup acknowledges every write.
type syncedPrimary struct {
	Standalone
	waited atomic.Int64
	inSync atomic.Bool
}

func (p *syncedPrimary) Barrier(write bool, _ int) uint64 {
	if write {
		return 7
	}
	return 0
}

func (p *syncedPrimary) Wait(seq uint64) bool {
	p.waited.Store(int64(seq))
	return true
}

func (p *syncedPrimary) Status() cluster.InstanceStatus {
	return cluster.InstanceStatus{Role: "primary", Serving: true, InSync: p.inSync.Load()}
}

func TestWaitCountsTheBackup(t *testing.T) {
	repl := &syncedPrimary{}
	repl.inSync.Store(true)
	_, dial := startServer(t, Config{Replication: repl})
	c := dial()
	c.expect(encodeCmd("SET", "{w}k", "v"), "+OK\r\n")
	// Pipelined after the write: WAIT waits for the write's acknowledgement itself.
	c.expect(encodeCmd("SET", "{w}k", "v")+encodeCmd("WAIT", "1", "0"), "+OK\r\n:1\r\n")
	if repl.waited.Load() != 7 {
		t.Fatalf("WAIT did not wait for the connection's write: waited for %d", repl.waited.Load())
	}
	c.expect(encodeCmd("WAIT", "2", "0"), ":1\r\n")
	repl.inSync.Store(false)
	c.expect(encodeCmd("WAIT", "1", "30"), ":0\r\n")
	c.expect(encodeCmd("WAIT", "0", "0"), ":0\r\n")

	// Standalone: no backup.
	_, dial = startServer(t, Config{Replication: Standalone{}})
	dial().expect(encodeCmd("WAIT", "1", "0"), ":0\r\n")
	// A backup refuses WAIT as a Redis replica does.
	_, dial = startServer(t, Config{Replication: backupOf{primary: "127.0.0.1:1"}})
	dial().expect(encodeCmd("WAIT", "0", "0"), "-ERR WAIT cannot be used with replica instances.")
}

func TestConfigMaxMemoryCeilingAndRewrite(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}, MaxMemoryCeiling: 100 << 20})
	c := dial()
	c.expect(encodeCmd("CONFIG", "SET", "maxmemory", "200mb"),
		"-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - 200mb is above the ceiling 104857600 (100.00M: ")
	c.br.Reset(c.nc)
	c2 := dial()
	c2.expect(encodeCmd("CONFIG", "SET", "maxmemory", "50mb", "hz", "1000", "maxmemory-policy", "allkeys-lfu"), "+OK\r\n")
	if got := s.store.MaxMemory(); got != 50<<20 {
		t.Fatalf("maxmemory %d", got)
	}
	c2.expect(encodeCmd("CONFIG", "GET", "hz"), "*2\r\n$2\r\nhz\r\n$3\r\n500\r\n")
	c2.expect(encodeCmd("CONFIG", "GET", "maxmemory-policy"), "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lfu\r\n")
	// Nothing changes unless every pair is valid.
	c2.expect(encodeCmd("CONFIG", "SET", "maxmemory", "60mb", "hz", "x"),
		"-ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer\r\n")
	if got := s.store.MaxMemory(); got != 50<<20 {
		t.Fatalf("maxmemory changed by a refused CONFIG SET: %d", got)
	}
	c2.expect(encodeCmd("CONFIG", "SET", "hz", "5", "hz", "6"),
		"-ERR CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter\r\n")
	c2.expect(encodeCmd("CONFIG", "SET", "save", "900 1"),
		"-ERR CONFIG SET failed (possibly related to argument 'save') - the grid does not save snapshots to disk")
	c2.br.Reset(c2.nc)
	c3 := dial()
	c3.expect(encodeCmd("CONFIG", "SET", "save", ""), "+OK\r\n")
	c3.expect(encodeCmd("CONFIG", "SET", "hash-max-listpack-entries", "1000"),
		"-ERR CONFIG SET failed (possibly related to argument 'hash-max-listpack-entries') - the grid's value encodings use fixed thresholds")
	c4 := dial()
	c4.expect(encodeCmd("CONFIG", "SET", "hash-max-ziplist-entries", "128"), "+OK\r\n")
	c4.expect(encodeCmd("CONFIG", "REWRITE"), "-ERR CONFIG REWRITE is not supported: the grid's configuration comes from its Helm chart")
}

func TestInfoStatsSections(t *testing.T) {
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("SET", "{k}ia", "1"), "+OK\r\n")
	c.expect(encodeCmd("SET", "{k}ib", "1", "PX", "100000"), "+OK\r\n")
	c.expect(encodeCmd("GET", "{k}ia"), "$1\r\n1\r\n")
	c.expect(encodeCmd("GET"), "-ERR wrong number of arguments for 'get' command\r\n")
	c.expect(encodeCmd("LPUSH", "{k}ia", "x"), "-WRONGTYPE")
	c.br.Reset(c.nc)
	c = dial()
	c.expect(encodeCmd("NOSUCH"), "-ERR unknown command 'NOSUCH'")
	c.br.Reset(c.nc)
	c = dial()
	c.expect(encodeCmd("CONFIG", "GET", "hz"), "*2\r\n")
	c.br.Reset(c.nc)
	info := s.Info("commandstats", "errorstats", "keyspace", "stats")
	for _, want := range []string{
		"cmdstat_get:calls=1,usec=", ",rejected_calls=1,failed_calls=0\r\n",
		"cmdstat_lpush:calls=1,", "rejected_calls=0,failed_calls=1\r\n",
		"cmdstat_config|get:calls=1,",
		"errorstat_ERR:count=2\r\n", "errorstat_WRONGTYPE:count=1\r\n",
		"total_error_replies:3\r\n",
		"db0:keys=2,expires=1,avg_ttl=",
		"avg_ttl=9", // about 100000 ms remain
	} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if def := s.Info(); strings.Contains(def, "cmdstat_") || !strings.Contains(def, "# Errorstats") {
		t.Errorf("default INFO: commandstats must be left out, errorstats in:\n%s", def)
	}
	if all := s.Info("all"); !strings.Contains(all, "cmdstat_get") {
		t.Errorf("INFO all lacks commandstats")
	}
	dial().expect(encodeCmd("CONFIG", "RESETSTAT"), "+OK\r\n")
	if info := s.Info("commandstats", "errorstats"); strings.Contains(info, "cmdstat_get") || strings.Contains(info, "errorstat_") {
		t.Errorf("after CONFIG RESETSTAT:\n%s", info)
	}
}

// gridClient starts a grid server and returns it with a go-redis client of it.
func gridClient(t *testing.T) (*Server, *redis.Client) {
	t.Helper()
	s, dial := startServer(t, Config{Replication: Standalone{}})
	c := redis.NewClient(&redis.Options{Addr: dial().nc.RemoteAddr().String(), Protocol: 2, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return s, c
}

// mustDo runs a command that must succeed.
func mustDo(t *testing.T, c *redis.Client, args ...string) any {
	t.Helper()
	v, err := do(c, args)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return v
}

// readBack is everything the read commands show of the value at key; a read that fails
// fails the test.
func readBack(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	kind := mustDo(t, c, "TYPE", key)
	out := []any{kind, mustDo(t, c, "OBJECT", "ENCODING", key)}
	switch kind {
	case "zset":
		out = append(out, mustDo(t, c, "ZRANGE", key, "0", "-1", "WITHSCORES"), mustDo(t, c, "ZCARD", key))
	case "stream":
		out = append(out, mustDo(t, c, "XRANGE", key, "-", "+"), mustDo(t, c, "XLEN", key),
			maskTree(mustDo(t, c, "XINFO", "STREAM", key, "FULL")))
		for _, g := range mustDo(t, c, "XINFO", "GROUPS", key).([]any) {
			name := g.([]any)[1].(string)
			out = append(out, mustDo(t, c, "XPENDING", key, name), len(mustDo(t, c, "XINFO", "CONSUMERS", key, name).([]any)))
		}
	case "hash":
		out = append(out, sorted(mustDo(t, c, "HGETALL", key)))
	case "set":
		out = append(out, sorted(mustDo(t, c, "SMEMBERS", key)))
	case "list":
		out = append(out, mustDo(t, c, "LRANGE", key, "0", "-1"))
	case "string":
		out = append(out, mustDo(t, c, "GET", key))
	}
	return fmt.Sprintf("%q", out)
}

// TestRestoreCorruptPayloads restores thousands of payloads of every type, bytes flipped,
// cut, inserted or repeated (most resealed with a right checksum, so the object itself is
// judged): each is refused with Redis's error and no key, or restores a value every read
// command serves and that DUMPs and RESTOREs to the same again.
func TestRestoreCorruptPayloads(t *testing.T) {
	_, c := gridClient(t)
	long := strings.Repeat("L", 300)
	for _, args := range [][]string{
		{"ZADD", "{f}zs", "1", "a", "2.5", "b", "-inf", "c", "7", "12345"},
		{"XADD", "{f}x", "1-1", "f", "v", "g", "w"}, {"XADD", "{f}x", "1-2", "f", "x", "g", "y"},
		{"XADD", "{f}x", "2-0", "h", "1"}, {"XGROUP", "CREATE", "{f}x", "g1", "0"},
		{"XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "{f}x", ">"},
		{"XGROUP", "CREATECONSUMER", "{f}x", "g1", "bob"}, {"XGROUP", "CREATE", "{f}x", "g2", "$"},
		{"HSET", "{f}h", "a", "1", "b", long}, {"SADD", "{f}s", "1", "2", "300000"},
		{"RPUSH", "{f}l", "a", "1", long}, {"SET", "{f}str", long},
	} {
		mustDo(t, c, args...)
	}
	zb := []string{"ZADD", "{f}zb"}
	for i := range 140 {
		zb = append(zb, fmt.Sprint(i%9), fmt.Sprint("m", i))
		mustDo(t, c, "XADD", "{f}xb", "*", "n", fmt.Sprint(i), "pad", strings.Repeat("p", i))
	}
	mustDo(t, c, zb...)
	var seeds [][]byte
	for _, k := range []string{"{f}zs", "{f}zb", "{f}x", "{f}xb", "{f}h", "{f}s", "{f}l", "{f}str"} {
		seeds = append(seeds, []byte(mustDo(t, c, "DUMP", k).(string)))
	}
	allowed := map[string]bool{rdb.ErrBadFormat.Error(): true, rdb.ErrChecksum.Error(): true, store.ErrOOM.Error(): true}
	rng := rand.New(rand.NewPCG(7, 8))
	runs := 3000
	if testing.Short() {
		runs = 600
	}
	restored := 0
	for range runs {
		seed := seeds[rng.IntN(len(seeds))]
		obj := slices.Clone(seed[:len(seed)-10])
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(obj))
			switch rng.IntN(5) {
			case 0:
				obj[at] ^= byte(1 << rng.IntN(8))
			case 1:
				obj[at] = []byte{0, 0xff, 0x80, 0x40, 0xc0, 0x13, 0x11}[rng.IntN(7)]
			case 2:
				obj = obj[:max(at, 1)]
			case 3:
				obj = slices.Insert(obj, at, byte(rng.IntN(256)))
			default:
				n := min(1+rng.IntN(16), len(obj)-at)
				obj = slices.Insert(obj, at, obj[at:at+n]...)
			}
		}
		p := rdb.Seal(obj)
		if rng.IntN(10) == 0 {
			p[len(p)-1] ^= 1
		}
		mustDo(t, c, "DEL", "{f}k")
		_, err := do(c, []string{"RESTORE", "{f}k", "0", string(p)})
		if err != nil {
			if !allowed[err.Error()] {
				t.Fatalf("RESTORE of %x: %v", p, err)
			}
			if n := mustDo(t, c, "EXISTS", "{f}k"); n != int64(0) {
				t.Fatalf("a refused RESTORE of %x left the key", p)
			}
			continue
		}
		restored++
		got := readBack(t, c, "{f}k")
		again := mustDo(t, c, "DUMP", "{f}k").(string)
		mustDo(t, c, "RESTORE", "{f}k2", "0", again, "REPLACE")
		if back := readBack(t, c, "{f}k2"); back != got {
			t.Fatalf("RESTORE of %x, DUMPed and RESTOREd again:\n%.1000s\nwas\n%.1000s", p, back, got)
		}
		if mustDo(t, c, "TYPE", "{f}k") == "stream" {
			// The IDs the restored stream generates still go up.
			mustDo(t, c, "XADD", "{f}k", "*", "a", "b")
		}
	}
	t.Logf("%d of %d corrupted payloads restored as valid values", restored, runs)
	mustDo(t, c, "PING")
}

// TestRestorePastMaxMemory refuses with -OOM, creating nothing, a payload whose value
// would take used memory past maxmemory, and counts what a restored value takes.
func TestRestorePastMaxMemory(t *testing.T) {
	s, c := gridClient(t)
	for i := range 3000 {
		mustDo(t, c, "XADD", "{f}mx", "*", "field", strings.Repeat("v", 200), "n", fmt.Sprint(i))
		mustDo(t, c, "ZADD", "{f}mz", fmt.Sprint(i), fmt.Sprint(strings.Repeat("m", 100), i))
	}
	for _, k := range []string{"{f}mx", "{f}mz"} {
		p := mustDo(t, c, "DUMP", k).(string)
		mustDo(t, c, "DEL", k)
		before := s.store.DatasetBytes()
		mustDo(t, c, "CONFIG", "SET", "maxmemory", fmt.Sprint(s.store.UsedMemory()+100_000))
		if _, err := do(c, []string{"RESTORE", k, "0", p}); err == nil || err.Error() != store.ErrOOM.Error() {
			t.Fatalf("RESTORE %s past maxmemory: %v", k, err)
		}
		if mustDo(t, c, "EXISTS", k) != int64(0) || s.store.DatasetBytes() > before+64<<10 {
			t.Fatalf("a RESTORE refused for memory left %s or took memory: %d, was %d", k, s.store.DatasetBytes(), before)
		}
		mustDo(t, c, "CONFIG", "SET", "maxmemory", "0")
		mustDo(t, c, "RESTORE", k, "0", p)
		if grown := s.store.DatasetBytes() - before; grown < 250_000 {
			t.Fatalf("restoring %s counted %d bytes", k, grown)
		}
	}
}

// TestRestoreServesBlockedClients hands a restored list to a client blocked on its key, as
// any write of the key does (sorted sets and streams wake their blocked clients the same
// way, through the write's keys).
func TestRestoreServesBlockedClients(t *testing.T) {
	s, c := gridClient(t)
	mustDo(t, c, "RPUSH", "{f}src-l", "x", "y")
	for _, tc := range []struct {
		src   string
		block []string
		want  string
	}{
		{"{f}src-l", []string{"BLPOP", "{f}dst", "10"}, "[{f}dst x]"},
	} {
		p := mustDo(t, c, "DUMP", tc.src).(string)
		mustDo(t, c, "DEL", "{f}dst")
		got := make(chan string, 1)
		go func() {
			v, err := do(c, tc.block)
			got <- fmt.Sprint(v, err)
		}()
		testutil.Eventually(t, 5*time.Second, "a client blocked", func() bool { return s.blocked.n.Load() == 1 })
		mustDo(t, c, "RESTORE", "{f}dst", "0", p)
		select {
		case v := <-got:
			if v != tc.want+" <nil>" {
				t.Errorf("%q after RESTORE: %s, want %s", tc.block, v, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not served by RESTORE", tc.block)
		}
	}
}
