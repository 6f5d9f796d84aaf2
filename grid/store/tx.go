package store

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/slots"
)

// Transactions (MULTI/EXEC, WATCH) take two things from the store, both at the point
// where every change is already reported once: the journal.
//
// Units. Between BeginUnit(slot) and EndUnit(slot) the operations journaled for that slot
// are held back and then journaled as one operation, opTx, which Apply replays whole or not
// at all: a backup never holds half a transaction, so neither does the primary that takes
// over from it. The caller keeps every other writer off the slot meanwhile (the server
// holds the slot's gate exclusively across EXEC); a change to the slot that still comes in
// (an eviction another client's write causes) joins the unit, which is harmless.
//
// Watches. A WatchSet is the keys one client WATCHes. Every journaled change of a key, and
// the flush of its slot, marks the sets watching it dirty, as Redis's signalModifiedKey
// and touchAllWatchedKeysInDb do. An expired key is not always removed (and its removal
// journaled) by the time EXEC looks, so WatchSet.Changed also counts a key that was live
// when watched and is not any more: Redis 7.0's check of expired watched keys at EXEC. A
// key absent or already expired when watched is not changed by its removal, as in Redis.
//
// Both need TrackChanges (a server calls it): from then on the store's journal is
// txState, which passes what it does not hold back on to the journal SetJournal gave (the
// sink), and is called even when there is none, for the watches.

// opTx is a transaction's operations on one slot: n, n×(length, operation).
const opTx byte = 40

// txState is the store's part of transactions; it is also the store's journal once
// TrackChanges made it so, forwarding to the sink.
type txState struct {
	tracking bool
	sink     Journal      // nil: nothing replicates
	watched  atomic.Int64 // watch entries over all slots, for the fast path of Record
	open     atomic.Int64 // units open over all slots, for WaitUnits's fast path
	slots    [slots.Count]txSlot
}

// txSlot is one slot's watches and open unit, guarded by the slot's mu.
type txSlot struct {
	watch map[string][]*watchEntry
	unit  *unit
}

// unit is the operations of an open unit, each length-prefixed as opTx carries them,
// after unitHead bytes left for opTx's code and count. Units are reused (units).
type unit struct {
	n   int
	ops []byte

	// done is made by the first waiter for the unit's end (a snapshot of the slot, a
	// handover) and closed by EndUnit; a waiter takes it while the unit is open, under
	// the slot's lock, so it never sees the unit's next use.
	mu   sync.Mutex
	done chan struct{}
}

// unitHead is the room at the start of a unit's ops for opTx's code and count.
const unitHead = 1 + binary.MaxVarintLen64

// units keeps ended units for the next BeginUnit, so a transaction allocates nothing.
var units = sync.Pool{New: func() any { return &unit{ops: make([]byte, unitHead, 512)} }}

// maxSpareUnit is the largest buffer of operations a unit keeps for its next use.
const maxSpareUnit = 64 << 10

// WatchSet is the keys one client watches. Its methods other than Changed and Invalidate
// are called by that client only.
type WatchSet struct {
	dirty   atomic.Bool
	entries []*watchEntry
}

type watchEntry struct {
	set  *WatchSet
	key  string
	slot int
	live bool // the key held a live value when watched
}

// TrackChanges makes the store call its journal for every change from now on, even
// without a sink, so WATCH sees every write. Call it before the store is shared.
func (s *Store) TrackChanges() {
	s.tx.tracking = true
	s.journal = &s.tx
}

// Record implements Journal: it marks the watches of the changed key, holds the
// operation back in the slot's open unit, or passes it to the sink.
func (t *txState) Record(slot int, op []byte) {
	ts := &t.slots[slot]
	if t.watched.Load() > 0 && ts.watch != nil {
		ts.touch(op)
	}
	if t.sink == nil {
		return
	}
	if u := ts.unit; u != nil {
		u.add(op)
		return
	}
	t.sink.Record(slot, op)
}

// RecordExpiry implements ExpiryJournal for a sink that is one: the deletion of a key the
// expiry cycle removed joins the slot's open unit, so the slot's operations keep their
// order. It marks no watch: a key live when watched is found expired by Changed, and the
// removal of one that was not is no change.
func (t *txState) RecordExpiry(slot int, op []byte) {
	ej, ok := t.sink.(ExpiryJournal)
	if !ok || !ej.ExpiresKeys() {
		return
	}
	if u := t.slots[slot].unit; u != nil {
		u.add(op)
		return
	}
	ej.RecordExpiry(slot, op)
}

