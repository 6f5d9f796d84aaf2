package script

import (
	"log/slog"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Redis's log levels, redis.LOG_DEBUG to redis.LOG_WARNING, and the slog levels their
// lines are written at.
var logLevels = []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelInfo + 2, slog.LevelWarn}

// replAll is redis.REPL_ALL, the only replication mode the grid has (see setRepl).
const replAll = 3

// redisLib is the redis table: call, pcall, the reply helpers, sha1hex, log, setresp,
// set_repl, replicate_commands and the constants.
func (v *vm) redisLib() *lua.LTable {
	L := v.L
	t := L.NewTable()
	fns := map[string]lua.LGFunction{
		"call":               func(L *lua.LState) int { return v.call(L, true) },
		"pcall":              func(L *lua.LState) int { return v.call(L, false) },
		"error_reply":        func(L *lua.LState) int { return singleField(L, "err") },
		"status_reply":       func(L *lua.LState) int { return singleField(L, "ok") },
		"sha1hex":            v.sha1hex,
		"log":                v.log,
		"setresp":            setResp,
		"set_repl":           setRepl,
		"replicate_commands": func(L *lua.LState) int { L.Push(lua.LTrue); return 1 },
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	for i, name := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"} {
		t.RawSetString(name, lua.LNumber(i))
	}
	for name, n := range map[string]int{"REPL_NONE": 0, "REPL_AOF": 1, "REPL_SLAVE": 2, "REPL_REPLICA": 2, "REPL_ALL": replAll} {
		t.RawSetString(name, lua.LNumber(n))
	}
	t.RawSetString("REDIS_VERSION", lua.LString(v.e.version))
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(versionNum(v.e.version)))
	return t
}

// loadRedisLib is the redis table a library's top-level code sees (FUNCTION LOAD):
// register_function, log, setresp and the constants, no call.
func (v *vm) loadRedisLib() *lua.LTable {
	L := v.L
	t := L.NewTable()
	t.RawSetString("register_function", L.NewFunction(v.registerFunction))
	t.RawSetString("log", L.NewFunction(v.log))
	t.RawSetString("setresp", L.NewFunction(setResp))
	for i, name := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"} {
		t.RawSetString(name, lua.LNumber(i))
	}
	t.RawSetString("REDIS_VERSION", lua.LString(v.e.version))
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(versionNum(v.e.version)))
	return t
}

// versionNum is Redis's 0x00MMmmpp form of a version string.
func versionNum(version string) int {
	n := 0
	parts := strings.SplitN(version, ".", 3)
	for i := range 3 {
		x := 0
		if i < len(parts) {
			x, _ = strconv.Atoi(strings.TrimFunc(parts[i], func(r rune) bool { return r < '0' || r > '9' }))
		}
		n = n<<8 | x&0xff
	}
	return n
}

// call is redis.call (raise) and redis.pcall: the arguments become a command, run by the
// host; an error reply is raised, or returned as an error table by pcall.
func (v *vm) call(L *lua.LState, raise bool) int {
	n := L.GetTop()
	if n == 0 {
		return v.fail(L, errorTable(L, "Please specify at least one argument for this redis lib call"), raise)
	}
	args := make([][]byte, n)
	for i := 1; i <= n; i++ {
		switch a := L.Get(i).(type) {
		case lua.LString:
			args[i-1] = []byte(a)
		case lua.LNumber:
			// Redis's "%.17g": an integer below 1e15 prints as its digits (-0 as -0).
			if f := float64(a); f == math.Trunc(f) && math.Abs(f) < 1e15 && (f != 0 || !math.Signbit(f)) {
				args[i-1] = strconv.AppendInt(nil, int64(f), 10)
			} else {
				args[i-1] = strconv.AppendFloat(nil, f, 'g', 17, 64)
			}
		default:
			return v.fail(L, errorTable(L, "Lua redis lib command arguments must be strings or integers"), raise)
		}
	}
	reply := v.host.Call(args)
	val, rest, isErr := parseReply(L, reply)
	if len(rest) != 0 {
		L.RaiseError("internal error: %d bytes after the reply of %s", len(rest), args[0])
	}
	if isErr {
		return v.fail(L, val, raise)
	}
	L.Push(val)
	return 1
}

// fail raises the error table t (redis.call) or returns it (redis.pcall).
func (v *vm) fail(L *lua.LState, t lua.LValue, raise bool) int {
	if raise {
		L.Error(t, 1)
		return 0
	}
	L.Push(t)
	return 1
}

// errorTable is Redis's luaPushError: {err="ERR <msg>"}.
func errorTable(L *lua.LState, msg string) *lua.LTable {
	return errorBuffer(L, msg)
}

// errorBuffer is Redis's luaPushErrorBuff: "-CODE msg" keeps its code ("-msg" without a
// space gets ERR), anything else gets ERR; trailing CR and LF are trimmed.
func errorBuffer(L *lua.LState, s string) *lua.LTable {
	code, msg := "ERR", s
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		if c, m, found := strings.Cut(rest, " "); found {
			code, msg = c, m
		} else {
			msg = rest
		}
	}
	t := L.NewTable()
	t.RawSetString("err", lua.LString(code+" "+strings.Trim(msg, "\r\n")))
	return t
}

// singleField is redis.error_reply and redis.status_reply: {err=...} or {ok=...}; the
// error's code is ERR when the message has none, as Redis 7.0 adds it.
func singleField(L *lua.LState, field string) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(errorTable(L, "wrong number or type of arguments"))
		return 1
	}
	if field == "err" {
		msg := string(s)
		if !strings.HasPrefix(msg, "-") {
			msg = "-" + msg
		}
		L.Push(errorBuffer(L, msg))
		return 1
	}
	t := L.NewTable()
	t.RawSetString(field, s)
	L.Push(t)
	return 1
}

func (v *vm) sha1hex(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.Error(errorTable(L, "wrong number of arguments"), 1)
	}
	L.Push(lua.LString(SHA1Hex([]byte(L.ToString(1)))))
	return 1
}

// log is redis.log(level, ...): the arguments joined by spaces, at Redis's level.
func (v *vm) log(L *lua.LState) int {
	n := L.GetTop()
	if n < 2 {
		L.Error(errorTable(L, "redis.log() requires two arguments or more."), 1)
	}
	lv, ok := L.Get(1).(lua.LNumber)
	if !ok {
		L.Error(errorTable(L, "First argument must be a number"), 1)
	}
	level := int(lv)
	if level < 0 || level >= len(logLevels) {
		L.Error(errorTable(L, "Invalid debug level."), 1)
	}
	parts := make([]string, 0, n-1)
	for i := 2; i <= n; i++ {
		parts = append(parts, L.ToString(i))
	}
	if v.host != nil { // nil while a library loads
		v.host.Log(logLevels[level], strings.Join(parts, " "))
	}
	return 0
}

// setResp is redis.setresp: the grid's scripts see RESP2 replies only, so 2 is the one
// version taken.
func setResp(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.Error(errorTable(L, "redis.setresp() requires one argument."), 1)
	}
	n := L.ToInt(1)
	switch n {
	case 2:
		return 0
	case 3:
		L.Error(errorTable(L, "redis.setresp(3) is not supported by the grid: scripts see RESP2 replies"), 1)
	}
	L.Error(errorTable(L, "RESP version must be 2 or 3."), 1)
	return 0
}

// setRepl is redis.set_repl: a script's changes replicate as one unit, whole, so only
// REPL_ALL is taken.
func setRepl(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.Error(errorTable(L, "redis.set_repl() requires one argument."), 1)
	}
	n := L.ToInt(1)
	switch {
	case n < 0 || n > replAll:
		L.Error(errorTable(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE."), 1)
	case n != replAll:
		L.Error(errorTable(L, "redis.set_repl() other than REPL_ALL is not supported by the grid: a script's changes replicate as one unit"), 1)
	}
	return 0
}
