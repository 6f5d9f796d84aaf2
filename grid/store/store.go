// Package store is the in-memory keyspace of one partition instance: strings and hashes
// with millisecond expiry (lazy on access plus an active sampling cycle) and an estimate
// of the memory the data uses, against which the server enforces maxmemory.
//
// Keys are kept per hash slot, each slot with its own lock: commands on different slots
// never contend, a multi-key command (whose keys share a slot in cluster mode) locks once,
// and a slot can later be counted, scanned or moved as a unit. The package must not depend
// on the network, the protocol or etcd; its errors carry Redis's wording because it
// implements Redis's data model.
package store

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/slots"
)

// Kind is the type of a value.
type Kind uint8

// The value types.
const (
	KindNone Kind = iota
	KindString
	KindHash
)

// String is the name TYPE reports.
func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindHash:
		return "hash"
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

// Approximate bytes a key and a hash field cost beyond their contents in Go's maps and
// headers; used memory is an estimate, not the allocator's count.
const (
	keyOverhead   = 96
	fieldOverhead = 64
)

type entry struct {
	str      []byte
	hash     map[string][]byte
	expireAt int64 // unix milliseconds; 0: no expiry
	kind     Kind
	size     int64 // accounted bytes, kept so deletion subtracts exactly what was added
}

func (e *entry) expired(now int64) bool { return e.expireAt != 0 && e.expireAt <= now }

type slot struct {
	idx      uint16 // the slot's number
	mu       sync.RWMutex
	keys     map[string]*entry
	volatile map[string]struct{} // keys with an expiry, sampled by the active cycle
	nvol     atomic.Int32        // len(volatile), read without the lock by the active cycle
}

// Store is a keyspace. The zero value is not usable; call New.
type Store struct {
	slots   [slots.Count]slot
	keys    atomic.Int64
	used    atomic.Int64
	expired atomic.Int64
	maxBulk int64
	journal Journal // nil: changes are not journaled
	// clock returns unix milliseconds; tests replace it.
	clock func() int64
}

// New returns an empty store whose string values may grow up to maxBulk bytes
// (APPEND past it fails like Redis's proto-max-bulk-len check).
func New(maxBulk int64) *Store {
	s := &Store{maxBulk: maxBulk, clock: func() int64 { return time.Now().UnixMilli() }}
	for i := range s.slots {
		s.slots[i].idx = uint16(i)
	}
	return s
}

// Now is the store's clock in unix milliseconds.
func (s *Store) Now() int64 { return s.clock() }

// Keys is the number of keys, expired ones not yet collected included.
func (s *Store) Keys() int64 { return s.keys.Load() }

// UsedMemory is the estimated bytes held by keys and values.
func (s *Store) UsedMemory() int64 { return s.used.Load() }

// ExpiredKeys is how many keys expiry has removed since start.
func (s *Store) ExpiredKeys() int64 { return s.expired.Load() }

func (s *Store) slotOf(key []byte) *slot { return &s.slots[slots.Of(key)] }

// lookup returns the live entry of key; the caller holds sl.mu (read or write).
func (s *Store) lookup(sl *slot, key []byte) *entry {
	e := sl.keys[string(key)]
	if e == nil {
		return nil
	}
	if e.expireAt != 0 && e.expired(s.clock()) {
		return nil
	}
	return e
}

// lookupW is lookup for writers: an expired entry is deleted on the spot (lazy expiry).
func (s *Store) lookupW(sl *slot, key []byte) *entry {
	e := sl.keys[string(key)]
	if e == nil {
		return nil
	}
	if e.expireAt != 0 && e.expired(s.clock()) {
		s.remove(sl, string(key), e)
		s.expired.Add(1)
		return nil
	}
	return e
}

func (s *Store) insert(sl *slot, key string, e *entry) {
	if sl.keys == nil {
		sl.keys = make(map[string]*entry)
	}
	sl.keys[key] = e
	s.keys.Add(1)
	e.size += int64(keyOverhead + len(key))
	s.used.Add(e.size)
}

