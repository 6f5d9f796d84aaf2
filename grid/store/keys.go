package store

import (
	"bytes"
	"math/rand/v2"
)

// copyKey makes dst (in sl, locked) hold what the live record r holds, its expiry
// included, replacing what dst held: the whole value is encoded as the operation a
// snapshot or a slot move would carry and applied, which journals dst's resulting value
// as one entry. With limit a copy past maxmemory fails with ErrOOM before dst changes.
func (s *Store) copyKey(sl *slot, r *record, dst []byte, limit bool) error {
	op := s.appendEntry(nil, dst, sl, r)
	rd := &opReader{b: op[1:]}
	rd.bytes() // dst, as encoded
	return s.applyLocked(sl, op[0], dst, rd, limit, true)
}

// Rename moves the value of src, with its expiry, to dst (in src's slot), replacing what
// dst held; with nx only when dst does not exist. It reports whether the value moved (a
// rename to itself: with nx false, else true) and fails with ErrNoSuchKey without src.
func (s *Store) Rename(src, dst []byte, nx bool) (bool, error) {
	sl := s.slotOf(src)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, src)
	if !ok {
		return false, ErrNoSuchKey
	}
	if bytes.Equal(src, dst) {
		return !nx, nil
	}
	if _, exists := s.lookupW(sl, dst); exists && nx {
		return false, nil
	}
	// Not limited by maxmemory, as in Redis (RENAME is not a denyoom command): the
	// source's memory is freed right after.
	if err := s.copyKey(sl, &r, dst, false); err != nil {
		return false, err
	}
	// Applying may have moved the slot's entries: the source is found again.
	if r, ok = s.find(sl, src); ok {
		s.remove(sl, &r)
	}
	s.journalKey(sl, src)
	return true, nil
}

// Copy copies the value of src, with its expiry, to dst (in src's slot, a different key),
// replacing what dst held only with replace; it reports whether it copied.
func (s *Store) Copy(src, dst []byte, replace bool) (bool, error) {
	sl := s.slotOf(src)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, src)
	if !ok {
		return false, nil
	}
	if _, exists := s.lookupW(sl, dst); exists && !replace {
		return false, nil
	}
	// dst's lazy deletion may have moved src's entry.
	if r, ok = s.find(sl, src); !ok {
		return false, nil
	}
	if err := s.copyKey(sl, &r, dst, true); err != nil {
		return false, err
	}
	return true, nil
}

// ExpireAt is the unix millisecond key expires at, -1 when it has no expiry and -2 when it
// does not exist, as PEXPIRETIME answers.
func (s *Store) ExpireAt(key []byte) int64 {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	switch {
	case !ok:
		return -2
	case r.exp == 0:
		return -1
	}
	return r.exp
}

// RandomKey returns a copy of a live key chosen at random (uniformly within a slot, the
// slot uniformly among those holding keys), nil when there is none.
func (s *Store) RandomKey() []byte {
	if s.keys.Load() == 0 {
		return nil
	}
	start := rand.IntN(len(s.slots))
	for n := range len(s.slots) {
		sl := &s.slots[(start+n)%len(s.slots)]
		sl.mu.RLock()
		if sl.keys.Len() == 0 {
			sl.mu.RUnlock()
			continue
		}
		now := s.clock()
		// As Redis: a few tries for a key not yet expired, then any live one of the slot.
		for range 100 {
			_, ref := sl.keys.Random(rand.IntN)
			if r := decode(s.arena.Bytes(ref)); r.live(now) {
				k := cloneBytes(r.key)
				sl.mu.RUnlock()
				return k
			}
		}
		var k []byte
		s.eachLive(sl, func(r *record) bool {
			k = cloneBytes(r.key)
			return false
		})
		sl.mu.RUnlock()
		if k != nil {
			return k
		}
	}
	return nil
}
