package server

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/script"
)

// Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD|EXISTS|FLUSH|KILL, as
// Redis 7.0 has them, on package script's Lua VMs.
//
// Atomicity. A script runs as EXEC does: its KEYS must hash to one slot (CROSSSLOT, MOVED
// otherwise), and it holds that slot's gate exclusively, so no other client's command on
// the slot runs in between; a script without KEYS takes the gate of the first key it
// calls a command on. A command called with a key of another slot fails as in Redis
// Cluster ("Script attempted to access a non local key in a cluster node", or "...keys
// that do not hash to the same slot"). The changes a script makes are journaled as one
// unit (store.BeginUnit, from its first write), which a backup applies whole or not at
// all: scripts replicate by their effects, a backup never runs one. The reply waits on
// the replication barrier, and clients blocked on keys the script wrote are served once
// it is done.
//
// Busy scripts. While a script runs past busy-reply-threshold (lua-time-limit), every
// other client of the instance gets -BUSY for any command but the allow_busy ones
// (SCRIPT KILL among them), as Redis answers; a client waiting for the script's slot
// gets it then too. SCRIPT KILL ends a script that has not written (its context is
// cancelled, which gopher-lua checks between instructions) and answers UNKILLABLE for
// one that has.

const (
	errBusy = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
	// errBusyFunction is the BUSY reply while a function (FCALL) is busy.
	errBusyFunction = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
	errNoScript     = "NOSCRIPT No matching script. Please use EVAL."
	errNotBusy      = "NOTBUSY No scripts in execution right now."
	errUnkillable   = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
	// defaultBusyThreshold is busy-reply-threshold's default, in milliseconds.
	defaultBusyThreshold = 5000
)

func scriptCommands() []*command {
	const sc = flagNoScript | flagStale
	evalKeys := keyed{movable: numKeys(2)}
	rw := keySpec{notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE flags",
		flags: []string{"RW", "access", "update"}, index: 2, keyStep: 1, keyNum: true, firstKey: 1}
	roSpec := keySpec{notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS flags",
		flags: []string{"RO", "access"}, index: 2, keyStep: 1, keyNum: true, firstKey: 1}
	shaSpec := rw
	shaSpec.notes = ""
	shaROSpec := roSpec
	shaROSpec.notes = ""
	cmds := []*command{
		withSpecs(def("eval", -3, sc|mov, evalKeys, "scripting", "2.6.0", "Executes a server-side Lua script.", cmdEval(false, false)), rw),
		withSpecs(def("evalsha", -3, sc|mov, evalKeys, "scripting", "2.6.0", "Executes a server-side Lua script by SHA1 digest.", cmdEval(true, false)), shaSpec),
		withSpecs(def("eval_ro", -3, ro|sc|mov, evalKeys, "scripting", "7.0.0", "Executes a read-only server-side Lua script.", cmdEval(false, true)), roSpec),
		withSpecs(def("evalsha_ro", -3, ro|sc|mov, evalKeys, "scripting", "7.0.0", "Executes a read-only server-side Lua script by SHA1 digest.", cmdEval(true, true)), shaROSpec),
		container("script", 0, "scripting", "2.6.0", "A container for Lua scripts management commands.", nil,
			def("load", 3, sc, noKeys, "scripting", "2.6.0", "Loads a server-side Lua script to the script cache.", cmdScriptLoad),
			def("exists", -3, flagNoScript, noKeys, "scripting", "2.6.0", "Determines whether server-side Lua scripts exist in the script cache.", cmdScriptExists),
			def("flush", -2, flagNoScript, noKeys, "scripting", "2.6.0", "Removes all server-side Lua scripts from the script cache.", cmdScriptFlush),
			def("kill", 2, flagNoScript|flagAllowBusy, noKeys, "scripting", "2.6.0", "Terminates a server-side Lua script during execution.", cmdScriptKill),
		),
	}
	for _, cmd := range cmds[:4] {
		cmd.exclusive = true
	}
	return cmds
}

// noScriptNames are the commands Redis 7.0 flags noscript that the grid defines in other
// files: markNoScript flags them, so scripts refuse them and COMMAND reports it.
var noScriptNames = []string{
	"auth", "hello", "quit", "wait", "blmove", "blpop", "brpop", "brpoplpush", "bzpopmax", "bzpopmin",
	"client|getname", "client|id", "client|info", "client|list", "client|setname", "client|unblock",
	"config|get", "config|resetstat", "config|rewrite", "config|set",
}

