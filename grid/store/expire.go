package store

import (
	"context"
	"time"
)

// Active expiry follows Redis's sampling: every tick, in each slot holding keys with a
// timeout, test up to sampleSize of them and delete the expired ones, again while more
// than a quarter of a sample was expired, within a CPU budget per tick.
const (
	expireTick   = 100 * time.Millisecond
	expireBudget = 25 * time.Millisecond
	sampleSize   = 20
)

// RunExpiry removes expired keys in the background until ctx ends.
func (s *Store) RunExpiry(ctx context.Context) {
	t := time.NewTicker(expireTick)
	defer t.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			next = s.expireCycle(next, time.Now().Add(expireBudget))
		}
	}
}

// expireCycle runs one cycle from slot start and returns where the next one begins, so a
// cycle cut short by its budget does not always favour the low slots.
func (s *Store) expireCycle(start int, deadline time.Time) int {
	for n := 0; n < len(s.slots); n++ {
		i := (start + n) % len(s.slots)
		if s.slots[i].nvol.Load() == 0 {
			continue
		}
		for s.expireSample(i) > sampleSize/4 {
			if time.Now().After(deadline) {
				return i
			}
		}
		if n%64 == 0 && time.Now().After(deadline) {
			return (i + 1) % len(s.slots)
		}
	}
	return start
}

// expireSample deletes the expired keys among a sample of one slot's volatile keys and
// returns how many it deleted. Go's map iteration starts at a random point, which makes
// the sample random.
func (s *Store) expireSample(i int) int {
	sl := &s.slots[i]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	now := s.clock()
	seen, deleted := 0, 0
	for k := range sl.volatile {
		if seen == sampleSize {
			break
		}
		seen++
		if e := sl.keys[k]; e != nil && e.expired(now) {
			s.remove(sl, k, e)
			deleted++
		}
	}
	s.expired.Add(int64(deleted))
	return deleted
}

// DropExpired removes slot's keys whose expiry has passed, as expiry would, and returns
// how many it removed: a slot moving out counts as empty only without them.
func (s *Store) DropExpired(slot int) int {
	sl := &s.slots[slot]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	now := s.clock()
	n := 0
	for k := range sl.volatile {
		if e := sl.keys[k]; e != nil && e.expired(now) {
			s.remove(sl, k, e)
			n++
		}
	}
	s.expired.Add(int64(n))
	return n
}
