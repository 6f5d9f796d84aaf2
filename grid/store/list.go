package store

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// A list is a chain of nodes in the arena, Redis's quicklist: each node holds up to
// listNodeMax bytes of elements (list-max-listpack-size -2, 8 KiB), so pushing and popping
// at either end touch one node. The key's record has a fixed 32-byte body, rewritten in
// place:
//
//	head  int64, the absolute index of the first element
//	count int64, the number of elements
//	first Ref of the first node
//	last  Ref of the last node
//
// A node is prev Ref (8 bytes), next Ref (8), its element count (4), the bytes its elements
// use (4) and where they start in the payload (4, then 4 unused), then the payload. Each
// element is its length as a uvarint, its bytes, and its length again written backwards
// (listpack's back-length: the last byte holds the low 7 bits, a set top bit says more
// bytes precede), so the last element is found from the end of the node as the first is
// from its start. Popping at the head advances the start and popping at the tail lowers
// the used bytes: each is O(1), nothing is walked or shifted. Pushing at the head writes
// below the start. A node grown for a push at the head puts its elements at the end of
// the new chunk, for one at the tail at its start; when an end has no room left but the
// chunk has, the elements move once to leave half the free space at each end. So pushes
// move a node's bytes only now and then, where Redis's listpack shifts it on every LPUSH.
//
// A node's chunk grows by doubling up to the limit, so a push reallocates a node only now
// and then; an element larger than the limit gets a node of its own.
//
// Elements have absolute indexes (head, head+1, ...): LPUSH lowers head, RPUSH extends the
// tail. The journal states list changes with them — these elements are now at these
// indexes, the list now spans this range — so replaying an operation over a state that
// already includes it (a snapshot taken while writes go on) converges like the other
// types' operations do.
const (
	listBody    = 32
	listNodeHdr = 32
	listNodeMax = 8 << 10
)

type listHdr struct {
	head, count int64
	first, last slab.Ref
}

func readList(body []byte) listHdr {
	return listHdr{
		head:  int64(binary.LittleEndian.Uint64(body)),
		count: int64(binary.LittleEndian.Uint64(body[8:])),
		first: slab.Ref(binary.LittleEndian.Uint64(body[16:])),
		last:  slab.Ref(binary.LittleEndian.Uint64(body[24:])),
	}
}

func (h *listHdr) encode(body []byte) []byte {
	binary.LittleEndian.PutUint64(body, uint64(h.head))
	binary.LittleEndian.PutUint64(body[8:], uint64(h.count))
	binary.LittleEndian.PutUint64(body[16:], uint64(h.first))
	binary.LittleEndian.PutUint64(body[24:], uint64(h.last))
	return body
}

// node accessors: n is a node's chunk.
func nodePrev(n []byte) slab.Ref { return slab.Ref(binary.LittleEndian.Uint64(n)) }
func nodeNext(n []byte) slab.Ref { return slab.Ref(binary.LittleEndian.Uint64(n[8:])) }
func nodeCount(n []byte) int     { return int(binary.LittleEndian.Uint32(n[16:])) }
func nodeUsed(n []byte) int      { return int(binary.LittleEndian.Uint32(n[20:])) }
func nodeOff(n []byte) int       { return int(binary.LittleEndian.Uint32(n[24:])) }
func nodeRoom(n []byte) int      { return len(n) - listNodeHdr }
func setPrev(n []byte, r slab.Ref) {
	binary.LittleEndian.PutUint64(n, uint64(r))
}
func setNext(n []byte, r slab.Ref) {
	binary.LittleEndian.PutUint64(n[8:], uint64(r))
}

// setSpan records the node's count and the payload bytes [off, off+used) its elements use.
func setSpan(n []byte, count, off, used int) {
	binary.LittleEndian.PutUint32(n[16:], uint32(count))
	binary.LittleEndian.PutUint32(n[20:], uint32(used))
	binary.LittleEndian.PutUint32(n[24:], uint32(off))
}

