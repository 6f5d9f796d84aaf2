package store

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// Active expiry follows Redis's sampling: every tick, in each slot holding keys with a
// timeout, test up to sampleSize of them and delete the expired ones, again while more
// than a quarter of a sample was expired, within a CPU budget per tick.
//
// Like Redis's activeExpireCycle, which skips a database whose expires dictionary is
// empty, a cycle costs next to nothing without volatile keys: an empty store is not
// scanned at all, and while a cycle finds no slot with volatile keys the pause before the
// next one doubles up to expireIdleTick, so an idle instance wakes once a second instead
// of ten times. Expired keys are never visible (reads expire lazily); the pause only
// delays when the memory of a key that nobody reads comes back, by at most
// expireIdleTick after the first key with a timeout arrives.
const (
	expireTick     = 100 * time.Millisecond
	expireIdleTick = time.Second
	expireBudget   = 25 * time.Millisecond
	sampleSize     = 20
)

// RunExpiry removes expired keys in the background until ctx ends.
func (s *Store) RunExpiry(ctx context.Context) {
	wait := expireTick
	t := time.NewTimer(wait)
	defer t.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var volatile bool
		next, volatile = s.expireCycle(next, time.Now().Add(expireBudget))
		if volatile {
			wait = expireTick
		} else {
			wait = min(2*wait, expireIdleTick)
		}
		t.Reset(wait)
	}
}

// expireCycle runs one cycle from slot start and returns where the next one begins, so a
// cycle cut short by its budget does not always favour the low slots, and whether any
// slot held volatile keys.
func (s *Store) expireCycle(start int, deadline time.Time) (int, bool) {
	if s.keys.Load() == 0 {
		return start, false
	}
	if ej, ok := s.journal.(ExpiryJournal); ok && !ej.ExpiresKeys() {
		return start, false // a replica: its primary's journal deletes expired keys
	}
	volatile := 0
	for n := 0; n < len(s.slots); n++ {
		i := (start + n) % len(s.slots)
		if s.slots[i].nvol.Load() == 0 {
			continue
		}
		volatile++
		for s.expireSample(i) > sampleSize/4 {
			if time.Now().After(deadline) {
				return i, true
			}
		}
		if volatile%64 == 0 && time.Now().After(deadline) {
			return (i + 1) % len(s.slots), true
		}
	}
	return start, volatile > 0
}

// expireSample deletes the expired keys among a sample of one slot's volatile keys, taken
// from a random position of its volatile table, and returns how many it deleted.
func (s *Store) expireSample(i int) int {
	sl := &s.slots[i]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	n := sl.volatile.Cap()
	if n == 0 {
		return 0
	}
	start := rand.IntN(n)
	var keys [sampleSize][]byte
	found := 0
	for j := 0; j < n && found < sampleSize; j++ {
		if ref := sl.volatile.At((start + j) % n); ref != 0 {
			keys[found] = slab.KeyOf(s.arena.Bytes(ref))
			found++
		}
	}
	return s.dropExpired(sl, keys[:found])
}

// dropExpired removes those of keys (aliasing their records) that have expired.
func (s *Store) dropExpired(sl *slot, keys [][]byte) int {
	now := s.clock()
	var dead []record
	for _, k := range keys {
		if r, ok := s.find(sl, k); ok && !r.live(now) {
			dead = append(dead, r)
		}
	}
	// Keys are copied before any removal moves the table's entries or frees a record.
	copied := make([][]byte, len(dead))
	for j := range dead {
		copied[j] = cloneBytes(dead[j].key)
	}
	for _, k := range copied {
		if r, ok := s.find(sl, k); ok {
			s.journalExpiryCycle(sl, k)
			s.keyEvent(sl, KeyExpired, k)
			s.remove(sl, &r)
		}
	}
	s.expired.Add(int64(len(copied)))
	return len(copied)
}

// DropExpired removes slot's keys whose expiry has passed, as expiry would, and returns
// how many it removed: a slot moving out counts as empty only without them.
func (s *Store) DropExpired(slot int) int {
	sl := &s.slots[slot]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	var keys [][]byte
	for j := range sl.volatile.Cap() {
		if ref := sl.volatile.At(j); ref != 0 {
			keys = append(keys, slab.KeyOf(s.arena.Bytes(ref)))
		}
	}
	return s.dropExpired(sl, keys)
}
