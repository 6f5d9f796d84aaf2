package store

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

const (
	evictOld = 3000 // keys written before maxmemory is reached; the first half volatile
	evictNew = 1000 // keys written past it
)

// fillPastMaxMemory writes evictOld keys under policy p, the first half with an expiry
// growing with the index, accesses every fourth key (hot) after the others, then makes
// the memory used the limit and writes evictNew more keys. It returns the first error.
func fillPastMaxMemory(t *testing.T, p Policy) (*Store, error) {
	t.Helper()
	s, now := newTestStore()
	s.SetPolicy(p)
	val := make([]byte, 40)
	for i := range evictOld {
		o := SetOptions{}
		if i < evictOld/2 {
			o.At = *now + 3_600_000 + int64(i)*60_000
		}
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "k:%d", i), val, o))
	}
	if !p.LFU() {
		*now += 100_000 // the LRU clock counts seconds
	}
	for i := 0; i < evictOld; i += 4 {
		for range 30 {
			if _, ok, _ := s.Get(nil, fmt.Appendf(nil, "k:%d", i)); !ok {
				t.Fatalf("k:%d missing", i)
			}
		}
	}
	if !p.LFU() {
		*now += 100_000
	}
	s.SetMaxMemory(s.UsedMemory())
	for i := range evictNew {
		if _, err := s.Set(nil, fmt.Appendf(nil, "n:%d", i), val, SetOptions{}); err != nil {
			return s, fmt.Errorf("write %d past maxmemory: %w", i, err)
		}
	}
	return s, nil
}

// survival counts the old keys i in [lo, hi) for which keep(i) holds, and those of them
// still there.
func survival(s *Store, lo, hi int, keep func(i int) bool) (n, there int) {
	for i := lo; i < hi; i++ {
		if keep(i) {
			n++
			if s.Exists(fmt.Appendf(nil, "k:%d", i)) {
				there++
			}
		}
	}
	return n, there
}

func TestEvictionPolicies(t *testing.T) {
	hot := func(i int) bool { return i%4 == 0 }
	cold := func(i int) bool { return i%4 != 0 }
	all := func(int) bool { return true }
	vol, persistent := evictOld/2, evictOld
	// A bound is on the share of the keys of a set still there or, with share, on the
	// share of the evictions that took keys of the set.
	type bound struct {
		name     string
		lo, hi   int
		keep     func(int) bool
		share    bool
		min, max float64
	}
	for _, tc := range []struct {
		policy Policy
		bounds []bound
	}{
		{PolicyAllKeysLRU, []bound{{"hot", 0, evictOld, hot, false, 0.95, 1}, {"cold", 0, evictOld, cold, true, 0.9, 1}}},
		{PolicyAllKeysLFU, []bound{{"hot", 0, evictOld, hot, false, 0.95, 1}, {"cold", 0, evictOld, cold, true, 0.6, 1}}},
		{PolicyAllKeysRandom, []bound{{"hot", 0, evictOld, hot, true, 0.1, 0.3}, {"cold", 0, evictOld, cold, true, 0.4, 0.85}}},
		{PolicyVolatileLRU, []bound{{"hot volatile", 0, vol, hot, false, 0.95, 1}, {"cold volatile", 0, vol, cold, true, 0.9, 1}, {"persistent", vol, persistent, all, false, 1, 1}}},
		{PolicyVolatileLFU, []bound{{"hot volatile", 0, vol, hot, false, 0.95, 1}, {"cold volatile", 0, vol, cold, true, 0.9, 1}, {"persistent", vol, persistent, all, false, 1, 1}}},
		{PolicyVolatileRandom, []bound{{"hot volatile", 0, vol, hot, true, 0.15, 0.35}, {"volatile", 0, vol, all, true, 1, 1}, {"persistent", vol, persistent, all, false, 1, 1}}},
		{PolicyVolatileTTL, []bound{{"shortest third of TTLs", 0, vol / 3, all, true, 0.6, 1}, {"longest sixth of TTLs", vol * 5 / 6, vol, all, false, 0.95, 1}, {"persistent", vol, persistent, all, false, 1, 1}}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			s, err := fillPastMaxMemory(t, tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			ev := s.EvictedKeys()
			if ev < evictNew/4 || s.Keys()+ev != evictOld+evictNew {
				t.Fatalf("%d keys, %d evicted, want %d in all and a few hundred evicted", s.Keys(), ev, evictOld+evictNew)
			}
			if used, m := s.UsedMemory(), s.MaxMemory(); used > m+m/50 {
				t.Errorf("used memory %d, maxmemory %d", used, m)
			}
			for _, b := range tc.bounds {
				n, there := survival(s, b.lo, b.hi, b.keep)
				got := float64(there) / float64(n)
				if b.share {
					got = float64(n-there) / float64(ev)
				}
				t.Logf("%s keys (share of evictions: %v): %.2f", b.name, b.share, got)
				if got < b.min || got > b.max {
					t.Errorf("%s keys (share of evictions: %v): %.2f, want %.2f to %.2f (%d evicted)", b.name, b.share, got, b.min, b.max, ev)
				}
			}
		})
	}
}

