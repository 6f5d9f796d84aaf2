package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/insightgrid/insight/grid/tier"
)

// newTieredStore is a test store spilling to a real tier in a temporary directory.
func newTieredStore(t *testing.T, maxDisk int64) (*Store, *tier.Tier, *int64) {
	t.Helper()
	s, now := newTestStore()
	tr, err := tier.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.EnableTiering(tr, maxDisk)
	t.Cleanup(func() {
		s.CloseTiering()
		if err := tr.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, tr, now
}

// spill moves key's value to the tier, failing the test when it cannot.
func spill(t *testing.T, s *Store, key string) {
	t.Helper()
	if _, ok := s.spillKey(s.slotOf(b(key)), b(key)); !ok {
		t.Fatalf("%s did not spill", key)
	}
	sl := s.slotOf(b(key))
	sl.mu.RLock()
	r, _ := s.find(sl, b(key))
	sl.mu.RUnlock()
	if !r.spilled() {
		t.Fatalf("%s: spillKey succeeded but the record is not spilled", key)
	}
}

func isSpilled(s *Store, key string) bool {
	sl := s.slotOf(b(key))
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.find(sl, b(key))
	return ok && r.spilled()
}

func TestTieringSpillsEveryTypeAndReadsItBackDumpEqual(t *testing.T) {
	s, _, _ := newTieredStore(t, 0)
	long := bytes.Repeat([]byte("v"), 300)
	must[SetResult](t)(s.Set(nil, b("str"), long, SetOptions{}))
	must[SetResult](t)(s.Set(nil, b("int"), b("12345678901234567890123456789"), SetOptions{At: 5_000_000}))
	small := bytes.Repeat([]byte("s"), 60) // within the listpack encodings' value size
	must[int64](t)(s.HSet(b("hash"), [][]byte{b("f1"), small, b("f2"), b("two"), b("f3"), small}))
	must[int64](t)(s.SAdd(b("set"), bs("alpha", "beta", "gamma", string(small), string(small)+"2")))
	must[int64](t)(s.SAdd(b("intset"), bs("1", "2", "3", "40", "500", "6000", "70000")))
	must[ZAddResult](t)(s.ZAdd(b("zset"), ZAddFlags{}, bs("a", "b", string(small)), []float64{1, 2.5, -3}))
	keys := []string{"str", "int", "hash", "set", "intset", "zset"}
	want := map[string]Value{}
	for _, k := range keys {
		v, ok := s.Dump(b(k))
		if !ok {
			t.Fatalf("%s: absent before spilling", k)
		}
		want[k] = v
	}
	used := s.DatasetBytes()
	for _, k := range keys {
		spill(t, s, k)
	}
	if st := s.Tiering(); st.Keys != int64(len(keys)) || st.DiskBytes <= int64(len(long)) {
		t.Fatalf("after spilling %d keys: %+v", len(keys), st)
	}
	if s.DatasetBytes() >= used-int64(len(long)) {
		t.Fatalf("spilling freed too little RAM: records %d -> %d bytes", used, s.DatasetBytes())
	}
	// Keyspace commands answer from RAM.
	for _, k := range keys {
		if s.Type(b(k)) != want[k].Kind || !s.Exists(b(k)) {
			t.Fatalf("%s: TYPE %v EXISTS %v", k, s.Type(b(k)), s.Exists(b(k)))
		}
	}
	if s.TTL(b("int")) != 4_000_000 || s.TTL(b("str")) != -1 {
		t.Fatalf("TTL of spilled keys: %d %d", s.TTL(b("int")), s.TTL(b("str")))
	}
	if _, got := s.Scan(0, ScanOptions{Count: 100}); len(got) != len(keys) {
		t.Fatalf("SCAN of spilled keys: %q", got)
	}
	if st := s.Tiering(); st.ColdReads != 0 {
		t.Fatalf("TYPE/EXISTS/TTL/SCAN read the disk %d times", st.ColdReads)
	}
	for _, k := range keys {
		got, ok := s.Dump(b(k))
		if !ok || !reflect.DeepEqual(got, want[k]) {
			t.Fatalf("%s read back from disk:\n got  %+v\n want %+v", k, got, want[k])
		}
	}
	// The promoter faults the keys read back in, with reads of its own.
	if st := s.Tiering(); st.ColdReads < int64(len(keys)) || st.ColdReadNs <= 0 || st.ColdReadMax <= 0 {
		t.Fatalf("cold reads not counted: %+v", st)
	}
}

func TestTieringWriteFaultsInAndOverwriteDeletesTheDiskCopy(t *testing.T) {
	s, tr, _ := newTieredStore(t, 0)
	long := bytes.Repeat([]byte("x"), 60)
	must[int64](t)(s.HSet(b("h"), [][]byte{b("f"), long, b("f1"), long, b("f2"), long}))
	must[SetResult](t)(s.Set(nil, b("s"), long, SetOptions{}))
	spill(t, s, "h")
	spill(t, s, "s")
	// A write reads the value back into RAM, then changes it.
	must[int64](t)(s.HSet(b("h"), [][]byte{b("g"), b("2")}))
	if isSpilled(s, "h") {
		t.Fatal("HSET left the hash on disk")
	}
	got := must2[[][]byte](t)(s.HGetAll(b("h")))
	if len(got) != 8 || !bytes.Equal(got[1], long) || string(got[7]) != "2" {
		t.Fatalf("HGETALL after HSET on a spilled hash: %q", got)
	}
	if _, err := tr.Get(nil, b("h")); err == nil {
		t.Fatal("the faulted-in hash is still on disk")
	}
	// An overwrite does not need the old value, and leaves nothing on disk.
	must[SetResult](t)(s.Set(nil, b("s"), b("new"), SetOptions{}))
	if v, _, _ := s.Get(nil, b("s")); string(v) != "new" {
		t.Fatalf("GET after overwriting a spilled key: %q", v)
	}
	if st := s.Tiering(); st.Keys != 0 || st.DiskBytes != 0 {
		t.Fatalf("after faulting in and overwriting: %+v", st)
	}
}

func TestTieringDeleteAndExpiryRemoveTheDiskCopy(t *testing.T) {
	s, tr, now := newTieredStore(t, 0)
	long := bytes.Repeat([]byte("y"), 200)
	must[SetResult](t)(s.Set(nil, b("gone"), long, SetOptions{}))
	must[SetResult](t)(s.Set(nil, b("lazy"), long, SetOptions{At: *now + 1000}))
	must[SetResult](t)(s.Set(nil, b("cycle"), long, SetOptions{At: *now + 1000}))
	for _, k := range []string{"gone", "lazy", "cycle"} {
		spill(t, s, k)
	}
	if !s.Del(b("gone")) || s.Tiering().ColdReads != 0 {
		t.Fatalf("DEL of a spilled key: cold reads %d", s.Tiering().ColdReads)
	}
	*now += 2000
	// A write finds lazy expired; the expiry cycle's sampling removes cycle.
	must[SetResult](t)(s.Set(nil, b("lazy"), b("v"), SetOptions{NX: true}))
	if n := s.DropExpired(int(s.slotOf(b("cycle")).idx)); n != 1 {
		t.Fatalf("DropExpired removed %d keys", n)
	}
	for _, k := range []string{"gone", "cycle"} {
		if _, err := tr.Get(nil, b(k)); err == nil || s.Exists(b(k)) {
			t.Fatalf("%s: still on disk or in the keyspace after removal", k)
		}
	}
	if st := s.Tiering(); st.Keys != 0 || st.DiskBytes != 0 {
		t.Fatalf("after deleting and expiring every spilled key: %+v", st)
	}
}

func TestTieringKeepsRAMWithinMaxMemoryAndServesEveryKey(t *testing.T) {
	s, _, _ := newTieredStore(t, 0)
	const budget = 4 << 20
	s.SetMaxMemory(budget)
	// Keys and values of one size, so that the chunks spilling frees are the ones the next
	// writes reuse (a slab allocator's pages of a size class no longer written stay
	// resident until they empty, with eviction as with spilling).
	val := func(i int) []byte { return fmt.Appendf(bytes.Repeat([]byte("v"), 4000), "%08d", i) }
	key := func(i int) []byte { return fmt.Appendf(nil, "k%08d", i) }
	n, peak := 0, int64(0)
	for ; s.Tiering().DiskBytes < 3*budget; n++ {
		if _, err := s.Set(nil, key(n), val(n), SetOptions{}); err != nil {
			t.Fatalf("write %d with %d bytes on disk: %v", n, s.Tiering().DiskBytes, err)
		}
		// The records in use, the indexes and the runtime stay within maxmemory (an index
		// may grow by a table's doubling after the write's check). The free chunks between
		// records come on top: the arena fills its newest page of a size class before it
		// reuses chunks freed in older ones, so spilling leaves up to about a page (256 KiB)
		// per size class in use free and resident; reported, not asserted.
		if s.liveMemory() > budget+budget/100 {
			t.Fatalf("write %d: memory in use %d past maxmemory %d", n, s.liveMemory(), budget)
		}
		peak = max(peak, s.UsedMemory())
	}
	t.Logf("%d keys, %d bytes on disk: used memory %d, at most %d (in use %d) of maxmemory %d", n, s.Tiering().DiskBytes, s.UsedMemory(), peak, s.liveMemory(), budget)
	for i := range n {
		v, ok, err := s.Get(nil, key(i))
		if err != nil || !ok || !bytes.Equal(v, val(i)) {
			t.Fatalf("k%d of %d: %q %v %v", i, n, v, ok, err)
		}
	}
	if st := s.Tiering(); st.Keys == 0 || st.ColdReads == 0 || s.Keys() != int64(n) {
		t.Fatalf("%d keys, %+v", s.Keys(), st)
	}
}

func TestTieringDiskFullIsOOM(t *testing.T) {
	s, _, _ := newTieredStore(t, 8<<10)
	s.SetMaxMemory(128 << 10)
	val := bytes.Repeat([]byte("z"), 500)
	var err error
	n := 0
	for ; err == nil && n < 10_000; n++ {
		_, err = s.Set(nil, fmt.Appendf(nil, "k%d", n), val, SetOptions{})
	}
	if !errors.Is(err, ErrTierFull) {
		t.Fatalf("after %d writes: %v, want %v", n, err, ErrTierFull)
	}
	if st := s.Tiering(); st.DiskBytes > 8<<10 || st.Keys == 0 {
		t.Fatalf("disk budget 8 KiB: %+v", st)
	}
	if s.OOMError() != ErrTierFull {
		t.Fatalf("OOMError: %v", s.OOMError())
	}
	// Deleting spilled keys frees the budget: writes go on.
	for i := range n {
		s.Del(fmt.Appendf(nil, "k%d", i))
	}
	if _, err := s.Set(nil, b("after"), val, SetOptions{}); err != nil {
		t.Fatalf("a write after freeing the disk: %v", err)
	}
}

func TestTieringSnapshotCarriesSpilledValues(t *testing.T) {
	s, _, _ := newTieredStore(t, 0)
	long := bytes.Repeat([]byte("w"), 300)
	must[SetResult](t)(s.Set(nil, b("{a}s"), long, SetOptions{}))
	must[int64](t)(s.SAdd(b("{a}set"), bs("m1", string(long[:60]), string(long[:61]), string(long[:62]))))
	spill(t, s, "{a}s")
	spill(t, s, "{a}set")
	dst := New(1 << 20)
	slot := int(s.slotOf(b("{a}s")).idx)
	s.DumpSlot(slot, func(op []byte) {
		if err := dst.Restore(slot, op); err != nil {
			t.Fatal(err)
		}
	})
	for _, k := range []string{"{a}s", "{a}set"} {
		a, _ := s.Dump(b(k))
		c, ok := dst.Dump(b(k))
		if !ok || !reflect.DeepEqual(a, c) {
			t.Fatalf("%s in the snapshot: %+v, want %+v", k, c, a)
		}
	}
}

func TestTieringReplicatedWriteOntoASpilledKey(t *testing.T) {
	s, _, _ := newTieredStore(t, 0)
	long := bytes.Repeat([]byte("r"), 300)
	must[SetResult](t)(s.Set(nil, b("k"), long, SetOptions{}))
	spill(t, s, "k")
	// A primary's SETRANGE arrives as a range operation on the value.
	primary := New(1 << 20)
	var ops [][]byte
	primary.SetJournal(opRecorder(func(op []byte) { ops = append(ops, bytes.Clone(op)) }))
	must[SetResult](t)(primary.Set(nil, b("k"), long, SetOptions{}))
	must[int64](t)(primary.SetRange(b("k"), 10, b("XYZ")))
	for _, op := range ops[1:] {
		if err := s.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	want, _, _ := primary.Get(nil, b("k"))
	if got, _, _ := s.Get(nil, b("k")); !bytes.Equal(got, want) {
		t.Fatalf("replayed SETRANGE on a spilled key: %q, want %q", got, want)
	}
}

func must2[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// opRecorder is a Journal calling a function with every operation.
type opRecorder func(op []byte)

func (f opRecorder) Record(_ int, op []byte) { f(op) }

// TestTieringKeepsAHotSetInRAM writes three times the RAM budget of keys never read
// while reading a hot set that fits in the budget, a millisecond of the clock a write:
// the values that spill are the cold ones, and the hot set's reads never touch the disk,
// whether the access clock is an LRU clock or an LFU counter.
func TestTieringKeepsAHotSetInRAM(t *testing.T) {
	for _, p := range []Policy{PolicyNoEviction, PolicyAllKeysLFU} {
		t.Run(p.String(), func(t *testing.T) { testTieringKeepsAHotSetInRAM(t, p) })
	}
}

func testTieringKeepsAHotSetInRAM(t *testing.T, p Policy) {
	s, _, now := newTieredStore(t, 0)
	s.SetPolicy(p)
	const budget = 512 << 10
	s.SetMaxMemory(budget)
	val := bytes.Repeat([]byte("h"), 500)
	const hot = 100 // about 60 KiB of records: an eighth of the budget
	readHot := func() {
		t.Helper()
		for i := range hot {
			if _, ok, err := s.Get(nil, fmt.Appendf(nil, "hot:%d", i)); !ok || err != nil {
				t.Fatalf("hot:%d: %v %v", i, ok, err)
			}
		}
	}
	for i := range hot {
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "hot:%d", i), val, SetOptions{}))
		*now++
	}
	readHot()
	cold := 3 * budget / len(val)
	var hotCold int64
	for i := range cold {
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "cold:%d", i), val, SetOptions{}))
		*now++
		if i%20 == 0 {
			before := s.Tiering().ColdReads
			readHot()
			hotCold += s.Tiering().ColdReads - before
		}
	}
	st := s.Tiering()
	if st.Keys < int64(cold)/2 {
		t.Fatalf("%d keys of %d spilled: the budget is not under test", st.Keys, cold)
	}
	before := st.ColdReads
	for range 10 {
		readHot()
		*now++
	}
	if n := s.Tiering().ColdReads - before; n != 0 || hotCold != 0 {
		t.Fatalf("reads of the hot set from disk: %d while the cold keys were written, %d after (%d keys spilled)", hotCold, n, st.Keys)
	}
}
