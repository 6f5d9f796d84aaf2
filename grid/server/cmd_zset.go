package server

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// Sorted-set commands. Argument checks follow Redis 7.0's t_zset.c in its order: options
// and ranges are parsed before the key is looked up; scores are replied as %.17g (RESP3
// doubles).

const (
	errMinMaxFloat = "ERR min or max is not a float"
	errMinMaxLex   = "ERR min or max not valid string range item"
)

// zsetCommands is the sorted-set part of the command table.
func zsetCommands() []*command {
	// The *STORE forms: COMMAND reports the destination (1 1 1), routing checks the keys
	// counted at 2 (the handler checks the destination's slot).
	numKeysAt2 := keyed{1, 1, 1, numKeys(2)}
	counted := func(at int, flags ...string) keySpec {
		return keySpec{flags: flags, index: at, keyStep: 1, keyNum: true, firstKey: 1}
	}
	roAccess := []string{"RO", "access"}
	return []*command{
		def("zadd", -4, wr|oom|fast, oneKey, "sorted-set", "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", cmdZAdd),
		def("zincrby", 4, wr|oom|fast, oneKey, "sorted-set", "1.2.0", "Increments the score of a member in a sorted set.", cmdZIncrBy),
		def("zrem", -3, wr|fast, oneKey, "sorted-set", "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", cmdZRem),
		def("zscore", 3, ro|fast, oneKey, "sorted-set", "1.2.0", "Returns the score of a member in a sorted set.", cmdZScore),
		def("zmscore", -3, ro|fast, oneKey, "sorted-set", "6.2.0", "Returns the score of one or more members in a sorted set.", cmdZMScore),
		def("zcard", 2, ro|fast, oneKey, "sorted-set", "1.2.0", "Returns the number of members in a sorted set.", cmdZCard),
		def("zcount", 4, ro|fast, oneKey, "sorted-set", "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", zcount(store.ZByScore)),
		def("zlexcount", 4, ro|fast, oneKey, "sorted-set", "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", zcount(store.ZByLex)),
		def("zrange", -4, ro, oneKey, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes.", zrange(zrangeAuto, false, false)),
		withSpecs(def("zrangestore", -5, wr|oom, twoKeys, "sorted-set", "6.2.0", "Stores a range of members from sorted set in a key.", cmdZRangeStore), spec(1, "OW", "update"), spec(2, "RO", "access")),
		def("zrevrange", -4, ro, oneKey, "sorted-set", "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", zrange(store.ZByRank, true, true)),
		def("zrangebyscore", -4, ro, oneKey, "sorted-set", "1.0.5", "Returns members in a sorted set within a range of scores.", zrange(store.ZByScore, false, true)),
		def("zrevrangebyscore", -4, ro, oneKey, "sorted-set", "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", zrange(store.ZByScore, true, true)),
		def("zrangebylex", -4, ro, oneKey, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range.", zrange(store.ZByLex, false, true)),
		def("zrevrangebylex", -4, ro, oneKey, "sorted-set", "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", zrange(store.ZByLex, true, true)),
		def("zrank", 3, ro|fast, oneKey, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", zrank(false)),
		def("zrevrank", 3, ro|fast, oneKey, "sorted-set", "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", zrank(true)),
		def("zpopmin", -2, wr|fast, oneKey, "sorted-set", "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zpop(false)),
		def("zpopmax", -2, wr|fast, oneKey, "sorted-set", "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zpop(true)),
		withSpecs(def("zmpop", -4, wr|mov, numKeysAt1, "sorted-set", "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", cmdZMPop), counted(1, "RW", "access", "delete")),
		def("zrandmember", -2, ro, oneKey, "sorted-set", "6.2.0", "Returns one or more random members from a sorted set.", cmdZRandMember),
		withSpecs(def("zunion", -3, ro|mov, numKeysAt1, "sorted-set", "6.2.0", "Returns the union of multiple sorted sets.", zalgebra(store.ZUnion, false)), counted(1, roAccess...)),
		withSpecs(def("zinter", -3, ro|mov, numKeysAt1, "sorted-set", "6.2.0", "Returns the intersect of multiple sorted sets.", zalgebra(store.ZInter, false)), counted(1, roAccess...)),
		withSpecs(def("zdiff", -3, ro|mov, numKeysAt1, "sorted-set", "6.2.0", "Returns the difference between multiple sorted sets.", zalgebra(store.ZDiff, false)), counted(1, roAccess...)),
		withSpecs(def("zunionstore", -4, wr|oom|mov, numKeysAt2, "sorted-set", "2.0.0", "Stores the union of multiple sorted sets in a key.", zalgebra(store.ZUnion, true)), spec(1, "OW", "update"), counted(2, roAccess...)),
		withSpecs(def("zinterstore", -4, wr|oom|mov, numKeysAt2, "sorted-set", "2.0.0", "Stores the intersect of multiple sorted sets in a key.", zalgebra(store.ZInter, true)), spec(1, "OW", "update"), counted(2, roAccess...)),
		withSpecs(def("zdiffstore", -4, wr|oom|mov, numKeysAt2, "sorted-set", "6.2.0", "Stores the difference of multiple sorted sets in a key.", zalgebra(store.ZDiff, true)), spec(1, "OW", "update"), counted(2, roAccess...)),
		withSpecs(def("zintercard", -3, ro|mov, numKeysAt1, "sorted-set", "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", zalgebraCard(store.ZInter, false, true)), counted(1, roAccess...)),
		def("zremrangebyscore", 4, wr, oneKey, "sorted-set", "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", zremrange(store.ZByScore)),
		def("zremrangebyrank", 4, wr, oneKey, "sorted-set", "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", zremrange(store.ZByRank)),
		def("zremrangebylex", 4, wr, oneKey, "sorted-set", "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", zremrange(store.ZByLex)),
		def("zscan", -3, ro, oneKey, "sorted-set", "2.8.0", "Iterates over members and scores of a sorted set.", cmdZScan),
	}
}

// strtod parses b whole as C's strtod does (decimal or hexadecimal, inf, infinity, nan,
// no leading space); erange reports an overflow or an underflow to zero, as errno ERANGE.
func strtod(b []byte) (f float64, erange, ok bool) {
	if len(b) == 0 || bytes.IndexByte(b, '_') >= 0 || b[0] == ' ' {
		return 0, false, false
	}
	s := string(b)
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	hex := len(body) > 2 && (body[:2] == "0x" || body[:2] == "0X")
	if hex && !strings.ContainsAny(body, "pP") {
		s += "p0"
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, true, true
		}
		return 0, false, false
	}
	if f == 0 {
		// An underflow to zero: a mantissa with a non-zero digit.
		mant := body
		if hex {
			mant = mant[2:]
		}
		if k := strings.IndexAny(mant, "eEpP"); k >= 0 && (hex || !strings.ContainsAny(mant[:k], "pP")) {
			if hex {
				k = strings.IndexAny(mant, "pP")
			}
			mant = mant[:k]
		}
		digits := "123456789"
		if hex {
			digits += "abcdefABCDEF"
		}
		if strings.ContainsAny(mant, digits) {
			return 0, true, true
		}
	}
	return f, false, true
}

// parseScore parses a score or weight as Redis's getDoubleFromObject does: strtod over
// the whole argument, no NaN, no overflow or underflow to zero.
func parseScore(b []byte) (float64, bool) {
	f, erange, ok := strtod(b)
	if !ok || erange || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func (c *conn) writeZEntries(ents []store.ZEntry, err error, withScores bool) {
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.writeZList(ents, withScores, c.wr.Proto >= 3)
}

// writeZList writes ents as an array: members, or with scores member/score pairs, nested
// in two-element arrays when nested (RESP3) and flat otherwise.
func (c *conn) writeZList(ents []store.ZEntry, withScores, nested bool) {
	switch {
	case !withScores:
		c.wr.Array(len(ents))
		for _, e := range ents {
			c.wr.Bulk(e.Member)
		}
	case nested:
		c.wr.Array(len(ents))
		for _, e := range ents {
			c.wr.Array(2)
			c.wr.Bulk(e.Member)
			c.wr.Double(e.Score)
		}
	default:
		c.wr.Array(2 * len(ents))
		for _, e := range ents {
			c.wr.Bulk(e.Member)
			c.wr.Double(e.Score)
		}
	}
}

func cmdZAdd(c *conn, args [][]byte) { zadd(c, args, store.ZAddFlags{}) }

func cmdZIncrBy(c *conn, args [][]byte) { zadd(c, args, store.ZAddFlags{Incr: true}) }

// zadd is ZADD and ZINCRBY (which is ZADD INCR).
func zadd(c *conn, args [][]byte, f store.ZAddFlags) {
	ch := false
	i := 2
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case eqFold(a, "nx"):
			f.NX = true
		case eqFold(a, "xx"):
			f.XX = true
		case eqFold(a, "gt"):
			f.GT = true
		case eqFold(a, "lt"):
			f.LT = true
		case eqFold(a, "ch"):
			ch = true
		case eqFold(a, "incr"):
			f.Incr = true
		default:
			goto elements
		}
	}
elements:
	n := len(args) - i
	switch {
	case n == 0 || n%2 != 0:
		c.wr.Error(errSyntax)
		return
	case f.NX && f.XX:
		c.wr.Error("ERR XX and NX options at the same time are not compatible")
		return
	case (f.GT && f.NX) || (f.LT && f.NX) || (f.GT && f.LT):
		c.wr.Error("ERR GT, LT, and/or NX options at the same time are not compatible")
		return
	case f.Incr && n > 2:
		c.wr.Error("ERR INCR option supports a single increment-element pair")
		return
	}
	members := make([][]byte, 0, n/2)
	scores := make([]float64, 0, n/2)
	for ; i+1 < len(args); i += 2 {
		sc, ok := parseScore(args[i])
		if !ok {
			c.wr.Error(errNotFloat)
			return
		}
		scores = append(scores, sc)
		members = append(members, args[i+1])
	}
	res, err := c.s.store.ZAdd(args[1], f, members, scores)
	if err == nil && res.Added+res.Updated > 0 {
		event := "zadd"
		if f.Incr {
			event = "zincr"
		}
		c.notify(notifyZSet, event, args[1])
	}
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case f.Incr && !res.Processed:
		c.wr.Null()
	case f.Incr:
		c.wr.Double(res.Score)
	case ch:
		c.wr.Int(res.Added + res.Updated)
	default:
		c.wr.Int(res.Added)
	}
}

func cmdZRem(c *conn, args [][]byte) {
	n, err := c.s.store.ZRem(args[1], args[2:])
	if n > 0 {
		c.notifyRemoved(notifyZSet, "zrem", args[1])
	}
	c.replyInt(n, err)
}

func cmdZCard(c *conn, args [][]byte) { c.replyInt(c.s.store.ZCard(args[1])) }

func cmdZScore(c *conn, args [][]byte) {
	sc, ok, err := c.s.store.ZScore(args[1], args[2])
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case !ok:
		c.wr.Null()
	default:
		c.wr.Double(sc)
	}
}

func cmdZMScore(c *conn, args [][]byte) {
	scores, found, err := c.s.store.ZMScore(args[1], args[2:])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Array(len(scores))
	for i, sc := range scores {
		if found[i] {
			c.wr.Double(sc)
		} else {
			c.wr.Null()
		}
	}
}

// parseScoreRange parses a BYSCORE range as zslParseRange does: "(" makes an end exclusive.
func parseScoreRange(minArg, maxArg []byte) (store.ZScoreRange, bool) {
	var r store.ZScoreRange
	var ok1, ok2 bool
	r.Min, r.MinEx, ok1 = parseScoreBound(minArg)
	r.Max, r.MaxEx, ok2 = parseScoreBound(maxArg)
	return r, ok1 && ok2
}

func parseScoreBound(b []byte) (float64, bool, bool) {
	ex := len(b) > 0 && b[0] == '('
	if ex {
		b = b[1:]
	}
	// zslParseRange takes strtod's answer as it is: leading space skipped, nothing at
	// all 0, an overflow infinite.
	b = bytes.TrimLeft(b, " \t\n\v\f\r")
	if len(b) == 0 {
		return 0, ex, true
	}
	f, _, ok := strtod(b)
	return f, ex, ok && !math.IsNaN(f)
}

// parseLexBound parses one end of a BYLEX range: "-", "+", "[member" or "(member".
func parseLexBound(b []byte) (store.ZLexBound, bool) {
	switch {
	case len(b) == 1 && b[0] == '-':
		return store.ZLexBound{Inf: -1}, true
	case len(b) == 1 && b[0] == '+':
		return store.ZLexBound{Inf: 1}, true
	case len(b) > 0 && b[0] == '[':
		return store.ZLexBound{V: b[1:]}, true
	case len(b) > 0 && b[0] == '(':
		return store.ZLexBound{V: b[1:], Ex: true}, true
	}
	return store.ZLexBound{}, false
}

// parseRange fills q's range from the min and max arguments for its kind, answering the
// error when they do not parse.
func (c *conn) parseRange(q *store.ZQuery, minArg, maxArg []byte) bool {
	switch q.By {
	case store.ZByRank:
		var ok1, ok2 bool
		q.Start, ok1 = parseInt(minArg)
		q.Stop, ok2 = parseInt(maxArg)
		if !ok1 || !ok2 {
			c.wr.Error(errNotInteger)
			return false
		}
	case store.ZByScore:
		var ok bool
		if q.Score, ok = parseScoreRange(minArg, maxArg); !ok {
			c.wr.Error(errMinMaxFloat)
			return false
		}
	case store.ZByLex:
		var ok1, ok2 bool
		q.LexMin, ok1 = parseLexBound(minArg)
		q.LexMax, ok2 = parseLexBound(maxArg)
		if !ok1 || !ok2 {
			c.wr.Error(errMinMaxLex)
			return false
		}
	}
	return true
}

func zcount(by store.ZBy) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		q := store.ZQuery{By: by}
		if !c.parseRange(&q, args[2], args[3]) {
			return
		}
		c.replyInt(c.s.store.ZCount(args[1], q))
	}
}

