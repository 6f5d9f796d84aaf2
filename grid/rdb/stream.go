package rdb

import (
	"encoding/binary"
	"slices"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// Streams, as Redis 7.0 writes them (RDB_TYPE_STREAM_LISTPACKS_2): the entries in
// listpacks, each keyed by its master ID (16 bytes, big-endian), then the length, the
// last ID, the first ID, the largest deleted ID and entries-added, then the consumer
// groups by name, each with its last delivered ID, its entries-read, its pending entries
// (raw 16-byte IDs, delivery time, delivery count) and its consumers by name, each with
// its seen-time and the raw IDs of its pending entries.
//
// A listpack starts with its master entry (live count, deleted count, the master fields,
// a 0), then each entry: flags, the ms and seq differences to the master ID, the field
// count and fields and values (or, flagged same-fields, only the values of the master
// fields), and the number of listpack elements the entry took (lp-count). The grid
// writes live entries only, split into listpacks where Redis's streamAppendItem splits
// them (stream-node-max-bytes 4096, stream-node-max-entries 100). Reading also takes
// Redis 5 and 6's RDB_TYPE_STREAM_LISTPACKS, whose missing counters are derived as
// Redis 7.0 derives them.
const (
	typeStreamListpacks  = 15
	typeStreamListpacks2 = 19
	streamNodeMaxBytes   = 4096
	streamNodeMaxEntries = 100
	streamDeleted        = 1
	streamSameFields     = 2
	// lpHeader is a listpack's header and terminator; lpSmallInt an element holding an
	// integer of 0 to 127 with its back length, as the master entry's counts are.
	lpHeader   = 7
	lpSmallInt = 2
)

// streamNode is a listpack being built: its master ID and fields, and its elements after
// the master entry's two counts (which are written last, each lpSmallInt bytes).
type streamNode struct {
	master  store.StreamID
	mfields [][]byte
	rest    []byte
	elems   int
	count   int
}

func (n *streamNode) int(v int64) {
	n.rest = appendLPEntry(n.rest, strconv.AppendInt(nil, v, 10))
	n.elems++
}

func (n *streamNode) str(s []byte) {
	n.rest = appendLPEntry(n.rest, s)
	n.elems++
}

// add appends an entry as streamAppendItem does.
func (n *streamNode) add(e store.StreamEntry) {
	same := len(e.Fields)/2 == len(n.mfields)
	for i := 0; same && i < len(n.mfields); i++ {
		same = string(e.Fields[2*i]) == string(n.mfields[i])
	}
	fields := int64(len(e.Fields) / 2)
	if same {
		n.int(streamSameFields)
	} else {
		n.int(0)
	}
	n.int(int64(e.ID.Ms - n.master.Ms))
	n.int(int64(e.ID.Seq - n.master.Seq))
	if !same {
		n.int(fields)
	}
	for i, f := range e.Fields {
		if same && i%2 == 0 {
			continue
		}
		n.str(f)
	}
	lpCount := fields + 3
	if !same {
		lpCount += fields + 1
	}
	n.int(lpCount)
	n.count++
}

// listpack is the node's whole listpack.
func (n *streamNode) listpack() []byte {
	b := make([]byte, 6, lpHeader+2*lpSmallInt+len(n.rest))
	b = appendLPEntry(b, strconv.AppendInt(nil, int64(n.count), 10))
	b = appendLPEntry(b, []byte("0"))
	b = append(b, n.rest...)
	return finishListpack(b, 0, n.elems+2)
}

// streamNodes splits entries into listpacks where Redis's XADD would.
func streamNodes(entries []store.StreamEntry) []*streamNode {
	var nodes []*streamNode
	for _, e := range entries {
		size := 0
		for _, f := range e.Fields {
			size += len(f)
		}
		cur := (*streamNode)(nil)
		if k := len(nodes); k > 0 {
			cur = nodes[k-1]
		}
		if cur == nil || lpHeader+2*lpSmallInt+len(cur.rest)+size >= streamNodeMaxBytes || cur.count >= streamNodeMaxEntries {
			cur = &streamNode{master: e.ID}
			cur.int(int64(len(e.Fields) / 2))
			for i := 0; i < len(e.Fields); i += 2 {
				cur.mfields = append(cur.mfields, e.Fields[i])
				cur.str(e.Fields[i])
			}
			cur.int(0)
			nodes = append(nodes, cur)
		}
		cur.add(e)
	}
	return nodes
}

func rawID(b []byte, id store.StreamID) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(b, id.Ms), id.Seq)
}

func appendIDLens(b []byte, id store.StreamID) []byte {
	return appendLen(appendLen(b, id.Ms), id.Seq)
}