func TestNoEvictionRefusesWrites(t *testing.T) {
	s, err := fillPastMaxMemory(t, PolicyNoEviction)
	if !errors.Is(err, ErrOOM) || s.EvictedKeys() != 0 {
		t.Fatalf("noeviction past maxmemory: %v, %d evicted", err, s.EvictedKeys())
	}
}

func TestVolatilePolicyWithoutVolatileKeysRefuses(t *testing.T) {
	for _, p := range []Policy{PolicyVolatileLRU, PolicyVolatileLFU, PolicyVolatileRandom, PolicyVolatileTTL} {
		s, _ := newTestStore()
		s.SetPolicy(p)
		val := make([]byte, 40)
		for i := range 500 {
			must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "k:%d", i), val, SetOptions{}))
		}
		s.SetMaxMemory(s.UsedMemory())
		var err error
		for i := 0; err == nil && i < 1000; i++ {
			_, err = s.Set(nil, fmt.Appendf(nil, "n:%d", i), val, SetOptions{})
		}
		if !errors.Is(err, ErrOOM) || s.EvictedKeys() != 0 {
			t.Errorf("%s without volatile keys: %v, %d evicted", p, err, s.EvictedKeys())
		}
	}
}

func TestEvictionsJournaledAsDeletes(t *testing.T) {
	s, now := newTestStore()
	dst, _ := newTestStore()
	s.SetJournal(&replica{t: t, dst: dst})
	s.SetPolicy(PolicyAllKeysLRU)
	val := make([]byte, 100)
	for i := range 2000 {
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "k:%d", i), val, SetOptions{}))
		if i%3 == 0 {
			must[int64](t)(s.HSet(fmt.Appendf(nil, "h:%d", i), [][]byte{b("f"), val}))
		}
	}
	*now += 5000
	s.SetMaxMemory(s.UsedMemory())
	for i := range 1000 {
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "n:%d", i), val, SetOptions{}))
	}
	if s.EvictedKeys() == 0 {
		t.Fatal("nothing evicted")
	}
	if dump(s) != dump(dst) || s.Keys() != dst.Keys() {
		t.Fatalf("the replica differs after %d evictions: %d keys, primary %d", s.EvictedKeys(), dst.Keys(), s.Keys())
	}
}

func TestEvictionPolicyNames(t *testing.T) {
	for _, n := range PolicyNames() {
		p, ok := ParsePolicy(n)
		if !ok || p.String() != n {
			t.Errorf("%s: %v %v", n, p, ok)
		}
	}
	if p, ok := ParsePolicy("ALLKEYS-LFU"); !ok || p != PolicyAllKeysLFU {
		t.Errorf("ALLKEYS-LFU: %v %v", p, ok)
	}
	if _, ok := ParsePolicy("lru"); ok {
		t.Error("lru parsed")
	}
}

