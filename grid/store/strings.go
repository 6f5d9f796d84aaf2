package store

import (
	"math"
	"math/big"
	"strconv"
)

// Get appends the string value of key to dst; ok is false when the key does not exist.
func (s *Store) Get(dst, key []byte) (out []byte, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	if !ok {
		return dst, false, nil
	}
	if r.kind() != KindString {
		return dst, false, ErrWrongType
	}
	return append(dst, r.body...), true, nil
}

// SetOptions are the options of SET.
type SetOptions struct {
	NX, XX  bool
	KeepTTL bool
	Get     bool  // return the old value
	At      int64 // expire at this unix millisecond; 0: no expiry (unless KeepTTL)
}

// SetResult tells what SET did.
type SetResult struct {
	Done   bool   // the value was written (false when NX/XX did not hold)
	Old    []byte // with SetOptions.Get: the old value appended to the dst given
	HadOld bool   // with SetOptions.Get: there was an old value
}

// Set writes a string value with SET's semantics. With o.Get the old value must be a
// string (else ErrWrongType and nothing changes) and is appended to dst.
func (s *Store) Set(dst, key, val []byte, o SetOptions) (SetResult, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	res := SetResult{Old: dst}
	if ok && o.Get {
		if r.kind() != KindString {
			return res, ErrWrongType
		}
		res.Old = append(dst, r.body...)
		res.HadOld = true
	}
	if (o.NX && ok) || (o.XX && !ok) {
		return res, nil
	}
	at := o.At
	if o.KeepTTL && ok {
		at = r.exp
	}
	if err := s.setString(sl, key, r, ok, val, at, true); err != nil {
		return res, err
	}
	s.journalString(sl, key, at, val)
	res.Done = true
	return res, nil
}

// setString stores val at key over the live record r (when ok); the slot is locked. With
// limit, a write past maxmemory fails with ErrOOM and changes nothing.
func (s *Store) setString(sl *slot, key []byte, r record, ok bool, val []byte, at int64, limit bool) error {
	if !ok {
		_, err := s.put(sl, nil, key, byte(KindString), at, val, limit)
		return err
	}
	// A hash or set in table encoding, or a list, loses its contents once the string is
	// stored; where they are is read before the record may be overwritten in place.
	table, h := r.table(), uint32(0)
	if table {
		h = handleOf(r.body)
	}
	isList, lst := r.kind() == KindList, listHdr{}
	if isList {
		lst = readList(r.body)
	}
	var stream []byte
	if r.kind() == KindStream {
		stream = cloneBytes(r.body)
	}
	_, err := s.put(sl, &r, key, byte(KindString), at, val, limit)
	if err == nil && table {
		s.dropTable(sl, h)
	}
	if err == nil && isList {
		(&list{s: s, hdr: lst}).free()
	}
	if err == nil && stream != nil {
		s.freeStream(stream)
	}
	return err
}

func cloneBytes(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// MSet writes all key/value pairs (kv alternates keys and values) atomically: the keys
// must share one slot, as the server checks before calling. Either all are written or,
// past maxmemory, none.
func (s *Store) MSet(kv [][]byte) error {
	if len(kv) == 0 {
		return nil
	}
	sl := s.slotOf(kv[0])
	sl.mu.Lock()
	defer sl.mu.Unlock()
	need := 0
	for i := 0; i+1 < len(kv); i += 2 {
		need += keyLen(kv[i], 0, len(kv[i+1]))
	}
	if err := s.room(need); err != nil {
		return err
	}
	for i := 0; i+1 < len(kv); i += 2 {
		r, ok := s.lookupW(sl, kv[i])
		if err := s.setString(sl, kv[i], r, ok, kv[i+1], 0, false); err != nil {
			return err
		}
		s.journalKey(sl, kv[i])
	}
	return nil
}

// IncrBy adds delta to the integer stored at key (0 when absent) and returns the result.
func (s *Store) IncrBy(key []byte, delta int64) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	var cur int64
	if ok {
		if r.kind() != KindString {
			return 0, ErrWrongType
		}
		v, err := strconv.ParseInt(string(r.body), 10, 64)
		if err != nil || !canonicalInt(r.body) {
			return 0, ErrNotInteger
		}
		cur = v
	}
	if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
		return 0, ErrOverflow
	}
	cur += delta
	var buf [20]byte
	val := strconv.AppendInt(buf[:0], cur, 10)
	if err := s.setString(sl, key, r, ok, val, r.exp, true); err != nil {
		return 0, err
	}
	s.journalString(sl, key, r.exp, val)
	return cur, nil
}

// canonicalInt rejects what strconv accepts but Redis's string2ll does not ("+1", "01",
// "-0": no leading zero after the sign either).
func canonicalInt(b []byte) bool {
	if len(b) == 0 || b[0] == '+' {
		return false
	}
	if b[0] == '-' {
		return len(b) > 1 && b[1] != '0'
	}
	return len(b) == 1 || b[0] != '0'
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// IncrByFloat adds the number delta (text, parsed as Redis parses it after the key's type
// and value are checked) to the number stored at key and returns the new value as stored:
// computed and printed as Redis's long double arithmetic does (float.go).
func (s *Store) IncrByFloat(key, delta []byte) ([]byte, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	cur := new(big.Float)
	if ok {
		if r.kind() != KindString {
			return nil, ErrWrongType
		}
		v, valid := ParseLongDouble(r.body)
		if !valid {
			return nil, ErrNotFloat
		}
		cur = v
	}
	d, valid := ParseLongDouble(delta)
	if !valid {
		return nil, ErrNotFloat
	}
	sum, finite := ldAdd(cur, d)
	if !finite {
		return nil, ErrNaN
	}
	out := FormatLongDouble(nil, sum)
	if err := s.setString(sl, key, r, ok, out, r.exp, true); err != nil {
		return nil, err
	}
	s.journalKey(sl, key)
	return out, nil
}

// Append appends val to the string at key (creating it) and returns the new length. A
// string that grows by appends gets room ahead (growString), so appending is not
// quadratic; only the appended bytes are journaled.
func (s *Store) Append(key, val []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	if !ok {
		if err := s.setString(sl, key, r, false, val, 0, true); err != nil {
			return 0, err
		}
		s.journalKey(sl, key)
		return int64(len(val)), nil
	}
	if r.kind() != KindString {
		return 0, ErrWrongType
	}
	if int64(len(r.body)+len(val)) > s.maxBulk {
		return 0, ErrTooBig
	}
	n, at := len(r.body)+len(val), len(r.body)
	r, err := s.growString(sl, key, r, true, n, true)
	if err != nil {
		return 0, err
	}
	copy(r.body[at:], val)
	s.journalRanges(sl, key, r.body, []Span{{Off: at, Len: len(val)}})
	return int64(n), nil
}

// StrLen is the length of the string at key, 0 when absent.
func (s *Store) StrLen(key []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	if !ok {
		return 0, nil
	}
	if r.kind() != KindString {
		return 0, ErrWrongType
	}
	return int64(len(r.body)), nil
}
