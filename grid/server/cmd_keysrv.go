package server

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/insightgrid/insight/grid/acl"
	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/store"
)

// keysrvCommands are DUMP, RESTORE, OBJECT, SORT, SORT_RO, MOVE, WAIT, DEBUG and MEMORY.
func keysrvCommands() []*command {
	keyAt2 := keyed{2, 2, 1, nil}
	return []*command{
		withSpecs(def("dump", 2, ro, oneKey, "keyspace", "2.6.0", "Returns a serialized representation of the value stored at a key.", cmdDump), spec(1, "RO", "access")),
		withSpecs(def("restore", -4, wr|oom, oneKey, "keyspace", "2.6.0", "Creates a key from the serialized representation of a value.", cmdRestore), spec(1, "OW", "update")),
		withSpecs(def("sort", -2, wr|oom|mov, keyed{1, 1, 1, sortKeys}, "list", "1.0.0", "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", sortCommand(false)), spec(1, "RO", "access")),
		withSpecs(def("sort_ro", -2, ro|mov, oneKey, "list", "7.0.0", "Returns the sorted elements of a list, a set, or a sorted set.", sortCommand(true)), spec(1, "RO", "access")),
		withSpecs(def("move", 3, wr|fast, oneKey, "keyspace", "1.0.0", "Moves a key to another database.", cmdMove), spec(1, "RW", "access", "delete")),
		def("wait", 3, 0, noKeys, "connection", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", cmdWait),
		def("debug", -2, admin|noaut|ls, noKeys, "server", "1.0.0", "A container for debugging commands.", cmdDebug),
		container("object", 0, "keyspace", "2.2.3", "A container for object introspection commands.", nil,
			withSpecs(def("encoding", 3, ro, keyAt2, "keyspace", "2.2.3", "Returns the internal encoding of a Redis object.", cmdObjectEncoding), spec(2, "RO")),
			withSpecs(def("refcount", 3, ro, keyAt2, "keyspace", "2.2.3", "Returns the reference count of a value of a key.", cmdObjectRefcount), spec(2, "RO")),
			withSpecs(def("freq", 3, ro, keyAt2, "keyspace", "4.0.0", "Returns the logarithmic access frequency counter of a Redis object.", cmdObjectFreq), spec(2, "RO")),
			withSpecs(def("idletime", 3, ro, keyAt2, "keyspace", "2.2.3", "Returns the time since the last access to a Redis object.", cmdObjectIdletime), spec(2, "RO")),
			def("help", 2, ls, noKeys, "keyspace", "6.2.0", "Returns helpful text about the different subcommands.", helpText(objectHelp)),
		),
		container("memory", 0, "server", "4.0.0", "A container for memory diagnostics commands.", nil,
			def("doctor", 2, 0, noKeys, "server", "4.0.0", "Outputs a memory problems report.", cmdMemoryDoctor),
			def("malloc-stats", 2, 0, noKeys, "server", "4.0.0", "Returns the allocator statistics.", cmdMemoryMallocStats),
			def("purge", 2, 0, noKeys, "server", "4.0.0", "Asks the allocator to release memory.", cmdMemoryPurge),
			def("stats", 2, 0, noKeys, "server", "4.0.0", "Returns details about memory usage.", cmdMemoryStats),
			withSpecs(def("usage", -3, ro, keyAt2, "server", "4.0.0", "Estimates the memory usage of a key.", cmdMemoryUsage), spec(2, "RO")),
			def("help", 2, ls, noKeys, "server", "4.0.0", "Returns helpful text about the different subcommands.", helpText(memoryHelp)),
		),
	}
}

var objectHelp = []string{
	"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
	"FREQ <key>",
	"    Return the access frequency index of the <key>. The returned integer is",
	"    proportional to the logarithm of the recent access frequency of the key.",
	"IDLETIME <key>",
	"    Return the idle time of the <key>, that is the approximated number of",
	"    seconds elapsed since the last access to the key.",
	"REFCOUNT <key>",
	"    Return the number of references of the value associated with the specified",
	"    <key>.",
	"HELP",
	"    Prints this help.",
}

var memoryHelp = []string{
	"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"DOCTOR",
	"    Return memory problems reports.",
	"MALLOC-STATS",
	"    Return internal statistics report from the memory allocator.",
	"PURGE",
	"    Attempt to purge dirty pages for reclamation by the allocator.",
	"STATS",
	"    Return information about the memory usage of the server.",
	"USAGE <key> [SAMPLES <count>]",
	"    Return memory in bytes used by <key> and its value. Nested values are",
	"    sampled up to <count> times (default: 5, 0 means sample all).",
	"HELP",
	"    Prints this help.",
}

// helpText answers a HELP subcommand with Redis's lines.
func helpText(lines []string) func(c *conn, _ [][]byte) {
	return func(c *conn, _ [][]byte) {
		c.wr.Array(len(lines))
		for _, l := range lines {
			c.wr.Simple(l)
		}
	}
}

func cmdDump(c *conn, args [][]byte) {
	v, ok := c.s.store.Dump(args[1])
	if !ok {
		c.wr.Null()
		return
	}
	p, err := rdb.Encode(v)
	if err != nil {
		c.wr.Error(err.Error())
		return
	}
	c.wr.Bulk(p)
}

// cmdRestore checks options, then the key, the TTL and the payload, in Redis 7.0's order.
// IDLETIME sets the restored key's last access (under an LRU or no eviction policy) and
// FREQ its LFU counter (under an LFU policy), as Redis does.
func cmdRestore(c *conn, args [][]byte) {
	replace, absTTL := false, false
	idle, freq := int64(-1), int64(-1)
	for j := 4; j < len(args); j++ {
		more := j+1 < len(args)
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "absttl"):
			absTTL = true
		case eqFold(args[j], "idletime") && more && freq < 0:
			n, ok := parseInt(args[j+1])
			if !ok {
				c.wr.Error(errNotInteger)
				return
			}
			if n < 0 {
				c.wr.Error("ERR Invalid IDLETIME value, must be >= 0")
				return
			}
			idle = n
			j++
		case eqFold(args[j], "freq") && more && idle < 0:
			n, ok := parseInt(args[j+1])
			if !ok {
				c.wr.Error(errNotInteger)
				return
			}
			if n < 0 || n > 255 {
				c.wr.Error("ERR Invalid FREQ value, must be >= 0 and <= 255")
				return
			}
			freq = n
			j++
		default:
			c.wr.Error(errSyntax)
			return
		}
	}
	if !replace && c.s.store.Exists(args[1]) {
		c.wr.Error(store.ErrBusyKey.Error())
		return
	}
	ttl, ok := parseInt(args[2])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	if ttl < 0 {
		c.wr.Error("ERR Invalid TTL value, must be >= 0")
		return
	}
	// What the payload's strings may take decoded: the room maxmemory leaves, else the
	// bound of a string (proto-max-bulk-len) times a margin for the value's many strings.
	limit := int64(4 * c.s.cfg.ProtoMaxBulkLen)
	if m := c.s.store.MaxMemory(); m > 0 {
		limit = max(m-c.s.store.UsedMemory(), 0)
	}
	v, err := rdb.Decode(args[3], limit)
	switch {
	case errors.Is(err, rdb.ErrTooLarge):
		c.writeStoreErr(store.ErrOOM)
		return
	case err != nil:
		c.wr.Error(err.Error())
		return
	}
	if ttl > 0 && !absTTL {
		ttl += c.s.store.Now()
	}
	v.ExpireAt = ttl
	if ttl != 0 && ttl <= c.s.store.Now() {
		// Already expired: Redis answers OK and only deletes what REPLACE replaces.
		v.ExpireAt = 1
	}
	replaced := replace && v.ExpireAt == 1 && c.s.notifying(notifyGeneric) && c.s.store.Exists(args[1])
	if err := c.s.store.RestoreValue(args[1], v, replace); err != nil {
		c.writeStoreErr(err)
		return
	}
	c.s.store.SetAccess(args[1], idle, freq)
	c.notifyRestore(args[1], v.ExpireAt == 1, replaced)
	c.wr.OK()
}

