package server

import (
	"strings"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/store"
)

// Transactions: MULTI, EXEC, DISCARD, WATCH and UNWATCH as Redis 7.0's multi.c has them,
// with Redis Cluster's routing.
//
// Between MULTI and EXEC a command goes through every check it would go through alone
// (arity, authentication, CROSSSLOT and MOVED, maxmemory, which in MULTI refuses every
// command but EXEC and DISCARD) and is answered +QUEUED; a refusal flags the transaction,
// and EXEC then answers EXECABORT. EXEC routes the keys of all queued commands together,
// as getNodeByQuery does: keys of two slots are CROSSSLOT, a slot not served here MOVED,
// and either discards the transaction.
//
// Atomicity. EXEC holds its slot's gate exclusively (every command on a slot holds it
// shared), so no other client's command on that slot runs in between; the store journals
// the transaction's changes as one unit (store.BeginUnit), which a backup applies whole
// or not at all, so no failover shows half of one; EXEC's reply waits until the backup has
// the unit, as a write's does. Clients blocked on keys the transaction wrote are served
// once it is done, as Redis serves them after EXEC. A blocking command inside EXEC answers
// at once as if its timeout had expired (block.go asks replyNotBlocking).
//
// WATCH. The store marks a watch set when a watched key is written, evicted, or its slot
// flushed, whoever does it (the journal is where every change passes once), and reports
// at EXEC a key that was live when watched and has expired since. The server adds what the
// store cannot see: the slot of a watched key leaving this instance (SetView), and this
// instance's partition changing epoch (a failover or handover: it was not primary in
// between). EXEC with a changed watch answers a null array.

// multiConn is a connection's transaction state.
type multiConn struct {
	tx        *queuedTx // between MULTI and EXEC or DISCARD
	spare     *queuedTx // the last transaction's buffers, which the next MULTI reuses
	queued    bool      // the current command was queued, not run
	exclusive bool      // the current command holds (or is to take) its slot's gate exclusively
	running   *command  // the queued command EXEC is running

	// wmu guards watch's keys against SetView, which looks at them from another goroutine.
	wmu   sync.Mutex
	watch store.WatchSet
	epoch int64 // the partition's epoch when the first key was watched
}

// queuedTx is a transaction being queued.
type queuedTx struct {
	cmds    []queuedCmd
	aborted bool    // a command was refused while queueing
	flags   cmdFlag // the union of the queued commands' flags

	// The queued commands' arguments are copied into args and their slices kept in argv,
	// one growing block each rather than two allocations per command; a slice stays valid
	// when a block grows (it keeps the old one). keys and wrote are EXEC's scratch.
	args  []byte
	argv  [][]byte
	keys  [][]byte
	wrote []queuedCmd
}

// Past these sizes a finished transaction's buffers are dropped rather than kept for the
// connection's next MULTI, so one large transaction does not hold memory for good.
const (
	spareTxArgs = 64 << 10
	spareTxCmds = 1024
)

// newTx returns an empty transaction, on the buffers of the connection's last one if any.
func (m *multiConn) newTx() *queuedTx {
	tx := m.spare
	if tx == nil {
		return &queuedTx{}
	}
	m.spare = nil
	clear(tx.cmds) // no reference to the last transaction's commands and arguments remains
	clear(tx.argv)
	clear(tx.keys)
	clear(tx.wrote)
	*tx = queuedTx{cmds: tx.cmds[:0], args: tx.args[:0], argv: tx.argv[:0], keys: tx.keys[:0], wrote: tx.wrote[:0]}
	return tx
}

// keep makes tx, finished (run or discarded), the spare for the next MULTI when small.
func (m *multiConn) keep(tx *queuedTx) {
	if tx != nil && cap(tx.args) <= spareTxArgs && cap(tx.cmds) <= spareTxCmds && cap(tx.argv) <= 4*spareTxCmds {
		m.spare = tx
	}
}

type queuedCmd struct {
	cmd  *command
	args [][]byte // a copy: the connection's read buffer is reused
	slot int      // the slot its keys were routed to when queued; negative: none
}

// errExecAbort is EXEC's reply after a command was refused while queueing.
const errExecAbort = "EXECABORT Transaction discarded because of previous errors."

