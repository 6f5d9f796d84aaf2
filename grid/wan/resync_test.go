package wan

import (
	"fmt"
	"testing"

	"github.com/insightgrid/insight/grid/slots"
)

// TestAResyncSendsEveryKeyOnceOldestFirstInBatches writes keys across many slots (some
// twice) with the target out of sync, and resynchronizes it in batches smaller than
// the backlog: every key arrives once, at its last write, the batches oldest first.
func TestAResyncSendsEveryKeyOnceOldestFirstInBatches(t *testing.T) {
	a := newSite(t, "a", func(c *Config) { c.OutboxMax = 10; c.Mode = ModeOutOfSync }, "b")
	const n = 3000
	for i := range n {
		a.set(t, fmt.Sprintf("k%d", i), "v1")
	}
	for i := 0; i < n; i += 3 {
		a.set(t, fmt.Sprintf("k%d", i), "v2") // rewritten: sent once, at the second write
	}
	dst := newSite(t, "b", nil, "a")
	seen := map[string]int{}
	var last uint64
	for round := 0; ; round++ {
		if round > n {
			t.Fatalf("still resynchronizing after %d pulls", round)
		}
		b, err := a.tr.Pull("b", 128, a.rec)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Changes) == 0 {
			break
		}
		if len(b.Changes) > 128 {
			t.Fatalf("a batch of %d changes, want at most 128", len(b.Changes))
		}
		for _, c := range b.Changes {
			if c.HLC <= last {
				t.Fatalf("change %s@%d after one at %d: want oldest first", c.Key, c.HLC, last)
			}
			last = c.HLC
			seen[string(c.Key)]++
		}
		ship(t, a, dst, b)
	}
	if len(seen) != n {
		t.Fatalf("%d keys sent by the resync, want %d", len(seen), n)
	}
	for i := range n {
		k, want := fmt.Sprintf("k%d", i), "v1"
		if i%3 == 0 {
			want = "v2"
		}
		if seen[k] != 1 {
			t.Fatalf("%s sent %d times, want once", k, seen[k])
		}
		if v, _ := dst.get(t, k); v != want {
			t.Fatalf("%s = %q at b, want %q", k, v, want)
		}
	}
	if st := a.tr.Status(); st.Targets[0].OutOfSync || st.Targets[0].Backlog != 0 {
		t.Fatalf("after the resync: %+v, want in sync without backlog", st.Targets[0])
	}
}

// BenchmarkResyncPull is one pull of a resynchronization at its start: a partition
// holding 500000 keys written since the target's acknowledgement, batches of 2048.
func BenchmarkResyncPull(b *testing.B) {
	const n = 500_000
	a := newSite(b, "a", func(c *Config) { c.OutboxMax = 1000; c.Mode = ModeOutOfSync }, "b")
	a.st.SetJournal(nil)
	discard := func(int, []byte) {}
	for i := range n {
		k := fmt.Appendf(nil, "cv:%d", i)
		a.tr.note(slots.Of(k), k, nil, discard)
	}
	b.ResetTimer()
	for range b.N {
		bt, err := a.tr.Pull("b", 2048, discard)
		if err != nil || !bt.Resync || len(bt.Changes) != 2048 {
			b.Fatalf("pull: %d changes, resync %v, %v", len(bt.Changes), bt.Resync, err)
		}
	}
}
