package script

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"

	lua "github.com/yuin/gopher-lua"

	"github.com/insightgrid/insight/grid/resp"
)

// vm is one sandboxed Lua state with Redis's libraries, lent to one script at a time.
//
// The sandbox is Redis 7.0's: the base, table, string, math and coroutine libraries
// without dofile, loadfile, print, module and require; no os, io, debug or package; Lua
// source only (gopher-lua has no bytecode loader). The globals and the libraries are read
// only: a script sees them through empty proxy tables whose writes fail with "Attempt to
// modify a readonly table", and reading a global that does not exist fails with "Script
// attempted to access nonexistent global variable". rawset, setmetatable and
// getmetatable refuse the proxies, which would otherwise be a way around them.
type vm struct {
	e       *Engine
	L       *lua.LState
	globals *lua.LTable // the real globals, KEYS and ARGV among them
	env     *lua.LTable // what scripts see as _G: a read-only proxy of globals
	// proxies are the read-only tables, which rawset and the metatable functions refuse.
	proxies map[*lua.LTable]*lua.LTable // proxy: the table it reads
	handler *lua.LFunction              // the error handler, Redis's __redis__err__handler
	null    *lua.LUserData              // cjson.null
	host    Host
	name    string // what runs: the script's SHA1 or the function's name
	// Functions (function.go): the redis tables of a run and of a library's loading,
	// what a loading library registers, and the libraries' callbacks this state holds.
	redis, loadRedis *lua.LTable
	loading          *libLoad
	libGen           uint64
	fns              map[string]*lua.LFunction
}

// Host runs the commands a script calls and takes its reply and its log lines.
type Host interface {
	// Call runs args as a command called from the script (checks included) and returns
	// its RESP2 reply.
	Call(args [][]byte) []byte
	// Reply is where the script's reply, or its error, is written.
	Reply() *resp.Writer
	// Log writes a redis.log line at level (Redis's LOG_ levels, 0 to 3).
	Log(level slog.Level, msg string)
}

func newVM(e *Engine) *vm {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    e.limits.CallStack,
		RegistrySize:     e.limits.Registry,
		RegistryMaxSize:  e.limits.RegistryMax,
		RegistryGrowStep: 1024,
	})
	v := &vm{e: e, L: L, proxies: map[*lua.LTable]*lua.LTable{}}
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	v.globals = g
	for _, name := range []string{"dofile", "loadfile", "print", "module", "require", "getfenv", "setfenv", "newproxy", "_printregs", "_GOPHER_LUA_VERSION"} {
		g.RawSetString(name, lua.LNil)
	}
	g.RawSetString("pairs", L.NewFunction(v.pairs))
	g.RawSetString("next", L.NewFunction(v.next))
	g.RawSetString("rawset", L.NewFunction(v.rawset))
	g.RawSetString("setmetatable", L.NewFunction(v.setmetatable))
	g.RawSetString("getmetatable", L.NewFunction(v.getmetatable))
	math := g.RawGetString("math").(*lua.LTable)
	math.RawSetString("random", L.NewFunction(v.mathRandom))
	math.RawSetString("randomseed", L.NewFunction(v.mathRandomSeed))
	g.RawSetString("redis", v.redisLib())
	g.RawSetString("cjson", v.cjsonLib())
	g.RawSetString("bit", bitLib(L))
	g.RawSetString("cmsgpack", v.cmsgpackLib())
	for _, name := range []string{"string", "table", "math", "coroutine", "redis", "cjson", "bit", "cmsgpack"} {
		g.RawSetString(name, v.readOnly(g.RawGetString(name).(*lua.LTable)))
	}
	v.redis = g.RawGetString("redis").(*lua.LTable)
	miss := L.NewTable()
	miss.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.ToString(2))
		return 0
	}))
	L.SetMetatable(g, miss)
	// While a library loads, redis has register_function and no call (function.go).
	load := v.loadRedisLib()
	L.SetMetatable(load, miss)
	v.loadRedis = v.readOnly(load)
	v.env = v.readOnly(g)
	g.RawSetString("_G", v.env)
	L.Env = v.env // what loadstring's chunks see
	// s:upper() reads the string library through the string metatable: the read-only one.
	if mt, ok := L.GetMetatable(lua.LString("")).(*lua.LTable); ok {
		mt.RawSetString("__index", g.RawGetString("string"))
	}
	v.handler = L.NewFunction(v.errorHandler)
	return v
}

// readOnly returns an empty table reading through to t whose writes fail; pairs and
// next see t's content through it.
func (v *vm) readOnly(t *lua.LTable) *lua.LTable {
	L := v.L
	p := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(p, mt)
	v.proxies[p] = t
	return p
}

// unwrap is the table a read-only proxy reads through to, or t itself.
func (v *vm) unwrap(t *lua.LTable) *lua.LTable {
	if real, ok := v.proxies[t]; ok {
		return real
	}
	return t
}

// next is Lua's next, over a read-only table's content.
func (v *vm) next(L *lua.LState) int {
	t := v.unwrap(L.CheckTable(1))
	k, val := t.Next(L.Get(2))
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(val)
	return 2
}

