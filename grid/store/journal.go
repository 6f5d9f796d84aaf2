package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/insightgrid/insight/grid/slots"
)

// Journal receives every change a command makes to the keyspace, encoded as an operation
// that Apply replays. Record is called while the changed slot is locked, so the changes of
// one slot reach the journal in the order they were made; op is valid only during the call.
//
// Operations state results, not commands: SET ... EX 10 is journaled with its absolute
// expiry, INCR with the new value, HINCRBY with the field's new value. Replaying them is
// deterministic whatever the replica's clock, and replaying one twice is harmless. A
// replica also expires keys itself from the same absolute times, but its clock is never
// exactly the primary's, so the primary's decision is journaled too: the deletion of a key
// a write finds expired, and (to an ExpiryJournal) of a key the expiry cycle removes.
// Otherwise a replica whose clock is a little behind would still hold the old value when
// a write starting a new key at that name arrives, and add the write to it — keeping the
// old content and expiry, and losing the write when that expiry passes.
type Journal interface {
	Record(slot int, op []byte)
}

// ExpiryJournal is a Journal that also takes the deletions of the keys the expiry cycle
// removes, while its store decides expiry for its replicas (a primary). ExpiresKeys says
// whether the store's expiry cycle may delete keys now: a replica's may not, it waits for
// its primary's journaled deletions (as a Redis replica waits for its master's DEL), so
// a clock ahead of the primary's never makes it drop a key the primary still writes to.
// A store whose Journal is not one runs its expiry cycle always and journals nothing of it.
type ExpiryJournal interface {
	Journal
	RecordExpiry(slot int, op []byte)
	ExpiresKeys() bool
}

// The operation codes. An operation is its code, then fields encoded as unsigned varint
// lengths or numbers.
const (
	opString    byte = 1  // key, expireAt, value: the key now holds this string
	opHash      byte = 2  // key, expireAt, n, n×(field, value): the key now holds exactly this hash
	opHashSet   byte = 3  // key, n, n×(field, value): these fields now have these values
	opHashDel   byte = 4  // key, n, n×field: these fields are gone (and the key, when emptied)
	opExpire    byte = 5  // key, expireAt (0: none)
	opDel       byte = 6  // key
	opFlushSlot byte = 7  // slot
	opSet       byte = 8  // key, expireAt, n, n×member: the key now holds exactly this set
	opSetAdd    byte = 9  // key, n, n×member: these are now members
	opSetRem    byte = 10 // key, n, n×member: these are no longer members (the key is gone when emptied)
	opList      byte = 11 // key, expireAt, head, n, n×element: the key now holds exactly this list, its first element at index head
	opListPut   byte = 12 // key, first, n, n×element: these elements are now at indexes first...
	opListTrim  byte = 13 // key, head, tail: the list now spans indexes [head, tail) (the key is gone when empty)
	opZSet      byte = 14 // key, expireAt, n, n×(member, score): the key now holds exactly this sorted set
	opZAdd      byte = 15 // key, n, n×(member, score): these members now have these scores (8-byte float64 bits)
	opZRem      byte = 16 // key, n, n×member: these are no longer members (the key is gone when emptied)
	// 17-19: sorted sets; 20-29: streams; 30-31: string ranges; 40: transactions (tx.go).
)

var opBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// SetJournal makes the store journal every change to j from now on; nil stops it.
// Call it before the store is shared.
func (s *Store) SetJournal(j Journal) {
	s.tx.sink = j
	if s.tx.tracking {
		j = &s.tx // it passes what it does not hold back on to the sink
	}
	s.journal = j
}

// journaling reports whether a change must be encoded for the journal: there is one,
// and it does something with the change. TrackChanges's journal without a sink only marks
// watches, so while no client watches a key a write of a standalone store encodes nothing.
// A Watch counts itself under the slot's lock, which the writer holds: a write it races
// with either sees the count or comes before the watch, and then is no change to it.
func (s *Store) journaling() bool {
	return s.journal != nil && (!s.tx.tracking || s.tx.sink != nil || s.tx.watched.Load() > 0)
}

// emit encodes one operation with enc and hands it to the journal.
func (s *Store) emit(sl *slot, enc func(b []byte) []byte) {
	bp := opBufs.Get().(*[]byte)
	s.record(sl, bp, enc((*bp)[:0]))
}

