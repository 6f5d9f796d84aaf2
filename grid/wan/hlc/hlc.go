// Package hlc is a hybrid logical clock: timestamps that follow the wall clock in
// milliseconds, never go backwards, are unique per clock, and move past any timestamp
// the clock has seen from elsewhere (Kulkarni et al., "Logical Physical Clocks", 2014).
// A timestamp is a uint64: the wall time in milliseconds since the Unix epoch in the high
// 48 bits, a logical counter in the low 16, so timestamps compare as integers.
package hlc

import (
	"sync"
	"time"
)

// logicalBits is the width of the logical counter.
const logicalBits = 16

// Clock issues timestamps. The zero value is not usable: use New.
type Clock struct {
	mu   sync.Mutex
	last uint64
	now  func() time.Time
}

// New returns a clock reading now (time.Now when nil).
func New(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Make is the timestamp of wall time ms (milliseconds since the Unix epoch) and counter c.
func Make(ms int64, c uint16) uint64 { return uint64(ms)<<logicalBits | uint64(c) }

// Millis is the wall time part of ts in milliseconds since the Unix epoch.
func Millis(ts uint64) int64 { return int64(ts >> logicalBits) }

// Time is the wall time part of ts.
func Time(ts uint64) time.Time { return time.UnixMilli(Millis(ts)) }

// Now returns a timestamp greater than every one Now returned or Observe saw before. When
// the counter of a millisecond runs out, the timestamp moves into the next millisecond
// (ahead of the wall clock for a moment), as a burst of over 65536 events in one
// millisecond must still be ordered.
func (c *Clock) Now() uint64 {
	wall := Make(c.now().UnixMilli(), 0)
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall > c.last {
		c.last = wall
	} else {
		c.last++
	}
	return c.last
}

// Observe moves the clock past ts, a timestamp from elsewhere (a replicated change): every
// later Now is greater.
func (c *Clock) Observe(ts uint64) {
	c.mu.Lock()
	if ts > c.last {
		c.last = ts
	}
	c.mu.Unlock()
}

// Last is the newest timestamp issued or observed.
func (c *Clock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
