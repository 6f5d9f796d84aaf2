package repl_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/repl"
	"github.com/insightgrid/insight/grid/server"
	"github.com/insightgrid/insight/grid/store"
)

// coord is an in-memory etcd for one HA partition: the record with a revision changed
// only by CAS, and the registrations; every change is handed to every instance.
type coord struct {
	mu    sync.Mutex
	st    cluster.State
	insts []*inst
	// replTimeout is every instance's ReplTimeout (200ms when zero: failovers in tests
	// are quick).
	replTimeout time.Duration
}

func (c *coord) CASRecord(_ context.Context, p int, rev int64, rec cluster.Record) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.RecordRevisions[p] != rev {
		return 0, fmt.Errorf("revision %d, not %d: %w", c.st.RecordRevisions[p], rev, repl.ErrConflict)
	}
	c.st.Revision++
	c.st.Records[p], c.st.RecordRevisions[p] = rec, c.st.Revision
	c.publish()
	return c.st.Revision, nil
}

// publish hands a copy of the state to every live instance; c.mu is held.
func (c *coord) publish() {
	st := c.st
	st.Records = map[int]cluster.Record{0: c.st.Records[0]}
	st.RecordRevisions = map[int]int64{0: c.st.RecordRevisions[0]}
	st.Instances = map[string]cluster.Instance{}
	for k, v := range c.st.Instances {
		st.Instances[k] = v
	}
	for _, in := range c.insts {
		if in == nil {
			continue
		}
		if v, err := cluster.BuildView(&st, in.id); err == nil {
			in.srv.SetView(v)
		}
		in.node.SetState(&st)
	}
}

func (c *coord) deregister(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.st.Instances, id)
	c.st.Revision++
	c.publish()
}

func (c *coord) record() cluster.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Records[0]
}