// record hands the operation b, encoded in the buffer bp from opBufs, to the journal, and
// gives the buffer back.
func (s *Store) record(sl *slot, bp *[]byte, b []byte) {
	s.journal.Record(int(sl.idx), b)
	if cap(b) <= 64<<10 {
		*bp = b
		opBufs.Put(bp)
	}
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// journalKey journals the current state of key in sl (deleted when absent).
func (s *Store) journalKey(sl *slot, key []byte) {
	if !s.journaling() {
		return
	}
	r, ok := s.find(sl, key)
	s.emit(sl, func(b []byte) []byte {
		if !ok {
			return s.appendEntry(b, key, sl, nil)
		}
		return s.appendEntry(b, key, sl, &r)
	})
}

// journalString journals key's new state, the string val expiring at at, just stored:
// what journalKey encodes for it, from the values stored rather than a lookup of the key.
func (s *Store) journalString(sl *slot, key []byte, at int64, val []byte) {
	if !s.journaling() {
		return
	}
	bp := opBufs.Get().(*[]byte)
	b := appendBytes(append((*bp)[:0], opString), key)
	b = binary.AppendVarint(b, at)
	s.record(sl, bp, appendBytes(b, val))
}

// appendEntry encodes key's whole state: r nil means deleted.
func (s *Store) appendEntry(b, key []byte, sl *slot, r *record) []byte {
	if r != nil && r.spilled() {
		// Snapshots, full syncs and slot moves carry the value, read from the tier.
		v, err := s.coldRead(*r)
		if err != nil {
			panic(fmt.Sprintf("store: a snapshot cannot read spilled key %q back: %v", key, err))
		}
		r = &v
	}
	switch {
	case r == nil:
		b = append(b, opDel)
		return appendBytes(b, key)
	case r.kind() == KindString:
		b = append(b, opString)
		b = appendBytes(b, key)
		b = binary.AppendVarint(b, r.exp)
		return appendBytes(b, r.body)
	case r.kind() == KindList:
		l := s.openList(sl, *r)
		b = append(b, opList)
		b = appendBytes(b, key)
		b = binary.AppendVarint(b, r.exp)
		b = binary.AppendVarint(b, l.hdr.head)
		b = binary.AppendUvarint(b, uint64(l.hdr.count))
		l.each(0, func(_ int64, e []byte) bool {
			b = appendBytes(b, e)
			return true
		})
		return b
	case r.kind() == KindZSet:
		b = append(b, opZSet)
		b = appendBytes(b, key)
		b = binary.AppendVarint(b, r.exp)
		v := s.zopen(sl, r)
		b = binary.AppendUvarint(b, uint64(v.len()))
		v.each(0, false, func(m []byte, sc float64) bool {
			b = appendBytes(b, m)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(sc))
			return true
		})
		return b
	case r.kind() == KindStream:
		return s.appendStreamEntryOp(b, key, r)
	case r.kind() == KindSet:
		b = append(b, opSet)
		b = appendBytes(b, key)
		b = binary.AppendVarint(b, r.exp)
		b = binary.AppendUvarint(b, uint64(s.setLen(sl, r)))
		s.setEach(sl, r, func(m []byte) { b = appendBytes(b, m) })
		return b
	default:
		b = append(b, opHash)
		b = appendBytes(b, key)
		b = binary.AppendVarint(b, r.exp)
		b = binary.AppendUvarint(b, uint64(s.hashLen(sl, r)))
		s.hashEach(sl, r, func(f, v []byte) { b = appendBytes(appendBytes(b, f), v) })
		return b
	}
}

// journalMembers journals a change of one set's members (opSetAdd, opSetRem): the
// members, not the set, so a change to a large set stays small.
func (s *Store) journalMembers(sl *slot, op byte, key []byte, members [][]byte) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, op)
		b = appendBytes(b, key)
		b = binary.AppendUvarint(b, uint64(len(members)))
		for _, m := range members {
			b = appendBytes(b, m)
		}
		return b
	})
}

