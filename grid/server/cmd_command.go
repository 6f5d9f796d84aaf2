package server

import (
	"bytes"
	"sort"
)

// sortedCommands lists the top-level commands by name, for stable COMMAND output.
func (s *Server) sortedCommands() []*command {
	out := make([]*command, 0, len(s.cmds))
	for _, cmd := range s.cmds {
		out = append(out, cmd)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sortedSubs(cmd *command) []*command {
	out := make([]*command, 0, len(cmd.subs))
	for _, sub := range cmd.subs {
		out = append(out, sub)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// writeInfo writes a command in COMMAND's Redis 7 shape: name, arity, flags, first key,
// last key, step, ACL categories, tips, key specs, subcommands.
func (c *conn) writeInfo(cmd *command) {
	c.wr.Array(10)
	c.wr.BulkString(cmd.fullName())
	c.wr.Int(int64(cmd.arity))
	var flags []string
	for _, f := range flagNames {
		if cmd.flags&f.f != 0 {
			flags = append(flags, f.name)
		}
	}
	c.wr.Set(len(flags))
	for _, f := range flags {
		c.wr.Simple(f)
	}
	c.wr.Int(int64(cmd.firstKey))
	c.wr.Int(int64(cmd.lastKey))
	c.wr.Int(int64(cmd.step))
	cats := cmd.categories.Names()
	c.wr.Set(len(cats))
	for _, cat := range cats {
		c.wr.Simple("@" + cat)
	}
	c.wr.Array(0)
	c.writeKeySpecs(cmd.specs)
	subs := sortedSubs(cmd)
	c.wr.Array(len(subs))
	for _, sub := range subs {
		c.writeInfo(sub)
	}
}

func cmdCommand(c *conn, args [][]byte) {
	if len(args) > 1 {
		c.wr.Error(errUnknownSub(args))
		return
	}
	cmds := c.s.sortedCommands()
	c.wr.Array(len(cmds))
	for _, cmd := range cmds {
		c.writeInfo(cmd)
	}
}

func cmdCommandCount(c *conn, _ [][]byte) { c.wr.Int(int64(len(c.s.cmds))) }

func cmdCommandInfo(c *conn, args [][]byte) {
	if len(args) == 2 {
		cmdCommand(c, args[:1])
		return
	}
	c.wr.Array(len(args) - 2)
	for _, name := range args[2:] {
		if cmd := c.commandNamed(name); cmd != nil {
			c.writeInfo(cmd)
		} else {
			c.wr.NullArray()
		}
	}
}

// writeDocs writes the part of COMMAND DOCS redis-cli uses for its help and hints.
func (c *conn) writeDocs(cmd *command) {
	n := 3
	if len(cmd.subs) > 0 {
		n++
	}
	c.wr.BulkString(cmd.fullName())
	c.wr.Map(n)
	c.wr.BulkString("summary")
	c.wr.BulkString(cmd.summary)
	c.wr.BulkString("since")
	c.wr.BulkString(cmd.since)
	c.wr.BulkString("group")
	c.wr.BulkString(cmd.group)
	if len(cmd.subs) > 0 {
		subs := sortedSubs(cmd)
		c.wr.BulkString("subcommands")
		c.wr.Map(len(subs))
		for _, sub := range subs {
			c.writeDocs(sub)
		}
	}
}

func cmdCommandDocs(c *conn, args [][]byte) {
	var cmds []*command
	if len(args) == 2 {
		cmds = c.s.sortedCommands()
	} else {
		for _, name := range args[2:] {
			if cmd := c.commandNamed(name); cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	c.wr.Map(len(cmds))
	for _, cmd := range cmds {
		c.writeDocs(cmd)
	}
}

// keySpec is one of a command's key specs as Redis 7 reports them, of the index/range kind
// (the only kind the grid's commands need): the first key at index, the last at lastKey
// (-1: the last argument; otherwise relative to index), every keyStep.
type keySpec struct {
	notes                   string
	flags                   []string
	index, lastKey, keyStep int
	// keyNum: the keys are counted by the argument at index+keyNumIdx, the first of them at
	// index+firstKey (a find_keys of type keynum, as ZUNION's).
	keyNum              bool
	keyNumIdx, firstKey int
	// keyword, when set, makes the spec a keyword search (XREAD's STREAMS) from
	// startFrom, the keys range limited to 1/limit of what follows.
	keyword          string
	startFrom, limit int
}

// spec is a key spec of one key at index.
func spec(index int, flags ...string) keySpec {
	return keySpec{flags: flags, index: index, keyStep: 1}
}

// withSpecs gives cmd the key specs COMMAND reports.
func withSpecs(cmd *command, specs ...keySpec) *command {
	cmd.specs = specs
	return cmd
}

func (c *conn) writeKeySpecs(specs []keySpec) {
	c.wr.Array(len(specs))
	for _, ks := range specs {
		n := 3
		if ks.notes != "" {
			n++
			c.wr.Map(n)
			c.wr.BulkString("notes")
			c.wr.BulkString(ks.notes)
		} else {
			c.wr.Map(n)
		}
		c.wr.BulkString("flags")
		c.wr.Set(len(ks.flags))
		for _, f := range ks.flags {
			c.wr.Simple(f)
		}
		c.wr.BulkString("begin_search")
		c.wr.Map(2)
		c.wr.BulkString("type")
		if ks.keyword != "" {
			c.wr.BulkString("keyword")
			c.wr.BulkString("spec")
			c.wr.Map(2)
			c.wr.BulkString("keyword")
			c.wr.BulkString(ks.keyword)
			c.wr.BulkString("startfrom")
			c.wr.Int(int64(ks.startFrom))
		} else {
			c.wr.BulkString("index")
			c.wr.BulkString("spec")
			c.wr.Map(1)
			c.wr.BulkString("index")
			c.wr.Int(int64(ks.index))
		}
		c.wr.BulkString("find_keys")
		c.wr.Map(2)
		c.wr.BulkString("type")
		if ks.keyNum {
			c.wr.BulkString("keynum")
			c.wr.BulkString("spec")
			c.wr.Map(3)
			c.wr.BulkString("keynumidx")
			c.wr.Int(int64(ks.keyNumIdx))
			c.wr.BulkString("firstkey")
			c.wr.Int(int64(ks.firstKey))
			c.wr.BulkString("keystep")
			c.wr.Int(int64(ks.keyStep))
			continue
		}
		c.wr.BulkString("range")
		c.wr.BulkString("spec")
		c.wr.Map(3)
		c.wr.BulkString("lastkey")
		c.wr.Int(int64(ks.lastKey))
		c.wr.BulkString("keystep")
		c.wr.Int(int64(ks.keyStep))
		c.wr.BulkString("limit")
		c.wr.Int(int64(ks.limit))
	}
}

// commandNamed finds a command by its full name: "get", or "config|get" for a subcommand.
func (c *conn) commandNamed(name []byte) *command {
	parent, sub, ok := bytes.Cut(name, []byte("|"))
	if !ok {
		return c.lookup(c.s.cmds, name)
	}
	cmd := c.lookup(c.s.cmds, parent)
	if cmd == nil || cmd.subs == nil {
		return nil
	}
	return c.lookup(cmd.subs, sub)
}
