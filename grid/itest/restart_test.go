package itest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// instanceDir is the data directory local gives instance id.
func (g *persistGrid) instanceDir(id string) string {
	return filepath.Join(g.dir, "grid", "instances", id)
}

// holdBack keeps instance id from starting until release is called: its data directory
// is moved aside and a file put in its place, so each start local makes fails until the
// directory is back (as a pod that is scheduled late).
func (g *persistGrid) holdBack(t *testing.T, id string) (release func()) {
	t.Helper()
	dir := g.instanceDir(id)
	if err := os.Rename(dir, dir+".held"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("held back by the test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { restore(t, dir) }) }
	t.Cleanup(release)
	return release
}

// restore undoes holdBack.
func restore(t *testing.T, dir string) {
	if err := os.Remove(dir); err != nil {
		t.Error(err)
	}
	if err := os.Rename(dir+".held", dir); err != nil {
		t.Error(err)
	}
}

// cutJournalTail cuts the newest journal in dir to frac of its records' bytes,
// inside a record: the start cuts the torn record and loads the state of the disk of an
// instance that is behind. It returns the bytes removed.
func cutJournalTail(t *testing.T, dir string, frac float64) int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "journal-*.aof"))
	if err != nil || len(names) == 0 {
		t.Fatalf("journals in %s: %v, %v", dir, names, err)
	}
	slices.Sort(names)
	path := names[len(names)-1]
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	const header = 8
	keep := header + int64(float64(fi.Size()-header)*frac)
	if err := os.Truncate(path, keep); err != nil {
		t.Fatal(err)
	}
	return fi.Size() - keep
}

// waitFlushed waits until both instances of partition p report the same offset, the
// backup in sync and its journal synced up to it: every acknowledged write is on both
// disks.
func waitFlushed(t *testing.T, g *persistGrid, hl *haLocal, p int) api.Partition {
	t.Helper()
	var part api.Partition
	testutil.Eventually(t, 30*time.Second, "both disks holding every write", func() bool {
		var err error
		if part, err = hl.partition(p); err != nil || !part.InSync {
			return false
		}
		ps, err1 := hl.status(part.Primary)
		bs, err2 := hl.status(part.Backup)
		return err1 == nil && err2 == nil && ps.Persistence != nil && bs.Persistence != nil &&
			ps.Offset > 0 && bs.Offset == ps.Offset && bs.Persistence.SyncedOffset >= ps.Offset && ps.Persistence.SyncedOffset >= ps.Offset
	})
	return part
}

// lostWrites counts the acknowledged writes c does not read back as written.
func lostWrites(t *testing.T, c *redis.ClusterClient, w *haWriters) int {
	t.Helper()
	ctx := ctxT(t)
	w.mu.Lock()
	defer w.mu.Unlock()
	lost := 0
	for k, v := range w.acked {
		if got, err := c.Get(ctx, k).Result(); err != nil || got != v {
			lost++
		}
	}
	return lost
}

// killInstances kills -9 the processes of the instances ids at once (local and the
// manager stay: local restarts each after --restart-delay, as a kubelet restarts a pod)
// and waits until they are gone.
func (g *persistGrid) killInstances(t *testing.T, hl *haLocal, ids ...string) {
	t.Helper()
	var pids []int
	for _, id := range ids {
		st, err := hl.status(id)
		if err != nil {
			t.Fatalf("status of %s: %v", id, err)
		}
		pids = append(pids, st.PID)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, "the killed instances gone", func() bool {
		return !slices.ContainsFunc(pids, alive)
	})
}

// releaseWhenRegistered calls release once instance first has answered its status
// endpoint with a process of its own (it started and loaded its disk) and after more.
func releaseWhenRegistered(ctx context.Context, hl *haLocal, first string, oldPID int, after time.Duration, release func()) {
	for ctx.Err() == nil {
		if st, err := hl.status(first); err == nil && st.PID != oldPID && st.PID != 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-ctx.Done():
	case <-time.After(after):
	}
	release()
}

