// Package memlimit sizes a data instance from its container's memory limit and keeps the
// process under it: the store's arena holds the data outside the Go heap, the Go runtime
// holds connections, buffers and the redo ring, and the two together are what maxmemory
// bounds. A watcher tells the store how much the runtime holds and lowers the runtime's
// own soft limit (GOMEMLIMIT) as the data grows, so the collector works harder before the
// process could pass the limit. It must not depend on the network or etcd.
package memlimit

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// cgroupLimitFiles hold the container's memory limit, cgroup v2 then v1.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// Container returns the memory limit of the container the process runs in, from the
// cgroup files, and the file it came from; 0 when there is none.
func Container() (int64, string) {
	for _, f := range cgroupLimitFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v <= 0 || v >= 1<<60 {
			continue // "max" or the v1 "unlimited" sentinel
		}
		return v, f
	}
	return 0, ""
}

// Limit is the memory the process must stay under and where it comes from: the smaller of
// GOMEMLIMIT (which the chart sets to the container's limits.memory) and the container's
// cgroup limit; 0 when neither is set.
func Limit() (int64, string) {
	limit, source := Container()
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 && (limit == 0 || l < limit) {
		limit, source = l, "GOMEMLIMIT"
	}
	return limit, source
}

// Reserve is the part of a limit that neither the store nor the Go runtime counts: the
// binary's code and data, the threads' system stacks, the kernel's socket buffers charged
// to the container, and a margin for the moment between two samples of the watcher.
func Reserve(limit int64) int64 { return 24<<20 + limit/32 }

// DefaultMaxMemory is maxmemory when none is configured: the limit less the reserve; 0 (no
// limit) without a limit.
func DefaultMaxMemory(limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	return max(limit-Reserve(limit), limit/2)
}

// QueryBufferBudget is what the buffers of large commands may hold together, all clients
// included, under a limit (a quarter of its reserve, since they are not counted before they are
// read); 0, no bound, without a limit.
func QueryBufferBudget(limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	return Reserve(limit) / 4
}

// DefaultBacklog is the redo ring's size when none is configured: 64 MiB, or 1/16 of a
// smaller limit, since the ring lives within maxmemory.
func DefaultBacklog(limit int64) int64 {
	if limit <= 0 {
		return 64 << 20
	}
	return min(64<<20, max(limit/16, 1<<20))
}

var samples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
}

// Runtime is the memory the Go runtime holds from the system and has not given back: heap
// (in use or free), stacks and the runtime's own structures.
func Runtime() int64 {
	s := make([]metrics.Sample, len(samples))
	copy(s, samples)
	metrics.Read(s)
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}

// Store is what the watcher needs of the store.
type Store interface {
	// DataMemory is the bytes the data keeps resident: outside the Go heap (the arena)
	// and its tables on the Go heap.
	DataMemory() int64
	// MaxMemory is the limit that data and runtime together must stay under; 0: none.
	MaxMemory() int64
	// SetRuntimeMemory records what the Go runtime holds, counted with the data.
	SetRuntimeMemory(n int64)
}

// floor is the least soft limit the runtime gets however full the store is: below it the
// collector would run without end for the memory connections need.
const floor = 16 << 20

// While neither the data nor the runtime grows, Watch samples less often: the pause
// doubles up to idleFactor times its interval, so an idle instance wakes a few times a
// second instead of fifty; the first growth it sees brings the interval back. Shrinking
// memory needs no haste (the recorded use only overstates), growth of the runtime by less
// than idleSlack is noise (the scavenger, a timer).
const (
	idleFactor = 16
	idleSlack  = 256 << 10
)

// Watch samples the runtime's memory until ctx ends, every interval while memory grows and
// less often while it stays put: it records it in st and, when st has a limit, sets the
// runtime's soft limit to what the data leaves of it.
func Watch(ctx context.Context, st Store, interval time.Duration) {
	wait := interval
	t := time.NewTimer(wait)
	defer t.Stop()
	rt, data := sample(st)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		prevRT, prevData := rt, data
		rt, data = sample(st)
		if data > prevData || rt-prevRT >= idleSlack {
			wait = interval
		} else {
			wait = min(2*wait, idleFactor*interval)
		}
		t.Reset(wait)
	}
}

// Sample is one round of Watch.
func Sample(st Store) { sample(st) }

// sample is one round of Watch; it returns the runtime's and the data's memory it used.
func sample(st Store) (runtime, data int64) {
	runtime = Runtime()
	st.SetRuntimeMemory(runtime)
	// The soft limit is what maxmemory leaves of all the data. The data's tables are on
	// the Go heap, so they are left out twice: that spare is the room for what the runtime
	// cannot see and the cgroup charges (the kernel's socket buffers under a burst of
	// large values), which keeps the fill test's instance under its memory limit.
	data = st.DataMemory()
	if m := st.MaxMemory(); m > 0 {
		debug.SetMemoryLimit(max(m-data, floor))
	}
	return runtime, data
}
