package script

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Functions: Redis 7.0's libraries (FUNCTION LOAD "#!lua name=<lib>" then code calling
// redis.register_function) and FCALL. The engine keeps the libraries as an immutable set,
// replaced whole on every change; a pooled VM loads the set's libraries again when it
// sees a newer set, keeping the callbacks they register.

// Function is a registered function.
type Function struct {
	Name, Description string
	Flags             Flags
	Library           *Library
}

// Library is a loaded library: its name, its code and its functions.
type Library struct {
	Name, Code string
	Functions  map[string]*Function
	proto      *lua.FunctionProto
}

// libSet is the libraries at one time; gen changes with every new set.
type libSet struct {
	gen   uint64
	libs  map[string]*Library
	funcs map[string]*Function
}

type functionState struct {
	mu  sync.Mutex // serialises changes
	set *libSet
	gen uint64
}

// libChunk is the name function libraries are compiled under, which errors show.
const libChunk = "user_function"

// loadTimeout bounds a library's top-level code, as Redis's FUNCTION LOAD timeout does.
const loadTimeout = 500 * time.Millisecond

func (e *Engine) libs() *libSet {
	e.fn.mu.Lock()
	defer e.fn.mu.Unlock()
	if e.fn.set == nil {
		e.fn.set = &libSet{libs: map[string]*Library{}, funcs: map[string]*Function{}}
	}
	return e.fn.set
}