func cmdObjectEncoding(c *conn, args [][]byte) {
	enc, ok := c.s.store.Encoding(args[2])
	if !ok {
		c.wr.Null()
		return
	}
	c.wr.BulkString(enc)
}

// sharedRefcount is what Redis reports for its shared integer objects (0 to 9999).
const sharedRefcount = math.MaxInt32

func cmdObjectRefcount(c *conn, args [][]byte) {
	v, ok := c.s.store.Dump(args[2])
	if !ok {
		c.wr.Null()
		return
	}
	if v.Kind == store.KindString && v.Encoding == "int" {
		if n, _ := strconv.ParseInt(string(v.Str), 10, 64); n >= 0 && n < 10000 {
			c.wr.Int(sharedRefcount)
			return
		}
	}
	c.wr.Int(1)
}

// sortKeys locates SORT's keys: the key sorted and, with STORE, the last STORE key (as
// Redis's sortGetKeys, skipping LIMIT's, GET's and BY's arguments).
func sortKeys(args [][]byte) (first, last, step int) {
	store := 0
	for i := 2; i < len(args); i++ {
		switch {
		case eqFold(args[i], "limit"):
			i += 2
		case eqFold(args[i], "get"), eqFold(args[i], "by"):
			i++
		case eqFold(args[i], "store") && i+1 < len(args):
			store = i + 1
		}
	}
	if store == 0 {
		return 1, 1, 1
	}
	return 1, store, store - 1
}