func TestObjectIdleTimeAndFreq(t *testing.T) {
	s, now := newTestStore()
	must[SetResult](t)(s.Set(nil, b("k"), b("v"), SetOptions{}))
	*now += 10_500
	if secs, ok := s.ObjectIdleTime(b("k")); !ok || secs != 10 {
		t.Fatalf("idle %d %v, want 10", secs, ok)
	}
	// TYPE, TTL and OBJECT do not count as accesses; GET does.
	s.Type(b("k"))
	s.TTL(b("k"))
	if secs, _ := s.ObjectIdleTime(b("k")); secs != 10 {
		t.Fatalf("idle %d after TYPE and TTL, want 10", secs)
	}
	_, _, _ = s.Get(nil, b("k"))
	if secs, _ := s.ObjectIdleTime(b("k")); secs != 0 {
		t.Fatalf("idle %d after GET, want 0", secs)
	}
	// An overwrite keeps the key's clock, as Redis keeps an LFU counter.
	s.SetPolicy(PolicyAllKeysLFU)
	must[SetResult](t)(s.Set(nil, b("f"), b("v"), SetOptions{}))
	if freq, ok := s.ObjectFreq(b("f")); !ok || freq != lfuInitVal {
		t.Fatalf("freq of a new key %d %v, want %d", freq, ok, lfuInitVal)
	}
	_, _, _ = s.Get(nil, b("f")) // from the initial value the counter grows at the first access
	if freq, _ := s.ObjectFreq(b("f")); freq != lfuInitVal+1 {
		t.Fatalf("freq after GET %d, want %d", freq, lfuInitVal+1)
	}
	must[SetResult](t)(s.Set(nil, b("f"), b("a value long enough to move the record"), SetOptions{}))
	f, _ := s.ObjectFreq(b("f"))
	if f != lfuInitVal+1 && f != lfuInitVal+2 {
		t.Fatalf("freq after GET and SET %d, want %d or %d", f, lfuInitVal+1, lfuInitVal+2)
	}
	*now += 3 * 60_000 // lfu-decay-time 1: one less per idle minute
	if freq, _ := s.ObjectFreq(b("f")); freq != f-3 {
		t.Fatalf("freq after 3 idle minutes %d, want %d", freq, f-3)
	}
	s.SetLFUDecayTime(0)
	if freq, _ := s.ObjectFreq(b("f")); freq != f {
		t.Fatalf("freq without decay %d, want %d", freq, f)
	}
	if _, ok := s.ObjectFreq(b("nokey")); ok {
		t.Fatal("freq of a missing key")
	}
}

func TestLFUCounterIsLogarithmic(t *testing.T) {
	c := uint32(lfuInitVal)
	for range 1000 {
		c = lfuIncr(c, defLogFactor)
	}
	// Redis's table for lfu-log-factor 10: 1K hits reach about 18, 100K about 142.
	if c < 12 || c > 26 {
		t.Fatalf("counter after 1000 hits %d, want about 18", c)
	}
	for range 99_000 {
		c = lfuIncr(c, defLogFactor)
	}
	if c < 120 || c > 170 {
		t.Fatalf("counter after 100K hits %d, want about 142", c)
	}
}

// TestAccessClockBytesPerKey measures what the access clock costs: the arena bytes per
// key with it, against the chunk the record would take without it.
func TestAccessClockBytesPerKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		val  int
	}{
		{"string 100 B", "key:000000000000", 100},
		{"string 1 KiB", "key:000000000000", 1024},
		{"string 10 B", "key:000000000000", 10},
	} {
		s, _ := newTestStore()
		const n = 1000
		for i := range n {
			key := fmt.Appendf(nil, "%s%d", tc.key[:len(tc.key)-4], 1000+i)
			must[SetResult](t)(s.Set(nil, key, make([]byte, tc.val), SetOptions{}))
		}
		got := s.DatasetBytes() / n
		before := int64(slab.ChunkSize(recordLen([]byte(tc.key), 0, tc.val)))
		if want := int64(slab.ChunkSize(keyLen([]byte(tc.key), 0, tc.val))); got != want {
			t.Errorf("%s: %d bytes per key, want %d", tc.name, got, want)
		}
		t.Logf("%s: %d arena bytes per key, %d without the access clock", tc.name, got, before)
	}
	// Over every value size up to 256 bytes the clock costs its 4 bytes on average: a
	// record crosses into the next 16-byte class a quarter of the time.
	var with, without int
	for v := range 256 {
		with += slab.ChunkSize(keyLen([]byte("key:000000000000"), 0, v))
		without += slab.ChunkSize(recordLen([]byte("key:000000000000"), 0, v))
	}
	if d := float64(with-without) / 256; d > 4.5 {
		t.Errorf("the clock costs %.1f bytes per key on average", d)
	}
}

