package server

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/store"
)

// Blocking commands (BLPOP and the like) wait for data on keys, as Redis 7.0's blocked.c
// has them wait. The mechanism is generic; a command type plugs in like this:
//
//  1. The handler parses its arguments (timeout with parseTimeout) and tries the
//     non-blocking form. When that answers, the handler is done.
//  2. Otherwise it calls c.block(keys, deadline, serve) and returns without a reply. The
//     command's dispatch ends as usual (its slot gate is released), the connection flushes
//     the replies before it and parks until the client is served, times out, is unblocked
//     by CLIENT UNBLOCK, is redirected or disconnects. Its input is read meanwhile but not
//     run, as Redis leaves a blocked client's query buffer alone.
//  3. Every write command signals its keys when it has run (a cheap check when nobody
//     waits). For a signalled key the waiters on it are offered the key in the order they
//     blocked (FIFO across clients): serve(c, key) runs the non-blocking form against the
//     store, writes the reply into c's buffer and reports whether it did; false keeps the
//     client waiting in its place. serve runs in the goroutine of the write command, inside
//     that command's dispatch: after its own reply, under its slot admission and gate, so a
//     served pop is journaled and replicated like the non-blocking command, and the writer's
//     next command already sees it done (as in Redis, which serves blocked clients right
//     after the command that made a key ready). The served client's reply waits for the
//     replication of what the serve changed. The keys a serve wrote (BLMOVE's destination)
//     are returned from serve and signalled in turn.
//
// serve must copy what it needs from the arguments (they live in the client's read
// buffer, which the parked connection keeps reading into), must not block, and is called
// with the registry's lock held: it must not block another client or signal keys itself.
//
// A waiter whose slot stops being served here (slot migration) is answered with MOVED (or
// CLUSTERDOWN when nobody serves it) once the view changes; when this instance stops being
// its partition's primary, every waiter gets Redis's UNBLOCKED error and its connection
// closes after the reply, as Redis does when a master turns replica.

// serveFunc tries to serve the parked client c from key; see the package notes above.
// served false: nothing for c (it keeps waiting); touched: keys the serve wrote.
type serveFunc func(c *conn, key []byte) (served bool, touched [][]byte)

// waiter is a parked client.
type waiter struct {
	c        *conn
	keys     []string // distinct, in the order given
	slot     int
	deadline time.Time // zero: forever
	serve    serveFunc
	done     chan struct{} // closed once finished: its reply (if any) is in c.wr
	finished bool          // under blockedClients.mu
	close    bool          // close the connection after the reply (UNBLOCKED on demotion)
}

// blockedClients is the registry of parked clients.
type blockedClients struct {
	n     atomic.Int64 // waiters, read without the lock by the signal fast path and INFO
	mu    sync.Mutex
	byKey map[string][]*waiter // FIFO per key
	byID  map[int64]*waiter
	watch bool // the primary watchdog runs

	// Keys expiry or eviction removed while clients waited, by slot, not yet offered to
	// them (keyDropped); dropping: signalDropped runs.
	dropMu   sync.Mutex
	dropped  map[int][][]byte
	dropping bool
}

// Redis's replies when a blocked client is let go other than by data or its timeout.
const (
	errUnblockedByClient = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
	errUnblockedDemoted  = "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"
	// maxSignalRounds bounds the chain of keys a write makes ready through serves that
	// write other keys (BLMOVE into a list another client waits on).
	maxSignalRounds = 1 << 16
	// maxBlockedInput is what a parked client's input may grow to before the connection
	// stops reading it (and notices a disconnect only once it is served).
	maxBlockedInput = 1 << 20
	// watchdogEvery is how often the primary role is checked while clients wait.
	watchdogEvery = 100 * time.Millisecond
)

