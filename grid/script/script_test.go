package script

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/insightgrid/insight/grid/resp"
)

// fakeHost answers redis.call with a few commands on a map, as RESP2.
type fakeHost struct {
	data map[string]string
	w    *resp.Writer
	logs []string
}

func newFakeHost() *fakeHost {
	return &fakeHost{data: map[string]string{}, w: resp.NewWriter(nil)}
}

func (h *fakeHost) Call(args [][]byte) []byte {
	w := resp.NewWriter(nil)
	switch strings.ToLower(string(args[0])) {
	case "set":
		h.data[string(args[1])] = string(args[2])
		w.OK()
	case "get":
		if v, ok := h.data[string(args[1])]; ok {
			w.BulkString(v)
		} else {
			w.Null()
		}
	case "echo":
		w.Bulk(args[1])
	case "list":
		w.Array(3)
		w.Int(1)
		w.Null()
		w.Array(1)
		w.Simple("PONG")
	case "wrongtype":
		w.Error("WRONGTYPE Operation against a key holding the wrong kind of value")
	default:
		w.Error("ERR Unknown Redis command called from script")
	}
	return append([]byte(nil), w.Bytes()...)
}

func (h *fakeHost) Reply() *resp.Writer { return h.w }

func (h *fakeHost) Log(_ slog.Level, msg string) { h.logs = append(h.logs, msg) }

// eval runs body with keys and argv and returns the RESP reply.
func eval(t *testing.T, e *Engine, body string, keys, argv []string) string {
	t.Helper()
	h := newFakeHost()
	s, err := e.Load([]byte(body))
	if err != nil {
		return "-" + err.Error() + "\r\n"
	}
	e.Run(context.Background(), s, bytesOf(keys), bytesOf(argv), h)
	return string(h.w.Bytes())
}

