package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// ErrZNaN is ZADD INCR's and ZINCRBY's answer to a sum that is not a number.
var ErrZNaN = errors.New("ERR resulting score is not a number (NaN)")

// FormatScore appends a score as Redis 7.0 replies it (%.17g, inf and -inf).
func FormatScore(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	return strconv.AppendFloat(dst, f, 'g', 17, 64)
}

// ZAddResult is what ZADD did: members added, members whose score changed, and with
// Incr the member's new score (Processed false: nothing was done, ZADD answers nil).
type ZAddResult struct {
	Added, Updated int64
	Score          float64
	Processed      bool
}

// ZAdd sets the scores of members (scores[i] for members[i]) in the sorted set at key
// under ZADD's flags. With Incr (one member) the score is an increment; a NaN sum fails
// with ErrZNaN. Past maxmemory it fails with ErrOOM before anything changes.
func (s *Store) ZAdd(key []byte, f ZAddFlags, members [][]byte, scores []float64) (ZAddResult, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	var res ZAddResult
	r, ok, err := s.typed(sl, key, KindZSet, true)
	if err != nil {
		return res, err
	}
	if !ok && f.XX {
		return res, nil
	}
	if ok && r.table() && len(members) == 1 {
		v := s.zopen(sl, &r)
		return v.addOne(sl, key, f, members[0], scores[0])
	}
	var v zview
	if ok {
		v = s.zopen(sl, &r)
	}
	// The changes are decided first (a later repeat of a member sees the earlier one), then
	// made at once.
	var changes []ZEntry
	at := map[string]int{} // index in changes of a member's last change
	for i, m := range members {
		var cur float64
		var had bool
		j, seen := at[string(m)]
		if seen {
			cur, had = changes[j].Score, true
		} else if ok {
			cur, had = v.score(m)
		}
		sc, out := f.decide(cur, had, scores[i])
		switch out {
		case zNaN:
			return ZAddResult{}, ErrZNaN
		case zNop:
			continue
		case zAdded:
			res.Added++
		case zUpdated:
			res.Updated++
		}
		res.Score, res.Processed = sc, true
		if out == zSame {
			continue
		}
		// Every change in order, repeats included: whether a score is stored as a
		// listpack stores it depends on the set's encoding at that change.
		at[string(m)] = len(changes)
		changes = append(changes, ZEntry{m, sc})
	}
	if len(changes) == 0 {
		return res, nil
	}
	if err := s.room(zsetNeed(entMembers(changes))); err != nil {
		return ZAddResult{}, err
	}
	if err := s.zsetPut(sl, key, r, ok, changes, 0, zIncremental); err != nil {
		return ZAddResult{}, err
	}
	s.journalZAdd(sl, key, changes)
	return res, nil
}

func entMembers(ents []ZEntry) [][]byte {
	out := make([][]byte, len(ents))
	for i, e := range ents {
		out[i] = e.Member
	}
	return out
}

// ZRem removes members from the sorted set at key and returns how many were members.
func (s *Store) ZRem(key []byte, members [][]byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindZSet, true)
	if !ok {
		return 0, err
	}
	n, err := s.zsetRem(sl, r, members)
	if n > 0 {
		s.journalZRem(sl, key, members)
	}
	return n, err
}

// zread runs fn on the sorted set at key under the slot's read lock; a missing key runs
// nothing and returns ok false.
func (s *Store) zread(key []byte, fn func(v *zview)) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindZSet, false)
	if !ok {
		return false, err
	}
	v := s.zopen(sl, &r)
	fn(&v)
	return true, nil
}

// ZScore returns the score of member in the sorted set at key.
func (s *Store) ZScore(key, member []byte) (sc float64, ok bool, err error) {
	_, err = s.zread(key, func(v *zview) { sc, ok = v.score(member) })
	return sc, ok, err
}

