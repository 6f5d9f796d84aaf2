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

// scanStep is how many table positions a scan looks at per hold of a slot's lock, and
// scanRestarts how often it starts a slot over (entries moved while it let go) before it
// holds the lock for the rest of the slot: a KEYS with a costly pattern on a slot of
// millions of keys stalls that slot's writers for one step, not for the whole slot.
const (
	scanStep     = 1024
	scanRestarts = 3
)

// appendSlot appends the live keys of slot i that o selects. It lets go of the slot's lock
// every scanStep positions; when entries moved meanwhile it starts the slot over, skipping
// the keys it already took, so a key present throughout is taken exactly once.
func (s *Store) appendSlot(out [][]byte, i int, o ScanOptions) [][]byte {
	sl := &s.slots[i]
	var taken map[string]struct{} // only once a restart needs it
	restarts, base := 0, len(out)
	pos := 0
	sl.mu.RLock()
	moves := sl.keys.Moves()
	for {
		end := pos + scanStep
		if restarts >= scanRestarts {
			end = sl.keys.Cap()
		}
		now := s.clock()
		for ; pos < end && pos < sl.keys.Cap(); pos++ {
			ref := sl.keys.At(pos)
			if ref == 0 {
				continue
			}
			r := decode(s.arena.Bytes(ref))
			if !r.live(now) || (o.Kind != KindNone && r.kind() != o.Kind) || (o.Match != nil && !Match(o.Match, r.key)) {
				continue
			}
			if taken != nil {
				if _, dup := taken[string(r.key)]; dup {
					continue
				}
			}
			out = append(out, cloneBytes(r.key))
			if taken != nil {
				taken[string(r.key)] = struct{}{}
			}
		}
		if pos >= sl.keys.Cap() {
			sl.mu.RUnlock()
			return out
		}
		sl.mu.RUnlock()
		sl.mu.RLock()
		if m := sl.keys.Moves(); m != moves {
			moves, pos = m, 0
			restarts++
			if taken == nil {
				taken = make(map[string]struct{}, len(out)-base)
				for _, k := range out[base:] {
					taken[string(k)] = struct{}{}
				}
			}
		}
	}
}
