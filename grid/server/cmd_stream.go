package server

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// Stream commands, parsed as Redis 7.0's t_stream.c parses them (its checks in its order)
// and answered with its replies.

const (
	errInvalidStreamID = "ERR Invalid stream ID specified as stream command argument"
	// streamTrimLimit is the LIMIT of a "~" trim without one: 100 × stream-node-max-entries.
	streamTrimLimit = 10000
)

// streamCommands is the stream command table.
func streamCommands() []*command {
	streamsKeys := keyed{movable: streamsKeys}
	return []*command{
		def("xadd", -5, wr|oom|fast, oneKey, "stream", "5.0.0", "Appends a new message to a stream. Creates the key if it doesn't exist.", cmdXAdd),
		def("xlen", 2, ro|fast, oneKey, "stream", "5.0.0", "Return the number of messages in a stream.", cmdXLen),
		def("xrange", -4, ro, oneKey, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs.", xrange(false)),
		def("xrevrange", -4, ro, oneKey, "stream", "5.0.0", "Returns the messages from a stream within a range of IDs in reverse order.", xrange(true)),
		def("xdel", -3, wr|fast, oneKey, "stream", "5.0.0", "Returns the number of messages after removing them from a stream.", cmdXDel),
		def("xtrim", -4, wr, oneKey, "stream", "5.0.0", "Deletes messages from the beginning of a stream.", cmdXTrim),
		withSpecs(def("xread", -4, ro|flagBlocking|mov, streamsKeys, "stream", "5.0.0", "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.", xread(false)),
			keySpec{flags: []string{"RO", "access"}, keyword: "STREAMS", startFrom: 1, lastKey: -1, keyStep: 1, limit: 2}),
		withSpecs(def("xreadgroup", -7, wr|flagBlocking|mov, streamsKeys, "stream", "5.0.0", "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.", xread(true)),
			keySpec{flags: []string{"RO", "access"}, keyword: "STREAMS", startFrom: 4, lastKey: -1, keyStep: 1, limit: 2}),
		def("xack", -4, wr|fast, oneKey, "stream", "5.0.0", "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.", cmdXAck),
		def("xpending", -3, ro, oneKey, "stream", "5.0.0", "Returns the information and entries from a stream consumer group's pending entries list.", cmdXPending),
		def("xclaim", -6, wr|fast, oneKey, "stream", "5.0.0", "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.", cmdXClaim),
		def("xautoclaim", -6, wr|fast, oneKey, "stream", "6.2.0", "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.", cmdXAutoClaim),
		def("xsetid", -3, wr|oom|fast, oneKey, "stream", "5.0.0", "An internal command for replicating stream values.", cmdXSetID),
		container("xgroup", 0, "stream", "5.0.0", "A container for consumer groups commands", nil,
			def("create", -5, wr|oom, keyAt2, "stream", "5.0.0", "Creates a consumer group.", cmdXGroupCreate),
			def("setid", -5, wr|flagNoWake, keyAt2, "stream", "5.0.0", "Sets the last-delivered ID of a consumer group.", cmdXGroupSetID),
			def("destroy", 4, wr, keyAt2, "stream", "5.0.0", "Destroys a consumer group.", cmdXGroupDestroy),
			def("createconsumer", 5, wr|oom, keyAt2, "stream", "6.2.0", "Creates a consumer in a consumer group.", cmdXGroupCreateConsumer),
			def("delconsumer", 5, wr, keyAt2, "stream", "5.0.0", "Deletes a consumer from a consumer group.", cmdXGroupDelConsumer),
		),
		container("xinfo", 0, "stream", "5.0.0", "A container for stream introspection commands", nil,
			def("stream", -3, ro, keyAt2, "stream", "5.0.0", "Returns information about a stream.", cmdXInfoStream),
			def("groups", 3, ro, keyAt2, "stream", "5.0.0", "Returns a list of the consumer groups of a stream.", cmdXInfoGroups),
			def("consumers", 4, ro, keyAt2, "stream", "5.0.0", "Returns a list of the consumers in a consumer group.", cmdXInfoConsumers),
		),
	}
}

// keyAt2 is the key of a subcommand (XGROUP CREATE key ...).
var keyAt2 = keyed{2, 2, 1, nil}

// streamsKeys finds XREAD's and XREADGROUP's keys: the first half of the arguments after
// STREAMS.
func streamsKeys(args [][]byte) (first, last, step int) {
	for i := 1; i < len(args); i++ {
		if eqFold(args[i], "streams") {
			n := (len(args) - i - 1) / 2
			if n == 0 || (len(args)-i-1)%2 != 0 {
				return 0, 0, 0
			}
			return i + 1, i + n, 1
		}
	}
	return 0, 0, 0
}

// parseStreamUint parses a part of an ID as Redis's string2ull does: a canonical
// non-negative integer, or what strtoull takes whole (leading spaces, a sign, leading
// zeros; a negative one wraps around), but not a canonical negative integer.
func parseStreamUint(b []byte) (uint64, bool) {
	orig := b
	for len(b) > 0 && (b[0] == ' ' || b[0] >= '\t' && b[0] <= '\r') {
		b = b[1:]
	}
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	if len(b) == 0 || b[0] < '0' || b[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if _, ok := parseInt(orig); ok {
			return 0, false
		}
		return -n, true
	}
	return n, true
}

// parseStreamID parses an ID as streamGenericParseIDOrReply does: "-" and "+" unless
// strict, ms-seq, ms (the sequence missingSeq), and with seqAuto the ms-* form (given is
// then false).
func parseStreamID(b []byte, strict bool, missingSeq uint64, seqAuto bool) (id store.StreamID, given, ok bool) {
	if len(b) > 127 {
		return id, false, false
	}
	if len(b) == 1 && (b[0] == '-' || b[0] == '+') {
		if strict {
			return id, false, false
		}
		if b[0] == '+' {
			return store.MaxStreamID, true, true
		}
		return id, true, true
	}
	msPart, seqPart, dash := bytes.Cut(b, []byte("-"))
	ms, ok := parseStreamUint(msPart)
	if !ok {
		return id, false, false
	}
	if !dash {
		return store.StreamID{Ms: ms, Seq: missingSeq}, true, true
	}
	if seqAuto && len(seqPart) == 1 && seqPart[0] == '*' {
		return store.StreamID{Ms: ms}, false, true
	}
	seq, ok := parseStreamUint(seqPart)
	return store.StreamID{Ms: ms, Seq: seq}, true, ok
}

// strictID parses an ID that may not be "-" or "+", answering the error when it is not one.
func (c *conn) strictID(b []byte) (store.StreamID, bool) {
	id, _, ok := parseStreamID(b, true, 0, false)
	if !ok {
		c.wr.Error(errInvalidStreamID)
	}
	return id, ok
}

// intervalID parses a range bound: "(" makes it exclusive (then strict), which moves it by
// one ID (start: up, else down); the errors are answered.
func (c *conn) intervalID(b []byte, missingSeq uint64, start bool) (store.StreamID, bool) {
	excl := len(b) > 1 && b[0] == '('
	var id store.StreamID
	var ok bool
	if excl {
		id, _, ok = parseStreamID(b[1:], true, missingSeq, false)
	} else {
		id, _, ok = parseStreamID(b, false, missingSeq, false)
	}
	if !ok {
		c.wr.Error(errInvalidStreamID)
		return id, false
	}
	if !excl {
		return id, true
	}
	if start {
		if id, ok = id.Incr(); !ok {
			c.wr.Error("ERR invalid start ID for the interval")
		}
		return id, ok
	}
	if id, ok = id.Decr(); !ok {
		c.wr.Error("ERR invalid end ID for the interval")
	}
	return id, ok
}

// intArg parses an integer argument, answering msg (Redis's "value is not an integer"
// when empty) when it is not one.
func (c *conn) intArg(b []byte, msg string) (int64, bool) {
	n, ok := parseInt(b)
	if !ok {
		if msg == "" {
			msg = errNotInteger
		} else {
			msg = "ERR " + msg
		}
		c.wr.Error(msg)
	}
	return n, ok
}

func (c *conn) writeID(id store.StreamID) {
	var b [41]byte // "<ms>-<seq>", both up to 20 digits: formatted on the stack
	c.wr.Bulk(id.Append(b[:0]))
}

func (c *conn) writeEntry(e store.StreamEntry) {
	c.wr.Array(2)
	c.writeID(e.ID)
	c.wr.Array(len(e.Fields))
	for _, f := range e.Fields {
		c.wr.Bulk(f)
	}
}

func (c *conn) writeEntries(es []store.StreamEntry) {
	c.wr.Array(len(es))
	for _, e := range es {
		c.writeEntry(e)
	}
}

// parseTrim parses XADD's options or XTRIM's (xadd false) from args[2:] as
// streamParseAddOrTrimArgsOrReply does; it returns the index of XADD's ID (after the
// options) and the parsed ID, or ok false when it answered an error.
func (c *conn) parseTrim(args [][]byte, xadd bool, a *store.XAddArgs) (int, bool) {
	i := 2
	limitGiven := false
	tooMany := "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
parse:
	for ; i < len(args); i++ {
		more := len(args) - 1 - i
		opt := args[i]
		switch {
		case xadd && len(opt) == 1 && opt[0] == '*':
			a.Auto = true
			break parse
		case (eqFold(opt, "maxlen") || eqFold(opt, "minid")) && more > 0:
			if a.Trim.Strategy != store.TrimNone {
				c.wr.Error(tooMany)
				return 0, false
			}
			a.Trim.Approx = false
			next := args[i+1]
			if more >= 2 && len(next) == 1 && (next[0] == '~' || next[0] == '=') {
				a.Trim.Approx = next[0] == '~'
				i++
			}
			if eqFold(opt, "maxlen") {
				n, ok := c.intArg(args[i+1], "")
				if !ok {
					return 0, false
				}
				if n < 0 {
					c.wr.Error("ERR The MAXLEN argument must be >= 0.")
					return 0, false
				}
				a.Trim.Strategy, a.Trim.MaxLen = store.TrimMaxLen, n
			} else {
				id, ok := c.strictID(args[i+1])
				if !ok {
					return 0, false
				}
				a.Trim.Strategy, a.Trim.MinID = store.TrimMinID, id
			}
			i++
		case eqFold(opt, "limit") && more > 0:
			n, ok := c.intArg(args[i+1], "")
			if !ok {
				return 0, false
			}
			if n < 0 {
				c.wr.Error("ERR The LIMIT argument must be >= 0.")
				return 0, false
			}
			a.Trim.Limit, limitGiven = n, true
			i++
		case xadd && eqFold(opt, "nomkstream"):
			a.NoMkStream = true
		case xadd:
			id, given, ok := parseStreamID(opt, true, 0, true)
			if !ok {
				c.wr.Error(errInvalidStreamID)
				return 0, false
			}
			a.ID, a.SeqAuto = id, !given
			break parse
		default:
			c.wr.Error(errSyntax)
			return 0, false
		}
	}
	if a.Trim.Limit != 0 && a.Trim.Strategy == store.TrimNone {
		c.wr.Error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")
		return 0, false
	}
	if !xadd && a.Trim.Strategy == store.TrimNone {
		c.wr.Error("ERR syntax error, XTRIM must be called with a trimming strategy")
		return 0, false
	}
	switch {
	case limitGiven && !a.Trim.Approx:
		c.wr.Error("ERR syntax error, LIMIT cannot be used without the special ~ option")
		return 0, false
	case !limitGiven && a.Trim.Approx:
		a.Trim.Limit = streamTrimLimit
	case !limitGiven:
		a.Trim.Limit = 0
	}
	return i, true
}

func cmdXAdd(c *conn, args [][]byte) {
	var a store.XAddArgs
	at, ok := c.parseTrim(args, true, &a)
	if !ok {
		return
	}
	// parseTrim stops at the ID; at == len(args) when the options used every argument.
	fields := len(args) - at - 1
	if fields < 2 || fields%2 == 1 {
		c.wr.Error(errArity(c.lookup(c.s.cmds, args[0])))
		return
	}
	before := int64(-1) // the length before, to tell whether XADD trimmed
	if a.Trim.Strategy != store.TrimNone && c.s.notifying(notifyStream) {
		before, _ = c.s.store.XLen(args[1])
	}
	id, added, err := c.s.store.XAdd(args[1], a, args[at+1:])
	if added && err == nil {
		c.notifyXAdd(args[1], before)
	}
	switch {
	case err != nil:
		c.writeStoreErr(err)
	case !added:
		c.wr.Null()
	default:
		c.writeID(id)
	}
}

func cmdXTrim(c *conn, args [][]byte) {
	var a store.XAddArgs
	if _, ok := c.parseTrim(args, false, &a); !ok {
		return
	}
	n, err := c.s.store.XTrim(args[1], a.Trim)
	if n > 0 {
		c.notify(notifyStream, "xtrim", args[1])
	}
	c.replyInt(n, err)
}

func cmdXLen(c *conn, args [][]byte) { c.replyInt(c.s.store.XLen(args[1])) }

func xrange(rev bool) func(*conn, [][]byte) {
	return func(c *conn, args [][]byte) {
		sa, ea := args[2], args[3]
		if rev {
			sa, ea = ea, sa
		}
		start, ok := c.intervalID(sa, 0, true)
		if !ok {
			return
		}
		end, ok := c.intervalID(ea, math.MaxUint64, false)
		if !ok {
			return
		}
		count := int64(-1)
		for j := 4; j < len(args); j++ {
			if !eqFold(args[j], "count") || j+1 >= len(args) {
				c.wr.Error(errSyntax)
				return
			}
			n, ok := c.intArg(args[j+1], "")
			if !ok {
				return
			}
			count = max(n, 0)
			j++
		}
		if count == 0 {
			switch c.s.store.Type(args[1]) {
			case store.KindNone:
				c.wr.Array(0)
			case store.KindStream:
				c.wr.NullArray()
			default:
				c.wr.Error(store.ErrWrongType.Error())
			}
			return
		}
		es, err := c.s.store.XRange(args[1], start, end, max(count, 0), rev)
		if err != nil {
			c.writeStoreErr(err)
			return
		}
		c.writeEntries(es)
	}
}

// parseIDs parses XDEL's and XACK's IDs (strict), answering the first error.
func (c *conn) parseIDs(args [][]byte) ([]store.StreamID, bool) {
	ids := make([]store.StreamID, len(args))
	for i, a := range args {
		var ok bool
		if ids[i], ok = c.strictID(a); !ok {
			return nil, false
		}
	}
	return ids, true
}

func cmdXDel(c *conn, args [][]byte) {
	ids, ok := c.parseIDs(args[2:])
	if !ok {
		return
	}
	n, err := c.s.store.XDel(args[1], ids)
	if n > 0 {
		c.notify(notifyStream, "xdel", args[1])
	}
	c.replyInt(n, err)
}

func cmdXAck(c *conn, args [][]byte) {
	ids, ok := c.parseIDs(args[3:])
	if !ok {
		return
	}
	c.replyInt(c.s.store.XAck(args[1], args[2], ids))
}

// xreadArgs are XREAD's and XREADGROUP's parsed options.
type xreadArgs struct {
	count          int64
	block          int64 // -1: no BLOCK
	keys, ids      [][]byte
	group, cname   []byte
	noack, grouped bool
}

// parseXRead parses the options as xreadCommand does; it answers the error itself.
func (c *conn) parseXRead(args [][]byte, grouped bool) (xreadArgs, bool) {
	a := xreadArgs{block: -1, grouped: grouped}
	symbol := "$"
	if grouped {
		symbol = ">"
	}
	streamsAt := 0
	for i := 1; i < len(args) && streamsAt == 0; i++ {
		more := len(args) - 1 - i
		o := args[i]
		switch {
		case eqFold(o, "block") && more > 0:
			i++
			n, ok := parseInt(args[i])
			if !ok {
				c.wr.Error("ERR timeout is not an integer or out of range")
				return a, false
			}
			if n < 0 {
				c.wr.Error("ERR timeout is negative")
				return a, false
			}
			a.block = n
		case eqFold(o, "count") && more > 0:
			i++
			n, ok := c.intArg(args[i], "")
			if !ok {
				return a, false
			}
			a.count = max(n, 0)
		case eqFold(o, "streams") && more > 0:
			streamsAt = i + 1
			n := len(args) - streamsAt
			if n%2 != 0 {
				c.wr.Error(fmt.Sprintf("ERR Unbalanced %s list of streams: for each stream key an ID or '%s' must be specified.", args[0], symbol))
				return a, false
			}
			a.keys, a.ids = args[streamsAt:streamsAt+n/2], args[streamsAt+n/2:]
		case eqFold(o, "group") && more >= 2:
			if !grouped {
				c.wr.Error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
				return a, false
			}
			a.group, a.cname = args[i+1], args[i+2]
			i += 2
		case eqFold(o, "noack"):
			if !grouped {
				c.wr.Error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
				return a, false
			}
			a.noack = true
		default:
			c.wr.Error(errSyntax)
			return a, false
		}
	}
	if streamsAt == 0 {
		c.wr.Error(errSyntax)
		return a, false
	}
	if grouped && a.group == nil {
		c.wr.Error("ERR Missing GROUP option for XREADGROUP")
		return a, false
	}
	return a, true
}

func xread(grouped bool) func(*conn, [][]byte) {
	return func(c *conn, args [][]byte) {
		a, ok := c.parseXRead(args, grouped)
		if !ok {
			return
		}
		p, err := c.prepareXRead(a)
		if err != nil {
			if err != errAnswered {
				c.writeStoreErr(err)
			}
			return
		}
		var fresh [][]byte // the streams whose group has no consumer a.cname yet
		if grouped {
			fresh = c.consumersAbsent(a.keys, a.group, a.cname)
		}
		res, block, err := c.s.tryXRead(p)
		c.notifyConsumers(fresh, a.group, a.cname)
		switch {
		case err != nil:
			c.writeStoreErr(err)
		case block && a.block >= 0:
			c.blockXRead(p) // cmd_stream_block.go
		case block:
			c.wr.NullArray()
		default:
			c.writeXRead(res)
		}
	}
}

// writeXRead writes what XREAD or XREADGROUP read: RESP3 a map by key, RESP2 an array
// of [key, entries]; an entry gone from the stream (a pending one read back) is its ID
// with a null.
func (c *conn) writeXRead(res []store.XReadResult) {
	if c.wr.Proto == 3 {
		c.wr.Map(len(res))
	} else {
		c.wr.Array(len(res))
	}
	for _, r := range res {
		if c.wr.Proto != 3 {
			c.wr.Array(2)
		}
		c.wr.Bulk(r.Key)
		c.wr.Array(len(r.Entries))
		for _, e := range r.Entries {
			if e.Fields == nil {
				c.wr.Array(2)
				c.writeID(e.ID)
				c.wr.NullArray()
				continue
			}
			c.writeEntry(e)
		}
	}
}

// errAnswered is a parse error already written to the client.
var errAnswered = errors.New("answered")

// xreadPrep is a parsed XREAD or XREADGROUP whose IDs are resolved ("$" to the stream's
// last ID when the command ran), ready to be tried, and tried again by a blocked read.
type xreadPrep struct {
	a    xreadArgs
	ids  []store.StreamID     // XREAD
	gids []store.XReadGroupID // XREADGROUP
}

// tryXRead serves a prepared read; block reports that there was nothing to serve, where
// a read with BLOCK waits.
func (s *Server) tryXRead(p *xreadPrep) (res []store.XReadResult, block bool, err error) {
	if p.a.grouped {
		res, err = s.store.XReadGroup(p.a.keys, p.gids, p.a.group, p.a.cname, p.a.count, p.a.noack)
	} else {
		res, err = s.store.XRead(p.a.keys, p.ids, p.a.count)
	}
	return res, err == nil && len(res) == 0, err
}

// prepareXRead checks every key (its type, and for XREADGROUP its group) and then parses
// its ID, key by key in Redis's order.
func (c *conn) prepareXRead(a xreadArgs) (*xreadPrep, error) {
	p := &xreadPrep{a: a}
	for i, k := range a.keys {
		raw := a.ids[i]
		dollar := len(raw) == 1 && raw[0] == '$'
		gt := len(raw) == 1 && raw[0] == '>'
		if a.grouped {
			if err := c.s.store.XReadGroupCheck([][]byte{k}, a.group); err != nil {
				return nil, err
			}
		}
		last, err := c.s.store.XLastIDs([][]byte{k})
		if err != nil {
			return nil, err
		}
		switch {
		case dollar && a.grouped:
			c.wr.Error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")
			return nil, errAnswered
		case dollar:
			p.ids = append(p.ids, last[0])
		case gt && !a.grouped:
			c.wr.Error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
			return nil, errAnswered
		case gt:
			p.gids = append(p.gids, store.XReadGroupID{New: true})
		default:
			id, ok := c.strictID(raw)
			if !ok {
				return nil, errAnswered
			}
			p.ids = append(p.ids, id)
			p.gids = append(p.gids, store.XReadGroupID{ID: id})
		}
	}
	return p, nil
}

// entriesRead parses an ENTRIESREAD value.
func (c *conn) entriesRead(b []byte) (int64, bool) {
	n, ok := c.intArg(b, "")
	if ok && n < 0 && n != -1 {
		c.wr.Error("ERR value for ENTRIESREAD must be positive or -1")
		return 0, false
	}
	return n, ok
}

func xgroupSyntax(c *conn, args [][]byte) {
	c.wr.Error(fmt.Sprintf("ERR unknown subcommand or wrong number of arguments for '%.128s'. Try XGROUP HELP.", args[1]))
}

func cmdXGroupCreate(c *conn, args [][]byte) {
	mkstream, read := false, int64(-1)
	if len(args) > 8 {
		xgroupSyntax(c, args)
		return
	}
	for i := 5; i < len(args); i++ {
		switch {
		case eqFold(args[i], "mkstream"):
			mkstream = true
		case eqFold(args[i], "entriesread") && i+1 < len(args):
			n, ok := c.entriesRead(args[i+1])
			if !ok {
				return
			}
			read = n
			i++
		default:
			xgroupSyntax(c, args)
			return
		}
	}
	last := len(args[4]) == 1 && args[4][0] == '$'
	var id store.StreamID
	if !last {
		// The key is checked first, as Redis does.
		switch c.s.store.Type(args[2]) {
		case store.KindNone:
			if !mkstream {
				c.writeStoreErr(store.ErrStreamKeyMissing)
				return
			}
		case store.KindStream:
		default:
			c.writeStoreErr(store.ErrWrongType)
			return
		}
		var ok bool
		if id, ok = c.strictID(args[4]); !ok {
			return
		}
	}
	if err := c.s.store.XGroupCreate(args[2], args[3], id, last, mkstream, read); err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyStream, "xgroup-create", args[2])
	c.wr.OK()
}