// markNoScript flags noscript the commands of noScriptNames, and the grid's internal
// commands (no_multi: the replication stream, slot imports, forwarded messages), which a
// script must not send either.
func markNoScript(table map[string]*command) {
	for _, name := range noScriptNames {
		parent, sub, isSub := strings.Cut(name, "|")
		cmd := table[parent]
		if cmd != nil && isSub {
			cmd = cmd.subs[sub]
		}
		if cmd == nil {
			panic("markNoScript: no command " + name)
		}
		cmd.flags |= flagNoScript
	}
	for _, cmd := range table {
		if cmd.flags&flagNoMulti != 0 {
			cmd.flags |= flagNoScript
		}
	}
}

// scriptConfigParams are busy-reply-threshold and its old name lua-time-limit, one value.
func scriptConfigParams() []configParam {
	p := func(name string) configParam {
		return configParam{name: name,
			get: func(s *Server) string { return strconv.FormatInt(s.scripts.threshold(), 10) },
			set: func(s *Server, v string) (func(), string) {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, "argument couldn't be parsed into an integer"
				}
				if n < 0 || n > 1<<31-1 {
					return nil, "argument must be between 0 and 2147483647 inclusive"
				}
				return func() { s.scripts.thresholdMs.Store(n) }, ""
			}}
	}
	return []configParam{p("busy-reply-threshold"), p("lua-time-limit")}
}

// cmdEval is EVAL and EVALSHA, and their read-only forms.
func cmdEval(bySHA, readOnly bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		s := c.s
		n, ok := parseInt(args[2])
		switch {
		case !ok:
			c.wr.Error(errNotInteger)
			return
		case n < 0:
			c.wr.Error("ERR Number of keys can't be negative")
			return
		case n > int64(len(args)-3):
			c.wr.Error("ERR Number of keys can't be greater than number of args")
			return
		}
		var sc *script.Script
		if bySHA {
			if sc = s.engine.Get(string(args[1])); sc == nil {
				c.wr.Error(errNoScript)
				return
			}
		} else {
			var err error
			if sc, err = s.engine.Load(args[1]); err != nil {
				c.wr.Error(err.Error())
				return
			}
		}
		c.runScript(sc.SHA, sc.Flags, sc.Shebang, readOnly, false, args, func(ctx context.Context, h script.Host) {
			s.engine.Run(ctx, sc, args[3:3+n], args[3+n:], h)
		})
	}
}

func cmdScriptLoad(c *conn, args [][]byte) {
	sc, err := c.s.engine.Load(args[2])
	if err != nil {
		c.wr.Error(err.Error())
		return
	}
	c.wr.BulkString(sc.SHA)
}

func cmdScriptExists(c *conn, args [][]byte) {
	c.wr.Array(len(args) - 2)
	for _, sha := range args[2:] {
		if c.s.engine.Get(string(sha)) != nil {
			c.wr.Int(1)
		} else {
			c.wr.Int(0)
		}
	}
}

func cmdScriptFlush(c *conn, args [][]byte) {
	if len(args) > 3 || len(args) == 3 && !strings.EqualFold(string(args[2]), "sync") && !strings.EqualFold(string(args[2]), "async") {
		c.wr.Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
		return
	}
	c.s.engine.Flush()
	c.wr.OK()
}

// cmdScriptKill is SCRIPT KILL: it ends the busy EVAL scripts of other clients.
func cmdScriptKill(c *conn, _ [][]byte) { c.killScripts(false) }

// killScripts ends the busy scripts (functions: FUNCTION KILL) of other clients. As in
// Redis, where a kill is only read once a script is past the threshold, it waits for a
// running script to become busy (or to end: NOTBUSY). A script that wrote is UNKILLABLE;
// SCRIPT KILL of a function, or FUNCTION KILL of a script, is answered BUSY naming the
// other command, as Redis's scriptKill does.
func (c *conn) killScripts(functions bool) {
	s := c.s
	for {
		runs := s.scripts.others(c)
		if len(runs) == 0 {
			c.wr.Error(errNotBusy)
			return
		}
		var busy []*scriptRun
		for _, r := range runs {
			if r.busy(s.scripts.threshold()) {
				busy = append(busy, r)
			}
		}
		if len(busy) == 0 {
			s.scripts.waitBusyOrDone(runs[0])
			continue
		}
		for _, r := range busy {
			if r.wrote.Load() {
				c.wr.Error(errUnkillable)
				return
			}
		}
		if msg := s.scripts.otherKind(busy, functions); msg != "" {
			c.wr.Error(msg)
			return
		}
		for _, r := range busy {
			s.scripts.kill(r)
		}
		c.wr.OK()
		return
	}
}