// TestRestartNewestDiskWins: an HA partition with appendfsync always is written, every
// process killed -9, and the recorded primary's journal cut back (as a disk that lost its
// tail). Whether everything (local, the manager, both instances) restarts together, or
// both instances are killed and the backup's instance starts first and the recorded
// primary seconds later, the manager's restart election promotes the backup's newer disk,
// the recorded primary syncs from it in full (its older records gone), and no
// acknowledged write is lost. Taking the record's primary back, as before the election,
// loses the writes its journal lost.
func TestRestartNewestDiskWins(t *testing.T) {
	for _, tc := range []struct {
		name         string
		primaryLater bool
	}{{"everything restarted together", false}, {"recorded primary started after the backup", true}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newPersistGrid(t, 1, true, "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms",
				"--appendfsync", "always", "--restart-quorum-wait", "30s")
			hl := &haLocal{base: g.base, api: g.api}
			hl.waitHealthy(t, 0, 30*time.Second)
			w := startHAWriters(g.client(t), 4)
			defer func() { w.stop(); w.done.Wait() }()
			testutil.Eventually(t, 30*time.Second, "writes going on", func() bool { return w.count() > 1500 })
			w.stop()
			w.done.Wait()
			before := waitFlushed(t, g, hl, 0)
			var cut int64
			if tc.primaryLater {
				bst, err := hl.status(before.Backup)
				if err != nil {
					t.Fatal(err)
				}
				release := g.holdBack(t, before.Primary) // the running process keeps its open files
				g.killInstances(t, hl, before.Primary, before.Backup)
				cut = cutJournalTail(t, g.instanceDir(before.Primary)+".held", 0.6)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go releaseWhenRegistered(ctx, &haLocal{base: g.base}, before.Backup, bst.PID, 3*time.Second, release)
			} else {
				g.stop(t, true)
				cut = cutJournalTail(t, g.instanceDir(before.Primary), 0.6)
				g.start(t)
				hl = &haLocal{base: g.base, api: g.api}
			}
			after := hl.waitHealthy(t, 0, 60*time.Second)
			if after.Primary != before.Backup {
				t.Errorf("primary after the restart %s, want %s, whose disk is newer (%s's journal lost %d bytes)", after.Primary, before.Backup, before.Primary, cut)
			}
			st, err1 := hl.status(before.Primary)
			bst, err2 := hl.status(before.Backup)
			if err1 != nil || err2 != nil || st.Persistence == nil || st.Persistence.Loaded == nil || bst.Persistence == nil || bst.Persistence.Loaded == nil ||
				st.Persistence.Loaded.Seq >= bst.Persistence.Loaded.Seq {
				t.Fatalf("statuses %+v, %+v (%v, %v): want the recorded primary to have loaded less than the backup", st.Persistence, bst.Persistence, err1, err2)
			}
			t.Logf("%s loaded %s (cut: %q), %s loaded %s and became primary", before.Primary, posOf(st.Persistence.Loaded), st.Persistence.Cut,
				before.Backup, posOf(bst.Persistence.Loaded))
			if lost := lostWrites(t, g.client(t), w); lost > 0 {
				t.Fatalf("%d of %d acknowledged writes lost by the restart", lost, len(w.acked))
			}
			t.Logf("%d acknowledged writes, all present", len(w.acked))
		})
	}
}

func posOf(d *cluster.DiskState) string {
	return fmt.Sprintf("epoch %d seq %d, %d keys", d.Epoch, d.Seq, d.Keys)
}

// TestRestartWholeHAGridRandomOrder: every process of an HA grid of 2 partitions (local,
// the manager, the four instances) is killed -9 under write load and started again; then,
// under write load again, the four instances are killed -9 at once and each held back a
// random 0-4 s (a random start order). Every partition serves again with its backup in
// sync each time. With appendfsync always no acknowledged write is lost; with everysec a
// process kill loses none either (each reply waited until its record was handed to the
// OS; only a power loss costs up to the last second), and the count is reported.
func TestRestartWholeHAGridRandomOrder(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run(fsync, func(t *testing.T) {
			g := newPersistGrid(t, 2, true, "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms",
				"--appendfsync", fsync, "--restart-quorum-wait", "20s")
			hl := &haLocal{base: g.base, api: g.api}
			for p := range 2 {
				hl.waitHealthy(t, p, 30*time.Second)
			}
			w := startHAWriters(g.client(t), 6)
			defer func() { w.stop(); w.done.Wait() }()
			testutil.Eventually(t, 30*time.Second, "writes going on", func() bool { return w.count() > 1000 })
			g.stop(t, true) // under load: the writers are still running
			w.stop()
			w.done.Wait()
			g.start(t)
			hl = &haLocal{base: g.base, api: g.api}
			for p := range 2 {
				hl.waitHealthy(t, p, 60*time.Second)
			}
			if lost := lostWrites(t, g.client(t), w); lost > 0 {
				t.Fatalf("appendfsync %s: %d of %d acknowledged writes lost by the whole restart", fsync, lost, len(w.acked))
			}
			first := len(w.acked)

			w2 := startHAWriters(g.client(t), 6)
			defer func() { w2.stop(); w2.done.Wait() }()
			testutil.Eventually(t, 30*time.Second, "writes going on", func() bool { return w2.count() > 1000 })
			ids := []string{"p0-i0", "p0-i1", "p1-i0", "p1-i1"}
			var order []string
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var releases []func()
			for _, id := range ids {
				releases = append(releases, g.holdBack(t, id))
			}
			g.killInstances(t, hl, ids...)
			for k, id := range ids {
				d := time.Duration(rand.N(4000)) * time.Millisecond
				order = append(order, fmt.Sprintf("%s after %s", id, d))
				go func() {
					select {
					case <-ctx.Done():
					case <-time.After(d):
					}
					releases[k]()
				}()
			}
			t.Logf("start order: %s", strings.Join(order, ", "))
			for p := range 2 {
				hl.waitHealthy(t, p, 60*time.Second)
			}
			w2.stop()
			w2.done.Wait()
			c := g.client(t)
			lost := lostWrites(t, c, w) + lostWrites(t, c, w2)
			t.Logf("appendfsync %s: %d of %d acknowledged writes lost (%d and %d writes failed around the kills)", fsync, lost, first+len(w2.acked), w.errs, w2.errs)
			if lost > 0 {
				t.Fatalf("%d acknowledged writes lost by the restarts", lost)
			}
		})
	}
}

