package store

import (
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/slots"
)

// recorded keeps the operations a store journals, copied.
type recorded struct{ ops [][]byte }

func (r *recorded) Record(_ int, op []byte) { r.ops = append(r.ops, append([]byte(nil), op...)) }

// newTxStore is a test store that tracks changes, journaling to a recorder.
func newTxStore() (*Store, *recorded, *int64) {
	s, now := newTestStore()
	rec := &recorded{}
	s.SetJournal(rec)
	s.TrackChanges()
	return s, rec, now
}

// writeTx changes several keys of the slot of {t} the way a transaction's commands would.
func writeTx(t *testing.T, s *Store, i int64) {
	t.Helper()
	must[int64](t)(s.IncrBy(b("{t}a"), i))
	must[int64](t)(s.IncrBy(b("{t}b"), i))
	must[int64](t)(s.HSet(b("{t}h"), [][]byte{b("f"), b("v")}))
	must[int64](t)(s.SAdd(b("{t}s"), [][]byte{b("m1"), b("m2")}))
	must[int64](t)(s.Push(b("{t}l"), [][]byte{b("x")}, true, false))
	s.Del(b("{t}gone"))
}

// TestUnitJournalsOneOperation: the changes of a unit reach the journal as one operation,
// which a replica applies to the same state; changes of other slots meanwhile pass
// straight through, and a unit of one change journals it as it is.
func TestUnitJournalsOneOperation(t *testing.T) {
	src, rec, _ := newTxStore()
	must[SetResult](t)(src.Set(nil, b("{t}gone"), b("1"), SetOptions{}))
	rec.ops = nil
	slot := slots.OfString("{t}")
	src.BeginUnit(slot)
	writeTx(t, src, 5)
	must[int64](t)(src.IncrBy(b("{other}x"), 1))
	src.EndUnit(slot)
	if len(rec.ops) != 2 || rec.ops[0][0] == opTx || rec.ops[1][0] != opTx {
		t.Fatalf("journaled %d operations (codes %v), want the other slot's then one opTx", len(rec.ops), codes(rec.ops))
	}
	dst, _ := newTestStore()
	must[SetResult](t)(dst.Set(nil, b("{t}gone"), b("1"), SetOptions{}))
	for _, op := range rec.ops {
		if err := dst.Apply(op); err != nil {
			t.Fatalf("applying %x: %v", op, err)
		}
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatalf("replica after the unit:\n got %s\nwant %s", got, want)
	}

	rec.ops = nil
	src.BeginUnit(slot)
	must[int64](t)(src.IncrBy(b("{t}a"), 1))
	src.EndUnit(slot)
	src.BeginUnit(slot)
	src.EndUnit(slot)
	if len(rec.ops) != 1 || rec.ops[0][0] != opString {
		t.Fatalf("a unit of one change journaled codes %v, want one opString", codes(rec.ops))
	}
}

func codes(ops [][]byte) []byte {
	out := make([]byte, len(ops))
	for i, op := range ops {
		out[i] = op[0]
	}
	return out
}

