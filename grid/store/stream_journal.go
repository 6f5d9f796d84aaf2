package store

import (
	"encoding/binary"
	"fmt"
)

// The journal operations of streams. Each states a result (an entry with its final ID,
// the new first ID after a trim, a group's new position and the deliveries a read made),
// never the whole stream, except opStream, which recreates one (snapshots, slot moves,
// COPY and RENAME).
const (
	opStream      byte = 20 // key, expireAt, meta, n×entry, groups: the key now holds exactly this stream
	opXAdd        byte = 21 // key, id, n, n×(field, value): this entry was added (skipped when not after the last ID)
	opXDel        byte = 22 // key, n, n×id: these entries were deleted (XDEL)
	opXTrim       byte = 23 // key, all, id: the entries before id (all: every entry) were trimmed
	opXMeta       byte = 24 // key, meta: the stream (created empty when absent) has these counters
	opXGroup      byte = 25 // key, group, last, entries-read: the group (created when absent) is at last
	opXGroupDel   byte = 26 // key, group, consumer: the consumer (empty: the group) was deleted
	opXAck        byte = 27 // key, group, n, n×id: these entries are no longer pending
	opXClaim      byte = 28 // key, group, last, entries-read, consumer, seen, active, n×(id, time, count): delivered to the consumer
	streamCodeEnd byte = 29
)

func appendID(b []byte, id StreamID) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(b, id.Ms), id.Seq)
}

func (r *opReader) id() StreamID {
	return StreamID{Ms: r.uvarint(), Seq: r.uvarint()}
}

func appendMeta(b []byte, st *stream) []byte {
	b = appendID(b, st.last)
	b = appendID(b, st.first)
	b = appendID(b, st.maxDeleted)
	return binary.AppendVarint(b, st.added)
}

func (s *Store) journalXAdd(sl *slot, key []byte, id StreamID, fv [][]byte) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = appendBytes(append(b, opXAdd), key)
		b = appendID(b, id)
		b = binary.AppendUvarint(b, uint64(len(fv)/2))
		for _, f := range fv {
			b = appendBytes(b, f)
		}
		return b
	})
}

func (s *Store) journalXDel(sl *slot, key []byte, ids []StreamID) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = appendBytes(append(b, opXDel), key)
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = appendID(b, id)
		}
		return b
	})
}

// journalXTrim journals a trim by the stream's first entry after it.
func (s *Store) journalXTrim(sl *slot, key []byte, st *stream) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = appendBytes(append(b, opXTrim), key)
		if st.length == 0 {
			return appendID(append(b, 1), StreamID{})
		}
		return appendID(append(b, 0), s.firstLive(st))
	})
}

func (s *Store) journalXMeta(sl *slot, key []byte, st *stream) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		return appendMeta(appendBytes(append(b, opXMeta), key), st)
	})
}

func (s *Store) journalXGroup(sl *slot, key []byte, g *group) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = appendBytes(append(b, opXGroup), key)
		b = appendBytes(b, []byte(g.name))
		b = appendID(b, g.last)
		return binary.AppendVarint(b, g.read)
	})
}

func (s *Store) journalXGroupDel(sl *slot, key, name, cname []byte) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = appendBytes(append(b, opXGroupDel), key)
		b = appendBytes(b, name)
		if cname == nil {
			return append(b, 0)
		}
		return appendBytes(append(b, 1), cname)
	})
}

func (s *Store) journalXAck(sl *slot, key, name []byte, ids []StreamID) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = appendBytes(append(b, opXAck), key)
		b = appendBytes(b, name)
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = appendID(b, id)
		}
		return b
	})
}

// journalXClaim journals the group's position, the consumer's times and the entries
// now pending for it.
func (s *Store) journalXClaim(sl *slot, key []byte, g *group, c *consumer, ns []*nack) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = appendBytes(append(b, opXClaim), key)
		b = appendBytes(b, []byte(g.name))
		b = appendID(b, g.last)
		b = binary.AppendVarint(b, g.read)
		b = appendBytes(b, []byte(c.name))
		b = binary.AppendVarint(b, c.seen)
		b = binary.AppendVarint(b, c.active)
		b = binary.AppendUvarint(b, uint64(len(ns)))
		for _, n := range ns {
			b = appendID(b, n.id)
			b = binary.AppendVarint(b, n.time)
			b = binary.AppendVarint(b, n.count)
		}
		return b
	})
}

