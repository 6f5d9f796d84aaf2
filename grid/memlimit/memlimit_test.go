package memlimit

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestDefaultsFollowTheLimit(t *testing.T) {
	for _, tc := range []struct {
		limit, maxmem, backlog int64
	}{
		{0, 0, 64 << 20},
		{256 << 20, 256<<20 - 24<<20 - 8<<20, 16 << 20},
		{1 << 30, 1<<30 - 24<<20 - 32<<20, 64 << 20},
		{32 << 20, 16 << 20, 2 << 20}, // the reserve never takes more than half
	} {
		if got := DefaultMaxMemory(tc.limit); got != tc.maxmem {
			t.Errorf("DefaultMaxMemory(%d) = %d, want %d", tc.limit, got, tc.maxmem)
		}
		if got := DefaultBacklog(tc.limit); got != tc.backlog {
			t.Errorf("DefaultBacklog(%d) = %d, want %d", tc.limit, got, tc.backlog)
		}
	}
}

type fakeStore struct{ data, max, runtime int64 }

func (f *fakeStore) DataMemory() int64        { return f.data }
func (f *fakeStore) MaxMemory() int64         { return f.max }
func (f *fakeStore) SetRuntimeMemory(n int64) { f.runtime = n }

func TestSampleLowersTheRuntimeLimitAsDataGrows(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	st := &fakeStore{data: 100 << 20, max: 200 << 20}
	Sample(st)
	if st.runtime <= 0 {
		t.Fatalf("runtime memory recorded %d", st.runtime)
	}
	if got := debug.SetMemoryLimit(-1); got != 100<<20 {
		t.Fatalf("runtime soft limit %d, want what the data leaves (%d)", got, 100<<20)
	}
	st.data = 199 << 20
	Sample(st)
	if got := debug.SetMemoryLimit(-1); got != floor {
		t.Fatalf("runtime soft limit %d, want the floor %d", got, floor)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	Sample(&fakeStore{})
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("without maxmemory the runtime limit changed to %d", got)
	}
}
