package store

// ExpireChange is what GETEX does to a key's expiry.
type ExpireChange uint8

// GETEX's options.
const (
	ExpireKeep    ExpireChange = iota // no option: the key is only read
	ExpireSet                         // EX, PX, EXAT, PXAT: expire at the time given
	ExpireRemoved                     // PERSIST
)

// GetEx appends the string value of key to dst and changes its expiry as GETEX does: at
// (unix milliseconds) with ExpireSet, a time already past deleting the key, or none with
// ExpireRemoved. ok is false when the key does not exist.
func (s *Store) GetEx(dst, key []byte, change ExpireChange, at int64) (out []byte, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	if !ok {
		return dst, false, nil
	}
	if r.kind() != KindString {
		return dst, false, ErrWrongType
	}
	out = append(dst, r.body...)
	switch {
	case change == ExpireSet && at <= s.clock():
		s.remove(sl, &r)
		s.journalKey(sl, key)
	case change == ExpireSet || change == ExpireRemoved && r.exp != 0:
		if change == ExpireRemoved {
			at = 0
		}
		// Not refused past maxmemory, as in Redis (GETEX is not a denyoom command): an
		// expiry adds 8 bytes at most.
		if _, err := s.put(sl, &r, r.key, r.flags, at, r.body, false); err != nil {
			return dst, false, err
		}
		s.journalExpire(sl, key)
	}
	return out, true, nil
}

// GetDel appends the string value of key to dst and deletes the key.
func (s *Store) GetDel(dst, key []byte) (out []byte, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	if !ok {
		return dst, false, nil
	}
	if r.kind() != KindString {
		return dst, false, ErrWrongType
	}
	out = append(dst, r.body...)
	s.remove(sl, &r)
	s.journalKey(sl, key)
	return out, true, nil
}

// MSetNX writes all key/value pairs (kv alternates them; the keys share one slot) only when
// none of the keys exists, and reports whether it did.
func (s *Store) MSetNX(kv [][]byte) (bool, error) {
	if len(kv) == 0 {
		return false, nil
	}
	sl := s.slotOf(kv[0])
	sl.mu.Lock()
	defer sl.mu.Unlock()
	need := 0
	for i := 0; i+1 < len(kv); i += 2 {
		if _, ok := s.lookupW(sl, kv[i]); ok {
			return false, nil
		}
		need += keyLen(kv[i], 0, len(kv[i+1]))
	}
	if err := s.room(need); err != nil {
		return false, err
	}
	for i := 0; i+1 < len(kv); i += 2 {
		// A key given twice is there the second time: it is overwritten, as in Redis.
		r, ok := s.lookupW(sl, kv[i])
		if err := s.setString(sl, kv[i], r, ok, kv[i+1], 0, false); err != nil {
			return false, err
		}
		s.journalKey(sl, kv[i])
	}
	return true, nil
}

// ErrOffsetRange is SETRANGE's reply to a negative offset.
var ErrOffsetRange = replyError("ERR offset is out of range")

// SetRange overwrites the string at key from offset with val (zero bytes filling any gap,
// the key created when absent) and returns the new length, as SETRANGE does: an empty val
// changes nothing. Only the bytes written are journaled.
func (s *Store) SetRange(key []byte, offset int64, val []byte) (int64, error) {
	if offset < 0 {
		return 0, ErrOffsetRange
	}
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	if ok && r.kind() != KindString {
		return 0, ErrWrongType
	}
	if len(val) == 0 {
		return int64(len(r.body)), nil
	}
	if offset > s.maxBulk-int64(len(val)) {
		return 0, ErrTooBig
	}
	n := max(int64(len(r.body)), offset+int64(len(val)))
	if !ok || n > int64(len(r.body)) {
		var err error
		if r, err = s.growString(sl, key, r, ok, int(n), true); err != nil {
			return 0, err
		}
	}
	copy(r.body[offset:], val)
	s.journalRanges(sl, key, r.body, []Span{{Off: int(offset), Len: len(val)}})
	return n, nil
}

// GetRange appends the part of the string at key from start to end (inclusive; negative
// counts from the end) to dst, as GETRANGE clamps them.
func (s *Store) GetRange(dst, key []byte, start, end int64) ([]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	if !ok {
		return dst, nil
	}
	if r.kind() != KindString {
		return dst, ErrWrongType
	}
	n := int64(len(r.body))
	if start < 0 && end < 0 && start > end {
		return dst, nil
	}
	if start < 0 {
		start = max(n+start, 0)
	}
	if end < 0 {
		end = max(n+end, 0)
	}
	end = min(end, n-1)
	if start > end || n == 0 {
		return dst, nil
	}
	return append(dst, r.body[start:end+1]...), nil
}

// GetStrings returns copies of the string values of keys (which share one slot), read at
// one instant; nil for a missing key. A key of another type fails the whole read with
// ErrWrongType.
func (s *Store) GetStrings(keys [][]byte) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	sl := s.slotOf(keys[0])
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		r, ok := s.lookup(sl, k)
		if !ok {
			continue
		}
		if r.kind() != KindString {
			return nil, ErrWrongType
		}
		out[i] = cloneBytes(r.body)
	}
	return out, nil
}