// TestConcurrentEviction writes past maxmemory from several goroutines while others read:
// writers evict from each other's slots without a deadlock or a refused write.
func TestConcurrentEviction(t *testing.T) {
	s := New(1 << 20)
	s.SetPolicy(PolicyAllKeysLRU)
	val := make([]byte, 64)
	for i := range 2000 {
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "k:%d", i), val, SetOptions{}))
	}
	s.SetMaxMemory(s.UsedMemory())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				if _, err := s.Set(nil, fmt.Appendf(nil, "g%d:%d", g, i), val, SetOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 2000 {
				_, _, _ = s.Get(nil, fmt.Appendf(nil, "k:%d", i))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s.EvictedKeys() == 0 {
		t.Fatal("nothing evicted")
	}
}

// BenchmarkSetPastMaxMemory is SET of new 100-byte values into a store full at maxmemory:
// under an eviction policy each write evicts (about) one key first; under noeviction it is
// refused, and "no limit" is the same SET into a store without maxmemory, the baseline.
func BenchmarkSetPastMaxMemory(b *testing.B) {
	const noLimit = Policy(255)
	for _, p := range []Policy{PolicyNoEviction, PolicyAllKeysLRU, PolicyAllKeysLFU, PolicyAllKeysRandom, PolicyVolatileTTL, noLimit} {
		name := "no limit"
		if p != noLimit {
			name = p.String()
		}
		b.Run(name, func(b *testing.B) {
			s := New(1 << 20)
			val := make([]byte, 100)
			o := SetOptions{At: s.Now() + 3_600_000} // volatile, for volatile-ttl
			for i := range 100_000 {
				o.At++
				must[SetResult](b)(s.Set(nil, fmt.Appendf(nil, "key:%012d", i), val, o))
			}
			if p != noLimit {
				s.SetPolicy(p)
				s.SetMaxMemory(s.UsedMemory())
			}
			key := make([]byte, 0, 32)
			i := 100_000
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				o.At++
				key = fmt.Appendf(key[:0], "key:%012d", i)
				i++
				if _, err := s.Set(nil, key, val, o); err != nil && p != PolicyNoEviction {
					b.Fatal(err)
				}
			}
			// CPU time, unlike wall time, does not count waiting for a core on a busy machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(s.EvictedKeys())/float64(b.N), "evictions/op")
		})
	}
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// TestEvictToLimitAfterMaxMemoryLowered is CONFIG SET maxmemory below used memory: the
// next write command evicts a bounded batch before it runs; noeviction refuses it.
func TestEvictToLimitAfterMaxMemoryLowered(t *testing.T) {
	s, _ := newTestStore()
	val := make([]byte, 100)
	for i := range 5000 {
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "k:%d", i), val, SetOptions{}))
	}
	s.SetMaxMemory(s.UsedMemory() / 2)
	if s.EvictToLimit() {
		t.Fatal("noeviction over maxmemory lets a write command run")
	}
	s.SetPolicy(PolicyAllKeysRandom)
	if !s.EvictToLimit() || s.EvictedKeys() == 0 || s.EvictedKeys() > maxEvictionsPerCall {
		t.Fatalf("allkeys-random: %d evicted", s.EvictedKeys())
	}
}