// nodeElems is the node's elements, aliasing its chunk.
func nodeElems(n []byte) []byte {
	off := listNodeHdr + nodeOff(n)
	return n[off : off+nodeUsed(n)]
}

// entryLen is the bytes e takes in a node: its length before and after it.
func entryLen(e []byte) int { return 2*uvlen(len(e)) + len(e) }

// putEntry writes e as an entry at the start of dst and returns its size.
func putEntry(dst, e []byte) int {
	w := binary.PutUvarint(dst, uint64(len(e)))
	w += copy(dst[w:], e)
	lw := uvlen(len(e))
	for k, v := 0, len(e); k < lw; k, v = k+1, v>>7 {
		c := byte(v & 0x7f)
		if k < lw-1 {
			c |= 0x80
		}
		dst[w+lw-1-k] = c
	}
	return w + lw
}

// firstEntry returns the element at the start of b (entries) and the entries after it.
func firstEntry(b []byte) (e, rest []byte) {
	n, w := binary.Uvarint(b)
	end := w + int(n)
	return b[w:end:end], b[end+uvlen(int(n)):]
}

// lastEntry returns the element at the end of b (entries) and the entries before it,
// reading its back-length from the end.
func lastEntry(b []byte) (e, before []byte) {
	n, k := 0, 0
	for {
		c := b[len(b)-1-k]
		n |= int(c&0x7f) << (7 * k)
		k++
		if c&0x80 == 0 {
			break
		}
	}
	end := len(b) - k
	start := end - n
	return b[start:end:end], b[:start-uvlen(n)]
}

// elemsLen is the bytes elems take in nodes, with a node header per node they may start.
func elemsLen(elems [][]byte) int {
	n := listNodeHdr
	for _, e := range elems {
		n += entryLen(e)
	}
	return n + listNodeHdr*(n/listNodeMax)
}

// list is a list record being changed: its slot, header and record.
type list struct {
	s   *Store
	sl  *slot
	r   record
	hdr listHdr
}

func (s *Store) openList(sl *slot, r record) *list {
	l := s.listAt(sl, r)
	return &l
}

// listAt is openList as a value, which the hot paths (a pop, a range read) keep on the
// stack.
func (s *Store) listAt(sl *slot, r record) list {
	return list{s: s, sl: sl, r: r, hdr: readList(r.body)}
}

// save writes the header back into the record, in place.
func (l *list) save() { l.hdr.encode(l.r.body) }

func (l *list) node(r slab.Ref) []byte { return l.s.arena.Bytes(r) }

// newNode allocates a node with room for at least payload bytes of elements.
func (l *list) newNode(payload int) (slab.Ref, []byte, error) {
	size := listNodeHdr + payload
	if payload <= listNodeMax {
		size = max(size, 64)
	}
	ref, n, err := l.s.arena.Alloc(size)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrOOM, err)
	}
	setPrev(n, 0)
	setNext(n, 0)
	setSpan(n, 0, 0, 0)
	return ref, n, nil
}

// grow moves the node at ref to a chunk with room for payload bytes, relinking it, and
// returns it; its elements go to the end of the new chunk when it grows for pushes at the
// head (left), else to the start.
func (l *list) grow(ref slab.Ref, payload int, left bool) ([]byte, error) {
	old := l.node(ref)
	want := min(max(2*nodeRoom(old), payload), max(listNodeMax, payload))
	nref, n, err := l.newNode(want)
	if err != nil {
		return nil, err
	}
	copy(n, old[:listNodeHdr])
	elems := nodeElems(old)
	off := 0
	if left {
		off = nodeRoom(n) - len(elems)
	}
	copy(n[listNodeHdr+off:], elems)
	setSpan(n, nodeCount(old), off, len(elems))
	l.relink(nref, n)
	l.s.arena.Free(ref)
	return n, nil
}

// relink points the neighbours of the node n, and the header, at nref, where n now is.
func (l *list) relink(nref slab.Ref, n []byte) {
	if p := nodePrev(n); p != 0 {
		setNext(l.node(p), nref)
	} else {
		l.hdr.first = nref
	}
	if x := nodeNext(n); x != 0 {
		setPrev(l.node(x), nref)
	} else {
		l.hdr.last = nref
	}
}