// runScript runs a script or a function (run, function) named name with its flags, for
// the command args: the slot's gate
// is held (route took it, exclusively), or, inside EXEC, the transaction's. flagged: the
// flags apply (a shebang, or a function), rather than EVAL's legacy behaviour.
func (c *conn) runScript(name string, flags script.Flags, flagged, readOnly, function bool, args [][]byte, run func(context.Context, script.Host)) {
	s := c.s
	if flags&script.NoCluster != 0 {
		c.wr.Error("ERR Can not run script on cluster, 'no-cluster' flag is set.")
		return
	}
	r := c.run
	if r == nil {
		// Inside EXEC: the transaction holds the gate and its unit, which covers the
		// script's writes; the script registers now.
		r = s.scripts.enter(c)
		r.inExec = true
		defer s.scripts.leave(c)
	}
	r.readOnly = readOnly || flags&script.NoWrites != 0
	r.allowOOM = flags&script.AllowOOM != 0
	s.scripts.mu.Lock()                                  // FUNCTION STATS reads them
	r.name, r.command, r.function = name, args, function // args: valid while the script is registered
	s.scripts.mu.Unlock()
	r.slot = c.slot // the KEYS' slot, -2 without
	if c.slot >= 0 {
		r.gate.Store(int32(c.slot) + 1) // held: by route, or by EXEC
	}
	if m := s.store.MaxMemory(); m > 0 && s.store.UsedMemory() > m && !s.store.EvictToLimit() {
		r.oomAtStart = true
		if flagged && !r.readOnly && !r.allowOOM {
			// A script declaring it may write is refused at once, as Redis 7.0 does.
			s.oomRejected.Add(1)
			c.wr.Error(errOOM)
			return
		}
	}
	if c.scriptWr == nil {
		c.scriptWr = resp.NewWriter(discard{})
	}
	r.out = c.wr
	ctx, cancel := context.WithCancel(context.Background())
	s.scripts.mu.Lock()
	r.cancel = cancel
	abandoned := r.abandoned.Load()
	s.scripts.mu.Unlock()
	if abandoned {
		cancel() // the server closed meanwhile
	}
	defer func() {
		cancel()
		c.wr = r.out
		if r.unit && !r.abandoned.Load() {
			s.store.EndUnit(r.slot) // also after a panic: the slot's journal goes on
		}
	}()
	r.ctx = scriptCtx{Context: ctx, c: c, start: r.start, limit: time.Duration(s.scripts.threshold()) * time.Millisecond}
	run(&r.ctx, r)
	c.wr = r.out
	if r.abandoned.Load() {
		c.closing = true // the server is closing: no reply
		return
	}
	if r.unit {
		r.unit = false
		s.store.EndUnit(r.slot) // before the barrier, which must cover the unit
	}
	if r.slot >= 0 {
		c.slot = r.slot
		if seq := s.cfg.Replication.Barrier(r.wrote.Load(), r.slot); seq > c.need {
			c.need = seq
		}
	}
	for _, w := range r.writes {
		s.signalKeys(w.cmd, w.args)
	}
	r.writes = r.writes[:0]
}

// scriptRun is a running script: what SCRIPT KILL and the BUSY check look at, and the
// host of its redis.call commands.
type scriptRun struct {
	c      *conn
	start  time.Time
	done   chan struct{}
	cancel context.CancelFunc
	wrote  atomic.Bool
	// abandoned: the server closed while the script ran (scriptRegistry.abandonAll).
	abandoned atomic.Bool

	name       string   // the script's SHA1 or the function's name
	command    [][]byte // the command that runs it, for FUNCTION STATS
	function   bool     // FCALL's, not EVAL's
	readOnly   bool
	allowOOM   bool
	oomAtStart bool
	slot       int // the slot whose gate the script holds; negative: none yet
	// gate is slot+1 once the script holds that gate, 0 before: what a client waiting
	// for the gate reads (scriptRegistry.holder), without the script's goroutine.
	gate   atomic.Int32
	ctx    scriptCtx // the VM's context, held here rather than allocated per run
	unit   bool      // a store unit is open on slot
	inExec bool      // run by EXEC, whose unit and barrier cover the script
	out    *resp.Writer
	writes []queuedCmd // the writes with keys, whose waiters are served after
}

func (r *scriptRun) busy(threshold int64) bool {
	return time.Since(r.start) >= time.Duration(threshold)*time.Millisecond
}
