package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// A stream is laid out as Redis 7.0 lays it out: its entries in nodes (Redis's listpacks)
// kept in ID order (Redis's radix tree), each node holding up to streamNodeEntries entries
// and about streamNodeBytes bytes. A node is a chunk in the arena:
//
//	master field count  uvarint, then the master fields (uvarint length, bytes)
//	entries             flags (1 byte: streamDeleted, streamSameFields),
//	                    ms delta to the node's master ID (uvarint),
//	                    seq delta to the master ID (zigzag varint),
//	                    without streamSameFields: field count (uvarint) and fields and
//	                    values alternating; with it: the values of the master fields
//
// The master ID is the node's first entry's ID and the master fields its fields, so an
// entry that has the same fields as the first one of its node stores only its values. A
// deleted entry (XDEL, exact trimming) is flagged and skipped; a node whose entries are all
// deleted is freed. An entry's fields and values are items: a string that is an integer
// as Redis writes it (no sign but '-', no leading zero, within int64) is stored as the
// integer, as a listpack stores it: a uvarint header, 2×len for a string of len bytes
// that follow, 2×zigzag(n)+1 for the integer n (123456: 3 bytes, not 7) when that fits
// in 64 bits (|n| below 2^62; a larger one stays a string).
//
// The key's record body is an 8-byte handle to the stream's Go part: the nodes' IDs and
// references (an ordered slice, searched by binary search), the counters Redis keeps, and
// the consumer groups with their pending entries lists (B-trees by ID), whose bytes are
// counted in the store's heap bytes.
const (
	streamNodeEntries = 100  // stream-node-max-entries
	streamNodeBytes   = 4096 // stream-node-max-bytes
	streamDeleted     = 1
	streamSameFields  = 2
	// snodeHeap is what a node costs on the Go heap (its entry in the node slice, with
	// the slice's growth slack); streamHeap what a stream costs besides its nodes.
	snodeHeap  = 64
	streamHeap = 160
)

// StreamID is a stream entry's ID: milliseconds and a sequence number.
type StreamID struct{ Ms, Seq uint64 }

// MaxStreamID is the largest ID, "+".
var MaxStreamID = StreamID{math.MaxUint64, math.MaxUint64}

// Cmp is -1, 0 or 1 as a is before, equal to or after b.
func (a StreamID) Cmp(b StreamID) int {
	switch {
	case a.Ms < b.Ms:
		return -1
	case a.Ms > b.Ms:
		return 1
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	}
	return 0
}

// Less reports whether a is before b.
func (a StreamID) Less(b StreamID) bool { return a.Cmp(b) < 0 }

// IsZero reports whether a is 0-0.
func (a StreamID) IsZero() bool { return a.Ms == 0 && a.Seq == 0 }

// String is the ID as Redis writes it, ms-seq.
func (a StreamID) String() string { return string(a.Append(nil)) }

// Append appends the ID as Redis writes it.
func (a StreamID) Append(b []byte) []byte {
	b = strconv.AppendUint(b, a.Ms, 10)
	b = append(b, '-')
	return strconv.AppendUint(b, a.Seq, 10)
}

// Incr is the next ID; ok is false past the last one.
func (a StreamID) Incr() (StreamID, bool) {
	switch {
	case a.Seq < math.MaxUint64:
		return StreamID{a.Ms, a.Seq + 1}, true
	case a.Ms < math.MaxUint64:
		return StreamID{a.Ms + 1, 0}, true
	}
	return a, false
}

// Decr is the previous ID; ok is false before 0-0.
func (a StreamID) Decr() (StreamID, bool) {
	switch {
	case a.Seq > 0:
		return StreamID{a.Ms, a.Seq - 1}, true
	case a.Ms > 0:
		return StreamID{a.Ms - 1, math.MaxUint64}, true
	}
	return a, false
}

// StreamEntry is an entry: its ID and its fields and values, alternating.
type StreamEntry struct {
	ID     StreamID
	Fields [][]byte
}

