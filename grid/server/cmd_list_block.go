package server

import (
	"bytes"
	"time"

	"github.com/insightgrid/insight/grid/store"
)

// Blocking list commands, as Redis 7.0's t_list.c serves them (blockingPopGenericCommand,
// blmoveGenericCommand, serveClientsBlockedOnListKey), on the mechanism of block.go.

// blockingListCommands are BLPOP, BRPOP, BLMPOP, BLMOVE and BRPOPLPUSH.
func blockingListCommands() []*command {
	popKeys := keyed{1, -2, 1, nil}
	popSpec := keySpec{flags: []string{"RW", "access", "delete"}, index: 1, lastKey: -2, keyStep: 1}
	const blk = flagBlocking
	return []*command{
		withSpecs(def("blpop", -3, wr|blk, popKeys, "list", "2.0.0", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", blockingPop((*conn).popFirst, true)), popSpec),
		withSpecs(def("brpop", -3, wr|blk, popKeys, "list", "2.0.0", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", blockingPop((*conn).popFirst, false)), popSpec),
		def("blmpop", -5, wr|blk|mov, keyed{movable: numKeys(2)}, "list", "7.0.0", "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", cmdBLMPop),
		withSpecs(def("blmove", 6, wr|oom|blk, twoKeys, "list", "6.2.0", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", cmdBLMove), spec(1, "RW", "access", "delete"), spec(2, "RW", "insert")),
		withSpecs(def("brpoplpush", 4, wr|oom|blk, twoKeys, "list", "2.2.0", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", cmdBRPopLPush), spec(1, "RW", "access", "delete"), spec(2, "RW", "insert")),
	}
}

// popFirst pops from the first of keys holding a list as LMPOP does, and writes the reply:
// [key, element] for count 0 (BLPOP, BRPOP), [key, [elements]] otherwise (BLMPOP). done
// is false when every key is empty (nothing written); a key of another type first is
// WRONGTYPE, unless quiet, when it is skipped.
func (c *conn) popFirst(keys [][]byte, left bool, count int64, quiet bool) (done bool) {
	if quiet {
		c.noteAbsent() // served later: what was absent when it parked says nothing now
	}
	key, out, err := c.s.store.MPop(keys, left, max(count, 1))
	if key != nil && err == nil {
		c.notifyRemoved(notifyList, listEvent("pop", left), key)
	}
	switch {
	case err != nil && quiet:
		return false
	case err != nil:
		c.writeStoreErr(err)
	case key == nil:
		return false
	case count == 0:
		c.wr.Array(2)
		c.wr.Bulk(key)
		c.wr.Bulk(out[0])
	default:
		c.wr.Array(2)
		c.wr.Bulk(key)
		c.writeMembers(out, nil, false)
	}
	return true
}

// popFunc pops from the first of keys that has data, from one end (left or top) and up
// to count elements, and writes the reply; serving says a blocked client is being served.
// It reports whether it answered. (*conn).popFirst and (*conn).zpopFirst are popFuncs.
type popFunc func(c *conn, keys [][]byte, end bool, count int64, serving bool) bool

// blockPop pops with pop, or parks the client on keys until one of them has data (one of
// another type by then is passed over, as Redis does).
func (c *conn) blockPop(pop popFunc, keys [][]byte, end bool, count int64, deadline time.Time) {
	if pop(c, keys, end, count, false) {
		return
	}
	c.block(keys, deadline, func(c *conn, key []byte) (bool, [][]byte) {
		return pop(c, [][]byte{key}, end, count, true), nil
	})
}

// blockingPop is BLPOP, BRPOP, BZPOPMIN and BZPOPMAX: keys, then the timeout.
func blockingPop(pop popFunc, end bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		deadline, ok := c.parseTimeout(args[len(args)-1])
		if !ok {
			return
		}
		c.blockPop(pop, args[1:len(args)-1], end, 0, deadline)
	}
}

func cmdBLMPop(c *conn, args [][]byte) {
	keys, left, count, ok := c.mpopArgs(args, 2, c.side)
	if !ok {
		return
	}
	deadline, ok := c.parseTimeout(args[1])
	if !ok {
		return
	}
	c.blockPop((*conn).popFirst, keys, left, count, deadline)
}

func cmdBLMove(c *conn, args [][]byte) {
	from, ok := c.side(args[3])
	if !ok {
		return
	}
	to, ok := c.side(args[4])
	if !ok {
		return
	}
	blmove(c, args[1], args[2], from, to, args[5])
}

func cmdBRPopLPush(c *conn, args [][]byte) { blmove(c, args[1], args[2], false, true, args[3]) }

// blmove is LMOVE when src holds a list, else it parks the client on src. Served later,
// a destination of another type is answered WRONGTYPE and the element stays, as in Redis.
func blmove(c *conn, src, dst []byte, from, to bool, timeout []byte) {
	deadline, ok := c.parseTimeout(timeout)
	if !ok {
		return
	}
	switch c.s.store.Type(src) {
	case store.KindList:
		lmove(c, src, dst, from, to)
		return
	case store.KindNone:
	default:
		c.wr.Error(store.ErrWrongType.Error())
		return
	}
	src, dst = bytes.Clone(src), bytes.Clone(dst)
	c.block([][]byte{src}, deadline, func(c *conn, _ []byte) (bool, [][]byte) {
		if c.s.store.Type(src) != store.KindList {
			return false, nil
		}
		c.noteAbsent(dst)
		e, ok, err := c.s.store.LMove(src, dst, from, to)
		switch {
		case err != nil:
			c.writeStoreErr(err)
			return true, nil
		case !ok:
			return false, nil
		}
		c.notifyMove(src, dst, from, to)
		c.wr.Bulk(e)
		return true, [][]byte{dst}
	})
}

func cmdClientUnblock(c *conn, args [][]byte) {
	if len(args) > 4 {
		c.wr.Error("ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.")
		return
	}
	withError := false
	if len(args) == 4 {
		switch {
		case eqFold(args[3], "timeout"):
		case eqFold(args[3], "error"):
			withError = true
		default:
			c.wr.Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
			return
		}
	}
	id, ok := parseInt(args[2])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	if c.s.unblockClient(id, withError) {
		c.wr.Int(1)
		return
	}
	c.wr.Int(0)
}