// zrangeAuto is ZRANGE's kind before its options pick one.
const zrangeAuto store.ZBy = 255

// parseZRange parses a ZRANGE-family command whose source key is args[at] (its range
// after it), as zrangeGenericCommand does; fixed commands (ZREVRANGE, ZRANGEBYSCORE...)
// take no BYSCORE, BYLEX or REV. It answers the error itself.
func (c *conn) parseZRange(args [][]byte, at int, by store.ZBy, rev, fixed, storing bool) (q store.ZQuery, withScores, ok bool) {
	q = store.ZQuery{By: by, Rev: rev, Limit: -1}
	for j := at + 3; j < len(args); j++ {
		a := args[j]
		left := len(args) - j - 1
		switch {
		case !storing && eqFold(a, "withscores"):
			withScores = true
		case eqFold(a, "limit") && left >= 2:
			var ok1, ok2 bool
			if q.Offset, ok1 = parseInt(args[j+1]); !ok1 {
				c.wr.Error(errNotInteger)
				return q, false, false
			}
			if q.Limit, ok2 = parseInt(args[j+2]); !ok2 {
				c.wr.Error(errNotInteger)
				return q, false, false
			}
			j += 2
		case !fixed && !q.Rev && eqFold(a, "rev"):
			q.Rev = true
		case !fixed && q.By == zrangeAuto && eqFold(a, "bylex"):
			q.By = store.ZByLex
		case !fixed && q.By == zrangeAuto && eqFold(a, "byscore"):
			q.By = store.ZByScore
		default:
			c.wr.Error(errSyntax)
			return q, false, false
		}
	}
	if q.By == zrangeAuto {
		q.By = store.ZByRank
	}
	if q.Limit != -1 && q.By == store.ZByRank {
		c.wr.Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
		return q, false, false
	}
	if withScores && q.By == store.ZByLex {
		c.wr.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
		return q, false, false
	}
	minArg, maxArg := args[at+1], args[at+2]
	if q.Rev && q.By != store.ZByRank {
		minArg, maxArg = maxArg, minArg
	}
	if !c.parseRange(&q, minArg, maxArg) {
		return q, false, false
	}
	return q, withScores, true
}

