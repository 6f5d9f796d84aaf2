package server

import (
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/acl"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/slots"
)

type cmdFlag uint16

const (
	flagWrite cmdFlag = 1 << iota
	flagReadonly
	flagDenyOOM // refused while used memory is over maxmemory
	flagNoAuth  // allowed before AUTH
	flagFast
	flagAdmin
	flagLoading
	flagStale
	flagMovableKeys // the keys are found from the arguments (a key count)
	flagBlocking    // may park the client until a key has data (block.go)
	flagPubSub      // pub/sub; with keys: shard channels, routed by slot but not keys
	flagNoScript
	// flagNoWake: a write that makes no key ready for blocked clients, as Redis does not
	// signal it (XGROUP SETID: a group moved back waits for the next XADD), or that
	// signals them itself (SLOTIMPORT).
	flagNoWake
	flagNoMulti     // refused inside MULTI
	flagSkipSlowlog // reported by COMMAND only
	flagAllowBusy   // reported by COMMAND only
)

var flagNames = []struct {
	f    cmdFlag
	name string
}{
	{flagWrite, "write"}, {flagReadonly, "readonly"}, {flagDenyOOM, "denyoom"},
	{flagAdmin, "admin"}, {flagPubSub, "pubsub"}, {flagNoScript, "noscript"}, {flagBlocking, "blocking"}, {flagNoAuth, "no_auth"}, {flagLoading, "loading"},
	{flagStale, "stale"}, {flagSkipSlowlog, "skip_slowlog"}, {flagFast, "fast"}, {flagNoMulti, "no_multi"},
	{flagMovableKeys, "movablekeys"}, {flagAllowBusy, "allow_busy"},
}

// command is an entry of the command table, in the shape COMMAND reports: arity is exact
// when positive and a minimum when negative; firstKey/lastKey/step locate the keys
// (lastKey -1: the last argument), which is what cluster routing checks.
type command struct {
	name     string
	arity    int
	flags    cmdFlag
	firstKey int
	lastKey  int
	step     int
	movable  func(args [][]byte) (first, last, step int) // nil: firstKey, lastKey, step
	group    string
	summary  string
	since    string
	handler  func(c *conn, args [][]byte)
	subs     map[string]*command // CLIENT, CLUSTER, COMMAND, CONFIG
	// specs are the key specs COMMAND reports (Redis 7's), where they are written down;
	// without, COMMAND reports none.
	specs  []keySpec
	parent *command
	// exclusive: the command takes its slot's gate exclusively (the scripts).
	exclusive bool
	// categories are the ACL categories; acl is the command in the users' catalog
	// (acl_categories.go).
	categories acl.Category
	acl        *acl.Command

	ok, failed prometheus.Counter
	stats      cmdStats // INFO commandstats
	latency    latencyHist
}

func (cmd *command) fullName() string {
	if cmd.parent != nil {
		return cmd.parent.name + "|" + cmd.name
	}
	return cmd.name
}

// keyRange locates the keys in args: positions first to last (inclusive) every step;
// first 0: none.
func (cmd *command) keyRange(args [][]byte) (first, last, step int) {
	if cmd.movable != nil {
		return cmd.movable(args)
	}
	last = cmd.lastKey
	if last < 0 {
		last = len(args) + last
	}
	return cmd.firstKey, last, cmd.step
}

func (cmd *command) arityOK(n int) bool {
	if cmd.arity >= 0 {
		return n == cmd.arity
	}
	return n >= -cmd.arity
}

// Errors worded as Redis words them.
const (
	errSyntax      = "ERR syntax error"
	errNotInteger  = "ERR value is not an integer or out of range"
	errNotFloat    = "ERR value is not a valid float"
	errCrossSlot   = "CROSSSLOT Keys in request don't hash to the same slot"
	errNoAuth      = "NOAUTH Authentication required."
	errWrongPass   = "WRONGPASS invalid username-password pair or user is disabled."
	errOOM         = "OOM command not allowed when used memory > 'maxmemory'."
	errClusterDown = "CLUSTERDOWN Hash slot not served"
	// errTryAgainMoving is Redis's reply to a multi-key command on a slot being migrated
	// when some of its keys have moved and some have not.
	errTryAgainMoving = "TRYAGAIN Multiple keys request during rehashing of slot"
	errNoPassConfig   = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
)

