// Package store is the in-memory keyspace of one partition instance: strings, hashes,
// sets and lists with millisecond expiry (lazy on access plus an active sampling cycle), kept as records
// in an arena outside the Go heap (package slab), so the memory the data uses is counted
// exactly and writes past maxmemory fail with ErrOOM before they allocate.
//
// Keys are kept per hash slot, each slot with its own lock: commands on different slots
// never contend, a multi-key command (whose keys share a slot in cluster mode) locks once,
// and a slot can later be counted, scanned or moved as a unit. The package must not depend
// on the network, the protocol or etcd; its errors carry Redis's wording because it
// implements Redis's data model.
package store

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// Kind is the type of a value.
type Kind uint8

// The value types.
const (
	KindNone Kind = iota
	KindString
	KindHash
	KindSet
	KindList
	KindZSet
	KindStream
)

// String is the name TYPE reports.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindHash:
		return "hash"
	case KindSet:
		return "set"
	case KindList:
		return "list"
	case KindZSet:
		return "zset"
	case KindStream:
		return "stream"
	}
	return "none"
}

// Errors with the exact wording Redis replies with.
var (
	ErrWrongType      = errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")
	ErrNotInteger     = errors.New("ERR value is not an integer or out of range")
	ErrNotFloat       = errors.New("ERR value is not a valid float")
	ErrOverflow       = errors.New("ERR increment or decrement would overflow")
	ErrHashNotInteger = errors.New("ERR hash value is not an integer")
	ErrNaN            = errors.New("ERR increment would produce NaN or Infinity")
	ErrTooBig         = errors.New("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
)

// ErrOOM is the reply to a write that would take used memory past maxmemory, in Redis's
// words (which end with a period).
var ErrOOM error = replyError("OOM command not allowed when used memory > 'maxmemory'.")

// replyError is an error whose text is a Redis reply as it must be sent.
type replyError string

func (e replyError) Error() string { return string(e) }

// tableOverhead is what a hash or set in table encoding costs on the Go heap besides its
// entries (counted by the arena): the struct, its slot in the slot's list of tables.
const tableOverhead = 48

type slot struct {
	idx      uint16 // the slot's number
	mu       sync.RWMutex
	keys     slab.Table
	volatile slab.Table    // the keys with an expiry, pointing at the same records
	tables   []*slab.Table // the field tables of hashes in table encoding, by handle
	freeTabs []uint32      // handles of tables no longer used
	nvol     atomic.Int32  // volatile.Len(), read without the lock by the active cycle
}

// Store is a keyspace. The zero value is not usable; call New.
type Store struct {
	slots   [slots.Count]slot
	arena   *slab.Arena
	keys    atomic.Int64
	expired atomic.Int64
	heap    atomic.Int64 // Go-heap bytes of hashes in table encoding
	runtime atomic.Int64 // what the Go runtime holds, as last recorded
	maxBulk int64
	maxMem  atomic.Int64 // 0: no limit
	journal Journal      // nil: changes are not journaled
	tx      txState      // transactions: units and watches (tx.go)
	streams streamReg    // the Go part of streams, by the handle in their records
	ev      evictor
	events  keyEvents // expiry's and eviction's removals: blocked clients and keyspace notifications (keyevents.go)
	funcs   functions // the function libraries (functions.go)
	tier    tiering   // tiered storage of cold values (tier.go)
	// clock returns unix milliseconds; tests replace it.
	clock func() int64
}

// New returns an empty store whose string values may grow up to maxBulk bytes
// (APPEND past it fails like Redis's proto-max-bulk-len check).
func New(maxBulk int64) *Store {
	s := &Store{maxBulk: maxBulk, arena: slab.NewArena(), clock: func() int64 { return time.Now().UnixMilli() }}
	for i := range s.slots {
		s.slots[i].idx = uint16(i)
	}
	s.ev.init()
	return s
}

// SetMaxMemory makes writes that would take UsedMemory past n fail with ErrOOM; 0: no
// limit. Operations replicated from a primary (Apply) are not limited: the primary decided.
func (s *Store) SetMaxMemory(n int64) { s.maxMem.Store(n) }

// MaxMemory is the limit SetMaxMemory set.
func (s *Store) MaxMemory() int64 { return s.maxMem.Load() }

// Now is the store's clock in unix milliseconds.
func (s *Store) Now() int64 { return s.clock() }

// Keys is the number of keys, expired ones not yet collected included.
func (s *Store) Keys() int64 { return s.keys.Load() }

// DataMemory is the bytes the data keeps resident: the arena's touched pages, the tables
// that index them (on the Go heap) and the Go-heap part of values in table encoding and of
// streams. It is a count, not an estimate.
func (s *Store) DataMemory() int64 { return s.arena.Resident() + s.IndexBytes() }

// SetRuntimeMemory records n, what the Go runtime holds (heap, stacks, its own
// structures); it counts against maxmemory with the data. The data's tables are on the
// Go heap, so they count twice (about 17 bytes per sorted-set member): that margin is
// kept on purpose, as room for the memory the cgroup charges and the runtime cannot see
// (the kernel's socket buffers under bursts of large values), without which the fill
// test's instance under a 128 MiB limit was OOM-killed under load.
func (s *Store) SetRuntimeMemory(n int64) { s.runtime.Store(n) }

// UsedMemory is what counts against maxmemory: the data and the runtime's memory last
// recorded, Redis's used_memory.
func (s *Store) UsedMemory() int64 { return s.DataMemory() + s.runtime.Load() }

// DatasetBytes is the bytes of the records in use (their chunks, size-class rounding
// included): UsedMemory less the indexes and the free parts of the arena's pages.
func (s *Store) DatasetBytes() int64 { return s.arena.Live() }

// IndexBytes is the bytes of the tables that find the records.
func (s *Store) IndexBytes() int64 { return s.arena.IndexBytes() + s.heap.Load() }

// ExpiredKeys is how many keys expiry has removed since start.
func (s *Store) ExpiredKeys() int64 { return s.expired.Load() }

func (s *Store) slotOf(key []byte) *slot { return &s.slots[slots.Of(key)] }

// find returns the record of key, expired or not; ok is false when absent. The caller
// holds sl.mu.
func (s *Store) find(sl *slot, key []byte) (record, bool) {
	pos, ref := sl.keys.Find(s.arena, slab.Hash(key), key)
	if pos < 0 {
		return record{}, false
	}
	r := decode(s.arena.Bytes(ref))
	r.ref, r.pos = ref, pos
	return r, true
}

// lookup returns the live record of key and counts an access to it; the caller holds
// sl.mu (read or write).
func (s *Store) lookup(sl *slot, key []byte) (record, bool) {
	r, ok := s.peek(sl, key)
	if ok {
		s.touch(r.chunk)
		if r.spilled() {
			return s.readCold(r)
		}
	}
	return r, ok
}

// peek is lookup without counting an access, as TYPE, TTL and OBJECT look.
func (s *Store) peek(sl *slot, key []byte) (record, bool) {
	r, ok := s.find(sl, key)
	if !ok || !r.liveAt(s.clock) {
		return record{}, false
	}
	return r, true
}

// lookupW is lookup for writers: an expired record is deleted on the spot (lazy expiry),
// and the deletion journaled (journalExpired says why); a spilled value is brought back
// into RAM (a failed read from the tier is the key absent: the value stays there).
func (s *Store) lookupW(sl *slot, key []byte) (record, bool) {
	r, ok := s.lookupWStub(sl, key)
	if ok && r.spilled() {
		var err error
		if r, err = s.faultIn(sl, r); err != nil {
			return record{}, false
		}
	}
	return r, ok
}

// lookupWStub is lookupW leaving a spilled value on disk, for writers that do not read it.
func (s *Store) lookupWStub(sl *slot, key []byte) (record, bool) {
	r, ok := s.find(sl, key)
	if !ok {
		return r, false
	}
	if !r.liveAt(s.clock) {
		s.expireRecord(sl, &r)
		return record{}, false
	}
	s.touch(r.chunk)
	return r, true
}

// typed returns the live record at key for writing (write: the slot is write-locked) or
// reading, when it holds a value of kind k; ok is false when the key is absent, and a
// value of another kind is ErrWrongType.
func (s *Store) typed(sl *slot, key []byte, k Kind, write bool) (r record, ok bool, err error) {
	if write {
		r, ok = s.lookupW(sl, key)
	} else {
		r, ok = s.lookup(sl, key)
	}
	if ok && r.kind() != k {
		return r, false, ErrWrongType
	}
	return r, ok, nil
}

// room fails with ErrOOM when n more bytes of records would take used memory past the
// limit; only writes that may grow the data ask.
func (s *Store) room(n int) error {
	m := s.maxMem.Load()
	if m <= 0 || n <= 0 || s.UsedMemory()+int64(slab.ChunkSize(n)) <= m {
		return nil
	}
	if s.tier.t != nil {
		switch err := s.spillFor(n, m); {
		case err == nil:
			return nil
		case errors.Is(err, ErrTierFull) && s.EvictionPolicy() == PolicyNoEviction:
			return ErrTierFull
		}
	}
	if s.EvictionPolicy() != PolicyNoEviction {
		return s.evictFor(n, m)
	}
	// Empty pages kept for reuse do not count against the limit.
	s.arena.Trim()
	if s.UsedMemory()+int64(slab.ChunkSize(n)) > m {
		return ErrOOM
	}
	return nil
}

// put stores key with these flags, expiry and body, over the record old (nil: a new key),
// in place when the new record takes a chunk of the same size. It returns the record as
// stored; with limit, a write that would pass maxmemory fails with ErrOOM first.
func (s *Store) put(sl *slot, old *record, key []byte, flags byte, exp int64, body []byte, limit bool) (record, error) {
	return s.putSized(sl, old, key, flags, exp, body, 0, limit)
}

// putSized is put with a chunk of at least room bytes (room 0: just what the record needs);
// with room, the record stays in place whenever it fits.
func (s *Store) putSized(sl *slot, old *record, key []byte, flags byte, exp int64, body []byte, room int, limit bool) (record, error) {
	// A value read from the tier being replaced: its copy there is stale once this succeeds.
	var stale int64
	if old != nil && old.chunk[0]&flagSpilled != 0 && flags&flagSpilled == 0 {
		stale = spilledSize(old.chunk)
	}
	n := keyLen(key, exp, len(body))
	fits := old != nil && slab.ChunkSize(n) == len(old.chunk)
	if room > 0 {
		fits = old != nil && n <= len(old.chunk)
	}
	if fits {
		encode(old.chunk, flags, key, exp, body)
		if stale > 0 {
			s.dropCold(key, stale)
		}
		s.setVolatile(sl, key, old.ref, old.exp != 0, exp != 0)
		r := decode(old.chunk)
		r.ref, r.pos = old.ref, old.pos
		return r, nil
	}
	size := max(n, room)
	grow := size
	if old != nil {
		grow -= len(old.chunk)
	}
	if limit {
		if err := s.room(grow); err != nil {
			return record{}, err
		}
	} else if s.tier.t != nil {
		s.spillRoom(grow) // a replayed or replicated write still keeps RAM within the budget
	}
	ref, chunk, err := s.arena.Alloc(size)
	if err != nil {
		return record{}, fmt.Errorf("%w: %w", ErrOOM, err)
	}
	if stale > 0 {
		s.dropCold(key, stale)
	}
	encode(chunk, flags, key, exp, body)
	if old != nil {
		clockOf(chunk).Store(clockOf(old.chunk).Load())
	} else {
		clockOf(chunk).Store(s.newClock())
	}
	pos := old.posOr(-1)
	if old != nil {
		sl.keys.Replace(old.pos, ref)
		s.setVolatile(sl, key, ref, old.exp != 0, exp != 0)
		s.arena.Free(old.ref)
	} else {
		pos = sl.keys.Insert(s.arena, slab.Hash(key), ref)
		s.keys.Add(1)
		s.setVolatile(sl, key, ref, false, exp != 0)
	}
	r := decode(chunk)
	r.ref, r.pos = ref, pos
	return r, nil
}

func (r *record) posOr(d int) int {
	if r == nil {
		return d
	}
	return r.pos
}

// setVolatile keeps the volatile index in step with a record whose expiry went from had to
// has, now stored at ref.
func (s *Store) setVolatile(sl *slot, key []byte, ref slab.Ref, had, has bool) {
	switch {
	case had && has:
		if pos, _ := sl.volatile.Find(s.arena, slab.Hash(key), key); pos >= 0 {
			sl.volatile.Replace(pos, ref)
		}
	case has:
		sl.volatile.Insert(s.arena, slab.Hash(key), ref)
		sl.nvol.Add(1)
	case had:
		if pos, _ := sl.volatile.Find(s.arena, slab.Hash(key), key); pos >= 0 {
			sl.volatile.Delete(s.arena, pos)
			sl.nvol.Add(-1)
		}
	}
}

// remove deletes the record r from sl, with what it owns.
func (s *Store) remove(sl *slot, r *record) {
	if r.chunk[0]&flagSpilled != 0 {
		s.forgetSpilled(r.chunk)
	}
	if r.exp != 0 {
		s.setVolatile(sl, r.key, r.ref, true, false)
	}
	if r.table() {
		s.dropTable(sl, handleOf(r.body))
	}
	s.freeOwned(r)
	sl.keys.Delete(s.arena, r.pos)
	s.arena.Free(r.ref)
	s.keys.Add(-1)
}

// freeOwned frees the arena chunks a record's body points at besides its own chunk (a
// list's nodes); tables in the slot's table list are not among them.
func (s *Store) freeOwned(r *record) {
	switch r.kind() {
	case KindList:
		s.freeList(r.body)
	case KindZSet:
		s.freeZSet(r)
	case KindStream:
		s.freeStream(r.body)
	}
}

// Type returns the kind of the value at key, KindNone when absent.
func (s *Store) Type(key []byte) Kind {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	if r, ok := s.peek(sl, key); ok {
		return r.kind()
	}
	return KindNone
}

// Exists reports whether key holds a live value.
func (s *Store) Exists(key []byte) bool { return s.Type(key) != KindNone }

// Del removes key and reports whether it existed.
func (s *Store) Del(key []byte) bool {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupWStub(sl, key)
	if !ok {
		return false
	}
	s.remove(sl, &r)
	s.journalKey(sl, key)
	return true
}

// TTL returns the remaining time to live of key in milliseconds, -1 when it has no expiry
// and -2 when it does not exist, as PTTL does.
func (s *Store) TTL(key []byte) int64 {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.peek(sl, key)
	switch {
	case !ok:
		return -2
	case r.exp == 0:
		return -1
	}
	return max(r.exp-s.clock(), 0)
}

// ExpireCond is the NX|XX|GT|LT option of EXPIRE.
type ExpireCond uint8

// The EXPIRE conditions.
const (
	ExpireAlways ExpireCond = iota
	ExpireNX
	ExpireXX
	ExpireGT
	ExpireLT
)

// Expire sets key to expire at the unix millisecond at, if cond holds; a time in the past
// deletes the key. It reports whether the timeout was set (or the key deleted).
func (s *Store) Expire(key []byte, at int64, cond ExpireCond) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	if !ok {
		return false, nil
	}
	// A key without expiry counts as an infinite TTL for GT and LT, as in Redis.
	switch cond {
	case ExpireNX:
		if r.exp != 0 {
			return false, nil
		}
	case ExpireXX:
		if r.exp == 0 {
			return false, nil
		}
	case ExpireGT:
		if r.exp == 0 || at <= r.exp {
			return false, nil
		}
	case ExpireLT:
		if r.exp != 0 && at >= r.exp {
			return false, nil
		}
	}
	if at <= s.clock() {
		s.remove(sl, &r)
		s.journalKey(sl, key)
		return true, nil
	}
	if _, err := s.put(sl, &r, r.key, r.flags, at, r.body, true); err != nil {
		return false, err
	}
	s.journalExpire(sl, key)
	return true, nil
}