type inst struct {
	id     string
	store  *store.Store
	node   *repl.Node
	srv    *server.Server
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

// crash stops an instance without any goodbye, as kill -9 does.
func (in *inst) crash() {
	in.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = in.srv.Close(ctx)
	<-in.done
}

var testLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// start runs instance i of partition 0 with an empty store as a new process would, and
// registers it.
func (c *coord) start(t testing.TB, i int) *inst {
	t.Helper()
	id := cluster.InstanceID(0, i)
	st := store.New(1 << 20)
	run := repl.NewRun()
	timeout := c.replTimeout
	if timeout == 0 {
		timeout = 200 * time.Millisecond
	}
	node := repl.New(repl.Config{Partition: 0, Instance: i, ReplTimeout: timeout, Store: st, Coord: c, Logger: testLog.With("instance", id)}, run)
	srv, err := server.New(server.Config{Partition: 0, Instance: i, Replication: node, Logger: testLog}, st, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &inst{id: id, store: st, node: node, srv: srv, addr: ln.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() { _ = srv.Serve(ln) }()
	go func() { node.Run(ctx); close(in.done) }()
	t.Cleanup(func() {
		select {
		case <-in.done:
		default:
			in.crash()
		}
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insts[i] = in
	c.st.Instances[id] = cluster.Instance{ID: id, Partition: 0, Instance: i, Address: in.addr, Run: run}
	c.st.Revision++
	c.publish()
	return in
}

// setRecord writes the record as an operator's reset does.
func (c *coord) setRecord(rec cluster.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Revision++
	c.st.Records[0], c.st.RecordRevisions[0] = rec, c.st.Revision
	c.publish()
}

func startPair(t testing.TB) (*coord, []*inst) {
	t.Helper()
	return startPairTimeout(t, 0)
}

// startPairTimeout is startPair with the instances' ReplTimeout (0: the tests' 200ms).
func startPairTimeout(t testing.TB, replTimeout time.Duration) (*coord, []*inst) {
	t.Helper()
	m, _ := cluster.NewPartitionMap(1, true)
	c := &coord{st: cluster.State{
		Revision: 1, Map: m,
		Records:         map[int]cluster.Record{0: cluster.InitialRecord(0, true)},
		RecordRevisions: map[int]int64{0: 1},
		Instances:       map[string]cluster.Instance{},
	}, insts: make([]*inst, 2), replTimeout: replTimeout}
	for i := range 2 {
		c.start(t, i)
	}
	testutil.Eventually(t, 10*time.Second, "backup in sync", func() bool { r := c.record(); return r.InSync && r.PrimaryRun != "" })
	return c, c.insts
}

func TestAcknowledgedWritesAreOnTheBackup(t *testing.T) {
	_, in := startPair(t)
	rdb := redis.NewClient(&redis.Options{Addr: in[0].addr, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	for i := range 200 {
		k := fmt.Sprintf("key:%d", i)
		if err := rdb.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		// Synchronous: the reply came after the backup applied the write.
		if v, ok, _ := in[1].store.Get(nil, []byte(k)); !ok || string(v) != fmt.Sprint(i) {
			t.Fatalf("acknowledged %s is not on the backup (%q %v)", k, v, ok)
		}
	}
	if err := rdb.HSet(ctx, "h", "a", "1", "b", "2").Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := in[1].store.HGetAll([]byte("h")); len(got) != 4 {
		t.Fatalf("hash on the backup: %q", got)
	}
	// A set, in each encoding, changed member by member.
	for _, members := range [][]any{{1, 2, 3}, {"a", "b"}, {strings.Repeat("m", 65), "c"}} {
		if err := rdb.SAdd(ctx, "set", members...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.SRem(ctx, "set", 2, "a").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.SMove(ctx, "set", "{set}dst", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := in[1].store.SMembers([]byte("set")); len(got) != 4 {
		t.Fatalf("set on the backup: %q", got)
	}
	if ok, _ := in[1].store.SIsMember([]byte("{set}dst"), []byte("b")); !ok {
		t.Fatal("SMOVE's destination on the backup lacks the member")
	}
	// A list, pushed and popped at both ends, moved and trimmed.
	if err := rdb.RPush(ctx, "list", "a", "b", "c", strings.Repeat("L", 9000), "d").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LPush(ctx, "list", "z").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.RPop(ctx, "list").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LMove(ctx, "list", "{list}dst", "LEFT", "RIGHT").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.LSet(ctx, "list", 1, "B").Err(); err != nil {
		t.Fatal(err)
	}
	want, _ := in[0].store.LRange([]byte("list"), 0, -1)
	if got, _ := in[1].store.LRange([]byte("list"), 0, -1); len(got) != 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list on the backup: %.80q, want %.80q", got, want)
	}
	if got, _ := in[1].store.LRange([]byte("{list}dst"), 0, -1); len(got) != 1 || string(got[0]) != "z" {
		t.Fatalf("LMOVE's destination on the backup: %q", got)
	}
	// A sorted set, small then large, changed member by member and by range.
	if err := rdb.ZAdd(ctx, "zset", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2, Member: "b"}).Err(); err != nil {
		t.Fatal(err)
	}
	var zs []redis.Z
	for i := range 200 {
		zs = append(zs, redis.Z{Score: float64(i), Member: fmt.Sprintf("m%03d", i)})
	}
	for _, cmd := range [][]any{
		{"ZINCRBY", "zset", "2.5", "a"}, {"ZREM", "zset", "b"}, {"ZPOPMAX", "zset"},
	} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if err := rdb.ZAdd(ctx, "zset", zs...).Err(); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]any{
		{"ZADD", "zset", "GT", "CH", "500", "m001", "-1", "m002"}, {"ZREMRANGEBYSCORE", "zset", "(10", "20"},
		{"ZREMRANGEBYRANK", "zset", "-3", "-2"}, {"ZPOPMIN", "zset", "2"},
		{"ZUNIONSTORE", "{zset}u", "2", "zset", "{zset}none", "WEIGHTS", "2", "1"},
		{"ZRANGESTORE", "{zset}r", "zset", "0", "4"},
	} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	for _, k := range []string{"zset", "{zset}u", "{zset}r"} {
		want, _ := in[0].store.ZRange([]byte(k), store.ZQuery{By: store.ZByRank, Start: 0, Stop: -1})
		got, _ := in[1].store.ZRange([]byte(k), store.ZQuery{By: store.ZByRank, Start: 0, Stop: -1})
		if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sorted set %s on the backup: %d members, want %d (%.80v)", k, len(got), len(want), got)
		}
	}
	// The string and hash commands that change a key in place.
	for _, cmd := range [][]any{
		{"HSETNX", "h", "c", "3"}, {"HINCRBYFLOAT", "h", "c", "0.5"},
		{"SET", "s1", "hello"}, {"SETRANGE", "s1", "6", "world"}, {"GETSET", "s2", "old"},
		{"MSETNX", "{m}a", "1", "{m}b", "2"}, {"SET", "s3", "x"}, {"GETDEL", "s3"},
		{"SET", "s4", "y", "EX", "100"}, {"GETEX", "s4", "PERSIST"}, {"GETEX", "s2", "EX", "100"},
	} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	for k, want := range map[string]string{"s1": "hello\x00world", "s2": "old", "{m}a": "1", "{m}b": "2"} {
		if v, ok, _ := in[1].store.Get(nil, []byte(k)); !ok || string(v) != want {
			t.Fatalf("%s on the backup: %q %v, want %q", k, v, ok, want)
		}
	}
	if v, _, _ := in[1].store.HGet(nil, []byte("h"), []byte("c")); string(v) != "3.5" {
		t.Fatalf("HINCRBYFLOAT on the backup: %q", v)
	}
	if in[1].store.Exists([]byte("s3")) || in[1].store.TTL([]byte("s4")) != -1 || in[1].store.TTL([]byte("s2")) <= 0 {
		t.Fatalf("GETDEL/GETEX on the backup: s3 exists %v, s4 TTL %d, s2 TTL %d",
			in[1].store.Exists([]byte("s3")), in[1].store.TTL([]byte("s4")), in[1].store.TTL([]byte("s2")))
	}
	// Whole values renamed and copied, with their expiry.
	for _, cmd := range [][]any{
		{"EXPIRE", "list", "100"}, {"RENAME", "list", "{list}renamed"}, {"COPY", "set", "{set}copy"},
		{"COPY", "h", "{h}copy"}, {"RENAMENX", "s1", "{s1}new"},
	} {
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if got, _ := in[1].store.LRange([]byte("{list}renamed"), 0, -1); fmt.Sprint(got) != fmt.Sprint(want) || in[1].store.Exists([]byte("list")) || in[1].store.TTL([]byte("{list}renamed")) <= 0 {
		t.Fatalf("RENAME on the backup: %.80q, source exists %v, TTL %d", got, in[1].store.Exists([]byte("list")), in[1].store.TTL([]byte("{list}renamed")))
	}
	if got, _ := in[1].store.SMembers([]byte("{set}copy")); len(got) != 4 {
		t.Fatalf("COPY of a set on the backup: %q", got)
	}
	if got, _ := in[1].store.HGetAll([]byte("{h}copy")); len(got) != 6 {
		t.Fatalf("COPY of a hash on the backup: %q", got)
	}
	if v, _, _ := in[1].store.Get(nil, []byte("{s1}new")); string(v) != "hello\x00world" || in[1].store.Exists([]byte("s1")) {
		t.Fatalf("RENAMENX on the backup: %q", v)
	}
	// The backup redirects clients to the primary.
	bdb := redis.NewClient(&redis.Options{Addr: in[1].addr, MaxRetries: -1})
	defer bdb.Close()
	if err := bdb.Get(ctx, "key:1").Err(); err == nil || !strings.HasPrefix(err.Error(), "MOVED ") || !strings.HasSuffix(err.Error(), in[0].addr) {
		t.Fatalf("GET on the backup: %v, want MOVED", err)
	}
}

func TestBackupTakesOverAfterPrimaryCrash(t *testing.T) {
	c, in := startPair(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: in[0].addr, MaxRetries: -1})
	for i := range 100 {
		if err := rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb.Close()
	before := c.record()
	in[0].crash()
	start := time.Now()
	// Nothing is deregistered: the backup notices the silence on the stream.
	testutil.Eventually(t, 10*time.Second, "promotion", func() bool { return c.record().Primary == in[1].id })
	took := time.Since(start)
	after := c.record()
	if after.Epoch != before.Epoch+1 || after.InSync || after.Backup != in[0].id {
		t.Fatalf("record after failover %+v (before %+v)", after, before)
	}
	t.Logf("promoted after %s (repl timeout 200ms)", took)
	// The record is visible as soon as the backup's write of it returns, a moment before
	// the backup counts the promotion.
	testutil.Eventually(t, 10*time.Second, "one promotion counted", func() bool { return in[1].node.Promotions() == 1 })
	ndb := redis.NewClient(&redis.Options{Addr: in[1].addr, MaxRetries: -1})
	defer ndb.Close()
	testutil.Eventually(t, 10*time.Second, "new primary serving", func() bool { return ndb.Set(ctx, "after", "1", 0).Err() == nil })
	// The crashed primary's address refuses connections, so the backup takes over without
	// waiting for the silence; it still serves only once the lease it gave the old primary
	// with its last acknowledgement (2x the repl timeout; heartbeats every 40ms) ran out.
	if writable := time.Since(start); writable < 250*time.Millisecond {
		t.Fatalf("the new primary acknowledged a write %s after the crash, before the old primary's lease of 400ms ended", writable)
	} else {
		t.Logf("writable again after %s", writable)
	}
	for i := range 100 {
		if v, err := ndb.Get(ctx, fmt.Sprintf("k%d", i)).Int(); err != nil || v != i {
			t.Fatalf("acknowledged k%d after failover: %v %v", i, v, err)
		}
	}
	c.deregister(in[0].id)
}

func TestHandoverSwapsRolesAndKeepsSync(t *testing.T) {
	c, in := startPair(t)
	ctx := context.Background()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{in[0].addr}})
	defer rdb.Close()
	if err := rdb.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// The primary learns of the record saying its backup is in sync a moment after etcd
	// has it: until then it refuses, and the caller asks again.
	var res repl.HandoverResult
	testutil.Eventually(t, 10*time.Second, "a handover the primary accepts", func() bool {
		var err error
		res, err = in[0].node.Handover(ctx, in[1].id, 0, false)
		if err != nil && !strings.Contains(err.Error(), "is not in sync; wait until it is Ready") {
			t.Fatal(err)
		}
		return err == nil
	})
	rec := c.record()
	if rec.Primary != in[1].id || rec.Backup != in[0].id || !rec.InSync || res.Epoch != rec.Epoch {
		t.Fatalf("after handover: %+v, result %+v", rec, res)
	}
	t.Logf("handover pause %dµs", res.PauseMicros)
	if got := in[1].node.Promotions(); got != 0 {
		t.Errorf("a planned handover counted as %d promotions, want 0", got)
	}
	// The old primary follows the new one from the redo ring and is back in sync; writes
	// through the cluster client follow MOVED.
	testutil.Eventually(t, 10*time.Second, "writes on the new primary", func() bool { return rdb.Set(ctx, "b", "2", 0).Err() == nil })
	if v, ok, _ := in[0].store.Get(nil, []byte("b")); !ok || string(v) != "2" {
		t.Fatalf("write after handover not on the new backup: %q %v", v, ok)
	}
	if _, err := in[0].node.Handover(ctx, in[1].id, 0, false); err == nil {
		t.Fatal("a backup accepted a handover request")
	}
	if _, err := in[1].node.Handover(ctx, in[0].id, rec.Epoch+5, false); err == nil {
		t.Fatal("handover with a wrong epoch accepted")
	}
}

// A partition reset onto the instance that kept the data: a backup that starts empty must
// load a snapshot, not continue from sequence 0 of the new epoch.
func TestBackupOfAResetPartitionLoadsASnapshot(t *testing.T) {
	fresh := snapshotAfterReset(t, func(ctx context.Context, rdb *redis.Client) {
		for i := range 50 {
			if err := rdb.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := fresh.store.Keys(); got != 50 {
		t.Fatalf("the restarted backup is in sync with %d keys, want 50", got)
	}
}

// A slot holding many times the snapshot's write size (keys with one hash tag) reaches the
// backup whole although the primary sends it in pieces.
func TestSnapshotOfAHeavySlotArrivesWhole(t *testing.T) {
	const keys, size = 64, 64 << 10 // 4 MiB in one slot
	value := func(i int) string { return strings.Repeat(string(rune('a'+i%26)), size-1) + fmt.Sprint(i%10) }
	fresh := snapshotAfterReset(t, func(ctx context.Context, rdb *redis.Client) {
		for i := range keys {
			if err := rdb.Set(ctx, fmt.Sprintf("{heavy}:%d", i), value(i), 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := fresh.store.Keys(); got != keys {
		t.Fatalf("the restarted backup is in sync with %d keys, want %d", got, keys)
	}
	for i := range keys {
		got, ok, err := fresh.store.Get(nil, []byte(fmt.Sprintf("{heavy}:%d", i)))
		if !ok || err != nil || string(got) != value(i) {
			t.Fatalf("{heavy}:%d on the backup: %d bytes (found %v, %v); want the %d bytes written", i, len(got), ok, err, size)
		}
	}
}

// snapshotAfterReset writes through the primary of a pair, crashes it, lets the backup take
// over, resets the partition onto it as an operator does and restarts p0-i0 empty, which
// then loads a snapshot; it returns the restarted instance once in sync.
func snapshotAfterReset(t *testing.T, write func(context.Context, *redis.Client)) *inst {
	t.Helper()
	c, in := startPair(t)
	rdb := redis.NewClient(&redis.Options{Addr: in[0].addr, MaxRetries: -1})
	write(context.Background(), rdb)
	rdb.Close()
	in[0].crash()
	c.deregister(in[0].id)
	testutil.Eventually(t, 10*time.Second, "the backup to take over", func() bool { return c.record().Primary == in[1].id })
	rec := c.record()
	c.setRecord(cluster.Record{Epoch: rec.Epoch + 1, Primary: in[1].id, Backup: in[0].id, PreferredPrimary: rec.PreferredPrimary})
	testutil.Eventually(t, 10*time.Second, "p0-i1 to claim the partition", func() bool { return c.record().PrimaryRun != "" })
	fresh := c.start(t, 0)
	testutil.Eventually(t, 10*time.Second, "the restarted p0-i0 in sync", func() bool { return c.record().InSync })
	return fresh
}

// Without a backup, a restarted primary starts its partition anew (empty, next epoch), as
// a Redis without persistence does, instead of refusing service forever.
func TestPartitionWithoutBackupRestartsEmpty(t *testing.T) {
	m, _ := cluster.NewPartitionMap(1, false)
	c := &coord{st: cluster.State{
		Revision: 1, Map: m,
		Records:         map[int]cluster.Record{0: cluster.InitialRecord(0, false)},
		RecordRevisions: map[int]int64{0: 1},
		Instances:       map[string]cluster.Instance{},
	}, insts: make([]*inst, 2)}
	first := c.start(t, 0)
	testutil.Eventually(t, 10*time.Second, "the primary to claim", func() bool { return c.record().PrimaryRun != "" })
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: first.addr, MaxRetries: -1})
	testutil.Eventually(t, 10*time.Second, "a write", func() bool { return rdb.Set(ctx, "k", "v", 0).Err() == nil })
	rdb.Close()
	epoch := c.record().Epoch
	first.crash()
	c.deregister(first.id)
	second := c.start(t, 0)
	testutil.Eventually(t, 10*time.Second, "the restarted primary to start anew", func() bool { r := c.record(); return r.Epoch == epoch+1 })
	rdb = redis.NewClient(&redis.Options{Addr: second.addr, MaxRetries: -1})
	defer rdb.Close()
	testutil.Eventually(t, 10*time.Second, "writes on the restarted primary", func() bool { return rdb.Set(ctx, "k2", "v", 0).Err() == nil })
	if n := second.store.Keys(); n != 1 {
		t.Fatalf("restarted primary has %d keys, want only the new one", n)
	}
}

// A bit, bitfield, range or HyperLogLog write to a large (512 KiB) string reaches the backup as the
// bytes it changed (the store's tests bound their size) and leaves both copies equal.
func TestStringRangeWritesAreOnTheBackup(t *testing.T) {
	_, in := startPair(t)
	rdb := redis.NewClient(&redis.Options{Addr: in[0].addr, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Set(ctx, "bits", strings.Repeat("\x0f", 1<<19), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return rdb.SetBit(ctx, "bits", 12345, 1).Err() },
		func() error { return rdb.SetBit(ctx, "bits", 4<<20+3, 1).Err() },
		func() error { return rdb.BitField(ctx, "bits", "SET", "i16", "#9", -7, "INCRBY", "u8", 800, 300).Err() },
		func() error { return rdb.SetRange(ctx, "bits", 5000, "range").Err() },
		func() error { return rdb.Append(ctx, "bits", "tail").Err() },
		func() error { return rdb.PFAdd(ctx, "hll", "a", "b", "c").Err() },
		func() error { return rdb.PFCount(ctx, "hll").Err() },
		func() error { return rdb.BitOpOr(ctx, "{bits}or", "bits").Err() },
	}
	for i := range 3000 {
		steps = append(steps, func() error { return rdb.PFAdd(ctx, "hll", fmt.Sprint("m", i)).Err() })
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	for _, k := range []string{"bits", "hll", "{bits}or"} {
		want, _, _ := in[0].store.Get(nil, []byte(k))
		got, ok, _ := in[1].store.Get(nil, []byte(k))
		if !ok || string(got) != string(want) {
			t.Fatalf("%s on the backup (%d bytes) differs from the primary's (%d bytes)", k, len(got), len(want))
		}
	}
	if ttl := in[1].store.TTL([]byte("bits")); ttl <= 0 {
		t.Fatalf("the backup's copy lost its expiry (%d)", ttl)
	}
}

// TestExpiryCycleDeletionsReachTheBackup: a key the primary's expiry cycle removes is
// removed on the backup by the journaled deletion — the backup's clock is never exactly
// the primary's, and a backup still holding the old value would add the next write of a
// new key at that name to it. The backup's own expiry cycle is not running here, so only
// the journal can remove its copy.
func TestExpiryCycleDeletionsReachTheBackup(t *testing.T) {
	_, in := startPair(t)
	rdb := redis.NewClient(&redis.Options{Addr: in[0].addr, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := rdb.Set(ctx, "soon", "gone", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	before := in[0].node.Status().Offset
	if in[1].store.Keys() != 1 {
		t.Fatalf("the backup holds %d keys after the acknowledged SET, want 1", in[1].store.Keys())
	}
	done := make(chan struct{})
	go func() { in[0].store.RunExpiry(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testutil.Eventually(t, 10*time.Second, "the primary's expiry deletion applied on the backup", func() bool {
		return in[0].store.Keys() == 0 && in[1].store.Keys() == 0 && in[1].node.Status().Offset == before+1
	})
	if got := in[0].node.Status().Offset; got != before+1 {
		t.Fatalf("the primary journaled %d operations for one expired key, want 1", got-before)
	}
}
