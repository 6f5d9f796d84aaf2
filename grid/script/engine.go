// Package script runs Redis 7.0 Lua scripts (EVAL, EVALSHA and their read-only forms) and
// functions (FUNCTION LOAD's libraries, FCALL) on gopher-lua, a Lua 5.1 virtual machine
// in Go: it compiles and caches scripts by SHA1, keeps the function libraries, lends
// sandboxed VMs from a pool, gives the script Redis's API (redis.call and pcall,
// error_reply, status_reply, sha1hex, log, setresp, register_function, the LOG_
// constants, REDIS_VERSION), cjson and bit, and converts between Lua values and RESP
// replies as Redis's script_lua.c does. The commands a script calls are run by a Host,
// the server.
package script

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Limits bound what one script may take from the process. gopher-lua has no heap limit:
// the call stack and the value stack (the registry) are capped, and so is the reply.
type Limits struct {
	// CallStack is the deepest Lua call nesting ("stack overflow" past it).
	CallStack int
	// Registry and RegistryMax are the value stack's initial and largest sizes, in slots.
	Registry, RegistryMax int
	// MaxReply is the largest reply a script may return, in bytes of RESP.
	MaxReply int
}

// DefaultLimits are the limits New uses when given zero ones.
var DefaultLimits = Limits{CallStack: 200, Registry: 1024, RegistryMax: 1 << 20, MaxReply: 64 << 20}

// Script is a compiled script: its source's SHA1, its shebang flags and its code.
type Script struct {
	SHA   string
	Flags Flags
	// Shebang is whether the source starts with "#!lua": Redis 7.0 then applies the
	// flags (even none) instead of EVAL's legacy behaviour.
	Shebang bool
	proto   *lua.FunctionProto
}

// Engine is the script cache and the VM pool of one server.
type Engine struct {
	limits  Limits
	version string

	mu      sync.RWMutex
	scripts map[string]*Script

	pool sync.Pool // *vm
	rand rand48    // math.random's
	fn   functionState
}

// New returns an engine whose scripts see version as redis.REDIS_VERSION.
func New(limits Limits, version string) *Engine {
	if limits.CallStack <= 0 {
		limits.CallStack = DefaultLimits.CallStack
	}
	if limits.Registry <= 0 {
		limits.Registry = DefaultLimits.Registry
	}
	if limits.RegistryMax < limits.Registry {
		limits.RegistryMax = max(DefaultLimits.RegistryMax, limits.Registry)
	}
	if limits.MaxReply <= 0 {
		limits.MaxReply = DefaultLimits.MaxReply
	}
	e := &Engine{limits: limits, version: version, scripts: map[string]*Script{}}
	e.pool.New = func() any { return newVM(e) }
	e.rand.seed(int32(time.Now().UnixNano()))
	return e
}

// SHA1Hex is the lower-case hex SHA1 of b, a script's name.
func SHA1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// Load compiles body and caches it under its SHA1 (EVAL, SCRIPT LOAD). The error is the
// reply Redis gives: a bad shebang, or "Error compiling script (new function): ...".
func (e *Engine) Load(body []byte) (*Script, error) {
	sha := SHA1Hex(body)
	if s := e.Get(sha); s != nil {
		return s, nil
	}
	flags, shebang, code, err := parseShebang(string(body))
	if err != nil {
		return nil, err
	}
	proto, err := compile(code, chunkName)
	if err != nil {
		return nil, fmt.Errorf("ERR Error compiling script (new function): %w", err)
	}
	s := &Script{SHA: sha, Flags: flags, Shebang: shebang, proto: proto}
	e.mu.Lock()
	if old := e.scripts[sha]; old != nil {
		s = old
	} else {
		e.scripts[sha] = s
	}
	e.mu.Unlock()
	return s, nil
}

// Get is the cached script named sha (any case), nil when there is none.
func (e *Engine) Get(sha string) *Script {
	if len(sha) != 40 {
		return nil
	}
	e.mu.RLock()
	s := e.scripts[sha]
	e.mu.RUnlock()
	if s == nil && strings.ToLower(sha) != sha {
		return e.Get(strings.ToLower(sha))
	}
	return s
}

// Flush forgets every cached script (SCRIPT FLUSH).
func (e *Engine) Flush() {
	e.mu.Lock()
	e.scripts = map[string]*Script{}
	e.mu.Unlock()
}

// Len is the number of cached scripts.
func (e *Engine) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.scripts)
}

// chunkName is the name Redis gives EVAL scripts, which error positions show.
const chunkName = "user_script"

// compile parses and compiles Lua source, errors worded as Lua's "name:line: message".
func compile(code, name string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(code), name)
	if err != nil {
		var pe *parse.Error
		if !errors.As(err, &pe) {
			return nil, fmt.Errorf("%s: %s", name, strings.TrimSpace(err.Error()))
		}
		line, near := pe.Pos.Line, pe.Token
		if line == parse.EOF {
			line, near = strings.Count(code, "\n")+1, "<eof>"
		}
		return nil, fmt.Errorf("%s:%d: %s near '%s'", name, line, pe.Message, near)
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		var ce *lua.CompileError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%s:%d: %s", name, ce.Line, ce.Message)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// gopher-lua gives a main chunk Lua 5.0's arg table, built at every call; Lua 5.1's
	// main chunk has none (and Redis's scripts see no arg).
	proto.IsVarArg &^= lua.VarArgNeedsArg
	return proto, nil
}

// Run runs s with KEYS and ARGV on a pooled VM, its redis.call commands run by h, and
// writes its reply (or its error) to h.Reply(). ctx ends the script: it is then answered
// as killed by SCRIPT KILL.
func (e *Engine) Run(ctx context.Context, s *Script, keys, argv [][]byte, h Host) {
	v := e.pool.Get().(*vm)
	if v.run(ctx, s, keys, argv, h) {
		e.pool.Put(v)
	}
}
