package server

import "time"

// Blocking sorted-set commands, as Redis 7.0's t_zset.c serves them
// (blockingGenericZpopCommand, zmpopGenericCommand) and blocked.c hands them a ready key
// (serveClientsBlockedOnSortedSetKey), on the mechanism of block.go.

// blockingZSetCommands are BZPOPMIN, BZPOPMAX and BZMPOP.
func blockingZSetCommands() []*command {
	popKeys := keyed{1, -2, 1, nil}
	popSpec := keySpec{flags: []string{"RW", "access", "delete"}, index: 1, lastKey: -2, keyStep: 1}
	mpopSpec := keySpec{flags: []string{"RW", "access", "delete"}, index: 2, keyStep: 1, keyNum: true, firstKey: 1}
	const blk = flagBlocking
	return []*command{
		withSpecs(def("bzpopmin", -3, wr|fast|blk, popKeys, "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", bzpop(false)), popSpec),
		withSpecs(def("bzpopmax", -3, wr|fast|blk, popKeys, "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", bzpop(true)), popSpec),
		withSpecs(def("bzmpop", -5, wr|blk|mov, keyed{movable: numKeys(2)}, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", cmdBZMPop), mpopSpec),
	}
}

// zpopFirst pops from the first of keys holding a sorted set, as ZMPOP does, and writes
// the reply: [key, member, score] for count 0 (BZPOPMIN, BZPOPMAX), [key, [[member,
// score], ...]] otherwise (BZMPOP). done is false when every key is empty (nothing
// written); a key of another type first is WRONGTYPE, unless quiet, when it is skipped.
func (c *conn) zpopFirst(keys [][]byte, top bool, count int64, quiet bool) (done bool) {
	key, out, err := c.s.store.ZMPop(keys, top, max(count, 1))
	switch {
	case err != nil && quiet:
		return false
	case err != nil:
		c.writeStoreErr(err)
	case key == nil:
		return false
	case count == 0:
		c.wr.Array(3)
		c.wr.Bulk(key)
		c.wr.Bulk(out[0].Member)
		c.wr.Double(out[0].Score)
	default:
		c.wr.Array(2)
		c.wr.Bulk(key)
		c.writeZList(out, true, true)
	}
	return true
}

// blockZPop pops like zpopFirst, or parks the client on keys until one of them is a
// sorted set (one of another type by then is passed over, as Redis does).
func (c *conn) blockZPop(keys [][]byte, top bool, count int64, deadline time.Time) {
	if c.zpopFirst(keys, top, count, false) {
		return
	}
	c.block(keys, deadline, func(c *conn, key []byte) (bool, [][]byte) {
		return c.zpopFirst([][]byte{key}, top, count, true), nil
	})
}

func bzpop(top bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		deadline, ok := c.parseTimeout(args[len(args)-1])
		if !ok {
			return
		}
		c.blockZPop(args[1:len(args)-1], top, 0, deadline)
	}
}

// cmdBZMPop checks its arguments in zmpopGenericCommand's order: numkeys, MIN or MAX,
// COUNT, then the timeout.
func cmdBZMPop(c *conn, args [][]byte) {
	n, ok := parseInt(args[2])
	if !ok || n < 1 {
		c.wr.Error("ERR numkeys should be greater than 0")
		return
	}
	if n >= int64(len(args))-3 { // where = 3+n must be an argument (3+n could overflow)
		c.wr.Error(errSyntax)
		return
	}
	where := 3 + int(n)
	var top bool
	switch w := args[where]; {
	case eqFold(w, "min"):
	case eqFold(w, "max"):
		top = true
	default:
		c.wr.Error(errSyntax)
		return
	}
	count := int64(-1)
	for j := where + 1; j < len(args); j++ {
		if count != -1 || !eqFold(args[j], "count") || j+1 >= len(args) {
			c.wr.Error(errSyntax)
			return
		}
		j++
		v, ok := parseInt(args[j])
		if !ok || v < 1 {
			c.wr.Error("ERR count should be greater than 0")
			return
		}
		count = v
	}
	deadline, ok := c.parseTimeout(args[1])
	if !ok {
		return
	}
	c.blockZPop(args[3:where], top, max(count, 1), deadline)
}
