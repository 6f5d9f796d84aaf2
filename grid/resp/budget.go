package resp

import (
	"fmt"
	"sync"
	"time"
)

// largeBuffer is the size above which a Reader's buffer counts against its Budget: every
// connection may hold this much without asking, a command larger than it (a big value,
// a long pipeline) borrows the rest from the budget while it is being read.
const largeBuffer = 4 * minReadSize

// Budget bounds the memory that the Readers sharing it hold in large buffers, so many
// clients sending big values at once cannot together push the process past its memory
// limit. It lends a fixed base plus whatever room the process has left (Free); a Reader
// that holds nothing yet waits for its share, and the kernel's flow control holds its
// client meanwhile; a Reader that already holds part of the budget never waits for more
// (two of them could wait for each other), its command is refused instead. A Budget is
// safe for concurrent use.
type Budget struct {
	base int64
	free func() int64
	wait time.Duration

	mu      sync.Mutex
	used    int64
	changed chan struct{} // closed and replaced when memory is given back
}

// NewBudget returns a budget of base bytes plus what free reports (nil: nothing more); a
// Reader that holds nothing waits at most wait for its share before its command is
// refused with a *BudgetError.
func NewBudget(base int64, free func() int64, wait time.Duration) *Budget {
	if free == nil {
		free = func() int64 { return 0 }
	}
	return &Budget{base: base, free: free, wait: wait, changed: make(chan struct{})}
}

// Total is what the budget lends now: its base and the room the process has left.
func (b *Budget) Total() int64 { return b.base + max(b.free(), 0) }

// Used is what the Readers hold of the budget now.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// BudgetError is a command that could not get the buffer memory it needs. The server
// answers it with "-ERR ..." and closes the connection, as Redis does past
// client-query-buffer-limit.
type BudgetError struct{ Msg string }

func (e *BudgetError) Error() string { return e.Msg }

// acquire grows a holding of held bytes to size.
func (b *Budget) acquire(size, held int64) error {
	n := size - held
	var timer *time.Timer
	for {
		total := b.Total()
		b.mu.Lock()
		if b.used+n <= total {
			b.used += n
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return nil
		}
		used, ch := b.used, b.changed
		b.mu.Unlock()
		if held > 0 {
			return &BudgetError{Msg: fmt.Sprintf("no memory for a %d-byte command buffer: the buffers of large commands hold %d of the %d bytes this instance can lend them now; retry, or send smaller values", size, used, total)}
		}
		if timer == nil {
			timer = time.NewTimer(b.wait)
		}
		select {
		case <-ch:
		case <-timer.C:
			return &BudgetError{Msg: fmt.Sprintf("no memory for a %d-byte command buffer within %s: the buffers of large commands hold %d of the %d bytes this instance can lend them now; retry, or send smaller values", size, b.wait, used, total)}
		}
	}
}

// release gives n bytes back and wakes the Readers waiting for them.
func (b *Budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}
