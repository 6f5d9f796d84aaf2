package server

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// scriptRegistry is the scripts running on the instance, for the BUSY check, the
// clients waiting for a script's slot, and SCRIPT KILL.
type scriptRegistry struct {
	mu     sync.Mutex
	runs   []*scriptRun // in the order they started
	active atomic.Int32
	// oldest is when runs[0] started (monotonic nanoseconds since scriptEpoch; 0: none),
	// which the BUSY check of every command reads without the lock.
	oldest atomic.Int64
	// thresholdMs is busy-reply-threshold: past it, a running script makes the instance
	// answer BUSY.
	thresholdMs atomic.Int64
}

// scriptEpoch is the origin of scriptRegistry.oldest, read on the monotonic clock.
var scriptEpoch = time.Now()

// sinceEpoch is t in nanoseconds since scriptEpoch, at least 1 (0 stands for none).
func sinceEpoch(t time.Time) int64 { return max(int64(t.Sub(scriptEpoch)), 1) }

func (g *scriptRegistry) threshold() int64 { return g.thresholdMs.Load() }

// enter registers a script c is about to run, before it takes its slot's gate, so that a
// client finding the gate taken finds the script too.
func (g *scriptRegistry) enter(c *conn) *scriptRun {
	r := &scriptRun{c: c, start: time.Now(), done: make(chan struct{}), slot: -2}
	g.mu.Lock()
	g.runs = append(g.runs, r)
	g.active.Add(1)
	if len(g.runs) == 1 {
		g.oldest.Store(sinceEpoch(r.start))
	}
	g.mu.Unlock()
	c.run = r
	return r
}

// leave unregisters c's script.
func (g *scriptRegistry) leave(c *conn) {
	r := c.run
	if r == nil {
		return
	}
	c.run = nil
	g.mu.Lock()
	for i, x := range g.runs {
		if x == r {
			g.runs = append(g.runs[:i], g.runs[i+1:]...)
			break
		}
	}
	g.active.Add(-1)
	if len(g.runs) == 0 {
		g.oldest.Store(0)
	} else {
		g.oldest.Store(sinceEpoch(g.runs[0].start))
	}
	g.mu.Unlock()
	close(r.done)
}

// others are the scripts running for other clients than c, the oldest first.
func (g *scriptRegistry) others(c *conn) []*scriptRun {
	if g.active.Load() == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*scriptRun
	for _, r := range g.runs {
		if r.c != c {
			out = append(out, r)
		}
	}
	return out
}

// running describes the oldest script running for another client than c (FUNCTION
// STATS): its name, its command and when it started.
func (g *scriptRegistry) running(c *conn) (name string, cmd []string, start time.Time, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.runs {
		if r.c == c || r.name == "" {
			continue
		}
		cmd = make([]string, len(r.command)) // valid while r is registered
		for i, a := range r.command {
			cmd[i] = string(a)
		}
		return r.name, cmd, r.start, true
	}
	return "", nil, time.Time{}, false
}

// busy reports whether a script of another client than c runs past the threshold: c's
// commands are then answered BUSY.
func (g *scriptRegistry) busy(c *conn) bool {
	t := g.threshold()
	if oldest := g.oldest.Load(); oldest == 0 || sinceEpoch(time.Now())-oldest < t*int64(time.Millisecond) {
		return false // no script runs, or none yet past the threshold
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.runs {
		if r.c != c && r.busy(t) {
			return true
		}
	}
	return false
}

// busyReply is the BUSY reply for c: naming FUNCTION KILL when the busy script is a
// function.
func (g *scriptRegistry) busyReply(c *conn) string {
	t := g.threshold()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.runs {
		if r.c != c && r.function && r.busy(t) {
			return errBusyFunction
		}
	}
	return errBusy
}

// otherKind is the reply to a kill of functions (FUNCTION KILL) or of scripts (SCRIPT
// KILL) when one of runs is of the other kind, "" when none is.
func (g *scriptRegistry) otherKind(runs []*scriptRun, functions bool) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range runs {
		switch {
		case r.function && !functions:
			return errBusyFunction
		case !r.function && functions:
			return errBusy
		}
	}
	return ""
}

