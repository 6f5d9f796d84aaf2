package store

import (
	"fmt"
	"runtime"
	"testing"
)

// TestZSetUsedMemoryCountsEachByteOnce loads a sorted set of n members and compares what
// UsedMemory grew by with what was allocated for it, measured apart from the store's own
// counters: the Go heap's live bytes (after a GC, as the runtime reports them) plus the
// arena pages the members touched. The runtime's memory is recorded as a running server's
// sampler records it, live heap included; the member table lives on that heap, so a store
// that counts it in its data memory and again in the runtime's is about 17 bytes per
// member over.
func TestZSetUsedMemoryCountsEachByteOnce(t *testing.T) {
	const n = 200_000
	s := New(1 << 20)
	members := make([][]byte, n)
	scores := make([]float64, n)
	for i := range n {
		members[i] = fmt.Appendf(nil, "member:%07d", i)
		scores[i] = float64(i)
	}
	heapLive := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	// The arena's first page directory (its Go-side bookkeeping, in the runtime's part)
	// comes with the first record: before the measurement.
	must[SetResult](t)(s.Set(nil, b("first"), b("v"), SetOptions{}))
	heap0 := heapLive()
	s.SetRuntimeMemory(heap0)
	used0, arena0, index0 := s.UsedMemory(), s.ArenaMemory(), s.IndexBytes()
	for i := 0; i < n; i += 1000 {
		must[ZAddResult](t)(s.ZAdd(b("z"), ZAddFlags{}, members[i:i+1000], scores[i:i+1000]))
	}
	heap1 := heapLive()
	s.SetRuntimeMemory(heap1)
	accounted := s.UsedMemory() - used0
	measured := (s.ArenaMemory() - arena0) + (heap1 - heap0)
	index := s.IndexBytes() - index0
	runtime.KeepAlive(members)
	runtime.KeepAlive(scores)
	t.Logf("%d members: used memory +%d (%.1f B/member), measured +%d (%.1f B/member: arena %d, Go heap %d), tables +%d",
		n, accounted, float64(accounted)/n, measured, float64(measured)/n, s.ArenaMemory()-arena0, heap1-heap0, index)
	if index < 8*n {
		t.Fatalf("the tables grew by %d bytes for %d members: not a large sorted set", index, n)
	}
	// What a GC leaves on the heap besides the set varies by a few kilobytes: allow a
	// byte per member, against the 17 of a member table counted twice.
	if diff := index - (heap1 - heap0); diff > n || diff < -n {
		t.Errorf("the store counts %d bytes of tables on the Go heap, which grew by %d", index, heap1-heap0)
	}
	if diff := accounted - measured; diff > n || diff < -n {
		t.Errorf("used memory grew by %d bytes, the allocations by %d: %+.1f B/member", accounted, measured, float64(diff)/n)
	}
}