// push adds e at the head (left) or the tail.
func (l *list) push(e []byte, left bool) error {
	need := entryLen(e)
	end := l.hdr.last
	if left {
		end = l.hdr.first
	}
	if end != 0 {
		n := l.node(end)
		if used := nodeUsed(n); used+need <= listNodeMax {
			if used+need > nodeRoom(n) {
				var err error
				if n, err = l.grow(end, used+need, left); err != nil {
					return err
				}
			}
			off := nodeOff(n)
			if left && off < need || !left && off+used+need > nodeRoom(n) {
				// No room at this end, but some at the other: after this push, the free
				// space is split between both ends, so pushes alternating between them
				// move the node only as often as pushes at one end do.
				half := (nodeRoom(n) - used - need) / 2
				to := half
				if left {
					to += need
				}
				copy(n[listNodeHdr+to:], n[listNodeHdr+off:listNodeHdr+off+used])
				off = to
			}
			if left {
				off -= need
				putEntry(n[listNodeHdr+off:], e)
			} else {
				putEntry(n[listNodeHdr+off+used:], e)
			}
			setSpan(n, nodeCount(n)+1, off, used+need)
			l.count(1, left)
			return nil
		}
	}
	ref, n, err := l.newNode(need)
	if err != nil {
		return err
	}
	off := 0
	if left {
		off = nodeRoom(n) - need
	}
	putEntry(n[listNodeHdr+off:], e)
	setSpan(n, 1, off, need)
	switch {
	case end == 0:
		l.hdr.first, l.hdr.last = ref, ref
	case left:
		setNext(n, end)
		setPrev(l.node(end), ref)
		l.hdr.first = ref
	default:
		setPrev(n, end)
		setNext(l.node(end), ref)
		l.hdr.last = ref
	}
	l.count(1, left)
	return nil
}

// count records k elements added (k < 0: removed) at the head (left) or the tail.
func (l *list) count(k int64, left bool) {
	l.hdr.count += k
	if left {
		l.hdr.head -= k
	}
}

// pop removes the element at the head (left) or the tail and appends it to dst: the node's
// start moves up past it, or its used bytes down, in O(1).
func (l *list) pop(dst []byte, left bool) []byte {
	end := l.hdr.last
	if left {
		end = l.hdr.first
	}
	n := l.node(end)
	elems := nodeElems(n)
	off := nodeOff(n)
	var e, rest []byte
	if left {
		e, rest = firstEntry(elems)
		off += len(elems) - len(rest)
	} else {
		e, rest = lastEntry(elems)
	}
	dst = append(dst, e...)
	setSpan(n, nodeCount(n)-1, off, len(rest))
	l.count(-1, left)
	if nodeCount(n) == 0 {
		l.unlink(end)
	}
	return dst
}

// unlink removes the node at ref from the chain and frees it.
func (l *list) unlink(ref slab.Ref) {
	n := l.node(ref)
	p, x := nodePrev(n), nodeNext(n)
	if p != 0 {
		setNext(l.node(p), x)
	} else {
		l.hdr.first = x
	}
	if x != 0 {
		setPrev(l.node(x), p)
	} else {
		l.hdr.last = p
	}
	l.s.arena.Free(ref)
}

// each calls fn with the elements from index from (0-based) on, aliasing the arena, until
// fn returns false.
func (l *list) each(from int64, fn func(i int64, e []byte) bool) {
	i := int64(0)
	for ref := l.hdr.first; ref != 0; {
		n := l.node(ref)
		c := int64(nodeCount(n))
		if i+c <= from {
			i += c
			ref = nodeNext(n)
			continue
		}
		elems := nodeElems(n)
		for len(elems) > 0 {
			var e []byte
			e, elems = firstEntry(elems)
			if i >= from && !fn(i, e) {
				return
			}
			i++
		}
		ref = nodeNext(n)
	}
}