// sortCommand is SORT (readonly false) and SORT_RO, of a list, a set or a sorted set. In
// cluster mode Redis 7.0 refuses a BY pattern (one with '*') and every GET, so what
// remains is sorting the value itself.
func sortCommand(readonly bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		desc, alpha, dontsort := false, false, false
		start, count := int64(0), int64(-1)
		var storeKey []byte
		for j := 2; j < len(args); j++ {
			left := len(args) - j - 1
			switch {
			case eqFold(args[j], "asc"):
				desc = false
			case eqFold(args[j], "desc"):
				desc = true
			case eqFold(args[j], "alpha"):
				alpha = true
			case eqFold(args[j], "limit") && left >= 2:
				s, ok1 := parseInt(args[j+1])
				n, ok2 := parseInt(args[j+2])
				if !ok1 || !ok2 {
					c.wr.Error(errNotInteger)
					return
				}
				start, count = s, n
				j += 2
			case !readonly && eqFold(args[j], "store") && left >= 1:
				storeKey = args[j+1]
				j++
			case eqFold(args[j], "by") && left >= 1:
				if bytes.IndexByte(args[j+1], '*') < 0 {
					dontsort = true
				} else {
					c.wr.Error("ERR BY option of SORT denied in Cluster mode.")
					return
				}
				j++
			case eqFold(args[j], "get") && left >= 1:
				c.wr.Error("ERR GET option of SORT denied in Cluster mode.")
				return
			default:
				c.wr.Error(errSyntax)
				return
			}
		}
		v, ok := c.s.store.Dump(args[1])
		if ok && v.Kind != store.KindList && v.Kind != store.KindSet && v.Kind != store.KindZSet {
			c.wr.Error(store.ErrWrongType.Error())
			return
		}
		elems := v.Items
		if v.Kind == store.KindZSet {
			// A sorted set's members, in score order (what BY nosort keeps); as Redis's
			// SORT, it leaves the set in the skiplist encoding.
			c.s.store.ZSetToSkiplist(args[1])
			elems = make([][]byte, len(v.ZSet))
			for i, e := range v.ZSet {
				elems[i] = e.Member
			}
		}
		if dontsort && v.Kind == store.KindSet && storeKey != nil {
			// A set's order is its encoding's: stored results are sorted, as in Redis.
			dontsort, alpha = false, true
		}
		if dontsort && desc && (v.Kind == store.KindList || v.Kind == store.KindZSet) {
			slices.Reverse(elems)
		}
		if !dontsort {
			var bad bool
			if elems, bad = sortElems(elems, alpha, desc); bad {
				c.wr.Error("ERR One or more scores can't be converted into double")
				return
			}
		}
		elems = sortLimit(elems, start, count)
		if storeKey == nil {
			c.wr.Array(len(elems))
			for _, e := range elems {
				c.wr.Bulk(e)
			}
			return
		}
		existed := false
		if len(elems) == 0 {
			existed = c.s.store.Del(storeKey)
		} else if err := c.s.store.RestoreValue(storeKey, store.Value{Kind: store.KindList, Items: elems}, true); err != nil {
			c.writeStoreErr(err)
			return
		}
		c.notifyStored(notifyList, "sortstore", storeKey, len(elems) > 0, existed)
		c.wr.Int(int64(len(elems)))
	}
}