func cmdXGroupSetID(c *conn, args [][]byte) {
	if len(args) != 5 && len(args) != 7 {
		xgroupSyntax(c, args)
		return
	}
	last := len(args[4]) == 1 && args[4][0] == '$'
	var id store.StreamID
	read := int64(-1)
	// The key and group are checked before the arguments.
	if _, _, err := c.s.store.XInfoConsumers(args[2], args[3]); err != nil {
		if err == store.ErrNoSuchKey {
			err = store.ErrStreamKeyMissing
		}
		c.writeStoreErr(err)
		return
	}
	if !last {
		var ok bool
		if id, _, ok = parseStreamID(args[4], false, 0, false); !ok {
			c.wr.Error(errInvalidStreamID)
			return
		}
	}
	if len(args) == 7 {
		if !eqFold(args[5], "entriesread") {
			xgroupSyntax(c, args)
			return
		}
		n, ok := c.entriesRead(args[6])
		if !ok {
			return
		}
		read = n
	}
	if err := c.s.store.XGroupSetID(args[2], args[3], id, last, read); err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyStream, "xgroup-setid", args[2])
	c.wr.OK()
}

func cmdXGroupDestroy(c *conn, args [][]byte) {
	ok, err := c.s.store.XGroupDestroy(args[2], args[3])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if ok {
		c.notify(notifyStream, "xgroup-destroy", args[2])
	}
	c.wr.Int(b2i(ok))
}

