package store

import (
	"encoding/binary"
	"fmt"
)

// Span is a changed part of a string value: Len bytes from Off.
type Span struct{ Off, Len int }

// opStrRange journals a change to part of a string (SETRANGE, APPEND, SETBIT, BITFIELD,
// PFADD): key, length, n, n×(offset, bytes). The key now holds a string of this length
// (created when absent, zero bytes filling what it gained, its expiry kept) with these
// bytes at these offsets; replaying it twice is harmless. A one-bit change to a large
// bitmap journals a few bytes, not the value.
const opStrRange byte = 30

// maxSpanGap is how many unchanged bytes a diff keeps inside one span rather than start
// another (each span costs a few bytes of offsets).
const maxSpanGap = 8

// EditString lets edit change the string at key in place, after it has been made at least
// minLen bytes long (created when absent, zero bytes filling what it gains, its expiry
// kept), as Redis's bit commands do; edit returns the parts it changed, which are
// journaled with the new length. The caller bounds minLen (Redis's bit commands bound
// offsets by proto-max-bulk-len). A key of another type is ErrWrongType before anything
// changes; the growth is refused past maxmemory (ErrOOM) before it is allocated.
func (s *Store) EditString(key []byte, minLen int64, edit func(v []byte) []Span) error {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, key)
	if ok && r.kind() != KindString {
		return ErrWrongType
	}
	grew := !ok
	if int64(len(r.body)) < minLen || !ok {
		var err error
		if r, err = s.growString(sl, key, r, ok, int(max(minLen, int64(len(r.body)))), true); err != nil {
			return err
		}
		grew = true
	}
	spans := edit(r.body)
	if len(spans) > 0 || grew {
		s.journalRanges(sl, key, r.body, spans)
	}
	return nil
}

// UpdateStrings calls fn with the values of keys (which share one slot; nil for a missing
// key, wrong[i] set for a key of another type) under the slot's write lock, and stores the
// value fn returns at keys[0] unless it is nil (keeping the key's expiry), journaling
// only the bytes that differ: a HyperLogLog is at most 12 KiB and a PFADD changes a few
// registers. The value is stored even when fn also returns an error (Redis keeps what a
// PFADD changed before it met a corrupt value); fn's error is returned. A keys[0] of
// another type that fn would overwrite is ErrWrongType.
func (s *Store) UpdateStrings(keys [][]byte, fn func(vals [][]byte, wrong []bool) ([]byte, error)) error {
	sl := s.slotOf(keys[0])
	sl.mu.Lock()
	defer sl.mu.Unlock()
	vals, wrong := make([][]byte, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		r, ok := s.lookupW(sl, k)
		switch {
		case !ok:
		case r.kind() != KindString:
			wrong[i] = true
		case r.body == nil:
			vals[i] = []byte{}
		default:
			vals[i] = r.body
		}
	}
	nv, ferr := fn(vals, wrong)
	if nv == nil {
		return ferr
	}
	if wrong[0] {
		return ErrWrongType
	}
	key := keys[0]
	r, ok := s.lookupW(sl, key)
	if ok && len(nv) == len(r.body) {
		spans := diffSpans(r.body, nv)
		for _, sp := range spans {
			copy(r.body[sp.Off:sp.Off+sp.Len], nv[sp.Off:])
		}
		if len(spans) > 0 {
			s.journalRanges(sl, key, r.body, spans)
		}
		return ferr
	}
	old := cloneBytes(r.body)
	if err := s.setString(sl, key, r, ok, nv, r.exp, true); err != nil {
		return err
	}
	if !ok {
		s.journalKey(sl, key)
		return ferr
	}
	r, _ = s.find(sl, key)
	s.journalRanges(sl, key, r.body, diffSpans(old, nv))
	return ferr
}

// diffSpans returns the parts of b that differ from a (b's bytes past a's length all
// count as changed), merging spans closer than maxSpanGap.
func diffSpans(a, b []byte) []Span {
	var spans []Span
	for i := 0; i < len(b); i++ {
		if i < len(a) && a[i] == b[i] {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1].Off+spans[n-1].Len+maxSpanGap >= i {
			spans[n-1].Len = i + 1 - spans[n-1].Off
			continue
		}
		spans = append(spans, Span{Off: i, Len: 1})
	}
	return spans
}

// ViewStrings calls fn with the values of keys (which share one slot) read at one
// instant, under the slot's read lock: nil for a missing key, wrong[i] set for a key of
// another type. fn must not keep the values.
func (s *Store) ViewStrings(keys [][]byte, fn func(vals [][]byte, wrong []bool)) {
	if len(keys) == 0 {
		fn(nil, nil)
		return
	}
	sl := s.slotOf(keys[0])
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	vals, wrong := make([][]byte, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		r, ok := s.lookup(sl, k)
		switch {
		case !ok:
		case r.kind() != KindString:
			wrong[i] = true
		case r.body == nil:
			vals[i] = []byte{}
		default:
			vals[i] = r.body
		}
	}
	fn(vals, wrong)
}

