package store

import "encoding/binary"

// DUMP and RESTORE of streams. Dump copies a stream whole into a StreamValue: its live
// entries, the counters Redis 7.0 keeps (last-generated-id, recorded-first-entry-id,
// max-deleted-entry-id, entries-added) and its consumer groups with their consumers and
// pending entries. RestoreValue checks a StreamValue is one a stream can be (what a
// corrupt payload could break) and recreates it through opStream, the operation the
// journal states a whole stream with, so the backup receives it as any other stream.

// StreamValue is a whole stream.
type StreamValue struct {
	// Entries are the live entries, in ID order.
	Entries                 []StreamEntry
	Last, First, MaxDeleted StreamID
	// Added is entries-added: every entry ever added, deleted ones included.
	Added  int64
	Groups []StreamGroup // by name
}

// StreamGroup is a consumer group: its last delivered ID, its entries-read counter (-1
// when unknown) and its consumers, whose pending entries make the group's.
type StreamGroup struct {
	Name      []byte
	Last      StreamID
	Read      int64
	Consumers []StreamConsumer // by name
}

// StreamConsumer is a consumer of a group: its seen-time and active-time (unix ms;
// active -1: never) and the entries pending for it, in ID order.
type StreamConsumer struct {
	Name         []byte
	Seen, Active int64
	Pending      []StreamPending
}

// StreamPending is a pending entry: its ID, its last delivery time (unix ms) and how many
// times it was delivered.
type StreamPending struct {
	ID          StreamID
	Time, Count int64
}

// streamValue returns a copy of the whole stream st.
func (s *Store) streamValue(st *stream) *StreamValue {
	v := &StreamValue{Last: st.last, First: st.first, MaxDeleted: st.maxDeleted, Added: st.added}
	v.Entries = s.streamRange(st, StreamID{}, MaxStreamID, 0, false)
	for _, g := range st.groups {
		sg := StreamGroup{Name: []byte(g.name), Last: g.last, Read: g.read}
		for _, c := range g.consumers {
			sc := StreamConsumer{Name: []byte(c.name), Seen: c.seen, Active: c.active}
			c.pel.Ascend(func(n *nack) bool {
				sc.Pending = append(sc.Pending, StreamPending{ID: n.id, Time: n.time, Count: n.count})
				return true
			})
			sg.Consumers = append(sg.Consumers, sc)
		}
		v.Groups = append(v.Groups, sg)
	}
	return v
}

// check reports whether v is a stream the store can hold: entries with fields and
// values, in strictly ascending IDs none after Last; groups and each group's consumers
// named once, with an entries-read of -1 (unknown) or more; an entry pending for at most
// one consumer of a group.
func (v *StreamValue) check() bool {
	prev, first := StreamID{}, true
	for _, e := range v.Entries {
		if len(e.Fields) == 0 || len(e.Fields)%2 != 0 || (!first && !prev.Less(e.ID)) || e.ID.IsZero() {
			return false
		}
		prev, first = e.ID, false
	}
	if !first && v.Last.Less(prev) {
		return false
	}
	groups := make(map[string]struct{}, len(v.Groups))
	for _, g := range v.Groups {
		if _, dup := groups[string(g.Name)]; dup {
			return false
		}
		groups[string(g.Name)] = struct{}{}
		if g.Read < noEntriesRead {
			return false
		}
		consumers := make(map[string]struct{}, len(g.Consumers))
		pending := map[StreamID]struct{}{}
		for _, c := range g.Consumers {
			if _, dup := consumers[string(c.Name)]; dup {
				return false
			}
			consumers[string(c.Name)] = struct{}{}
			for _, p := range c.Pending {
				if _, dup := pending[p.ID]; dup || p.Count < 0 {
					return false
				}
				pending[p.ID] = struct{}{}
			}
		}
	}
	return true
}

// streamOpOf encodes the stream v, expiring at exp, as opStream (after its key), in
// the layout appendStream writes; it fails with errNoValue when v cannot be a stream.
func streamOpOf(v *StreamValue, exp int64) ([]byte, error) {
	if v == nil || !v.check() {
		return nil, errNoValue
	}
	b := binary.AppendVarint([]byte{opStream}, exp)
	b = appendID(b, v.Last)
	b = appendID(b, v.First)
	b = appendID(b, v.MaxDeleted)
	b = binary.AppendVarint(b, v.Added)
	b = binary.AppendUvarint(b, uint64(len(v.Entries)))
	for _, e := range v.Entries {
		b = appendID(b, e.ID)
		b = binary.AppendUvarint(b, uint64(len(e.Fields)/2))
		for _, f := range e.Fields {
			b = appendBytes(b, f)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(v.Groups)))
	for _, g := range v.Groups {
		b = appendBytes(b, g.Name)
		b = appendID(b, g.Last)
		b = binary.AppendVarint(b, g.Read)
		b = binary.AppendUvarint(b, uint64(len(g.Consumers)))
		for _, c := range g.Consumers {
			b = appendBytes(b, c.Name)
			b = binary.AppendVarint(b, c.Seen)
			b = binary.AppendVarint(b, c.Active)
			b = binary.AppendUvarint(b, uint64(len(c.Pending)))
			for _, p := range c.Pending {
				b = appendID(b, p.ID)
				b = binary.AppendVarint(b, p.Time)
				b = binary.AppendVarint(b, p.Count)
			}
		}
	}
	return b, nil
}