// appendStream appends the stream v as RDB_TYPE_STREAM_LISTPACKS_2.
func appendStream(b []byte, v *store.StreamValue) []byte {
	b = append(b, typeStreamListpacks2)
	nodes := streamNodes(v.Entries)
	b = appendLen(b, uint64(len(nodes)))
	for _, n := range nodes {
		b = appendString(b, rawID(nil, n.master))
		b = appendString(b, n.listpack())
	}
	b = appendLen(b, uint64(len(v.Entries)))
	b = appendIDLens(b, v.Last)
	b = appendIDLens(b, v.First)
	b = appendIDLens(b, v.MaxDeleted)
	b = appendLen(b, uint64(v.Added))
	b = appendLen(b, uint64(len(v.Groups)))
	for _, g := range v.Groups {
		b = appendString(b, g.Name)
		b = appendIDLens(b, g.Last)
		b = appendLen(b, uint64(g.Read))
		var pel []store.StreamPending
		for _, c := range g.Consumers {
			pel = append(pel, c.Pending...)
		}
		slices.SortFunc(pel, func(x, y store.StreamPending) int { return x.ID.Cmp(y.ID) })
		b = appendLen(b, uint64(len(pel)))
		for _, p := range pel {
			b = rawID(b, p.ID)
			b = binary.LittleEndian.AppendUint64(b, uint64(p.Time))
			b = appendLen(b, uint64(p.Count))
		}
		b = appendLen(b, uint64(len(g.Consumers)))
		for _, c := range g.Consumers {
			b = appendString(b, c.Name)
			b = binary.LittleEndian.AppendUint64(b, uint64(c.Seen))
			b = appendLen(b, uint64(len(c.Pending)))
			for _, p := range c.Pending {
				b = rawID(b, p.ID)
			}
		}
	}
	return b
}

// lenID reads an ID written as two RDB lengths.
func (r *reader) lenID() (store.StreamID, error) {
	ms, enc, err := r.length()
	if err != nil || enc {
		return store.StreamID{}, errCorrupt
	}
	seq, enc, err := r.length()
	if err != nil || enc {
		return store.StreamID{}, errCorrupt
	}
	return store.StreamID{Ms: ms, Seq: seq}, nil
}

// plainLen reads an RDB length that is a number, not a string encoding.
func (r *reader) plainLen() (uint64, error) {
	n, enc, err := r.length()
	if err != nil || enc {
		return 0, errCorrupt
	}
	return n, nil
}

// rawStreamID reads a 16-byte big-endian ID.
func (r *reader) rawStreamID() (store.StreamID, error) {
	b, err := r.take(16)
	if err != nil {
		return store.StreamID{}, err
	}
	return store.StreamID{Ms: binary.BigEndian.Uint64(b), Seq: binary.BigEndian.Uint64(b[8:])}, nil
}

// millis reads a millisecond time (8 bytes, little-endian).
func (r *reader) millis() (int64, error) {
	b, err := r.take(8)
	if err != nil {
		return 0, err
	}
	return int64(binary.LittleEndian.Uint64(b)), nil
}

// stream reads the body of a stream of type t (LISTPACKS or LISTPACKS_2).
func (r *reader) stream(t byte) (*store.StreamValue, error) {
	v := &store.StreamValue{}
	nodes, err := r.count()
	if err != nil {
		return nil, err
	}
	for range nodes {
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		if len(key) != 16 {
			return nil, errCorrupt
		}
		master := store.StreamID{Ms: binary.BigEndian.Uint64(key), Seq: binary.BigEndian.Uint64(key[8:])}
		lp, err := r.str()
		if err != nil {
			return nil, err
		}
		elems, err := readListpack(lp)
		if err != nil {
			return nil, err
		}
		if v.Entries, err = streamEntries(v.Entries, master, elems); err != nil {
			return nil, err
		}
	}
	length, err := r.plainLen()
	if err != nil {
		return nil, err
	}
	if length != uint64(len(v.Entries)) {
		return nil, errCorrupt
	}
	if v.Last, err = r.lenID(); err != nil {
		return nil, err
	}
	if t == typeStreamListpacks2 {
		if v.First, err = r.lenID(); err != nil {
			return nil, err
		}
		if v.MaxDeleted, err = r.lenID(); err != nil {
			return nil, err
		}
		added, err := r.plainLen()
		if err != nil {
			return nil, err
		}
		v.Added = int64(added)
	} else {
		// As Redis 7.0 upgrades an older stream: entries-added is the length and the
		// first ID the first entry's (the largest ID when there is none).
		v.Added, v.First = int64(length), store.MaxStreamID
		if len(v.Entries) > 0 {
			v.First = v.Entries[0].ID
		}
	}
	ngroups, err := r.count()
	if err != nil {
		return nil, err
	}
	for range ngroups {
		g, err := r.group(t, v)
		if err != nil {
			return nil, err
		}
		v.Groups = append(v.Groups, g)
	}
	return v, nil
}