func cmdXGroupCreateConsumer(c *conn, args [][]byte) {
	ok, err := c.s.store.XGroupCreateConsumer(args[2], args[3], args[4])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	if ok {
		c.notify(notifyStream, "xgroup-createconsumer", args[2])
	}
	c.wr.Int(b2i(ok))
}

func cmdXGroupDelConsumer(c *conn, args [][]byte) {
	existed := len(c.consumersAbsent(args[2:3], args[3], args[4])) == 0
	n, err := c.s.store.XGroupDelConsumer(args[2], args[3], args[4])
	if err == nil && existed {
		c.notify(notifyStream, "xgroup-delconsumer", args[2])
	}
	c.replyInt(n, err)
}

func cmdXPending(c *conn, args [][]byte) {
	if len(args) != 3 && (len(args) < 6 || len(args) > 9) {
		c.wr.Error(errSyntax)
		return
	}
	if len(args) == 3 {
		p, err := c.s.store.XPendingSummary(args[1], args[2])
		if err != nil {
			c.writeStoreErr(err)
			return
		}
		c.wr.Array(4)
		c.wr.Int(p.Count)
		if p.Count == 0 {
			c.wr.Null()
			c.wr.Null()
			c.wr.NullArray()
			return
		}
		c.writeID(p.First)
		c.writeID(p.Last)
		c.wr.Array(len(p.Consumers))
		for _, cc := range p.Consumers {
			c.wr.Array(2)
			c.wr.BulkString(cc.Name)
			c.wr.BulkString(strconv.FormatInt(cc.Count, 10))
		}
		return
	}
	at := 3
	var minIdle int64
	if eqFold(args[3], "idle") {
		n, ok := c.intArg(args[4], "")
		if !ok {
			return
		}
		if len(args) < 8 {
			c.wr.Error(errSyntax)
			return
		}
		minIdle, at = n, 5
	}
	count, ok := c.intArg(args[at+2], "")
	if !ok {
		return
	}
	start, ok := c.intervalID(args[at], 0, true)
	if !ok {
		return
	}
	end, ok := c.intervalID(args[at+1], math.MaxUint64, false)
	if !ok {
		return
	}
	var cname []byte
	if at+3 < len(args) {
		cname = args[at+3]
	}
	ps, err := c.s.store.XPendingRange(args[1], args[2], start, end, max(count, 0), minIdle, cname)
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Array(len(ps))
	for _, p := range ps {
		c.wr.Array(4)
		c.writeID(p.ID)
		c.wr.BulkString(p.Consumer)
		c.wr.Int(p.Idle)
		c.wr.Int(p.Count)
	}
}