// TestRestartOneInstanceAfterWait: only one instance of an HA partition comes back
// within the manager's --restart-quorum-wait (2 s here). The backup the record has in
// sync is promoted alone after the wait, and the primary, started later, syncs from it.
// A backup the record has out of sync (its primary went on alone and acknowledged writes
// it does not have) is not promoted however long the wait: the partition waits for its
// primary, which then serves those writes. No acknowledged write is lost either way.
func TestRestartOneInstanceAfterWait(t *testing.T) {
	for _, inSync := range []bool{true, false} {
		name := map[bool]string{true: "in-sync backup promoted", false: "out-of-sync backup waits for the primary"}[inSync]
		t.Run(name, func(t *testing.T) {
			g := newPersistGrid(t, 1, true, "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms",
				"--appendfsync", "always", "--restart-quorum-wait", "2s")
			hl := &haLocal{base: g.base, api: g.api}
			before := hl.waitHealthy(t, 0, 30*time.Second)
			c := g.client(t)
			w := startHAWriters(c, 4)
			defer func() { w.stop(); w.done.Wait() }()
			testutil.Eventually(t, 30*time.Second, "writes going on", func() bool { return w.count() > 500 })
			var releaseBackup func()
			if !inSync {
				// The backup dies and stays down: the primary records it out of sync and
				// acknowledges alone.
				releaseBackup = g.holdBack(t, before.Backup)
				g.killInstances(t, hl, before.Backup)
				testutil.Eventually(t, 30*time.Second, "the primary alone", func() bool {
					p, err := hl.partition(0)
					return err == nil && !p.InSync
				})
				n := w.count()
				testutil.Eventually(t, 30*time.Second, "writes acknowledged by the primary alone", func() bool { return w.count() > n+500 })
			}
			w.stop()
			w.done.Wait()
			if inSync {
				before = waitFlushed(t, g, hl, 0)
			}
			releasePrimary := g.holdBack(t, before.Primary)
			if inSync {
				g.killInstances(t, hl, before.Primary, before.Backup)
				testutil.Eventually(t, 60*time.Second, "the in-sync backup promoted alone", func() bool {
					p, err := hl.partition(0)
					if err != nil || p.Primary != before.Backup {
						return false
					}
					st, err := hl.status(before.Backup)
					return err == nil && st.Serving
				})
			} else {
				g.killInstances(t, hl, before.Primary)
				releaseBackup()
				testutil.Eventually(t, 60*time.Second, "the manager refusing the out-of-sync backup alone after the wait, or promoting it", func() bool {
					if p, err := hl.partition(0); err == nil && p.Primary != before.Primary {
						return true
					}
					b, _ := os.ReadFile(g.logPath)
					return strings.Contains(string(b), "the record has it out of sync")
				})
				if p, err := hl.partition(0); err != nil || p.Primary != before.Primary {
					t.Fatalf("partition %+v, %v: want %s still the primary: the out-of-sync backup lacks the writes it acknowledged alone", p, err, before.Primary)
				}
			}
			releasePrimary()
			after := hl.waitHealthy(t, 0, 60*time.Second)
			t.Logf("primary %s after the restart (was %s)", after.Primary, before.Primary)
			if lost := lostWrites(t, g.client(t), w); lost > 0 {
				t.Fatalf("%d of %d acknowledged writes lost", lost, len(w.acked))
			}
			t.Logf("%d acknowledged writes, all present", len(w.acked))
		})
	}
}
