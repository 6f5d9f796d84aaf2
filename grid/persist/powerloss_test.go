package persist

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/store"
)

// TestPowerLossAlways: with appendfsync always, writers whose replies waited for the
// fsync lose nothing when the machine loses power mid-load (a file system that keeps
// only synced bytes), whatever moment it strikes.
func TestPowerLossAlways(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			fsys := newStrictFS()
			a := openJournal(t, Config{Dir: "/data", FS: fsys, Fsync: FsyncAlways})
			stop := run(t, a.j)
			var mu sync.Mutex
			var acked []string
			var wg sync.WaitGroup
			quit := make(chan struct{})
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-quit:
							return
						default:
						}
						key := fmt.Sprintf("w%d:%d", w, i)
						if _, err := a.s.Set(nil, []byte(key), []byte(key), store.SetOptions{}); err != nil {
							t.Error(err)
							return
						}
						if !a.j.Wait(a.num.head()) {
							return // the power is gone: never acknowledged
						}
						mu.Lock()
						acked = append(acked, key)
						mu.Unlock()
					}
				}()
			}
			// Let some writes be acknowledged, then cut the power while they go on.
			waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 50*(round+1) })
			after := fsys.Crash()
			mu.Lock()
			ackedAtCrash := slicesClone(acked)
			mu.Unlock()
			close(quit)
			_ = stop() // it fails: the disk is gone
			wg.Wait()
			b := openJournal(t, Config{Dir: "/data", FS: after, Fsync: FsyncAlways})
			for _, key := range ackedAtCrash {
				if v, ok, _ := b.s.Get(nil, []byte(key)); !ok || string(v) != key {
					t.Fatalf("acknowledged %s lost by the power loss (%d acknowledged, %d keys recovered)", key, len(ackedAtCrash), b.s.Keys())
				}
			}
			t.Logf("%d acknowledged before the power loss, %d keys recovered", len(ackedAtCrash), b.s.Keys())
		})
	}
}

// TestPowerLossEverysec: with everysec, a power loss keeps every write up to the last
// second's fsync and loses what came after it — at most the window. The ticks are the
// test's, so the window is exact.
func TestPowerLossEverysec(t *testing.T) {
	fsys := newStrictFS()
	tick := make(chan time.Time)
	cfg := Config{Dir: "/data", FS: fsys, Fsync: FsyncEverysec, tick: tick}
	a := openJournal(t, cfg)
	stop := run(t, a.j)
	set := func(prefix string, n int) {
		for i := range n {
			key := fmt.Sprintf("%s:%d", prefix, i)
			must[store.SetResult](t)(a.s.Set(nil, []byte(key), []byte(key), store.SetOptions{}))
		}
	}
	set("before", 100)
	head := a.num.head()
	if !a.j.Wait(head) { // written: a kill -9 would lose none of them
		t.Fatal("Wait refused")
	}
	tick <- time.Now()
	waitFor(t, func() bool { return a.j.Status().SyncedOffset >= head }) // the second's fsync
	set("window", 100)
	// Written to the file (the writer is idle again), never synced.
	waitFor(t, func() bool { a.j.mu.Lock(); defer a.j.mu.Unlock(); return len(a.j.buf) == 0 })
	after := fsys.Crash()
	_ = stop()
	b := openJournal(t, Config{Dir: "/data", FS: after, Fsync: FsyncEverysec})
	for i := range 100 {
		if _, ok, _ := b.s.Get(nil, fmt.Appendf(nil, "before:%d", i)); !ok {
			t.Fatalf("before:%d, synced by the last tick, was lost", i)
		}
		if _, ok, _ := b.s.Get(nil, fmt.Appendf(nil, "window:%d", i)); ok {
			t.Fatalf("window:%d, never synced, survived: the file system is not dropping unsynced bytes", i)
		}
	}
	if b.rec.Cut != "" {
		t.Logf("cut: %s", b.rec.Cut)
	}
}

// TestPowerLossDuringSnapshot: a power loss while a snapshot is written leaves the
// previous snapshot and every journal after it, which recover everything synced.
func TestPowerLossDuringSnapshot(t *testing.T) {
	fsys := newStrictFS()
	cfg := Config{Dir: "/data", FS: fsys, Fsync: FsyncAlways, RewritePercentage: 1, RewriteMinSize: 1}
	a := openJournal(t, cfg)
	stop := run(t, a.j)
	var want []string
	for i := range 300 {
		key := fmt.Sprintf("k%d", i)
		must[store.SetResult](t)(a.s.Set(nil, []byte(key), []byte(key), store.SetOptions{}))
		if !a.j.Wait(a.num.head()) {
			t.Fatal("Wait refused")
		}
		want = append(want, key)
		if i == 200 {
			waitFor(t, func() bool { return a.j.rewrites.Load() > 0 })
		}
	}
	after := fsys.Crash()
	_ = stop()
	t.Logf("files at the power loss: %s", fsys.files())
	b := openJournal(t, Config{Dir: "/data", FS: after, Fsync: FsyncAlways})
	for _, key := range want {
		if _, ok, _ := b.s.Get(nil, []byte(key)); !ok {
			t.Fatalf("acknowledged %s lost (recovery %+v)", key, b.rec)
		}
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }
