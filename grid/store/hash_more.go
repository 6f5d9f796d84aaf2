package store

import (
	"math/big"
	"math/rand/v2"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// HSetNX sets field to value in the hash at key only when the field does not exist, and
// reports whether it did so.
func (s *Store) HSetNX(key, field, value []byte) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindHash, true)
	if err != nil {
		return false, err
	}
	if ok {
		if _, found := s.hashGet(sl, &r, field); found {
			return false, nil
		}
	}
	fv := [][]byte{field, value}
	if _, err := s.hashSet(sl, key, r, ok, fv, 0, true); err != nil {
		return false, err
	}
	s.journalHashSet(sl, key, fv)
	return true, nil
}

// HStrLen is the length of the value of field in the hash at key, 0 when either is absent.
func (s *Store) HStrLen(key, field []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindHash, false)
	if !ok {
		return 0, err
	}
	v, _ := s.hashGet(sl, &r, field)
	return int64(len(v)), nil
}

// ErrHashNotFloat is HINCRBYFLOAT's reply to a field that does not hold a number.
var ErrHashNotFloat = replyError("ERR hash value is not a float")

// HIncrByFloat adds delta (finite, as ParseLongDouble returned it) to the number in field
// of the hash at key and returns the new value as stored, computed and printed as Redis's
// long double arithmetic does.
func (s *Store) HIncrByFloat(key, field []byte, delta *big.Float) ([]byte, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindHash, true)
	if err != nil {
		return nil, err
	}
	cur := new(big.Float)
	if ok {
		if v, found := s.hashGet(sl, &r, field); found {
			f, valid := ParseLongDouble(v)
			if !valid {
				return nil, ErrHashNotFloat
			}
			cur = f
		}
	}
	sum, finite := ldAdd(cur, delta)
	if !finite {
		return nil, ErrNaN
	}
	out := FormatLongDouble(nil, sum)
	fv := [][]byte{field, out}
	if _, err := s.hashSet(sl, key, r, ok, fv, 0, true); err != nil {
		return nil, err
	}
	s.journalHashSet(sl, key, fv)
	return out, nil
}

// hashRandom returns a uniformly chosen field and its value of the non-empty hash record
// r, aliasing the arena.
func (s *Store) hashRandom(sl *slot, r *record) (field, value []byte) {
	if r.table() {
		_, ref := sl.tables[handleOf(r.body)].Random(rand.IntN)
		fr := decode(s.arena.Bytes(ref))
		return fr.key, fr.body
	}
	n, it := smallHash(r.body)
	f, v, _ := it.next()
	for i := rand.IntN(n); i > 0; i-- {
		f, v, _ = it.next()
	}
	return f, v
}

// HRandField returns copies of random fields of the hash at key as HRANDFIELD picks them:
// count > 0 distinct fields (the whole hash when it has no more), count < 0 -count fields
// with repeats. With withValues each field is followed by its value.
func (s *Store) HRandField(key []byte, count int64, withValues bool) ([][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindHash, false)
	if !ok || count == 0 {
		return nil, err
	}
	per := int64(1)
	if withValues {
		per = 2
	}
	add := func(out [][]byte, f, v []byte) [][]byte {
		out = append(out, cloneBytes(f))
		if withValues {
			out = append(out, cloneBytes(v))
		}
		return out
	}
	n := int64(s.hashLen(sl, &r))
	if count < 0 {
		out := make([][]byte, 0, min(-count*per, 1<<20))
		for range -count {
			f, v := s.hashRandom(sl, &r)
			out = add(out, f, v)
		}
		return out, nil
	}
	all := make([][]byte, 0, n*per)
	if count >= n || !r.table() || count*3 > n {
		s.hashEach(sl, &r, func(f, v []byte) { all = add(all, f, v) })
		if count >= n {
			return all, nil
		}
		// A large share: a partial shuffle of the whole hash, pair by pair.
		for i := range count {
			j := i + rand.Int64N(n-i)
			for k := range per {
				all[i*per+k], all[j*per+k] = all[j*per+k], all[i*per+k]
			}
		}
		return all[:count*per], nil
	}
	// A small share of a table: random picks, repeats skipped.
	seen := make(map[string]struct{}, count)
	for int64(len(seen)) < count {
		f, v := s.hashRandom(sl, &r)
		if _, dup := seen[string(f)]; dup {
			continue
		}
		seen[string(f)] = struct{}{}
		all = add(all, f, v)
	}
	return all, nil
}

// HScan returns the next page of the hash at key from cursor as HSCAN does: copies of the
// fields matching pattern (nil: all), each followed by its value, and the cursor that
// continues it (0: done). A hash in the small encoding is returned whole.
func (s *Store) HScan(key []byte, cursor uint64, pattern []byte, count int) (uint64, [][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindHash, false)
	if !ok {
		return 0, nil, err
	}
	var out [][]byte
	take := func(f, v []byte) {
		if pattern == nil || Match(pattern, f) {
			out = append(out, cloneBytes(f), cloneBytes(v))
		}
	}
	if !r.table() {
		s.hashEach(sl, &r, take)
		return 0, out, nil
	}
	t := sl.tables[handleOf(r.body)]
	seen := 0
	visit := func(ref slab.Ref) {
		seen++
		fr := decode(s.arena.Bytes(ref))
		take(fr.key, fr.body)
	}
	// As SScan: count is the fields looked at, at most 10×count home positions a call.
	for steps := 10 * count; ; steps-- {
		cursor = t.Scan(s.arena, cursor, visit)
		if cursor == 0 || steps <= 0 || seen >= count {
			return cursor, out, nil
		}
	}
}