// parseTimeout reads a blocking command's timeout in seconds as Redis 7.0's
// getTimeoutFromObjectOrReply does: a long double, cut to whole milliseconds (so under a
// millisecond is forever, as 0 is). The zero time means forever, and so does a timeout
// too far away for a time.Duration (292 years).
func (c *conn) parseTimeout(b []byte) (deadline time.Time, ok bool) {
	f, ok := store.ParseLongDouble(b)
	if !ok {
		c.wr.Error("ERR timeout is not a float or out of range")
		return time.Time{}, false
	}
	// C's conversion of an out-of-range value to long long gives LLONG_MIN on the
	// platforms Redis ships for, hence "negative" for inf and 1e400.
	ms := int64(math.MinInt64)
	if !f.IsInf() {
		if i, _ := new(big.Float).Mul(f, big.NewFloat(1000)).Int(nil); i.IsInt64() {
			ms = i.Int64()
		}
	}
	switch {
	case ms < 0:
		c.wr.Error("ERR timeout is negative")
		return time.Time{}, false
	case ms == 0 || ms > math.MaxInt64/int64(time.Millisecond):
		return time.Time{}, true
	}
	return time.Now().Add(time.Duration(ms) * time.Millisecond), true
}

// block parks c on keys (of one slot, the command's) until serve serves it from one of
// them or deadline passes (zero: forever). The handler returns right after; the client
// joins the waiters once its earlier replies are flushed (park).
func (c *conn) block(keys [][]byte, deadline time.Time, serve serveFunc) {
	if c.mx.running != nil {
		c.replyNotBlocking() // inside EXEC: as if the timeout had expired (cmd_multi.go)
		return
	}
	w := &waiter{c: c, slot: c.slot, deadline: deadline, serve: serve, done: make(chan struct{})}
	for _, k := range keys {
		if !slices.Contains(w.keys, string(k)) {
			w.keys = append(w.keys, string(k))
		}
	}
	c.waiting = w
}

// register makes w a waiter, after its connection flushed what it had to: from now on
// other goroutines may write w's reply into its buffer. A key that got data since the
// command looked serves it at once, a slot no longer served here redirects it, under the
// slot's gate like a command.
func (s *Server) register(w *waiter) {
	g := &s.gates[w.slot]
	g.RLock()
	defer g.RUnlock()
	b := &s.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byKey == nil {
		b.byKey = map[string][]*waiter{}
		b.byID = map[int64]*waiter{}
	}
	for _, k := range w.keys {
		b.byKey[k] = append(b.byKey[k], w)
	}
	b.byID[w.c.id] = w
	b.n.Add(1)
	w.c.isBlocked.Store(true)
	if v := s.view.Load(); v != nil {
		if reply := s.redirectFor(v, w.slot); reply != nil {
			b.finishLocked(w, reply)
			return
		}
	}
	for _, k := range w.keys {
		served, touched := w.serve(w.c, []byte(k))
		if served {
			b.finishLocked(w, nil)
			b.signalLocked(touched)
			return
		}
	}
	if !b.watch {
		b.watch = true
		go s.watchPrimary()
	}
}

// finishLocked ends w's wait, reply writing its answer into w's connection (nil: none);
// false when w had already finished. b.mu is held.
func (b *blockedClients) finishLocked(w *waiter, reply func(c *conn)) bool {
	if w.finished {
		return false
	}
	w.finished = true
	for _, k := range w.keys {
		q := slices.DeleteFunc(b.byKey[k], func(o *waiter) bool { return o == w })
		if len(q) == 0 {
			delete(b.byKey, k)
		} else {
			b.byKey[k] = q
		}
	}
	delete(b.byID, w.c.id)
	b.n.Add(-1)
	w.c.isBlocked.Store(false)
	if reply != nil {
		reply(w.c)
	}
	close(w.done)
	return true
}

func (b *blockedClients) finish(w *waiter, reply func(c *conn)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.finishLocked(w, reply)
}

// replyTimedOut is Redis's answer to a list, sorted set or stream blocking command that
// timed out: a null array (RESP3 null), whichever the command.
func replyTimedOut(c *conn) { c.wr.NullArray() }

func errorReply(msg string) func(c *conn) { return func(c *conn) { c.wr.Error(msg) } }

// signalKeys offers the keys a write command on this partition wrote to the clients
// waiting on them; see the package notes on blocking.
func (s *Server) signalKeys(cmd *command, args [][]byte) {
	if s.blocked.n.Load() == 0 {
		return
	}
	if cmd.flags&flagNoWake != 0 {
		return
	}
	var keys [][]byte
	add := func(first, last, step int) {
		for i := first; first > 0 && i <= last && i < len(args); i += step {
			keys = append(keys, args[i])
		}
	}
	add(cmd.keyRange(args))
	if cmd.movable != nil && cmd.firstKey > 0 {
		// The destination of ZUNIONSTORE and the like, before the counted keys.
		add(cmd.firstKey, cmd.lastKey, cmd.step)
	}
	if len(keys) == 0 {
		return
	}
	b := &s.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	b.signalLocked(keys)
}

