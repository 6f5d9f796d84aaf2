package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// A set is kept in one record (small encoding) while it is an intset — at most
// setMaxIntsetEntries members that are all integers, in numeric order (flagInts) — or a
// listpack — at most setMaxListpackEntries members of at most setMaxListpackValue bytes,
// in insertion order: Redis's encodings and default thresholds (set-max-intset-entries,
// set-max-listpack-entries, set-max-listpack-value). Past them it moves, for good, to a
// table of member records of its own (flags 0, the member as key, an empty body), as a
// hash does. A small set's body is its member count (uvarint) and its members, each as
// uvarint length and bytes.
const (
	setMaxIntsetEntries   = 512
	setMaxListpackEntries = 128
	setMaxListpackValue   = 64
)

// flagInts marks a small set whose members are all integers kept in numeric order.
const flagInts = 0x20

// memberIter iterates the members of a small set's body.
type memberIter struct{ b []byte }

func smallSet(body []byte) (n int, it memberIter) {
	c, w := binary.Uvarint(body)
	return int(c), memberIter{b: body[w:]}
}

func (it *memberIter) next() ([]byte, bool) {
	if len(it.b) == 0 {
		return nil, false
	}
	var m []byte
	m, it.b = readBytes(it.b)
	return m, true
}

// setInt is the integer m encodes when an intset can hold it: Redis's string2ll, the
// decimal text of an int64 and nothing else.
func setInt(m []byte) (int64, bool) {
	if len(m) == 0 || len(m) > 20 || !canonicalInt(m) {
		return 0, false
	}
	v, err := strconv.ParseInt(string(m), 10, 64)
	return v, err == nil
}

// setLen is the number of members of the set record r.
func (s *Store) setLen(sl *slot, r *record) int {
	if r.table() {
		return sl.tables[handleOf(r.body)].Len()
	}
	n, _ := smallSet(r.body)
	return n
}

// setHas reports whether m is a member of the set record r.
func (s *Store) setHas(sl *slot, r *record, m []byte) bool {
	if r.table() {
		pos, _ := sl.tables[handleOf(r.body)].Find(s.arena, slab.Hash(m), m)
		return pos >= 0
	}
	_, it := smallSet(r.body)
	for x, ok := it.next(); ok; x, ok = it.next() {
		if bytes.Equal(x, m) {
			return true
		}
	}
	return false
}

// setEach calls fn with every member of the set record r, aliasing the arena.
func (s *Store) setEach(sl *slot, r *record, fn func(m []byte)) {
	if r.table() {
		t := sl.tables[handleOf(r.body)]
		for i := range t.Cap() {
			if ref := t.At(i); ref != 0 {
				fn(slab.KeyOf(s.arena.Bytes(ref)))
			}
		}
		return
	}
	_, it := smallSet(r.body)
	for m, ok := it.next(); ok; m, ok = it.next() {
		fn(m)
	}
}

// setCopy returns copies of the members of the set record r.
func (s *Store) setCopy(sl *slot, r *record) [][]byte {
	out := make([][]byte, 0, s.setLen(sl, r))
	s.setEach(sl, r, func(m []byte) { out = append(out, cloneBytes(m)) })
	return out
}

// setRandom returns a uniformly chosen member of the non-empty set record r, aliasing the
// arena.
func (s *Store) setRandom(sl *slot, r *record) []byte {
	if r.table() {
		_, ref := sl.tables[handleOf(r.body)].Random(rand.IntN)
		return slab.KeyOf(s.arena.Bytes(ref))
	}
	n, it := smallSet(r.body)
	i := rand.IntN(n)
	m, _ := it.next()
	for ; i > 0; i-- {
		m, _ = it.next()
	}
	return m
}

// membersLen is the bytes the member records of members take.
func membersLen(members [][]byte) int {
	need := 0
	for _, m := range members {
		need += recordLen(m, 0, 0)
	}
	return need
}

