package itest

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// TestFreshMapNewestDiskWins: the manager's state is lost while the data disks are kept
// (a manager without persistence reinstalled; here its etcd directory removed while the
// grid is stopped), so the grid starts again on a new partition map whose records name
// no run and know nothing of the disks. p0-i1 is the primary (a failover) and
// acknowledges writes alone while p0-i0 is down, so its disk is newer than p0-i0's. The
// record's preferred primary p0-i0 must not claim the new record with its older disk:
// the manager's restart election promotes p0-i1, p0-i0 syncs from it in full, and every
// acknowledged write is there.
func TestFreshMapNewestDiskWins(t *testing.T) {
	g := newPersistGrid(t, 1, true, "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms",
		"--appendfsync", "always", "--restart-quorum-wait", "30s")
	hl := &haLocal{base: g.base, api: g.api}
	hl.waitHealthy(t, 0, 30*time.Second)
	token, err := os.ReadFile(filepath.Join(g.dir, "grid", "operator-token"))
	if err != nil {
		t.Fatalf("the operator token local wrote: %v", err)
	}
	if code, body := postToken(t, g.api+api.PartitionPath(0, api.OpFailover), strings.TrimSpace(string(token)), ""); code != http.StatusOK {
		t.Fatalf("failover of partition 0: HTTP %d %s", code, body)
	}
	if p := hl.waitHealthy(t, 0, 30*time.Second); p.Primary != "p0-i1" {
		t.Fatalf("primary after the failover %s, want p0-i1", p.Primary)
	}
	c := g.client(t)
	acked := map[string]string{}
	write := func(set string, n int) {
		t.Helper()
		ctx := ctxT(t)
		for i := range n {
			k, v := fmt.Sprintf("fresh:%s:%d", set, i), fmt.Sprintf("%s-%d", set, i)
			if err := c.Set(ctx, k, v, 0).Err(); err != nil {
				t.Fatalf("SET %s: %v", k, err)
			}
			acked[k] = v
		}
	}
	write("both", 300)

	// p0-i0 goes down and stays down: p0-i1 records it out of sync and acknowledges alone
	// (appendfsync always: each write is on p0-i1's disk before its reply).
	release := g.holdBack(t, "p0-i0")
	g.killInstances(t, hl, "p0-i0")
	testutil.Eventually(t, 30*time.Second, "p0-i1 serving alone", func() bool {
		p, err := hl.partition(0)
		return err == nil && p.Primary == "p0-i1" && !p.InSync
	})
	write("alone", 300)

	g.stop(t, false)
	release()
	etcdDir := filepath.Join(g.dir, "grid", "etcd")
	if _, err := os.Stat(etcdDir); err != nil {
		t.Fatalf("the manager's etcd directory: %v", err)
	}
	if err := os.RemoveAll(etcdDir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(g.logPath)
	if err != nil {
		t.Fatal(err)
	}
	logged := fi.Size()
	g.start(t)
	hl = &haLocal{base: g.base, api: g.api}
	after := hl.waitHealthy(t, 0, 60*time.Second)
	i0, err0 := hl.status("p0-i0")
	i1, err1 := hl.status("p0-i1")
	if err0 != nil || err1 != nil || i0.Persistence == nil || i0.Persistence.Loaded == nil || i1.Persistence == nil || i1.Persistence.Loaded == nil {
		t.Fatalf("statuses %+v, %+v (%v, %v): want what each loaded", i0.Persistence, i1.Persistence, err0, err1)
	}
	t.Logf("on the new partition map: p0-i0 loaded %s, p0-i1 loaded %s; primary %s, epoch %d",
		posOf(i0.Persistence.Loaded), posOf(i1.Persistence.Loaded), after.Primary, after.Epoch)
	if after.Primary != "p0-i1" {
		t.Errorf("primary on the new partition map %s, want p0-i1, whose disk is newer", after.Primary)
	}
	b, err := os.ReadFile(g.logPath)
	if err != nil {
		t.Fatal(err)
	}
	restarted := string(b[min(logged, int64(len(b))):])
	if !strings.Contains(restarted, "partition record is new") {
		t.Errorf("the grid's log after the restart: want the manager's election on the new record")
	}
	for line := range strings.Lines(restarted) {
		if strings.Contains(line, "claiming the partition as primary") {
			t.Errorf("the grid's log after the restart: want no claim of the new record, got %s", line)
		}
	}
	ctx := ctxT(t)
	c = g.client(t)
	lost := 0
	for k, v := range acked {
		got, err := c.Get(ctx, k).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("GET %s: %v", k, err)
		}
		if got != v {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost on the new partition map", lost, len(acked))
	}
	t.Logf("%d acknowledged writes, all present", len(acked))
}
