package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// A large sorted set is a table of member records (flags 0, the member as key, the score
// as an 8-byte body: the member→score index) and an order-statistic B+tree in the arena
// that holds references to those records in (score, member) order, Redis's skip list with
// O(log n) rank. A tree node is one zNodeSize chunk:
//
//	n     uint16 entries, then a byte that is 1 for a leaf
//	leaf  prev Ref (8 bytes at 8), next Ref (8 at 16), then from 24 the entries: a member
//	      record's score (the float64's bits) and its Ref
//	inner from byte 8 the entries: the score of the child's last (greatest) member, the
//	      child's Ref, its element count and the Ref of that last member record
//
// Entries are stored by column, each field of entry i in the 8 bytes at i of its column
// (zLeafCap or zInnerCap slots), the scores first. The scores in the nodes let a descent
// order by score without reading the member records (each one a cache miss in a large
// set), as Redis's skip list nodes hold theirs; a record is read only when the scores tie.
// Their column keeps the binary search of a node within its first cache lines.
//
// The root keeps its Ref for the set's life (a split root moves its entries to a new
// child), so the key's record never changes once the set is large. Leaves are chained
// for range walks. A split at either end of a node moves one entry (sequential inserts
// fill nodes), elsewhere half; nodes under a quarter full merge with a neighbour.
const (
	zNodeSize  = 512
	zLeafHdr   = 24
	zLeafEnt   = 16
	zLeafCap   = (zNodeSize - zLeafHdr) / zLeafEnt
	zInnerHdr  = 8
	zInnerEnt  = 32
	zInnerCap  = (zNodeSize - zInnerHdr) / zInnerEnt
	zMaxHeight = 16
)

type ztree struct {
	s    *Store
	root slab.Ref
}

func le64(b []byte) uint64     { return binary.LittleEndian.Uint64(b) }
func put64(b []byte, v uint64) { binary.LittleEndian.PutUint64(b, v) }

func znN(n []byte) int         { return int(binary.LittleEndian.Uint16(n)) }
func znSetN(n []byte, v int)   { binary.LittleEndian.PutUint16(n, uint16(v)) }
func znLeaf(n []byte) bool     { return n[2] == 1 }
func znPrev(n []byte) slab.Ref { return slab.Ref(le64(n[8:])) }
func znNext(n []byte) slab.Ref { return slab.Ref(le64(n[16:])) }
func znSetPrev(n []byte, r slab.Ref) {
	put64(n[8:], uint64(r))
}
func znSetNext(n []byte, r slab.Ref) { put64(n[16:], uint64(r)) }

// Where the columns start: a leaf's scores and Refs, an inner node's scores, children,
// counts and greatest members.
const (
	zLeafScores  = zLeafHdr
	zLeafRefs    = zLeafHdr + 8*zLeafCap
	zInnerScores = zInnerHdr
	zInnerKids   = zInnerHdr + 8*zInnerCap
	zInnerCounts = zInnerHdr + 16*zInnerCap
	zInnerMaxes  = zInnerHdr + 24*zInnerCap
)

func znEnt(n []byte, i int) slab.Ref   { return slab.Ref(le64(n[zLeafRefs+8*i:])) }
func znChild(n []byte, i int) slab.Ref { return slab.Ref(le64(n[zInnerKids+8*i:])) }
func znCount(n []byte, i int) int64    { return int64(le64(n[zInnerCounts+8*i:])) }
func znMax(n []byte, i int) slab.Ref   { return slab.Ref(le64(n[zInnerMaxes+8*i:])) }

// znEntScore and znMaxScore are the scores of leaf entry i and of inner entry i's greatest member.
func znEntScore(n []byte, i int) float64 { return math.Float64frombits(le64(n[zLeafScores+8*i:])) }
func znMaxScore(n []byte, i int) float64 { return math.Float64frombits(le64(n[zInnerScores+8*i:])) }

// znShape is where node n's columns start, the slots of each and how many there are.
func znShape(n []byte) (hdr, slots, cols int) {
	if znLeaf(n) {
		return zLeafHdr, zLeafCap, zLeafEnt / 8
	}
	return zInnerHdr, zInnerCap, zInnerEnt / 8
}

// znEntry appends the fields of entry i of n to e, in column order.
func znEntry(n []byte, i int, e []byte) []byte {
	hdr, slots, cols := znShape(n)
	for c := range cols {
		off := hdr + 8*(c*slots+i)
		e = append(e, n[off:off+8]...)
	}
	return e
}

// znPut writes the fields e (in column order) as entry i of n.
func znPut(n []byte, i int, e []byte) {
	hdr, slots, cols := znShape(n)
	for c := range cols {
		copy(n[hdr+8*(c*slots+i):hdr+8*(c*slots+i)+8], e[8*c:])
	}
}