// signalAllKeys offers every key clients wait on to them, slot by slot under the slot's
// gate: a keyless write (FLUSHALL) changed them all.
func (s *Server) signalAllKeys() {
	if s.blocked.n.Load() == 0 {
		return
	}
	b := &s.blocked
	b.mu.Lock()
	bySlot := map[int][][]byte{}
	for k, q := range b.byKey {
		if len(q) > 0 {
			bySlot[q[0].slot] = append(bySlot[q[0].slot], []byte(k))
		}
	}
	b.mu.Unlock()
	for slot, keys := range bySlot {
		s.signalInSlot(slot, keys)
	}
}

// signalInSlot offers keys of slot to their waiters under the slot's gate, for a change
// made outside a command's dispatch.
func (s *Server) signalInSlot(slot int, keys [][]byte) {
	g := &s.gates[slot]
	g.RLock()
	defer g.RUnlock()
	b := &s.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	b.signalLocked(keys)
}

// keyDropped is told by storeKeyEvent of a key that expiry or eviction removed is offered to
// its waiters as a deletion by a command is, so a group reader of a stream that expired
// or was evicted is answered at once, as Redis 7.0's dbGenericDelete signals the key. It
// runs with the key's slot locked in the store, so the waiters are offered the key by
// another goroutine (signalDropped), which takes the slot's gate and the store's locks in
// the order commands take them.
func (s *Server) keyDropped(slot int, key []byte) {
	b := &s.blocked
	if b.n.Load() == 0 {
		return
	}
	b.dropMu.Lock()
	defer b.dropMu.Unlock()
	if b.dropped == nil {
		b.dropped = map[int][][]byte{}
	}
	b.dropped[slot] = append(b.dropped[slot], bytes.Clone(key))
	if !b.dropping {
		b.dropping = true
		go s.signalDropped()
	}
}

// signalDropped offers the keys keyDropped queued to their waiters until none is left.
func (s *Server) signalDropped() {
	b := &s.blocked
	for {
		b.dropMu.Lock()
		pending := b.dropped
		b.dropped = nil
		if len(pending) == 0 {
			b.dropping = false
			b.dropMu.Unlock()
			return
		}
		b.dropMu.Unlock()
		for slot, keys := range pending {
			s.signalInSlot(slot, keys)
		}
	}
}

// signalSlot offers every key clients wait on in slot to them: keys arrived whole
// (SLOTIMPORT on a slot moving here, whose clients waited after ASKING).
func (s *Server) signalSlot(slot int) {
	if s.blocked.n.Load() == 0 {
		return
	}
	b := &s.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	var keys [][]byte
	for k, q := range b.byKey {
		if len(q) > 0 && q[0].slot == slot {
			keys = append(keys, []byte(k))
		}
	}
	b.signalLocked(keys)
}

// signalLocked offers keys to their waiters, in the order they blocked, and the keys the
// serves write in turn. b.mu is held.
func (b *blockedClients) signalLocked(keys [][]byte) {
	var ready []string
	for _, k := range keys {
		if _, ok := b.byKey[string(k)]; ok {
			ready = append(ready, string(k))
		}
	}
	for i := 0; i < len(ready) && i < maxSignalRounds; i++ {
		key := []byte(ready[i])
		for _, w := range slices.Clone(b.byKey[ready[i]]) {
			if w.finished {
				continue
			}
			served, touched := w.serve(w.c, key)
			if !served {
				continue
			}
			b.finishLocked(w, nil)
			for _, t := range touched {
				if _, ok := b.byKey[string(t)]; ok {
					ready = append(ready, string(t))
				}
			}
		}
	}
}

// unblockClient ends the wait of client id as CLIENT UNBLOCK does: like a timeout, or
// with an error; false when that client is not blocked.
func (s *Server) unblockClient(id int64, withError bool) bool {
	b := &s.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.byID[id]
	if w == nil {
		return false
	}
	reply := replyTimedOut
	if withError {
		reply = errorReply(errUnblockedByClient)
	}
	return b.finishLocked(w, reply)
}