func multiCommands() []*command {
	const tx = flagNoScript | flagLoading | flagStale
	return []*command{
		def("multi", 1, tx|fast|flagAllowBusy, noKeys, "transaction", "1.2.0", "Starts a transaction.", cmdMulti),
		def("exec", 1, tx|flagSkipSlowlog, noKeys, "transaction", "1.2.0", "Executes all commands in a transaction.", cmdExec),
		def("discard", 1, tx|fast|flagAllowBusy, noKeys, "transaction", "2.0.0", "Discards a transaction.", cmdDiscard),
		withSpecs(def("watch", -2, tx|fast|flagAllowBusy, allKeys, "transaction", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", cmdWatch),
			keySpec{flags: []string{"RO"}, index: 1, lastKey: -1, keyStep: 1}),
		def("unwatch", 1, tx|fast|flagAllowBusy, noKeys, "transaction", "2.2.0", "Forgets about watched keys of a transaction.", cmdUnwatch),
	}
}

func isExec(cmd *command) bool { return cmd.parent == nil && cmd.name == "exec" }

// notInMulti reports whether cmd is refused between MULTI and EXEC: the no_multi commands
// (the replication stream, slot imports), and the subscribing commands, which Redis 7.0
// queues but whose confirmation the grid would send before the transaction's replication
// is acknowledged.
func notInMulti(cmd *command) bool {
	if cmd.flags&flagNoMulti != 0 {
		return true
	}
	return cmd.parent == nil && (cmd.name == "subscribe" || cmd.name == "psubscribe" || cmd.name == "ssubscribe")
}

// queue queues cmd when the connection is in MULTI and cmd is not one of those that act
// at once (EXEC, DISCARD, MULTI, WATCH, QUIT), answering +QUEUED.
func (c *conn) queue(cmd *command, args [][]byte) bool {
	tx := c.mx.tx
	if tx == nil || cmd.parent == nil && (cmd.name == "exec" || cmd.name == "discard" || cmd.name == "multi" || cmd.name == "watch" || cmd.name == "quit") {
		return false
	}
	c.mx.queued = true
	c.wr.Simple("QUEUED")
	if tx.aborted || c.mx.watch.Dirty() {
		return true // EXEC will not run it: not kept, as Redis's queueMultiCommand does
	}
	from := len(tx.argv)
	for _, a := range args {
		tx.args = append(tx.args, a...)
		tx.argv = append(tx.argv, tx.args[len(tx.args)-len(a):len(tx.args):len(tx.args)])
	}
	// c.slot is the one routing set for the command's keys: EXEC routes them by it
	// rather than hashing them again.
	tx.cmds = append(tx.cmds, queuedCmd{cmd: cmd, args: tx.argv[from:len(tx.argv):len(tx.argv)], slot: c.slot})
	tx.flags |= cmd.flags
	return true
}

// afterInTx is dispatch's step after run: a command refused in MULTI flags the
// transaction, ASKING holds until EXEC (as Redis keeps the flag while in MULTI), and true
// means the command was queued.
func (c *conn) afterInTx(executed bool) bool {
	if c.mx.tx != nil {
		if !executed {
			c.mx.tx.aborted = true
		}
		if c.asked {
			c.asking = true
		}
	}
	queued := c.mx.queued
	c.mx.queued = false
	return queued
}

// flagTx makes EXEC answer EXECABORT: a command was refused while queueing.
func (c *conn) flagTx() {
	if c.mx.tx != nil {
		c.mx.tx.aborted = true
	}
}

// reject answers a command refused before it ran. EXEC refused so discards the
// transaction and says why, as Redis's execCommandAbort does.
func (c *conn) reject(cmd *command, msg string) {
	if isExec(cmd) {
		c.discard()
		c.wr.Error("EXECABORT Transaction discarded because of: " + strings.TrimPrefix(msg, "ERR "))
		return
	}
	c.wr.Error(msg)
}

// denyOOM reports whether cmd is refused while used memory is over maxmemory: a denyoom
// command, EXEC of a transaction holding one, and in MULTI every command but EXEC and
// DISCARD (queueing takes memory too).
func (c *conn) denyOOM(cmd *command) bool {
	tx := c.mx.tx
	switch {
	case tx == nil:
		return cmd.flags&flagDenyOOM != 0
	case isExec(cmd):
		return tx.flags&flagDenyOOM != 0
	}
	return cmd.parent != nil || cmd.name != "discard" && cmd.name != "quit"
}

// execKeys stands for EXEC when its queued commands' keys are routed together.
var execKeys = &command{name: "exec", firstKey: 1, lastKey: -1, step: 1}

// routeExec routes the keys of every queued command as one command's (CROSSSLOT, MOVED,
// ASK, TRYAGAIN), taking the slot's gate exclusively; a transaction without keys that
// writes must be on the partition's primary. A refusal discards the transaction. The keys
// are not hashed again: each queued command carries the slot its keys were routed to.
func (s *Server) routeExec(c *conn) bool {
	tx := c.mx.tx
	keys := append(tx.keys[:0], nil)
	slot := -1
	for _, q := range tx.cmds {
		first, last, step := q.cmd.keyRange(q.args)
		n := len(keys)
		for i := first; first > 0 && i <= last && i < len(q.args); i += step {
			keys = append(keys, q.args[i])
		}
		switch {
		case len(keys) == n:
		case q.slot < 0 || slot >= 0 && q.slot != slot:
			slot = -2 // keys of two slots (route says CROSSSLOT), or of none known
		case slot == -1:
			slot = q.slot
		}
	}
	tx.keys = keys
	if len(keys) > 1 {
		c.mx.exclusive = true
		var routed bool
		if slot >= 0 {
			routed = s.routeSlot(c, execKeys, keys, slot)
		} else {
			routed = s.route(c, execKeys, keys)
		}
		if !routed {
			c.discard()
			return false
		}
		return true
	}
	if tx.flags&flagWrite != 0 {
		if redirect, errReply := s.cfg.Replication.Admit(); redirect != "" || errReply != "" {
			if errReply == "" {
				errReply = "READONLY You can't write against a read only replica."
			}
			c.reject(execKeys, errReply)
			return false
		}
	}
	return true
}

func cmdMulti(c *conn, _ [][]byte) {
	if c.mx.tx != nil {
		c.wr.Error("ERR MULTI calls can not be nested")
		return
	}
	c.mx.tx = c.mx.newTx()
	c.wr.OK()
}

func cmdDiscard(c *conn, _ [][]byte) {
	if c.mx.tx == nil {
		c.wr.Error("ERR DISCARD without MULTI")
		return
	}
	c.discard()
	c.wr.OK()
}

// discard ends the transaction, if any, and forgets the watched keys.
func (c *conn) discard() {
	c.mx.keep(c.mx.tx)
	c.mx.tx = nil
	c.unwatch()
}

func cmdExec(c *conn, _ [][]byte) {
	s := c.s
	tx := c.mx.tx
	if tx == nil {
		c.wr.Error("ERR EXEC without MULTI")
		return
	}
	c.mx.tx = nil
	switch {
	case tx.aborted:
		c.mx.keep(tx)
		c.unwatch()
		c.wr.Error(errExecAbort)
		return
	case c.watchChanged():
		c.mx.keep(tx)
		c.unwatch()
		c.wr.NullArray()
		return
	}
	c.unwatch()
	slot := c.slot // routeExec's: the transaction's slot, or none
	if slot >= 0 {
		s.store.BeginUnit(slot)
		defer s.store.EndUnit(slot) // also when a command panics: the slot's journal goes on
	}
	c.wr.Array(len(tx.cmds))
	wrote := tx.wrote[:0] // the writes with keys, whose waiters are served after EXEC
	wroteAll := false     // a keyless write (FLUSHALL): every waiter is offered its key
	at := time.Since(s.started)
	for _, q := range tx.cmds {
		at = c.execOne(q, slot, at)
		switch {
		case q.cmd.flags&flagWrite == 0:
		case q.cmd.firstKey > 0 || q.cmd.movable != nil:
			wrote = append(wrote, q)
		case q.cmd.flags&flagNoWake == 0:
			wroteAll = true
		}
	}
	c.slot = slot
	c.asking = false // an ASKING among the commands holds for none after EXEC
	if slot >= 0 {
		s.store.EndUnit(slot) // before the barrier, which must cover the unit
	}
	if write := tx.flags&flagWrite != 0; slot >= 0 || write {
		if seq := s.cfg.Replication.Barrier(write, max(slot, -1)); seq > c.need {
			c.need = seq
		}
	}
	for _, q := range wrote {
		s.signalKeys(q.cmd, q.args)
	}
	if wroteAll {
		c.releaseGate() // signalAllKeys takes every slot's gate, this one too
		s.signalAllKeys()
	}
	tx.wrote = wrote
	c.mx.keep(tx)
}

// execOne runs one queued command inside EXEC, accounting for it as dispatch would. The
// command starts at start (time since s.started, as dispatch reads the clock), which is
// when the one before it ended: one clock read per command. It returns when it ended.
func (c *conn) execOne(q queuedCmd, slot int, start time.Duration) time.Duration {
	s := c.s
	if u := c.user.Load().User(); !u.Unrestricted() {
		// The user's rules may have changed since the command was queued (Redis checks
		// again at EXEC, and answers this command with NOPERM).
		if d, _ := aclCheck(u, q.cmd, q.args); d != aclAllowed {
			c.wr.Error(d.execChanged())
			s.countError([]byte("-NOPERM"))
			return start
		}
	}
	mark := c.wr.Len()
	c.slot = slot // the transaction's, as routing would have set it for the command alone
	c.mx.running = q.cmd
	c.beforeKeyEvents(q.cmd, q.args)
	q.cmd.handler(c, q.args)
	c.mx.running = nil
	end := time.Since(s.started)
	took := end - start
	failed := c.wr.Len() > mark && c.wr.Bytes()[mark] == '-'
	if failed {
		s.countError(c.wr.Bytes()[mark:])
	}
	s.account(q.cmd, true, failed, took)
	s.metrics.count(q.cmd, !failed)
	q.cmd.latency.Observe(took.Seconds())
	return end
}

// replyNotBlocking answers a blocking command run by EXEC, which must not block: as its
// timeout would, except that BLMOVE and BRPOPLPUSH answer a null bulk string there, as
// in Redis.
func (c *conn) replyNotBlocking() {
	if cmd := c.mx.running; cmd.parent == nil && (cmd.name == "blmove" || cmd.name == "brpoplpush") {
		c.wr.Null()
		return
	}
	c.wr.NullArray()
}

func cmdWatch(c *conn, args [][]byte) {
	if c.mx.tx != nil {
		c.wr.Error("ERR WATCH inside MULTI is not allowed")
		return
	}
	s := c.s
	if c.mx.watch.Len() == 0 {
		c.mx.epoch = s.cfg.Replication.Status().Epoch
		s.watching.add(c)
	}
	c.mx.wmu.Lock()
	for _, k := range args[1:] {
		s.store.Watch(&c.mx.watch, k)
	}
	c.mx.wmu.Unlock()
	c.wr.OK()
}

func cmdUnwatch(c *conn, _ [][]byte) {
	c.unwatch()
	c.wr.OK()
}

// unwatch forgets the connection's watched keys.
func (c *conn) unwatch() {
	if c.mx.watch.Len() > 0 {
		c.s.watching.remove(c)
	}
	c.mx.wmu.Lock()
	c.s.store.Unwatch(&c.mx.watch)
	c.mx.wmu.Unlock()
}

// watchChanged reports whether a watched key changed since WATCH.
func (c *conn) watchChanged() bool {
	if c.mx.watch.Len() == 0 {
		return false
	}
	return c.s.store.Changed(&c.mx.watch) || c.s.cfg.Replication.Status().Epoch != c.mx.epoch
}

// endMulti forgets the connection's transaction and watches when it closes.
func (c *conn) endMulti() { c.discard() }

// watchRegistry is the connections with watched keys, which a view change checks.
type watchRegistry struct {
	mu    sync.Mutex
	conns map[*conn]struct{}
}

func (r *watchRegistry) add(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[*conn]struct{}{}
	}
	r.conns[c] = struct{}{}
}

func (r *watchRegistry) remove(c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.conns, c)
}

// invalidateMovedWatches marks changed the watches of keys whose slot this instance no
// longer serves in v: their keys left with the slot, or may come back changed.
func (s *Server) invalidateMovedWatches(v *cluster.View) {
	if v == nil {
		return
	}
	r := &s.watching
	r.mu.Lock()
	defer r.mu.Unlock()
	for c := range r.conns {
		c.mx.wmu.Lock()
		c.mx.watch.Slots(func(slot int) {
			if s.redirectFor(v, slot) != nil {
				c.mx.watch.Invalidate()
			}
		})
		c.mx.wmu.Unlock()
	}
}