// eachRev calls fn with the elements from the tail, index by index down, aliasing the
// arena, until fn returns false.
func (l *list) eachRev(fn func(i int64, e []byte) bool) {
	i := l.hdr.count
	for ref := l.hdr.last; ref != 0; {
		n := l.node(ref)
		for elems := nodeElems(n); len(elems) > 0; {
			var e []byte
			e, elems = lastEntry(elems)
			i--
			if !fn(i, e) {
				return
			}
		}
		ref = nodePrev(n)
	}
}

// all returns copies of every element.
func (l *list) all() [][]byte {
	out := make([][]byte, 0, l.hdr.count)
	l.each(0, func(_ int64, e []byte) bool {
		out = append(out, cloneBytes(e))
		return true
	})
	return out
}

// free frees every node.
func (l *list) free() {
	for ref := l.hdr.first; ref != 0; {
		next := nodeNext(l.node(ref))
		l.s.arena.Free(ref)
		ref = next
	}
	l.hdr.first, l.hdr.last, l.hdr.count = 0, 0, 0
}

// rebuild replaces the elements with elems (copies, not aliasing the nodes).
func (l *list) rebuild(elems [][]byte) error {
	l.free()
	for _, e := range elems {
		if err := l.push(e, false); err != nil {
			return err
		}
	}
	return nil
}

// freeList frees the nodes of the list whose record body is body.
func (s *Store) freeList(body []byte) {
	l := &list{s: s, hdr: readList(body)}
	l.free()
}

// newList creates an empty list record at key whose first element will have index head.
func (s *Store) newList(sl *slot, key []byte, head, exp int64) (*list, error) {
	var body [listBody]byte
	h := listHdr{head: head}
	r, err := s.put(sl, nil, key, byte(KindList), exp, h.encode(body[:]), false)
	if err != nil {
		return nil, err
	}
	return s.openList(sl, r), nil
}

// listFor returns the live list at key for writing; nil when absent.
func (s *Store) listFor(sl *slot, key []byte) (*list, error) {
	r, ok, err := s.typed(sl, key, KindList, true)
	if !ok {
		return nil, err
	}
	return s.openList(sl, r), nil
}

// listRead returns the live list at key for reading; nil when absent.
func (s *Store) listRead(sl *slot, key []byte) (*list, error) {
	r, ok, err := s.typed(sl, key, KindList, false)
	if !ok {
		return nil, err
	}
	return s.openList(sl, r), nil
}

// pushAll pushes elems in order at one end of the list l at key (created when nil, unless
// xx) and returns the new length (0: xx and no list) and the index of the first element
// pushed, in the order they now have. The caller journals.
func (s *Store) pushAll(sl *slot, key []byte, l *list, elems [][]byte, left, xx, limit bool) (n, first int64, err error) {
	if l == nil && xx {
		return 0, 0, nil
	}
	if limit {
		if err := s.room(elemsLen(elems) + keyLen(key, 0, listBody)); err != nil {
			return 0, 0, err
		}
	}
	if l == nil {
		if l, err = s.newList(sl, key, 0, 0); err != nil {
			return 0, 0, err
		}
	}
	for _, e := range elems {
		if err = l.push(e, left); err != nil {
			break
		}
	}
	l.save()
	if l.hdr.count == 0 {
		s.remove(sl, &l.r)
		return 0, 0, err
	}
	first = l.hdr.head
	if !left {
		first = l.hdr.head + l.hdr.count - int64(len(elems))
	}
	return l.hdr.count, first, err
}

// Push adds elems to the head (left: LPUSH, each in turn, so they end reversed) or the tail
// of the list at key and returns its length; with xx (LPUSHX, RPUSHX) only to an existing
// list (0 otherwise).
func (s *Store) Push(key []byte, elems [][]byte, left, xx bool) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindList, true)
	if err != nil {
		return 0, err
	}
	var l *list
	var cur list // an existing list stays on the stack
	if ok {
		cur = s.listAt(sl, r)
		l = &cur
	}
	n, first, err := s.pushAll(sl, key, l, elems, left, xx, true)
	switch {
	case err != nil && n > 0:
		// The kernel refused memory part way: what was pushed stays, and is journaled.
		s.journalKey(sl, key)
	case n > 0:
		s.journalListPut(sl, key, first, elems, left)
	}
	return n, err
}