// Errors of the stream commands, in Redis's words.
var (
	ErrStreamIDSmall    = replyError("ERR The ID specified in XADD is equal or smaller than the target stream top item")
	ErrStreamIDZero     = replyError("ERR The ID specified in XADD must be greater than 0-0")
	ErrStreamExhausted  = replyError("ERR The stream has exhausted the last possible ID, unable to add more items")
	ErrStreamKeyMissing = replyError("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")
	ErrBusyGroup        = replyError("BUSYGROUP Consumer Group name already exists")
	ErrSetIDSmall       = replyError("ERR The ID specified in XSETID is smaller than the target stream top item")
	ErrSetIDAdded       = replyError("ERR The entries_added specified in XSETID is smaller than the target stream length")
)

// snode is one node of a stream: its first (master) and last IDs, deleted entries
// included, where its chunk is, and its counts.
type snode struct {
	master, last StreamID
	ref          slab.Ref
	live, total  int32
	used         int32 // bytes of the chunk in use
}

// stream is a stream's Go part; the slot's lock guards it.
type stream struct {
	nodes      []snode
	length     int64
	last       StreamID // last-generated-id
	first      StreamID // recorded-first-entry-id
	maxDeleted StreamID
	added      int64 // entries-added
	groups     []*group
	heap       int64 // the bytes counted in Store.heap for this stream
}

// streamReg finds streams by the handle their record holds.
type streamReg struct {
	m    sync.Map // uint64 -> *stream
	next atomic.Uint64
}

// streamOf returns the stream of record r (a stream's).
func (s *Store) streamOf(r *record) *stream {
	v, _ := s.streams.m.Load(binary.LittleEndian.Uint64(r.body))
	return v.(*stream)
}

// newStream creates an empty stream record at key.
func (s *Store) newStream(sl *slot, key []byte, exp int64) (*stream, error) {
	h := s.streams.next.Add(1)
	var body [8]byte
	binary.LittleEndian.PutUint64(body[:], h)
	if _, err := s.put(sl, nil, key, byte(KindStream), exp, body[:], false); err != nil {
		return nil, err
	}
	st := &stream{}
	s.streams.m.Store(h, st)
	st.account(s, streamHeap)
	return st, nil
}

// account adds n bytes to what the stream holds on the Go heap.
func (st *stream) account(s *Store, n int64) {
	st.heap += n
	s.heap.Add(n)
}

// freeStream frees the nodes and the Go part of the stream whose record body is body.
func (s *Store) freeStream(body []byte) {
	h := binary.LittleEndian.Uint64(body)
	v, ok := s.streams.m.LoadAndDelete(h)
	if !ok {
		return
	}
	st := v.(*stream)
	for _, n := range st.nodes {
		s.arena.Free(n.ref)
	}
	s.heap.Add(-st.heap)
}

// streamFor returns the live stream at key for writing (nil when absent) with its record.
func (s *Store) streamFor(sl *slot, key []byte, write bool) (*stream, record, error) {
	r, ok, err := s.typed(sl, key, KindStream, write)
	if !ok {
		return nil, r, err
	}
	return s.streamOf(&r), r, nil
}

// fieldsLen is the bytes fields and values take encoded.
func fieldsLen(fv [][]byte) int {
	n := 0
	for _, f := range fv {
		n += entryLen(f)
	}
	return n
}

// masterFields decodes the master fields of node chunk c and returns them (aliasing c)
// with the offset of the first entry.
func masterFields(c []byte, dst [][]byte) ([][]byte, int) {
	n, w := binary.Uvarint(c)
	off := w
	for range n {
		f, rest := readBytes(c[off:])
		dst = append(dst, f)
		off = len(c) - len(rest)
	}
	return dst, off
}

// masterSkip is the number of master fields of node chunk c and the offset of its first
// entry.
func masterSkip(c []byte) (int, int) {
	n, off := binary.Uvarint(c)
	for range n {
		l, w := binary.Uvarint(c[off:])
		off += w + int(l)
	}
	return int(n), off
}

// sameFields reports whether the fields of fv are the master fields.
func sameFields(master, fv [][]byte) bool {
	if len(master)*2 != len(fv) {
		return false
	}
	for i, f := range master {
		if !bytes.Equal(f, fv[2*i]) {
			return false
		}
	}
	return true
}

