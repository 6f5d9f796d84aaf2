package hlc

import (
	"sync"
	"testing"
	"time"
)

func TestNowIsStrictlyIncreasingWhenTheWallClockStandsStillOrGoesBack(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	c := New(func() time.Time { return wall })
	a := c.Now()
	b := c.Now()
	if b <= a || Millis(a) != 1_000_000 {
		t.Fatalf("Now: %d then %d, want increasing at ms 1000000", a, b)
	}
	wall = wall.Add(-time.Second) // the wall clock steps back
	if d := c.Now(); d <= b {
		t.Fatalf("after the wall clock went back: %d, not after %d", d, b)
	}
	wall = wall.Add(time.Hour)
	if e := c.Now(); Millis(e) != wall.UnixMilli() || e&0xffff != 0 {
		t.Fatalf("after the wall clock moved on: %d (ms %d), want ms %d counter 0", e, Millis(e), wall.UnixMilli())
	}
}

func TestObserveMovesPastARemoteTimestamp(t *testing.T) {
	c := New(func() time.Time { return time.UnixMilli(5) })
	remote := Make(9_000, 7)
	c.Observe(remote)
	if n := c.Now(); n <= remote {
		t.Fatalf("Now after Observe(%d) = %d, want greater", remote, n)
	}
	c.Observe(Make(1, 0)) // an older one changes nothing
	if c.Last() <= remote {
		t.Fatalf("Last %d went back", c.Last())
	}
}

func TestNowIsUniqueAcrossGoroutines(t *testing.T) {
	c := New(nil)
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				ts := c.Now()
				mu.Lock()
				if seen[ts] {
					t.Errorf("timestamp %d issued twice", ts)
				}
				seen[ts] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