// waitBusyOrDone waits until r ends or passes the threshold.
func (g *scriptRegistry) waitBusyOrDone(r *scriptRun) {
	wait := time.Until(r.start.Add(time.Duration(g.threshold()) * time.Millisecond))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
	}
}

// waitGate takes slot's gate that try could not take: while scripts run, it waits for the
// one holding the gate to end or to become busy, and gives up (false: the client is
// answered BUSY) once one is busy; otherwise (EXEC, a slot's keys moving out) it waits for
// the gate with lock. It waits on the holder, not on the oldest script: that one may be
// waiting for a gate itself, maybe for this client's, and two such waiters would each
// wait for the other until the threshold, the whole instance answering BUSY meanwhile.
func (g *scriptRegistry) waitGate(c *conn, slot int, try func() bool, lock func()) bool {
	for {
		runs := g.others(c)
		if len(runs) == 0 {
			lock()
			return true
		}
		if g.busy(c) {
			return false
		}
		if h := g.holder(c, slot); h != nil {
			g.waitBusyOrDone(h)
		} else {
			// Held by no script (EXEC, keys moving out), or just let go: look again soon.
			time.Sleep(gateRetry)
		}
		if try() {
			return true
		}
	}
}

// gateRetry is how long waitGate waits before trying a gate no script holds again.
const gateRetry = time.Millisecond

// holder is the script of another client than c that holds slot's gate, nil if none.
func (g *scriptRegistry) holder(c *conn, slot int) *scriptRun {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.runs {
		if r.c != c && r.gate.Load() == int32(slot)+1 {
			return r
		}
	}
	return nil
}

// kill ends r (SCRIPT KILL).
func (g *scriptRegistry) kill(r *scriptRun) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.cancel != nil {
		r.cancel()
	}
}

// abandonAll ends every running script as the server closes, those that wrote too (as
// SHUTDOWN NOSAVE would): their changes so far are not journaled, so the backup, which
// takes over, never sees half a script.
func (g *scriptRegistry) abandonAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range g.runs {
		r.abandoned.Store(true)
		if r.cancel != nil {
			r.cancel()
		}
	}
}

// A script past busy-reply-threshold spins on a core (the instance answers BUSY meanwhile,
// so it has no other command to run before SCRIPT KILL): its thread is given the least
// CPU priority, nice 19, so that the instance's own other work (its replication stream,
// its lease, the BUSY replies) and the processes beside it, such as the other partitions
// of `insight-grid local`, keep their share of the machine. The script's context is how
// it is reached: the Lua VM asks for Done between instructions.

// busyCheckEvery is how many of the VM's Done calls pass between two clock reads.
const busyCheckEvery = 4096

// scriptCtx is a running script's context: Done is the VM's, and every busyCheckEvery
// calls it checks whether the script has run past the threshold.
type scriptCtx struct {
	context.Context
	c     *conn
	start time.Time
	limit time.Duration
	n     uint32
}

func (x *scriptCtx) Done() <-chan struct{} {
	if x.n++; x.n%busyCheckEvery == 0 && !x.c.lowThread && time.Since(x.start) > x.limit {
		x.c.lowerThread()
	}
	return x.Context.Done()
}

// lowerThread locks c's goroutine to its thread and gives the thread nice 19; the
// thread ends with the goroutine (conn.loop hands the connection on). Not the process's
// main thread, which the runtime keeps (wedged) rather than ends: the next check, on
// another thread, does it.
func (c *conn) lowerThread() {
	runtime.LockOSThread()
	tid := unix.Gettid()
	if tid == unix.Getpid() {
		runtime.UnlockOSThread()
		return
	}
	c.lowThread = true
	if err := unix.Setpriority(unix.PRIO_PROCESS, tid, 19); err != nil {
		c.s.log.Debug("lowering a busy script's thread", "client", c.addr, "err", err)
	}
}