// group reads one consumer group of the stream v.
func (r *reader) group(t byte, v *store.StreamValue) (store.StreamGroup, error) {
	var g store.StreamGroup
	var err error
	if g.Name, err = r.str(); err != nil {
		return g, err
	}
	if g.Last, err = r.lenID(); err != nil {
		return g, err
	}
	if t == typeStreamListpacks2 {
		read, err := r.plainLen()
		if err != nil {
			return g, err
		}
		g.Read = int64(read)
	} else {
		g.Read = estimateRead(v, g.Last)
	}
	// The group's pending entries, each to be claimed by exactly one consumer.
	n, err := r.count()
	if err != nil {
		return g, err
	}
	pel := make(map[store.StreamID]*store.StreamPending, n)
	for range n {
		var p store.StreamPending
		if p.ID, err = r.rawStreamID(); err != nil {
			return g, err
		}
		if p.Time, err = r.millis(); err != nil {
			return g, err
		}
		count, err := r.plainLen()
		if err != nil || int64(count) < 0 {
			return g, errCorrupt
		}
		p.Count = int64(count)
		if _, dup := pel[p.ID]; dup {
			return g, errCorrupt
		}
		pel[p.ID] = &p
	}
	nc, err := r.count()
	if err != nil {
		return g, err
	}
	for range nc {
		var c store.StreamConsumer
		if c.Name, err = r.str(); err != nil {
			return g, err
		}
		if c.Seen, err = r.millis(); err != nil {
			return g, err
		}
		// Redis 7.0 keeps no active-time; its seen-time is the best estimate.
		c.Active = c.Seen
		np, err := r.count()
		if err != nil {
			return g, err
		}
		for range np {
			id, err := r.rawStreamID()
			if err != nil {
				return g, err
			}
			p, ok := pel[id]
			if !ok {
				return g, errCorrupt
			}
			c.Pending = append(c.Pending, *p)
			delete(pel, id)
		}
		g.Consumers = append(g.Consumers, c)
	}
	if len(pel) > 0 {
		// A pending entry no consumer owns.
		return g, errCorrupt
	}
	return g, nil
}

// estimateRead is Redis's streamEstimateDistanceFromFirstEverEntry, which gives a group
// of an older stream its entries-read.
func estimateRead(v *store.StreamValue, id store.StreamID) int64 {
	length := int64(len(v.Entries))
	switch {
	case v.Added == 0:
		return 0
	case length == 0 && id.Cmp(v.Last) < 1:
		return v.Added
	}
	switch c := id.Cmp(v.Last); {
	case c == 0:
		return v.Added
	case c > 0:
		return -1
	}
	if v.MaxDeleted.IsZero() || v.MaxDeleted.Less(v.First) {
		switch id.Cmp(v.First) {
		case -1:
			return v.Added - length
		case 0:
			return v.Added - length + 1
		}
	}
	return -1
}

// streamEntries appends the live entries of a stream listpack (its elements) whose
// master ID is master to out, checking the listpack's structure and counts.
func streamEntries(out []store.StreamEntry, master store.StreamID, elems [][]byte) ([]store.StreamEntry, error) {
	i := 0
	next := func() ([]byte, bool) {
		if i >= len(elems) {
			return nil, false
		}
		i++
		return elems[i-1], true
	}
	num := func() (int64, bool) {
		e, ok := next()
		if !ok {
			return 0, false
		}
		v, err := strconv.ParseInt(string(e), 10, 64)
		return v, err == nil
	}
	live, ok1 := num()
	deleted, ok2 := num()
	nf, ok3 := num()
	if !ok1 || !ok2 || !ok3 || nf < 0 || nf > int64(len(elems)) {
		return nil, errCorrupt
	}
	mfields := elems[i : i+int(min(nf, int64(len(elems)-i)))]
	i += len(mfields)
	if zero, ok := num(); !ok || zero != 0 || len(mfields) != int(nf) {
		return nil, errCorrupt
	}
	for i < len(elems) {
		flags, ok1 := num()
		ms, ok2 := num()
		seq, ok3 := num()
		if !ok1 || !ok2 || !ok3 || flags < 0 || flags > streamDeleted|streamSameFields {
			return nil, errCorrupt
		}
		e := store.StreamEntry{ID: store.StreamID{Ms: master.Ms + uint64(ms), Seq: master.Seq + uint64(seq)}}
		fields := nf
		if flags&streamSameFields == 0 {
			var ok bool
			if fields, ok = num(); !ok || fields < 0 || fields > int64(len(elems)) {
				return nil, errCorrupt
			}
		}
		for j := range fields {
			if flags&streamSameFields != 0 {
				e.Fields = append(e.Fields, mfields[j])
			} else {
				f, ok := next()
				if !ok {
					return nil, errCorrupt
				}
				e.Fields = append(e.Fields, f)
			}
			val, ok := next()
			if !ok {
				return nil, errCorrupt
			}
			e.Fields = append(e.Fields, val)
		}
		want := fields + 3
		if flags&streamSameFields == 0 {
			want += fields + 1
		}
		if lpCount, ok := num(); !ok || lpCount != want {
			return nil, errCorrupt
		}
		if flags&streamDeleted != 0 {
			deleted--
			continue
		}
		live--
		out = append(out, e)
	}
	if live != 0 || deleted != 0 {
		return nil, errCorrupt
	}
	return out, nil
}