// setAdd adds members to the set at key, whose live record is r (ok false: none, the set
// is created with expiry exp), and returns how many are new. With limit, a write past
// maxmemory fails with ErrOOM before anything changes.
func (s *Store) setAdd(sl *slot, key []byte, r record, ok bool, members [][]byte, exp int64, limit bool) (int64, error) {
	if limit {
		if err := s.room(membersLen(members)); err != nil {
			return 0, err
		}
	}
	if ok && r.table() {
		return s.tableAdd(sl.tables[handleOf(r.body)], members)
	}
	// Small encoding: the members are gathered (aliasing the record) with the new ones,
	// until they pass the limits and the set becomes a table.
	ints := true
	var cur [][]byte
	var old *record
	if ok {
		n, it := smallSet(r.body)
		cur = make([][]byte, 0, n+len(members))
		for m, more := it.next(); more; m, more = it.next() {
			cur = append(cur, m)
		}
		ints, exp, old = r.flags&flagInts != 0, r.exp, &r
	}
	var added int64
	var rest [][]byte
	small := true
	for i, m := range members {
		if indexOf(cur, m) >= 0 {
			continue
		}
		if _, isInt := setInt(m); !isInt {
			ints = false
		}
		cur = append(cur, m)
		added++
		if (ints && len(cur) > setMaxIntsetEntries) || (!ints && (len(cur) > setMaxListpackEntries || len(m) > setMaxListpackValue)) {
			small, rest = false, members[i+1:]
			break
		}
	}
	if added == 0 {
		return 0, nil
	}
	if small {
		flags := byte(KindSet)
		if ints {
			flags |= flagInts
			slices.SortFunc(cur, func(a, b []byte) int {
				x, _ := setInt(a)
				y, _ := setInt(b)
				return cmp.Compare(x, y)
			})
		}
		body := binary.AppendUvarint(nil, uint64(len(cur)))
		for _, m := range cur {
			body = appendBytes(body, m)
		}
		_, err := s.put(sl, old, key, flags, exp, body, false)
		return added, err
	}
	// Converted to a table: the members are copied into it before the record changes.
	h := s.newTable(sl)
	t := sl.tables[h]
	// cur first: a member repeated in rest is then not counted twice.
	_, err := s.tableAdd(t, cur)
	var more int64
	if err == nil {
		more, err = s.tableAdd(t, rest)
	}
	if err != nil {
		s.dropTable(sl, h)
		return 0, err
	}
	var hb [4]byte
	binary.LittleEndian.PutUint32(hb[:], h)
	if _, err := s.put(sl, old, key, byte(KindSet)|flagTable, exp, hb[:], false); err != nil {
		s.dropTable(sl, h)
		return 0, err
	}
	return added + more, nil
}

// tableAdd adds members to the member table t and returns how many are new. It fails only
// when the kernel refuses memory below maxmemory.
func (s *Store) tableAdd(t *slab.Table, members [][]byte) (int64, error) {
	var added int64
	for _, m := range members {
		h := slab.Hash(m)
		if pos, _ := t.Find(s.arena, h, m); pos >= 0 {
			continue
		}
		ref, chunk, err := s.arena.Alloc(recordLen(m, 0, 0))
		if err != nil {
			return added, fmt.Errorf("%w: %w", ErrOOM, err)
		}
		encode(chunk, 0, m, 0, nil)
		t.Insert(s.arena, h, ref)
		added++
	}
	return added, nil
}

// setRem removes members from the set record r (deleting the key when emptied) and returns
// how many were members.
func (s *Store) setRem(sl *slot, r record, members [][]byte) (int64, error) {
	if r.table() {
		return s.tableDel(sl, r, members), nil
	}
	var n int64
	count, it := smallSet(r.body)
	var body []byte
	for m, ok := it.next(); ok; m, ok = it.next() {
		if indexOf(members, m) >= 0 {
			n++
			continue
		}
		body = appendBytes(body, m)
	}
	if n == 0 {
		return 0, nil
	}
	if int64(count) == n {
		s.remove(sl, &r)
		return n, nil
	}
	body = append(binary.AppendUvarint(nil, uint64(count)-uint64(n)), body...)
	_, err := s.put(sl, &r, r.key, r.flags, r.exp, body, false)
	return n, err
}

// SAdd adds members to the set at key and returns how many were not members yet.
func (s *Store) SAdd(key []byte, members [][]byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindSet, true)
	if err != nil {
		return 0, err
	}
	added, err := s.setAdd(sl, key, r, ok, members, 0, true)
	if err != nil {
		return 0, err
	}
	if added > 0 {
		s.journalMembers(sl, opSetAdd, key, members)
	}
	return added, nil
}

// SRem removes members from the set at key and returns how many were members; an emptied
// set is deleted.
func (s *Store) SRem(key []byte, members [][]byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindSet, true)
	if !ok {
		return 0, err
	}
	n, err := s.setRem(sl, r, members)
	if n > 0 {
		s.journalMembers(sl, opSetRem, key, members)
	}
	return n, err
}

// SMembers returns copies of the members of the set at key.
func (s *Store) SMembers(key []byte) ([][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindSet, false)
	if !ok {
		return nil, err
	}
	return s.setCopy(sl, &r), nil
}

// SMIsMember reports, for each of members, whether it is a member of the set at key.
func (s *Store) SMIsMember(key []byte, members [][]byte) ([]bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindSet, false)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(members))
	if ok {
		for i, m := range members {
			out[i] = s.setHas(sl, &r, m)
		}
	}
	return out, nil
}