// ExpiresKeys implements ExpiryJournal: the sink's answer, yes without one.
func (t *txState) ExpiresKeys() bool {
	if ej, ok := t.sink.(ExpiryJournal); ok {
		return ej.ExpiresKeys()
	}
	return true
}

func (u *unit) add(op []byte) {
	u.n++
	u.ops = binary.AppendUvarint(u.ops, uint64(len(op)))
	u.ops = append(u.ops, op...)
}

// touch marks dirty the watches op changes: its key's, or on a flush of the slot those of
// the keys that were live when watched (a key created since has marked its watches
// already). A deletion of a key that was not live when watched is no change either: it
// is the removal of the expired key (a write found it so), or of one created since.
func (ts *txSlot) touch(op []byte) {
	if op[0] == opFlushSlot {
		for _, es := range ts.watch {
			for _, e := range es {
				if e.live {
					e.set.dirty.Store(true)
				}
			}
		}
		return
	}
	r := &opReader{b: op[1:]}
	key := r.bytes()
	if r.err != nil {
		return
	}
	for _, e := range ts.watch[string(key)] {
		if op[0] != opDel || e.live {
			e.set.dirty.Store(true)
		}
	}
}

// Watch adds key to ws. Watching a key twice is watching it once.
func (s *Store) Watch(ws *WatchSet, key []byte) {
	for _, e := range ws.entries {
		if e.key == string(key) {
			return
		}
	}
	slot := slots.Of(key)
	e := &watchEntry{set: ws, key: string(key), slot: slot}
	sl := &s.slots[slot]
	sl.mu.Lock()
	_, e.live = s.peek(sl, key)
	ts := &s.tx.slots[slot]
	if ts.watch == nil {
		ts.watch = map[string][]*watchEntry{}
	}
	ts.watch[e.key] = append(ts.watch[e.key], e)
	s.tx.watched.Add(1)
	sl.mu.Unlock()
	ws.entries = append(ws.entries, e)
}

// Unwatch empties ws and clears its dirty mark.
func (s *Store) Unwatch(ws *WatchSet) {
	for _, e := range ws.entries {
		sl := &s.slots[e.slot]
		sl.mu.Lock()
		ts := &s.tx.slots[e.slot]
		es := ts.watch[e.key]
		for i, o := range es {
			if o == e {
				es = append(es[:i], es[i+1:]...)
				break
			}
		}
		if len(es) == 0 {
			delete(ts.watch, e.key)
		} else {
			ts.watch[e.key] = es
		}
		s.tx.watched.Add(-1)
		sl.mu.Unlock()
	}
	ws.entries = ws.entries[:0]
	ws.dirty.Store(false)
}

// Len is the number of keys ws watches.
func (ws *WatchSet) Len() int { return len(ws.entries) }

// Slots calls fn with the slot of every key ws watches.
func (ws *WatchSet) Slots(fn func(slot int)) {
	for _, e := range ws.entries {
		fn(e.slot)
	}
}

// Dirty reports whether a key of ws was written, flushed or evicted since it was watched,
// or ws was invalidated; expiry is not counted (Changed counts it).
func (ws *WatchSet) Dirty() bool { return ws.dirty.Load() }

// Invalidate marks ws changed: the caller knows its keys may have changed in ways the
// store does not see (their slot left, this instance stopped being primary).
func (ws *WatchSet) Invalidate() { ws.dirty.Store(true) }

// Changed reports whether a key of ws changed since it was watched: written, flushed,
// evicted, or expired after being watched live.
func (s *Store) Changed(ws *WatchSet) bool {
	if ws.dirty.Load() {
		return true
	}
	for _, e := range ws.entries {
		if e.live && !s.Exists([]byte(e.key)) {
			return true
		}
	}
	return false
}

// BeginUnit starts holding back the operations journaled for slot, until EndUnit journals
// them as one. Nothing is held back when nothing replicates.
func (s *Store) BeginUnit(slot int) {
	if !s.tx.tracking || s.tx.sink == nil {
		return
	}
	u := units.Get().(*unit)
	sl := &s.slots[slot]
	sl.mu.Lock()
	s.tx.slots[slot].unit = u
	s.tx.open.Add(1)
	sl.mu.Unlock()
}