// streamInt parses x as an integer when it is one as Redis writes it (strconv's form of
// an int64: its digits, '-' before a negative one, no leading zero).
func streamInt(x []byte) (int64, bool) {
	d := x
	neg := len(d) > 0 && d[0] == '-'
	if neg {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 19 || d[0] == '0' && (len(d) > 1 || neg) {
		return 0, false
	}
	var u uint64
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow a uint64
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), true
	case neg && u <= 1<<63:
		return int64(-u), true // -u wraps to the negative int64, MinInt64 included
	}
	return 0, false
}

// appendItem appends x as an entry's item: an integer's header, or a string's header and
// bytes.
func appendItem(b, x []byte) []byte {
	if n, ok := streamInt(x); ok && n >= -1<<62 && n < 1<<62 { // its zigzag shifted left fits
		return binary.AppendUvarint(b, uint64(n<<1^n>>63)<<1|1)
	}
	b = binary.AppendUvarint(b, uint64(len(x))<<1)
	return append(b, x...)
}

// readItem decodes the item at the start of b: a string aliases b, an integer's digits
// are appended to num. rest is what follows the item.
func readItem(b, num []byte) (x, nnum, rest []byte) {
	h, w := binary.Uvarint(b)
	if h&1 == 0 {
		end := w + int(h>>1)
		return b[w:end:end], num, b[end:]
	}
	z := h >> 1
	at := len(num)
	num = strconv.AppendInt(num, int64(z>>1)^-int64(z&1), 10) // zigzag decoding
	return num[at:len(num):len(num)], num, b[w:]
}

// appendStreamEntry encodes an entry against the node's master ID and fields.
func appendStreamEntry(b []byte, master StreamID, mfields [][]byte, id StreamID, fv [][]byte) []byte {
	same := sameFields(mfields, fv)
	flags := byte(0)
	if same {
		flags = streamSameFields
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, id.Ms-master.Ms)
	b = binary.AppendVarint(b, int64(id.Seq-master.Seq))
	if same {
		for i := 1; i < len(fv); i += 2 {
			b = appendItem(b, fv[i])
		}
		return b
	}
	b = binary.AppendUvarint(b, uint64(len(fv)/2))
	for _, f := range fv {
		b = appendItem(b, f)
	}
	return b
}

// entryAt decodes the entry at off of node chunk c (whose master is master, master
// fields mf), appending its fields and values to fv (aliasing c, and num for integers);
// next is the offset after it. The integers' digits go to num emptied (a new array when
// it fills up: the digits already decoded stay where they are), so the fields of an entry
// stay valid until the next call with the same num.
func entryAt(c []byte, off int, master StreamID, mf, fv [][]byte, num []byte) (flags byte, id StreamID, out [][]byte, nnum []byte, next int) {
	flags, id, off = entryID(c, off, master)
	b := c[off:]
	var x []byte
	num = num[:0]
	if flags&streamSameFields != 0 {
		for _, f := range mf {
			x, num, b = readItem(b, num)
			fv = append(fv, f, x)
		}
	} else {
		n, w := binary.Uvarint(b)
		b = b[w:]
		for range 2 * n {
			x, num, b = readItem(b, num)
			fv = append(fv, x)
		}
	}
	return flags, id, fv, num, len(c) - len(b)
}

// entryID decodes the flags and ID of the entry at off of node chunk c whose master is
// master; off is then the offset of its items.
func entryID(c []byte, off int, master StreamID) (flags byte, id StreamID, next int) {
	flags = c[off]
	off++
	ms, w := binary.Uvarint(c[off:])
	off += w
	seq, w := binary.Varint(c[off:])
	off += w
	return flags, StreamID{master.Ms + ms, master.Seq + uint64(seq)}, off
}

// entryHead decodes the flags and ID of the entry at off of node chunk c (whose master
// is master, with nmf master fields) and skips its items; next is the offset after it.
func entryHead(c []byte, off int, master StreamID, nmf int) (flags byte, id StreamID, next int) {
	flags, id, off = entryID(c, off, master)
	items := nmf
	if flags&streamSameFields == 0 {
		n, w := binary.Uvarint(c[off:])
		off += w
		items = 2 * int(n)
	}
	for range items {
		h, w := binary.Uvarint(c[off:])
		off += w
		if h&1 == 0 {
			off += int(h >> 1)
		}
	}
	return flags, id, off
}

