package server

import (
	"bytes"
	"math"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// expire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT.
func expire(unit int64, absolute bool, name string) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		at, ok := expireArg(c, args[2], unit, absolute, name)
		if !ok {
			return
		}
		cond := store.ExpireAlways
		var nx, xx, gt, lt bool
		for _, a := range args[3:] {
			switch {
			case eqFold(a, "nx"):
				nx, cond = true, store.ExpireNX
			case eqFold(a, "xx"):
				xx, cond = true, store.ExpireXX
			case eqFold(a, "gt"):
				gt, cond = true, store.ExpireGT
			case eqFold(a, "lt"):
				lt, cond = true, store.ExpireLT
			default:
				c.wr.Error("ERR Unsupported option " + string(a))
				return
			}
		}
		if nx && (xx || gt || lt) {
			c.wr.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
			return
		}
		if gt && lt {
			c.wr.Error("ERR GT and LT options at the same time are not compatible")
			return
		}
		set, err := c.s.store.Expire(args[1], at, cond)
		if err != nil {
			c.writeStoreErr(err)
			return
		}
		if set {
			c.notifyExpire(args[1])
		}
		c.wr.Int(b2i(set))
	}
}

func cmdTTL(c *conn, args [][]byte) {
	ms := c.s.store.TTL(args[1])
	if ms < 0 {
		c.wr.Int(ms)
		return
	}
	c.wr.Int((ms + 500) / 1000)
}

func cmdPTTL(c *conn, args [][]byte) { c.wr.Int(c.s.store.TTL(args[1])) }

func cmdPersist(c *conn, args [][]byte) {
	done := c.s.store.Persist(args[1])
	if done {
		c.notify(notifyGeneric, "persist", args[1])
	}
	c.wr.Int(b2i(done))
}

func cmdType(c *conn, args [][]byte) { c.wr.Simple(c.s.store.Type(args[1]).String()) }

func cmdScan(c *conn, args [][]byte) {
	cursor, ok := c.parseScanCursor(args[1])
	if !ok {
		return
	}
	var o store.ScanOptions
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.wr.Error(errSyntax)
			return
		}
		v := args[i+1]
		switch {
		case eqFold(args[i], "match"):
			o.Match = v
			if len(v) == 1 && v[0] == '*' {
				o.Match = nil
			}
		case eqFold(args[i], "count"):
			n, ok := c.scanCount(v)
			if !ok {
				return
			}
			o.Count = n
		case eqFold(args[i], "type"):
			switch {
			case eqFold(v, "string"):
				o.Kind = store.KindString
			case eqFold(v, "hash"):
				o.Kind = store.KindHash
			case eqFold(v, "set"):
				o.Kind = store.KindSet
			case eqFold(v, "list"):
				o.Kind = store.KindList
			case eqFold(v, "zset"):
				o.Kind = store.KindZSet
			case eqFold(v, "stream"):
				o.Kind = store.KindStream
			default:
				// Redis 7.0 answers an empty scan for a type it has no keys of.
				c.wr.Array(2)
				c.wr.BulkString("0")
				c.wr.Array(0)
				return
			}
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	next, keys := c.s.store.Scan(cursor, o)
	c.wr.Array(2)
	c.wr.BulkString(strconv.FormatUint(next, 10))
	c.wr.Array(len(keys))
	for _, k := range keys {
		c.wr.Bulk(k)
	}
}

func cmdKeys(c *conn, args [][]byte) {
	keys := c.s.store.KeysMatching(args[1])
	c.wr.Array(len(keys))
	for _, k := range keys {
		c.wr.Bulk(k)
	}
}

func cmdDBSize(c *conn, _ [][]byte) { c.wr.Int(c.s.store.Keys()) }

func cmdFlushAll(c *conn, args [][]byte) {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "async") && !eqFold(args[1], "sync")) {
		c.wr.Error(errSyntax)
		return
	}
	c.s.store.Flush()
	c.s.log.Info("keyspace flushed", "client", c.addr)
	c.wr.OK()
}

// rename is RENAME (nx false) and RENAMENX.
func rename(nx bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		done, err := c.s.store.Rename(args[1], args[2], nx)
		if done && err == nil && !bytes.Equal(args[1], args[2]) {
			c.notifyAdded(args[2])
			c.notify(notifyGeneric, "rename_from", args[1])
			c.notify(notifyGeneric, "rename_to", args[2])
		}
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case nx:
			c.wr.Int(b2i(done))
		default:
			c.wr.OK()
		}
	}
}

// maxDB is the databases Redis has by default: COPY's DB option is checked against it
// (out of range) before it is refused as another database (cluster mode).
const maxDB = 16

// cmdCopy checks its options, then the database, then the keys, in Redis 7.0's order.
func cmdCopy(c *conn, args [][]byte) {
	replace, db := false, int64(0)
	for i := 3; i < len(args); i++ {
		switch {
		case eqFold(args[i], "replace"):
			replace = true
		case eqFold(args[i], "db") && i+1 < len(args):
			n, ok := parseInt(args[i+1])
			if !ok {
				c.wr.Error(errNotInteger)
				return
			}
			if n < math.MinInt32 || n > math.MaxInt32 {
				c.wr.Error("ERR value is out of range, value must between -2147483648 and 2147483647")
				return
			}
			if n < 0 || n >= maxDB {
				c.wr.Error("ERR DB index is out of range")
				return
			}
			db = n
			i++
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	if db != 0 {
		c.wr.Error("ERR Copying to another database is not allowed in cluster mode")
		return
	}
	if bytes.Equal(args[1], args[2]) {
		c.wr.Error("ERR source and destination objects are the same")
		return
	}
	done, err := c.s.store.Copy(args[1], args[2], replace)
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if done {
		c.notifyAdded(args[2])
		c.notify(notifyGeneric, "copy_to", args[2])
	}
	c.wr.Int(b2i(done))
}

func cmdTouch(c *conn, args [][]byte) { cmdExists(c, args) }

// expireTime is EXPIRETIME (unit 1000) and PEXPIRETIME.
func expireTime(unit int64) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		at := c.s.store.ExpireAt(args[1])
		if at < 0 || unit == 1 {
			c.wr.Int(at)
			return
		}
		c.wr.Int((at + unit/2) / unit)
	}
}

func cmdRandomKey(c *conn, _ [][]byte) {
	if k := c.s.store.RandomKey(); k != nil {
		c.wr.Bulk(k)
		return
	}
	c.wr.Null()
}

// scanCount parses a SCAN-like COUNT argument, at least 1, capped at 1<<20 keys a call
// (as a hint, like Redis's); a bad one gets its error written and ok false.
func (c *conn) scanCount(arg []byte) (int, bool) {
	n, ok := parseInt(arg)
	if !ok {
		c.wr.Error(errNotInteger)
		return 0, false
	}
	if n < 1 {
		c.wr.Error(errSyntax)
		return 0, false
	}
	return int(min(n, 1<<20)), true
}