// ComputeString stores at dest (sharing the slot of srcs) the string fn computes from the
// values of srcs (nil for a missing key), atomically: an empty result deletes dest, a
// value replaces whatever dest held and its expiry (BITOP). A source of another type is
// ErrWrongType and nothing changes. It returns the result's length.
func (s *Store) ComputeString(dest []byte, srcs [][]byte, fn func(vals [][]byte) []byte) (int64, error) {
	sl := s.slotOf(dest)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	vals := make([][]byte, len(srcs))
	for i, k := range srcs {
		r, ok := s.lookupW(sl, k)
		if !ok {
			continue
		}
		if r.kind() != KindString {
			return 0, ErrWrongType
		}
		vals[i] = r.body
	}
	out := fn(vals)
	r, ok := s.lookupW(sl, dest)
	if len(out) == 0 {
		if ok {
			s.remove(sl, &r)
			s.journalKey(sl, dest)
		}
		return 0, nil
	}
	if ok && r.kind() != KindString {
		if err := s.room(keyLen(dest, 0, len(out))); err != nil {
			return 0, err
		}
		s.remove(sl, &r)
		ok = false
	}
	if err := s.setString(sl, dest, r, ok, out, 0, true); err != nil {
		return 0, err
	}
	s.journalKey(sl, dest)
	return int64(len(out)), nil
}

// growString makes the string record r at key (ok: it exists; else it is created without
// expiry) n bytes long, the new bytes zero, and returns it as stored. A string that grows
// gets room ahead (twice its length, at most 1 MiB more), as Redis's sds does, so growing
// a bitmap bit by bit is not quadratic. With limit the growth is refused past maxmemory
// before anything is allocated.
func (s *Store) growString(sl *slot, key []byte, r record, ok bool, n int, limit bool) (record, error) {
	if ok {
		hdr := recordLen(key, r.exp, len(r.body)) - len(r.body)
		if n >= len(r.body) && hdr+n+clockLen <= len(r.chunk) && uvlen(n) == uvlen(len(r.body)) {
			clear(r.chunk[hdr+len(r.body) : hdr+n])
			binary.PutUvarint(r.chunk[hdr-uvlen(n):], uint64(n))
			r.body = r.chunk[hdr : hdr+n : hdr+n]
			return r, nil
		}
	}
	room := 0
	if ok && n > len(r.body) {
		room = keyLen(key, r.exp, min(2*n, n+1<<20))
	}
	if limit {
		grow := max(keyLen(key, r.exp, n), room)
		if ok {
			grow -= len(r.chunk)
		}
		if err := s.room(grow); err != nil {
			return r, err
		}
	}
	body := make([]byte, n)
	copy(body, r.body)
	var old *record
	if ok {
		old = &r
	}
	nr, err := s.putSized(sl, old, key, byte(KindString), r.exp, body, room, false)
	if err != nil {
		return r, fmt.Errorf("growing a string to %d bytes: %w", n, err)
	}
	return nr, nil
}

// journalRanges journals opStrRange: v is the key's whole new value, spans the parts of it
// that changed.
func (s *Store) journalRanges(sl *slot, key, v []byte, spans []Span) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opStrRange)
		b = appendBytes(b, key)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = binary.AppendUvarint(b, uint64(len(spans)))
		for _, sp := range spans {
			b = binary.AppendUvarint(b, uint64(sp.Off))
			b = appendBytes(b, v[sp.Off:sp.Off+sp.Len])
		}
		return b
	})
}

// applyStrRange replays opStrRange on the live record cur (ok) of key, the rest of the
// operation in r.
func (s *Store) applyStrRange(sl *slot, key []byte, cur record, ok bool, r *opReader, limit bool) error {
	n := r.uvarint()
	cnt := r.count()
	offs, parts := make([]uint64, 0, cnt), make([][]byte, 0, cnt)
	for range cnt {
		offs, parts = append(offs, r.uvarint()), append(parts, r.bytes())
	}
	if r.err != nil {
		return r.err
	}
	// BITFIELD may write up to 8 bytes past the last offset proto-max-bulk-len allows.
	if n > uint64(s.maxBulk)+8 && n > uint64(len(cur.body)) {
		return fmt.Errorf("%w: a string of %d bytes", ErrBadOp, n)
	}
	for i, off := range offs {
		if off > n || uint64(len(parts[i])) > n-off {
			return fmt.Errorf("%w: bytes at %d past a string of %d", ErrBadOp, off, n)
		}
	}
	if ok && cur.kind() != KindString {
		s.remove(sl, &cur)
		ok = false
	}
	switch {
	case ok && uint64(len(cur.body)) > n:
		// Shorter than the key is here: the replica diverged; take the primary's length.
		if err := s.setString(sl, key, cur, true, cur.body[:n], cur.exp, limit); err != nil {
			return err
		}
		cur, _ = s.find(sl, key)
	case !ok || uint64(len(cur.body)) < n:
		var err error
		if cur, err = s.growString(sl, key, cur, ok, int(n), limit); err != nil {
			return err
		}
	}
	for i, off := range offs {
		copy(cur.body[off:], parts[i])
	}
	return nil
}