// nodeBytes is the part of a node's chunk in use.
func (s *Store) nodeBytes(n *snode) []byte { return s.arena.Bytes(n.ref)[:n.used] }

// streamAppend adds an entry with id (after the last one) to st; the caller has checked
// the room and the ID.
//
// The master fields and the encoded entry go to buffers on the stack, so a typical XADD
// to an existing node allocates nothing on the Go heap.
func (s *Store) streamAppend(st *stream, id StreamID, fv [][]byte) error {
	var mfBuf [16][]byte
	var encBuf [256]byte
	mf := mfBuf[:0]
	if k := len(st.nodes); k > 0 {
		n := &st.nodes[k-1]
		c := s.arena.Bytes(n.ref)
		mf, _ = masterFields(c[:n.used], mf)
		enc := appendStreamEntry(encBuf[:0], n.master, mf, id, fv)
		if int(n.used)+len(enc) < streamNodeBytes && n.total < streamNodeEntries {
			if int(n.used)+len(enc) > len(c) {
				want := max(int(n.used)+len(enc), len(c)+len(c)/4)
				ref, nc, err := s.arena.Alloc(want)
				if err != nil {
					return fmt.Errorf("%w: %w", ErrOOM, err)
				}
				copy(nc, c[:n.used])
				s.arena.Free(n.ref)
				n.ref, c = ref, nc
			}
			copy(c[n.used:], enc)
			n.used += int32(len(enc))
			n.live++
			n.total++
			n.last = id
			s.streamAdded(st, id)
			return nil
		}
		s.shrinkNode(n)
	}
	// A new node, its master the new entry.
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(fv)/2))
	mf = mf[:0]
	for i := 0; i < len(fv); i += 2 {
		b = appendBytes(b, fv[i])
		mf = append(mf, fv[i])
	}
	b = appendStreamEntry(b, id, mf, id, fv)
	ref, c, err := s.arena.Alloc(max(len(b), 64))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOOM, err)
	}
	copy(c, b)
	st.nodes = append(st.nodes, snode{master: id, last: id, ref: ref, live: 1, total: 1, used: int32(len(b))})
	st.account(s, snodeHeap)
	s.streamAdded(st, id)
	return nil
}

func (s *Store) streamAdded(st *stream, id StreamID) {
	if st.length == 0 {
		st.first = id
	}
	st.length++
	st.last = id
	st.added++
}

// shrinkNode moves a node that takes no more entries to a chunk of its size.
func (s *Store) shrinkNode(n *snode) {
	c := s.arena.Bytes(n.ref)
	if slab.ChunkSize(int(n.used)) >= len(c) {
		return
	}
	ref, nc, err := s.arena.Alloc(int(n.used))
	if err != nil {
		return
	}
	copy(nc, c[:n.used])
	s.arena.Free(n.ref)
	n.ref = ref
}

// streamNextID is the ID XADD * generates: now, or the last ID's next when the clock
// has not passed it.
func streamNextID(last StreamID, now int64) (StreamID, bool) {
	if uint64(now) > last.Ms {
		return StreamID{Ms: uint64(now)}, true
	}
	return last.Incr()
}

// nodeAt is the index of the first node whose last ID is at or after id.
func (st *stream) nodeAt(id StreamID) int {
	return sort.Search(len(st.nodes), func(i int) bool { return !st.nodes[i].last.Less(id) })
}

