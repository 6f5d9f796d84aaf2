package store

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// A sorted set is kept in one record (small encoding, Redis's listpack) while it has at
// most zsetMaxListpackEntries members of at most zsetMaxListpackValue bytes (Redis's
// zset-max-listpack-entries and zset-max-listpack-value defaults). Its body is the member
// count (uvarint), then the members in (score, member) order, each as uvarint length and
// bytes followed by its score (8 bytes, the float64's bits little-endian). Past the limits
// it moves, for good, to a table of member records and an order-statistic tree over them
// (zset_tree.go); the record's body is then the table's 4-byte handle and the tree root's
// 8-byte Ref.
const (
	zsetMaxListpackEntries = 128
	zsetMaxListpackValue   = 64
	zsetLargeBody          = 12
)

// ZEntry is one member of a sorted set and its score.
type ZEntry struct {
	Member []byte
	Score  float64
}

// zview reads and changes one sorted set; small holds a small set's entries (aliasing
// the record) in order.
type zview struct {
	s     *Store
	large bool
	small []ZEntry
	tab   *slab.Table
	tree  ztree
}

// decodeSmallZ appends the entries of a small sorted set's body to out.
func decodeSmallZ(body []byte, out []ZEntry) []ZEntry {
	n, w := binary.Uvarint(body)
	b := body[w:]
	out = slices.Grow(out, int(n))
	for len(b) > 0 {
		var m []byte
		m, b = readBytes(b)
		out = append(out, ZEntry{m, math.Float64frombits(le64(b))})
		b = b[8:]
	}
	return out
}

func encodeSmallZ(ents []ZEntry) []byte {
	need := uvlen(len(ents))
	for _, e := range ents {
		need += uvlen(len(e.Member)) + len(e.Member) + 8
	}
	body := make([]byte, 0, need)
	body = binary.AppendUvarint(body, uint64(len(ents)))
	for _, e := range ents {
		body = appendBytes(body, e.Member)
		body = binary.LittleEndian.AppendUint64(body, math.Float64bits(e.Score))
	}
	return body
}

// zopen returns a view of the sorted set record r.
func (s *Store) zopen(sl *slot, r *record) zview {
	if r.table() {
		return zview{s: s, large: true, tab: sl.tables[handleOf(r.body)], tree: ztree{s: s, root: slab.Ref(le64(r.body[4:]))}}
	}
	return zview{s: s, small: decodeSmallZ(r.body, nil)}
}

func (v *zview) len() int {
	if v.large {
		return v.tab.Len()
	}
	return len(v.small)
}

// score returns m's score.
func (v *zview) score(m []byte) (float64, bool) {
	if v.large {
		pos, ref := v.tab.Find(v.s.arena, slab.Hash(m), m)
		if pos < 0 {
			return 0, false
		}
		_, sc := zrec(v.s.arena.Bytes(ref))
		return sc, true
	}
	for _, e := range v.small {
		if string(e.Member) == string(m) {
			return e.Score, true
		}
	}
	return 0, false
}

