package server

import (
	"sort"
)

// pubsubCommands are Redis 7.0's pub/sub commands: classic channels and patterns, whose
// messages every instance of the grid delivers, and shard channels, routed by slot like
// keys.
func pubsubCommands() []*command {
	const ps = flagPubSub
	channels := keySpec{flags: []string{"not_key"}, index: 1, lastKey: -1, keyStep: 1}
	return []*command{
		def("subscribe", -2, ps|flagNoScript|ls, noKeys, "pubsub", "2.0.0", "Listens for messages published to channels.", subscribeCmd(kindChannel)),
		def("psubscribe", -2, ps|flagNoScript|ls, noKeys, "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", subscribeCmd(kindPattern)),
		withSpecs(def("ssubscribe", -2, ps|flagNoScript|ls, allKeys, "pubsub", "7.0.0", "Listens for messages published to shard channels.", subscribeCmd(kindShard)), channels),
		def("unsubscribe", -1, ps|flagNoScript|ls, noKeys, "pubsub", "2.0.0", "Stops listening to messages posted to channels.", unsubscribeCmd(kindChannel)),
		def("punsubscribe", -1, ps|flagNoScript|ls, noKeys, "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", unsubscribeCmd(kindPattern)),
		withSpecs(def("sunsubscribe", -1, ps|flagNoScript|ls, allKeys, "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", unsubscribeCmd(kindShard)), channels),
		def("publish", 3, ps|ls|fast, noKeys, "pubsub", "2.0.0", "Posts a message to a channel.", publishCmd(kindChannel)),
		withSpecs(def("spublish", 3, ps|ls|fast, oneKey, "pubsub", "7.0.0", "Post a message to a shard channel", publishCmd(kindShard)), spec(1, "not_key")),
		container("pubsub", 0, "pubsub", "2.8.0", "A container for Pub/Sub commands.", nil,
			def("channels", -2, ps|ls, noKeys, "pubsub", "2.8.0", "Returns the active channels.", pubsubChannels(kindChannel)),
			def("numsub", -2, ps|ls, noKeys, "pubsub", "2.8.0", "Returns a count of subscribers to channels.", pubsubNumSub(kindChannel)),
			def("numpat", 2, ps|ls, noKeys, "pubsub", "2.8.0", "Returns a count of unique pattern subscriptions.", cmdPubSubNumPat),
			def("shardchannels", -2, ps|ls, noKeys, "pubsub", "7.0.0", "Returns the active shard channels.", pubsubChannels(kindShard)),
			def("shardnumsub", -2, ps|ls, noKeys, "pubsub", "7.0.0", "Returns the count of subscribers of shard channels.", pubsubNumSub(kindShard)),
		),
	}
}

// allowedSubscribed reports whether cmd may run on a RESP2 connection with
// subscriptions.
func allowedSubscribed(cmd *command) bool {
	if cmd.parent != nil {
		return false
	}
	switch cmd.name {
	case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "ping", "quit", "reset":
		return true
	}
	return false
}

func errSubscribedContext(cmd *command) string {
	return "ERR Can't execute '" + cmd.fullName() + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
}

// flushBeforeSubscribe waits, as the connection's flush would, until the buffered replies
// of earlier commands may be sent; false: they may not, and the connection is closed.
func (c *conn) flushBeforeSubscribe() bool {
	if c.need > 0 {
		ok := c.s.cfg.Replication.Wait(c.need)
		c.need = 0
		if !ok {
			c.nc.Close()
			return false
		}
	}
	return true
}

// subscribeCmd is SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE: one confirmation per name, with the
// connection's subscription count. The confirmations are queued before the subscriptions
// take effect, so no message on them comes first.
func subscribeCmd(kind int) func(*conn, [][]byte) {
	return func(c *conn, args [][]byte) {
		if !c.flushBeforeSubscribe() {
			return
		}
		ps := c.subscriber()
		r := &c.s.pubsub
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, a := range args[1:] {
			r.add(kind, string(a), c)
			c.wr.Push(3)
			c.wr.BulkString(kindNames[kind][0])
			c.wr.Bulk(a)
			c.wr.Int(int64(ps.count(kind)))
		}
		_ = c.wr.Flush() // a queue over its limit closes the connection
	}
}

// unsubscribeCmd is UNSUBSCRIBE, PUNSUBSCRIBE or SUNSUBSCRIBE: the names given, or every
// subscription of the kind; with none, one confirmation with a null name.
func unsubscribeCmd(kind int) func(*conn, [][]byte) {
	return func(c *conn, args [][]byte) {
		r := &c.s.pubsub
		r.mu.Lock()
		defer r.mu.Unlock()
		confirm := func(name []byte) {
			n := 0
			if c.ps != nil {
				n = c.ps.count(kind)
			}
			c.wr.Push(3)
			c.wr.BulkString(kindNames[kind][1])
			if name == nil {
				c.wr.Null()
			} else {
				c.wr.Bulk(name)
			}
			c.wr.Int(int64(n))
		}
		names := args[1:]
		if len(names) == 0 && c.ps != nil {
			if kind == kindPattern {
				for _, p := range c.ps.pattern {
					names = append(names, []byte(p))
				}
			} else {
				for name := range c.ps.sets[kind] {
					names = append(names, []byte(name))
				}
			}
		}
		if len(names) == 0 {
			confirm(nil)
			return
		}
		for _, name := range names {
			if c.ps != nil {
				r.remove(kind, string(name), c)
			}
			confirm(name)
		}
	}
}

// publishCmd is PUBLISH, which the other instances of the grid deliver too, or SPUBLISH,
// whose shard channel lives on this partition only; the reply counts this instance's
// receivers, as Redis Cluster's does.
func publishCmd(kind int) func(*conn, [][]byte) {
	return func(c *conn, args [][]byte) {
		c.wr.Int(c.s.publish(kind, args[1], args[2]))
		if kind == kindChannel {
			c.s.forwardPublish(args[1], args[2])
		}
	}
}

func errPubSubSyntax(args [][]byte) string {
	return "ERR unknown subcommand or wrong number of arguments for '" + string(args[1]) + "'. Try PUBSUB HELP."
}

// pubsubChannels is PUBSUB CHANNELS or SHARDCHANNELS [pattern].
func pubsubChannels(kind int) func(*conn, [][]byte) {
	return func(c *conn, args [][]byte) {
		if len(args) > 3 {
			c.wr.Error(errPubSubSyntax(args))
			return
		}
		r := &c.s.pubsub
		r.mu.RLock()
		var out []string
		for name := range *r.table(kind) {
			if len(args) < 3 || channelMatch(args[2], []byte(name)) {
				out = append(out, name)
			}
		}
		r.mu.RUnlock()
		sort.Strings(out)
		c.wr.Array(len(out))
		for _, name := range out {
			c.wr.BulkString(name)
		}
	}
}

// pubsubNumSub is PUBSUB NUMSUB or SHARDNUMSUB [channel ...]: each channel and its number
// of subscribers here.
func pubsubNumSub(kind int) func(*conn, [][]byte) {
	return func(c *conn, args [][]byte) {
		r := &c.s.pubsub
		r.mu.RLock()
		defer r.mu.RUnlock()
		c.wr.Array(2 * (len(args) - 2))
		for _, name := range args[2:] {
			c.wr.Bulk(name)
			c.wr.Int(int64(len((*r.table(kind))[string(name)])))
		}
	}
}

func cmdPubSubNumPat(c *conn, _ [][]byte) {
	r := &c.s.pubsub
	r.mu.RLock()
	n := len(r.patterns)
	r.mu.RUnlock()
	c.wr.Int(int64(n))
}