// pairs is Lua's pairs, over a read-only table's content.
func (v *vm) pairs(L *lua.LState) int {
	t := v.unwrap(L.CheckTable(1))
	L.Push(L.Get(lua.GlobalsIndex).(*lua.LTable).RawGetString("next"))
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

func (v *vm) readOnlyTable(t *lua.LTable) bool {
	_, ro := v.proxies[t]
	return ro || t == v.globals
}

// errReadOnly is Redis's error for rawset or setmetatable on a read-only table.
const errReadOnly = "Attempt to modify a readonly table"

func (v *vm) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	if v.readOnlyTable(t) {
		L.Error(lua.LString(errReadOnly), 0)
	}
	t.RawSet(L.CheckAny(2), L.CheckAny(3))
	L.SetTop(1)
	return 1
}

func (v *vm) setmetatable(L *lua.LState) int {
	if t, ok := L.Get(1).(*lua.LTable); ok && v.readOnlyTable(t) {
		L.Error(lua.LString(errReadOnly), 0)
	}
	L.CheckTypes(2, lua.LTNil, lua.LTTable)
	obj := L.Get(1)
	if obj == lua.LNil {
		L.RaiseError("cannot set metatable to a nil object.")
	}
	if mt, ok := L.GetMetatable(obj).(*lua.LTable); ok && mt.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	L.SetMetatable(obj, L.Get(2))
	L.SetTop(1)
	return 1
}

// getmetatable honours __metatable, as Lua's does (gopher-lua's does not).
func (v *vm) getmetatable(L *lua.LState) int {
	mt := L.GetMetatable(L.CheckAny(1))
	if t, ok := mt.(*lua.LTable); ok {
		if p := t.RawGetString("__metatable"); p != lua.LNil {
			L.Push(p)
			return 1
		}
	}
	L.Push(mt)
	return 1
}

// errorHandler is Redis's __redis__err__handler: the error becomes a table {err=...}
// ("ERR " before a string error) with the source and line of the Lua code that raised
// it (the caller's, when a Go function such as redis.call raised it).
func (v *vm) errorHandler(L *lua.LState) int {
	errv := L.Get(1)
	t, ok := errv.(*lua.LTable)
	if !ok {
		t = L.NewTable()
		t.RawSetString("err", lua.LString("ERR "+lua.LVAsString(L.ToStringMeta(errv))))
	}
	for level := 1; level <= 2; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			break
		}
		if dbg.What == "G" {
			continue
		}
		t.RawSetString("source", lua.LString("@"+dbg.Source))
		t.RawSetString("line", lua.LNumber(dbg.CurrentLine))
		break
	}
	L.Push(t)
	return 1
}

// run runs s and writes its reply; false when the state must not be reused.
func (v *vm) run(ctx context.Context, s *Script, keys, argv [][]byte, h Host) (reuse bool) {
	v.globals.RawSetString("KEYS", v.array(keys))
	v.globals.RawSetString("ARGV", v.array(argv))
	fn := v.L.NewFunctionFromProto(s.proto)
	fn.Env = v.env
	return v.callFn(ctx, s.SHA, fn, nil, h)
}

// callFn calls fn with args as the script named name and writes its reply; false when the
// state must not be reused.
func (v *vm) callFn(ctx context.Context, name string, fn *lua.LFunction, args []lua.LValue, h Host) (reuse bool) {
	L := v.L
	v.host, v.name = h, name
	defer func() {
		v.host = nil
		if r := recover(); r != nil {
			// A bug in a library function: the script fails, the process goes on.
			h.Reply().Error(fmt.Sprintf("ERR Error running script %s: internal error: %v", name, r))
			reuse = false
		}
	}()
	L.SetContext(ctx)
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	err := L.PCall(len(args), 1, v.handler)
	L.RemoveContext()
	if err != nil {
		v.replyError(ctx, err)
		L.SetTop(0)
		return true
	}
	ret := L.Get(-1)
	L.SetTop(0)
	writeReply(h.Reply(), ret, v.e.limits.MaxReply)
	return true
}

// replyError writes a script's error as Redis's luaCallFunction does: the message, then
// " script: <sha>, on <source>:<line>." when the position is known.
func (v *vm) replyError(ctx context.Context, err error) {
	w := v.host.Reply()
	ae, ok := err.(*lua.ApiError)
	if !ok {
		w.Error("ERR Error running script " + v.name + ", " + err.Error())
		return
	}
	var msg, where string
	switch o := ae.Object.(type) {
	case *lua.LTable:
		msg = lua.LVAsString(o.RawGetString("err"))
		if src, line := o.RawGetString("source"), o.RawGetString("line"); src != lua.LNil && line != lua.LNil {
			where = lua.LVAsString(src) + ":" + lua.LVAsString(line)
		}
	case lua.LString:
		// The handler itself failed (the stack overflowed): the message's own position.
		msg = "ERR " + string(o)
		if m := positionRE.FindStringSubmatch(string(o)); m != nil {
			where = "@" + m[1]
		}
	default:
		w.Error(fmt.Sprintf("ERR Error running script %s, %.100s", v.name, lua.LVAsString(ae.Object)))
		return
	}
	if ctx.Err() != nil {
		msg = "ERR Script killed by user with SCRIPT KILL..."
	}
	if where != "" {
		msg += fmt.Sprintf(" script: %s, on %s.", v.name, where)
	}
	w.Error(msg)
}

// positionRE finds the "chunk:line" at the start of a Lua error message.
var positionRE = regexp.MustCompile(`^([A-Za-z_]+:[0-9]+):`)

// array is a Lua array of the strings in items (KEYS, ARGV).
func (v *vm) array(items [][]byte) *lua.LTable {
	t := v.L.CreateTable(len(items), 0)
	for i, b := range items {
		t.RawSetInt(i+1, lua.LString(b))
	}
	return t
}
