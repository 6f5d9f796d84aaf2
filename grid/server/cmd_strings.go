package server

import (
	"bytes"
	"errors"
	"math"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// parseInt parses a Redis integer argument as string2ll does: decimal, optional '-', no
// '+' or leading zero ("-0" included).
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 || b[0] == '+' {
		return 0, false
	}
	digits := b
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && len(digits) < len(b)) || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

func eqFold(b []byte, s string) bool { return bytes.EqualFold(b, []byte(s)) }

func (c *conn) writeStoreErr(err error) {
	if errors.Is(err, store.ErrOOM) || errors.Is(err, store.ErrTierFull) {
		c.s.oomRejected.Add(1)
	}
	c.wr.Error(err.Error())
}

// replyInt answers a store call that returns a count or a number: the error, or n.
func (c *conn) replyInt(n int64, err error) {
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Int(n)
}

// replyValue answers a store read into the scratch buffer: the error, nil when absent, or
// the value, keeping v's buffer as the next scratch.
func (c *conn) replyValue(v []byte, ok bool, err error) {
	c.keep(v)
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case !ok:
		c.wr.Null()
	default:
		c.wr.Bulk(v)
	}
}

// keep reuses b as the connection's scratch buffer unless one big value made it large.
func (c *conn) keep(b []byte) {
	if cap(b) <= 64<<10 {
		c.scratch = b[:0]
	}
}

// b2i is how Redis answers yes/no commands (EXPIRE, EXISTS, HEXISTS...): integers, in
// RESP3 too.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func cmdGet(c *conn, args [][]byte) { c.replyValue(c.s.store.Get(c.scratch[:0], args[1])) }

// expireArg converts an EX/PX/EXAT/PXAT or EXPIRE argument to a unix millisecond,
// rejecting values that do not fit as Redis does.
func expireArg(c *conn, arg []byte, unitMs int64, absolute bool, cmdName string) (int64, bool) {
	n, ok := parseInt(arg)
	if !ok {
		c.wr.Error(errNotInteger)
		return 0, false
	}
	invalid := "ERR invalid expire time in '" + cmdName + "' command"
	if (cmdName == "set" || cmdName == "getex") && n <= 0 {
		c.wr.Error(invalid)
		return 0, false
	}
	if n > math.MaxInt64/unitMs || n < math.MinInt64/unitMs {
		c.wr.Error(invalid)
		return 0, false
	}
	ms := n * unitMs
	if !absolute {
		now := c.s.store.Now()
		if ms > 0 && ms > math.MaxInt64-now {
			c.wr.Error(invalid)
			return 0, false
		}
		ms += now
	}
	return ms, true
}

func cmdSet(c *conn, args [][]byte) {
	var o store.SetOptions
	var expSet bool
	for i := 3; i < len(args); i++ {
		a := args[i]
		next := i+1 < len(args)
		switch {
		case eqFold(a, "nx") && !o.XX:
			o.NX = true
		case eqFold(a, "xx") && !o.NX:
			o.XX = true
		case eqFold(a, "get"):
			o.Get = true
		case eqFold(a, "keepttl") && !expSet:
			o.KeepTTL = true
		case (eqFold(a, "ex") || eqFold(a, "px") || eqFold(a, "exat") || eqFold(a, "pxat")) && !o.KeepTTL && !expSet && next:
			unit := int64(1000)
			if a[0] == 'p' || a[0] == 'P' {
				unit = 1
			}
			at, ok := expireArg(c, args[i+1], unit, len(a) == 4, "set")
			if !ok {
				return
			}
			o.At, expSet = at, true
			i++
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	res, err := c.s.store.Set(c.scratch[:0], args[1], args[2], o)
	c.keep(res.Old)
	if err == nil && res.Done {
		c.notifySet(args[1], expSet)
	}
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case o.Get && res.HadOld:
		c.wr.Bulk(res.Old)
	case o.Get || !res.Done:
		c.wr.Null()
	default:
		c.wr.OK()
	}
}

func cmdSetNX(c *conn, args [][]byte) {
	res, err := c.s.store.Set(nil, args[1], args[2], store.SetOptions{NX: true})
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if res.Done {
		c.notifySet(args[1], false)
	}
	c.wr.Int(b2i(res.Done))
}

// cmdSetEX is SETEX and PSETEX.
func setEX(unit int64, name string) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		at, ok := expireArg(c, args[2], unit, false, name)
		if !ok {
			return
		}
		if n, _ := parseInt(args[2]); n <= 0 {
			c.wr.Error("ERR invalid expire time in '" + name + "' command")
			return
		}
		if _, err := c.s.store.Set(nil, args[1], args[3], store.SetOptions{At: at}); err != nil {
			c.writeStoreErr(err)
			return
		}
		c.notifySet(args[1], true)
		c.wr.OK()
	}
}

func cmdMGet(c *conn, args [][]byte) {
	c.wr.Array(len(args) - 1)
	for _, k := range args[1:] {
		v, ok, err := c.s.store.Get(c.scratch[:0], k)
		c.keep(v)
		if err != nil || !ok {
			c.wr.Null() // MGET answers nil for a value of another type
			continue
		}
		c.wr.Bulk(v)
	}
}

func cmdMSet(c *conn, args [][]byte) {
	if len(args)%2 == 0 {
		c.wr.Error(errArity(c.s.cmds["mset"]))
		return
	}
	if err := c.s.store.MSet(args[1:]); err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notifyEach(notifyString, "set", args[1:], 2)
	c.wr.OK()
}