func errArity(cmd *command) string {
	return fmt.Sprintf("ERR wrong number of arguments for '%s' command", cmd.fullName())
}

// errUnknown is Redis's reply to an unknown command: name and the first arguments, each
// cut so the whole list stays near 128 bytes.
func errUnknown(args [][]byte) string {
	var b strings.Builder
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
		s := string(a)
		if room := 128 - b.Len(); len(s) > room {
			s = s[:room]
		}
		fmt.Fprintf(&b, "'%s' ", s)
	}
	name := string(args[0])
	if len(name) > 128 {
		name = name[:128]
	}
	return fmt.Sprintf("ERR unknown command '%s', with args beginning with: %s", name, b.String())
}

func errUnknownSub(args [][]byte) string {
	sub := string(args[1])
	if len(sub) > 128 {
		sub = sub[:128]
	}
	return fmt.Sprintf("ERR unknown subcommand '%s'. Try %s HELP.", sub, strings.ToUpper(string(args[0])))
}

// lookup finds the command named by b, case-insensitively, without allocating.
func (c *conn) lookup(table map[string]*command, b []byte) *command {
	if len(b) > len(c.keyBuf) {
		return nil
	}
	lower := c.keyBuf[:len(b)]
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		lower[i] = ch
	}
	return table[string(lower)]
}

// dispatch runs one command and accounts for it.
func (s *Server) dispatch(c *conn, args [][]byte) {
	// ASKING holds for the next command only, whatever that is (as in Redis).
	c.asked, c.asking = c.asking, false
	cmd := c.lookup(s.cmds, args[0])
	if cmd == nil {
		c.chained = false
		mark := c.wr.Len()
		c.wr.Error(errUnknown(args))
		s.countError(c.wr.Bytes()[mark:])
		c.flagTx()
		return
	}
	if cmd.subs != nil && len(args) >= 2 {
		sub := c.lookup(cmd.subs, args[1])
		if sub == nil {
			c.chained = false
			mark := c.wr.Len()
			c.wr.Error(errUnknownSub(args))
			s.countError(c.wr.Bytes()[mark:])
			s.metrics.count(cmd, false)
			c.flagTx()
			return
		}
		cmd = sub
	}
	if cmd != c.tally.cmd {
		c.tally.fold(s)
		c.tally.cmd = cmd
		c.lastCmd.Store(cmd)
	}
	// A read of the monotonic clock (time.Now would read the wall clock too) starts the
	// command, one more ends it; in a pipeline the end of one command starts the next
	// (serve), so its time includes the parsing of its arguments.
	start := c.ended
	if !c.chained {
		start = time.Since(s.started)
	}
	c.lastAt.Store(int64(start))
	c.tally.dispatched++
	mark := c.wr.Len()
	c.slot = -2
	executed := s.run(c, cmd, args)
	if c.afterInTx(executed) {
		c.releaseGate()
		c.chained = false
		return // +QUEUED: the command is run, and accounted, by EXEC
	}
	if cmd.flags&flagWrite != 0 && c.waiting == nil {
		switch {
		case c.slot >= 0:
			s.signalKeys(cmd, args)
		case c.slot == -1 && cmd.flags&flagNoWake == 0:
			s.signalAllKeys() // FLUSHALL
		}
	}
	c.releaseGate()
	if c.slot > -2 {
		if seq := s.cfg.Replication.Barrier(cmd.flags&flagWrite != 0, c.slot); seq > c.need {
			c.need = seq
		}
	}
	failed := c.wr.Len() > mark && c.wr.Bytes()[mark] == '-'
	c.ended = time.Since(s.started)
	c.chained = true
	took := c.ended - start
	if executed && !failed {
		c.tally.add(took)
		return
	}
	if failed {
		s.countError(c.wr.Bytes()[mark:])
	}
	s.account(cmd, executed, failed, took)
	s.metrics.count(cmd, !failed)
	cmd.latency.Observe(took.Seconds())
}