func cmdXClaim(c *conn, args [][]byte) {
	// The key and group first, then the arguments, as Redis checks them.
	if _, err := c.s.store.XPendingSummary(args[1], args[2]); err != nil {
		c.writeStoreErr(err)
		return
	}
	minIdle, ok := c.intArg(args[4], "Invalid min-idle-time argument for XCLAIM")
	if !ok {
		return
	}
	j := 5
	var ids []store.StreamID
	for ; j < len(args); j++ {
		id, _, ok := parseStreamID(args[j], true, 0, false)
		if !ok {
			break
		}
		ids = append(ids, id)
	}
	a := store.XClaimArgs{MinIdle: max(minIdle, 0), Time: -1, RetryCount: -1}
	now := c.s.store.Now()
	for ; j < len(args); j++ {
		more := len(args) - 1 - j
		opt := args[j]
		switch {
		case eqFold(opt, "force"):
			a.Force = true
		case eqFold(opt, "justid"):
			a.JustID = true
		case eqFold(opt, "idle") && more > 0:
			j++
			n, ok := c.intArg(args[j], "Invalid IDLE option argument for XCLAIM")
			if !ok {
				return
			}
			a.Time = now - n
		case eqFold(opt, "time") && more > 0:
			j++
			n, ok := c.intArg(args[j], "Invalid TIME option argument for XCLAIM")
			if !ok {
				return
			}
			a.Time = n
		case eqFold(opt, "retrycount") && more > 0:
			j++
			n, ok := c.intArg(args[j], "Invalid RETRYCOUNT option argument for XCLAIM")
			if !ok {
				return
			}
			a.RetryCount = n
		case eqFold(opt, "lastid") && more > 0:
			j++
			id, ok := c.strictID(args[j])
			if !ok {
				return
			}
			a.LastID = id
		default:
			c.wr.Error(fmt.Sprintf("ERR Unrecognized XCLAIM option '%s'", opt))
			return
		}
	}
	fresh := c.consumersAbsent(args[1:2], args[2], args[3])
	out, err := c.s.store.XClaim(args[1], args[2], args[3], ids, a)
	c.notifyConsumers(fresh, args[2], args[3])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.writeClaimed(out, a.JustID)
}