// popN pops up to count elements from one end of l (the list at key) and journals it.
func (s *Store) popN(sl *slot, key []byte, l *list, left bool, count int64) [][]byte {
	out := make([][]byte, 0, min(count, l.hdr.count))
	for range min(count, l.hdr.count) {
		out = append(out, l.pop(nil, left))
	}
	s.popped(sl, key, l)
	return out
}

// popped saves l (the list at key) after pops, deleting it when empty, and journals it.
func (s *Store) popped(sl *slot, key []byte, l *list) {
	l.save()
	if l.hdr.count == 0 {
		s.remove(sl, &l.r)
		s.journalKey(sl, key)
		return
	}
	s.journalListTrim(sl, key, l.hdr.head, l.hdr.head+l.hdr.count)
}

// Pop removes up to count elements from the head (left) or the tail of the list at key;
// ok is false when there is no list. count 0 pops nothing.
func (s *Store) Pop(key []byte, left bool, count int64) (out [][]byte, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	l, err := s.listFor(sl, key)
	if l == nil || count <= 0 {
		return nil, l != nil, err
	}
	return s.popN(sl, key, l, left, count), true, nil
}

// PopOne removes the element at the head (left) or the tail of the list at key and appends
// it to dst (LPOP and RPOP without a count); ok is false when there is no list.
func (s *Store) PopOne(dst, key []byte, left bool) (out []byte, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindList, true)
	if !ok {
		return dst, false, err
	}
	l := s.listAt(sl, r)
	dst = l.pop(dst, left)
	s.popped(sl, key, &l)
	return dst, true, nil
}

// MPop pops up to count elements from the first non-empty list of keys (LMPOP), which
// share one slot; key is nil when every list is empty.
func (s *Store) MPop(keys [][]byte, left bool, count int64) (key []byte, out [][]byte, err error) {
	sl := s.slotOf(keys[0])
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for _, k := range keys {
		l, err := s.listFor(sl, k)
		if err != nil {
			return nil, nil, err
		}
		if l != nil {
			return k, s.popN(sl, k, l, left, count), nil
		}
	}
	return nil, nil, nil
}

// LLen is the length of the list at key.
func (s *Store) LLen(key []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	l, err := s.listRead(sl, key)
	if l == nil {
		return 0, err
	}
	return l.hdr.count, nil
}

// rangeOf converts LRANGE/LTRIM's start and stop (negative from the end) to indexes
// 0 <= from <= to < n; ok is false for an empty range.
func rangeOf(start, stop, n int64) (from, to int64, ok bool) {
	if start < 0 {
		start = max(start+n, 0)
	}
	if stop < 0 {
		stop += n
	}
	if start > stop || start >= n {
		return 0, 0, false
	}
	return start, min(stop, n-1), true
}

// LRange returns copies of the elements from start to stop (negative: from the end).
func (s *Store) LRange(key []byte, start, stop int64) ([][]byte, error) {
	var out [][]byte
	err := s.LRangeEach(key, start, stop, func(n int) {
		if n > 0 {
			out = make([][]byte, 0, n)
		}
	}, func(e []byte) { out = append(out, cloneBytes(e)) })
	return out, err
}

// LRangeEach calls count with the number of elements from start to stop (negative: from
// the end) of the list at key (0: no list), then fn with each of them in order, aliasing
// the arena: it reads them while the key's slot is locked, so a reply is written straight
// from the list, without copying the elements out first. fn must not keep e, nor call the
// store, nor block. Neither is called when there is an error (a key of another type).
func (s *Store) LRangeEach(key []byte, start, stop int64, count func(n int), fn func(e []byte)) error {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindList, false)
	if err != nil {
		return err
	}
	var l list
	if ok {
		l = s.listAt(sl, r)
	}
	from, to, ok := rangeOf(start, stop, l.hdr.count)
	if !ok {
		count(0)
		return nil
	}
	count(int(to - from + 1))
	l.each(from, func(i int64, e []byte) bool {
		fn(e)
		return i < to
	})
	return nil
}