// each calls fn with the live entries from start to end (inclusive), in order (rev:
// from end down), their fields aliasing the arena and a scratch buffer, valid during the
// call, until fn returns false.
func (s *Store) streamEach(st *stream, start, end StreamID, rev bool, fn func(id StreamID, fv [][]byte) bool) {
	if end.Less(start) {
		return
	}
	var mf, fv [][]byte
	var num []byte
	if !rev {
		for i := st.nodeAt(start); i < len(st.nodes); i++ {
			n := &st.nodes[i]
			if end.Less(n.master) {
				return
			}
			c := s.nodeBytes(n)
			var off int
			mf, off = masterFields(c, mf[:0])
			for off < len(c) {
				flags, id, next := entryHead(c, off, n.master, len(mf))
				if flags&streamDeleted != 0 || id.Less(start) {
					off = next
					continue
				}
				if end.Less(id) {
					return
				}
				_, _, fv, num, off = entryAt(c, off, n.master, mf, fv[:0], num)
				if !fn(id, fv) {
					return
				}
			}
		}
		return
	}
	i := sort.Search(len(st.nodes), func(i int) bool { return end.Less(st.nodes[i].master) }) - 1
	var offs []int
	for ; i >= 0; i-- {
		n := &st.nodes[i]
		if n.last.Less(start) {
			return
		}
		c := s.nodeBytes(n)
		var off int
		mf, off = masterFields(c, mf[:0])
		offs = offs[:0]
		for off < len(c) {
			offs = append(offs, off)
			_, _, off = entryHead(c, off, n.master, len(mf))
		}
		for j := len(offs) - 1; j >= 0; j-- {
			flags, id, _ := entryHead(c, offs[j], n.master, len(mf))
			if flags&streamDeleted != 0 || end.Less(id) {
				continue
			}
			if id.Less(start) {
				return
			}
			_, _, fv, num, _ = entryAt(c, offs[j], n.master, mf, fv[:0], num)
			if !fn(id, fv) {
				return
			}
		}
	}
}

// streamRange returns copies of up to count entries (0: all) from start to end. The
// copies share one byte array and one array of fields, so a read of many entries makes
// a handful of allocations, not one per field and value.
func (s *Store) streamRange(st *stream, start, end StreamID, count int64, rev bool) []StreamEntry {
	var out []StreamEntry
	var buf []byte
	var ends []int // the end in buf of every field and value, entry after entry
	var nfields []int
	if count > 0 {
		c := min(count, 128)
		out, ends, nfields = make([]StreamEntry, 0, c), make([]int, 0, 4*c), make([]int, 0, c)
	}
	s.streamEach(st, start, end, rev, func(id StreamID, fv [][]byte) bool {
		out = append(out, StreamEntry{ID: id})
		if size := fieldsSize(fv); cap(buf)-len(buf) < size {
			// room for this entry and, sized like it, the ones count still asks for (16 at most)
			more := int64(16)
			if count > 0 {
				more = min(count-int64(len(out))+1, more)
			}
			nb := make([]byte, len(buf), max(2*cap(buf), len(buf)+size*int(more)))
			copy(nb, buf)
			buf = nb
		}
		for _, f := range fv {
			buf = append(buf, f...)
			ends = append(ends, len(buf))
		}
		nfields = append(nfields, len(fv))
		return count <= 0 || int64(len(out)) < count
	})
	fields := make([][]byte, len(ends))
	prev := 0
	for i, e := range ends {
		fields[i] = buf[prev:e:e]
		prev = e
	}
	for i, n := range nfields {
		out[i].Fields, fields = fields[:n:n], fields[n:]
	}
	return out
}

// fieldsSize is the bytes of fields and values fv.
func fieldsSize(fv [][]byte) int {
	n := 0
	for _, f := range fv {
		n += len(f)
	}
	return n
}

// streamGet returns a copy of the entry id; ok is false when there is none.
func (s *Store) streamGet(st *stream, id StreamID) (StreamEntry, bool) {
	es := s.streamRange(st, id, id, 1, false)
	if len(es) == 0 {
		return StreamEntry{}, false
	}
	return es[0], true
}

// streamHas reports whether the entry id exists.
func (s *Store) streamHas(st *stream, id StreamID) bool {
	found := false
	s.streamEach(st, id, id, false, func(StreamID, [][]byte) bool {
		found = true
		return false
	})
	return found
}