// seek is the number of leading elements for which before holds.
func (v *zview) seek(before func(m []byte, sc float64) bool) int {
	if v.large {
		return v.tree.seek(before)
	}
	lo, hi := 0, len(v.small)
	for lo < hi {
		mid := (lo + hi) / 2
		if before(v.small[mid].Member, v.small[mid].Score) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// each calls fn with elements from rank from, ascending (descending with rev), until fn
// returns false; members alias the arena.
func (v *zview) each(from int, rev bool, fn func(m []byte, sc float64) bool) {
	if v.large {
		v.tree.each(from, rev, fn)
		return
	}
	if rev {
		for i := from; i >= 0 && i < len(v.small); i-- {
			if !fn(v.small[i].Member, v.small[i].Score) {
				return
			}
		}
		return
	}
	for i := max(from, 0); i < len(v.small); i++ {
		if !fn(v.small[i].Member, v.small[i].Score) {
			return
		}
	}
}

// rank is the 0-based rank of m in ascending order.
func (v *zview) rank(m []byte) (int, bool) {
	sc, ok := v.score(m)
	if !ok {
		return 0, false
	}
	return v.seek(func(x []byte, xs float64) bool { return zcmp(xs, x, sc, m) < 0 }), true
}

// copyRange returns copies of count elements from rank from (descending with rev).
func (v *zview) copyRange(from, count int, rev bool) []ZEntry {
	out := make([]ZEntry, 0, min(count, v.len()))
	v.each(from, rev, func(m []byte, sc float64) bool {
		if len(out) >= count {
			return false
		}
		out = append(out, ZEntry{cloneBytes(m), sc})
		return true
	})
	return out
}

// zsetNeed is the bytes adding members may take: their records and tree entries, and a
// few tree nodes.
func zsetNeed(members [][]byte) int {
	need := 4 * zNodeSize
	for _, m := range members {
		need += recordLen(m, 0, 8) + 16
	}
	return need
}

// ZAddFlags are ZADD's options.
type ZAddFlags struct {
	NX, XX, GT, LT, Incr bool
}

// zaddOut is what adding one member did.
type zaddOut uint8

const (
	zNop zaddOut = iota
	zAdded
	zUpdated
	zSame // processed, score unchanged
	zNaN
)

// decide applies ZADD's flags to one member whose current score is cur (had false: not a
// member) and requested score sc; it returns the new score and what happens.
func (f ZAddFlags) decide(cur float64, had bool, sc float64) (float64, zaddOut) {
	if math.IsNaN(sc) {
		return 0, zNaN
	}
	if !had {
		if f.XX {
			return 0, zNop
		}
		return sc, zAdded
	}
	if f.NX {
		return 0, zNop
	}
	if f.Incr {
		sc += cur
		if math.IsNaN(sc) {
			return 0, zNaN
		}
	}
	if (f.LT && sc >= cur) || (f.GT && sc <= cur) {
		return 0, zNop
	}
	if sc == cur {
		return sc, zSame
	}
	return sc, zUpdated
}

// zbuild is how zsetPut picks the encoding of a new key: as the members come (a listpack
// until they pass its limits), for the whole value at once (ZUNIONSTORE's
// zsetConvertToListpackIfNeeded), or by the count alone, then as they come (ZRANGESTORE's
// size hint). Scores stored while the set is a listpack lose the sign of a zero, as
// Redis's listpack does, so the choice shows.
type zbuild uint8

const (
	zIncremental zbuild = iota
	zWhole
	zSized
)

// zsetPut sets the scores of members (adding the new ones) in the sorted set at key, whose
// live record is r (ok false: none, created with expiry exp), one after the other as ZADD
// does, a new key's encoding chosen as build says. It fails only when the kernel refuses
// memory; callers check maxmemory first.
func (s *Store) zsetPut(sl *slot, key []byte, r record, ok bool, ents []ZEntry, exp int64, build zbuild) error {
	if len(ents) == 0 {
		return nil
	}
	if ok && r.table() {
		v := s.zopen(sl, &r)
		return v.largePut(ents)
	}
	var cur []ZEntry
	var old *record
	if ok {
		cur = decodeSmallZ(r.body, make([]ZEntry, 0, 8))
		exp, old = r.exp, &r
	}
	small := true
	var rest []ZEntry
	if !ok && (build == zWhole || build == zSized) && len(ents) > zsetMaxListpackEntries ||
		!ok && build == zWhole && slices.ContainsFunc(ents, func(e ZEntry) bool { return len(e.Member) > zsetMaxListpackValue }) {
		small, rest = false, ents
	}
	for i, e := range ents {
		if !small {
			break
		}
		j := slices.IndexFunc(cur, func(x ZEntry) bool { return string(x.Member) == string(e.Member) })
		if (j < 0 && len(cur) >= zsetMaxListpackEntries) || len(e.Member) > zsetMaxListpackValue {
			// This one converts the set and goes into the large encoding as it is.
			small, rest = false, ents[i:]
			break
		}
		if e.Score == 0 {
			e.Score = 0 // a listpack keeps -0 as 0, as Redis's does
		}
		if j >= 0 {
			cur[j].Score = e.Score
			continue
		}
		cur = append(cur, e)
	}
	if small {
		slices.SortFunc(cur, func(a, b ZEntry) int { return zcmp(a.Score, a.Member, b.Score, b.Member) })
		_, err := s.put(sl, old, key, byte(KindZSet), exp, encodeSmallZ(cur), false)
		return err
	}
	// Converted: the table and tree are built before the record changes.
	h := s.newTable(sl)
	tree, err := s.newZTree()
	v := zview{s: s, large: true, tab: sl.tables[h], tree: tree}
	if err == nil {
		err = v.largePut(cur)
	}
	if err == nil {
		err = v.largePut(rest)
	}
	if err == nil {
		var body [zsetLargeBody]byte
		binary.LittleEndian.PutUint32(body[:], h)
		put64(body[4:], uint64(tree.root))
		_, err = s.put(sl, old, key, byte(KindZSet)|flagTable, exp, body[:], false)
	}
	if err != nil {
		if tree.root != 0 {
			tree.free()
		}
		s.dropTable(sl, h)
	}
	return err
}

// largePut sets the scores of ents in a large sorted set.
func (v *zview) largePut(ents []ZEntry) error {
	for _, e := range ents {
		h := slab.Hash(e.Member)
		pos, ref := v.tab.Find(v.s.arena, h, e.Member)
		if err := v.putFound(h, pos, ref, e); err != nil {
			return err
		}
	}
	return nil
}

// putFound sets the score of e.Member, whose hash is h, in a large sorted set: pos and ref
// are what the table's Find returned for it (pos < 0: not a member).
func (v *zview) putFound(h uint64, pos int, ref slab.Ref, e ZEntry) error {
	a := v.s.arena
	if pos >= 0 {
		chunk := a.Bytes(ref)
		m, sc := zrec(chunk)
		if sc == e.Score {
			return nil
		}
		v.tree.delete(sc, m)
		put64(chunk[zscoreOff(chunk):], math.Float64bits(e.Score))
		return v.tree.insert(ref, e.Score, m)
	}
	ref, chunk, err := a.Alloc(recordLen(e.Member, 0, 8))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOOM, err)
	}
	var sb [8]byte
	put64(sb[:], math.Float64bits(e.Score))
	encode(chunk, 0, e.Member, 0, sb[:])
	if err := v.tree.insert(ref, e.Score, slab.KeyOf(chunk)); err != nil {
		a.Free(ref)
		return err
	}
	v.tab.Insert(a, h, ref)
	return nil
}

