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
