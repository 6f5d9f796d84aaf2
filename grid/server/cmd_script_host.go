package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/slots"
)

// The host side of a running script (script.Host): its reply, its log lines, and the
// commands it calls, with Redis's checks.

// discard is where a script's scratch writer flushes to: nowhere.
type discard struct{}

func (discard) Write(b []byte) (int, error) { return len(b), nil }

// Reply is where the script's reply goes: the client's buffer.
func (r *scriptRun) Reply() *resp.Writer { return r.out }

// Log writes a redis.log line to the server's log.
func (r *scriptRun) Log(level slog.Level, msg string) {
	r.c.s.log.Log(context.Background(), level, msg, "script", r.name, "client", r.c.addr)
}

// Call runs a command called by the script, with the checks Redis's scriptCall makes, in
// its order, and returns its RESP2 reply.
func (r *scriptRun) Call(args [][]byte) []byte {
	c := r.c
	s := c.s
	w := c.scriptWr
	_ = w.Flush() // the previous call's reply, already converted
	fail := func(msg string) []byte {
		w.Error(msg)
		return w.Bytes()
	}
	cmd := c.lookup(s.cmds, args[0])
	if cmd != nil && cmd.subs != nil && len(args) >= 2 {
		cmd = c.lookup(cmd.subs, args[1])
	}
	switch {
	case cmd == nil:
		return fail("ERR Unknown Redis command called from script")
	case !cmd.arityOK(len(args)):
		return fail("ERR Wrong number of args calling Redis command from script")
	case cmd.flags&flagNoScript != 0:
		return fail("ERR This Redis command is not allowed from script")
	}
	if u := c.user.Load().User(); !u.Unrestricted() {
		// Checked as the user running the script, as Redis's scriptVerifyACL does.
		if d, _ := aclCheck(u, cmd, args); d != aclAllowed {
			return fail(d.inScript())
		}
	}
	write := cmd.flags&flagWrite != 0
	if write && r.readOnly {
		return fail("ERR Write commands are not allowed from read-only scripts.")
	}
	if r.oomAtStart && !r.allowOOM && !r.wrote.Load() && cmd.flags&flagDenyOOM != 0 {
		return fail(errOOM)
	}
	if write && cmd.firstKey == 0 && cmd.movable == nil {
		return fail(fmt.Sprintf("ERR %s is not allowed from scripts in the grid: a write without keys spans every slot, and a script holds one", strings.ToUpper(cmd.fullName())))
	}
	if first, last, step := cmd.keyRange(args); first > 0 && first < len(args) {
		if msg := r.claimSlot(args, first, last, step); msg != "" {
			return fail(msg)
		}
	}
	if write && !r.unit && !r.inExec && r.slot >= 0 {
		// The first write: this instance must still serve the partition (a handover may
		// have drained meanwhile; it waits for the units open when it pauses).
		if redirect, errReply := s.cfg.Replication.Admit(); errReply != "" || redirect != "" {
			if errReply == "" {
				errReply = "TRYAGAIN the partition was handed over to " + redirect + " while the script ran; run it again"
			}
			return fail(errReply)
		}
		s.store.BeginUnit(r.slot)
		r.unit = true
	}
	if write {
		r.wrote.Store(true)
	}
	c.execInScript(cmd, args, r)
	if write && cmd.flags&flagNoWake == 0 && s.blocked.n.Load() > 0 {
		// Kept for the clients blocked now: one that parks later looks at its keys
		// itself when it registers (block.go).
		r.writes = append(r.writes, queuedCmd{cmd: cmd, args: copyArgs(args)})
	}
	return w.Bytes()
}

// claimSlot checks that the command's keys are in the script's slot, as Redis Cluster's
// scriptVerifyClusterState does; a script without KEYS takes the slot of its first keyed
// command, and its gate. It returns the error, "" when the keys may be used.
func (r *scriptRun) claimSlot(args [][]byte, first, last, step int) string {
	c := r.c
	s := c.s
	const nonLocal = "ERR Script attempted to access a non local key in a cluster node"
	slot := -1
	for i := first; i <= last && i < len(args); i += step {
		ks := slots.Of(args[i])
		if slot >= 0 && ks != slot {
			return nonLocal
		}
		slot = ks
	}
	if slot == r.slot {
		return ""
	}
	v := s.view.Load()
	if v == nil || s.redirectFor(v, slot) != nil || v.Move(slot) != nil {
		return nonLocal
	}
	if r.slot >= 0 {
		return "ERR Script attempted to access keys that do not hash to the same slot"
	}
	if redirect, errReply := s.cfg.Replication.Admit(); redirect != "" || errReply != "" {
		return nonLocal
	}
	if c.gate == nil {
		c.mx.exclusive = true
		if !c.takeGate(slot) {
			return s.scripts.busyReply(c)
		}
	}
	r.slot = slot
	r.gate.Store(int32(slot) + 1)
	return ""
}

// execInScript runs cmd for a script into the scratch writer, accounted as a command.
func (c *conn) execInScript(cmd *command, args [][]byte, r *scriptRun) {
	s := c.s
	out, running, slot := c.wr, c.mx.running, c.slot
	c.wr, c.mx.running, c.slot = c.scriptWr, cmd, r.slot
	defer func() {
		c.wr, c.mx.running, c.slot = out, running, slot
	}()
	start := time.Now()
	mark := c.wr.Len()
	c.beforeKeyEvents(cmd, args)
	cmd.handler(c, args)
	took := time.Since(start)
	failed := c.wr.Len() > mark && c.wr.Bytes()[mark] == '-'
	if failed {
		s.countError(c.wr.Bytes()[mark:])
	}
	s.account(cmd, true, failed, took)
	s.metrics.count(cmd, !failed)
	cmd.latency.Observe(took.Seconds())
}

// copyArgs copies args into one buffer: the script's strings may be reused.
func copyArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	own := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		own[i] = buf[len(buf)-len(a):]
	}
	return own
}
