package server

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
		withSpecs(def("bzpopmin", -3, wr|fast|blk, popKeys, "sorted-set", "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", blockingPop((*conn).zpopFirst, false)), popSpec),
		withSpecs(def("bzpopmax", -3, wr|fast|blk, popKeys, "sorted-set", "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", blockingPop((*conn).zpopFirst, true)), popSpec),
		withSpecs(def("bzmpop", -5, wr|blk|mov, keyed{movable: numKeys(2)}, "sorted-set", "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", cmdBZMPop), mpopSpec),
	}
}

// zpopFirst pops from the first of keys holding a sorted set, as ZMPOP does, and writes
// the reply: [key, member, score] for count 0 (BZPOPMIN, BZPOPMAX), [key, [[member,
// score], ...]] otherwise (BZMPOP). done is false when every key is empty (nothing
// written); a key of another type first is WRONGTYPE, unless quiet, when it is skipped.
func (c *conn) zpopFirst(keys [][]byte, top bool, count int64, quiet bool) (done bool) {
	if quiet {
		c.noteAbsent() // served later: what was absent when it parked says nothing now
	}
	key, out, err := c.s.store.ZMPop(keys, top, max(count, 1))
	if key != nil && err == nil {
		c.notifyRemoved(notifyZSet, zpopEvent(top), key)
	}
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

// cmdBZMPop checks its arguments in zmpopGenericCommand's order: numkeys, MIN or MAX,
// COUNT, then the timeout.
func cmdBZMPop(c *conn, args [][]byte) {
	keys, top, count, ok := c.mpopArgs(args, 2, c.minMax)
	if !ok {
		return
	}
	deadline, ok := c.parseTimeout(args[1])
	if !ok {
		return
	}
	c.blockPop((*conn).zpopFirst, keys, top, count, deadline)
}