// SIsMember reports whether m is a member of the set at key.
func (s *Store) SIsMember(key, m []byte) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindSet, false)
	if !ok {
		return false, err
	}
	return s.setHas(sl, &r, m), nil
}

// SCard is the number of members of the set at key.
func (s *Store) SCard(key []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindSet, false)
	if !ok {
		return 0, err
	}
	return int64(s.setLen(sl, &r)), nil
}

// SPop removes up to count random members from the set at key and returns them; ok is
// false when the key does not exist. The removal is journaled as the members removed.
func (s *Store) SPop(key []byte, count int64) (out [][]byte, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindSet, true)
	if !ok || count <= 0 {
		return nil, ok, err
	}
	n := s.setLen(sl, &r)
	if count >= int64(n) {
		out = s.setCopy(sl, &r)
		s.remove(sl, &r)
		s.journalKey(sl, key)
		return out, true, nil
	}
	if r.table() {
		// One random entry at a time, each removed as it is taken.
		t := sl.tables[handleOf(r.body)]
		for range count {
			pos, ref := t.Random(rand.IntN)
			out = append(out, cloneBytes(slab.KeyOf(s.arena.Bytes(ref))))
			t.Delete(s.arena, pos)
			s.arena.Free(ref)
		}
	} else {
		all := s.setCopy(sl, &r)
		rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		out = all[:count]
		if _, err := s.setRem(sl, r, out); err != nil {
			return nil, true, err
		}
	}
	s.journalMembers(sl, opSetRem, key, out)
	return out, true, nil
}

// SRandMember returns random members of the set at key as SRANDMEMBER with a count does:
// count > 0, that many distinct members (at most the whole set); count < 0, -count members
// drawn independently, repeats allowed.
func (s *Store) SRandMember(key []byte, count int64) ([][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindSet, false)
	if !ok || count == 0 {
		return nil, err
	}
	n := int64(s.setLen(sl, &r))
	switch {
	case count < 0:
		out := make([][]byte, 0, min(-count, 1<<20))
		for range -count {
			out = append(out, cloneBytes(s.setRandom(sl, &r)))
		}
		return out, nil
	case count >= n:
		return s.setCopy(sl, &r), nil
	case !r.table() || count*3 > n:
		// A large share: a partial shuffle of the whole set.
		all := s.setCopy(sl, &r)
		for i := range count {
			j := i + rand.Int64N(n-i)
			all[i], all[j] = all[j], all[i]
		}
		return all[:count], nil
	}
	// A small share of a table: random picks, repeats skipped.
	seen := make(map[string]struct{}, count)
	out := make([][]byte, 0, count)
	for int64(len(out)) < count {
		m := s.setRandom(sl, &r)
		if _, dup := seen[string(m)]; dup {
			continue
		}
		seen[string(m)] = struct{}{}
		out = append(out, cloneBytes(m))
	}
	return out, nil
}

// SMove moves member from the set at src to the set at dst and reports whether it was a
// member of src. src and dst must share one slot, as the server checks.
func (s *Store) SMove(src, dst, member []byte) (bool, error) {
	sl := s.slotOf(src)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.lookupW(sl, src)
	d, dok := s.lookupW(sl, dst)
	if ok {
		// Collecting dst may have moved src's entry: it is looked up again.
		r, ok = s.lookupW(sl, src)
	}
	switch {
	case !ok:
		return false, nil
	case r.kind() != KindSet || (dok && d.kind() != KindSet):
		return false, ErrWrongType
	case bytes.Equal(src, dst):
		return s.setHas(sl, &r, member), nil
	case !s.setHas(sl, &r, member):
		return false, nil
	}
	if err := s.room(recordLen(member, 0, 0)); err != nil {
		return false, err
	}
	members := [][]byte{member}
	if _, err := s.setRem(sl, r, members); err != nil {
		return false, err
	}
	s.journalMembers(sl, opSetRem, src, members)
	// Removing from src may have moved dst's entry.
	d, dok = s.lookupW(sl, dst)
	added, err := s.setAdd(sl, dst, d, dok, members, 0, false)
	if err != nil {
		return false, err
	}
	if added > 0 {
		s.journalMembers(sl, opSetAdd, dst, members)
	}
	return true, nil
}

// SetOp is a set algebra operation.
type SetOp uint8

// The set operations of SINTER, SUNION and SDIFF.
const (
	SetInter SetOp = iota
	SetUnion
	SetDiff
)