func zrange(by store.ZBy, rev, fixed bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		q, withScores, ok := c.parseZRange(args, 1, by, rev, fixed, false)
		if !ok {
			return
		}
		ents, err := c.s.store.ZRange(args[1], q)
		c.writeZEntries(ents, err, withScores)
	}
}

func cmdZRangeStore(c *conn, args [][]byte) {
	q, _, ok := c.parseZRange(args, 2, zrangeAuto, false, false, true)
	if !ok {
		return
	}
	existed := c.s.notifying(notifyGeneric) && c.s.store.Exists(args[1])
	n, err := c.s.store.ZRangeStore(args[1], args[2], q)
	if err == nil {
		c.notifyStored(notifyZSet, "zrangestore", args[1], n > 0, existed)
	}
	c.replyInt(n, err)
}

func zremrange(by store.ZBy) func(c *conn, args [][]byte) {
	event := map[store.ZBy]string{store.ZByRank: "zremrangebyrank", store.ZByScore: "zremrangebyscore", store.ZByLex: "zremrangebylex"}[by]
	return func(c *conn, args [][]byte) {
		q := store.ZQuery{By: by, Limit: -1}
		if !c.parseRange(&q, args[2], args[3]) {
			return
		}
		n, err := c.s.store.ZRemRange(args[1], q)
		if n > 0 {
			c.notifyRemoved(notifyZSet, event, args[1])
		}
		c.replyInt(n, err)
	}
}