// journalHashSet journals the fields of fv (which alternates field and value; values are
// ignored) as they are now stored in the hash at key.
func (s *Store) journalHashSet(sl *slot, key []byte, fv [][]byte) {
	if !s.journaling() {
		return
	}
	r, ok := s.find(sl, key)
	if !ok || r.kind() != KindHash {
		s.journalKey(sl, key)
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opHashSet)
		b = appendBytes(b, key)
		b = binary.AppendUvarint(b, uint64(len(fv)/2))
		for i := 0; i+1 < len(fv); i += 2 {
			v, _ := s.hashGet(sl, &r, fv[i])
			b = appendBytes(b, fv[i])
			b = appendBytes(b, v)
		}
		return b
	})
}

func (s *Store) journalHashDel(sl *slot, key []byte, fields [][]byte) {
	if !s.journaling() {
		return
	}
	if _, ok := s.find(sl, key); !ok {
		s.journalKey(sl, key)
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opHashDel)
		b = appendBytes(b, key)
		b = binary.AppendUvarint(b, uint64(len(fields)))
		for _, f := range fields {
			b = appendBytes(b, f)
		}
		return b
	})
}

func (s *Store) journalExpire(sl *slot, key []byte) {
	if !s.journaling() {
		return
	}
	r, ok := s.find(sl, key)
	if !ok {
		s.journalKey(sl, key)
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opExpire)
		b = appendBytes(b, key)
		return binary.AppendVarint(b, r.exp)
	})
}

// journalExpired journals the deletion of key, found expired by a write, before the write
// changes anything (see Journal).
func (s *Store) journalExpired(sl *slot, key []byte) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte { return appendBytes(append(b, opDel), key) })
}

// journalExpiryCycle journals the deletion of key, removed by the expiry cycle, to an
// ExpiryJournal (see Journal).
func (s *Store) journalExpiryCycle(sl *slot, key []byte) {
	ej, ok := s.journal.(ExpiryJournal)
	if !ok {
		return
	}
	bp := opBufs.Get().(*[]byte)
	b := appendBytes(append((*bp)[:0], opDel), key)
	ej.RecordExpiry(int(sl.idx), b)
	if cap(b) <= 64<<10 {
		*bp = b
		opBufs.Put(bp)
	}
}

// lookupReplayed is lookupW for a replica replaying its primary's operations: the
// primary decides when a key has expired (it journals the deletion when a write finds
// it so), so a record the replica's clock finds just expired is still the one the
// operation changes.
func (s *Store) lookupReplayed(sl *slot, key []byte) (record, bool) {
	r, ok := s.find(sl, key)
	if ok {
		s.touch(r.chunk)
	}
	if ok && r.spilled() {
		var err error
		if r, err = s.faultIn(sl, r); err != nil {
			panic(fmt.Sprintf("store: replaying onto spilled key %q: %v", key, err))
		}
	}
	return r, ok
}

func (s *Store) journalFlush(sl *slot) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opFlushSlot)
		return binary.AppendUvarint(b, uint64(sl.idx))
	})
}

// Reset removes every key without journaling it: a replica does this before loading a
// snapshot.
func (s *Store) Reset() {
	for i := range s.slots {
		s.flushSlot(&s.slots[i], false)
	}
	s.arena.Trim()
	s.setFunctionsApplied(nil)
}

// eachLive calls fn with every live record of sl until it returns false; sl.mu is held.
func (s *Store) eachLive(sl *slot, fn func(r *record) bool) {
	now := s.clock()
	for i := range sl.keys.Cap() {
		ref := sl.keys.At(i)
		if ref == 0 {
			continue
		}
		r := decode(s.arena.Bytes(ref))
		r.ref, r.pos = ref, i
		if r.live(now) && !fn(&r) {
			return
		}
	}
}

// DumpSlot calls fn with one operation per live key of slot that recreates it (the
// snapshot a replica starts from; slot 0's starts with the function libraries, when
// there are), holding the slot's read lock; op is valid only during the call. A transaction's unit open on the slot is waited for: a snapshot holds all of
// it or none.
func (s *Store) DumpSlot(slot int, fn func(op []byte)) {
	sl := &s.slots[slot]
	sl.mu.RLock()
	for done := s.openUnitDone(slot); done != nil; done = s.openUnitDone(slot) {
		sl.mu.RUnlock()
		<-done
		sl.mu.RLock()
	}
	defer sl.mu.RUnlock()
	if slot == 0 {
		s.dumpFunctions(fn) // the function libraries (functions.go)
	}
	var b []byte
	s.eachLive(sl, func(r *record) bool {
		b = s.appendEntry(b[:0], r.key, sl, r)
		fn(b)
		return true
	})
}

