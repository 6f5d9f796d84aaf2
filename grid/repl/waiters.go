package repl

import (
	"sync"
	"sync/atomic"
)

// waiters are the connections whose replies wait for the backup's acknowledgement of a
// sequence. An acknowledgement is cumulative: it wakes every waiter it covers, and only
// those (a broadcast would wake the writers of the batch still in flight too, each to find
// its sequence not acknowledged and sleep again). A change of the gate, and the control
// loop's tick, wake them all to re-check the mode and their deadline.
type waiters struct {
	mu    sync.Mutex
	list  []*waiter
	bcast atomic.Uint64 // counts wakeAll: a waiter that read the gate before one retries
}

type waiter struct {
	seq uint64
	ch  chan struct{} // one token per registration
}

var waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// add registers a waiter for seq, or returns nil when acked already covers seq or a
// wakeAll happened since the caller read bcast (it must look at the gate again).
func (ws *waiters) add(seq uint64, acked *atomic.Uint64, bcast uint64) *waiter {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if acked.Load() >= seq || ws.bcast.Load() != bcast {
		return nil
	}
	w := waiterPool.Get().(*waiter)
	w.seq = seq
	ws.list = append(ws.list, w)
	return w
}

// done returns a waiter whose token was received.
func (ws *waiters) done(w *waiter) { waiterPool.Put(w) }

// cancel takes back a waiter the caller stopped waiting for.
func (ws *waiters) cancel(w *waiter) {
	ws.mu.Lock()
	for i, x := range ws.list {
		if x == w {
			ws.list[i] = ws.list[len(ws.list)-1]
			ws.list[len(ws.list)-1] = nil
			ws.list = ws.list[:len(ws.list)-1]
			ws.mu.Unlock()
			waiterPool.Put(w)
			return
		}
	}
	ws.mu.Unlock()
	<-w.ch // it was woken meanwhile: the token is there
	waiterPool.Put(w)
}

// release wakes the waiters of sequences up to acked.
func (ws *waiters) release(acked uint64) {
	ws.mu.Lock()
	keep := ws.list[:0]
	for _, w := range ws.list {
		if w.seq <= acked {
			w.ch <- struct{}{}
		} else {
			keep = append(keep, w)
		}
	}
	clear(ws.list[len(keep):])
	ws.list = keep
	ws.mu.Unlock()
}

// any reports whether a connection waits.
func (ws *waiters) any() bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.list) > 0
}

// wakeAll wakes every waiter.
func (ws *waiters) wakeAll() {
	ws.mu.Lock()
	ws.bcast.Add(1)
	for _, w := range ws.list {
		w.ch <- struct{}{}
	}
	clear(ws.list)
	ws.list = ws.list[:0]
	ws.mu.Unlock()
}
