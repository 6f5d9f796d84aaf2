package server

import "github.com/insightgrid/insight/grid/store"

// Short names keep the table below one line per command.
const (
	ro    = flagReadonly
	wr    = flagWrite
	oom   = flagDenyOOM
	fast  = flagFast
	noaut = flagNoAuth
	admin = flagAdmin
	ls    = flagLoading | flagStale
	mov   = flagMovableKeys
)

// keyed describes where a command's keys are, as COMMAND reports it; movable, when set,
// finds them in the arguments instead (COMMAND then reports 0 0 0 and movablekeys).
type keyed struct {
	first, last, step int
	movable           func(args [][]byte) (first, last, step int)
}

var (
	noKeys   = keyed{}
	oneKey   = keyed{1, 1, 1, nil}
	twoKeys  = keyed{1, 2, 1, nil}
	allKeys  = keyed{1, -1, 1, nil}
	keyPairs = keyed{1, -1, 2, nil}
	// numKeysAt1 is a key count as first argument, the keys after it (SINTERCARD, LMPOP).
	numKeysAt1 = keyed{movable: numKeys(1)}
)

func def(name string, arity int, flags cmdFlag, k keyed, group, since, summary string, h func(*conn, [][]byte)) *command {
	return &command{name: name, arity: arity, flags: flags, firstKey: k.first, lastKey: k.last, step: k.step,
		movable: k.movable, group: group, since: since, summary: summary, handler: h}
}

// container is a command with subcommands (CLUSTER, CLIENT, COMMAND, CONFIG).
func container(name string, flags cmdFlag, group, since, summary string, h func(*conn, [][]byte), subs ...*command) *command {
	if h == nil {
		h = func(c *conn, args [][]byte) { c.wr.Error(errArity(c.lookup(c.s.cmds, args[0]))) }
	}
	cmd := def(name, -2, flags, noKeys, group, since, summary, h)
	if name == "command" {
		cmd.arity = -1
	}
	cmd.subs = map[string]*command{}
	// A container's own help, given among subs, replaces the generic one.
	subs = append([]*command{def("help", 2, ls, noKeys, group, "5.0.0", "Show helpful text about the different subcommands.", help)}, subs...)
	for _, sub := range subs {
		sub.parent = cmd
		cmd.subs[sub.name] = sub
	}
	return cmd
}