// sortLimit applies LIMIT start count as Redis's SORT clamps it.
func sortLimit(elems [][]byte, start, count int64) [][]byte {
	n := int64(len(elems))
	start = min(max(start, 0), n)
	count = min(max(count, -1), n)
	end := n - 1
	if count >= 0 {
		end = start + count - 1
	}
	if start >= n {
		return nil
	}
	end = min(end, n-1)
	if end < start {
		return nil
	}
	return elems[start : end+1]
}

// sortElems orders elems by their numeric value (ties by their bytes) or, with alpha, by
// their bytes; bad reports an element that is not a number.
func sortElems(elems [][]byte, alpha, desc bool) (out [][]byte, bad bool) {
	type item struct {
		e     []byte
		score float64
	}
	items := make([]item, len(elems))
	for i, e := range elems {
		items[i].e = e
		if !alpha {
			f, ok := sortScore(e)
			if !ok {
				bad = true
			}
			items[i].score = f
		}
	}
	if bad {
		return nil, true
	}
	slices.SortFunc(items, func(a, b item) int {
		cmp := 0
		switch {
		case alpha:
			cmp = bytes.Compare(a.e, b.e)
		case a.score > b.score:
			cmp = 1
		case a.score < b.score:
			cmp = -1
		default:
			cmp = bytes.Compare(a.e, b.e)
		}
		if desc {
			return -cmp
		}
		return cmp
	})
	out = elems[:0:0]
	for _, it := range items {
		out = append(out, it.e)
	}
	return out, false
}

