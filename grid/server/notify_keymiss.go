package server

// Key-miss events (class m): Redis sends "keymiss" when a command looks a key up for
// reading (lookupKeyRead) and finds none. That is every key of a read command but those
// of the introspection commands (OBJECT, MEMORY USAGE: LOOKUP_NONOTIFY), and, among the
// writes, the keys the command only reads: readLookups says which.

// readMisses is how many keymiss events read command cmd sends per missing key: XREAD
// looks its keys up twice (for their last IDs, then to read them).
func readMisses(cmd *command) int {
	switch {
	case cmd.parent != nil && (cmd.parent.name == "object" || cmd.parent.name == "memory"):
		return 0
	case cmd.name == "xread":
		return 2
	}
	return 1
}

// readLookups returns the keys of write command cmd that Redis looks up for reading:
// the value GETDEL, GETEX, GETSET and SET ... GET return, the sources of the *STORE
// commands, BITOP, SORT and COPY, and every key of PFMERGE. first and last are
// cmd.keyRange's (the counted keys of ZUNIONSTORE and the like).
func readLookups(cmd *command, args [][]byte, first, last int) [][]byte {
	switch cmd.name {
	case "getdel", "getex", "getset", "sort", "copy":
		return args[1:2]
	case "set":
		for _, a := range args[3:] {
			if eqFold(a, "get") {
				return args[1:2]
			}
		}
	case "pfmerge":
		return args[1:]
	case "sinterstore", "sunionstore", "sdiffstore":
		return args[2:]
	case "bitop":
		return args[3:]
	case "zrangestore":
		return args[2:3]
	case "zunionstore", "zinterstore", "zdiffstore":
		if first > 0 && last < len(args) {
			return args[first : last+1]
		}
	}
	return nil
}