// commandTable is every command the grid serves.
func commandTable() map[string]*command {
	cmds := []*command{
		// Strings.
		def("get", 2, ro|fast, oneKey, "string", "1.0.0", "Returns the string value of a key.", cmdGet),
		def("set", -3, wr|oom, oneKey, "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", cmdSet),
		def("setnx", 3, wr|oom|fast, oneKey, "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", cmdSetNX),
		def("setex", 4, wr|oom, oneKey, "string", "2.0.0", "Sets the string value and expiration time of a key.", setEX(1000, "setex")),
		def("psetex", 4, wr|oom, oneKey, "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key.", setEX(1, "psetex")),
		def("mget", -2, ro|fast, allKeys, "string", "1.0.0", "Atomically returns the string values of one or more keys.", cmdMGet),
		def("mset", -3, wr|oom, keyPairs, "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", cmdMSet),
		def("incr", 2, wr|oom|fast, oneKey, "string", "1.0.0", "Increments the integer value of a key by one.", cmdIncr),
		def("decr", 2, wr|oom|fast, oneKey, "string", "1.0.0", "Decrements the integer value of a key by one.", cmdDecr),
		def("incrby", 3, wr|oom|fast, oneKey, "string", "1.0.0", "Increments the integer value of a key by a number.", cmdIncrBy),
		def("decrby", 3, wr|oom|fast, oneKey, "string", "1.0.0", "Decrements a number from the integer value of a key.", cmdDecrBy),
		def("incrbyfloat", 3, wr|oom|fast, oneKey, "string", "2.6.0", "Increment the floating point value of a key by a number.", cmdIncrByFloat),
		def("append", 3, wr|oom|fast, oneKey, "string", "2.0.0", "Appends a string to the value of a key.", cmdAppend),
		def("strlen", 2, ro|fast, oneKey, "string", "2.2.0", "Returns the length of a string value.", cmdStrLen),
		withSpecs(def("getex", -2, wr|fast, oneKey, "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", cmdGetEx), keySpec{notes: "RW and UPDATE because it changes the TTL", flags: []string{"RW", "access", "update"}, index: 1, keyStep: 1}),
		withSpecs(def("getdel", 2, wr|fast, oneKey, "string", "6.2.0", "Returns the string value of a key after deleting the key.", cmdGetDel), spec(1, "RW", "access", "delete")),
		withSpecs(def("getset", 3, wr|oom|fast, oneKey, "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", cmdGetSet), spec(1, "RW", "access", "update")),
		withSpecs(def("msetnx", -3, wr|oom, keyPairs, "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", cmdMSetNX), keySpec{flags: []string{"OW", "insert"}, index: 1, lastKey: -1, keyStep: 2}),
		withSpecs(def("setrange", 4, wr|oom, oneKey, "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", cmdSetRange), spec(1, "RW", "update")),
		withSpecs(def("getrange", 4, ro, oneKey, "string", "2.4.0", "Returns a substring of the string stored at a key.", cmdGetRange), spec(1, "RO", "access")),
		withSpecs(def("substr", 4, ro, oneKey, "string", "1.0.0", "Returns a substring from a string value.", cmdGetRange), spec(1, "RO", "access")),
		withSpecs(def("lcs", -3, ro, twoKeys, "string", "7.0.0", "Finds the longest common substring.", cmdLCS), keySpec{flags: []string{"RO", "access"}, index: 1, lastKey: 1, keyStep: 1}),
		// Keys.
		def("del", -2, wr, allKeys, "keyspace", "1.0.0", "Deletes one or more keys.", cmdDel),
		def("unlink", -2, wr|fast, allKeys, "keyspace", "4.0.0", "Asynchronously deletes one or more keys.", cmdDel),
		def("exists", -2, ro|fast, allKeys, "keyspace", "1.0.0", "Determines whether one or more keys exist.", cmdExists),
		def("expire", -3, wr|fast, oneKey, "keyspace", "1.0.0", "Sets the expiration time of a key in seconds.", expire(1000, false, "expire")),
		def("pexpire", -3, wr|fast, oneKey, "keyspace", "2.6.0", "Sets the expiration time of a key in milliseconds.", expire(1, false, "pexpire")),
		def("expireat", -3, wr|fast, oneKey, "keyspace", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.", expire(1000, true, "expireat")),
		def("pexpireat", -3, wr|fast, oneKey, "keyspace", "2.6.0", "Sets the expiration time of a key to a Unix milliseconds timestamp.", expire(1, true, "pexpireat")),
		def("ttl", 2, ro|fast, oneKey, "keyspace", "1.0.0", "Returns the expiration time in seconds of a key.", cmdTTL),
		def("pttl", 2, ro|fast, oneKey, "keyspace", "2.6.0", "Returns the expiration time in milliseconds of a key.", cmdPTTL),
		def("persist", 2, wr|fast, oneKey, "keyspace", "2.2.0", "Removes the expiration time of a key.", cmdPersist),
		def("type", 2, ro|fast, oneKey, "keyspace", "1.0.0", "Determines the type of value stored at a key.", cmdType),
		withSpecs(def("rename", 3, wr, twoKeys, "keyspace", "1.0.0", "Renames a key and overwrites the destination.", rename(false)), spec(1, "RW", "access", "delete"), spec(2, "OW", "update")),
		withSpecs(def("renamenx", 3, wr|fast, twoKeys, "keyspace", "1.0.0", "Renames a key only when the target key name doesn't exist.", rename(true)), spec(1, "RW", "access", "delete"), spec(2, "OW", "insert")),
		withSpecs(def("copy", -3, wr|oom, twoKeys, "keyspace", "6.2.0", "Copies the value of a key to a new key.", cmdCopy), spec(1, "RO", "access"), spec(2, "OW", "update")),
		withSpecs(def("touch", -2, ro|fast, allKeys, "keyspace", "3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.", cmdTouch), keySpec{flags: []string{"RO"}, index: 1, lastKey: -1, keyStep: 1}),
		withSpecs(def("expiretime", 2, ro|fast, oneKey, "keyspace", "7.0.0", "Returns the expiration time of a key as a Unix timestamp.", expireTime(1000)), spec(1, "RO", "access")),
		withSpecs(def("pexpiretime", 2, ro|fast, oneKey, "keyspace", "7.0.0", "Returns the expiration time of a key as a Unix milliseconds timestamp.", expireTime(1)), spec(1, "RO", "access")),
		def("randomkey", 1, ro, noKeys, "keyspace", "1.0.0", "Returns a random key name from the database.", cmdRandomKey),
		def("scan", -2, ro, noKeys, "keyspace", "2.8.0", "Iterates over the key names in the database.", cmdScan),
		def("keys", 2, ro, noKeys, "keyspace", "1.0.0", "Returns all key names that match a pattern.", cmdKeys),
		// Hashes.
		def("hset", -4, wr|oom|fast, oneKey, "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", cmdHSet),
		def("hmset", -4, wr|oom|fast, oneKey, "hash", "2.0.0", "Sets the values of multiple fields.", cmdHMSet),
		def("hget", 3, ro|fast, oneKey, "hash", "2.0.0", "Returns the value of a field in a hash.", cmdHGet),
		def("hmget", -3, ro|fast, oneKey, "hash", "2.0.0", "Returns the values of all fields in a hash.", cmdHMGet),
		def("hgetall", 2, ro, oneKey, "hash", "2.0.0", "Returns all fields and values in a hash.", cmdHGetAll),
		def("hdel", -3, wr|fast, oneKey, "hash", "2.0.0", "Deletes one or more fields and their values from a hash.", cmdHDel),
		def("hlen", 2, ro|fast, oneKey, "hash", "2.0.0", "Returns the number of fields in a hash.", cmdHLen),
		def("hexists", 3, ro|fast, oneKey, "hash", "2.0.0", "Determines whether a field exists in a hash.", cmdHExists),
		def("hincrby", 4, wr|oom|fast, oneKey, "hash", "2.0.0", "Increments the integer value of a field in a hash by a number.", cmdHIncrBy),
		withSpecs(def("hsetnx", 4, wr|oom|fast, oneKey, "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", cmdHSetNX), spec(1, "RW", "insert")),
		withSpecs(def("hkeys", 2, ro, oneKey, "hash", "2.0.0", "Returns all fields in a hash.", hashHalf(false)), spec(1, "RO", "access")),
		withSpecs(def("hvals", 2, ro, oneKey, "hash", "2.0.0", "Returns all values in a hash.", hashHalf(true)), spec(1, "RO", "access")),
		withSpecs(def("hstrlen", 3, ro|fast, oneKey, "hash", "3.2.0", "Returns the length of the value of a field.", cmdHStrLen), spec(1, "RO")),
		withSpecs(def("hincrbyfloat", 4, wr|oom|fast, oneKey, "hash", "2.6.0", "Increments the floating point value of a field by a number.", cmdHIncrByFloat), spec(1, "RW", "access", "update")),
		withSpecs(def("hrandfield", -2, ro, oneKey, "hash", "6.2.0", "Returns one or more random fields from a hash.", cmdHRandField), spec(1, "RO", "access")),
		withSpecs(def("hscan", -3, ro, oneKey, "hash", "2.8.0", "Iterates over fields and values of a hash.", cmdHScan), spec(1, "RO", "access")),
		// Sets.
		def("sadd", -3, wr|oom|fast, oneKey, "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", cmdSAdd),
		def("srem", -3, wr|fast, oneKey, "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", cmdSRem),
		def("smembers", 2, ro, oneKey, "set", "1.0.0", "Returns all members of a set.", cmdSMembers),
		def("sismember", 3, ro|fast, oneKey, "set", "1.0.0", "Determines whether a member belongs to a set.", cmdSIsMember),
		def("smismember", -3, ro|fast, oneKey, "set", "6.2.0", "Determines whether multiple members belong to a set.", cmdSMIsMember),
		def("scard", 2, ro|fast, oneKey, "set", "1.0.0", "Returns the number of members in a set.", cmdSCard),
		def("spop", -2, wr|fast, oneKey, "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", cmdSPop),
		def("srandmember", -2, ro, oneKey, "set", "1.0.0", "Get one or multiple random members from a set", cmdSRandMember),
		def("smove", 4, wr|fast, twoKeys, "set", "1.0.0", "Moves a member from one set to another.", cmdSMove),
		def("sinter", -2, ro, allKeys, "set", "1.0.0", "Returns the intersect of multiple sets.", setAlgebra(store.SetInter)),
		def("sintercard", -3, ro|mov, numKeysAt1, "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", cmdSInterCard),
		def("sunion", -2, ro, allKeys, "set", "1.0.0", "Returns the union of multiple sets.", setAlgebra(store.SetUnion)),
		def("sdiff", -2, ro, allKeys, "set", "1.0.0", "Returns the difference of multiple sets.", setAlgebra(store.SetDiff)),
		def("sinterstore", -3, wr|oom, allKeys, "set", "1.0.0", "Stores the intersect of multiple sets in a key.", setAlgebraStore(store.SetInter)),
		def("sunionstore", -3, wr|oom, allKeys, "set", "1.0.0", "Stores the union of multiple sets in a key.", setAlgebraStore(store.SetUnion)),
		def("sdiffstore", -3, wr|oom, allKeys, "set", "1.0.0", "Stores the difference of multiple sets in a key.", setAlgebraStore(store.SetDiff)),
		def("sscan", -3, ro, oneKey, "set", "2.8.0", "Iterates over members of a set.", cmdSScan),
		// Lists.
		def("lpush", -3, wr|oom|fast, oneKey, "list", "1.0.0", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", push(true, false)),
		def("rpush", -3, wr|oom|fast, oneKey, "list", "1.0.0", "Appends one or more elements to a list. Creates the key if it doesn't exist.", push(false, false)),
		def("lpushx", -3, wr|oom|fast, oneKey, "list", "2.2.0", "Prepends one or more elements to a list only when the list exists.", push(true, true)),
		def("rpushx", -3, wr|oom|fast, oneKey, "list", "2.2.0", "Appends an element to a list only when the list exists.", push(false, true)),
		def("lpop", -2, wr|fast, oneKey, "list", "1.0.0", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", pop(true)),
		def("rpop", -2, wr|fast, oneKey, "list", "1.0.0", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", pop(false)),
		def("llen", 2, ro|fast, oneKey, "list", "1.0.0", "Returns the length of a list.", cmdLLen),
		def("lrange", 4, ro, oneKey, "list", "1.0.0", "Returns a range of elements from a list.", cmdLRange),
		def("lindex", 3, ro, oneKey, "list", "1.0.0", "Returns an element from a list by its index.", cmdLIndex),
		def("lset", 4, wr|oom, oneKey, "list", "1.0.0", "Sets the value of an element in a list by its index.", cmdLSet),
		def("linsert", 5, wr|oom, oneKey, "list", "2.2.0", "Inserts an element before or after another element in a list.", cmdLInsert),
		def("lrem", 4, wr, oneKey, "list", "1.0.0", "Removes elements from a list. Deletes the list if the last element was removed.", cmdLRem),
		def("ltrim", 4, wr, oneKey, "list", "1.0.0", "Removes elements from both ends a list. Deletes the list if all elements were trimmed.", cmdLTrim),
		def("lpos", -3, ro, oneKey, "list", "6.0.6", "Returns the index of matching elements in a list.", cmdLPos),
		def("lmove", 5, wr|oom, twoKeys, "list", "6.2.0", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", cmdLMove),
		def("rpoplpush", 3, wr|oom, twoKeys, "list", "1.2.0", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", cmdRPopLPush),
		def("lmpop", -4, wr|mov, numKeysAt1, "list", "7.0.0", "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", cmdLMPop),
		// Server.
		def("dbsize", 1, ro|fast, noKeys, "server", "1.0.0", "Returns the number of keys in the database.", cmdDBSize),
		def("flushall", -1, wr, noKeys, "server", "1.0.0", "Removes all keys from all databases.", cmdFlushAll),
		def("flushdb", -1, wr, noKeys, "server", "1.0.0", "Remove all keys from the current database.", cmdFlushAll),
		def("info", -1, ls, noKeys, "server", "1.0.0", "Returns information and statistics about the server.", cmdInfo),
		def("time", 1, ls|fast, noKeys, "server", "2.6.0", "Returns the server time.", cmdTime),
		container("config", admin|ls, "server", "2.0.0", "A container for server configuration commands.", nil,
			def("get", -3, admin|ls, noKeys, "server", "2.0.0", "Returns the effective values of configuration parameters.", cmdConfigGet),
			def("resetstat", 2, admin|ls, noKeys, "server", "2.0.0", "Resets the server's statistics.", cmdConfigResetStat),
			def("rewrite", 2, admin|ls, noKeys, "server", "2.8.0", "Persists the effective configuration to file.", cmdConfigRewrite),
			def("set", -4, admin|ls, noKeys, "server", "2.0.0", "Sets configuration parameters in-flight.", cmdConfigSet),
		),
		container("command", ls, "server", "2.8.13", "Returns detailed information about all commands.", cmdCommand,
			def("count", 2, ls, noKeys, "server", "2.8.13", "Returns a count of commands.", cmdCommandCount),
			def("docs", -2, ls, noKeys, "server", "7.0.0", "Returns documentary information about one, multiple or all commands.", cmdCommandDocs),
			def("getkeys", -4, ls, noKeys, "server", "2.8.13", "Extracts the key names from an arbitrary command.", commandKeys(false)),
			def("getkeysandflags", -4, ls, noKeys, "server", "7.0.0", "Extracts the key names and access flags for an arbitrary command.", commandKeys(true)),
			def("info", -2, ls, noKeys, "server", "2.8.13", "Returns information about one, multiple or all commands.", cmdCommandInfo),
			def("list", -2, ls, noKeys, "server", "7.0.0", "Returns a list of command names.", cmdCommandList),
		),
		// Connection.
		def("ping", -1, fast|ls, noKeys, "connection", "1.0.0", "Returns the server's liveliness response.", cmdPing),
		def("echo", 2, fast|ls, noKeys, "connection", "1.0.0", "Returns the given string.", cmdEcho),
		def("quit", -1, noaut|fast|ls, noKeys, "connection", "1.0.0", "Closes the connection.", cmdQuit),
		def("auth", -2, noaut|fast|ls, noKeys, "connection", "1.0.0", "Authenticates the connection.", cmdAuth),
		def("hello", -1, noaut|fast|ls, noKeys, "connection", "6.0.0", "Handshakes with the Redis server.", cmdHello),
		def("select", 2, fast|ls, noKeys, "connection", "1.0.0", "Changes the selected database.", cmdSelect),
		def("readonly", 1, fast|ls, noKeys, "cluster", "3.0.0", "Enables read-only queries for a connection to a Redis Cluster replica node.", cmdOK),
		def("readwrite", 1, fast|ls, noKeys, "cluster", "3.0.0", "Enables read-write queries for a connection to a Reids Cluster replica node.", cmdOK),
		def("asking", 1, fast, noKeys, "cluster", "3.0.0", "Signals that a cluster client is following an -ASK redirect.", cmdAsking),
		def("slotimport", -4, wr|oom|flagNoWake|flagNoMulti, noKeys, "cluster", "insight", "Recreates keys of a slot moving to this partition (internal, sent by the slot's source).", cmdSlotImport),
		def("publishlocal", 3, flagPubSub|ls|fast|flagNoMulti, noKeys, "pubsub", "insight", "Delivers a message to this instance's subscribers only (internal, a classic PUBLISH forwarded by another instance).", cmdPublishLocal),
		def("replsync", 5, admin|ls|flagNoMulti, noKeys, "server", "insight", "Turns the connection into a backup's replication stream (internal).", cmdReplSync),
		container("client", ls, "connection", "2.4.0", "A container for client connection commands.", nil,
			def("id", 2, ls, noKeys, "connection", "5.0.0", "Returns the unique client ID of the connection.", cmdClientID),
			def("setname", 3, ls, noKeys, "connection", "2.6.9", "Sets the connection name.", cmdClientSetName),
			def("getname", 2, ls, noKeys, "connection", "2.6.9", "Returns the name of the connection.", cmdClientGetName),
			def("setinfo", 4, ls, noKeys, "connection", "7.2.0", "Sets information specific to the client or connection.", cmdClientSetInfo),
			def("info", 2, ls, noKeys, "connection", "7.0.0", "Returns information about the connection.", cmdClientInfo),
			def("list", -2, admin|ls, noKeys, "connection", "2.4.0", "Lists open connections.", cmdClientList),
			def("unblock", -3, admin|ls, noKeys, "connection", "5.0.0", "Unblocks a client blocked by a blocking command from a different connection.", cmdClientUnblock),
		),
		container("cluster", ls, "cluster", "3.0.0", "A container for Redis Cluster commands.", nil,
			def("slots", 2, ls, noKeys, "cluster", "3.0.0", "Returns the mapping of cluster slots to nodes.", cmdClusterSlots),
			def("shards", 2, ls, noKeys, "cluster", "7.0.0", "Returns the mapping of cluster slots to shards.", cmdClusterShards),
			def("nodes", 2, ls, noKeys, "cluster", "3.0.0", "Returns the cluster configuration for a node.", cmdClusterNodes),
			def("info", 2, ls, noKeys, "cluster", "3.0.0", "Returns information about the state of a node.", cmdClusterInfo),
			def("myid", 2, ls, noKeys, "cluster", "3.0.0", "Returns the ID of a node.", cmdClusterMyID),
			def("keyslot", 3, ls, noKeys, "cluster", "3.0.0", "Returns the hash slot for a key.", cmdClusterKeySlot),
			def("countkeysinslot", 3, ls, noKeys, "cluster", "3.0.0", "Returns the number of keys in a hash slot.", cmdClusterCountKeysInSlot),
			def("getkeysinslot", 4, ls, noKeys, "cluster", "3.0.0", "Returns the key names in a hash slot.", cmdClusterGetKeysInSlot),
		),
	}
	cmds = append(cmds, zsetCommands()...)
	cmds = append(cmds, streamCommands()...)
	cmds = append(cmds, bitCommands()...)
	cmds = append(cmds, hllCommands()...)
	cmds = append(cmds, blockingListCommands()...)
	cmds = append(cmds, blockingZSetCommands()...)
	cmds = append(cmds, keysrvCommands()...)
	cmds = append(cmds, scanAggCommands()...)
	cmds = append(cmds, pubsubCommands()...)
	cmds = append(cmds, multiCommands()...)
	cmds = append(cmds, scriptCommands()...)
	cmds = append(cmds, functionCommands()...)
	cmds = append(cmds, aclCommands()...)
	table := make(map[string]*command, len(cmds))
	for _, cmd := range cmds {
		table[cmd.name] = cmd
	}
	markNoScript(table)
	return table
}
