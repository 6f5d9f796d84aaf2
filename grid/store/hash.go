package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// A hash is kept in one record (small encoding) while it has at most hashMaxListpackEntries
// fields of at most hashMaxListpackValue bytes each, Redis's defaults for its listpack
// encoding; past either it moves, for good, to a table of field records of its own.
const (
	hashMaxListpackEntries = 128
	hashMaxListpackValue   = 64
)

func handleOf(body []byte) uint32 { return binary.LittleEndian.Uint32(body) }

// newTable registers an empty field table in sl and returns its handle.
func (s *Store) newTable(sl *slot) uint32 {
	s.heap.Add(tableOverhead)
	if n := len(sl.freeTabs); n > 0 {
		h := sl.freeTabs[n-1]
		sl.freeTabs = sl.freeTabs[:n-1]
		sl.tables[h] = &slab.Table{}
		return h
	}
	sl.tables = append(sl.tables, &slab.Table{})
	return uint32(len(sl.tables) - 1)
}

// freeTable frees every field record of t and empties it.
func (s *Store) freeTable(t *slab.Table) {
	for i := range t.Cap() {
		if r := t.At(i); r != 0 {
			s.arena.Free(r)
		}
	}
	t.Clear(s.arena)
}

// dropTable frees the field table with handle h.
func (s *Store) dropTable(sl *slot, h uint32) {
	s.freeTable(sl.tables[h])
	sl.tables[h] = nil
	sl.freeTabs = append(sl.freeTabs, h)
	s.heap.Add(-tableOverhead)
}

// hashLen is the number of fields of the hash record r.
func (s *Store) hashLen(sl *slot, r *record) int {
	if r.table() {
		return sl.tables[handleOf(r.body)].Len()
	}
	n, _ := smallHash(r.body)
	return n
}

// hashGet returns the value of field in the hash record r, aliasing the arena.
func (s *Store) hashGet(sl *slot, r *record, field []byte) ([]byte, bool) {
	if r.table() {
		t := sl.tables[handleOf(r.body)]
		pos, ref := t.Find(s.arena, slab.Hash(field), field)
		if pos < 0 {
			return nil, false
		}
		return decode(s.arena.Bytes(ref)).body, true
	}
	_, it := smallHash(r.body)
	for f, v, ok := it.next(); ok; f, v, ok = it.next() {
		if bytes.Equal(f, field) {
			return v, true
		}
	}
	return nil, false
}

// hashEach calls fn with every field and value of the hash record r, aliasing the arena.
func (s *Store) hashEach(sl *slot, r *record, fn func(field, value []byte)) {
	if r.table() {
		t := sl.tables[handleOf(r.body)]
		for i := range t.Cap() {
			if ref := t.At(i); ref != 0 {
				fr := decode(s.arena.Bytes(ref))
				fn(fr.key, fr.body)
			}
		}
		return
	}
	_, it := smallHash(r.body)
	for f, v, ok := it.next(); ok; f, v, ok = it.next() {
		fn(f, v)
	}
}

// hashSet sets the pairs of fv (alternating fields and values) in the hash at key, whose
// live record is r (ok false: none, the hash is created), and returns how many fields are
// new. With limit, a write past maxmemory fails with ErrOOM before anything changes.
func (s *Store) hashSet(sl *slot, key []byte, r record, ok bool, fv [][]byte, exp int64, limit bool) (int64, error) {
	if limit {
		if err := s.room(pairsLen(fv)); err != nil {
			return 0, err
		}
	}
	if ok && r.table() {
		return s.tableSet(sl.tables[handleOf(r.body)], fv)
	}
	// Small encoding: the pairs are rebuilt with the changes applied.
	var fields, values [][]byte
	if ok {
		_, it := smallHash(r.body)
		for f, v, more := it.next(); more; f, v, more = it.next() {
			fields, values = append(fields, f), append(values, v)
		}
		exp = r.exp
	}
	var added int64
	small := true
	for i := 0; i+1 < len(fv); i += 2 {
		j := indexOf(fields, fv[i])
		if j < 0 {
			fields, values = append(fields, fv[i]), append(values, fv[i+1])
			added++
		} else {
			values[j] = fv[i+1]
		}
	}
	for i := range fields {
		if len(fields[i]) > hashMaxListpackValue || len(values[i]) > hashMaxListpackValue {
			small = false
		}
	}
	if len(fields) > hashMaxListpackEntries {
		small = false
	}
	var old *record
	if ok {
		old = &r
	}
	if small {
		body := binary.AppendUvarint(nil, uint64(len(fields)))
		for i := range fields {
			body = appendBytes(appendBytes(body, fields[i]), values[i])
		}
		_, err := s.put(sl, old, key, byte(KindHash), exp, body, false)
		return added, err
	}
	// Converted to table encoding: the fields are copied out before the record changes.
	h := s.newTable(sl)
	t := sl.tables[h]
	for i := range fields {
		if _, err := s.tableSet(t, [][]byte{fields[i], values[i]}); err != nil {
			s.dropTable(sl, h)
			return 0, err
		}
	}
	var hb [4]byte
	binary.LittleEndian.PutUint32(hb[:], h)
	if _, err := s.put(sl, old, key, byte(KindHash)|flagTable, exp, hb[:], false); err != nil {
		s.dropTable(sl, h)
		return 0, err
	}
	return added, nil
}

// pairsLen is the bytes the field records of fv (alternating fields and values) take.
func pairsLen(fv [][]byte) int {
	need := 0
	for i := 0; i+1 < len(fv); i += 2 {
		need += recordLen(fv[i], 0, len(fv[i+1]))
	}
	return need
}

func indexOf(list [][]byte, v []byte) int {
	for i, x := range list {
		if bytes.Equal(x, v) {
			return i
		}
	}
	return -1
}

// tableSet sets the pairs of fv in the field table t and returns how many are new. It fails
// only when the kernel refuses memory below maxmemory.
func (s *Store) tableSet(t *slab.Table, fv [][]byte) (int64, error) {
	var added int64
	for i := 0; i+1 < len(fv); i += 2 {
		f, v := fv[i], fv[i+1]
		h := slab.Hash(f)
		pos, old := t.Find(s.arena, h, f)
		n := recordLen(f, 0, len(v))
		if pos >= 0 && slab.ChunkSize(n) == len(s.arena.Bytes(old)) {
			encode(s.arena.Bytes(old), 0, f, 0, v)
			continue
		}
		ref, chunk, err := s.arena.Alloc(n)
		if err != nil {
			return added, fmt.Errorf("%w: %w", ErrOOM, err)
		}
		encode(chunk, 0, f, 0, v)
		if pos >= 0 {
			t.Replace(pos, ref)
			s.arena.Free(old)
		} else {
			t.Insert(s.arena, h, ref)
			added++
		}
	}
	return added, nil
}

// tableDel removes the entries named by names (hash fields, set members) from the table of
// r, deleting the key when it is emptied, and returns how many there were.
func (s *Store) tableDel(sl *slot, r record, names [][]byte) int64 {
	var n int64
	t := sl.tables[handleOf(r.body)]
	for _, name := range names {
		if pos, ref := t.Find(s.arena, slab.Hash(name), name); pos >= 0 {
			t.Delete(s.arena, pos)
			s.arena.Free(ref)
			n++
		}
	}
	if t.Len() == 0 {
		s.remove(sl, &r)
	}
	return n
}

// hashDel removes fields from the hash record r (deleting the key when emptied) and
// returns how many existed.
func (s *Store) hashDel(sl *slot, r record, fields [][]byte) (int64, error) {
	if r.table() {
		return s.tableDel(sl, r, fields), nil
	}
	var n int64
	count, it := smallHash(r.body)
	body := binary.AppendUvarint(nil, 0)
	for f, v, ok := it.next(); ok; f, v, ok = it.next() {
		if indexOf(fields, f) >= 0 {
			n++
			continue
		}
		body = appendBytes(appendBytes(body, f), v)
	}
	if n == 0 {
		return 0, nil
	}
	if int64(count) == n {
		s.remove(sl, &r)
		return n, nil
	}
	body = append(binary.AppendUvarint(nil, uint64(count)-uint64(n)), body[1:]...)
	_, err := s.put(sl, &r, r.key, r.flags, r.exp, body, false)
	return n, err
}

// HSet sets the field/value pairs (fv alternates them) and returns how many fields are new.
func (s *Store) HSet(key []byte, fv [][]byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindHash, true)
	if err != nil {
		return 0, err
	}
	added, err := s.hashSet(sl, key, r, ok, fv, 0, true)
	if err != nil {
		return 0, err
	}
	s.journalHashSet(sl, key, fv)
	return added, nil
}

// HGet appends the value of field in the hash at key to dst.
func (s *Store) HGet(dst, key, field []byte) ([]byte, bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindHash, false)
	if !ok {
		return dst, false, err
	}
	v, found := s.hashGet(sl, &r, field)
	if !found {
		return dst, false, nil
	}
	return append(dst, v...), true, nil
}

// HMGet returns copies of the values of fields (nil for a missing field).
func (s *Store) HMGet(key []byte, fields [][]byte) ([][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindHash, false)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(fields))
	if !ok {
		return out, nil
	}
	for i, f := range fields {
		if v, found := s.hashGet(sl, &r, f); found {
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
	r, ok, err := s.typed(sl, key, KindHash, false)
	if !ok {
		return nil, err
	}
	out := make([][]byte, 0, 2*s.hashLen(sl, &r))
	s.hashEach(sl, &r, func(f, v []byte) { out = append(out, cloneBytes(f), cloneBytes(v)) })
	return out, nil
}

// HDel removes fields and returns how many existed; an emptied hash is deleted.
func (s *Store) HDel(key []byte, fields [][]byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindHash, true)
	if !ok {
		return 0, err
	}
	n, err := s.hashDel(sl, r, fields)
	if n > 0 {
		s.journalHashDel(sl, key, fields)
	}
	return n, err
}

// HLen is the number of fields of the hash at key.
func (s *Store) HLen(key []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindHash, false)
	if !ok {
		return 0, err
	}
	return int64(s.hashLen(sl, &r)), nil
}

// HExists reports whether field exists in the hash at key.
func (s *Store) HExists(key, field []byte) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindHash, false)
	if !ok {
		return false, err
	}
	_, found := s.hashGet(sl, &r, field)
	return found, nil
}

// HIncrBy adds delta to the integer in field of the hash at key.
func (s *Store) HIncrBy(key, field []byte, delta int64) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindHash, true)
	if err != nil {
		return 0, err
	}
	var cur int64
	if ok {
		if v, found := s.hashGet(sl, &r, field); found {
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
	v := strconv.AppendInt(nil, cur, 10)
	if _, err := s.hashSet(sl, key, r, ok, [][]byte{field, v}, 0, true); err != nil {
		return 0, err
	}
	s.journalHashSet(sl, key, [][]byte{field, nil})
	return cur, nil
}
