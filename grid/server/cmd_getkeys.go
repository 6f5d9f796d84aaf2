package server

// cmdCommandGetKeys answers COMMAND GETKEYS command [arg ...] as Redis 7.0 does: the key
// arguments of the given command, found the way the grid routes it (its key range, or its
// movable-keys function). Cluster clients ask it for commands whose keys move, as redis-py's
// RedisCluster does for SINTERCARD.
func cmdCommandGetKeys(c *conn, args [][]byte) {
	cmdArgs := args[2:]
	cmd := c.lookup(c.s.cmds, cmdArgs[0])
	if cmd != nil && cmd.subs != nil && len(cmdArgs) >= 2 {
		cmd = c.lookup(cmd.subs, cmdArgs[1])
	}
	switch {
	case cmd == nil:
		c.wr.Error("ERR Invalid command specified")
		return
	case cmd.firstKey == 0 && cmd.movable == nil:
		c.wr.Error("ERR The command has no key arguments")
		return
	case !cmd.arityOK(len(cmdArgs)):
		c.wr.Error("ERR Invalid number of arguments specified for command")
		return
	}
	first, last, step := cmd.keyRange(cmdArgs)
	if first <= 0 || last < first || last >= len(cmdArgs) || step <= 0 {
		c.wr.Error("ERR Invalid arguments specified for command")
		return
	}
	c.wr.Array((last-first)/step + 1)
	for i := first; i <= last; i += step {
		c.wr.Bulk(cmdArgs[i])
	}
}