func (s *Store) remove(sl *slot, key string, e *entry) {
	delete(sl.keys, key)
	if e.expireAt != 0 {
		s.setExpire(sl, key, e, 0)
	}
	s.keys.Add(-1)
	s.used.Add(-e.size)
}

// setExpire keeps the volatile index in step with e.expireAt.
func (s *Store) setExpire(sl *slot, key string, e *entry, at int64) {
	switch {
	case at != 0 && e.expireAt == 0:
		if sl.volatile == nil {
			sl.volatile = make(map[string]struct{})
		}
		sl.volatile[key] = struct{}{}
		sl.nvol.Add(1)
	case at == 0 && e.expireAt != 0:
		delete(sl.volatile, key)
		sl.nvol.Add(-1)
	}
	e.expireAt = at
}

// grow accounts delta more bytes to e.
func (s *Store) grow(e *entry, delta int64) {
	e.size += delta
	s.used.Add(delta)
}

// Type returns the kind of the value at key, KindNone when absent.
func (s *Store) Type(key []byte) Kind {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	if e := s.lookup(sl, key); e != nil {
		return e.kind
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
	e := s.lookupW(sl, key)
	if e == nil {
		return false
	}
	s.remove(sl, string(key), e)
	s.journalKey(sl, key)
	return true
}

// TTL returns the remaining time to live of key in milliseconds, -1 when it has no expiry
// and -2 when it does not exist, as PTTL does.
func (s *Store) TTL(key []byte) int64 {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e := s.lookup(sl, key)
	switch {
	case e == nil:
		return -2
	case e.expireAt == 0:
		return -1
	}
	return max(e.expireAt-s.clock(), 0)
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
func (s *Store) Expire(key []byte, at int64, cond ExpireCond) bool {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e := s.lookupW(sl, key)
	if e == nil {
		return false
	}
	// A key without expiry counts as an infinite TTL for GT and LT, as in Redis.
	switch cond {
	case ExpireNX:
		if e.expireAt != 0 {
			return false
		}
	case ExpireXX:
		if e.expireAt == 0 {
			return false
		}
	case ExpireGT:
		if e.expireAt == 0 || at <= e.expireAt {
			return false
		}
	case ExpireLT:
		if e.expireAt != 0 && at >= e.expireAt {
			return false
		}
	}
	if at <= s.clock() {
		s.remove(sl, string(key), e)
		s.journalKey(sl, key)
		return true
	}
	s.setExpire(sl, string(key), e, at)
	s.journalExpire(sl, key)
	return true
}

// Persist removes the expiry of key and reports whether there was one.
func (s *Store) Persist(key []byte) bool {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e := s.lookupW(sl, key)
	if e == nil || e.expireAt == 0 {
		return false
	}
	s.setExpire(sl, string(key), e, 0)
	s.journalExpire(sl, key)
	return true
}

// Flush removes every key.
func (s *Store) Flush() {
	for i := range s.slots {
		s.flushSlot(&s.slots[i], true)
	}
}

// flushSlot removes every key of sl, journaling it (when asked to) if there was any.
func (s *Store) flushSlot(sl *slot, journal bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if len(sl.keys) == 0 {
		return
	}
	for k, e := range sl.keys {
		s.remove(sl, k, e)
	}
	sl.keys, sl.volatile = nil, nil
	if journal {
		s.journalFlush(sl)
	}
}

// CountInSlot is the number of keys stored in one slot.
func (s *Store) CountInSlot(slot int) int {
	sl := &s.slots[slot]
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	return len(sl.keys)
}

// VolatileKeys is the number of keys with an expiry.
func (s *Store) VolatileKeys() int64 {
	var n int64
	for i := range s.slots {
		n += int64(s.slots[i].nvol.Load())
	}
	return n
}