// streamDelete marks the entry id deleted, freeing its node when it was the node's last
// live one; it reports whether there was such an entry.
func (s *Store) streamDelete(st *stream, id StreamID) bool {
	i := st.nodeAt(id)
	if i >= len(st.nodes) || id.Less(st.nodes[i].master) {
		return false
	}
	n := &st.nodes[i]
	c := s.nodeBytes(n)
	nmf, off := masterSkip(c)
	for off < len(c) {
		at := off
		var flags byte
		var eid StreamID
		flags, eid, off = entryHead(c, off, n.master, nmf)
		if eid == id {
			if flags&streamDeleted != 0 {
				return false
			}
			c[at] |= streamDeleted
			n.live--
			st.length--
			if n.live == 0 {
				s.dropNode(st, i)
			}
			return true
		}
		if id.Less(eid) {
			return false
		}
	}
	return false
}

// dropNode frees node i.
func (s *Store) dropNode(st *stream, i int) {
	s.arena.Free(st.nodes[i].ref)
	st.nodes = append(st.nodes[:i], st.nodes[i+1:]...)
	st.account(s, -snodeHeap)
}

// firstLive is the ID of the first live entry, 0-0 when there is none.
func (s *Store) firstLive(st *stream) StreamID {
	var first StreamID
	s.streamEach(st, StreamID{}, MaxStreamID, false, func(id StreamID, _ [][]byte) bool {
		first = id
		return false
	})
	return first
}

// lastLive is the ID of the last live entry, 0-0 when there is none.
func (s *Store) lastLive(st *stream) StreamID {
	if k := len(st.nodes); k > 0 && st.nodes[k-1].live == st.nodes[k-1].total {
		return st.nodes[k-1].last
	}
	var last StreamID
	s.streamEach(st, StreamID{}, MaxStreamID, true, func(id StreamID, _ [][]byte) bool {
		last = id
		return false
	})
	return last
}

// Trim strategies of XADD and XTRIM.
const (
	TrimNone = iota
	TrimMaxLen
	TrimMinID
)

// XTrimArgs is a MAXLEN|MINID [=|~] threshold [LIMIT count] clause.
type XTrimArgs struct {
	Strategy int
	MaxLen   int64
	MinID    StreamID
	Approx   bool
	Limit    int64 // 0: no limit
}

// streamTrim trims st as Redis's streamTrim does: whole nodes first, then (exact only)
// entries of the first node left, never more than the limit's whole nodes.
func (s *Store) streamTrim(st *stream, a XTrimArgs) int64 {
	var deleted int64
	for len(st.nodes) > 0 {
		if a.Strategy == TrimMaxLen && st.length <= a.MaxLen {
			break
		}
		n := &st.nodes[0]
		entries := int64(n.live)
		if a.Limit > 0 && deleted+entries > a.Limit {
			break
		}
		var whole bool
		if a.Strategy == TrimMaxLen {
			whole = st.length-entries >= a.MaxLen
		} else {
			whole = n.last.Less(a.MinID)
		}
		if whole {
			st.length -= entries
			deleted += entries
			s.dropNode(st, 0)
			continue
		}
		if a.Approx {
			break
		}
		c := s.nodeBytes(n)
		nmf, off := masterSkip(c)
		for off < len(c) {
			at := off
			var flags byte
			var id StreamID
			flags, id, off = entryHead(c, off, n.master, nmf)
			if a.Strategy == TrimMaxLen && st.length <= a.MaxLen || a.Strategy == TrimMinID && !id.Less(a.MinID) {
				break
			}
			if flags&streamDeleted == 0 {
				c[at] |= streamDeleted
				n.live--
				st.length--
				deleted++
			}
		}
		if n.live == 0 {
			s.dropNode(st, 0)
		}
		break
	}
	if deleted > 0 {
		st.first = s.firstLive(st)
	}
	return deleted
}

// trimBelow removes every entry before id (all with all): a trim as replayed.
func (s *Store) trimBelow(st *stream, id StreamID, all bool) {
	if all {
		for len(st.nodes) > 0 {
			st.length -= int64(st.nodes[0].live)
			s.dropNode(st, 0)
		}
		st.first = StreamID{}
		return
	}
	s.streamTrim(st, XTrimArgs{Strategy: TrimMinID, MinID: id})
}