// index converts an LINDEX/LSET index (negative: from the end) to 0..n-1; ok is false
// past either end.
func index(i, n int64) (int64, bool) {
	if i < 0 {
		i += n
	}
	return i, i >= 0 && i < n
}

// at returns the element at index i (in range), aliasing the arena.
func (l *list) at(i int64) []byte {
	var out []byte
	if i < l.hdr.count/2 {
		l.each(i, func(_ int64, e []byte) bool { out = e; return false })
		return out
	}
	l.eachRev(func(j int64, e []byte) bool {
		if j == i {
			out = e
			return false
		}
		return true
	})
	return out
}

// LIndex appends the element at index i of the list at key to dst.
func (s *Store) LIndex(dst, key []byte, i int64) ([]byte, bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	l, err := s.listRead(sl, key)
	if l == nil {
		return dst, false, err
	}
	i, ok := index(i, l.hdr.count)
	if !ok {
		return dst, false, nil
	}
	return append(dst, l.at(i)...), true, nil
}

// Errors of LSET, in Redis's words.
var (
	ErrNoSuchKey  = replyError("ERR no such key")
	ErrIndexRange = replyError("ERR index out of range")
)

// LSet replaces the element at index i of the list at key.
func (s *Store) LSet(key []byte, i int64, e []byte) error {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	l, err := s.listFor(sl, key)
	if err != nil {
		return err
	}
	if l == nil {
		return ErrNoSuchKey
	}
	i, ok := index(i, l.hdr.count)
	if !ok {
		return ErrIndexRange
	}
	if err := s.room(entryLen(e)); err != nil {
		return err
	}
	elems := l.all()
	elems[i] = e
	if err := l.rebuildAt(elems); err != nil {
		return err
	}
	s.journalListPut(sl, key, l.hdr.head+i, [][]byte{e}, false)
	return nil
}

// rebuildAt rebuilds the list with elems, keeping its head index, and saves it.
func (l *list) rebuildAt(elems [][]byte) error {
	head := l.hdr.head
	err := l.rebuild(elems)
	l.hdr.head = head
	l.save()
	return err
}

// LInsert inserts e before or after the first element equal to pivot and returns the new
// length: -1 when pivot is not found, 0 when there is no list.
func (s *Store) LInsert(key []byte, before bool, pivot, e []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	l, err := s.listFor(sl, key)
	if l == nil {
		return 0, err
	}
	at := int64(-1)
	l.each(0, func(i int64, x []byte) bool {
		if bytes.Equal(x, pivot) {
			at = i
			return false
		}
		return true
	})
	if at < 0 {
		return -1, nil
	}
	if err := s.room(entryLen(e) + listNodeHdr); err != nil {
		return 0, err
	}
	if !before {
		at++
	}
	elems := l.all()
	elems = append(elems[:at], append([][]byte{e}, elems[at:]...)...)
	if err := l.rebuildAt(elems); err != nil {
		return 0, err
	}
	s.journalKey(sl, key)
	return l.hdr.count, nil
}