// sortScore reads b as SORT reads a score with C's strtod: leading white space, decimal or
// hexadecimal, inf and infinity; nothing after the number, no NaN, no overflow or
// underflow (ERANGE). An empty string is 0.
func sortScore(b []byte) (float64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	f, erange, ok := strtod(bytes.TrimLeft(b, " \t\n\v\f\r"))
	if !ok || erange || math.IsNaN(f) || f != 0 && math.Abs(f) < 0x1p-1022 && !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// cmdMove answers as Redis Cluster does: there is one database.
func cmdMove(c *conn, _ [][]byte) { c.wr.Error("ERR MOVE is not allowed in cluster mode") }

// cmdWait answers how many backups have acknowledged this connection's writes: the
// grid's replication is synchronous, so once the writes are acknowledged that is the
// partition's backup when it is in sync (0 standalone). Asked for more, it waits up to
// timeout (0: until the server stops) for the backup to come in sync, as Redis blocks;
// asked for more than the one backup a partition has, or standalone, it answers at once
// (Redis would block to the timeout for replicas that cannot come).
func cmdWait(c *conn, args [][]byte) {
	want, ok := parseInt(args[1])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	timeout, ok := parseInt(args[2])
	if !ok {
		c.wr.Error("ERR timeout is not an integer or out of range")
		return
	}
	if timeout < 0 {
		c.wr.Error("ERR timeout is negative")
		return
	}
	if c.s.role() != "master" {
		c.wr.Error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
		return
	}
	acked := func() int64 {
		if c.need > 0 && !c.s.cfg.Replication.Wait(c.need) {
			return 0
		}
		if c.s.cfg.Replication.Status().InSync {
			return 1
		}
		return 0
	}
	n := acked()
	if _, standalone := c.s.cfg.Replication.(Standalone); standalone || want > 1 || c.mx.running != nil {
		c.wr.Int(n)
		return
	}
	deadline := time.Now().Add(time.Duration(timeout) * time.Millisecond)
	for n < want && (timeout == 0 || time.Now().Before(deadline)) && !c.s.isClosed() {
		time.Sleep(10 * time.Millisecond)
		n = acked()
	}
	c.wr.Int(n)
}

// isClosed reports whether Close was called.
func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// cmdDebug refuses, in Redis's words for a server whose enable-debug-command is off.
func cmdDebug(c *conn, _ [][]byte) {
	c.wr.Error(`ERR DEBUG command not allowed. If the enable-debug-command option is set to "local", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.`)
}

func cmdMemoryUsage(c *conn, args [][]byte) {
	samples := int64(5)
	for j := 3; j < len(args); j++ {
		if !eqFold(args[j], "samples") || j+1 >= len(args) {
			c.wr.Error(errSyntax)
			return
		}
		n, ok := parseInt(args[j+1])
		if !ok {
			c.wr.Error(errNotInteger)
			return
		}
		if n < 0 {
			c.wr.Error(errSyntax)
			return
		}
		samples = n
		j++
	}
	n, ok := c.s.store.MemoryUsage(args[2], int(min(samples, math.MaxInt32)))
	if !ok {
		c.wr.Null()
		return
	}
	c.wr.Int(n)
}

func cmdMemoryDoctor(c *conn, _ [][]byte) {
	if c.s.store.Keys() == 0 || c.s.store.UsedMemory() < 5<<20 {
		c.wr.Verbatim("Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.")
		return
	}
	c.wr.Verbatim("Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.")
}

func cmdMemoryMallocStats(c *conn, _ [][]byte) {
	c.wr.Verbatim("Stats not supported for the current allocator")
}

func cmdMemoryPurge(c *conn, _ [][]byte) {
	c.s.store.Trim()
	c.wr.OK()
}

// cmdMemoryStats reports the fields of Redis's MEMORY STATS the grid counts.
func cmdMemoryStats(c *conn, _ [][]byte) {
	st := c.s.store
	used, dataset, keys := st.UsedMemory(), st.DatasetBytes(), st.Keys()
	perKey, pct := int64(0), 0.0
	if keys > 0 {
		perKey = (used - dataset) / keys
	}
	if used > 0 {
		pct = float64(dataset) * 100 / float64(used)
	}
	ints := [][2]any{
		{"peak.allocated", used}, {"total.allocated", used}, {"startup.allocated", int64(0)},
		{"replication.backlog", int64(0)}, {"clients.slaves", int64(0)}, {"clients.normal", int64(0)},
		{"aof.buffer", int64(0)}, {"lua.caches", int64(0)}, {"functions.caches", int64(0)},
		{"overhead.total", used - dataset}, {"keys.count", keys}, {"keys.bytes-per-key", perKey},
		{"dataset.bytes", dataset}, {"dataset.percentage", pct},
	}
	c.wr.Map(len(ints))
	for _, kv := range ints {
		c.wr.BulkString(kv[0].(string))
		switch v := kv[1].(type) {
		case int64:
			c.wr.Int(v)
		case float64:
			c.wr.BulkString(strconv.FormatFloat(v, 'f', -1, 64))
		}
	}
}

// commandTarget finds the command (or subcommand) args name, nil when there is none.
func (c *conn) commandTarget(args [][]byte) *command {
	cmd := c.lookup(c.s.cmds, args[0])
	if cmd != nil && cmd.subs != nil && len(args) >= 2 {
		cmd = c.lookup(cmd.subs, args[1])
	}
	return cmd
}

// commandKeys is COMMAND GETKEYS (withFlags false) and GETKEYSANDFLAGS: the keys the
// command given would touch, found as routing finds them (movable keys included).
func commandKeys(withFlags bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		target := args[2:]
		cmd := c.commandTarget(target)
		switch {
		case cmd == nil:
			c.wr.Error("ERR Invalid command specified")
			return
		case cmd.firstKey == 0 && cmd.movable == nil:
			c.wr.Error("ERR The command has no key arguments")
			return
		case !cmd.arityOK(len(target)):
			c.wr.Error("ERR Invalid number of arguments specified for command")
			return
		}
		first, last, step := cmd.keyRange(target)
		var pos []int
		for i := first; first > 0 && i <= last && i < len(target) && step > 0; i += step {
			pos = append(pos, i)
		}
		if len(pos) == 0 {
			c.wr.Error("ERR Invalid arguments specified for command")
			return
		}
		c.wr.Array(len(pos))
		for _, i := range pos {
			if !withFlags {
				c.wr.Bulk(target[i])
				continue
			}
			flags := cmd.keyFlagsIn(target, i)
			c.wr.Array(2)
			c.wr.Bulk(target[i])
			c.wr.Set(len(flags))
			for _, f := range flags {
				c.wr.Simple(f)
			}
		}
	}
}

// keyFlags are the key-spec flags of the key at argument pos: from the spec that covers
// it, or Redis's for a command whose specs the table does not write out (key_flags.go),
// SORT's STORE key as Redis's sortGetKeys flags it, else read or write access.
func (cmd *command) keyFlags(pos int) []string {
	for _, ks := range cmd.specs {
		last := ks.index + ks.lastKey
		if ks.lastKey < 0 {
			last = math.MaxInt
		}
		if pos >= ks.index && pos <= last && (pos-ks.index)%max(ks.keyStep, 1) == 0 {
			return ks.flags
		}
	}
	if kf, ok := redisKeyFlags[cmd.name]; ok && cmd.parent == nil {
		if pos > 1 && kf.rest != nil {
			return kf.rest
		}
		return kf.first
	}
	switch {
	case cmd.name == "sort" && pos > 1:
		return []string{"OW", "update"}
	case cmd.flags&flagWrite != 0:
		return []string{"RW", "access", "update"}
	}
	return []string{"RO", "access"}
}

// cmdCommandList lists the commands and their subcommands, all or FILTERBY MODULE,
// ACLCAT or PATTERN.
func cmdCommandList(c *conn, args [][]byte) {
	keep := func(*command) bool { return true }
	switch {
	case len(args) == 2:
	case len(args) == 5 && eqFold(args[2], "filterby"):
		v := args[4]
		switch {
		case eqFold(args[3], "module"):
			keep = func(*command) bool { return false }
		case eqFold(args[3], "aclcat"):
			cat, _ := acl.ParseCategory(string(v))
			keep = func(cmd *command) bool { return cmd.categories&cat != 0 }
		case eqFold(args[3], "pattern"):
			pat := bytes.ToLower(v)
			keep = func(cmd *command) bool { return store.Match(pat, []byte(cmd.fullName())) }
		default:
			c.wr.Error(errSyntax)
			return
		}
	default:
		c.wr.Error(errSyntax)
		return
	}
	var names []string
	for _, cmd := range c.s.sortedCommands() {
		if keep(cmd) {
			names = append(names, cmd.fullName())
		}
		for _, sub := range sortedSubs(cmd) {
			if keep(sub) {
				names = append(names, sub.fullName())
			}
		}
	}
	c.wr.Array(len(names))
	for _, n := range names {
		c.wr.BulkString(n)
	}
}
