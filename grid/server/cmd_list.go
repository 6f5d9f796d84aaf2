package server

import (
	"math"

	"github.com/insightgrid/insight/grid/store"
)

// List commands (not the blocking ones). Argument checks follow Redis 7.0's t_list.c, in
// its order.

func push(left, xx bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		n, err := c.s.store.Push(args[1], args[2:], left, xx)
		if n > 0 {
			c.notify(notifyList, listEvent("push", left), args[1])
		}
		c.replyInt(n, err)
	}
}

func pop(left bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		switch len(args) {
		case 2:
			v, ok, err := c.s.store.PopOne(c.scratch[:0], args[1], left)
			if ok && err == nil {
				c.notifyRemoved(notifyList, listEvent("pop", left), args[1])
			}
			c.replyValue(v, ok, err)
			return
		case 3:
		default:
			c.wr.Error(errArity(c.lookup(c.s.cmds, args[0])))
			return
		}
		n, ok := parseInt(args[2])
		if !ok || n < 0 {
			c.wr.Error(errPositive)
			return
		}
		out, exists, err := c.s.store.Pop(args[1], left, n)
		if len(out) > 0 && err == nil {
			c.notifyRemoved(notifyList, listEvent("pop", left), args[1])
		}
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case !exists:
			c.wr.NullArray()
		default:
			c.writeMembers(out, nil, false)
		}
	}
}

func cmdLLen(c *conn, args [][]byte) { c.replyInt(c.s.store.LLen(args[1])) }

// intArgs parses integer arguments, answering Redis's error for the first bad one.
func (c *conn) intArgs(args ...[]byte) ([]int64, bool) {
	out := make([]int64, len(args))
	for i, a := range args {
		n, ok := parseInt(a)
		if !ok {
			c.wr.Error(errNotInteger)
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

func cmdLRange(c *conn, args [][]byte) {
	n, ok := c.intArgs(args[2], args[3])
	if !ok {
		return
	}
	// The elements go from the list into the reply buffer while the slot is read-locked:
	// the writer only appends, so no client can stall the slot.
	err := c.s.store.LRangeEach(args[1], n[0], n[1],
		func(n int) { c.wr.Array(n) },
		func(e []byte) { c.wr.Bulk(e) })
	if err != nil {
		c.writeStoreErr(err)
	}
}

func cmdLIndex(c *conn, args [][]byte) {
	// Redis looks the key up before it reads the index.
	switch c.s.store.Type(args[1]) {
	case store.KindList:
	case store.KindNone:
		c.wr.Null()
		return
	default:
		c.wr.Error(store.ErrWrongType.Error())
		return
	}
	n, ok := c.intArgs(args[2])
	if !ok {
		return
	}
	c.replyValue(c.s.store.LIndex(c.scratch[:0], args[1], n[0]))
}

func cmdLSet(c *conn, args [][]byte) {
	// Redis looks the key up before it reads the index.
	switch c.s.store.Type(args[1]) {
	case store.KindList:
	case store.KindNone:
		c.wr.Error(store.ErrNoSuchKey.Error())
		return
	default:
		c.wr.Error(store.ErrWrongType.Error())
		return
	}
	n, ok := c.intArgs(args[2])
	if !ok {
		return
	}
	if err := c.s.store.LSet(args[1], n[0], args[3]); err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyList, "lset", args[1])
	c.wr.OK()
}

func cmdLInsert(c *conn, args [][]byte) {
	var before bool
	switch {
	case eqFold(args[2], "before"):
		before = true
	case eqFold(args[2], "after"):
	default:
		c.wr.Error(errSyntax)
		return
	}
	n, err := c.s.store.LInsert(args[1], before, args[3], args[4])
	if n > 0 {
		c.notify(notifyList, "linsert", args[1])
	}
	c.replyInt(n, err)
}

func cmdLRem(c *conn, args [][]byte) {
	n, ok := c.intArgs(args[2])
	if !ok {
		return
	}
	removed, err := c.s.store.LRem(args[1], n[0], args[3])
	if removed > 0 {
		c.notifyRemoved(notifyList, "lrem", args[1])
	}
	c.replyInt(removed, err)
}

func cmdLTrim(c *conn, args [][]byte) {
	n, ok := c.intArgs(args[2], args[3])
	if !ok {
		return
	}
	// LTRIM sends "ltrim" for a list it trims to nothing too.
	existed := c.s.notifying(notifyList|notifyGeneric) && c.s.store.Type(args[1]) == store.KindList
	if err := c.s.store.LTrim(args[1], n[0], n[1]); err != nil {
		c.writeStoreErr(err)
		return
	}
	if existed {
		c.notifyRemoved(notifyList, "ltrim", args[1])
	}
	c.wr.OK()
}

func cmdLPos(c *conn, args [][]byte) {
	o := store.LPosOptions{Rank: 1}
	count := int64(-1)
	for i := 3; i < len(args); i++ {
		if i+1 >= len(args) {
			c.wr.Error(errSyntax)
			return
		}
		v, ok := parseInt(args[i+1])
		switch {
		case eqFold(args[i], "rank"):
			switch {
			case !ok:
				c.wr.Error(errNotInteger)
				return
			case v == math.MinInt64:
				// Redis 7.0 negates it (which leaves it negative): every match from the
				// tail ranks, so it acts as -1.
				v = -1
			case v == 0:
				c.wr.Error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
				return
			}
			o.Rank = v
		case eqFold(args[i], "count"):
			if !ok || v < 0 {
				c.wr.Error("ERR COUNT can't be negative")
				return
			}
			count = v
		case eqFold(args[i], "maxlen"):
			if !ok || v < 0 {
				c.wr.Error("ERR MAXLEN can't be negative")
				return
			}
			o.MaxLen = v
		default:
			c.wr.Error(errSyntax)
			return
		}
		i++
	}
	o.Count = max(count, 0)
	if count < 0 {
		o.Count = 1
	}
	found, err := c.s.store.LPos(args[1], args[2], o)
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case count >= 0:
		c.wr.Array(len(found))
		for _, i := range found {
			c.wr.Int(i)
		}
	case len(found) == 0:
		c.wr.Null()
	default:
		c.wr.Int(found[0])
	}
}

// side parses LEFT or RIGHT.
func (c *conn) side(b []byte) (left, ok bool) {
	switch {
	case eqFold(b, "left"):
		return true, true
	case eqFold(b, "right"):
		return false, true
	}
	c.wr.Error(errSyntax)
	return false, false
}

// minMax parses a sorted-set pop's end: MAX is the top.
func (c *conn) minMax(b []byte) (top, ok bool) {
	switch {
	case eqFold(b, "min"):
		return false, true
	case eqFold(b, "max"):
		return true, true
	}
	c.wr.Error(errSyntax)
	return false, false
}

func lmove(c *conn, src, dst []byte, fromLeft, toLeft bool) {
	e, ok, err := c.s.store.LMove(src, dst, fromLeft, toLeft)
	if ok && err == nil {
		c.notifyMove(src, dst, fromLeft, toLeft)
	}
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case !ok:
		c.wr.Null()
	default:
		c.wr.Bulk(e)
	}
}