// LRem removes up to count elements equal to e (from the head; count < 0: from the tail;
// 0: all) and returns how many.
func (s *Store) LRem(key []byte, count int64, e []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	l, err := s.listFor(sl, key)
	if l == nil {
		return 0, err
	}
	elems := l.all()
	drop := make([]bool, len(elems))
	var n int64
	limit := count
	if limit < 0 {
		limit = -limit
	}
	for j := range elems {
		i := j
		if count < 0 {
			i = len(elems) - 1 - j
		}
		if (limit == 0 || n < limit) && bytes.Equal(elems[i], e) {
			drop[i] = true
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	kept := elems[:0]
	for i, x := range elems {
		if !drop[i] {
			kept = append(kept, x)
		}
	}
	if len(kept) == 0 {
		s.remove(sl, &l.r) // frees the nodes too
	} else if err := l.rebuildAt(kept); err != nil {
		return 0, err
	}
	s.journalKey(sl, key)
	return n, nil
}

// LTrim keeps the elements from start to stop (negative: from the end) and removes the
// rest, deleting the list when nothing is kept.
func (s *Store) LTrim(key []byte, start, stop int64) error {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	l, err := s.listFor(sl, key)
	if l == nil {
		return err
	}
	from, to, ok := rangeOf(start, stop, l.hdr.count)
	if !ok {
		s.remove(sl, &l.r)
		s.journalKey(sl, key)
		return nil
	}
	n := l.hdr.count
	if from == 0 && to == n-1 {
		return nil
	}
	for range from {
		l.pop(nil, true)
	}
	for range n - 1 - to {
		l.pop(nil, false)
	}
	l.save()
	s.journalListTrim(sl, key, l.hdr.head, l.hdr.head+l.hdr.count)
	return nil
}

// LPosOptions are LPOS's RANK, COUNT and MAXLEN.
type LPosOptions struct {
	Rank   int64 // 1: from the first match; negative: from the tail
	Count  int64 // matches to return; 0: all
	MaxLen int64 // elements to compare at most; 0: all
}

// LPos returns the indexes of elements equal to e as LPOS finds them.
func (s *Store) LPos(key, e []byte, o LPosOptions) ([]int64, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	l, err := s.listRead(sl, key)
	if l == nil {
		return nil, err
	}
	var out []int64
	var seen, matches int64
	visit := func(i int64, x []byte) bool {
		if o.MaxLen > 0 && seen >= o.MaxLen {
			return false
		}
		seen++
		if bytes.Equal(x, e) {
			matches++
			if matches >= max(o.Rank, -o.Rank) {
				out = append(out, i)
				if o.Count > 0 && int64(len(out)) >= o.Count {
					return false
				}
			}
		}
		return true
	}
	if o.Rank < 0 {
		l.eachRev(visit)
	} else {
		l.each(0, visit)
	}
	return out, nil
}

// LMove pops an element from one end of the list at src and pushes it at one end of the
// list at dst (LMOVE, RPOPLPUSH), which share one slot; ok is false when src has no list.
func (s *Store) LMove(src, dst []byte, fromLeft, toLeft bool) (e []byte, ok bool, err error) {
	sl := s.slotOf(src)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	l, err := s.listFor(sl, src)
	if l == nil {
		return nil, false, err
	}
	d, err := s.listFor(sl, dst)
	if err != nil {
		return nil, false, err
	}
	// Collecting an expired dst may have moved src's entry.
	if l, err = s.listFor(sl, src); err != nil || l == nil {
		return nil, false, err
	}
	peek := l.at(0)
	if !fromLeft {
		peek = l.at(l.hdr.count - 1)
	}
	if err := s.room(entryLen(peek) + listNodeHdr + keyLen(dst, 0, listBody)); err != nil {
		return nil, false, err
	}
	if bytes.Equal(src, dst) {
		// A rotation: the list is never empty in between (and keeps its expiry).
		e = l.pop(nil, fromLeft)
		if err := l.push(e, toLeft); err != nil {
			return nil, false, err
		}
		l.save()
		// The element at its new index first, then the range: replayed in this order the
		// list is never empty in between either (it would lose its expiry).
		first := l.hdr.head
		if !toLeft {
			first += l.hdr.count - 1
		}
		s.journalListPut(sl, src, first, [][]byte{e}, toLeft)
		s.journalListTrim(sl, src, l.hdr.head, l.hdr.head+l.hdr.count)
		return e, true, nil
	}
	e = s.popN(sl, src, l, fromLeft, 1)[0]
	// Removing src may have moved dst's entry.
	if d != nil {
		if d, err = s.listFor(sl, dst); err != nil {
			return nil, false, err
		}
	}
	_, first, err := s.pushAll(sl, dst, d, [][]byte{e}, toLeft, false, false)
	if err != nil {
		s.journalKey(sl, dst)
		return nil, false, err
	}
	s.journalListPut(sl, dst, first, [][]byte{e}, toLeft)
	return e, true, nil
}

// journalListPut journals elems as the elements at indexes first... (pushed at the head,
// when left, in the order they now have there: reversed).
func (s *Store) journalListPut(sl *slot, key []byte, first int64, elems [][]byte, left bool) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opListPut)
		b = appendBytes(b, key)
		b = binary.AppendVarint(b, first)
		b = binary.AppendUvarint(b, uint64(len(elems)))
		for i := range elems {
			e := elems[i]
			if left {
				e = elems[len(elems)-1-i]
			}
			b = appendBytes(b, e)
		}
		return b
	})
}