// run applies the checks Redis applies before a command, in Redis's order, then runs it;
// it reports whether the command ran (false: refused by a check).
func (s *Server) run(c *conn, cmd *command, args [][]byte) (executed bool) {
	if !cmd.arityOK(len(args)) {
		c.reject(cmd, errArity(cmd))
		return false
	}
	if !c.authed && cmd.flags&flagNoAuth == 0 {
		c.reject(cmd, errNoAuth)
		return false
	}
	if c.mx.tx != nil && notInMulti(cmd) {
		c.wr.Error("ERR Command not allowed inside a transaction")
		return false
	}
	if !c.checkACL(cmd, args) {
		return false
	}
	if cmd.flags&flagAllowBusy == 0 && s.scripts.busy(c) {
		c.reject(cmd, s.scripts.busyReply(c))
		return false
	}
	if cmd.exclusive && c.mx.tx == nil {
		// A script: registered before it takes its slot's gate, exclusively (cmd_script.go).
		c.mx.exclusive = true
		s.scripts.enter(c)
		defer s.scripts.leave(c)
	}
	if (cmd.firstKey > 0 || cmd.movable != nil) && !s.route(c, cmd, args) {
		return false
	}
	if c.mx.tx != nil && isExec(cmd) && !s.routeExec(c) {
		return false
	}
	if cmd.firstKey == 0 && cmd.movable == nil && cmd.flags&flagWrite != 0 {
		// A keyless write (FLUSHALL) changes this partition: only its primary takes it.
		if redirect, errReply := s.cfg.Replication.Admit(); redirect != "" || errReply != "" {
			if errReply == "" {
				errReply = "READONLY You can't write against a read only replica."
			}
			c.wr.Error(errReply)
			return false
		}
		c.slot = -1
	}
	if m := s.store.MaxMemory(); c.denyOOM(cmd) && m > 0 && s.store.UsedMemory() > m && !s.store.EvictToLimit() {
		s.oomRejected.Add(1)
		c.reject(cmd, s.store.OOMError().Error())
		return false
	}
	if c.wr.Proto == 2 && c.subscribed() && !allowedSubscribed(cmd) {
		c.reject(cmd, errSubscribedContext(cmd))
		return false
	}
	if c.queue(cmd, args) {
		return true
	}
	c.beforeKeyEvents(cmd, args)
	cmd.handler(c, args)
	return true
}

// route checks that the command's keys share one slot and that this instance serves it;
// otherwise it writes CROSSSLOT, MOVED or CLUSTERDOWN and returns false.
func (s *Server) route(c *conn, cmd *command, args [][]byte) bool {
	first, last, step := cmd.keyRange(args)
	slot := -1
	for i := first; first > 0 && i <= last && i < len(args); i += step {
		ks := slots.Of(args[i])
		if slot >= 0 && ks != slot {
			c.wr.Error(errCrossSlot)
			return false
		}
		slot = ks
	}
	if slot < 0 {
		return true
	}
	return s.routeSlot(c, cmd, args, slot)
}