// ErrBadOp reports an operation Apply cannot decode: the replication stream is corrupt.
var ErrBadOp = errors.New("malformed journal operation")

type opReader struct {
	b   []byte
	err error
}

func (r *opReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = ErrBadOp
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *opReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = ErrBadOp
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *opReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = ErrBadOp
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// count reads a number of items, each at least one byte long, so a corrupt count cannot
// make the caller allocate more than the operation's size.
func (r *opReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = ErrBadOp
		return 0
	}
	return int(n)
}

// list reads a count of items, each made of per strings, decoding them all before the
// caller changes anything.
func (r *opReader) list(per int) [][]byte {
	n := r.count()
	out := make([][]byte, 0, n*per)
	for range n * per {
		out = append(out, r.bytes())
	}
	return out
}

// Apply replays one journaled operation, as a replica does; it is not journaled again.
func (s *Store) Apply(op []byte) error { return s.apply(op, false) }

// Restore recreates one key from an operation DumpKeys produced (another partition's key
// on its way here), replacing whatever the key held, and journals the result. The key
// must hash to slot.
func (s *Store) Restore(slot int, op []byte) error {
	if len(op) == 0 || op[0] != opString && op[0] != opHash && op[0] != opSet && op[0] != opList && op[0] != opZSet && op[0] != opStream {
		return fmt.Errorf("%w: not a whole key", ErrBadOp)
	}
	r := &opReader{b: op[1:]}
	key := r.bytes()
	if r.err != nil {
		return r.err
	}
	if ks := slots.Of(key); ks != slot {
		return fmt.Errorf("key %q hashes to slot %d, not %d", key, ks, slot)
	}
	return s.apply(op, true)
}

// DumpKeys returns up to maxKeys live keys of slot, and operations that recreate them,
// stopping early once the operations reach maxBytes. Both are copies.
func (s *Store) DumpKeys(slot, maxKeys, maxBytes int) (keys, ops [][]byte) {
	sl := &s.slots[slot]
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	size := 0
	s.eachLive(sl, func(r *record) bool {
		if len(keys) >= maxKeys || size >= maxBytes {
			return false
		}
		op := s.appendEntry(nil, r.key, sl, r)
		keys, ops = append(keys, cloneBytes(r.key)), append(ops, op)
		size += len(op)
		return true
	})
	return keys, ops
}

// roomIf is room(n) when limit is set.
func (s *Store) roomIf(limit bool, n int) error {
	if !limit {
		return nil
	}
	return s.room(n)
}

func (s *Store) apply(op []byte, journal bool) error {
	if len(op) == 0 {
		return ErrBadOp
	}
	if op[0] == opTx {
		return s.applyTx(op[1:])
	}
	if op[0] == opFunctions {
		return s.applyFunctions(op[1:])
	}
	r := &opReader{b: op[1:]}
	if op[0] == opFlushSlot {
		slot := r.uvarint()
		if r.err != nil || slot >= uint64(len(s.slots)) {
			return fmt.Errorf("%w: flush of slot %d", ErrBadOp, slot)
		}
		s.flushSlot(&s.slots[slot], false)
		return nil
	}
	key := r.bytes()
	if r.err != nil {
		return r.err
	}
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	// A replica applies what its primary decided, whatever its own maxmemory; a key
	// restored from another partition (journal set) is a write like a client's.
	return s.applyLocked(sl, op[0], key, r, journal, journal)
}

