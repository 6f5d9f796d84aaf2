package table

import (
	"context"
	"sync"
	"time"
)

// sharedReads coalesces the statements' reads of the definitions' version counter: a
// statement that arrives while a read is in flight waits for the next read, which starts
// as soon as the one in flight ends and serves every statement that arrived meanwhile.
// Every statement so gets a value read after it arrived (a DDL that returned before the
// statement arrived is seen), while concurrent statements share one GET: with many
// clients the grid serves a few reads per round trip instead of one per statement.
type sharedReads struct {
	read    func(context.Context) (int64, error)
	timeout time.Duration // of one read, which no single statement's context owns

	mu       sync.Mutex
	inflight bool
	next     *versionRead // the statements waiting for the read after the one in flight
}

// versionRead is one read's result, ready once done is closed.
type versionRead struct {
	done    chan struct{}
	waiters int // statements waiting for it (not the one that runs it)
	v       int64
	err     error
}

// get is a value of the counter read after get was called.
func (s *sharedReads) get(ctx context.Context) (int64, error) {
	s.mu.Lock()
	if !s.inflight {
		s.inflight = true
		s.mu.Unlock()
		r := &versionRead{done: make(chan struct{})}
		s.run(r)
		return r.v, r.err
	}
	if s.next == nil {
		s.next = &versionRead{done: make(chan struct{})}
	}
	r := s.next
	r.waiters++
	s.mu.Unlock()
	select {
	case <-r.done:
		return r.v, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// run reads for r, then starts the next read if statements wait for one.
func (s *sharedReads) run(r *versionRead) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	r.v, r.err = s.read(ctx)
	cancel()
	close(r.done)
	s.mu.Lock()
	next := s.next
	s.next = nil
	s.inflight = next != nil
	s.mu.Unlock()
	if next != nil {
		go s.run(next)
	}
}
