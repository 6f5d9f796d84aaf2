package server

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// Set commands. Argument checks follow Redis 7.0's t_set.c, in its order: the count is
// parsed before the key is looked up, and a missing key answers like an empty set.

func (c *conn) writeMembers(members [][]byte, err error, asSet bool) {
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if asSet {
		c.wr.Set(len(members))
	} else {
		c.wr.Array(len(members))
	}
	for _, m := range members {
		c.wr.Bulk(m)
	}
}

func cmdSAdd(c *conn, args [][]byte) {
	n, err := c.s.store.SAdd(args[1], args[2:])
	if n > 0 {
		c.notify(notifySet, "sadd", args[1])
	}
	c.replyInt(n, err)
}

func cmdSRem(c *conn, args [][]byte) {
	n, err := c.s.store.SRem(args[1], args[2:])
	if n > 0 {
		c.notifyRemoved(notifySet, "srem", args[1])
	}
	c.replyInt(n, err)
}

func cmdSCard(c *conn, args [][]byte) { c.replyInt(c.s.store.SCard(args[1])) }

func cmdSMembers(c *conn, args [][]byte) {
	members, err := c.s.store.SMembers(args[1])
	c.writeMembers(members, err, true)
}

func cmdSIsMember(c *conn, args [][]byte) {
	ok, err := c.s.store.SIsMember(args[1], args[2])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Int(b2i(ok))
}

func cmdSMIsMember(c *conn, args [][]byte) {
	found, err := c.s.store.SMIsMember(args[1], args[2:])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Array(len(found))
	for _, ok := range found {
		c.wr.Int(b2i(ok))
	}
}

const errPositive = "ERR value is out of range, must be positive"

// maxRandomPicks bounds SRANDMEMBER's negative count (picks with repeats), whose reply
// does not shrink with the set.
const maxRandomPicks = 1 << 24

func cmdSPop(c *conn, args [][]byte) {
	switch len(args) {
	case 2:
		out, ok, err := c.s.store.SPop(args[1], 1)
		if ok && err == nil {
			c.notifyRemoved(notifySet, "spop", args[1])
		}
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case !ok:
			c.wr.Null()
		default:
			c.wr.Bulk(out[0])
		}
		return
	case 3:
	default:
		c.wr.Error(errSyntax)
		return
	}
	n, ok := parseInt(args[2])
	if !ok || n < 0 {
		c.wr.Error(errPositive)
		return
	}
	out, _, err := c.s.store.SPop(args[1], n)
	if len(out) > 0 && err == nil {
		c.notifyRemoved(notifySet, "spop", args[1])
	}
	c.writeMembers(out, err, true)
}

func cmdSRandMember(c *conn, args [][]byte) {
	switch len(args) {
	case 2:
		out, err := c.s.store.SRandMember(args[1], 1)
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case len(out) == 0:
			c.wr.Null()
		default:
			c.wr.Bulk(out[0])
		}
		return
	case 3:
	default:
		c.wr.Error(errSyntax)
		return
	}
	n, ok := parseInt(args[2])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	if n == math.MinInt64 {
		c.wr.Error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		return
	}
	if n < -maxRandomPicks {
		// Redis 7.0 would build the reply until it is done, stalling every client; here
		// such a count is refused.
		c.wr.Error(fmt.Sprintf("ERR value is out of range, value must between %d and 9223372036854775807", -maxRandomPicks))
		return
	}
	out, err := c.s.store.SRandMember(args[1], n)
	c.writeMembers(out, err, false)
}

func cmdSMove(c *conn, args [][]byte) {
	// SMOVE sends "sadd" only when the member was not in the destination already.
	had := false
	if c.s.notifying(notifySet) {
		had, _ = c.s.store.SIsMember(args[2], args[3])
	}
	ok, err := c.s.store.SMove(args[1], args[2], args[3])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if ok && !bytes.Equal(args[1], args[2]) {
		c.notifyRemoved(notifySet, "srem", args[1])
		if !had {
			c.notify(notifySet, "sadd", args[2])
		}
	}
	c.wr.Int(b2i(ok))
}

func setAlgebra(op store.SetOp) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		members, err := c.s.store.SetAlgebra(op, args[1:])
		c.writeMembers(members, err, true)
	}
}