// applyLocked replays the operation with code whose key has been read from r (the rest
// is to read), sl locked; with limit a write past maxmemory fails with ErrOOM before
// anything changes, with journal the key's resulting state is journaled.
func (s *Store) applyLocked(sl *slot, code byte, key []byte, r *opReader, limit, journal bool) error {
	var cur record
	var ok bool
	if journal {
		cur, ok = s.lookupW(sl, key)
	} else {
		cur, ok = s.lookupReplayed(sl, key)
	}
	var err error
	switch code {
	case opString:
		at, val := r.varint(), r.bytes()
		if r.err != nil {
			return r.err
		}
		if ok && cur.kind() != KindString {
			// A refused restore changes nothing: the room is checked before the old
			// value goes.
			if err := s.roomIf(limit, keyLen(key, at, len(val))); err != nil {
				return err
			}
			s.remove(sl, &cur)
			ok = false
		}
		err = s.setString(sl, key, cur, ok, val, at, limit)
	case opHash:
		at, fv := r.varint(), r.list(2)
		if r.err != nil {
			return r.err
		}
		if ok {
			if err := s.roomIf(limit, pairsLen(fv)); err != nil {
				return err
			}
			s.remove(sl, &cur)
		}
		_, err = s.hashSet(sl, key, record{}, false, fv, at, limit)
	case opHashSet:
		fv := r.list(2)
		if r.err != nil {
			return r.err
		}
		if ok && cur.kind() != KindHash {
			s.remove(sl, &cur)
			ok = false
		}
		_, err = s.hashSet(sl, key, cur, ok, fv, 0, limit)
	case opHashDel:
		fields := r.list(1)
		if r.err != nil {
			return r.err
		}
		if ok && cur.kind() == KindHash {
			_, err = s.hashDel(sl, cur, fields)
		}
	case opSet:
		at, members := r.varint(), r.list(1)
		if r.err != nil {
			return r.err
		}
		if ok {
			if err := s.roomIf(limit, membersLen(members)); err != nil {
				return err
			}
			s.remove(sl, &cur)
		}
		_, err = s.setAdd(sl, key, record{}, false, members, at, limit)
	case opSetAdd:
		members := r.list(1)
		if r.err != nil {
			return r.err
		}
		if ok && cur.kind() != KindSet {
			s.remove(sl, &cur)
			ok = false
		}
		_, err = s.setAdd(sl, key, cur, ok, members, 0, limit)
	case opSetRem:
		members := r.list(1)
		if r.err != nil {
			return r.err
		}
		if ok && cur.kind() == KindSet {
			_, err = s.setRem(sl, cur, members)
		}
	case opList:
		at, head, elems := r.varint(), r.varint(), r.list(1)
		if r.err != nil {
			return r.err
		}
		if ok {
			if err := s.roomIf(limit, elemsLen(elems)); err != nil {
				return err
			}
			s.remove(sl, &cur)
		}
		err = s.applyList(sl, key, head, at, elems, limit)
	case opListPut:
		first, elems := r.varint(), r.list(1)
		if r.err != nil {
			return r.err
		}
		err = s.applyListPut(sl, key, cur, ok, first, elems, limit)
	case opListTrim:
		head, tail := r.varint(), r.varint()
		if r.err != nil {
			return r.err
		}
		if ok && cur.kind() == KindList {
			s.applyListTrim(sl, cur, head, tail)
		}
	case opZSet:
		at, ents := r.varint(), r.zents()
		if r.err != nil {
			return r.err
		}
		if err := s.roomIf(limit, zentsLen(ents)); err != nil {
			return err
		}
		if ok {
			s.remove(sl, &cur)
		}
		err = s.zsetPut(sl, key, record{}, false, ents, at, zWhole)
	case opZAdd:
		ents := r.zents()
		if r.err != nil {
			return r.err
		}
		if err := s.roomIf(limit, zentsLen(ents)); err != nil {
			return err
		}
		if ok && cur.kind() != KindZSet {
			s.remove(sl, &cur)
			ok = false
		}
		err = s.zsetPut(sl, key, cur, ok, ents, 0, zIncremental)
	case opZRem:
		members := r.list(1)
		if r.err != nil {
			return r.err
		}
		if ok && cur.kind() == KindZSet {
			_, err = s.zsetRem(sl, cur, members)
		}
	case opExpire:
		at := r.varint()
		if r.err != nil {
			return r.err
		}
		if ok && at != cur.exp {
			_, err = s.put(sl, &cur, cur.key, cur.flags, at, cur.body, false)
		}
	case opDel:
		if ok {
			s.remove(sl, &cur)
		}
	case opStream, opXAdd, opXDel, opXTrim, opXMeta, opXGroup, opXGroupDel, opXAck, opXClaim:
		err = s.applyStreamOp(sl, code, key, cur, ok, r, limit)
	case opStrRange:
		err = s.applyStrRange(sl, key, cur, ok, r, limit)
	default:
		return fmt.Errorf("%w: unknown code %d", ErrBadOp, code)
	}
	if err != nil {
		return err
	}
	if r.err == nil && journal {
		s.journalKey(sl, key)
	}
	return r.err
}