// ZMScore returns the scores of members (found[i] false: not a member).
func (s *Store) ZMScore(key []byte, members [][]byte) (scores []float64, found []bool, err error) {
	scores, found = make([]float64, len(members)), make([]bool, len(members))
	_, err = s.zread(key, func(v *zview) {
		for i, m := range members {
			scores[i], found[i] = v.score(m)
		}
	})
	return scores, found, err
}

// ZCard is the number of members of the sorted set at key.
func (s *Store) ZCard(key []byte) (n int64, err error) {
	_, err = s.zread(key, func(v *zview) { n = int64(v.len()) })
	return n, err
}

// ZRank returns the rank of member (from the highest score with rev) and its score.
func (s *Store) ZRank(key, member []byte, rev bool) (rank int64, ok bool, err error) {
	_, err = s.zread(key, func(v *zview) {
		var i int
		if i, ok = v.rank(member); ok {
			rank = int64(i)
			if rev {
				rank = int64(v.len()-1) - rank
			}
		}
	})
	return rank, ok, err
}

// ZBy is what a range selects by.
type ZBy uint8

// The range kinds of ZRANGE.
const (
	ZByRank ZBy = iota
	ZByScore
	ZByLex
)

// ZScoreRange is a score interval, its ends inclusive unless marked exclusive.
type ZScoreRange struct {
	Min, Max     float64
	MinEx, MaxEx bool
}

// ZLexBound is one end of a lex range: Inf -1 is "-", +1 is "+", 0 the value V, exclusive
// with Ex.
type ZLexBound struct {
	V   []byte
	Ex  bool
	Inf int8
}

// ZQuery is a ZRANGE-family selection: by rank (Start, Stop), score or lex (Min and Max
// are the lower and upper ends whatever the direction), in descending order with Rev,
// skipping Offset and taking at most Limit (negative: all) with BYSCORE and BYLEX.
type ZQuery struct {
	By          ZBy
	Start, Stop int64
	Score       ZScoreRange
	LexMin      ZLexBound
	LexMax      ZLexBound
	Rev         bool
	Offset      int64
	Limit       int64
}

func (r ZScoreRange) belowMin(sc float64) bool {
	if r.MinEx {
		return sc <= r.Min
	}
	return sc < r.Min
}

func (r ZScoreRange) withinMax(sc float64) bool {
	if r.MaxEx {
		return sc < r.Max
	}
	return sc <= r.Max
}

func lexBelowMin(m []byte, b ZLexBound) bool {
	switch b.Inf {
	case -1:
		return false
	case 1:
		return true
	}
	c := bytes.Compare(m, b.V)
	if b.Ex {
		return c <= 0
	}
	return c < 0
}

func lexWithinMax(m []byte, b ZLexBound) bool {
	switch b.Inf {
	case -1:
		return false
	case 1:
		return true
	}
	c := bytes.Compare(m, b.V)
	if b.Ex {
		return c < 0
	}
	return c <= 0
}

// span resolves q to the rank it starts from and how many elements it takes, walking
// descending from there with q.Rev.
func (v *zview) span(q ZQuery) (from, n int) {
	size := int64(v.len())
	var lo, hi int64 // ascending ranks [lo, hi)
	switch q.By {
	case ZByRank:
		start, stop := q.Start, q.Stop
		if start < 0 {
			start += size
		}
		if stop < 0 {
			stop += size
		}
		start = max(start, 0)
		if start > stop || start >= size {
			return 0, 0
		}
		stop = min(stop, size-1)
		if q.Rev {
			return int(size - 1 - start), int(stop - start + 1)
		}
		return int(start), int(stop - start + 1)
	case ZByScore:
		lo = int64(v.seek(func(_ []byte, sc float64) bool { return q.Score.belowMin(sc) }))
		hi = int64(v.seek(func(_ []byte, sc float64) bool { return q.Score.withinMax(sc) }))
	case ZByLex:
		lo = int64(v.seek(func(m []byte, _ float64) bool { return lexBelowMin(m, q.LexMin) }))
		hi = int64(v.seek(func(m []byte, _ float64) bool { return lexWithinMax(m, q.LexMax) }))
	}
	if hi <= lo || q.Offset < 0 || q.Offset >= hi-lo {
		return 0, 0
	}
	count := hi - lo - q.Offset
	if q.Limit >= 0 {
		count = min(count, q.Limit)
	}
	if q.Rev {
		return int(hi - 1 - q.Offset), int(count)
	}
	return int(lo + q.Offset), int(count)
}

