package server

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
	c.replyInt(c.s.store.HDel(args[1], args[2:]))
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
	c.replyInt(c.s.store.HIncrBy(args[1], args[2], d))
}
