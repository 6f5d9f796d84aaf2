package table

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeCounter is a version counter whose reads block until released; read n returns n.
type fakeCounter struct {
	started chan int
	release chan error
	mu      sync.Mutex
	reads   int
}

func (f *fakeCounter) read(context.Context) (int64, error) {
	f.mu.Lock()
	f.reads++
	n := f.reads
	f.mu.Unlock()
	f.started <- n
	if err := <-f.release; err != nil {
		return 0, err
	}
	return int64(n), nil
}

type result struct {
	v   int64
	err error
}

// waitQueued waits until n statements wait for the read after the one in flight.
func waitQueued(t *testing.T, s *sharedReads, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		queued := s.next != nil && s.next.waiters == n
		s.mu.Unlock()
		if queued {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements not queued for the next read after 10s", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSharedReadsAreFresh checks that a statement never gets a value read before it
// arrived: one arriving during a read waits for the next, and statements arriving during
// the same read share the next one.
func TestSharedReadsAreFresh(t *testing.T) {
	f := &fakeCounter{started: make(chan int, 8), release: make(chan error)}
	s := &sharedReads{read: f.read, timeout: time.Minute}
	get := func() chan result {
		ch := make(chan result, 1)
		go func() {
			v, err := s.get(context.Background())
			ch <- result{v, err}
		}()
		return ch
	}
	a := get()
	if n := <-f.started; n != 1 {
		t.Fatalf("first read is read %d", n)
	}
	b := get()
	c := get()
	waitQueued(t, s, 2)
	f.release <- nil // read 1 ends; read 2 starts for b and c
	if r := <-a; r.v != 1 || r.err != nil {
		t.Errorf("the statement that started read 1 got %+v", r)
	}
	if n := <-f.started; n != 2 {
		t.Fatalf("second read is read %d", n)
	}
	d := get() // arrives during read 2: waits for read 3
	waitQueued(t, s, 1)
	f.release <- nil
	for name, ch := range map[string]chan result{"b": b, "c": c} {
		if r := <-ch; r.v != 2 || r.err != nil {
			t.Errorf("statement %s, arrived during read 1, got %+v, want read 2", name, r)
		}
	}
	if n := <-f.started; n != 3 {
		t.Fatalf("third read is read %d", n)
	}
	f.release <- nil
	if r := <-d; r.v != 3 || r.err != nil {
		t.Errorf("the statement arrived during read 2 got %+v, want read 3", r)
	}
	// Nothing in flight any more: the next statement reads at once, itself.
	e := get()
	if n := <-f.started; n != 4 {
		t.Fatalf("a statement after the reads ended started read %d, want 4", n)
	}
	f.release <- nil
	if r := <-e; r.v != 4 {
		t.Errorf("got %+v, want read 4", r)
	}
}

// TestSharedReadsErrors checks that a failed read fails the statements it serves (and
// only those), and that a waiting statement whose context ends stops waiting.
func TestSharedReadsErrors(t *testing.T) {
	f := &fakeCounter{started: make(chan int, 8), release: make(chan error)}
	s := &sharedReads{read: f.read, timeout: time.Minute}
	boom := errors.New("grid down")
	first := make(chan result, 1)
	go func() {
		v, err := s.get(context.Background())
		first <- result{v, err}
	}()
	<-f.started
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan result, 1)
	go func() {
		v, err := s.get(ctx)
		waiting <- result{v, err}
	}()
	waitQueued(t, s, 1)
	cancel()
	if r := <-waiting; !errors.Is(r.err, context.Canceled) {
		t.Errorf("a waiting statement whose context ended: %+v, want context.Canceled", r)
	}
	f.release <- boom
	if r := <-first; !errors.Is(r.err, boom) {
		t.Errorf("the statement of a failed read: %+v, want its error", r)
	}
	<-f.started // the read the cancelled statement had queued still runs
	f.release <- nil
	second := make(chan result, 1)
	go func() {
		v, err := s.get(context.Background())
		second <- result{v, err}
	}()
	n := <-f.started
	f.release <- nil
	if r := <-second; r.err != nil || r.v != int64(n) {
		t.Errorf("a read after a failed one: %+v, want read %d", r, n)
	}
}
