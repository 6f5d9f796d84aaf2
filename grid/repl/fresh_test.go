package repl_test

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// TestFreshRecordWithDataWaitsForTheElection: the partition's record is created anew
// (the manager's state lost) while the instances keep their disks. The record's primary
// does not claim it by itself, whether its own disk holds the data or only the other
// instance's does (its own volume lost): the record stays unclaimed until the manager's
// restart election names a primary, which then serves every key, and its backup syncs.
func TestFreshRecordWithDataWaitsForTheElection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		primaryLost bool // p0-i0 starts on an empty directory, after p0-i1 registered
	}{{"both disks hold the data", false}, {"only the backup's disk holds the data", true}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCoord()
			dirs := []string{t.TempDir(), t.TempDir()}
			var stops [2]func()
			for i := range 2 {
				_, stops[i] = c.startDisk(t, i, dirs[i])
			}
			testutil.Eventually(t, 10*time.Second, "backup in sync", func() bool { r := c.record(); return r.InSync && r.PrimaryRun != "" })
			rdb := redis.NewClient(&redis.Options{Addr: c.insts[0].addr, MaxRetries: -1})
			setKeys(t, rdb, 0, 200)
			rdb.Close()
			testutil.Eventually(t, 10*time.Second, "the backup holding every key", func() bool { return c.insts[1].store.Keys() == 200 })
			for i := range 2 {
				stops[i]()
				c.deregister(c.insts[i].id)
			}
			fresh := cluster.InitialRecord(0, true)
			c.setRecord(fresh)

			if tc.primaryLost {
				dirs[0] = t.TempDir()
			}
			back1, _ := c.startDisk(t, 1, dirs[1])
			back0, _ := c.startDisk(t, 0, dirs[0])
			testutil.Eventually(t, 10*time.Second, "the record's primary waiting for the restart election", func() bool {
				st := back0.node.Status()
				return !st.Serving && strings.Contains(st.Why, "restart election")
			})
			if r := c.record(); r != fresh {
				t.Fatalf("record %+v claimed before the election (was %+v)", r, fresh)
			}
			next := c.elect(t)
			if tc.primaryLost && next.Primary != back1.id {
				t.Fatalf("elected %s, want %s, whose disk holds the data", next.Primary, back1.id)
			}
			testutil.Eventually(t, 10*time.Second, "a primary and its backup in sync", func() bool {
				r := c.record()
				return r.InSync && r.BackupRun != ""
			})
			p, b := back0, back1
			if next.Primary == back1.id {
				p, b = back1, back0
			}
			checkKeys(t, "the elected primary", p.store, 200)
			checkKeys(t, "its backup", b.store, 200)
		})
	}
}
