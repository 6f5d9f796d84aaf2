package store

import "github.com/insightgrid/insight/grid/slots"

// ScanOptions filter SCAN and KEYS.
type ScanOptions struct {
	Match []byte // glob pattern; nil matches every key
	Count int    // keys to aim for per call (a hint, as in Redis)
	Kind  Kind   // KindNone: any type
}

// Scan returns keys starting at cursor and the cursor to continue from (0: done). The
// cursor is a slot number: each call returns whole slots, so a key present for the whole
// iteration is returned exactly once, however the keyspace changes meanwhile.
func (s *Store) Scan(cursor uint64, o ScanOptions) (uint64, [][]byte) {
	count := o.Count
	if count <= 0 {
		count = 10
	}
	var out [][]byte
	i := cursor
	for ; i < slots.Count && len(out) < count; i++ {
		out = s.appendSlot(out, int(i), o)
	}
	if i >= slots.Count {
		i = 0
	}
	return i, out
}

// KeysMatching returns every key matching pattern (KEYS).
func (s *Store) KeysMatching(pattern []byte) [][]byte {
	var out [][]byte
	for i := range s.slots {
		out = s.appendSlot(out, i, ScanOptions{Match: pattern})
	}
	return out
}

// KeysInSlot returns up to count keys of one slot.
func (s *Store) KeysInSlot(slot, count int) [][]byte {
	out := s.appendSlot(nil, slot, ScanOptions{})
	if len(out) > count {
		out = out[:count]
	}
	return out
}

func (s *Store) appendSlot(out [][]byte, i int, o ScanOptions) [][]byte {
	sl := &s.slots[i]
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	s.eachLive(sl, func(r *record) bool {
		if (o.Kind == KindNone || r.kind() == o.Kind) && (o.Match == nil || Match(o.Match, r.key)) {
			out = append(out, cloneBytes(r.key))
		}
		return true
	})
	return out
}