// ZRange returns copies of the elements q selects from the sorted set at key.
func (s *Store) ZRange(key []byte, q ZQuery) (out []ZEntry, err error) {
	_, err = s.zread(key, func(v *zview) {
		from, n := v.span(q)
		out = v.copyRange(from, n, q.Rev)
	})
	return out, err
}

// ZCount is the number of elements q (by score or lex) selects.
func (s *Store) ZCount(key []byte, q ZQuery) (n int64, err error) {
	q.Limit = -1
	_, err = s.zread(key, func(v *zview) {
		_, c := v.span(q)
		n = int64(c)
	})
	return n, err
}

// zreplace makes dst hold the sorted set ents (deleting it when empty), journaling its
// whole value; sl is locked and room checked, build picks the encoding.
func (s *Store) zreplace(sl *slot, dst []byte, ents []ZEntry, build zbuild) error {
	old, had := s.lookupW(sl, dst)
	if had {
		s.remove(sl, &old)
	}
	if len(ents) > 0 {
		if err := s.zsetPut(sl, dst, record{}, false, ents, 0, build); err != nil {
			return err
		}
	}
	if had || len(ents) > 0 {
		s.journalKey(sl, dst)
	}
	return nil
}

// ZRangeStore stores the elements q selects from src as the sorted set dst (which shares
// src's slot), replacing it, and returns how many there are.
func (s *Store) ZRangeStore(dst, src []byte, q ZQuery) (int64, error) {
	sl := s.slotOf(dst)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, src, KindZSet, true)
	if err != nil {
		return 0, err
	}
	var ents []ZEntry
	if ok {
		v := s.zopen(sl, &r)
		from, n := v.span(q)
		ents = v.copyRange(from, n, q.Rev)
	}
	if err := s.room(zentsLen(ents) + recordLen(dst, 0, zsetLargeBody)); len(ents) > 0 && err != nil {
		return 0, err
	}
	build := zIncremental
	if q.By == ZByRank {
		build = zSized
	}
	return int64(len(ents)), s.zreplace(sl, dst, ents, build)
}

// ZRemRange removes the elements q selects (by rank, score or lex; Rev, Offset and Limit
// unset) and returns how many.
func (s *Store) ZRemRange(key []byte, q ZQuery) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindZSet, true)
	if !ok {
		return 0, err
	}
	q.Rev, q.Offset, q.Limit = false, 0, -1
	v := s.zopen(sl, &r)
	from, n := v.span(q)
	if n == 0 {
		return 0, nil
	}
	members := entMembers(v.copyRange(from, n, false))
	if _, err := s.zsetRem(sl, r, members); err != nil {
		return 0, err
	}
	s.journalZRem(sl, key, members)
	return int64(n), nil
}

// zpop removes up to count elements with the lowest (or, with top, the highest) scores
// from the live sorted set record r of key and returns them.
func (s *Store) zpop(sl *slot, key []byte, r record, top bool, count int64) ([]ZEntry, error) {
	v := s.zopen(sl, &r)
	n := int(min(count, int64(v.len())))
	from := 0
	if top {
		from = v.len() - 1
	}
	out := v.copyRange(from, n, top)
	if len(out) == 0 {
		return nil, nil
	}
	members := entMembers(out)
	if _, err := s.zsetRem(sl, r, members); err != nil {
		return nil, err
	}
	s.journalZRem(sl, key, members)
	return out, nil
}