func zrank(rev bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		rank, ok, err := c.s.store.ZRank(args[1], args[2], rev)
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case !ok:
			c.wr.Null()
		default:
			c.wr.Int(rank)
		}
	}
}

// zpop is ZPOPMIN and ZPOPMAX: without a count a flat [member, score] (empty when the key
// is missing), with one a list, nested in RESP3.
func zpop(top bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		count := int64(1)
		switch len(args) {
		case 2:
		case 3:
			n, ok := parseInt(args[2])
			if !ok || n < 0 {
				c.wr.Error(errPositive)
				return
			}
			count = n
		default:
			c.wr.Error(errSyntax)
			return
		}
		out, _, err := c.s.store.ZPop(args[1], top, count)
		if err != nil {
			c.writeStoreErr(err)
			return
		}
		if len(out) > 0 {
			c.notifyRemoved(notifyZSet, zpopEvent(top), args[1])
		}
		c.writeZList(out, true, c.wr.Proto >= 3 && len(args) == 3)
	}
}

func cmdZMPop(c *conn, args [][]byte) {
	keys, top, count, ok := c.mpopArgs(args, 1, c.minMax)
	if !ok {
		return
	}
	key, out, err := c.s.store.ZMPop(keys, top, count)
	if key != nil && err == nil {
		c.notifyRemoved(notifyZSet, zpopEvent(top), key)
	}
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case key == nil:
		c.wr.NullArray()
	default:
		c.wr.Array(2)
		c.wr.Bulk(key)
		c.writeZList(out, true, true)
	}
}