// EndUnit journals the operations held back since BeginUnit(slot): none, one as it is,
// or several as one opTx.
func (s *Store) EndUnit(slot int) {
	sl := &s.slots[slot]
	sl.mu.Lock()
	ts := &s.tx.slots[slot]
	u := ts.unit
	if u == nil {
		sl.mu.Unlock()
		return
	}
	ts.unit = nil
	s.tx.open.Add(-1)
	switch u.n {
	case 0:
	case 1:
		_, n := binary.Uvarint(u.ops[unitHead:])
		s.tx.sink.Record(slot, u.ops[unitHead+n:])
	default:
		// The code and count go right before the operations, in the room left for them.
		var count [binary.MaxVarintLen64]byte
		c := binary.PutUvarint(count[:], uint64(u.n))
		at := unitHead - 1 - c
		u.ops[at] = opTx
		copy(u.ops[at+1:], count[:c])
		s.tx.sink.Record(slot, u.ops[at:])
	}
	u.mu.Lock()
	done := u.done
	u.done = nil
	u.mu.Unlock()
	sl.mu.Unlock()
	if done != nil {
		close(done)
	}
	if cap(u.ops) <= maxSpareUnit {
		u.n, u.ops = 0, u.ops[:unitHead]
		units.Put(u)
	}
}

// WaitUnits waits until no unit is open on any slot (a handover drains the journal after
// the units running commands, scripts, hold back), or until deadline: false then.
func (s *Store) WaitUnits(deadline time.Time) bool {
	for i := range s.slots {
		if s.tx.open.Load() == 0 {
			return true
		}
		for {
			done := s.unitDone(i)
			if done == nil {
				break
			}
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-done:
				t.Stop()
			case <-t.C:
				return false
			}
		}
	}
	return true
}

// unitDone returns a channel closed when the unit open on slot ends, nil when none is.
func (s *Store) unitDone(slot int) <-chan struct{} {
	sl := &s.slots[slot]
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	return s.openUnitDone(slot)
}

// openUnitDone is unitDone with sl.mu held (read or write).
func (s *Store) openUnitDone(slot int) <-chan struct{} {
	u := s.tx.slots[slot].unit
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done == nil {
		u.done = make(chan struct{})
	}
	return u.done
}

// applyTx replays a transaction's operations (op without its code), after checking that
// they are whole: a count, then that many operations that fill op exactly, each of a known
// code naming a key (or flushing a slot). A torn or corrupt unit changes nothing.
func (s *Store) applyTx(body []byte) error {
	r := &opReader{b: body}
	n := r.count()
	ops := make([][]byte, 0, n)
	for range n {
		op := r.bytes()
		if r.err != nil {
			return fmt.Errorf("%w: transaction cut short after %d of %d operations", ErrBadOp, len(ops), n)
		}
		if err := checkTxOp(op); err != nil {
			return err
		}
		ops = append(ops, op)
	}
	if r.err != nil || len(r.b) != 0 {
		return fmt.Errorf("%w: transaction of %d operations with %d bytes over", ErrBadOp, n, len(r.b))
	}
	for _, op := range ops {
		if err := s.apply(op, false); err != nil {
			return err
		}
	}
	return nil
}

// checkTxOp checks the head of an operation inside a transaction: a known code, then its
// key or slot.
func checkTxOp(op []byte) error {
	if len(op) == 0 {
		return fmt.Errorf("%w: empty operation in a transaction", ErrBadOp)
	}
	code := op[0]
	known := code >= opString && code <= opZRem || code >= opStream && code < streamCodeEnd || code == opStrRange
	if !known {
		return fmt.Errorf("%w: code %d in a transaction", ErrBadOp, code)
	}
	r := &opReader{b: op[1:]}
	if code == opFlushSlot {
		if slot := r.uvarint(); r.err != nil || slot >= slots.Count {
			return fmt.Errorf("%w: flush of slot %d in a transaction", ErrBadOp, slot)
		}
		return nil
	}
	if r.bytes(); r.err != nil {
		return fmt.Errorf("%w: operation %d without its key in a transaction", ErrBadOp, code)
	}
	return nil
}