// ZPop removes and returns up to count elements with the lowest scores (the highest with
// top) from the sorted set at key, as ZPOPMIN and ZPOPMAX do; ok is false when the key
// does not exist. A blocking pop calls it when a key it waits for may have members.
func (s *Store) ZPop(key []byte, top bool, count int64) (out []ZEntry, ok bool, err error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok, err := s.typed(sl, key, KindZSet, true)
	if !ok || count <= 0 {
		return nil, ok, err
	}
	out, err = s.zpop(sl, key, r, top, count)
	return out, true, err
}

// ZMPop pops up to count elements from the first non-empty sorted set of keys (which share
// one slot), as ZMPOP does, and returns its key; key is nil when all are empty. A key of
// another type before it fails with ErrWrongType.
func (s *Store) ZMPop(keys [][]byte, top bool, count int64) (key []byte, out []ZEntry, err error) {
	sl := s.slotOf(keys[0])
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for _, k := range keys {
		r, ok, err := s.typed(sl, k, KindZSet, true)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		out, err = s.zpop(sl, k, r, top, count)
		return k, out, err
	}
	return nil, nil, nil
}

// ZRandMember returns random elements of the sorted set at key as ZRANDMEMBER with a count
// does: count > 0, that many distinct ones (at most the whole set, then in order); count
// < 0, -count drawn independently.
func (s *Store) ZRandMember(key []byte, count int64) (out []ZEntry, err error) {
	_, err = s.zread(key, func(v *zview) {
		n := int64(v.len())
		pick := func() ZEntry {
			var e ZEntry
			v.each(rand.IntN(int(n)), false, func(m []byte, sc float64) bool {
				e = ZEntry{cloneBytes(m), sc}
				return false
			})
			return e
		}
		switch {
		case count == 0:
		case count < 0:
			out = make([]ZEntry, 0, min(-count, 1<<20))
			for range -count {
				out = append(out, pick())
			}
		case count >= n:
			out = v.copyRange(0, int(n), false)
		case count*3 > n:
			all := v.copyRange(0, int(n), false)
			for i := range count {
				j := i + rand.Int64N(n-i)
				all[i], all[j] = all[j], all[i]
			}
			out = all[:count]
		default:
			seen := make(map[string]struct{}, count)
			for int64(len(out)) < count {
				e := pick()
				if _, dup := seen[string(e.Member)]; dup {
					continue
				}
				seen[string(e.Member)] = struct{}{}
				out = append(out, e)
			}
		}
	})
	return out, err
}

// ZAgg is how ZUNION and ZINTER combine the scores of a member found in several sets.
type ZAgg uint8

// The AGGREGATE options.
const (
	ZAggSum ZAgg = iota
	ZAggMin
	ZAggMax
)

func (a ZAgg) combine(x, y float64) float64 {
	// Redis's comparisons: of two equal scores (0 and -0) the first stays.
	switch a {
	case ZAggMin:
		if y < x {
			return y
		}
		return x
	case ZAggMax:
		if y > x {
			return y
		}
		return x
	}
	if r := x + y; !math.IsNaN(r) {
		return r
	}
	return 0
}

// zinput is one source of a sorted-set operation: a sorted set or a set (scores 1).
type zinput struct {
	n     int
	has   func(m []byte) (float64, bool)
	each  func(fn func(m []byte, sc float64))
	empty bool
}