// setAlgebra computes op over the sets at keys (a missing key is an empty set) and returns
// copies of the result's members, stopping at limit members (0: no limit). Any key of
// another type fails it with ErrWrongType, as in Redis 7. The slot is locked.
func (s *Store) setAlgebra(sl *slot, op SetOp, keys [][]byte, limit int, write bool) ([][]byte, error) {
	sets := make([]*record, len(keys))
	for i, k := range keys {
		var r record
		var ok bool
		var err error
		if write {
			r, ok, err = s.typed(sl, k, KindSet, true)
		} else {
			r, ok, err = s.typed(sl, k, KindSet, false)
		}
		if err != nil {
			return nil, err
		}
		if ok {
			sets[i] = &r
		}
	}
	if write {
		// Collecting an expired key may have moved the entries found before it.
		for i, k := range keys {
			if sets[i] != nil {
				r, _ := s.find(sl, k)
				sets[i] = &r
			}
		}
	}
	full := func(out [][]byte) bool { return limit > 0 && len(out) >= limit }
	var out [][]byte
	switch op {
	case SetInter:
		for _, r := range sets {
			if r == nil {
				return nil, nil
			}
		}
		// The smallest set is walked, each member checked against the others.
		slices.SortStableFunc(sets, func(a, b *record) int { return cmp.Compare(s.setLen(sl, a), s.setLen(sl, b)) })
		s.setEach(sl, sets[0], func(m []byte) {
			if full(out) {
				return
			}
			for _, r := range sets[1:] {
				if !s.setHas(sl, r, m) {
					return
				}
			}
			out = append(out, cloneBytes(m))
		})
	case SetUnion:
		seen := map[string]struct{}{}
		for _, r := range sets {
			if r == nil {
				continue
			}
			s.setEach(sl, r, func(m []byte) {
				if _, dup := seen[string(m)]; !dup {
					seen[string(m)] = struct{}{}
					out = append(out, cloneBytes(m))
				}
			})
		}
	case SetDiff:
		if sets[0] == nil {
			return nil, nil
		}
		s.setEach(sl, sets[0], func(m []byte) {
			for _, r := range sets[1:] {
				if r != nil && s.setHas(sl, r, m) {
					return
				}
			}
			out = append(out, cloneBytes(m))
		})
	}
	return out, nil
}

// SetAlgebra returns the members of the intersection, union or difference of the sets at
// keys, which must share one slot, as the server checks.
func (s *Store) SetAlgebra(op SetOp, keys [][]byte) ([][]byte, error) {
	sl := s.slotOf(keys[0])
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	return s.setAlgebra(sl, op, keys, 0, false)
}

// SInterCard is the size of the intersection of the sets at keys, counting stops at limit
// (0: no limit).
func (s *Store) SInterCard(keys [][]byte, limit int) (int64, error) {
	sl := s.slotOf(keys[0])
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	out, err := s.setAlgebra(sl, SetInter, keys, limit, false)
	return int64(len(out)), err
}

// SetAlgebraStore stores the result of op over the sets at keys as the set at dst,
// replacing whatever dst held (deleting it for an empty result), and returns its size. All
// keys share one slot. Past maxmemory it fails with ErrOOM and changes nothing.
func (s *Store) SetAlgebraStore(op SetOp, dst []byte, keys [][]byte) (int64, error) {
	sl := s.slotOf(dst)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	out, err := s.setAlgebra(sl, op, keys, 0, true)
	if err != nil {
		return 0, err
	}
	if len(out) > 0 {
		if err := s.room(membersLen(out) + keyLen(dst, 0, 4)); err != nil {
			return 0, err
		}
	}
	old, had := s.lookupW(sl, dst)
	if had {
		s.remove(sl, &old)
	}
	if len(out) > 0 {
		if _, err := s.setAdd(sl, dst, record{}, false, out, 0, false); err != nil {
			return 0, err
		}
	}
	if had || len(out) > 0 {
		s.journalKey(sl, dst)
	}
	return int64(len(out)), nil
}

// SScan returns members of the set at key from cursor, about count of them, matching
// pattern (nil: all), and the cursor to continue from (0: done). A small set is returned
// whole in one call, as Redis does.
func (s *Store) SScan(key []byte, cursor uint64, pattern []byte, count int) (uint64, [][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindSet, false)
	if !ok {
		return 0, nil, err
	}
	var out [][]byte
	take := func(m []byte) {
		if pattern == nil || Match(pattern, m) {
			out = append(out, cloneBytes(m))
		}
	}
	if !r.table() {
		s.setEach(sl, &r, take)
		return 0, out, nil
	}
	t := sl.tables[handleOf(r.body)]
	seen := 0
	visit := func(ref slab.Ref) {
		seen++
		take(slab.KeyOf(s.arena.Bytes(ref)))
	}
	// As in Redis, count is the members looked at (matching or not), and at most
	// 10×count home positions are visited per call.
	for steps := 10 * count; ; steps-- {
		cursor = t.Scan(s.arena, cursor, visit)
		if cursor == 0 || steps <= 0 || seen >= count {
			return cursor, out, nil
		}
	}
}
