package server

import "testing"

// TestCommandGetKeysAgainstRedisServer compares COMMAND GETKEYS, which cluster clients such
// as redis-py's RedisCluster send for commands whose keys move, with Redis 7.0's answers.
func TestCommandGetKeysAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, args := range [][]string{
		{"GET", "k"},
		{"SET", "k", "v", "EX", "10"},
		{"MSET", "a", "1", "b", "2"},
		{"MSET", "a", "1", "b"},
		{"MGET", "a", "b", "c"},
		{"DEL", "a", "b", "c"},
		{"RENAME", "a", "b"},
		{"COPY", "a", "b", "REPLACE"},
		{"LMOVE", "a", "b", "LEFT", "RIGHT"},
		{"HSET", "h", "f", "v"},
		{"sintercard", "2", "a", "b", "LIMIT", "1"},
		{"SINTERCARD", "1", "a", "b"},
		{"LMPOP", "2", "a", "b", "LEFT", "COUNT", "2"},
		// Errors: no such command, no keys, wrong arity, a key count that does not fit.
		{"NOSUCH", "a"},
		{"PING"},
		{"CLUSTER", "KEYSLOT", "a"},
		{"GET"},
		{"GET", "a", "b"},
		{"SINTERCARD", "0", "a"},
		{"SINTERCARD", "3", "a", "b"},
		{"SINTERCARD", "x", "a"},
		{"LMPOP", "3", "a", "b", "LEFT"},
	} {
		d.check(exact, append([]string{"COMMAND", "GETKEYS"}, args...)...)
	}
	d.check(exact, "COMMAND", "GETKEYS")
}