// XAddArgs are XADD's options; ID is used unless Auto (*), with SeqAuto (ms-*) only its
// milliseconds.
type XAddArgs struct {
	ID         StreamID
	Auto       bool
	SeqAuto    bool
	NoMkStream bool
	Trim       XTrimArgs
}

// XAdd adds an entry with the fields and values fv to the stream at key and trims it;
// ok is false when NoMkStream and there is no stream.
func (s *Store) XAdd(key []byte, a XAddArgs, fv [][]byte) (id StreamID, ok bool, err error) {
	if !a.Auto && !a.SeqAuto && a.ID.IsZero() {
		return id, false, ErrStreamIDZero
	}
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, _, err := s.streamFor(sl, key, true)
	if err != nil {
		return id, false, err
	}
	if st == nil && a.NoMkStream {
		return id, false, nil
	}
	var last StreamID
	if st != nil {
		last = st.last
		if last == MaxStreamID {
			return id, false, ErrStreamExhausted
		}
	}
	switch {
	case a.Auto:
		id, _ = streamNextID(last, s.clock())
	case a.SeqAuto:
		id = StreamID{Ms: a.ID.Ms}
		if a.ID.Ms == last.Ms {
			if last.Seq == math.MaxUint64 {
				return id, false, ErrStreamIDSmall
			}
			id.Seq = last.Seq + 1
		} else if a.ID.Ms < last.Ms {
			return id, false, ErrStreamIDSmall
		}
	default:
		id = a.ID
		if !last.Less(id) {
			return id, false, ErrStreamIDSmall
		}
	}
	need := fieldsLen(fv) + 2*uvlen(len(fv)) + 24
	if st == nil {
		need += recordLen(key, 0, 8) + streamHeap
	}
	if err := s.room(need); err != nil {
		return id, false, err
	}
	if st == nil {
		if st, err = s.newStream(sl, key, 0); err != nil {
			return id, false, err
		}
	}
	if err := s.streamAppend(st, id, fv); err != nil {
		return id, false, err
	}
	s.journalXAdd(sl, key, id, fv)
	if a.Trim.Strategy != TrimNone && s.streamTrim(st, a.Trim) > 0 {
		s.journalXTrim(sl, key, st)
	}
	return id, true, nil
}

// XLen is the number of entries of the stream at key.
func (s *Store) XLen(key []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	st, _, err := s.streamFor(sl, key, false)
	if st == nil {
		return 0, err
	}
	return st.length, nil
}

// XRange returns up to count entries (0: all) from start to end, from end down with rev.
func (s *Store) XRange(key []byte, start, end StreamID, count int64, rev bool) ([]StreamEntry, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	st, _, err := s.streamFor(sl, key, false)
	if st == nil {
		return nil, err
	}
	return s.streamRange(st, start, end, count, rev), nil
}

// XDel deletes the entries ids and returns how many there were.
func (s *Store) XDel(key []byte, ids []StreamID) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, _, err := s.streamFor(sl, key, true)
	if st == nil {
		return 0, err
	}
	var done []StreamID
	for _, id := range ids {
		if s.xdelOne(st, id) {
			done = append(done, id)
		}
	}
	if len(done) > 0 {
		s.journalXDel(sl, key, done)
	}
	return int64(len(done)), nil
}

// xdelOne deletes one entry as XDEL does, keeping the first and max-deleted IDs.
func (s *Store) xdelOne(st *stream, id StreamID) bool {
	if !s.streamDelete(st, id) {
		return false
	}
	if st.maxDeleted.Less(id) {
		st.maxDeleted = id
	}
	switch {
	case st.length == 0:
		st.first = StreamID{}
	case id == st.first:
		st.first = s.firstLive(st)
	}
	return true
}

// XTrim trims the stream at key and returns how many entries it removed.
func (s *Store) XTrim(key []byte, a XTrimArgs) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, _, err := s.streamFor(sl, key, true)
	if st == nil {
		return 0, err
	}
	n := s.streamTrim(st, a)
	if n > 0 {
		s.journalXTrim(sl, key, st)
	}
	return n, nil
}