// znSetInner makes inner entry i of n describe the node child, whose Ref is ref.
func znSetInner(n []byte, i int, ref slab.Ref, child []byte) {
	var e [zInnerEnt]byte
	znPutInner(e[:], ref, child)
	znPut(n, i, e[:])
}

// znLastOf is the score bits and Ref of node n's greatest member (zeros when it is empty).
func znLastOf(n []byte) (uint64, slab.Ref) {
	k := znN(n)
	switch {
	case k == 0:
		return 0, 0
	case znLeaf(n):
		return le64(n[zLeafScores+8*(k-1):]), znEnt(n, k-1)
	}
	return le64(n[zInnerScores+8*(k-1):]), znMax(n, k-1)
}

// znBump adds delta to the count of inner entry i of n, whose child child gained or lost
// that many elements without a split or merge, and refreshes its greatest member: cheaper
// than znSetInner, which sums the child's entries.
func znBump(n []byte, i int, child []byte, delta int64) {
	put64(n[zInnerCounts+8*i:], le64(n[zInnerCounts+8*i:])+uint64(delta))
	sc, last := znLastOf(child)
	put64(n[zInnerScores+8*i:], sc)
	put64(n[zInnerMaxes+8*i:], uint64(last))
}

// znPutInner writes the inner entry for the node child, whose Ref is ref, into e.
func znPutInner(e []byte, ref slab.Ref, child []byte) {
	sc, last := znLastOf(child)
	put64(e, sc)
	put64(e[8:], uint64(ref))
	put64(e[16:], uint64(znTotal(child)))
	put64(e[24:], uint64(last))
}

// znCap is the capacity of node n.
func znCap(n []byte) int {
	if znLeaf(n) {
		return zLeafCap
	}
	return zInnerCap
}

// zrec returns the member and score of a member record.
func zrec(chunk []byte) ([]byte, float64) {
	n, w := binary.Uvarint(chunk[1:])
	end := 1 + w + int(n)
	return chunk[1+w : end : end], math.Float64frombits(le64(chunk[end+1:]))
}

// zcmp orders (score, member) pairs as Redis does.
func zcmp(s1 float64, m1 []byte, s2 float64, m2 []byte) int {
	switch {
	case s1 < s2:
		return -1
	case s1 > s2:
		return 1
	}
	return bytes.Compare(m1, m2)
}

func (t *ztree) node(r slab.Ref) []byte { return t.s.arena.Bytes(r) }

func (t *ztree) rec(r slab.Ref) ([]byte, float64) { return zrec(t.s.arena.Bytes(r)) }

// cmpRef compares the member record r, whose score is rs, with (sc, m); it reads the
// record only when the scores tie.
func (t *ztree) cmpRef(r slab.Ref, rs, sc float64, m []byte) int {
	switch {
	case rs < sc:
		return -1
	case rs > sc:
		return 1
	}
	rm, _ := t.rec(r)
	return bytes.Compare(rm, m)
}

func (t *ztree) newNode(leaf bool) (slab.Ref, []byte, error) {
	ref, n, err := t.s.arena.Alloc(zNodeSize)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrOOM, err)
	}
	clear(n[:zLeafHdr])
	if leaf {
		n[2] = 1
	}
	return ref, n, nil
}

// newZTree allocates the root of an empty tree.
func (s *Store) newZTree() (ztree, error) {
	t := ztree{s: s}
	ref, _, err := t.newNode(true)
	t.root = ref
	return t, err
}

// total is the number of elements under node n; last its greatest member record.
func znTotal(n []byte) int64 {
	if znLeaf(n) {
		return int64(znN(n))
	}
	var c int64
	for i := range znN(n) {
		c += znCount(n, i)
	}
	return c
}

type zstep struct {
	ref slab.Ref
	i   int
}

