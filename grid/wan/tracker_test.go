package wan

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// site is a partition's primary with WAN on, its replication stream captured: the
// store's operations and the tracker's, in the order a backup receives them.
type site struct {
	st     *store.Store
	tr     *Tracker
	mu     sync.Mutex
	stream [][]byte
}

func (s *site) Record(slot int, op []byte) {
	s.rec(slot, op)
	s.tr.Record(slot, op, s.rec)
}

func (s *site) rec(_ int, op []byte) {
	s.mu.Lock()
	s.stream = append(s.stream, bytes.Clone(op))
	s.mu.Unlock()
}

func newSite(t testing.TB, name string, mod func(*Config), targets ...string) *site {
	t.Helper()
	st := store.New(1 << 20)
	cfg := Config{Site: name, Targets: targets, OutboxMax: 1000, Mode: ModeBlock, TombstoneTTL: time.Hour, Store: st}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := &site{st: st, tr: NewTracker(cfg)}
	st.SetJournal(s)
	return s
}

// backup replays the site's stream into a fresh store and tracker, as a backup does.
func (s *site) backup(t *testing.T) *site {
	t.Helper()
	cfg := s.tr.cfg
	b := &site{st: store.New(1 << 20)}
	cfg.Store = b.st
	b.tr = NewTracker(cfg)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range s.stream {
		var err error
		if IsOp(op) {
			err = b.tr.ApplyOp(op)
		} else {
			err = b.st.Apply(op)
		}
		if err != nil {
			t.Fatalf("replaying %x: %v", op, err)
		}
	}
	return b
}

func exclusive(_ int, fn func()) { fn() }