// TestTornUnitIsNeverApplied: a unit cut at any byte, with a count larger or smaller than
// its operations, with bytes after them, or holding an operation of an unknown code, is
// refused and changes nothing on the replica.
func TestTornUnitIsNeverApplied(t *testing.T) {
	src, rec, _ := newTxStore()
	slot := slots.OfString("{t}")
	writeTx(t, src, 1)
	base := append([][]byte(nil), rec.ops...)
	rec.ops = nil
	src.BeginUnit(slot)
	writeTx(t, src, 2)
	src.EndUnit(slot)
	if len(rec.ops) != 1 || rec.ops[0][0] != opTx {
		t.Fatalf("journaled codes %v, want one opTx", codes(rec.ops))
	}
	unit := rec.ops[0]
	fresh := func() *Store {
		dst, _ := newTestStore()
		for _, op := range base {
			if err := dst.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		return dst
	}
	dst := fresh()
	before := dump(dst)
	try := func(name string, op []byte) {
		t.Helper()
		if err := dst.Apply(op); err == nil {
			t.Fatalf("%s: applied", name)
		}
		if got := dump(dst); got != before {
			t.Fatalf("%s: the refused unit changed the replica:\n got %s\nwant %s", name, got, before)
		}
	}
	for n := 1; n < len(unit); n++ {
		try("cut", unit[:n])
	}
	r := &opReader{b: unit[1:]}
	count := r.count()
	rest := r.b
	recount := func(n int) []byte {
		return append(append([]byte{opTx}, byte(n)), rest...)
	}
	if count >= 0x80 {
		t.Fatalf("the test unit has %d operations; recount encodes one byte", count)
	}
	try("count one more", recount(count+1))
	try("count one less", recount(count-1))
	try("trailing bytes", append(append([]byte(nil), unit...), 0))
	try("unknown code", []byte{opTx, 1, 2, 99, 0})
	try("operation without its key", []byte{opTx, 1, 2, opString, 9})
	if len(unit) < 0x80 {
		try("nested unit", append([]byte{opTx, 1, byte(len(unit))}, unit...))
	}
	if err := dst.Apply(unit); err != nil {
		t.Fatalf("the whole unit: %v", err)
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatalf("replica after the whole unit:\n got %s\nwant %s", got, want)
	}
}

// TestSnapshotHoldsAllOfAUnitOrNone: DumpSlot of a slot with an open unit waits for its
// end, so a snapshot taken meanwhile holds every change of the unit.
func TestSnapshotHoldsAllOfAUnitOrNone(t *testing.T) {
	src, _, _ := newTxStore()
	slot := slots.OfString("{t}")
	src.BeginUnit(slot)
	must[int64](t)(src.IncrBy(b("{t}a"), 1))
	done := make(chan []string)
	go func() {
		var keys []string
		src.DumpSlot(slot, func(op []byte) {
			r := &opReader{b: op[1:]}
			keys = append(keys, string(r.bytes()))
		})
		done <- keys
	}()
	must[int64](t)(src.IncrBy(b("{t}b"), 1))
	src.EndUnit(slot)
	if keys := <-done; len(keys) != 2 {
		t.Fatalf("snapshot of the slot holds %q, want {t}a and {t}b", keys)
	}
}

// TestWatchSet: a watch is changed by a write of its key (by anyone), by a flush of its
// slot when the key existed, and by expiry of a key that was live when watched; not by
// writes that change nothing, writes of other keys, nor the removal of a key already
// expired when watched. Unwatch forgets it all.
func TestWatchSet(t *testing.T) {
	s, _, now := newTxStore()
	k := b("{t}k")
	setup := func(fn func()) *WatchSet {
		t.Helper()
		s.Flush()
		fn()
		ws := &WatchSet{}
		s.Watch(ws, k)
		s.Watch(ws, k)
		if ws.Len() != 1 {
			t.Fatalf("watching a key twice: %d entries", ws.Len())
		}
		return ws
	}
	none := func() {}
	exists := func() { must[SetResult](t)(s.Set(nil, k, b("1"), SetOptions{})) }
	for _, tc := range []struct {
		name    string
		before  func()
		after   func()
		changed bool
	}{
		{"nothing", exists, none, false},
		{"set", none, func() { must[SetResult](t)(s.Set(nil, k, b("2"), SetOptions{})) }, true},
		{"set same value", exists, func() { must[SetResult](t)(s.Set(nil, k, b("1"), SetOptions{})) }, true},
		{"set nx on existing", exists, func() { must[SetResult](t)(s.Set(nil, k, b("2"), SetOptions{NX: true})) }, false},
		{"del absent", none, func() { s.Del(k) }, false},
		{"del", exists, func() { s.Del(k) }, true},
		{"other key of the slot", none, func() { must[int64](t)(s.IncrBy(b("{t}other"), 1)) }, false},
		{"flush with the key", exists, func() { s.Flush() }, true},
		{"flush without it", func() { must[int64](t)(s.IncrBy(b("{t}other"), 1)) }, func() { s.Flush() }, false},
		{"srem of a non-member", func() { must[int64](t)(s.SAdd(k, [][]byte{b("m")})) }, func() { must[int64](t)(s.SRem(k, [][]byte{b("x")})) }, false},
		{"expires after watch", func() { must[SetResult](t)(s.Set(nil, k, b("1"), SetOptions{At: *now + 10})) }, func() { *now += 20 }, true},
		{"expired before watch", func() {
			must[SetResult](t)(s.Set(nil, k, b("1"), SetOptions{At: *now + 10}))
			*now += 20
		}, func() { s.Del(k) }, false},
		{"expired before watch, then set", func() {
			must[SetResult](t)(s.Set(nil, k, b("1"), SetOptions{At: *now + 10}))
			*now += 20
		}, func() { must[SetResult](t)(s.Set(nil, k, b("2"), SetOptions{})) }, true},
	} {
		ws := setup(tc.before)
		tc.after()
		if got := s.Changed(ws); got != tc.changed {
			t.Errorf("%s: changed %v, want %v", tc.name, got, tc.changed)
		}
		s.Unwatch(ws)
		if ws.Len() != 0 || s.Changed(ws) || s.tx.watched.Load() != 0 {
			t.Fatalf("%s: after Unwatch: %d keys, changed %v, %d watched in the store", tc.name, ws.Len(), s.Changed(ws), s.tx.watched.Load())
		}
		must[SetResult](t)(s.Set(nil, k, b("3"), SetOptions{}))
		if s.Changed(ws) {
			t.Fatalf("%s: a write after Unwatch changed the set", tc.name)
		}
	}
	ws := &WatchSet{}
	s.Watch(ws, k)
	ws.Invalidate()
	if !s.Changed(ws) || !ws.Dirty() {
		t.Fatal("Invalidate did not change the set")
	}
}

// expiryRecorder is an ExpiryJournal whose store may expire keys or not.
type expiryRecorder struct {
	recorded
	expires bool
	expired [][]byte
}

func (r *expiryRecorder) RecordExpiry(_ int, op []byte) {
	r.expired = append(r.expired, append([]byte(nil), op...))
}
func (r *expiryRecorder) ExpiresKeys() bool { return r.expires }

// TestTrackingKeepsTheExpiryJournal: with changes tracked (a server's store), the sink's
// ExpiryJournal still decides whether the expiry cycle runs and gets its deletions, and a
// deletion during an open unit joins the unit.
func TestTrackingKeepsTheExpiryJournal(t *testing.T) {
	s, now := newTestStore()
	rec := &expiryRecorder{}
	s.SetJournal(rec)
	s.TrackChanges()
	must[SetResult](t)(s.Set(nil, b("{t}k"), b("1"), SetOptions{At: *now + 10}))
	*now += 20
	s.expireCycle(0, time.Now().Add(time.Second))
	if s.Keys() != 1 || len(rec.expired) != 0 {
		t.Fatalf("a store whose sink expires nothing expired %d keys, journaled %d", 1-s.Keys(), len(rec.expired))
	}
	rec.expires = true
	s.expireCycle(0, time.Now().Add(time.Second))
	if s.Keys() != 0 || len(rec.expired) != 1 || rec.expired[0][0] != opDel {
		t.Fatalf("after the expiry cycle: %d keys, expiry deletions journaled %d", s.Keys(), len(rec.expired))
	}
	must[SetResult](t)(s.Set(nil, b("{t}k"), b("1"), SetOptions{At: *now + 10}))
	rec.ops = nil
	slot := slots.OfString("{t}")
	s.BeginUnit(slot)
	must[int64](t)(s.IncrBy(b("{t}a"), 1))
	*now += 20
	s.expireCycle(0, time.Now().Add(time.Second))
	s.EndUnit(slot)
	if len(rec.expired) != 1 || len(rec.ops) != 1 || rec.ops[0][0] != opTx {
		t.Fatalf("a deletion during a unit: %d expiry deletions alone, codes %v; want it inside the one opTx", len(rec.expired)-1, codes(rec.ops))
	}
}