// Persist removes the expiry of key and reports whether there was one.
func (s *Store) Persist(key []byte) bool {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	if !ok || r.exp == 0 {
		return false
	}
	// A record without its expiry is smaller: this never needs more memory.
	if _, err := s.put(sl, &r, r.key, r.flags, 0, r.body, false); err != nil {
		return false
	}
	s.journalExpire(sl, key)
	return true
}

// Flush removes every key and gives the emptied pages back to the kernel.
func (s *Store) Flush() {
	for i := range s.slots {
		s.flushSlot(&s.slots[i], true)
	}
	s.arena.Trim()
}

// flushSlot removes every key of sl, journaling it (when asked to) if there was any.
func (s *Store) flushSlot(sl *slot, journal bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.keys.Len() == 0 {
		return
	}
	n := sl.keys.Len()
	for i := range sl.keys.Cap() {
		if ref := sl.keys.At(i); ref != 0 {
			r := decode(s.arena.Bytes(ref))
			if r.spilled() {
				s.forgetSpilled(r.chunk)
			}
			s.freeOwned(&r)
			s.arena.Free(ref)
		}
	}
	for _, t := range sl.tables {
		if t != nil {
			s.freeTable(t)
		}
	}
	s.heap.Add(-int64(tableOverhead * (len(sl.tables) - len(sl.freeTabs))))
	sl.tables, sl.freeTabs = nil, nil
	sl.keys.Clear(s.arena)
	sl.volatile.Clear(s.arena)
	sl.nvol.Store(0)
	s.keys.Add(-int64(n))
	if journal {
		s.journalFlush(sl)
	}
}

// CountInSlot is the number of keys stored in one slot.
func (s *Store) CountInSlot(slot int) int {
	sl := &s.slots[slot]
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	return sl.keys.Len()
}

// VolatileKeys is the number of keys with an expiry.
func (s *Store) VolatileKeys() int64 {
	var n int64
	for i := range s.slots {
		n += int64(s.slots[i].nvol.Load())
	}
	return n
}