// zinputs opens the sources at keys (missing: empty); another type fails with
// ErrWrongType. The slot is locked (write: for writing).
func (s *Store) zinputs(sl *slot, keys [][]byte, write bool) ([]zinput, error) {
	recs := make([]*record, len(keys))
	for i, k := range keys {
		var r record
		var ok bool
		if write {
			r, ok = s.lookupW(sl, k)
		} else {
			r, ok = s.lookup(sl, k)
		}
		if ok && r.kind() != KindZSet && r.kind() != KindSet {
			return nil, ErrWrongType
		}
		if ok {
			recs[i] = &r
		}
	}
	if write {
		// Collecting an expired key may have moved the entries found before it.
		for i, k := range keys {
			if recs[i] != nil {
				r, _ := s.find(sl, k)
				recs[i] = &r
			}
		}
	}
	in := make([]zinput, len(keys))
	for i, r := range recs {
		switch {
		case r == nil:
			in[i] = zinput{empty: true, has: func([]byte) (float64, bool) { return 0, false }, each: func(func([]byte, float64)) {}}
		case r.kind() == KindSet:
			in[i] = zinput{
				n:    s.setLen(sl, r),
				has:  func(m []byte) (float64, bool) { return 1, s.setHas(sl, r, m) },
				each: func(fn func([]byte, float64)) { s.setEach(sl, r, func(m []byte) { fn(m, 1) }) },
			}
		default:
			v := s.zopen(sl, r)
			in[i] = zinput{
				n:   v.len(),
				has: v.score,
				each: func(fn func([]byte, float64)) {
					v.each(0, false, func(m []byte, sc float64) bool { fn(m, sc); return true })
				},
			}
		}
	}
	return in, nil
}

// ZOp is a sorted-set algebra operation.
type ZOp uint8

// The operations of ZUNION, ZINTER and ZDIFF.
const (
	ZUnion ZOp = iota
	ZInter
	ZDiff
)

// weighted is w×sc, 0 where that is NaN (0×inf), as Redis takes it.
func weighted(w, sc float64) float64 {
	if r := w * sc; !math.IsNaN(r) {
		return r
	}
	return 0
}

// zalgebra computes op over the inputs, weights (nil: all 1) and agg applying, stopping at
// limit members (0: none) and returning the result sorted.
func zalgebra(op ZOp, in []zinput, weights []float64, agg ZAgg, limit int) []ZEntry {
	w := func(i int) float64 {
		if weights == nil {
			return 1
		}
		return weights[i]
	}
	var out []ZEntry
	switch op {
	case ZUnion:
		// Smallest first, as Redis walks them.
		order := make([]int, len(in))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return in[a].n - in[b].n })
		idx := map[string]int{}
		for _, i := range order {
			in[i].each(func(m []byte, sc float64) {
				sc = weighted(w(i), sc)
				if j, ok := idx[string(m)]; ok {
					out[j].Score = agg.combine(out[j].Score, sc)
					return
				}
				idx[string(m)] = len(out)
				out = append(out, ZEntry{cloneBytes(m), sc})
			})
		}
	case ZInter:
		if len(in) == 0 {
			return nil
		}
		order := make([]int, len(in))
		for i := range order {
			order[i] = i
			if in[i].empty {
				return nil
			}
		}
		slices.SortStableFunc(order, func(a, b int) int { return in[a].n - in[b].n })
		first := order[0]
		in[first].each(func(m []byte, sc float64) {
			if limit > 0 && len(out) >= limit {
				return
			}
			score := weighted(w(first), sc)
			for _, j := range order[1:] {
				o, ok := in[j].has(m)
				if !ok {
					return
				}
				score = agg.combine(score, weighted(w(j), o))
			}
			out = append(out, ZEntry{cloneBytes(m), score})
		})
	case ZDiff:
		in[0].each(func(m []byte, sc float64) {
			for _, o := range in[1:] {
				if _, ok := o.has(m); ok {
					return
				}
			}
			out = append(out, ZEntry{cloneBytes(m), sc})
		})
	}
	slices.SortFunc(out, func(a, b ZEntry) int { return zcmp(a.Score, a.Member, b.Score, b.Member) })
	return out
}

// ZAlgebra returns the union, intersection or difference of the sorted sets (or sets) at
// keys, which share one slot, in order.
func (s *Store) ZAlgebra(op ZOp, keys [][]byte, weights []float64, agg ZAgg) ([]ZEntry, error) {
	sl := s.slotOf(keys[0])
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	in, err := s.zinputs(sl, keys, false)
	if err != nil {
		return nil, err
	}
	return zalgebra(op, in, weights, agg, 0), nil
}