func (s *site) set(t testing.TB, k, v string) {
	t.Helper()
	if _, err := s.st.Set(nil, []byte(k), []byte(v), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (s *site) get(t testing.TB, k string) (string, bool) {
	t.Helper()
	v, ok, err := s.st.Get(nil, []byte(k))
	if err != nil {
		t.Fatal(err)
	}
	return string(v), ok
}

func (s *site) pull(t testing.TB, target string) Batch {
	t.Helper()
	b, err := s.tr.Pull(target, 1000, s.rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ship applies every change of b at dst and acknowledges them at src.
func ship(t testing.TB, src, dst *site, b Batch) {
	t.Helper()
	for _, c := range b.Changes {
		if _, err := dst.tr.ApplyRemote(c, exclusive, dst.rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.tr.Ack(dst.tr.Site(), b.Upto, src.rec); err != nil {
		t.Fatal(err)
	}
}

func keysOf(b Batch) string {
	var ks []string
	for _, c := range b.Changes {
		ks = append(ks, fmt.Sprintf("%s@%d", c.Key, c.HLC))
	}
	return strings.Join(ks, " ")
}

func TestOutboxCoalescesRepeatedWritesToTheLastValue(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	for i := range 10 {
		a.set(t, "k", fmt.Sprint(i))
	}
	b := a.pull(t, "b")
	if len(b.Changes) != 1 {
		t.Fatalf("pulled %s, want k once", keysOf(b))
	}
	dst := newSite(t, "b", nil, "a")
	ship(t, a, dst, b)
	if v, _ := dst.get(t, "k"); v != "9" {
		t.Fatalf("target holds k=%q, want the last value 9", v)
	}
	if st := a.tr.Status(); st.Outbox != 0 || st.Targets[0].Backlog != 0 {
		t.Fatalf("after the ack: outbox %d backlog %d, want 0", st.Outbox, st.Targets[0].Backlog)
	}
	if again := a.pull(t, "b"); len(again.Changes) != 0 {
		t.Fatalf("pulled again after the ack: %s", keysOf(again))
	}
	a.set(t, "k", "10")
	if again := a.pull(t, "b"); len(again.Changes) != 1 {
		t.Fatalf("a write after the ack: pulled %s, want k", keysOf(again))
	}
}

func TestBackupReplayHoldsTheSameMetadataAndOutbox(t *testing.T) {
	a := newSite(t, "a", nil, "b", "c")
	for i := range 50 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	if _, err := a.st.HSet([]byte("h"), [][]byte{[]byte("f"), []byte("v")}); err != nil {
		t.Fatal(err)
	}
	a.st.Del([]byte("k3"))
	first := a.pull(t, "b")
	if err := a.tr.Ack("b", first.Changes[20].HLC, a.rec); err != nil {
		t.Fatal(err)
	}
	remote := Change{Key: []byte("k7"), HLC: a.tr.clock.Last() + 1000, Site: "c", Op: nil}
	if ok, err := a.tr.ApplyRemote(remote, exclusive, a.rec); err != nil || !ok {
		t.Fatalf("ApplyRemote: %v %v", ok, err)
	}
	b := a.backup(t)
	for _, target := range []string{"b", "c"} {
		want, got := a.pull(t, target), b.pull(t, target)
		if keysOf(want) != keysOf(got) || want.Upto != got.Upto {
			t.Fatalf("target %s: the backup's outbox\n%s (upto %d)\nthe primary's\n%s (upto %d)", target, keysOf(got), got.Upto, keysOf(want), want.Upto)
		}
	}
	sa, sb := a.tr.Status(), b.tr.Status()
	if fmt.Sprint(sa.Targets) != fmt.Sprint(sb.Targets) || sa.MetaKeys != sb.MetaKeys || sa.Outbox != sb.Outbox {
		t.Fatalf("status differs:\nprimary %+v\nbackup  %+v", sa, sb)
	}
	if b.tr.clock.Last() < remote.HLC {
		t.Fatalf("the backup's clock %d is behind a timestamp it holds %d: after a failover it would stamp older writes", b.tr.clock.Last(), remote.HLC)
	}
	if strings.Contains(keysOf(a.pull(t, "c")), "k7@") {
		t.Fatal("a change from site c is in the outbox to c")
	}
}

func TestBackupReplayOfASnapshotHoldsTheSameOutbox(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	for i := range 300 {
		a.set(t, fmt.Sprintf("k%d", i%120), fmt.Sprint(i))
	}
	if err := a.tr.Ack("b", a.pull(t, "b").Changes[30].HLC, a.rec); err != nil {
		t.Fatal(err)
	}
	// A snapshot: every slot's keys, then its metadata (slot 0's with the targets).
	b := &site{st: store.New(1 << 20)}
	cfg := a.tr.cfg
	cfg.Store = b.st
	b.tr = NewTracker(cfg)
	for slot := range 16384 {
		a.st.DumpSlot(slot, func(op []byte) {
			if err := b.st.Apply(op); err != nil {
				t.Fatal(err)
			}
		})
		a.tr.DumpSlot(slot, func(op []byte) {
			if err := b.tr.ApplyOp(op); err != nil {
				t.Fatal(err)
			}
		})
	}
	want, got := a.pull(t, "b"), b.pull(t, "b")
	if keysOf(want) != keysOf(got) || len(want.Changes) != 120-31 {
		t.Fatalf("after a snapshot the backup's outbox is\n%s\nthe primary's (%d keys)\n%s", keysOf(got), len(want.Changes), keysOf(want))
	}
}

func TestLastWriterWinsConvergesWhateverTheArrivalOrder(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	now := func() time.Time { return wall }
	sites := map[string]*site{}
	for _, n := range []string{"a", "b", "c"} {
		sites[n] = newSite(t, n, func(c *Config) { c.Now = now }, others(n)...)
	}
	// Concurrent writes of one key at three sites, two with the same wall time (the
	// site name breaks the tie), and a deletion.
	sites["a"].set(t, "k", "from-a")
	sites["b"].set(t, "k", "from-b")
	wall = wall.Add(time.Millisecond)
	sites["c"].set(t, "k", "from-c")
	sites["c"].st.Del([]byte("k")) // c's last word: deleted, the newest timestamp
	sites["a"].set(t, "j", "a1")
	sites["b"].set(t, "j", "b1") // same millisecond as a's: b > a wins
	var all []Change
	for n, s := range sites {
		for _, tg := range others(n) {
			all = append(all, s.pull(t, tg).Changes...)
		}
	}
	orders := [][]int{}
	for i := range len(all) {
		o := []int{}
		for j := range len(all) {
			o = append(o, (i+j)%len(all))
		}
		orders = append(orders, o)
		r := make([]int, len(o))
		for j := range o {
			r[j] = o[len(o)-1-j]
		}
		orders = append(orders, r)
	}
	for _, order := range orders {
		fresh := map[string]*site{}
		for _, n := range []string{"a", "b", "c"} {
			fresh[n] = newSite(t, n, func(c *Config) { c.Now = now }, others(n)...)
		}
		for _, i := range order {
			c := all[i]
			for n, s := range fresh {
				if n == c.Site {
					continue
				}
				if _, err := s.tr.ApplyRemote(c, exclusive, s.rec); err != nil {
					t.Fatal(err)
				}
			}
		}
		// Each site also holds its own writes: the sites that received the winner
		// hold it, whatever order the changes came in.
		for _, n := range []string{"a", "b"} {
			if _, ok := fresh[n].get(t, "k"); ok {
				t.Fatalf("order %v: site %s still holds k, deleted by the newest write", order, n)
			}
		}
		for _, n := range []string{"a", "c"} {
			if v, _ := fresh[n].get(t, "j"); v != "b1" {
				t.Fatalf("order %v: site %s holds j=%q, want b1 (same timestamp, site b > a)", order, n, v)
			}
		}
	}
}

func others(n string) []string {
	var out []string
	for _, s := range []string{"a", "b", "c"} {
		if s != n {
			out = append(out, s)
		}
	}
	return out
}

func TestAnOlderRemoteWriteDoesNotOverwriteANewerOne(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	a.set(t, "k", "new")
	h := a.pull(t, "b").Changes[0].HLC
	old := Change{Key: []byte("k"), HLC: h - 1, Site: "b", Op: []byte(nil)}
	if ok, err := a.tr.ApplyRemote(old, exclusive, a.rec); err != nil || ok {
		t.Fatalf("an older deletion: applied %v, err %v; want refused", ok, err)
	}
	if v, _ := a.get(t, "k"); v != "new" {
		t.Fatalf("k=%q, want new", v)
	}
	if st := a.tr.Status(); st.Stale != 1 {
		t.Fatalf("stale %d, want 1", st.Stale)
	}
	// A tombstone keeps an older write from bringing the key back.
	tomb := Change{Key: []byte("k"), HLC: h + 10, Site: "b"}
	if ok, _ := a.tr.ApplyRemote(tomb, exclusive, a.rec); !ok {
		t.Fatal("a newer deletion was not applied")
	}
	late := Change{Key: []byte("k"), HLC: h + 5, Site: "c", Op: stringOp(t, "k", "late")}
	if ok, _ := a.tr.ApplyRemote(late, exclusive, a.rec); ok {
		t.Fatal("a write older than the tombstone was applied")
	}
	if _, ok := a.get(t, "k"); ok {
		t.Fatal("k came back after its deletion")
	}
}

// stringOp is the store's operation setting k to v.
func stringOp(t *testing.T, k, v string) []byte {
	t.Helper()
	st := store.New(1 << 20)
	if _, err := st.Set(nil, []byte(k), []byte(v), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	op, _ := st.DumpKey([]byte(k))
	return op
}

func TestFullOutboxMarksTheSlowestTargetOutOfSyncAndResyncs(t *testing.T) {
	a := newSite(t, "a", func(c *Config) { c.OutboxMax = 5; c.Mode = ModeOutOfSync }, "b", "c")
	for i := range 5 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	ship(t, a, newSite(t, "c", nil, "a"), a.pull(t, "c")) // c keeps up
	for i := 5; i < 10; i++ {                             // c's backlog stays within the bound; b's passes it
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	st := a.tr.Status()
	if !st.Targets[0].OutOfSync || st.Targets[0].MarkedOutOfSync != 1 || st.Targets[1].OutOfSync {
		t.Fatalf("targets %+v: want b (the slowest) out of sync once, c in sync", st.Targets)
	}
	if st.Outbox != 5 {
		t.Fatalf("outbox %d keys after b went out of sync, want only c's 5", st.Outbox)
	}
	// The resynchronization of b: every key written since its acknowledgement, from
	// the metadata, in batches.
	dst := newSite(t, "b", nil, "a")
	for range 5 {
		b, err := a.tr.Pull("b", 4, a.rec)
		if err != nil {
			t.Fatal(err)
		}
		ship(t, a, dst, b)
	}
	for i := range 10 {
		if _, ok := dst.get(t, fmt.Sprintf("k%d", i)); !ok {
			t.Fatalf("k%d missing at b after the resync", i)
		}
	}
	if st := a.tr.Status(); st.Targets[0].OutOfSync || st.Targets[0].Backlog != 0 {
		t.Fatalf("after the resync b is %+v, want in sync without backlog", st.Targets[0])
	}
}

func TestFullOutboxInBlockModeHoldsWriteRepliesUntilAcknowledged(t *testing.T) {
	a := newSite(t, "a", func(c *Config) { c.OutboxMax = 3 }, "b")
	for i := range 3 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	var done atomic.Bool
	go func() { a.tr.WaitRoom(); done.Store(true) }()
	testutil.Eventually(t, 10*time.Second, "a writer waiting for room", func() bool { return a.tr.Status().BlockedWrites == 1 })
	if done.Load() {
		t.Fatal("WaitRoom returned with the outbox full")
	}
	ship(t, a, newSite(t, "b", nil, "a"), a.pull(t, "b"))
	testutil.Eventually(t, 10*time.Second, "the writer let go after the ack", done.Load)
	a.tr.WaitRoom() // room now: returns at once
}

func TestTombstonesAreCollectedAfterTheirTTLOnceEveryTargetHasThem(t *testing.T) {
	wall := time.Now()
	a := newSite(t, "a", func(c *Config) { c.Now = func() time.Time { return wall }; c.TombstoneTTL = time.Minute }, "b")
	a.set(t, "gone", "v")
	a.set(t, "kept", "v")
	a.st.Del([]byte("gone"))
	wall = wall.Add(2 * time.Minute)
	if n := a.tr.CollectTombstones(); n != 0 {
		t.Fatalf("collected %d tombstones b has not acknowledged", n)
	}
	ship(t, a, newSite(t, "b", nil, "a"), a.pull(t, "b"))
	if n := a.tr.CollectTombstones(); n != 1 {
		t.Fatalf("collected %d, want the one tombstone (a live key keeps its metadata)", n)
	}
	if st := a.tr.Status(); st.MetaKeys != 1 {
		t.Fatalf("metadata of %d keys left, want 1 (kept)", st.MetaKeys)
	}
}

func TestEveryKindReplicatesWhole(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	dst := newSite(t, "b", nil, "a")
	m := func(vs ...string) [][]byte {
		var out [][]byte
		for _, v := range vs {
			out = append(out, []byte(v))
		}
		return out
	}
	steps := []func() error{
		func() error { _, err := a.st.Push([]byte("l"), m("x", "y", "z"), false, false); return err },
		func() error { _, err := a.st.SAdd([]byte("s"), m("m1", "m2")); return err },
		func() error {
			_, err := a.st.ZAdd([]byte("z"), store.ZAddFlags{}, m("p", "q"), []float64{1.5, -2})
			return err
		},
		func() error {
			_, _, err := a.st.XAdd([]byte("x"), store.XAddArgs{Auto: true}, m("f", "v"))
			return err
		},
		func() error { return a.st.XGroupCreate([]byte("x"), []byte("g"), store.StreamID{}, false, false, 0) },
		func() error { _, err := a.st.SetRange([]byte("bits"), 3, []byte{0x81}); return err },
		func() error { _, err := a.st.Expire([]byte("l"), time.Now().Add(time.Hour).UnixMilli(), 0); return err },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	b := a.pull(t, "b")
	if len(b.Changes) != 5 {
		t.Fatalf("pulled %s, want l s z x bits", keysOf(b))
	}
	ship(t, a, dst, b)
	for _, k := range []string{"l", "s", "z", "x", "bits"} {
		want, wk := a.st.DumpKey([]byte(k))
		got, gk := dst.st.DumpKey([]byte(k))
		if wk != gk || !bytes.Equal(want, got) {
			t.Errorf("key %s: the target holds %v %x, want %v %x", k, gk, got, wk, want)
		}
	}
	if st := a.tr.Status(); len(st.Unsupported) != 0 {
		t.Fatalf("unsupported %v, want none", st.Unsupported)
	}
}

func TestBadConfigurationAndRequestsAreRefusedByName(t *testing.T) {
	bad := Config{Site: "A_B", Targets: []string{"x", "x", "A_B"}, OutboxMax: 0, Mode: "drop", TombstoneTTL: 0}
	err := bad.Validate()
	for _, want := range []string{`--wan-site "A_B"`, `--wan-targets names "x" twice`, "--wan-outbox-max 0", `--wan-outbox-full "drop"`, "--wan-tombstone-ttl 0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want it to say %s", err, want)
		}
	}
	a := newSite(t, "a", nil, "b")
	if _, err := a.tr.Pull("z", 10, a.rec); err == nil || !strings.Contains(err.Error(), `target "z"`) {
		t.Errorf("Pull of an unknown target: %v", err)
	}
	if err := a.tr.Ack("z", 1, a.rec); err == nil {
		t.Error("Ack of an unknown target accepted")
	}
	if _, err := a.tr.ApplyRemote(Change{Key: []byte("k"), HLC: 1, Site: "a"}, exclusive, a.rec); err == nil {
		t.Error("a change claiming to come from this site was applied")
	}
	if err := a.tr.ApplyOp([]byte{opMeta, 200}); err == nil {
		t.Error("a truncated metadata operation was applied")
	}
}

// BenchmarkMetadataPerKey reports the memory WAN metadata costs per key written (Go
// heap, metadata and outbox entry; the value itself is in the store either way).
func BenchmarkMetadataPerKey(b *testing.B) {
	const n = 200_000
	for range b.N {
		a := newSite(b, "a", func(c *Config) { c.OutboxMax = 2 * n }, "b")
		a.st.SetJournal(nil)
		keys := make([][]byte, n)
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "user:%08d", i)
		}
		discard := func(int, []byte) {}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, k := range keys {
			a.tr.note(i%16384, k, nil, discard)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/key-unacked")
		if err := a.tr.Ack("b", a.tr.clock.Last(), discard); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/key-acked")
		runtime.KeepAlive(a)
		runtime.KeepAlive(keys)
	}
}

func TestWithEveryTargetOutOfSyncTheOutboxHoldsNothing(t *testing.T) {
	a := newSite(t, "a", func(c *Config) { c.OutboxMax = 5; c.Mode = ModeOutOfSync }, "b")
	for i := range 50 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	st := a.tr.Status()
	if st.Outbox != 0 || !st.Targets[0].OutOfSync || st.Targets[0].Backlog != 50 {
		t.Fatalf("outbox %d, target %+v: want an empty outbox, b out of sync with a backlog of 50", st.Outbox, st.Targets[0])
	}
	if b := a.backup(t); fmt.Sprint(b.tr.Status().Targets) != fmt.Sprint(st.Targets) || b.tr.Status().Outbox != 0 {
		t.Fatalf("the backup's state %+v differs from the primary's %+v", b.tr.Status(), st)
	}
	dst := newSite(t, "b", nil, "a")
	for range 3 {
		ship(t, a, dst, a.pull(t, "b"))
	}
	if st := a.tr.Status(); st.Targets[0].OutOfSync || st.Targets[0].Backlog != 0 {
		t.Fatalf("after the resync: %+v, want in sync", st.Targets[0])
	}
	a.set(t, "after", "v")
	if b := a.pull(t, "b"); keysOf(b) == "" || b.Resync {
		t.Fatalf("a write after the resync: pulled %q (resync %v), want it from the outbox", keysOf(b), b.Resync)
	}
}

func TestAResyncUnderSteadyWritesComesBackInSync(t *testing.T) {
	a := newSite(t, "a", func(c *Config) { c.OutboxMax = 5; c.Mode = ModeOutOfSync }, "b")
	for i := range 20 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	dst := newSite(t, "b", nil, "a")
	for round := range 10 {
		b := a.pull(t, "b")
		a.set(t, fmt.Sprintf("w%d", round), "v") // a write between the pull and its ack
		ship(t, a, dst, b)
	}
	if st := a.tr.Status(); st.Targets[0].OutOfSync {
		t.Fatalf("still out of sync after complete resync pulls: %+v (a write between each pull and its ack must not keep it out)", st.Targets[0])
	}
	ship(t, a, dst, a.pull(t, "b"))
	st := a.tr.Status()
	if st.Targets[0].OutOfSync || st.Targets[0].Backlog != 0 {
		t.Fatalf("after resync rounds with writes in between: %+v, want in sync without backlog", st.Targets[0])
	}
	for i := range 10 {
		if _, ok := dst.get(t, fmt.Sprintf("w%d", i)); !ok {
			t.Fatalf("w%d, written during the resync, is missing at b", i)
		}
	}
}

func TestWrittenWakesALongPollAtTheNextLocalWriteOnly(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	w := a.tr.Written()
	remote := Change{Key: []byte("r"), HLC: 5, Site: "b", Op: stringOp(t, "r", "v")}
	if _, err := a.tr.ApplyRemote(remote, exclusive, a.rec); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w:
		t.Fatal("a write from another site woke the poll for this site's outbox")
	default:
	}
	a.set(t, "k", "v")
	select {
	case <-w:
	default:
		t.Fatal("a local write did not wake the poll")
	}
	if a.tr.Written() == w {
		t.Fatal("the next poll got the closed channel again")
	}
}

func TestRewritesWhileNothingIsAcknowledgedKeepTheQueueSmall(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	for i := range 100_000 {
		a.set(t, fmt.Sprintf("k%d", i%10), fmt.Sprint(i))
	}
	a.tr.mu.Lock()
	n := len(a.tr.queue) - a.tr.qhead
	a.tr.mu.Unlock()
	if n > 4*10+1024 {
		t.Fatalf("the queue holds %d entries for 10 live keys", n)
	}
	if b := a.pull(t, "b"); len(b.Changes) != 10 {
		t.Fatalf("pulled %d changes, want the 10 keys", len(b.Changes))
	}
}

func TestKeysMovingOutWithTheirSlotLeaveNoTombstone(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	a.set(t, "moved", "v")
	a.set(t, "stays", "v")
	slot := slots.Of([]byte("moved"))
	a.tr.MovingOut(slot, true)
	a.st.Del([]byte("moved")) // the mover's deletion once the key is at its new partition
	a.tr.MovingOut(slot, false)
	b := a.pull(t, "b")
	if len(b.Changes) != 1 || string(b.Changes[0].Key) != "stays" {
		t.Fatalf("pulled %s: want stays alone (moved is neither sent nor deleted at b)", keysOf(b))
	}
	st, bst := a.tr.Status(), a.backup(t).tr.Status()
	if st.MetaKeys != 1 || bst.MetaKeys != 1 || st.Outbox != 1 || bst.Outbox != 1 {
		t.Fatalf("metadata %d/%d keys, outbox %d/%d (primary/backup): want 1 each", st.MetaKeys, bst.MetaKeys, st.Outbox, bst.Outbox)
	}
}

// pullChain pulls target's batches of up to n keys from s, each after the previous one's
// Upto and nothing acknowledged, until one is empty; it returns them, the empty one last.
func pullChain(t *testing.T, s *site, target string, n int, after uint64) []Batch {
	t.Helper()
	var out []Batch
	for range 100 {
		b, err := s.tr.PullAfter(target, n, after, s.rec)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		if len(b.Changes) == 0 {
			return out
		}
		if b.Upto <= after {
			t.Fatalf("batch %s: Upto %d not past the cursor %d", keysOf(b), b.Upto, after)
		}
		after = b.Upto
	}
	t.Fatal("no empty batch after 100 pulls")
	return nil
}

// chainKeys is the keys of batches in order, and fails on a key sent twice.
func chainKeys(t *testing.T, bs []Batch) []string {
	t.Helper()
	var ks []string
	seen := map[string]bool{}
	for _, b := range bs {
		for _, c := range b.Changes {
			if seen[string(c.Key)] {
				t.Fatalf("key %s pulled twice in %v", c.Key, bs)
			}
			seen[string(c.Key)] = true
			ks = append(ks, string(c.Key))
		}
	}
	return ks
}

func TestPullAfterACursorGetsTheWritesAfterItAndAPullWithoutOneRestartsFromTheAck(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	for i := range 10 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	bs := pullChain(t, a, "b", 4, 0)
	if got := strings.Join(chainKeys(t, bs), " "); got != "k0 k1 k2 k3 k4 k5 k6 k7 k8 k9" || len(bs) != 4 {
		t.Fatalf("a chain of pulls of 4 got %q in %d batches, want k0..k9 once each in 3 and an empty one", got, len(bs))
	}
	if last := bs[len(bs)-1]; last.Upto != bs[2].Upto {
		t.Fatalf("the empty pull's Upto %d, want the cursor %d", last.Upto, bs[2].Upto)
	}
	// A cursor behind the acknowledgement is the acknowledgement.
	if err := a.tr.Ack("b", bs[0].Upto, a.rec); err != nil {
		t.Fatal(err)
	}
	b, err := a.tr.PullAfter("b", 4, 1, a.rec)
	if err != nil {
		t.Fatal(err)
	}
	if keysOf(b) != keysOf(bs[1]) {
		t.Fatalf("after the first batch's ack, a pull behind it got %s, want the second batch %s", keysOf(b), keysOf(bs[1]))
	}
	// A failed pipeline starts again from the acknowledgement: the second batch comes
	// again, with a key rewritten meanwhile at its new timestamp, later.
	a.set(t, "k5", "w")
	bs = pullChain(t, a, "b", 4, 0)
	if got := strings.Join(chainKeys(t, bs), " "); got != "k4 k6 k7 k8 k9 k5" {
		t.Fatalf("a chain from the acknowledgement got %q, want k4 k6 k7 k8 k9 k5", got)
	}
	if err := a.tr.Ack("b", bs[len(bs)-2].Upto, a.rec); err != nil {
		t.Fatal(err)
	}
	if st := a.tr.Status(); st.Outbox != 0 || st.Targets[0].Backlog != 0 {
		t.Fatalf("after the last batch's ack: outbox %d backlog %d, want 0", st.Outbox, st.Targets[0].Backlog)
	}
}

func TestPullAfterACursorResynchronizesATargetOutOfSyncInOnePass(t *testing.T) {
	a := newSite(t, "a", func(c *Config) { c.OutboxMax = 5; c.Mode = ModeOutOfSync }, "b", "c")
	for i := range 5 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	ship(t, a, newSite(t, "c", nil, "a"), a.pull(t, "c"))
	for i := 5; i < 10; i++ {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	if st := a.tr.Status(); !st.Targets[0].OutOfSync {
		t.Fatalf("targets %+v: want b out of sync", st.Targets)
	}
	// The scan of the metadata in batches of 3, pipelined: each starts after the
	// previous one; a write during it comes after the scan, from the outbox.
	var bs []Batch
	after := uint64(0)
	for i := range 3 {
		b, err := a.tr.PullAfter("b", 3, after, a.rec)
		if err != nil {
			t.Fatal(err)
		}
		if !b.Resync {
			t.Fatalf("pull %d of the scan not marked Resync", i)
		}
		bs, after = append(bs, b), b.Upto
	}
	a.set(t, "late", "v")
	bs = append(bs, pullChain(t, a, "b", 3, after)...)
	if got := strings.Join(chainKeys(t, bs), " "); got != "k0 k1 k2 k3 k4 k5 k6 k7 k8 k9 late" {
		t.Fatalf("the pipelined resync got %q, want k0..k9 and late once each", got)
	}
	dst := newSite(t, "b", nil, "a")
	for _, b := range bs {
		ship(t, a, dst, b)
	}
	if st := a.tr.Status(); st.Targets[0].OutOfSync || st.Targets[0].Backlog != 0 {
		t.Fatalf("after the pipelined resync's acks b is %+v, want in sync without backlog", st.Targets[0])
	}
	a.set(t, "next", "v")
	if b := a.pull(t, "b"); b.Resync || keysOf(b) == "" || !strings.HasPrefix(keysOf(b), "next@") {
		t.Fatalf("after the resync a write goes from the outbox; pulled %s resync %v", keysOf(b), b.Resync)
	}
}

func TestPullOfSeveralChunksReturnsEveryKeyOnceInOrderWithItsValue(t *testing.T) {
	a := newSite(t, "a", func(c *Config) { c.OutboxMax = 10000 }, "b")
	n := 2*pullChunk + 7
	for i := range n {
		a.set(t, fmt.Sprintf("k%04d", i), fmt.Sprint(i))
	}
	b, err := a.tr.Pull("b", n, a.rec)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Changes) != n {
		t.Fatalf("pulled %d changes, want %d", len(b.Changes), n)
	}
	dst := newSite(t, "b", nil, "a")
	for i, c := range b.Changes {
		if want := fmt.Sprintf("k%04d", i); string(c.Key) != want || i > 0 && c.HLC <= b.Changes[i-1].HLC {
			t.Fatalf("change %d is %s@%d, want %s after %d", i, c.Key, c.HLC, want, b.Changes[max(i-1, 0)].HLC)
		}
	}
	ship(t, a, dst, b)
	for _, i := range []int{0, pullChunk - 1, pullChunk, n - 1} {
		if v, _ := dst.get(t, fmt.Sprintf("k%04d", i)); v != fmt.Sprint(i) {
			t.Fatalf("k%04d=%q at the target, want %d", i, v, i)
		}
	}
}