// Libraries are the loaded libraries, by name.
func (e *Engine) Libraries() []*Library {
	set := e.libs()
	out := slices.Collect(maps.Values(set.libs))
	slices.SortFunc(out, func(a, b *Library) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Function is the registered function named name, nil when there is none.
func (e *Engine) Function(name string) *Function { return e.libs().funcs[name] }

// Counts are the number of libraries and of functions (FUNCTION STATS).
func (e *Engine) Counts() (libraries, functions int) {
	set := e.libs()
	return len(set.libs), len(set.funcs)
}

// CompileLibrary reads a library's metadata line, compiles it and runs its top-level code
// to collect the functions it registers. The error is Redis's reply.
func (e *Engine) CompileLibrary(code string) (*Library, error) {
	name, body, err := libraryMetadata(code)
	if err != nil {
		return nil, err
	}
	proto, err := compile(body, libChunk)
	if err != nil {
		return nil, fmt.Errorf("ERR Error compiling function: %w", err)
	}
	lib := &Library{Name: name, Code: code, proto: proto}
	v := e.pool.Get().(*vm)
	defer e.pool.Put(v)
	if _, err := v.loadLibrary(lib, true); err != nil {
		return nil, err
	}
	if len(lib.Functions) == 0 {
		return nil, errors.New("ERR No functions registered")
	}
	return lib, nil
}

// libraryMetadata parses "#!lua name=<lib>" as Redis 7.0's functionExtractLibMetaData.
func libraryMetadata(code string) (name, body string, err error) {
	if !strings.HasPrefix(code, "#!") {
		return "", "", errors.New("ERR Missing library metadata")
	}
	end := strings.IndexByte(code, '\n')
	if end < 0 {
		return "", "", errors.New("ERR Invalid library metadata")
	}
	parts := strings.Fields(code[2:end])
	if len(parts) == 0 {
		return "", "", errors.New("ERR Invalid library metadata")
	}
	if !strings.EqualFold(parts[0], "lua") {
		return "", "", fmt.Errorf("ERR Engine '%s' not found", parts[0])
	}
	for _, p := range parts[1:] {
		v, ok := strings.CutPrefix(p, "name=")
		if !ok {
			return "", "", fmt.Errorf("ERR Invalid metadata value given: %s", p)
		}
		name = v
	}
	if name == "" {
		return "", "", errors.New("ERR Library name was not given")
	}
	if !validName(name) {
		return "", "", errors.New("ERR " + errBadName)
	}
	return name, code[end:], nil
}

// errBadName is Redis 7.0's reply to a bad library or function name (it words both so).
const errBadName = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// AddLibraries makes libs loaded: with replace a library of the same name is replaced,
// without it is an error; a function name of another library is an error either way.
// flush drops every loaded library first. Nothing changes on error.
func (e *Engine) AddLibraries(libs []*Library, replace, flush bool) error {
	e.libs()
	e.fn.mu.Lock()
	defer e.fn.mu.Unlock()
	old := e.fn.set
	next := &libSet{libs: map[string]*Library{}, funcs: map[string]*Function{}}
	if !flush {
		maps.Copy(next.libs, old.libs)
	}
	for _, lib := range libs {
		if _, ok := next.libs[lib.Name]; ok && !replace {
			return &ExistsError{Library: lib.Name}
		}
		next.libs[lib.Name] = lib
	}
	for _, lib := range next.libs {
		for name, f := range lib.Functions {
			if other, ok := next.funcs[name]; ok && other.Library != lib {
				return fmt.Errorf("ERR Function %s already exists", name)
			}
			next.funcs[name] = f
		}
	}
	e.fn.gen++
	next.gen = e.fn.gen
	e.fn.set = next
	return nil
}

// ExistsError is AddLibraries's refusal of a library already loaded, without replace.
type ExistsError struct{ Library string }

// Error is FUNCTION LOAD's reply; FUNCTION RESTORE's words it without the quotes.
func (e *ExistsError) Error() string {
	return fmt.Sprintf("ERR Library '%s' already exists", e.Library)
}

// DeleteLibrary unloads the library named name; false when there is none.
func (e *Engine) DeleteLibrary(name string) bool {
	e.libs()
	e.fn.mu.Lock()
	defer e.fn.mu.Unlock()
	old := e.fn.set
	if _, ok := old.libs[name]; !ok {
		return false
	}
	next := &libSet{libs: maps.Clone(old.libs), funcs: map[string]*Function{}}
	delete(next.libs, name)
	for _, lib := range next.libs {
		maps.Copy(next.funcs, lib.Functions)
	}
	e.fn.gen++
	next.gen = e.fn.gen
	e.fn.set = next
	return true
}

// RunFunction calls f with keys and args (FCALL), its reply or error written to h.Reply().
// readOnly: FCALL_RO, or the function's no-writes flag.
func (e *Engine) RunFunction(ctx context.Context, f *Function, keys, args [][]byte, h Host) {
	v := e.pool.Get().(*vm)
	if v.runFunction(ctx, f, keys, args, h) {
		e.pool.Put(v)
	}
}

// libLoad collects what a library registers while its code runs.
type libLoad struct {
	lib   *Library
	funcs map[string]*lua.LFunction
}

// loadLibrary runs lib's top-level code on v with redis.register_function available,
// filling lib.Functions when describe is set; it returns the callbacks.
func (v *vm) loadLibrary(lib *Library, describe bool) (map[string]*lua.LFunction, error) {
	L := v.L
	ld := &libLoad{lib: lib, funcs: map[string]*lua.LFunction{}}
	if describe {
		lib.Functions = map[string]*Function{}
	}
	v.loading = ld
	v.globals.RawSetString("redis", v.loadRedis)
	defer func() {
		v.loading = nil
		v.globals.RawSetString("redis", v.redis)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	fn := L.NewFunctionFromProto(lib.proto)
	fn.Env = v.env
	L.SetContext(ctx)
	L.Push(fn)
	err := L.PCall(0, 0, v.handler)
	L.RemoveContext()
	L.SetTop(0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errors.New("ERR FUNCTION LOAD timeout")
		}
		msg := "ERR " + err.Error()
		var ae *lua.ApiError
		if errors.As(err, &ae) {
			if t, ok := ae.Object.(*lua.LTable); ok {
				msg = lua.LVAsString(t.RawGetString("err"))
			} else {
				msg = "ERR " + lua.LVAsString(ae.Object)
			}
		}
		return nil, fmt.Errorf("ERR Error registering functions: %s", msg)
	}
	return ld.funcs, nil
}

// registerFunction is redis.register_function(name, callback) or its table form
// {function_name=, callback=, flags=, description=}, as Redis 7.0's function_lua.c.
func (v *vm) registerFunction(L *lua.LState) int {
	ld := v.loading
	if ld == nil {
		L.Error(errorTable(L, "redis.register_function can only be called on FUNCTION LOAD command"), 1)
	}
	fail := func(msg string) { L.Error(errorTable(L, msg), 1) }
	var (
		name, desc string
		cb         *lua.LFunction
		flags      Flags
	)
	switch L.GetTop() {
	case 1:
		t, ok := L.Get(1).(*lua.LTable)
		if !ok {
			fail("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
		}
		var bad string
		t.ForEach(func(k, val lua.LValue) {
			if bad != "" {
				return
			}
			key, ok := k.(lua.LString)
			if !ok {
				bad = "named argument key given to redis.register_function is not a string"
				return
			}
			switch key {
			case "function_name":
				s, ok := val.(lua.LString)
				if !ok {
					bad = "function_name argument given to redis.register_function must be a string"
				}
				name = string(s)
			case "description":
				s, ok := val.(lua.LString)
				if !ok {
					bad = "description argument given to redis.register_function must be a string"
				}
				desc = string(s)
			case "callback":
				f, ok := val.(*lua.LFunction)
				if !ok {
					bad = "callback argument given to redis.register_function must be a function"
				}
				cb = f
			case "flags":
				ft, ok := val.(*lua.LTable)
				if !ok {
					bad = "flags argument to redis.register_function must be a table representing function flags"
					return
				}
				ft.ForEach(func(_, fv lua.LValue) {
					s, ok := fv.(lua.LString)
					f, known := ParseFlag(string(s))
					if !ok || !known {
						bad = "unknown flag given"
						return
					}
					flags |= f
				})
			default:
				bad = "unknown argument given to redis.register_function"
			}
		})
		switch {
		case bad != "":
			fail(bad)
		case name == "":
			fail("redis.register_function must get a function name argument")
		case cb == nil:
			fail("redis.register_function must get a callback argument")
		}
	case 2:
		s, ok := L.Get(1).(lua.LString)
		if !ok {
			fail("first argument to redis.register_function must be a string")
		}
		f, ok := L.Get(2).(*lua.LFunction)
		if !ok {
			fail("second argument to redis.register_function must be a function")
		}
		name, cb = string(s), f
	default:
		fail("wrong number of arguments to redis.register_function")
	}
	if !validName(name) {
		fail(errBadName)
	}
	if _, ok := ld.funcs[name]; ok {
		fail("Function already exists in the library")
	}
	ld.funcs[name] = cb
	if ld.lib.Functions != nil {
		ld.lib.Functions[name] = &Function{Name: name, Description: desc, Flags: flags, Library: ld.lib}
	}
	return 0
}

// runFunction calls f on v, loading the current libraries first when v has older ones.
func (v *vm) runFunction(ctx context.Context, f *Function, keys, args [][]byte, h Host) (reuse bool) {
	set := v.e.libs()
	if v.libGen != set.gen || v.fns == nil {
		v.fns = map[string]*lua.LFunction{}
		for _, lib := range set.libs {
			fns, err := v.loadLibrary(lib, false)
			if err != nil {
				h.Reply().Error(fmt.Sprintf("ERR reloading library %s: %s", lib.Name, err.Error()))
				return false
			}
			maps.Copy(v.fns, fns)
		}
		v.libGen = set.gen
	}
	cb := v.fns[f.Name]
	if cb == nil {
		h.Reply().Error("ERR Function not found")
		return true
	}
	return v.callFn(ctx, f.Name, cb, []lua.LValue{v.array(keys), v.array(args)}, h)
}