func cmdZRandMember(c *conn, args [][]byte) {
	if len(args) == 2 {
		out, err := c.s.store.ZRandMember(args[1], 1)
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case len(out) == 0:
			c.wr.Null()
		default:
			c.wr.Bulk(out[0].Member)
		}
		return
	}
	n, ok := parseInt(args[2])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	withScores := false
	switch {
	case len(args) == 4 && eqFold(args[3], "withscores"):
		withScores = true
	case len(args) > 3:
		c.wr.Error(errSyntax)
		return
	}
	switch {
	case n == math.MinInt64:
		c.wr.Error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		return
	case withScores && n < -math.MaxInt64/2:
		c.wr.Error("ERR value is out of range")
		return
	case n < -maxRandomPicks:
		// As SRANDMEMBER: Redis 7.0 would stall every client building such a reply.
		c.wr.Error(fmt.Sprintf("ERR value is out of range, value must between %d and 9223372036854775807", -maxRandomPicks))
		return
	}
	out, err := c.s.store.ZRandMember(args[1], n)
	c.writeZEntries(out, err, withScores)
}

// sameSlot answers CROSSSLOT unless dst hashes to the slot of key (a *STORE destination
// outside the key range routing checked).
func (c *conn) sameSlot(dst, key []byte) bool {
	if slots.Of(dst) != slots.Of(key) {
		c.wr.Error(errCrossSlot)
		return false
	}
	return true
}

