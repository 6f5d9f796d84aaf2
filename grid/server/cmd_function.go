package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/rdb"
	"github.com/insightgrid/insight/grid/script"
	"github.com/insightgrid/insight/grid/store"
)

// Functions: FUNCTION LOAD|LIST|DELETE|FLUSH|DUMP|RESTORE|STATS|KILL and FCALL, FCALL_RO,
// as Redis 7.0 has them. Functions belong to the instance (a Redis Cluster client loads
// them on every primary). They replicate with the data: every change stores the whole
// set of libraries in the store as FUNCTION DUMP's payload (store.SetFunctions), which
// the journal carries to the backup and a snapshot starts with; the backup's store hands
// it to loadStoredFunctions, so after a failover the new primary has them. The changing
// commands are keyless writes: only the partition's primary takes them, and their reply
// waits for the backup like a write's. FCALL runs as EVAL does (cmd_script.go).

func functionCommands() []*command {
	const sc = flagNoScript | flagStale
	const change = flagNoScript | wr | flagNoWake // a write of no key: no client waits on it
	evalKeys := keyed{movable: numKeys(2)}
	rw := keySpec{notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE flags",
		flags: []string{"RW", "access", "update"}, index: 2, keyStep: 1, keyNum: true, firstKey: 1}
	roSpec := keySpec{notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS flags",
		flags: []string{"RO", "access"}, index: 2, keyStep: 1, keyNum: true, firstKey: 1}
	cmds := []*command{
		withSpecs(def("fcall", -3, sc|mov, evalKeys, "scripting", "7.0.0", "Invokes a function.", cmdFCall(false)), rw),
		withSpecs(def("fcall_ro", -3, ro|sc|mov, evalKeys, "scripting", "7.0.0", "Invokes a read-only function.", cmdFCall(true)), roSpec),
		container("function", 0, "scripting", "7.0.0", "A container for function commands.", nil,
			def("load", -3, change|oom, noKeys, "scripting", "7.0.0", "Creates a library.", cmdFunctionLoad),
			def("list", -2, flagNoScript, noKeys, "scripting", "7.0.0", "Returns information about all libraries.", cmdFunctionList),
			def("delete", 3, change, noKeys, "scripting", "7.0.0", "Deletes a library and its functions.", cmdFunctionDelete),
			def("flush", -2, change, noKeys, "scripting", "7.0.0", "Deletes all libraries and functions.", cmdFunctionFlush),
			def("dump", 2, flagNoScript, noKeys, "scripting", "7.0.0", "Dumps all libraries into a serialized binary payload.", cmdFunctionDump),
			def("restore", -3, change|oom, noKeys, "scripting", "7.0.0", "Restores all libraries from a payload.", cmdFunctionRestore),
			def("stats", 2, flagNoScript|flagAllowBusy, noKeys, "scripting", "7.0.0", "Returns information about a function during execution.", cmdFunctionStats),
			def("kill", 2, flagNoScript|flagAllowBusy, noKeys, "scripting", "7.0.0", "Terminates a function during execution.", cmdFunctionKill),
		),
	}
	for _, cmd := range cmds[:2] {
		cmd.exclusive = true
	}
	return cmds
}

// cmdFCall is FCALL and FCALL_RO.
func cmdFCall(readOnly bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		s := c.s
		n, ok := parseInt(args[2])
		switch {
		case !ok:
			c.wr.Error("ERR Bad number of keys provided")
			return
		case n < 0:
			c.wr.Error("ERR Number of keys can't be negative")
			return
		case n > int64(len(args)-3):
			c.wr.Error("ERR Number of keys can't be greater than number of args")
			return
		}
		f := s.engine.Function(string(args[1]))
		if f == nil {
			c.wr.Error("ERR Function not found")
			return
		}
		if readOnly && f.Flags&script.NoWrites == 0 {
			c.wr.Error("ERR Can not execute a script with write flag using *_ro command.")
			return
		}
		c.runScript(f.Name, f.Flags, true, readOnly, true, args, func(ctx context.Context, h script.Host) {
			s.engine.RunFunction(ctx, f, args[3:3+n], args[3+n:], h)
		})
	}
}

// changeFunctions applies change to the engine's libraries and stores the result, one
// change at a time so the store (and the backup) ends with the engine's last set.
func (s *Server) changeFunctions(change func() error) error {
	s.fnMu.Lock()
	defer s.fnMu.Unlock()
	if err := change(); err != nil {
		return err
	}
	var codes []string
	for _, lib := range s.engine.Libraries() {
		codes = append(codes, lib.Code)
	}
	if len(codes) == 0 {
		s.store.SetFunctions(nil)
		return nil
	}
	s.store.SetFunctions(rdb.EncodeFunctions(codes))
	return nil
}

// maxStoredFunctions bounds the code a stored FUNCTION DUMP payload may decode to: its
// primary took each library under proto-max-bulk-len, at most 512 MiB.
const maxStoredFunctions = 1 << 30

// loadStoredFunctions makes the engine's libraries those of blob (a FUNCTION DUMP
// payload, nil: none): the store's, at start, and each replicated change on a backup.
func (s *Server) loadStoredFunctions(blob []byte) {
	var libs []*script.Library
	if blob != nil {
		codes, err := rdb.DecodeFunctions(blob, maxStoredFunctions)
		if err != nil {
			s.log.Error("replicated function libraries do not decode; keeping the previous ones", "err", err)
			return
		}
		for _, code := range codes {
			lib, err := s.engine.CompileLibrary(code)
			if err != nil {
				s.log.Error("a replicated function library does not load; keeping the previous ones", "err", err)
				return
			}
			libs = append(libs, lib)
		}
	}
	s.fnMu.Lock()
	defer s.fnMu.Unlock()
	if err := s.engine.AddLibraries(libs, true, true); err != nil {
		s.log.Error("replicated function libraries conflict; keeping the previous ones", "err", err)
	}
}

func cmdFunctionLoad(c *conn, args [][]byte) {
	replace := false
	if len(args) > 4 || len(args) == 4 && !strings.EqualFold(string(args[2]), "replace") {
		c.wr.Error("ERR Unknown option given: " + string(args[2]))
		return
	}
	if len(args) == 4 {
		replace = true
	}
	s := c.s
	var name string
	err := s.changeFunctions(func() error {
		lib, err := s.engine.CompileLibrary(string(args[len(args)-1]))
		if err != nil {
			return err
		}
		name = lib.Name
		return s.engine.AddLibraries([]*script.Library{lib}, replace, false)
	})
	if err != nil {
		c.wr.Error(err.Error())
		return
	}
	c.wr.BulkString(name)
}

func cmdFunctionList(c *conn, args [][]byte) {
	var pattern []byte
	withCode := false
	for i := 2; i < len(args); i++ {
		switch strings.ToLower(string(args[i])) {
		case "withcode":
			withCode = true
		case "libraryname":
			if i+1 >= len(args) {
				c.wr.Error("ERR library name argument was not given")
				return
			}
			i++
			pattern = []byte(strings.ToLower(string(args[i])))
		default:
			c.wr.Error("ERR Unknown argument " + string(args[i]))
			return
		}
	}
	var libs []*script.Library
	for _, lib := range c.s.engine.Libraries() {
		if pattern == nil || store.Match(pattern, []byte(strings.ToLower(lib.Name))) {
			libs = append(libs, lib)
		}
	}
	c.wr.Array(len(libs))
	for _, lib := range libs {
		n := 3
		if withCode {
			n = 4
		}
		c.wr.Map(n)
		c.wr.BulkString("library_name")
		c.wr.BulkString(lib.Name)
		c.wr.BulkString("engine")
		c.wr.BulkString("LUA")
		c.wr.BulkString("functions")
		c.wr.Array(len(lib.Functions))
		for _, f := range sortedFunctions(lib) {
			c.wr.Map(3)
			c.wr.BulkString("name")
			c.wr.BulkString(f.Name)
			c.wr.BulkString("description")
			if f.Description == "" {
				c.wr.Null()
			} else {
				c.wr.BulkString(f.Description)
			}
			c.wr.BulkString("flags")
			names := f.Flags.Names()
			c.wr.Set(len(names))
			for _, fl := range names {
				c.wr.Simple(fl)
			}
		}
		if withCode {
			c.wr.BulkString("library_code")
			c.wr.BulkString(lib.Code)
		}
	}
}

func sortedFunctions(lib *script.Library) []*script.Function {
	out := make([]*script.Function, 0, len(lib.Functions))
	for _, f := range lib.Functions {
		out = append(out, f)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Name < out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func cmdFunctionDelete(c *conn, args [][]byte) {
	s := c.s
	err := s.changeFunctions(func() error {
		if !s.engine.DeleteLibrary(string(args[2])) {
			return errors.New("ERR Library not found")
		}
		return nil
	})
	if err != nil {
		c.wr.Error(err.Error())
		return
	}
	c.wr.OK()
}

func cmdFunctionFlush(c *conn, args [][]byte) {
	if len(args) > 3 || len(args) == 3 && !strings.EqualFold(string(args[2]), "sync") && !strings.EqualFold(string(args[2]), "async") {
		c.wr.Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
		return
	}
	s := c.s
	_ = s.changeFunctions(func() error { return s.engine.AddLibraries(nil, false, true) })
	c.wr.OK()
}

func cmdFunctionDump(c *conn, _ [][]byte) {
	var codes []string
	for _, lib := range c.s.engine.Libraries() {
		codes = append(codes, lib.Code)
	}
	c.wr.Bulk(rdb.EncodeFunctions(codes))
}

func cmdFunctionRestore(c *conn, args [][]byte) {
	policy := "append"
	if len(args) == 4 {
		policy = strings.ToLower(string(args[3]))
	}
	if len(args) > 4 || policy != "append" && policy != "replace" && policy != "flush" {
		c.wr.Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
		return
	}
	s := c.s
	codes, err := rdb.DecodeFunctions(args[2], s.cfg.ProtoMaxBulkLen)
	if err != nil {
		c.wr.Error("ERR DUMP payload version or checksum are wrong")
		return
	}
	err = s.changeFunctions(func() error {
		libs := make([]*script.Library, 0, len(codes))
		for _, code := range codes {
			lib, err := s.engine.CompileLibrary(code)
			if err != nil {
				return err
			}
			libs = append(libs, lib)
		}
		return s.engine.AddLibraries(libs, policy == "replace", policy == "flush")
	})
	var exists *script.ExistsError
	switch {
	case errors.As(err, &exists):
		c.wr.Error("ERR Library " + exists.Library + " already exists")
		return
	case err != nil:
		c.wr.Error(err.Error())
		return
	}
	c.wr.OK()
}

// cmdFunctionKill is FUNCTION KILL: it ends the busy functions of other clients.
func cmdFunctionKill(c *conn, _ [][]byte) { c.killScripts(true) }

// cmdFunctionStats reports the script running for another client, if any, and the
// numbers of libraries and functions.
func cmdFunctionStats(c *conn, _ [][]byte) {
	s := c.s
	c.wr.Map(2)
	c.wr.BulkString("running_script")
	if name, cmd, start, ok := s.scripts.running(c); ok {
		c.wr.Map(3)
		c.wr.BulkString("name")
		c.wr.BulkString(name)
		c.wr.BulkString("command")
		c.wr.Array(len(cmd))
		for _, a := range cmd {
			c.wr.BulkString(a)
		}
		c.wr.BulkString("duration_ms")
		c.wr.Int(time.Since(start).Milliseconds())
	} else {
		c.wr.Null()
	}
	libs, funcs := s.engine.Counts()
	c.wr.BulkString("engines")
	c.wr.Map(1)
	c.wr.BulkString("LUA")
	c.wr.Map(2)
	c.wr.BulkString("libraries_count")
	c.wr.Int(int64(libs))
	c.wr.BulkString("functions_count")
	c.wr.Int(int64(funcs))
}

// LibraryNames are the names of the loaded function libraries, sorted.
func (s *Server) LibraryNames() []string {
	var names []string
	for _, lib := range s.engine.Libraries() {
		names = append(names, lib.Name)
	}
	return names
}

// HeldLibrariesError refuses to restore libraries into an instance that has some.
type HeldLibrariesError struct{ Names []string }

func (e *HeldLibrariesError) Error() string {
	return "the instance holds function libraries " + strings.Join(e.Names, ", ")
}

// RestoreLibraries loads the libraries of codes into an instance that holds none, as
// FUNCTION RESTORE with APPEND into an empty instance: stored and journaled like any
// FUNCTION LOAD, so the backup gets them. Nothing is loaded when a library does not
// compile or the instance holds libraries already (*HeldLibrariesError).
func (s *Server) RestoreLibraries(codes []string) error {
	return s.changeFunctions(func() error {
		if names := s.LibraryNames(); len(names) > 0 {
			return &HeldLibrariesError{Names: names}
		}
		libs := make([]*script.Library, 0, len(codes))
		for _, code := range codes {
			lib, err := s.engine.CompileLibrary(code)
			if err != nil {
				return fmt.Errorf("library %.60q: %w", code, err)
			}
			libs = append(libs, lib)
		}
		return s.engine.AddLibraries(libs, false, false)
	})
}
