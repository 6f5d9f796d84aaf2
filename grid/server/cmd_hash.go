package server

import (
	"fmt"
	"math"

	"github.com/insightgrid/insight/grid/store"
)

func hset(c *conn, args [][]byte, reply func(added int64)) {
	if len(args)%2 != 0 {
		c.wr.Error(errArity(c.lookup(c.s.cmds, args[0])))
		return
	}
	n, err := c.s.store.HSet(args[1], args[2:])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyHash, "hset", args[1])
	reply(n)
}

func cmdHSet(c *conn, args [][]byte)  { hset(c, args, c.wr.Int) }
func cmdHMSet(c *conn, args [][]byte) { hset(c, args, func(int64) { c.wr.OK() }) }

func cmdHGet(c *conn, args [][]byte) {
	c.replyValue(c.s.store.HGet(c.scratch[:0], args[1], args[2]))
}

func cmdHMGet(c *conn, args [][]byte) {
	vals, err := c.s.store.HMGet(args[1], args[2:])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Array(len(vals))
	for _, v := range vals {
		if v == nil {
			c.wr.Null()
			continue
		}
		c.wr.Bulk(v)
	}
}

func cmdHGetAll(c *conn, args [][]byte) {
	kv, err := c.s.store.HGetAll(args[1])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Map(len(kv) / 2)
	for _, b := range kv {
		c.wr.Bulk(b)
	}
}

func cmdHDel(c *conn, args [][]byte) {
	n, err := c.s.store.HDel(args[1], args[2:])
	if n > 0 {
		c.notifyRemoved(notifyHash, "hdel", args[1])
	}
	c.replyInt(n, err)
}

func cmdHLen(c *conn, args [][]byte) {
	c.replyInt(c.s.store.HLen(args[1]))
}

func cmdHExists(c *conn, args [][]byte) {
	ok, err := c.s.store.HExists(args[1], args[2])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Int(b2i(ok))
}

func cmdHIncrBy(c *conn, args [][]byte) {
	d, ok := parseInt(args[3])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	n, err := c.s.store.HIncrBy(args[1], args[2], d)
	if err == nil {
		c.notify(notifyHash, "hincrby", args[1])
	}
	c.replyInt(n, err)
}

func cmdHSetNX(c *conn, args [][]byte) {
	ok, err := c.s.store.HSetNX(args[1], args[2], args[3])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if ok {
		c.notify(notifyHash, "hset", args[1])
	}
	c.wr.Int(b2i(ok))
}

// hashHalf is HKEYS (every even item of HGETALL's) and HVALS (every odd one).
func hashHalf(values bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		kv, err := c.s.store.HGetAll(args[1])
		if err != nil {
			c.writeStoreErr(err)
			return
		}
		c.wr.Array(len(kv) / 2)
		for i := b2i(values); i < int64(len(kv)); i += 2 {
			c.wr.Bulk(kv[i])
		}
	}
}

func cmdHStrLen(c *conn, args [][]byte) {
	c.replyInt(c.s.store.HStrLen(args[1], args[2]))
}

// cmdHIncrByFloat checks its increment before the key, as Redis 7.0 does.
func cmdHIncrByFloat(c *conn, args [][]byte) {
	d, ok := store.ParseLongDouble(args[3])
	if !ok {
		c.wr.Error(errNotFloat)
		return
	}
	if d.IsInf() {
		c.wr.Error("ERR value is NaN or Infinity")
		return
	}
	v, err := c.s.store.HIncrByFloat(args[1], args[2], d)
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyHash, "hincrbyfloat", args[1])
	c.wr.Bulk(v)
}

// cmdHRandField parses its count and option before it looks at the key, as Redis does.
func cmdHRandField(c *conn, args [][]byte) {
	if len(args) == 2 {
		out, err := c.s.store.HRandField(args[1], 1, false)
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case len(out) == 0:
			c.wr.Null()
		default:
			c.wr.Bulk(out[0])
		}
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
	withValues := false
	if len(args) > 3 {
		if len(args) > 4 || !eqFold(args[3], "withvalues") {
			c.wr.Error(errSyntax)
			return
		}
		withValues = true
		if n < -math.MaxInt64/2 {
			c.wr.Error("ERR value is out of range")
			return
		}
	}
	if n < -maxRandomPicks {
		// As SRANDMEMBER: Redis 7.0 would stall every client building such a reply.
		c.wr.Error(fmt.Sprintf("ERR value is out of range, value must between %d and 9223372036854775807", -maxRandomPicks))
		return
	}
	out, err := c.s.store.HRandField(args[1], n, withValues)
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if withValues && c.wr.Proto >= 3 {
		// RESP3 answers each field and value as a pair.
		c.wr.Array(len(out) / 2)
		for i := 0; i+1 < len(out); i += 2 {
			c.wr.Array(2)
			c.wr.Bulk(out[i])
			c.wr.Bulk(out[i+1])
		}
		return
	}
	c.writeMembers(out, nil, false)
}

func cmdHScan(c *conn, args [][]byte) { c.keyScan(args, store.KindHash, c.s.store.HScan) }

// keyScan answers HSCAN/SSCAN key cursor [MATCH pattern] [COUNT n] on a value of kind,
// iterated by scan.
func (c *conn) keyScan(args [][]byte, kind store.Kind, scan func(key []byte, cursor uint64, pattern []byte, count int) (uint64, [][]byte, error)) {
	cursor, ok := c.parseScanCursor(args[2])
	if !ok {
		return
	}
	// Redis answers a missing key before it reads the options.
	switch t := c.s.store.Type(args[1]); t {
	case store.KindNone:
		c.writeScan(0, nil)
		return
	case kind:
	default:
		c.wr.Error(store.ErrWrongType.Error())
		return
	}
	match, count, ok := c.scanOptions(args[3:])
	if !ok {
		return
	}
	next, items, err := scan(args[1], cursor, match, count)
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.writeScan(next, items)
}
