package store

import (
	"fmt"
	"sync"
	"testing"
)

// A KEYS over a slot larger than one scan step, while another client deletes and inserts
// keys of that slot (moving entries, resizing its table), returns every key present
// throughout exactly once.
func TestKeysOverABusySlotReturnsStableKeysOnce(t *testing.T) {
	s := New(1 << 20)
	const stable, churn = 6000, 6000
	for i := range stable {
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "{slot}s%d", i), b("v"), SetOptions{}))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for round := 0; ; round++ {
			for i := range churn {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Appendf(nil, "{slot}c%d", i)
				if round%2 == 0 {
					must[SetResult](t)(s.Set(nil, k, b("v"), SetOptions{}))
				} else {
					s.Del(k)
				}
			}
		}
	}()
	for range 20 {
		seen := map[string]int{}
		for _, k := range s.KeysMatching(b("{slot}s*")) {
			seen[string(k)]++
		}
		for i := range stable {
			if n := seen[fmt.Sprintf("{slot}s%d", i)]; n != 1 {
				close(stop)
				wg.Wait()
				t.Fatalf("key {slot}s%d returned %d times", i, n)
			}
		}
		if len(seen) != stable {
			t.Fatalf("%d keys returned, want %d", len(seen), stable)
		}
	}
	close(stop)
	wg.Wait()
}