func cmdLMove(c *conn, args [][]byte) {
	from, ok := c.side(args[3])
	if !ok {
		return
	}
	to, ok := c.side(args[4])
	if !ok {
		return
	}
	lmove(c, args[1], args[2], from, to)
}

func cmdRPopLPush(c *conn, args [][]byte) { lmove(c, args[1], args[2], false, true) }

func cmdLMPop(c *conn, args [][]byte) {
	keys, left, count, ok := c.mpopArgs(args, 1, c.side)
	if !ok {
		return
	}
	key, out, err := c.s.store.MPop(keys, left, count)
	if key != nil && err == nil {
		c.notifyRemoved(notifyList, listEvent("pop", left), key)
	}
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case key == nil:
		c.wr.NullArray()
	default:
		c.wr.Array(2)
		c.wr.Bulk(key)
		c.writeMembers(out, nil, false)
	}
}

// mpopArgs parses the numkeys (at args[at]), keys, end and COUNT of LMPOP, BLMPOP, ZMPOP
// and BZMPOP as Redis 7.0's lmpopGenericCommand and zmpopGenericCommand do, in their
// order; end parses the end word (LEFT|RIGHT: c.side, MIN|MAX: c.minMax).
func (c *conn) mpopArgs(args [][]byte, at int, end func([]byte) (bool, bool)) (keys [][]byte, first bool, count int64, ok bool) {
	n, ok := parseInt(args[at])
	if !ok || n < 1 {
		c.wr.Error("ERR numkeys should be greater than 0")
		return nil, false, 0, false
	}
	if n >= int64(len(args)) { // (at+1+n could overflow)
		c.wr.Error(errSyntax)
		return nil, false, 0, false
	}
	where := at + 1 + int(n)
	if where >= len(args) {
		c.wr.Error(errSyntax)
		return nil, false, 0, false
	}
	if first, ok = end(args[where]); !ok {
		return nil, false, 0, false
	}
	count = -1
	for i := where + 1; i < len(args); i++ {
		if count != -1 || !eqFold(args[i], "count") || i+1 >= len(args) {
			c.wr.Error(errSyntax)
			return nil, false, 0, false
		}
		i++
		if count, ok = parseInt(args[i]); !ok || count < 1 {
			c.wr.Error("ERR count should be greater than 0")
			return nil, false, 0, false
		}
	}
	return args[at+1 : where], first, max(count, 1), true
}
