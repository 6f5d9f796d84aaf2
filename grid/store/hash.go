package store

import (
	"math"
	"strconv"
)

func hashSize(h map[string][]byte) int64 {
	var n int64
	for f, v := range h {
		n += int64(fieldOverhead + len(f) + cap(v))
	}
	return n
}

// hashFor returns the hash at key for writing, creating it when create is set.
func (s *Store) hashFor(sl *slot, key []byte, create bool) (*entry, error) {
	e := s.lookupW(sl, key)
	if e == nil {
		if !create {
			return nil, nil
		}
		e = &entry{kind: KindHash, hash: make(map[string][]byte)}
		s.insert(sl, string(key), e)
		return e, nil
	}
	if e.kind != KindHash {
		return nil, ErrWrongType
	}
	return e, nil
}

// hashRead returns the hash at key for reading; the slot is read-locked.
func (s *Store) hashRead(sl *slot, key []byte) (*entry, error) {
	e := s.lookup(sl, key)
	if e == nil {
		return nil, nil
	}
	if e.kind != KindHash {
		return nil, ErrWrongType
	}
	return e, nil
}

// HSet sets the field/value pairs (fv alternates them) and returns how many fields are new.
func (s *Store) HSet(key []byte, fv [][]byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e, err := s.hashFor(sl, key, true)
	if err != nil {
		return 0, err
	}
	var added int64
	for i := 0; i+1 < len(fv); i += 2 {
		f, v := fv[i], cloneBytes(fv[i+1])
		if old, ok := e.hash[string(f)]; ok {
			s.grow(e, int64(cap(v)-cap(old)))
			e.hash[string(f)] = v
			continue
		}
		e.hash[string(f)] = v
		s.grow(e, int64(fieldOverhead+len(f)+cap(v)))
		added++
	}
	s.journalHashSet(sl, key, fv)
	return added, nil
}

// HGet appends the value of field in the hash at key to dst.
func (s *Store) HGet(dst, key, field []byte) ([]byte, bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e, err := s.hashRead(sl, key)
	if e == nil {
		return dst, false, err
	}
	v, ok := e.hash[string(field)]
	if !ok {
		return dst, false, nil
	}
	return append(dst, v...), true, nil
}

// HMGet returns copies of the values of fields (nil for a missing field).
func (s *Store) HMGet(key []byte, fields [][]byte) ([][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e, err := s.hashRead(sl, key)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(fields))
	if e == nil {
		return out, nil
	}
	for i, f := range fields {
		if v, ok := e.hash[string(f)]; ok {
			out[i] = cloneBytes(v)
		}
	}
	return out, nil
}

// HGetAll returns copies of the fields and values of the hash at key, alternating.
func (s *Store) HGetAll(key []byte) ([][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e, err := s.hashRead(sl, key)
	if e == nil {
		return nil, err
	}
	out := make([][]byte, 0, 2*len(e.hash))
	for f, v := range e.hash {
		out = append(out, []byte(f), cloneBytes(v))
	}
	return out, nil
}

// HDel removes fields and returns how many existed; an emptied hash is deleted.
func (s *Store) HDel(key []byte, fields [][]byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e, err := s.hashFor(sl, key, false)
	if e == nil {
		return 0, err
	}
	var n int64
	for _, f := range fields {
		if v, ok := e.hash[string(f)]; ok {
			delete(e.hash, string(f))
			s.grow(e, -int64(fieldOverhead+len(f)+cap(v)))
			n++
		}
	}
	if len(e.hash) == 0 {
		s.remove(sl, string(key), e)
	}
	if n > 0 {
		s.journalHashDel(sl, key, fields)
	}
	return n, nil
}

// HLen is the number of fields of the hash at key.
func (s *Store) HLen(key []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e, err := s.hashRead(sl, key)
	if e == nil {
		return 0, err
	}
	return int64(len(e.hash)), nil
}

// HExists reports whether field exists in the hash at key.
func (s *Store) HExists(key, field []byte) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e, err := s.hashRead(sl, key)
	if e == nil {
		return false, err
	}
	_, ok := e.hash[string(field)]
	return ok, nil
}

// HIncrBy adds delta to the integer in field of the hash at key.
func (s *Store) HIncrBy(key, field []byte, delta int64) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e, err := s.hashFor(sl, key, false)
	if err != nil {
		return 0, err
	}
	var cur int64
	if e != nil {
		if v, ok := e.hash[string(field)]; ok {
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || !canonicalInt(v) {
				return 0, ErrHashNotInteger
			}
			cur = n
		}
	}
	if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
		return 0, ErrOverflow
	}
	cur += delta
	if e == nil {
		if e, err = s.hashFor(sl, key, true); err != nil {
			return 0, err
		}
	}
	v := strconv.AppendInt(nil, cur, 10)
	if old, ok := e.hash[string(field)]; ok {
		s.grow(e, int64(cap(v)-cap(old)))
	} else {
		s.grow(e, int64(fieldOverhead+len(field)+cap(v)))
	}
	e.hash[string(field)] = v
	s.journalHashSet(sl, key, [][]byte{field, nil})
	return cur, nil
}
