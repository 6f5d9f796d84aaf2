package server

import (
	"strings"
	"testing"
)

// TestScriptsAgainstRedisServer compares EVAL, EVALSHA, EVAL_RO and SCRIPT with Redis
// 7.0's replies: the conversions both ways, the errors a script raises or returns (with
// Redis's " script: <sha>, on @user_script:<line>." suffix), the sandbox, the libraries,
// the argument checks, the shebang flags and the routing of KEYS. Keys are tagged {k}, a
// slot the test grid serves.
func TestScriptsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, args := range [][]string{
		// Lua to RESP.
		{"EVAL", "return 1", "0"},
		{"EVAL", "return 3.99", "0"},
		{"EVAL", "return -3.9", "0"},
		{"EVAL", "return 'x'", "0"},
		{"EVAL", "return true", "0"},
		{"EVAL", "return false", "0"},
		{"EVAL", "return nil", "0"},
		{"EVAL", "return {1,2,3.7,'x',true,false,nil,5}", "0"},
		{"EVAL", "return {{1,{2,{3}}},'a',{}}", "0"},
		{"EVAL", "return {err='My Error'}", "0"},
		{"EVAL", "return {err='x', ok='y'}", "0"},
		{"EVAL", "return {ok='FINE'}", "0"},
		{"EVAL", "return redis.error_reply('My Error')", "0"},
		{"EVAL", "return redis.error_reply('oops')", "0"},
		{"EVAL", "return redis.error_reply(1)", "0"},
		{"EVAL", "return redis.status_reply('FINE')", "0"},
		{"EVAL", "return {double=1.5}", "0"},
		{"EVAL", "return KEYS", "2", "{k}a", "{k}b", "x", "y"},
		{"EVAL", "return ARGV", "2", "{k}a", "{k}b", "x", "y"},
		// RESP to Lua, redis.call and redis.pcall.
		{"EVAL", "return redis.call('set', KEYS[1], ARGV[1])", "1", "{k}s", "v"},
		{"EVAL", "return redis.call('get', KEYS[1])", "1", "{k}s"},
		{"EVAL", "return redis.call('get', KEYS[1]) == false", "1", "{k}missing"},
		{"EVAL", "return type(redis.call('set', KEYS[1], 'v'))", "1", "{k}s"},
		{"EVAL", "return redis.call('set', KEYS[1], 'v')['ok']", "1", "{k}s"},
		{"EVAL", "redis.call('set', KEYS[1], 0.1) return redis.call('get', KEYS[1])", "1", "{k}f"},
		{"EVAL", "redis.call('set', KEYS[1], 10) return redis.call('incr', KEYS[1])", "1", "{k}n"},
		{"EVAL", "redis.call('rpush', KEYS[1], 'a', 'b', 'c') return redis.call('lrange', KEYS[1], 0, -1)", "1", "{k}l"},
		{"EVAL", "return redis.call('hgetall', KEYS[1])", "1", "{k}nohash"},
		{"EVAL", "return redis.pcall('incr', KEYS[1])", "1", "{k}s"},
		{"EVAL", "local r = redis.pcall('incr', KEYS[1]) return r['err']", "1", "{k}s"},
		{"EVAL", "return redis.call('incr', KEYS[1])", "1", "{k}s"},
		{"EVAL", "return redis.call('lpush', KEYS[1], 'x')", "1", "{k}s"},
		{"EVAL", "return redis.pcall('nosuch')", "0"},
		{"EVAL", "return redis.call('nosuch')", "0"},
		{"EVAL", "\n\nreturn redis.call('get')", "0"},
		{"EVAL", "return redis.call('multi')", "0"},
		{"EVAL", "return redis.call('eval', 'return 1', '0')", "0"},
		{"EVAL", "return redis.call()", "0"},
		{"EVAL", "return redis.call({})", "0"},
		{"EVAL", "return redis.pcall('get', {})", "0"},
		{"EVAL", "return redis.call('ping')", "0"},
		{"EVAL", "return redis.call('blpop', KEYS[1], 0)", "1", "{k}list"},
		{"EVAL", "return redis.call('config', 'get', 'maxmemory')", "0"},
		{"EVAL", "return redis.call('client', 'id')", "0"},
		{"EVAL", "return redis.call('wait', 0, 0)", "0"},
		// Errors raised by the script.
		{"EVAL", "return b", "0"},
		{"EVAL", "a = 1", "0"},
		{"EVAL", "redis.call = nil", "0"},
		{"EVAL", "rawset(_G, 'x', 1)", "0"},
		{"EVAL", "return setmetatable(_G, nil)", "0"},
		{"EVAL", "error('boom')", "0"},
		{"EVAL", "error({err='boom'})", "0"},
		{"EVAL", "return os", "0"},
		{"EVAL", "return io", "0"},
		{"EVAL", "return print", "0"},
		{"EVAL", "return debug", "0"},
		{"EVAL", "return dofile", "0"},
		{"EVAL", "return loadfile", "0"},
		{"EVAL", "return redis.sha1hex()", "0"},
		{"EVAL", "getmetatable('').__index.upper = nil return 1", "0"},
		{"EVAL", "return getfenv", "0"},
		{"EVAL", "return arg", "0"},
		{"EVAL", "return select('#', ...)", "0"},
		{"EVAL", "redis.call('set', KEYS[1], -0) return redis.call('get', KEYS[1])", "1", "{k}z"},
		{"EVAL", "redis.call('set', KEYS[1], 123456789012345) return redis.call('get', KEYS[1])", "1", "{k}z"},
		{"EVAL", "redis.call('set', KEYS[1], 1e15) return redis.call('get', KEYS[1])", "1", "{k}z"},
		{"EVAL", "return setfenv", "0"},
		{"EVAL", "return string.upper('a')", "0"},
		{"EVAL", "local n = 0 for k in pairs(string) do n = n + 1 end return n > 10", "0"},
		{"EVAL", "local n = 0 for k, v in next, cjson do n = n + 1 end return n > 2", "0"},
		// Libraries.
		{"EVAL", "return redis.sha1hex('')", "0"},
		{"EVAL", "return redis.sha1hex('abc')", "0"},
		{"EVAL", "return cjson.encode({1,2,{a=1}})", "0"},
		{"EVAL", "return cjson.encode({})", "0"},
		{"EVAL", "return cjson.encode({a='x/y\"'})", "0"},
		{"EVAL", "return cjson.encode({1.5, 1/3, 1e20, -0.25})", "0"},
		{"EVAL", "return cjson.encode({1,nil,3})", "0"},
		{"EVAL", "return cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null", "0"},
		{"EVAL", "return cjson.decode('{\"a\":[1,\"x\",true]}').a", "0"},
		{"EVAL", "return {bit.band(7,3), bit.bor(1,2,4), bit.bxor(5,1), bit.bnot(0), bit.lshift(1,31), bit.rshift(-1,28), bit.arshift(-16,2), bit.tobit(2^32+5), bit.rol(1,33), bit.ror(1,1), bit.bswap(0x01020304)}", "0"},
		{"EVAL", "return {bit.tohex(255), bit.tohex(255, -2), bit.tohex(-1, 4)}", "0"},
		{"EVAL", "return cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649)", "0"},
		{"EVAL", "return cmsgpack.pack(1.5, 0.1, -2.25, 1e300, 'x', string.rep('y', 40), string.rep('z', 300), true, false, nil)", "0"},
		{"EVAL", "return cmsgpack.pack({}, {1, 2, 3}, {a = 1}, {1, nil, 3}, {{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}})", "0"},
		{"EVAL", "return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, {k = 'v'}, true))}", "0"},
		{"EVAL", "local t = cmsgpack.unpack(cmsgpack.pack({k = 'v', n = 2.5})) return {t.k, tostring(t.n)}", "0"},
		{"EVAL", "return cmsgpack.unpack(string.char(0xcd, 1))", "0"},
		{"EVAL", "return cmsgpack.unpack(string.char(0xc1))", "0"},
		{"EVAL", "return {cmsgpack.unpack(string.char(0xd3, 255, 255, 255, 255, 255, 255, 255, 254, 0xc4, 2, 65, 66))}", "0"},
		{"EVAL", "math.randomseed(7) return {math.random(100), math.random(100), math.random(1, 6), math.floor(math.random() * 1000)}", "0"},
		{"EVAL", "return redis.REDIS_VERSION ~= nil", "0"},
		{"EVAL", "return _VERSION", "0"},
		{"EVAL", "return type(coroutine)", "0"},
		{"EVAL", "return loadstring('return 1')()", "0"},
		{"EVAL", "return string.format('%d-%s-%5.2f', 3, 'x', 1.5)", "0"},
		{"EVAL", "return {string.byte('A'), #string.rep('ab', 3), table.concat({1,2,3}, ','), select('#', 1, 2)}", "0"},
		{"EVAL", "return tostring(tonumber('0x10'))", "0"},
		{"EVAL", "redis.log(redis.LOG_WARNING, 'from a script') return 1", "0"},
		{"EVAL", "return redis.setresp(2)", "0"},
		{"EVAL", "return redis.setresp(4)", "0"},
		// Argument checks.
		{"EVAL", "return 1", "-1"},
		{"EVAL", "return 1", "2", "{k}a"},
		{"EVAL", "return 1", "x"},
		{"EVAL", "return 1"},
		{"EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"},
		{"EVALSHA", "abc", "0"},
		{"EVALSHA_RO", "ffffffffffffffffffffffffffffffffffffffff", "0"},
		// Read-only scripts and shebang flags.
		{"EVAL_RO", "return redis.call('get', KEYS[1])", "1", "{k}s"},
		{"EVAL_RO", "return redis.call('del', KEYS[1])", "1", "{k}s"},
		{"EVAL_RO", "return redis.pcall('del', KEYS[1])", "1", "{k}s"},
		{"EVAL", "#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'b')", "1", "{k}s"},
		{"EVAL", "#!lua flags=no-writes,allow-oom\nreturn redis.call('get', KEYS[1])", "1", "{k}s"},
		{"EVAL", "#!lua\nreturn redis.call('set', KEYS[1], 'c')", "1", "{k}s"},
		{"EVAL", "#!lua flags=bogus\nreturn 1", "0"},
		{"EVAL", "#!lua x=y\nreturn 1", "0"},
		{"EVAL", "#!py\nreturn 1", "0"},
		{"EVAL", "#!lua", "0"},
		{"EVAL", "#!lua flags=no-cluster\nreturn 1", "0"},
		// Cluster routing of KEYS and of the keys a script calls commands on.
		{"EVAL", "return 1", "2", "{k}a", "{j}b"},
		{"EVAL", "return redis.call('get', '{k}a')", "0"},
		{"EVAL", "return redis.call('mget', '{k}a', '{j}a')", "0"},
		// SCRIPT.
		{"SCRIPT", "LOAD", "return 'loaded'"},
		{"EVALSHA", "75a1b56548ce2cfba11e9a5a76330ec4c09e6fd3", "0"},
		{"EVALSHA", "75A1B56548CE2CFBA11E9A5A76330EC4C09E6FD3", "0"},
		{"EVALSHA_RO", "75a1b56548ce2cfba11e9a5a76330ec4c09e6fd3", "0"},
		{"SCRIPT", "EXISTS", "75a1b56548ce2cfba11e9a5a76330ec4c09e6fd3", "ffffffffffffffffffffffffffffffffffffffff"},
		{"SCRIPT", "EXISTS"},
		{"SCRIPT", "FLUSH", "x"},
		{"SCRIPT", "FLUSH", "ASYNC"},
		{"SCRIPT", "EXISTS", "75a1b56548ce2cfba11e9a5a76330ec4c09e6fd3"},
		{"SCRIPT", "FLUSH"},
		{"SCRIPT", "FLUSH", "SYNC", "x"},
		{"SCRIPT", "KILL"},
		{"SCRIPT", "KILL", "x"},
		{"SCRIPT", "NOSUCH"},
		{"SCRIPT", "LOAD"},
		{"CONFIG", "GET", "busy-reply-threshold"},
		{"CONFIG", "GET", "lua-time-limit"},
		{"COMMAND", "GETKEYS", "EVAL", "return 1", "2", "{k}a", "{k}b", "x"},
		{"COMMAND", "GETKEYS", "EVALSHA_RO", "ffffffffffffffffffffffffffffffffffffffff", "1", "{k}a"},
	} {
		d.check(exact, args...)
	}
	// A syntax error: Lua's and gopher-lua's parsers word the message differently; the
	// reply's shape and position are Redis's.
	for _, body := range []string{"return 1 +", "local x = = 1", "\nfunction f( end"} {
		_, werr := do(d.redis, []string{"EVAL", body, "0"})
		_, gerr := do(d.grid, []string{"EVAL", body, "0"})
		if werr == nil || gerr == nil {
			t.Fatalf("EVAL %q: redis %v, grid %v: want compile errors", body, werr, gerr)
		}
		prefix := func(err error) string {
			s := err.Error()
			// "ERR Error compiling script (new function): user_script:<line>:"
			i := strings.Index(s, "user_script:")
			j := strings.Index(s[i+len("user_script:"):], ":")
			return s[:i+len("user_script:")+j+1]
		}
		if prefix(werr) != prefix(gerr) {
			t.Errorf("EVAL %q:\nredis: %v\n grid: %v", body, werr, gerr)
		}
	}
}