// journalListTrim journals that the list at key now spans indexes [head, tail).
func (s *Store) journalListTrim(sl *slot, key []byte, head, tail int64) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opListTrim)
		b = appendBytes(b, key)
		b = binary.AppendVarint(b, head)
		return binary.AppendVarint(b, tail)
	})
}

// applyListPut replays opListPut: elems are now at indexes first..., whatever the list held
// there. Replaying a push onto the end it was made at is a push; anything else (an LSET, or
// a replay over a state that already went further) rebuilds the list, elements between
// its range and the new ones (which later operations remove) left empty.
func (s *Store) applyListPut(sl *slot, key []byte, cur record, ok bool, first int64, elems [][]byte, limit bool) error {
	if ok && cur.kind() != KindList {
		s.remove(sl, &cur)
		ok = false
	}
	if !ok {
		if err := s.roomIf(limit, elemsLen(elems)+keyLen(key, 0, listBody)); err != nil {
			return err
		}
		l, err := s.newList(sl, key, first, 0)
		if err != nil {
			return err
		}
		_, _, err = s.pushAll(sl, key, l, elems, false, false, false)
		return err
	}
	l := s.openList(sl, cur)
	h, t := l.hdr.head, l.hdr.head+l.hdr.count
	n := int64(len(elems))
	switch {
	case first+n == h:
		rev := make([][]byte, n)
		for i, e := range elems {
			rev[n-1-int64(i)] = e
		}
		_, _, err := s.pushAll(sl, key, l, rev, true, false, limit)
		return err
	case first == t:
		_, _, err := s.pushAll(sl, key, l, elems, false, false, limit)
		return err
	}
	if err := s.roomIf(limit, elemsLen(elems)); err != nil {
		return err
	}
	lo, hi := min(h, first), max(t, first+n)
	cur0 := l.all()
	all := make([][]byte, hi-lo)
	for i := range all {
		p := lo + int64(i)
		switch {
		case p >= first && p < first+n:
			all[i] = elems[p-first]
		case p >= h && p < t:
			all[i] = cur0[p-h]
		}
	}
	err := l.rebuild(all)
	l.hdr.head = lo
	l.save()
	return err
}

// applyListTrim replays opListTrim: the list keeps the part of its range within
// [head, tail); nothing kept deletes it.
func (s *Store) applyListTrim(sl *slot, cur record, head, tail int64) {
	l := s.openList(sl, cur)
	h, t := l.hdr.head, l.hdr.head+l.hdr.count
	if max(h, head) >= min(t, tail) {
		s.remove(sl, &cur)
		return
	}
	for range max(head-h, 0) {
		l.pop(nil, true)
	}
	for range max(t-tail, 0) {
		l.pop(nil, false)
	}
	l.save()
}

// applyList replays opList: the key now holds exactly this list, its first element at
// index head.
func (s *Store) applyList(sl *slot, key []byte, head, exp int64, elems [][]byte, limit bool) error {
	if len(elems) == 0 {
		return nil
	}
	if err := s.roomIf(limit, elemsLen(elems)+keyLen(key, exp, listBody)); err != nil {
		return err
	}
	l, err := s.newList(sl, key, head, exp)
	if err != nil {
		return err
	}
	for _, e := range elems {
		if err = l.push(e, false); err != nil {
			break
		}
	}
	l.hdr.head = head
	l.save()
	return err
}
