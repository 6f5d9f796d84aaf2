package store

import (
	"math"
	"strconv"
)

// Get appends the string value of key to dst; ok is false when the key does not exist.
func (s *Store) Get(dst, key []byte) (out []byte, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e := s.lookup(sl, key)
	if e == nil {
		return dst, false, nil
	}
	if e.kind != KindString {
		return dst, false, ErrWrongType
	}
	return append(dst, e.str...), true, nil
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
	e := s.lookupW(sl, key)
	res := SetResult{Old: dst}
	if e != nil && o.Get {
		if e.kind != KindString {
			return res, ErrWrongType
		}
		res.Old = append(dst, e.str...)
		res.HadOld = true
	}
	if (o.NX && e != nil) || (o.XX && e == nil) {
		return res, nil
	}
	at := o.At
	if o.KeepTTL && e != nil {
		at = e.expireAt
	}
	s.setString(sl, key, e, val, at)
	s.journalKey(sl, key)
	res.Done = true
	return res, nil
}

// setString stores val at key over the live entry e (nil: none); the slot is locked.
func (s *Store) setString(sl *slot, key []byte, e *entry, val []byte, at int64) {
	if e == nil {
		e = &entry{kind: KindString, str: cloneBytes(val)}
		e.size = int64(cap(e.str))
		k := string(key)
		s.insert(sl, k, e)
		if at != 0 {
			s.setExpire(sl, k, e, at)
		}
		return
	}
	old := int64(cap(e.str))
	if e.kind == KindString && cap(e.str) >= len(val) && cap(e.str) <= 2*len(val)+16 {
		// Readers copy values out under the slot lock, so the buffer can be reused.
		e.str = append(e.str[:0], val...)
	} else {
		e.str = cloneBytes(val)
	}
	if e.kind == KindHash {
		old = hashSize(e.hash)
		e.hash = nil
	}
	e.kind = KindString
	s.grow(e, int64(cap(e.str))-old)
	if at != e.expireAt {
		s.setExpire(sl, string(key), e, at)
	}
}

func cloneBytes(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

// MSet writes all key/value pairs (kv alternates keys and values) atomically: the keys
// must share one slot, as the server checks before calling.
func (s *Store) MSet(kv [][]byte) {
	if len(kv) == 0 {
		return
	}
	sl := s.slotOf(kv[0])
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for i := 0; i+1 < len(kv); i += 2 {
		s.setString(sl, kv[i], s.lookupW(sl, kv[i]), kv[i+1], 0)
		s.journalKey(sl, kv[i])
	}
}

// IncrBy adds delta to the integer stored at key (0 when absent) and returns the result.
func (s *Store) IncrBy(key []byte, delta int64) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e := s.lookupW(sl, key)
	var cur int64
	if e != nil {
		if e.kind != KindString {
			return 0, ErrWrongType
		}
		v, err := strconv.ParseInt(string(e.str), 10, 64)
		if err != nil || !canonicalInt(e.str) {
			return 0, ErrNotInteger
		}
		cur = v
	}
	if (delta > 0 && cur > math.MaxInt64-delta) || (delta < 0 && cur < math.MinInt64-delta) {
		return 0, ErrOverflow
	}
	cur += delta
	var buf [20]byte
	at := int64(0)
	if e != nil {
		at = e.expireAt
	}
	s.setString(sl, key, e, strconv.AppendInt(buf[:0], cur, 10), at)
	s.journalKey(sl, key)
	return cur, nil
}

// canonicalInt rejects what strconv accepts but Redis's string2ll does not ("+1", "01").
func canonicalInt(b []byte) bool {
	if len(b) == 0 || b[0] == '+' {
		return false
	}
	if b[0] == '-' {
		b = b[1:]
	}
	return len(b) == 1 || (len(b) > 1 && b[0] != '0')
}

// ParseFloat parses a float the way Redis's INCRBYFLOAT arguments and values are parsed:
// no spaces, no NaN.
func ParseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || isSpaceByte(b[0]) || isSpaceByte(b[len(b)-1]) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// FormatFloat renders a float as INCRBYFLOAT does: plain decimal notation, no exponent,
// trailing zeros removed. Redis computes in long double and prints 17 digits; rounding to
// 15 significant digits gives the same text for the usual cases (0.1+0.2 is "0.3").
func FormatFloat(dst []byte, f float64) []byte {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 15, 64), 64)
	return strconv.AppendFloat(dst, r, 'f', -1, 64)
}

// IncrByFloat adds delta to the number stored at key and returns the new value as stored.
func (s *Store) IncrByFloat(key []byte, delta float64) ([]byte, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e := s.lookupW(sl, key)
	var cur float64
	if e != nil {
		if e.kind != KindString {
			return nil, ErrWrongType
		}
		v, ok := ParseFloat(e.str)
		if !ok {
			return nil, ErrNotFloat
		}
		cur = v
	}
	cur += delta
	if math.IsNaN(cur) || math.IsInf(cur, 0) {
		return nil, ErrNaN
	}
	out := FormatFloat(nil, cur)
	at := int64(0)
	if e != nil {
		at = e.expireAt
	}
	s.setString(sl, key, e, out, at)
	s.journalKey(sl, key)
	return out, nil
}

// Append appends val to the string at key (creating it) and returns the new length.
func (s *Store) Append(key, val []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e := s.lookupW(sl, key)
	if e == nil {
		s.setString(sl, key, nil, val, 0)
		s.journalKey(sl, key)
		return int64(len(val)), nil
	}
	if e.kind != KindString {
		return 0, ErrWrongType
	}
	if int64(len(e.str)+len(val)) > s.maxBulk {
		return 0, ErrTooBig
	}
	old := int64(cap(e.str))
	e.str = append(e.str, val...)
	s.grow(e, int64(cap(e.str))-old)
	s.journalKey(sl, key)
	return int64(len(e.str)), nil
}

// StrLen is the length of the string at key, 0 when absent.
func (s *Store) StrLen(key []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	e := s.lookup(sl, key)
	if e == nil {
		return 0, nil
	}
	if e.kind != KindString {
		return 0, ErrWrongType
	}
	return int64(len(e.str)), nil
}