func cmdDel(c *conn, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.s.store.Del(k) {
			c.notify(notifyGeneric, "del", k)
			n++
		}
	}
	c.wr.Int(n)
}

func cmdExists(c *conn, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.s.store.Exists(k) {
			n++
		}
	}
	c.wr.Int(n)
}

func incrBy(c *conn, key []byte, delta int64) {
	n, err := c.s.store.IncrBy(key, delta)
	if err == nil {
		c.notify(notifyString, "incrby", key)
	}
	c.replyInt(n, err)
}

func cmdIncr(c *conn, args [][]byte) { incrBy(c, args[1], 1) }
func cmdDecr(c *conn, args [][]byte) { incrBy(c, args[1], -1) }

func cmdIncrBy(c *conn, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	incrBy(c, args[1], n)
}

func cmdDecrBy(c *conn, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok || n == math.MinInt64 {
		if ok {
			c.wr.Error("ERR decrement would overflow")
			return
		}
		c.wr.Error(errNotInteger)
		return
	}
	incrBy(c, args[1], -n)
}

func cmdIncrByFloat(c *conn, args [][]byte) {
	v, err := c.s.store.IncrByFloat(args[1], args[2])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyString, "incrbyfloat", args[1])
	c.wr.Bulk(v)
}

func cmdAppend(c *conn, args [][]byte) {
	n, err := c.s.store.Append(args[1], args[2])
	if err == nil {
		c.notify(notifyString, "append", args[1])
	}
	c.replyInt(n, err)
}

func cmdStrLen(c *conn, args [][]byte) {
	c.replyInt(c.s.store.StrLen(args[1]))
}

// cmdGetEx checks its options' syntax, then the key, then the expiry's value, in Redis
// 7.0's order.
func cmdGetEx(c *conn, args [][]byte) {
	change, at := store.ExpireKeep, int64(0)
	var expArg, expOpt []byte
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case eqFold(a, "persist") && change == store.ExpireKeep:
			change = store.ExpireRemoved
		case (eqFold(a, "ex") || eqFold(a, "px") || eqFold(a, "exat") || eqFold(a, "pxat")) && change == store.ExpireKeep && i+1 < len(args):
			change, expOpt, expArg = store.ExpireSet, a, args[i+1]
			i++
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	if change == store.ExpireSet {
		switch c.s.store.Type(args[1]) {
		case store.KindNone:
			c.wr.Null()
			return
		case store.KindString:
		default:
			c.wr.Error(store.ErrWrongType.Error())
			return
		}
		unit := int64(1000)
		if expOpt[0] == 'p' || expOpt[0] == 'P' {
			unit = 1
		}
		ms, ok := expireArg(c, expArg, unit, len(expOpt) == 4, "getex")
		if !ok {
			return
		}
		at = ms
	}
	volatile := change == store.ExpireRemoved && c.s.notifying(notifyGeneric) && c.s.store.ExpireAt(args[1]) > 0
	v, ok, err := c.s.store.GetEx(c.scratch[:0], args[1], change, at)
	if ok && err == nil {
		c.notifyGetEx(args[1], change, volatile)
	}
	c.replyValue(v, ok, err)
}

// notifyGetEx sends GETEX's event: "expire" for a new expiry ("del" when it has passed
// already), "persist" when PERSIST removed one.
func (c *conn) notifyGetEx(key []byte, change store.ExpireChange, volatile bool) {
	switch {
	case change == store.ExpireSet && !c.s.store.Exists(key):
		c.notify(notifyGeneric, "del", key)
	case change == store.ExpireSet:
		c.notify(notifyGeneric, "expire", key)
	case change == store.ExpireRemoved && volatile:
		c.notify(notifyGeneric, "persist", key)
	}
}

func cmdGetDel(c *conn, args [][]byte) {
	v, ok, err := c.s.store.GetDel(c.scratch[:0], args[1])
	if ok && err == nil {
		c.notify(notifyGeneric, "del", args[1])
	}
	c.replyValue(v, ok, err)
}

func cmdGetSet(c *conn, args [][]byte) {
	res, err := c.s.store.Set(c.scratch[:0], args[1], args[2], store.SetOptions{Get: true})
	if err == nil {
		c.notifySet(args[1], false)
	}
	c.replyValue(res.Old, res.HadOld, err)
}

func cmdMSetNX(c *conn, args [][]byte) {
	if len(args)%2 == 0 {
		c.wr.Error(errArity(c.s.cmds["msetnx"]))
		return
	}
	done, err := c.s.store.MSetNX(args[1:])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if done {
		c.notifyEach(notifyString, "set", args[1:], 2)
	}
	c.wr.Int(b2i(done))
}

func cmdSetRange(c *conn, args [][]byte) {
	off, ok := parseInt(args[2])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	n, err := c.s.store.SetRange(args[1], off, args[3])
	if err == nil && len(args[3]) > 0 {
		c.notify(notifyString, "setrange", args[1])
	}
	c.replyInt(n, err)
}

// cmdGetRange is GETRANGE and SUBSTR: the range is parsed before the key is looked at.
func cmdGetRange(c *conn, args [][]byte) {
	start, ok1 := parseInt(args[2])
	end, ok2 := parseInt(args[3])
	if !ok1 || !ok2 {
		c.wr.Error(errNotInteger)
		return
	}
	v, err := c.s.store.GetRange(c.scratch[:0], args[1], start, end)
	c.replyValue(v, true, err)
}