// appendStream encodes the whole stream (opStream's body after the key and expiry).
func (s *Store) appendStream(b []byte, st *stream) []byte {
	b = appendMeta(b, st)
	b = binary.AppendUvarint(b, uint64(st.length))
	s.streamEach(st, StreamID{}, MaxStreamID, false, func(id StreamID, fv [][]byte) bool {
		b = appendID(b, id)
		b = binary.AppendUvarint(b, uint64(len(fv)/2))
		for _, f := range fv {
			b = appendBytes(b, f)
		}
		return true
	})
	b = binary.AppendUvarint(b, uint64(len(st.groups)))
	for _, g := range st.groups {
		b = appendBytes(b, []byte(g.name))
		b = appendID(b, g.last)
		b = binary.AppendVarint(b, g.read)
		b = binary.AppendUvarint(b, uint64(len(g.consumers)))
		for _, c := range g.consumers {
			b = appendBytes(b, []byte(c.name))
			b = binary.AppendVarint(b, c.seen)
			b = binary.AppendVarint(b, c.active)
			b = binary.AppendUvarint(b, uint64(c.pel.Len()))
			c.pel.Ascend(func(n *nack) bool {
				b = appendID(b, n.id)
				b = binary.AppendVarint(b, n.time)
				b = binary.AppendVarint(b, n.count)
				return true
			})
		}
	}
	return b
}

type metaOp struct {
	last, first, maxDeleted StreamID
	added                   int64
}

func (r *opReader) meta() metaOp {
	return metaOp{last: r.id(), first: r.id(), maxDeleted: r.id(), added: r.varint()}
}

func (m metaOp) set(st *stream) {
	st.last, st.first, st.maxDeleted, st.added = m.last, m.first, m.maxDeleted, m.added
}

type pelOp struct {
	id          StreamID
	time, count int64
}

func (r *opReader) pels() []pelOp {
	n := r.count()
	out := make([]pelOp, 0, n)
	for range n {
		out = append(out, pelOp{id: r.id(), time: r.varint(), count: r.varint()})
	}
	return out
}

type consumerOp struct {
	name         []byte
	seen, active int64
	pel          []pelOp
}

type groupOp struct {
	name      []byte
	last      StreamID
	read      int64
	consumers []consumerOp
}

// streamOp is a decoded opStream.
type streamOp struct {
	meta    metaOp
	entries []StreamEntry
	groups  []groupOp
	size    int
}

func (r *opReader) streamOp() streamOp {
	var so streamOp
	start := len(r.b)
	so.meta = r.meta()
	n := r.count()
	for range n {
		id := r.id()
		so.entries = append(so.entries, StreamEntry{ID: id, Fields: r.list(2)})
	}
	ng := r.count()
	for range ng {
		g := groupOp{name: r.bytes(), last: r.id(), read: r.varint()}
		nc := r.count()
		for range nc {
			g.consumers = append(g.consumers, consumerOp{name: r.bytes(), seen: r.varint(), active: r.varint(), pel: r.pels()})
		}
		so.groups = append(so.groups, g)
	}
	so.size = start - len(r.b)
	return so
}

// applyStream replays opStream: the key now holds exactly this stream.
func (s *Store) applyStream(sl *slot, key []byte, exp int64, so streamOp, limit bool) error {
	if err := s.roomIf(limit, so.size+recordLen(key, exp, 8)+streamHeap); err != nil {
		return err
	}
	st, err := s.newStream(sl, key, exp)
	if err != nil {
		return err
	}
	for _, e := range so.entries {
		if !st.last.Less(e.ID) {
			continue
		}
		if err := s.streamAppend(st, e.ID, e.Fields); err != nil {
			return err
		}
	}
	so.meta.set(st)
	for _, gop := range so.groups {
		g := s.addGroup(st, gop.name, gop.last, gop.read)
		for _, cop := range gop.consumers {
			c, _ := s.addConsumer(st, g, cop.name, cop.seen)
			c.seen, c.active = cop.seen, cop.active
			for _, p := range cop.pel {
				s.deliver(st, g, c, p.id, p.time, p.count)
			}
		}
	}
	return nil
}