// zalgebra is ZUNION, ZINTER, ZDIFF and their STORE forms, parsed as
// zunionInterDiffGenericCommand does: the key count, the keys' types, then the options.
func zalgebra(op store.ZOp, storing bool) func(c *conn, args [][]byte) {
	return zalgebraCard(op, storing, false)
}

// zalgebraCard is zalgebra, or with card ZINTERCARD, which Redis parses the same way
// (LIMIT instead of WEIGHTS, AGGREGATE and WITHSCORES).
func zalgebraCard(op store.ZOp, storing, card bool) func(c *conn, args [][]byte) {
	names := map[store.ZOp]string{store.ZUnion: "zunion", store.ZInter: "zinter", store.ZDiff: "zdiff"}
	return func(c *conn, args [][]byte) {
		at := 1
		var dst []byte
		if storing {
			at, dst = 2, args[1]
		}
		n, ok := parseInt(args[at])
		if !ok {
			c.wr.Error(errNotInteger)
			return
		}
		if n < 1 {
			name := names[op]
			switch {
			case card:
				name = "zintercard"
			case storing:
				name += "store"
			}
			c.wr.Error(fmt.Sprintf("ERR at least 1 input key is needed for '%s' command", name))
			return
		}
		if n > int64(len(args)-at-1) {
			c.wr.Error(errSyntax)
			return
		}
		keys := args[at+1 : at+1+int(n)]
		if dst != nil && !c.sameSlot(dst, keys[0]) {
			return
		}
		for _, k := range keys {
			if t := c.s.store.Type(k); t != store.KindNone && t != store.KindZSet && t != store.KindSet {
				c.wr.Error(store.ErrWrongType.Error())
				return
			}
		}
		var weights []float64
		agg := store.ZAggSum
		withScores := false
		var limit int64
		for j := at + 1 + int(n); j < len(args); {
			left := len(args) - j
			switch a := args[j]; {
			case card && left >= 2 && eqFold(a, "limit"):
				var ok bool
				if limit, ok = parseInt(args[j+1]); !ok || limit < 0 {
					c.wr.Error("ERR LIMIT can't be negative")
					return
				}
				j += 2
			case card:
				c.wr.Error(errSyntax)
				return
			case op != store.ZDiff && left >= int(n)+1 && eqFold(a, "weights"):
				weights = make([]float64, n)
				for i := range weights {
					w, ok := parseScore(args[j+1+i])
					if !ok {
						c.wr.Error("ERR weight value is not a float")
						return
					}
					weights[i] = w
				}
				j += 1 + int(n)
			case op != store.ZDiff && left >= 2 && eqFold(a, "aggregate"):
				switch v := args[j+1]; {
				case eqFold(v, "sum"):
					agg = store.ZAggSum
				case eqFold(v, "min"):
					agg = store.ZAggMin
				case eqFold(v, "max"):
					agg = store.ZAggMax
				default:
					c.wr.Error(errSyntax)
					return
				}
				j += 2
			case !storing && eqFold(a, "withscores"):
				withScores = true
				j++
			default:
				c.wr.Error(errSyntax)
				return
			}
		}
		if card {
			c.replyInt(c.s.store.ZInterCard(keys, int(min(limit, math.MaxInt32))))
			return
		}
		if storing {
			existed := c.s.notifying(notifyGeneric) && c.s.store.Exists(dst)
			n, err := c.s.store.ZAlgebraStore(op, dst, keys, weights, agg)
			if err == nil {
				c.notifyStored(notifyZSet, names[op]+"store", dst, n > 0, existed)
			}
			c.replyInt(n, err)
			return
		}
		ents, err := c.s.store.ZAlgebra(op, keys, weights, agg)
		c.writeZEntries(ents, err, withScores)
	}
}

func cmdZScan(c *conn, args [][]byte) { c.keyScan(args, store.KindZSet, c.s.store.ZScan) }