func (c *conn) writeClaimed(out []store.XClaimed, justID bool) {
	c.wr.Array(len(out))
	for _, cl := range out {
		switch {
		case justID:
			c.writeID(cl.Entry.ID)
		case cl.Entry.Fields == nil:
			c.wr.Null()
		default:
			c.writeEntry(cl.Entry)
		}
	}
}

func cmdXAutoClaim(c *conn, args [][]byte) {
	minIdle, ok := c.intArg(args[4], "Invalid min-idle-time argument for XAUTOCLAIM")
	if !ok {
		return
	}
	start, ok := c.intervalID(args[5], 0, true)
	if !ok {
		return
	}
	count, justID := int64(100), false
	for j := 6; j < len(args); j++ {
		more := len(args) - 1 - j
		switch {
		case eqFold(args[j], "count") && more > 0:
			n, ok := parseInt(args[j+1])
			if !ok || n < 1 || n > math.MaxInt64/16 {
				c.wr.Error("ERR COUNT must be > 0")
				return
			}
			count = n
			j++
		case eqFold(args[j], "justid"):
			justID = true
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	fresh := c.consumersAbsent(args[1:2], args[2], args[3])
	out, next, deleted, err := c.s.store.XAutoClaim(args[1], args[2], args[3], max(minIdle, 0), start, count, justID)
	c.notifyConsumers(fresh, args[2], args[3])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Array(3)
	c.writeID(next)
	c.writeClaimed(out, justID)
	c.wr.Array(len(deleted))
	for _, id := range deleted {
		c.writeID(id)
	}
}

func cmdXSetID(c *conn, args [][]byte) {
	id, ok := c.strictID(args[2])
	if !ok {
		return
	}
	added := int64(-1)
	var maxDel store.StreamID
	for i := 3; i < len(args); i += 2 {
		more := len(args) - 1 - i
		switch {
		case eqFold(args[i], "entriesadded") && more > 0:
			n, ok := c.intArg(args[i+1], "")
			if !ok {
				return
			}
			if n < 0 {
				c.wr.Error("ERR entries_added must be positive")
				return
			}
			added = n
		case eqFold(args[i], "maxdeletedid") && more > 0:
			m, ok := c.strictID(args[i+1])
			if !ok {
				return
			}
			if id.Less(m) {
				c.wr.Error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
				return
			}
			maxDel = m
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	if err := c.s.store.XSetID(args[1], id, added, maxDel); err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyStream, "xsetid", args[1])
	c.wr.OK()
}

func cmdXInfoStream(c *conn, args [][]byte) {
	full, count := false, int64(10)
	if len(args) > 3 {
		if len(args) > 6 || !eqFold(args[3], "full") {
			c.xinfoKeyOr(args, xinfoSyntax(args))
			return
		}
		full = true
		if len(args) > 4 {
			if len(args) != 6 || !eqFold(args[4], "count") {
				c.xinfoKeyOr(args, xinfoSyntax(args))
				return
			}
			n, ok := parseInt(args[5])
			if !ok {
				c.xinfoKeyOr(args, errNotInteger)
				return
			}
			count = max(n, 0)
		}
	}
	in, ok, err := c.s.store.XInfoStream(args[2], full, count)
	switch {
	case err != nil:
		c.writeStoreErr(err)
		return
	case !ok:
		c.writeStoreErr(store.ErrNoSuchKey)
		return
	}
	n := 10
	if full {
		n = 9
	}
	c.wr.Map(n)
	c.wr.BulkString("length")
	c.wr.Int(in.Length)
	c.wr.BulkString("radix-tree-keys")
	c.wr.Int(in.Nodes)
	c.wr.BulkString("radix-tree-nodes")
	c.wr.Int(radixNodes(in.Nodes))
	c.wr.BulkString("last-generated-id")
	c.writeID(in.Last)
	c.wr.BulkString("max-deleted-entry-id")
	c.writeID(in.MaxDeleted)
	c.wr.BulkString("entries-added")
	c.wr.Int(in.Added)
	c.wr.BulkString("recorded-first-entry-id")
	c.writeID(in.First)
	if !full {
		c.wr.BulkString("groups")
		c.wr.Int(int64(in.Groups))
		for i, e := range []*store.StreamEntry{in.FirstEntry, in.LastEntry} {
			c.wr.BulkString([]string{"first-entry", "last-entry"}[i])
			if e == nil {
				c.wr.Null()
			} else {
				c.writeEntry(*e)
			}
		}
		return
	}
	c.wr.BulkString("entries")
	c.writeEntries(in.Entries)
	c.wr.BulkString("groups")
	c.wr.Array(len(in.Full))
	for _, g := range in.Full {
		c.wr.Map(7)
		c.wr.BulkString("name")
		c.wr.BulkString(g.Name)
		c.wr.BulkString("last-delivered-id")
		c.writeID(g.Last)
		c.writeReadLag(g)
		c.wr.BulkString("pel-count")
		c.wr.Int(g.Pending)
		c.wr.BulkString("pending")
		c.wr.Array(len(g.PEL))
		for _, p := range g.PEL {
			c.wr.Array(4)
			c.writeID(p.ID)
			c.wr.BulkString(p.Consumer)
			c.wr.Int(p.Idle)
			c.wr.Int(p.Count)
		}
		c.wr.BulkString("consumers")
		c.wr.Array(len(g.ConsumerList))
		for _, cs := range g.ConsumerList {
			c.wr.Map(4)
			c.wr.BulkString("name")
			c.wr.BulkString(cs.Name)
			c.wr.BulkString("seen-time")
			c.wr.Int(cs.Seen)
			c.wr.BulkString("pel-count")
			c.wr.Int(cs.Pending)
			c.wr.BulkString("pending")
			c.wr.Array(len(cs.PEL))
			for _, p := range cs.PEL {
				c.wr.Array(3)
				c.writeID(p.ID)
				c.wr.Int(p.Idle)
				c.wr.Int(p.Count)
			}
		}
	}
}

// radixNodes approximates the radix-tree-nodes Redis reports for a tree of n keys.
func radixNodes(n int64) int64 {
	if n == 0 {
		return 1
	}
	return n + (n+1)/2
}

func xinfoSyntax(args [][]byte) string {
	return fmt.Sprintf("ERR unknown subcommand or wrong number of arguments for '%.128s'. Try XINFO HELP.", args[1])
}

// xinfoKeyOr answers XINFO's key errors first (Redis looks the key up before it reads
// the options), else msg.
func (c *conn) xinfoKeyOr(args [][]byte, msg string) {
	switch c.s.store.Type(args[2]) {
	case store.KindNone:
		c.writeStoreErr(store.ErrNoSuchKey)
	case store.KindStream:
		c.wr.Error(msg)
	default:
		c.writeStoreErr(store.ErrWrongType)
	}
}

func (c *conn) writeReadLag(g store.GroupInfo) {
	c.wr.BulkString("entries-read")
	if g.Read < 0 {
		c.wr.Null()
	} else {
		c.wr.Int(g.Read)
	}
	c.wr.BulkString("lag")
	if g.LagKnown {
		c.wr.Int(g.Lag)
	} else {
		c.wr.Null()
	}
}

func cmdXInfoGroups(c *conn, args [][]byte) {
	gs, err := c.s.store.XInfoGroups(args[2])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Array(len(gs))
	for _, g := range gs {
		c.wr.Map(6)
		c.wr.BulkString("name")
		c.wr.BulkString(g.Name)
		c.wr.BulkString("consumers")
		c.wr.Int(g.Consumers)
		c.wr.BulkString("pending")
		c.wr.Int(g.Pending)
		c.wr.BulkString("last-delivered-id")
		c.writeID(g.Last)
		c.writeReadLag(g)
	}
}

func cmdXInfoConsumers(c *conn, args [][]byte) {
	cs, now, err := c.s.store.XInfoConsumers(args[2], args[3])
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.wr.Array(len(cs))
	for _, x := range cs {
		c.wr.Map(3)
		c.wr.BulkString("name")
		c.wr.BulkString(x.Name)
		c.wr.BulkString("pending")
		c.wr.Int(x.Pending)
		c.wr.BulkString("idle")
		c.wr.Int(max(now-x.Seen, 0))
	}
}