// applyStreamOp replays the stream operation code on key (cur, ok: what it holds).
func (s *Store) applyStreamOp(sl *slot, code byte, key []byte, cur record, ok bool, r *opReader, limit bool) error {
	if code == opStream {
		at := r.varint()
		so := r.streamOp()
		if r.err != nil {
			return r.err
		}
		if ok {
			if err := s.roomIf(limit, so.size); err != nil {
				return err
			}
			s.remove(sl, &cur)
		}
		return s.applyStream(sl, key, at, so, limit)
	}
	var st *stream
	if ok && cur.kind() == KindStream {
		st = s.streamOf(&cur)
	}
	// create makes the stream an operation adds to, replacing another kind.
	create := func() error {
		if st != nil {
			return nil
		}
		if ok {
			s.remove(sl, &cur)
		}
		var err error
		st, err = s.newStream(sl, key, 0)
		return err
	}
	switch code {
	case opXAdd:
		id, fv := r.id(), r.list(2)
		if r.err != nil {
			return r.err
		}
		if err := s.roomIf(limit, fieldsLen(fv)+24); err != nil {
			return err
		}
		if err := create(); err != nil {
			return err
		}
		if st.last.Less(id) {
			return s.streamAppend(st, id, fv)
		}
	case opXDel:
		n := r.count()
		ids := make([]StreamID, 0, n)
		for range n {
			ids = append(ids, r.id())
		}
		if r.err != nil || st == nil {
			return r.err
		}
		for _, id := range ids {
			s.xdelOne(st, id)
		}
	case opXTrim:
		all, id := r.uvarint(), r.id()
		if r.err != nil || st == nil {
			return r.err
		}
		s.trimBelow(st, id, all == 1)
	case opXMeta:
		m := r.meta()
		if r.err != nil {
			return r.err
		}
		if err := create(); err != nil {
			return err
		}
		m.set(st)
	case opXGroup:
		name, last, read := r.bytes(), r.id(), r.varint()
		if r.err != nil || st == nil {
			return r.err
		}
		g := st.group(name)
		if g == nil {
			g = s.addGroup(st, name, last, read)
		}
		g.last, g.read = last, read
	case opXGroupDel:
		name, has := r.bytes(), r.uvarint()
		var cname []byte
		if has == 1 {
			cname = r.bytes()
		}
		if r.err != nil || st == nil {
			return r.err
		}
		g := st.group(name)
		switch {
		case g == nil:
		case has == 0:
			s.delGroup(st, g)
		default:
			if c := g.consumer(cname); c != nil {
				s.delConsumer(st, g, c)
			}
		}
	case opXAck:
		name := r.bytes()
		n := r.count()
		ids := make([]StreamID, 0, n)
		for range n {
			ids = append(ids, r.id())
		}
		if r.err != nil || st == nil {
			return r.err
		}
		if g := st.group(name); g != nil {
			for _, id := range ids {
				s.ack(st, g, id)
			}
		}
	case opXClaim:
		name, last, read := r.bytes(), r.id(), r.varint()
		cname, seen, active := r.bytes(), r.varint(), r.varint()
		pel := r.pels()
		if r.err != nil || st == nil {
			return r.err
		}
		g := st.group(name)
		if g == nil {
			return nil
		}
		g.last, g.read = last, read
		c, _ := s.addConsumer(st, g, cname, seen)
		c.seen, c.active = seen, active
		for _, p := range pel {
			s.deliver(st, g, c, p.id, p.time, p.count)
		}
	default:
		return fmt.Errorf("%w: unknown code %d", ErrBadOp, code)
	}
	return nil
}

// appendStreamEntryOp encodes the whole stream record r as opStream.
func (s *Store) appendStreamEntryOp(b, key []byte, r *record) []byte {
	b = appendBytes(append(b, opStream), key)
	b = binary.AppendVarint(b, r.exp)
	return s.appendStream(b, s.streamOf(r))
}