// routeSlot is route for a command whose keys all hash to slot.
func (s *Server) routeSlot(c *conn, cmd *command, args [][]byte, slot int) bool {
	v := s.view.Load()
	if v == nil {
		c.wr.Error(errClusterDown)
		return false
	}
	if cmd.flags&flagPubSub != 0 {
		return s.routeShard(c, v, slot)
	}
	p := v.Owner(slot)
	if mv := v.Move(slot); mv != nil {
		switch {
		case mv.To.ID == s.cfg.Partition && (c.asked || mv.State == cluster.MoveHandoff):
			// Moving here: served after ASKING, or by anyone once the source is empty.
			return s.admitOwn(c, slot)
		case p != nil && p.ID == s.cfg.Partition:
			return s.admitOwn(c, slot) && s.routeMigrating(c, cmd, args, slot, mv)
		}
	}
	if p != nil && p.ID == s.cfg.Partition {
		return s.admitOwn(c, slot)
	}
	if p == nil || p.Primary == nil {
		c.wr.Error(errClusterDown)
		return false
	}
	c.wr.Error(fmt.Sprintf("MOVED %d %s", slot, p.Primary.ClientAddress(c.tls)))
	return false
}

// admitOwn decides a command on slot served by this instance's partition: it runs here
// when this instance is the partition's serving primary, otherwise the client is sent on
// (MOVED) or told to retry.
func (s *Server) admitOwn(c *conn, slot int) bool {
	redirect, errReply := s.cfg.Replication.Admit()
	switch {
	case errReply != "":
		c.wr.Error(errReply)
		return false
	case redirect != "":
		c.wr.Error(fmt.Sprintf("MOVED %d %s", slot, c.clientAddress(redirect)))
		return false
	}
	c.slot = slot
	if !c.takeGate(slot) {
		c.wr.Error(c.s.scripts.busyReply(c))
		return false
	}
	return true
}

// takeGate holds slot's gate for the current command, released when its dispatch ends:
// shared, or exclusive for EXEC and scripts, whose commands no other client's may
// interleave with. False: a script holds the gate and runs past busy-reply-threshold
// (the client is answered BUSY, cmd_script.go).
func (c *conn) takeGate(slot int) bool {
	g := &c.s.gates[slot]
	if c.mx.exclusive {
		if !g.TryLock() && !c.s.scripts.waitGate(c, slot, g.TryLock, g.Lock) {
			return false
		}
	} else if !g.TryRLock() && !c.s.scripts.waitGate(c, slot, g.TryRLock, g.RLock) {
		return false
	}
	c.gate = g
	return true
}

// releaseGate releases the gate takeGate took, if any.
func (c *conn) releaseGate() {
	switch {
	case c.gate == nil:
	case c.mx.exclusive:
		c.gate.Unlock()
	default:
		c.gate.RUnlock()
	}
	c.gate = nil
	c.mx.exclusive = false
}

// routeMigrating applies Redis Cluster's rules to a slot moving out of this partition:
// a command whose keys are all still here runs here, holding the slot's gate (admitOwn
// took it) so none of them leaves meanwhile; one whose keys are all gone (or new) is sent
// to the target with ASK; a mix is answered TRYAGAIN until the rest has moved. While the
// move is importing (the target learns of it first) every command runs here, holding the
// gate too: the view may turn to migrating, and the mover start copying, while it runs.
func (s *Server) routeMigrating(c *conn, cmd *command, args [][]byte, slot int, mv *cluster.MoveView) bool {
	if mv.State == cluster.MoveImporting {
		return true
	}
	first, last, step := cmd.keyRange(args)
	here, gone := 0, 0
	for i := first; first > 0 && i <= last && i < len(args); i += step {
		if s.store.Exists(args[i]) {
			here++
		} else {
			gone++
		}
	}
	switch {
	case gone == 0:
		return true
	case here > 0:
		c.releaseGate()
		c.wr.Error(errTryAgainMoving)
		return false
	}
	c.releaseGate()
	if mv.To.Primary == nil {
		c.wr.Error(fmt.Sprintf("TRYAGAIN slot %d is moving to partition %d, which has no primary right now", slot, mv.To.ID))
		return false
	}
	c.wr.Error(fmt.Sprintf("ASK %d %s", slot, mv.To.Primary.ClientAddress(c.tls)))
	return false
}