func bytesOf(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestConversionsLuaToRESPAsRedis(t *testing.T) {
	e := New(Limits{}, "7.0.15")
	cases := []struct{ body, want string }{
		{"return 1", ":1\r\n"},
		{"return 3.99", ":3\r\n"},
		{"return -3.9", ":-3\r\n"},
		{"return 1e20", ":-9223372036854775808\r\n"},
		{"return 'x'", "$1\r\nx\r\n"},
		{"return true", ":1\r\n"},
		{"return false", "$-1\r\n"},
		{"return nil", "$-1\r\n"},
		{"return {1,2,3.7,'x',true,false,nil,5}", "*6\r\n:1\r\n:2\r\n:3\r\n$1\r\nx\r\n:1\r\n$-1\r\n"},
		{"return {{1,{2}},'a'}", "*2\r\n*2\r\n:1\r\n*1\r\n:2\r\n$1\r\na\r\n"},
		{"return {err='My Error'}", "-My Error\r\n"},
		{"return {ok='a\\nb'}", "+a b\r\n"},
		{"return redis.error_reply('My Error')", "-My Error\r\n"},
		{"return redis.error_reply('oops')", "-ERR oops\r\n"},
		{"return redis.status_reply('FINE')", "+FINE\r\n"},
		{"return {double=1.5}", "$3\r\n1.5\r\n"},
		{"return {map={a=1}}", "*2\r\n$1\r\na\r\n:1\r\n"},
		{"return {}", "*0\r\n"},
	}
	for _, c := range cases {
		if got := eval(t, e, c.body, nil, nil); got != c.want {
			t.Errorf("%s: got %q, want %q", c.body, got, c.want)
		}
	}
}

func TestConversionsRESPToLuaAsRedis(t *testing.T) {
	e := New(Limits{}, "7.0.15")
	cases := []struct{ body, want string }{
		{"local r = redis.call('list') return {type(r[1]), type(r[2]), tostring(r[2]), r[3][1].ok}", "*4\r\n$6\r\nnumber\r\n$7\r\nboolean\r\n$5\r\nfalse\r\n$4\r\nPONG\r\n"},
		{"return redis.call('get', 'nokey') == false", ":1\r\n"},
		{"redis.call('set', 'k', 0.1) return redis.call('get', 'k')", "$19\r\n0.10000000000000001\r\n"},
		{"redis.call('set', 'k', 3) return redis.call('get', 'k')", "$1\r\n3\r\n"},
		{"return redis.pcall('wrongtype')", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"local r = redis.pcall('wrongtype') return r.err", "$65\r\nWRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
		{"return KEYS[1] .. ARGV[2]", "$2\r\nkb\r\n"},
	}
	for _, c := range cases {
		if got := eval(t, e, c.body, []string{"k"}, []string{"a", "b"}); got != c.want {
			t.Errorf("%s: got %q, want %q", c.body, got, c.want)
		}
	}
}

func TestErrorsAsRedis(t *testing.T) {
	e := New(Limits{}, "7.0.15")
	sha := func(body string) string { return SHA1Hex([]byte(body)) }
	cases := []struct{ body, want string }{
		{"return b", "-ERR user_script:1: Script attempted to access nonexistent global variable 'b' script: %s, on @user_script:1.\r\n"},
		{"a = 1", "-ERR user_script:1: Attempt to modify a readonly table script: %s, on @user_script:1.\r\n"},
		{"redis.call = nil", "-ERR user_script:1: Attempt to modify a readonly table script: %s, on @user_script:1.\r\n"},
		{"rawset(_G,'x',1)", "-ERR Attempt to modify a readonly table script: %s, on @user_script:1.\r\n"},
		{"return setmetatable(_G, nil)", "-ERR Attempt to modify a readonly table script: %s, on @user_script:1.\r\n"},
		{"\nreturn redis.call('nosuch')", "-ERR Unknown Redis command called from script script: %s, on @user_script:2.\r\n"},
		{"return redis.call('wrongtype')", "-WRONGTYPE Operation against a key holding the wrong kind of value script: %s, on @user_script:1.\r\n"},
		{"error('boom')", "-ERR user_script:1: boom script: %s, on @user_script:1.\r\n"},
		{"error({err='boom'})", "-boom script: %s, on @user_script:1.\r\n"},
		{"return redis.call()", "-ERR Please specify at least one argument for this redis lib call script: %s, on @user_script:1.\r\n"},
		{"return redis.call('get', {})", "-ERR Lua redis lib command arguments must be strings or integers script: %s, on @user_script:1.\r\n"},
		{"return redis.sha1hex()", "-ERR wrong number of arguments script: %s, on @user_script:1.\r\n"},
		{"return os", "-ERR user_script:1: Script attempted to access nonexistent global variable 'os' script: %s, on @user_script:1.\r\n"},
		{"return io", "-ERR user_script:1: Script attempted to access nonexistent global variable 'io' script: %s, on @user_script:1.\r\n"},
		{"return print", "-ERR user_script:1: Script attempted to access nonexistent global variable 'print' script: %s, on @user_script:1.\r\n"},
		{"return dofile", "-ERR user_script:1: Script attempted to access nonexistent global variable 'dofile' script: %s, on @user_script:1.\r\n"},
		{"return loadfile", "-ERR user_script:1: Script attempted to access nonexistent global variable 'loadfile' script: %s, on @user_script:1.\r\n"},
		{"return debug", "-ERR user_script:1: Script attempted to access nonexistent global variable 'debug' script: %s, on @user_script:1.\r\n"},
		{"return getfenv", "-ERR user_script:1: Script attempted to access nonexistent global variable 'getfenv' script: %s, on @user_script:1.\r\n"},
		{"local function f() return f() + 1 end return f()", "-ERR user_script:1: stack overflow script: %s, on @user_script:1.\r\n"},
	}
	for _, c := range cases {
		want := strings.Replace(c.want, "%s", sha(c.body), 1)
		if got := eval(t, e, c.body, nil, nil); got != want {
			t.Errorf("%s: got %q, want %q", c.body, got, want)
		}
	}
}

func TestCompileAndShebangErrors(t *testing.T) {
	e := New(Limits{}, "7.0.15")
	cases := []struct{ body, want string }{
		{"return 1 +", "-ERR Error compiling script (new function): user_script:1: "},
		{"#!py\nreturn 1", "-ERR Unexpected engine in script shebang: #!py\r\n"},
		{"#!lua x=y\nreturn 1", "-ERR Unknown lua shebang option: x=y\r\n"},
		{"#!lua flags=bogus\nreturn 1", "-ERR Unexpected flag in script shebang: bogus\r\n"},
		{"#!lua", "-ERR Invalid script shebang\r\n"},
		{"#!lua flags=no-writes,allow-oom\nreturn 2", ":2\r\n"},
	}
	for _, c := range cases {
		if got := eval(t, e, c.body, nil, nil); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q: got %q, want prefix %q", c.body, got, c.want)
		}
	}
	s, err := e.Load([]byte("#!lua flags=no-writes,allow-oom\nreturn 2"))
	if err != nil || s.Flags != NoWrites|AllowOOM || !s.Shebang {
		t.Errorf("flags: got %v %v %v", s, err, s.Flags.Names())
	}
}

func TestLibrariesAsRedis(t *testing.T) {
	e := New(Limits{}, "7.0.15")
	cases := []struct{ body, want string }{
		{"return cjson.encode({1,2,{a=1}})", `[1,2,{"a":1}]`},
		{"return cjson.encode({})", `{}`},
		{"return cjson.encode({a='x/y\"'})", `{"a":"x\/y\""}`},
		{"return cjson.encode(0.1)", `0.1`},
		{"return cjson.encode(1/3)", `0.33333333333333`},
		{"return cjson.encode(1e20)", `1e+20`},
		{"return cjson.encode({1,nil,3})", `[1,null,3]`},
		{"return tostring(cjson.decode('[1,2,{\"a\":null}]')[3].a == cjson.null)", `true`},
		{"return cjson.decode('{\"a\":[1,\"x\"]}').a[2]", `x`},
		{"return tostring(bit.band(7,3))", `3`},
		{"return tostring(bit.bnot(0))", `-1`},
		{"return bit.tohex(255)", `000000ff`},
		{"return bit.tohex(255, -2)", `FF`},
		{"return tostring(bit.lshift(1, 31))", `-2147483648`},
		{"return tostring(bit.rshift(-1, 28))", `15`},
		{"return tostring(bit.arshift(-16, 2))", `-4`},
		{"return tostring(bit.tobit(2^32 + 5))", `5`},
		{"return tostring(bit.bswap(0x01020304))", `67305985`},
		{"return redis.sha1hex('')", `da39a3ee5e6b4b0d3255bfef95601890afd80709`},
		{"return redis.REDIS_VERSION", `7.0.15`},
		{"return tostring(redis.REDIS_VERSION_NUM)", `458767`},
		{"return _VERSION", `Lua 5.1`},
		{"return type(coroutine)", `table`},
		{"return tostring(loadstring('return 1')())", `1`},
		{"return string.format('%d-%s', 3, 'x')", `3-x`},
		{"return cmsgpack.pack({1, 'a'}, -1, 1.5)", "\x92\x01\xa1a\xff\xca\x3f\xc0\x00\x00"},
		{"local a, b = cmsgpack.unpack(cmsgpack.pack({k = {1, 2}}, 'x')) return a.k[2] .. b", `2x`},
	}
	for _, c := range cases {
		got := eval(t, e, c.body, nil, nil)
		want := "$" + strconv.Itoa(len(c.want)) + "\r\n" + c.want + "\r\n"
		if got != want {
			t.Errorf("%s: got %q, want %q", c.body, got, want)
		}
	}
}

func TestMathRandomIsRedisRand48(t *testing.T) {
	e := New(Limits{}, "7.0.15")
	// Redis 7.0.15 answers 18 and 75 (redis-cli EVAL "math.randomseed(0) ..." 0).
	body := "math.randomseed(0) return {math.random(100), math.random(100)}"
	if got, want := eval(t, e, body, nil, nil), "*2\r\n:18\r\n:75\r\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestReplyLimitAndStatePoolReuse(t *testing.T) {
	e := New(Limits{MaxReply: 1000}, "7.0.15")
	if got := eval(t, e, "return string.rep('x', 2000)", nil, nil); !strings.HasPrefix(got, "-ERR the script's reply is larger than the limit of 1000 bytes") {
		t.Errorf("big reply: got %q", got)
	}
	// A script's globals and KEYS do not leak into the next one on the same state, not
	// through loadstring either.
	eval(t, e, "pcall(function() x = 1 end) pcall(loadstring('y = 1')) return 1", []string{"a"}, nil)
	for _, name := range []string{"x", "y"} {
		want := "-ERR user_script:1: Script attempted to access nonexistent global variable '" + name + "'"
		if got := eval(t, e, "return "+name, nil, nil); !strings.HasPrefix(got, want) {
			t.Errorf("global %s in a later run: got %q, want %q...", name, got, want)
		}
	}
	if got := eval(t, e, "return #KEYS", nil, nil); got != ":0\r\n" {
		t.Errorf("KEYS of a later run: got %q", got)
	}
}

func TestKilledScriptReply(t *testing.T) {
	e := New(Limits{}, "7.0.15")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := newFakeHost()
	body := "local i = 0 while true do i = i + 1 end"
	s, err := e.Load([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	e.Run(ctx, s, nil, nil, h)
	want := "-ERR Script killed by user with SCRIPT KILL... script: " + s.SHA + ", on @user_script:1.\r\n"
	if got := string(h.w.Bytes()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