// descend walks from the root to the leaf where (sc, m) is or belongs, recording the path.
func (t *ztree) descend(sc float64, m []byte, path []zstep) ([]zstep, slab.Ref) {
	cur := t.root
	for {
		n := t.node(cur)
		if znLeaf(n) {
			return path, cur
		}
		k := znN(n)
		lo, hi := 0, k-1
		for lo < hi {
			mid := (lo + hi) / 2
			if t.cmpRef(znMax(n, mid), znMaxScore(n, mid), sc, m) >= 0 {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		path = append(path, zstep{cur, lo})
		cur = znChild(n, lo)
	}
}

// leafPos is the first position in leaf n whose entry is not less than (sc, m).
func (t *ztree) leafPos(n []byte, sc float64, m []byte) int {
	lo, hi := 0, znN(n)
	for lo < hi {
		mid := (lo + hi) / 2
		if t.cmpRef(znEnt(n, mid), znEntScore(n, mid), sc, m) >= 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// znInsertAt puts the entry e (its fields in column order) at position pos of node n,
// which has room.
func znInsertAt(n []byte, pos int, e []byte) {
	hdr, slots, cols := znShape(n)
	k := znN(n)
	for c := range cols {
		col := n[hdr+8*c*slots : hdr+8*(c+1)*slots]
		copy(col[8*(pos+1):8*(k+1)], col[8*pos:8*k])
		copy(col[8*pos:8*pos+8], e[8*c:])
	}
	znSetN(n, k+1)
}

func znRemoveAt(n []byte, pos int) {
	hdr, slots, cols := znShape(n)
	k := znN(n)
	for c := range cols {
		col := n[hdr+8*c*slots : hdr+8*(c+1)*slots]
		copy(col[8*pos:], col[8*(pos+1):8*k])
	}
	znSetN(n, k-1)
}

// split inserts entry e at pos into the full node (aref, a): a new node b to a's right
// takes part of the entries. It returns b.
func (t *ztree) split(aref slab.Ref, a []byte, pos int, e []byte) (slab.Ref, []byte, error) {
	bref, b, err := t.newNode(znLeaf(a))
	if err != nil {
		return 0, nil, err
	}
	k, w := znN(a), len(e)
	// The entries, with e, in a scratch buffer, then divided.
	var buf [zNodeSize]byte
	all := buf[:0]
	for i := range k {
		if i == pos {
			all = append(all, e...)
		}
		all = znEntry(a, i, all)
	}
	if pos == k {
		all = append(all, e...)
	}
	total := k + 1
	left := total / 2
	switch pos {
	case k:
		left = k
	case 0:
		left = 1
	}
	for i := range total {
		if i < left {
			znPut(a, i, all[i*w:])
		} else {
			znPut(b, i-left, all[i*w:])
		}
	}
	znSetN(a, left)
	znSetN(b, total-left)
	if znLeaf(a) {
		next := znNext(a)
		znSetPrev(b, aref)
		znSetNext(b, next)
		znSetNext(a, bref)
		if next != 0 {
			znSetPrev(t.node(next), bref)
		}
	}
	return bref, b, nil
}

// insert adds the member record ref, whose member and score are m and sc, which must not be in the tree.
func (t *ztree) insert(ref slab.Ref, sc float64, m []byte) error {
	var pathBuf [zMaxHeight]zstep
	path, leaf := t.descend(sc, m, pathBuf[:0])
	n := t.node(leaf)
	pos := t.leafPos(n, sc, m)
	var e [zLeafEnt]byte
	put64(e[:], math.Float64bits(sc))
	put64(e[8:], uint64(ref))
	cur, curN := leaf, n
	var newRef slab.Ref
	var newN []byte
	if znN(n) < zLeafCap {
		znInsertAt(n, pos, e[:])
	} else {
		var err error
		if newRef, newN, err = t.split(leaf, n, pos, e[:]); err != nil {
			return err
		}
	}
	for i := len(path) - 1; i >= 0; i-- {
		p := t.node(path[i].ref)
		ci := path[i].i
		if newRef == 0 {
			znBump(p, ci, curN, 1)
			cur, curN = path[i].ref, p
			continue
		}
		znSetInner(p, ci, cur, curN)
		var ie [zInnerEnt]byte
		znPutInner(ie[:], newRef, newN)
		if znN(p) < zInnerCap {
			znInsertAt(p, ci+1, ie[:])
			newRef, newN = 0, nil
		} else {
			var err error
			if newRef, newN, err = t.split(path[i].ref, p, ci+1, ie[:]); err != nil {
				return err
			}
		}
		cur, curN = path[i].ref, p
	}
	if newRef != 0 {
		return t.growRoot(newRef, newN)
	}
	return nil
}

// growRoot moves the split root's entries to a new node and makes the root an inner node
// over it and its new sibling.
func (t *ztree) growRoot(sibRef slab.Ref, sib []byte) error {
	root := t.node(t.root)
	cref, c, err := t.newNode(znLeaf(root))
	if err != nil {
		return err
	}
	copy(c, root)
	if znLeaf(c) {
		znSetPrev(c, 0)
		znSetNext(c, sibRef)
		znSetPrev(sib, cref)
	}
	clear(root[:zInnerHdr])
	znSetN(root, 2)
	znSetInner(root, 0, cref, c)
	znSetInner(root, 1, sibRef, sib)
	return nil
}

// delete removes the element (sc, m), which must be in the tree.
func (t *ztree) delete(sc float64, m []byte) {
	var pathBuf [zMaxHeight]zstep
	path, leaf := t.descend(sc, m, pathBuf[:0])
	n := t.node(leaf)
	pos := t.leafPos(n, sc, m)
	if pos >= znN(n) || t.cmpRef(znEnt(n, pos), znEntScore(n, pos), sc, m) != 0 {
		return
	}
	znRemoveAt(n, pos)
	cur, curN := leaf, n
	for i := len(path) - 1; i >= 0; i-- {
		p := t.node(path[i].ref)
		ci := path[i].i
		switch {
		case znN(curN) == 0:
			t.freeNode(cur, curN)
			znRemoveAt(p, ci)
		case znN(curN) < znCap(curN)/4 && znN(p) > 1:
			// Merged with a neighbour when both fit in one node.
			li := ci
			if ci+1 >= znN(p) {
				li = ci - 1
			}
			lref, rref := znChild(p, li), znChild(p, li+1)
			l, r := t.node(lref), t.node(rref)
			if znN(l)+znN(r) <= znCap(l)*3/4 {
				k := znN(l)
				var e [zInnerEnt]byte
				for j := range znN(r) {
					znPut(l, k+j, znEntry(r, j, e[:0]))
				}
				znSetN(l, k+znN(r))
				znSetN(r, 0)
				t.freeNode(rref, r)
				znRemoveAt(p, li+1)
				znSetInner(p, li, lref, l)
			} else {
				znBump(p, ci, curN, -1)
			}
		default:
			znBump(p, ci, curN, -1)
		}
		cur, curN = path[i].ref, p
	}
	// A root with one child takes its entries.
	for root := t.node(t.root); !znLeaf(root) && znN(root) == 1; root = t.node(t.root) {
		cref := znChild(root, 0)
		c := t.node(cref)
		copy(root, c)
		if znLeaf(root) {
			znSetPrev(root, 0)
			znSetNext(root, 0)
		}
		t.s.arena.Free(cref)
	}
}

// freeNode frees an emptied node, unlinking a leaf from its neighbours.
func (t *ztree) freeNode(ref slab.Ref, n []byte) {
	if znLeaf(n) {
		prev, next := znPrev(n), znNext(n)
		if prev != 0 {
			znSetNext(t.node(prev), next)
		}
		if next != 0 {
			znSetPrev(t.node(next), prev)
		}
	}
	t.s.arena.Free(ref)
}

// free frees every node of the tree (not the member records).
func (t *ztree) free() { t.freeUnder(t.root) }

func (t *ztree) freeUnder(ref slab.Ref) {
	n := t.node(ref)
	if !znLeaf(n) {
		for i := range znN(n) {
			t.freeUnder(znChild(n, i))
		}
	}
	t.s.arena.Free(ref)
}

// len is the number of elements.
func (t *ztree) len() int { return int(znTotal(t.node(t.root))) }

// at returns the leaf and position of the element of rank i (0 ≤ i < len).
func (t *ztree) at(i int) (slab.Ref, int) {
	cur := t.root
	rest := int64(i)
	for {
		n := t.node(cur)
		if znLeaf(n) {
			return cur, int(rest)
		}
		k := znN(n)
		j := 0
		for ; j < k-1 && rest >= znCount(n, j); j++ {
			rest -= znCount(n, j)
		}
		cur = znChild(n, j)
	}
}

// seek is the number of leading elements for which before holds (before must hold for a
// prefix of the order).
func (t *ztree) seek(before func(m []byte, sc float64) bool) int {
	cur := t.root
	rank := 0
	for {
		n := t.node(cur)
		k := znN(n)
		if znLeaf(n) {
			lo, hi := 0, k
			for lo < hi {
				mid := (lo + hi) / 2
				if before(t.rec(znEnt(n, mid))) {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
			return rank + lo
		}
		j := 0
		for ; j < k-1 && before(t.rec(znMax(n, j))); j++ {
			rank += int(znCount(n, j))
		}
		cur = znChild(n, j)
	}
}

// each calls fn with the elements from rank from on, ascending (or descending with rev),
// until fn returns false.
func (t *ztree) each(from int, rev bool, fn func(m []byte, sc float64) bool) {
	if from < 0 || from >= t.len() {
		return
	}
	leaf, pos := t.at(from)
	for leaf != 0 {
		n := t.node(leaf)
		if rev {
			for ; pos >= 0; pos-- {
				if !fn(t.rec(znEnt(n, pos))) {
					return
				}
			}
			leaf = znPrev(n)
			if leaf != 0 {
				pos = znN(t.node(leaf)) - 1
			}
			continue
		}
		for ; pos < znN(n); pos++ {
			if !fn(t.rec(znEnt(n, pos))) {
				return
			}
		}
		leaf, pos = znNext(n), 0
	}
}
