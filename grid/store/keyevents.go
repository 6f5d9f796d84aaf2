package store

import "sync/atomic"

// KeyEvent is a removal the store decides itself, which keyspace notifications report.
type KeyEvent uint8

// The removals SetKeyEvents reports.
const (
	KeyExpired KeyEvent = iota + 1 // expiry removed the key: a write or ExpireIfNeeded found it expired, or the cycle did
	KeyEvicted                     // eviction removed the key to bring used memory under maxmemory
)

// KeyEventFunc receives a key expiry or eviction removed, and the key's slot; a
// command's own deletions are not reported (its caller knows them). It runs with the
// key's slot locked, before the key's memory is freed: it must not call the store and
// must copy key if it keeps it.
type KeyEventFunc func(ev KeyEvent, slot int, key []byte)

// keyEvents holds the function SetKeyEvents installed.
type keyEvents struct{ fn atomic.Pointer[KeyEventFunc] }

// SetKeyEvents makes the store call fn for each key expiry or eviction removes from now
// on; nil stops the calls. Replayed operations (Apply) never call it: a replica removes
// keys because its primary did.
func (s *Store) SetKeyEvents(fn KeyEventFunc) {
	if fn == nil {
		s.events.fn.Store(nil)
		return
	}
	s.events.fn.Store(&fn)
}

// keyEvent reports ev for key of sl to the function SetKeyEvents installed, if any.
func (s *Store) keyEvent(sl *slot, ev KeyEvent, key []byte) {
	if fn := s.events.fn.Load(); fn != nil {
		(*fn)(ev, int(sl.idx), key)
	}
}

// ExpireIfNeeded removes key if it has expired, as Redis's lookups do before a command
// reads it: reads here leave expired keys to the next write and the expiry cycle, which
// keyspace notifications would report later than Redis does. It reports whether it
// removed the key.
func (s *Store) ExpireIfNeeded(key []byte) bool {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.find(sl, key)
	if !ok || r.liveAt(s.clock) {
		return false
	}
	s.expireRecord(sl, &r)
	return true
}

// expireRecord removes the expired record r found by a write (lazy expiry), journaling
// the deletion (journalExpired says why).
func (s *Store) expireRecord(sl *slot, r *record) {
	s.journalExpired(sl, r.key)
	s.keyEvent(sl, KeyExpired, r.key)
	s.remove(sl, r)
	s.expired.Add(1)
}