func setAlgebraStore(op store.SetOp) func(c *conn, args [][]byte) {
	event := map[store.SetOp]string{store.SetInter: "sinterstore", store.SetUnion: "sunionstore", store.SetDiff: "sdiffstore"}[op]
	return func(c *conn, args [][]byte) {
		existed := c.s.notifying(notifyGeneric) && c.s.store.Exists(args[1])
		n, err := c.s.store.SetAlgebraStore(op, args[1], args[2:])
		if err == nil {
			c.notifyStored(notifySet, event, args[1], n > 0, existed)
		}
		c.replyInt(n, err)
	}
}

// numKeys locates the keys of a command whose argument at is their number (SINTERCARD,
// LMPOP): none when the number is not a count the arguments hold; the command then
// answers the error.
func numKeys(at int) func(args [][]byte) (first, last, step int) {
	return func(args [][]byte) (int, int, int) {
		if len(args) <= at {
			return 0, 0, 0
		}
		n, ok := parseInt(args[at])
		if !ok || n < 1 || n > int64(len(args)-at-1) {
			return 0, 0, 0
		}
		return at + 1, at + int(n), 1
	}
}

// keyCount parses the numkeys argument of SINTERCARD and LMPOP as Redis does.
func (c *conn) keyCount(args [][]byte, at int) (int, bool) {
	n, ok := parseInt(args[at])
	if !ok || n < 1 {
		c.wr.Error("ERR numkeys should be greater than 0")
		return 0, false
	}
	if n > int64(len(args)-at-1) {
		c.wr.Error("ERR Number of keys can't be greater than number of args")
		return 0, false
	}
	return int(n), true
}

func cmdSInterCard(c *conn, args [][]byte) {
	n, ok := c.keyCount(args, 1)
	if !ok {
		return
	}
	var limit int64
	for i := 2 + n; i < len(args); i++ {
		if !eqFold(args[i], "limit") || i+1 >= len(args) {
			c.wr.Error(errSyntax)
			return
		}
		i++
		if limit, ok = parseInt(args[i]); !ok || limit < 0 {
			c.wr.Error("ERR LIMIT can't be negative")
			return
		}
	}
	c.replyInt(c.s.store.SInterCard(args[2:2+n], int(min(limit, math.MaxInt32))))
}

// parseScanCursor parses a SCAN-family cursor as Redis does, with strtoul: an optional
// sign, decimal digits that fit 64 bits (a negative one wraps around), or nothing at all
// (cursor 0).
func (c *conn) parseScanCursor(b []byte) (uint64, bool) {
	digits, neg := b, false
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		digits, neg = b[1:], b[0] == '-'
	}
	cursor, err := strconv.ParseUint(string(digits), 10, 64)
	switch {
	case len(b) == 0:
		return 0, true
	case err != nil || digits[0] == '+' || digits[0] == '-':
		c.wr.Error("ERR invalid cursor")
		return 0, false
	case neg:
		return -cursor, true
	}
	return cursor, true
}

// scanOptions parses the MATCH and COUNT options of SSCAN (and HSCAN, ZSCAN).
func (c *conn) scanOptions(args [][]byte) (match []byte, count int, ok bool) {
	count = 10
	for i := 0; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.wr.Error(errSyntax)
			return nil, 0, false
		}
		v := args[i+1]
		switch {
		case eqFold(args[i], "count"):
			n, valid := parseInt(v)
			if !valid {
				c.wr.Error(errNotInteger)
				return nil, 0, false
			}
			if n < 1 {
				c.wr.Error(errSyntax)
				return nil, 0, false
			}
			count = int(min(n, 1<<20))
		case eqFold(args[i], "match"):
			match = v
			if len(v) == 1 && v[0] == '*' {
				match = nil
			}
		default:
			c.wr.Error(errSyntax)
			return nil, 0, false
		}
	}
	return match, count, true
}

func (c *conn) writeScan(cursor uint64, items [][]byte) {
	c.wr.Array(2)
	c.wr.BulkString(strconv.FormatUint(cursor, 10))
	c.wr.Array(len(items))
	for _, it := range items {
		c.wr.Bulk(it)
	}
}

func cmdSScan(c *conn, args [][]byte) { c.keyScan(args, store.KindSet, c.s.store.SScan) }
