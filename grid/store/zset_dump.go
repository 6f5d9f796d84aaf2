package store

import (
	"encoding/binary"
	"math"
)

// DUMP and RESTORE of sorted sets: Dump copies the members in (score, member) order,
// RestoreValue recreates the set through opZSet, the operation the journal states a whole
// sorted set with, so the backup receives the value the way it receives any other.

// zsetCopy returns copies of the members of the sorted set record r, ascending.
func (s *Store) zsetCopy(sl *slot, r *record) []ZEntry {
	v := s.zopen(sl, r)
	out := make([]ZEntry, 0, v.len())
	v.each(0, false, func(m []byte, sc float64) bool {
		out = append(out, ZEntry{cloneBytes(m), sc})
		return true
	})
	return out
}

// zsetOp encodes the sorted set ents, expiring at exp, as opZSet (after its key); it
// fails with errNoValue when ents is empty, repeats a member or has a NaN score.
func zsetOp(ents []ZEntry, exp int64) ([]byte, error) {
	if len(ents) == 0 {
		return nil, errNoValue
	}
	seen := make(map[string]struct{}, len(ents))
	for _, e := range ents {
		if math.IsNaN(e.Score) {
			return nil, errNoValue
		}
		if _, dup := seen[string(e.Member)]; dup {
			return nil, errNoValue
		}
		seen[string(e.Member)] = struct{}{}
	}
	return appendZEnts(binary.AppendVarint([]byte{opZSet}, exp), ents), nil
}

// ZSetToSkiplist moves the sorted set at key, when small, to the large encoding, as
// Redis's SORT converts the sorted set it sorts (OBJECT ENCODING then says skiplist).
// The members do not change, so nothing is journaled; when the memory is refused the set
// stays small.
func (s *Store) ZSetToSkiplist(key []byte) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.peek(sl, key)
	if !ok || r.kind() != KindZSet || r.table() {
		return
	}
	if r.spilled() {
		var err error
		if r, err = s.faultIn(sl, r); err != nil {
			return
		}
	}
	ents := s.zsetCopy(sl, &r)
	if s.room(zentsLen(ents)+4*zNodeSize) != nil {
		return
	}
	h := s.newTable(sl)
	tree, err := s.newZTree()
	v := zview{s: s, large: true, tab: sl.tables[h], tree: tree}
	if err == nil {
		err = v.largePut(ents)
	}
	if err == nil {
		var body [zsetLargeBody]byte
		binary.LittleEndian.PutUint32(body[:], h)
		put64(body[4:], uint64(tree.root))
		_, err = s.put(sl, &r, key, byte(KindZSet)|flagTable, r.exp, body[:], false)
	}
	if err != nil {
		if tree.root != 0 {
			tree.free()
		}
		s.dropTable(sl, h)
	}
}
