package server

import (
	"testing"
)

// TestFunctionsAgainstRedisServer compares FUNCTION and FCALL with Redis 7.0's replies:
// loading (both forms of redis.register_function, flags, descriptions, REPLACE) and its
// errors, LIST and its filters, FCALL and FCALL_RO with the flags, DELETE, FLUSH, STATS,
// KILL, and DUMP/RESTORE both ways (Redis's payload restored on the grid, the grid's on
// Redis) with the three policies.
func TestFunctionsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	lib1 := "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return redis.call('set', keys[1], args[1]) end)"
	lib2 := "#!lua name=lib2\nredis.register_function{function_name='f2', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}"
	lib2w := "#!lua name=lib2\nredis.register_function{function_name='f2', callback=function(keys, args) return redis.call('set', keys[1], 'w') end, flags={'no-writes', 'allow-oom'}}"
	for _, args := range [][]string{
		{"FUNCTION", "LOAD", lib1},
		{"FUNCTION", "LOAD", lib2},
		{"FUNCTION", "LOAD", lib1},
		{"FCALL", "f1", "1", "{k}a", "v"},
		{"FCALL", "f2", "1", "{k}a"},
		{"FCALL_RO", "f2", "1", "{k}a"},
		{"FCALL_RO", "f1", "1", "{k}a", "v"},
		{"FCALL", "nosuch", "0"},
		{"FCALL", "f1", "-1"},
		{"FCALL", "f1", "2", "{k}a"},
		{"FCALL", "f1", "x"},
		{"FCALL", "f1", "2", "{k}a", "{j}b"},
		{"FUNCTION", "LOAD", "REPLACE", lib2w},
		{"FCALL", "f2", "1", "{k}a"},
		{"FUNCTION", "LIST", "LIBRARYNAME", "lib1"},
		{"FUNCTION", "LIST", "LIBRARYNAME", "LIB2", "WITHCODE"},
		{"FUNCTION", "LIST", "LIBRARYNAME", "nosuch*"},
		{"FUNCTION", "LIST", "LIBRARYNAME"},
		{"FUNCTION", "LIST", "BOGUS"},
		{"FUNCTION", "STATS"},
		{"FUNCTION", "KILL"},
		{"FUNCTION", "DELETE", "lib2"},
		{"FUNCTION", "DELETE", "lib2"},
		{"FCALL", "f2", "1", "{k}a"},
		// Load errors.
		{"FUNCTION", "LOAD", "return 1"},
		{"FUNCTION", "LOAD", "#!lua\nreturn 1"},
		{"FUNCTION", "LOAD", "#!lua name=x\nreturn 1"},
		{"FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('f1', function() return 1 end)"},
		{"FUNCTION", "LOAD", "#!lua name=a-b\n"},
		{"FUNCTION", "LOAD", "#!lua name=x foo=bar\n"},
		{"FUNCTION", "LOAD", "#!lu name=x\n"},
		{"FUNCTION", "LOAD", "#!lua name=e\nredis.register_function('g', function() return 1 end) redis.call('ping')"},
		{"FUNCTION", "LOAD", "#!lua name=e2\nredis.register_function('1-x', function() return 1 end)"},
		{"FUNCTION", "LOAD", "#!lua name=e3\nredis.register_function{function_name='h', callback=function() return 1 end, flags={'bogus'}}"},
		{"FUNCTION", "LOAD", "#!lua name=e4\nredis.register_function('h')"},
		{"FUNCTION", "LOAD", "#!lua name=e5\na = 1"},
		{"FUNCTION", "LOAD", "#!lua name=e6\nredis.register_function('h', 1)"},
		{"FUNCTION", "LOAD", "#!lua name=e7\nredis.register_function{function_name='h'}"},
		{"FUNCTION", "LOAD", "#!lua name=e8\nredis.register_function{function_name='h', callback=function() end, bogus=1}"},
		{"FUNCTION", "LOAD", "#!lua name=e9\nredis.register_function('h', function() end) redis.register_function('h', function() end)"},
		{"FUNCTION", "LOAD", "BOGUS", lib1},
		// A runtime error names the function and its line.
		{"FUNCTION", "LOAD", "#!lua name=rt\nredis.register_function('g', function() return x end)"},
		{"FCALL", "g", "0"},
		{"FUNCTION", "FLUSH", "x"},
		{"FUNCTION", "RESTORE", "garbage"},
		{"FUNCTION", "RESTORE", "garbage", "BOGUS"},
		{"FUNCTION", "FLUSH"},
		{"FUNCTION", "LIST"},
		{"FUNCTION", "DUMP"},
	} {
		d.check(exact, args...)
	}
	// Redis's payload (LZF-compressed strings) restored on both; then the grid's. One
	// library: which of several conflicting ones Redis names follows its dict's order.
	d.check(exact, "FUNCTION", "LOAD", lib1)
	for _, from := range []string{"redis", "grid"} {
		src := d.redis
		if from == "grid" {
			src = d.grid
		}
		payload, err := src.FunctionDump(t.Context()).Result()
		if err != nil {
			t.Fatalf("FUNCTION DUMP on %s: %v", from, err)
		}
		d.check(exact, "FUNCTION", "RESTORE", payload)
		d.check(exact, "FUNCTION", "RESTORE", payload, "REPLACE")
		d.check(exact, "FUNCTION", "FLUSH", "ASYNC")
		d.check(exact, "FUNCTION", "RESTORE", payload, "APPEND")
		d.check(exact, "FUNCTION", "LOAD", lib2)
		d.check(exact, "FUNCTION", "RESTORE", payload, "FLUSH")
		d.check(exact, "FUNCTION", "LIST", "WITHCODE")
		d.check(exact, "FCALL", "f1", "1", "{k}b", from)
	}
}