// redirectBlocked answers the waiters whose slot this partition no longer serves in v.
func (s *Server) redirectBlocked(v *cluster.View) {
	if s.blocked.n.Load() == 0 || v == nil {
		return
	}
	s.blocked.mu.Lock()
	defer s.blocked.mu.Unlock()
	s.redirectLocked(v)
}

// redirectLocked answers the waiters whose slot this partition no longer serves in v.
// blocked.mu is held.
func (s *Server) redirectLocked(v *cluster.View) {
	for _, w := range s.blocked.byID {
		if reply := s.redirectFor(v, w.slot); reply != nil {
			s.blocked.finishLocked(w, reply)
		}
	}
}

// redirectFor is the answer to a client blocked on slot when this partition no longer
// serves it in v, as Redis's clusterRedirectBlockedClientIfNeeded gives it: MOVED to the
// slot's primary, or CLUSTERDOWN when nobody serves it; nil while it is served here. A
// slot moving here counts as served (its waiters came with ASKING).
func (s *Server) redirectFor(v *cluster.View, slot int) func(c *conn) {
	p := v.Owner(slot)
	if p != nil && p.ID == s.cfg.Partition {
		return nil
	}
	if mv := v.Move(slot); mv != nil && mv.To.ID == s.cfg.Partition {
		return nil
	}
	if p != nil && p.Primary != nil {
		primary := p.Primary
		return func(c *conn) { c.wr.Error(fmt.Sprintf("MOVED %d %s", slot, primary.ClientAddress(c.tls))) }
	}
	return errorReply(errClusterDown)
}

// watchPrimary runs while clients wait. When this instance stops being its partition's
// primary (the partition's replication sends clients elsewhere), every waiter is let go
// with Redis's UNBLOCKED error and its connection closes after the reply. It also
// redirects waiters that blocked on a view that changed meanwhile.
func (s *Server) watchPrimary() {
	b := &s.blocked
	t := time.NewTicker(watchdogEvery)
	defer t.Stop()
	for range t.C {
		redirect, _ := s.cfg.Replication.Admit()
		v := s.view.Load()
		b.mu.Lock()
		if redirect != "" {
			for _, w := range b.byID {
				w.close = true
				b.finishLocked(w, errorReply(errUnblockedDemoted))
			}
		}
		if v != nil {
			s.redirectLocked(v)
		}
		if len(b.byID) == 0 {
			b.watch = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
	}
}

// park waits, with the connection's earlier replies flushed, until the client's blocking
// command is answered; false when the connection must close.
func (c *conn) park() bool {
	s, w := c.s, c.waiting
	defer func() { c.waiting = nil }()
	if !c.flushReplies() {
		return false
	}
	s.register(w)
	// Read on meanwhile, to notice the client going away; stopped by a past deadline.
	readErr := make(chan error, 1)
	go func() {
		for c.rd.Buffered() < maxBlockedInput {
			if err := c.rd.Fill(); err != nil {
				readErr <- err
				return
			}
		}
		readErr <- nil
	}()
	var timeout <-chan time.Time
	if !w.deadline.IsZero() {
		t := time.NewTimer(time.Until(w.deadline))
		defer t.Stop()
		timeout = t.C
	}
	gone := false
	select {
	case <-w.done:
	case <-timeout:
		s.blocked.finish(w, replyTimedOut)
	case err := <-readErr:
		readErr <- err // for the wait below
		if err != nil {
			s.blocked.finish(w, nil)
			gone = true
			break
		}
		// Too much input to read on: wait without watching the connection.
		select {
		case <-w.done:
		case <-timeout:
			s.blocked.finish(w, replyTimedOut)
		}
	}
	<-w.done
	if err := c.nc.SetReadDeadline(time.Unix(1, 0)); err != nil {
		gone = true
	}
	err := <-readErr
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		gone = true
	}
	if gone {
		return false
	}
	if err := c.nc.SetReadDeadline(time.Time{}); err != nil {
		return false
	}
	if seq := s.cfg.Replication.Barrier(true, w.slot); seq > c.need {
		c.need = seq
	}
	if w.close {
		c.closing = true
	}
	return true
}