// ZInterCard is the size of the intersection of the sorted sets at keys, counting stops
// at limit (0: none).
func (s *Store) ZInterCard(keys [][]byte, limit int) (int64, error) {
	sl := s.slotOf(keys[0])
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	in, err := s.zinputs(sl, keys, false)
	if err != nil {
		return 0, err
	}
	return int64(len(zalgebra(ZInter, in, nil, ZAggSum, limit))), nil
}

// ZAlgebraStore stores the result of ZAlgebra as the sorted set dst (deleting it when
// empty) and returns its size. Past maxmemory it fails with ErrOOM and changes nothing.
func (s *Store) ZAlgebraStore(op ZOp, dst []byte, keys [][]byte, weights []float64, agg ZAgg) (int64, error) {
	sl := s.slotOf(dst)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	in, err := s.zinputs(sl, keys, true)
	if err != nil {
		return 0, err
	}
	out := zalgebra(op, in, weights, agg, 0)
	if len(out) > 0 {
		if err := s.room(zentsLen(out) + recordLen(dst, 0, zsetLargeBody)); err != nil {
			return 0, err
		}
	}
	return int64(len(out)), s.zreplace(sl, dst, out, zWhole)
}

// ZScan returns members and scores (formatted) of the sorted set at key from cursor, as
// SScan does for sets; a small sorted set is returned whole.
func (s *Store) ZScan(key []byte, cursor uint64, pattern []byte, count int) (uint64, [][]byte, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok, err := s.typed(sl, key, KindZSet, false)
	if !ok {
		return 0, nil, err
	}
	var out [][]byte
	take := func(m []byte, sc float64) {
		if pattern == nil || Match(pattern, m) {
			out = append(out, cloneBytes(m), FormatScore(nil, sc))
		}
	}
	if !r.table() {
		for _, e := range decodeSmallZ(r.body, nil) {
			take(e.Member, e.Score)
		}
		return 0, out, nil
	}
	t := sl.tables[handleOf(r.body)]
	seen := 0
	visit := func(ref slab.Ref) {
		seen++
		take(zrec(s.arena.Bytes(ref)))
	}
	for steps := 10 * count; ; steps-- {
		cursor = t.Scan(s.arena, cursor, visit)
		if cursor == 0 || steps <= 0 || seen >= count {
			return cursor, out, nil
		}
	}
}

// journalZAdd journals new scores of members (opZAdd).
func (s *Store) journalZAdd(sl *slot, key []byte, ents []ZEntry) {
	if !s.journaling() {
		return
	}
	s.emit(sl, func(b []byte) []byte {
		b = append(b, opZAdd)
		b = appendBytes(b, key)
		return appendZEnts(b, ents)
	})
}

func appendZEnts(b []byte, ents []ZEntry) []byte {
	b = binary.AppendUvarint(b, uint64(len(ents)))
	for _, e := range ents {
		b = appendBytes(b, e.Member)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.Score))
	}
	return b
}

// journalZRem journals members no longer in the sorted set at key (opZRem).
func (s *Store) journalZRem(sl *slot, key []byte, members [][]byte) {
	if !s.journaling() {
		return
	}
	s.journalMembers(sl, opZRem, key, members)
}

// zents reads a count of (member, score) pairs.
func (r *opReader) zents() []ZEntry {
	n := r.count()
	out := make([]ZEntry, 0, n)
	for range n {
		m := r.bytes()
		if r.err != nil || len(r.b) < 8 {
			r.err = ErrBadOp
			return nil
		}
		sc := math.Float64frombits(le64(r.b))
		r.b = r.b[8:]
		if math.IsNaN(sc) {
			r.err = ErrBadOp
			return nil
		}
		out = append(out, ZEntry{m, sc})
	}
	return out
}