// XSetID sets the last ID of the stream at key, and with added >= 0 its entries-added
// and with a non-zero maxDel its max-deleted-entry-id, as XSETID checks them (the checks
// of the arguments alone are the caller's).
func (s *Store) XSetID(key []byte, id StreamID, added int64, maxDel StreamID) error {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, _, err := s.streamFor(sl, key, true)
	if err != nil {
		return err
	}
	if st == nil {
		return ErrNoSuchKey
	}
	if st.length > 0 {
		if id.Less(s.lastLive(st)) {
			return ErrSetIDSmall
		}
		if added >= 0 && st.length > added {
			return ErrSetIDAdded
		}
	}
	st.last = id
	if added >= 0 {
		st.added = added
	}
	if !maxDel.IsZero() {
		st.maxDeleted = maxDel
	}
	s.journalXMeta(sl, key, st)
	return nil
}

// StreamInfo is what XINFO STREAM reports of a stream.
type StreamInfo struct {
	Length, Nodes, Added  int64
	Last, MaxDeleted      StreamID
	First                 StreamID
	Groups                int
	FirstEntry, LastEntry *StreamEntry
	// Entries (FULL only) are the first entries, up to the count asked for.
	Entries []StreamEntry
	// Full are the groups with their PELs and consumers (FULL only).
	Full []GroupInfo
}

// streamInfo fills a StreamInfo; full asks for up to count entries and PEL items (0:
// all) as XINFO STREAM FULL does.
func (s *Store) streamInfo(st *stream, full bool, count int64) StreamInfo {
	in := StreamInfo{Length: st.length, Nodes: int64(len(st.nodes)), Added: st.added, Last: st.last,
		MaxDeleted: st.maxDeleted, First: st.first, Groups: len(st.groups)}
	if !full {
		if e := s.streamRange(st, StreamID{}, MaxStreamID, 1, false); len(e) > 0 {
			in.FirstEntry = &e[0]
		}
		if e := s.streamRange(st, StreamID{}, MaxStreamID, 1, true); len(e) > 0 {
			in.LastEntry = &e[0]
		}
		return in
	}
	in.Entries = s.streamRange(st, StreamID{}, MaxStreamID, count, false)
	for _, g := range st.groups {
		in.Full = append(in.Full, s.groupInfo(st, g, true, count))
	}
	return in
}

// XInfoStream reports the stream at key; ok is false when there is none.
func (s *Store) XInfoStream(key []byte, full bool, count int64) (StreamInfo, bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	st, _, err := s.streamFor(sl, key, false)
	if st == nil {
		return StreamInfo{}, false, err
	}
	return s.streamInfo(st, full, count), true, nil
}

// XReadResult is what a read of one stream found.
type XReadResult struct {
	Key     []byte
	Entries []StreamEntry
}

// XLastIDs resolves XREAD's "$" for keys: the last ID of each stream (0-0 without one).
// Keys that hold another type fail with ErrWrongType.
func (s *Store) XLastIDs(keys [][]byte) ([]StreamID, error) {
	out := make([]StreamID, len(keys))
	for i, k := range keys {
		sl := s.slotOf(k)
		sl.mu.RLock()
		st, _, err := s.streamFor(sl, k, false)
		if st != nil {
			out[i] = st.last
		}
		sl.mu.RUnlock()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// XRead serves XREAD: for each key, up to count entries (0: all) after ids[i]. It returns
// only the streams that have such entries; an empty result is where XREAD BLOCK would
// block (the hook a blocking read retries when a stream it waits on changes).
func (s *Store) XRead(keys [][]byte, ids []StreamID, count int64) ([]XReadResult, error) {
	var out []XReadResult
	for i, k := range keys {
		sl := s.slotOf(k)
		sl.mu.RLock()
		st, _, err := s.streamFor(sl, k, false)
		if err != nil {
			sl.mu.RUnlock()
			return nil, err
		}
		if st != nil && st.length > 0 && ids[i].Less(s.lastLive(st)) {
			start, _ := ids[i].Incr()
			if es := s.streamRange(st, start, MaxStreamID, count, false); len(es) > 0 {
				out = append(out, XReadResult{Key: cloneBytes(k), Entries: es})
			}
		}
		sl.mu.RUnlock()
	}
	return out, nil
}