// addOne is ZADD of one member m at score sc in a large sorted set, whose key is key in
// sl (locked): one lookup of the member serves the flags' decision and the change.
func (v *zview) addOne(sl *slot, key []byte, f ZAddFlags, m []byte, sc float64) (ZAddResult, error) {
	var res ZAddResult
	h := slab.Hash(m)
	pos, ref := v.tab.Find(v.s.arena, h, m)
	var cur float64
	if pos >= 0 {
		_, cur = zrec(v.s.arena.Bytes(ref))
	}
	sc, out := f.decide(cur, pos >= 0, sc)
	switch out {
	case zNaN:
		return res, ErrZNaN
	case zNop:
		return res, nil
	case zAdded:
		res.Added = 1
	case zUpdated:
		res.Updated = 1
	}
	res.Score, res.Processed = sc, true
	if out == zSame {
		return res, nil
	}
	if err := v.s.room(4*zNodeSize + recordLen(m, 0, 8) + 16); err != nil {
		return ZAddResult{}, err
	}
	if err := v.putFound(h, pos, ref, ZEntry{m, sc}); err != nil {
		return ZAddResult{}, err
	}
	v.s.journalZAdd(sl, key, []ZEntry{{m, sc}})
	return res, nil
}

// zscoreOff is where a member record's score starts.
func zscoreOff(chunk []byte) int {
	n, w := binary.Uvarint(chunk[1:])
	return 1 + w + int(n) + 1
}

// zsetRem removes members from the sorted set record r (deleting the key when emptied)
// and returns how many were members.
func (s *Store) zsetRem(sl *slot, r record, members [][]byte) (int64, error) {
	v := s.zopen(sl, &r)
	var n int64
	if v.large {
		a := s.arena
		for _, m := range members {
			pos, ref := v.tab.Find(a, slab.Hash(m), m)
			if pos < 0 {
				continue
			}
			rm, sc := zrec(a.Bytes(ref))
			v.tree.delete(sc, rm)
			v.tab.Delete(a, pos)
			a.Free(ref)
			n++
		}
		if v.tab.Len() == 0 {
			s.remove(sl, &r)
		}
		return n, nil
	}
	keep := v.small[:0:0]
	for _, e := range v.small {
		if indexOf(members, e.Member) >= 0 {
			n++
			continue
		}
		keep = append(keep, e)
	}
	if n == 0 {
		return 0, nil
	}
	if len(keep) == 0 {
		s.remove(sl, &r)
		return n, nil
	}
	_, err := s.put(sl, &r, r.key, r.flags, r.exp, encodeSmallZ(keep), false)
	return n, err
}

// freeZSet frees the tree of a large sorted set record's body (its member records go with
// its table).
func (s *Store) freeZSet(r *record) {
	if r.table() {
		t := ztree{s: s, root: slab.Ref(le64(r.body[4:]))}
		t.free()
	}
}

// zentsLen is the bytes ents take as member records.
func zentsLen(ents []ZEntry) int {
	need := 0
	for _, e := range ents {
		need += recordLen(e.Member, 0, 8) + 16
	}
	return need
}
