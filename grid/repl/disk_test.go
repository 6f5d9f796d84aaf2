package repl_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/repl"
	"github.com/insightgrid/insight/grid/server"
	"github.com/insightgrid/insight/grid/store"
)

// startDisk is coord.start for an instance journaling to dir with appendfsync always:
// it loads what dir holds first, as a data instance does. stop ends the instance (crash)
// and its journal.
func (c *coord) startDisk(t *testing.T, i int, dir string) (in *inst, stop func()) {
	t.Helper()
	id := cluster.InstanceID(0, i)
	st := store.New(1 << 20)
	j, rec, err := persist.Open(persist.Config{Dir: dir, Fsync: persist.FsyncAlways, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	run := repl.NewRun()
	// A ring of one chunk: a backup that missed more than 1 MiB needs a full sync.
	node := repl.New(repl.Config{Partition: 0, Instance: i, ReplTimeout: 200 * time.Millisecond, BacklogBytes: 1, Store: st, Coord: c,
		Logger: testLog.With("instance", id), Disk: j, RecoveredEpoch: int64(rec.Epoch), RecoveredSeq: rec.Seq}, run)
	srv, err := server.New(server.Config{Partition: 0, Instance: i, Replication: node, Logger: testLog}, st, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	jctx, jcancel := context.WithCancel(context.Background())
	jdone := make(chan struct{})
	go func() { _ = j.Run(jctx); close(jdone) }()
	in = &inst{id: id, store: st, node: node, srv: srv, addr: ln.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() { _ = srv.Serve(ln) }()
	go func() { node.Run(ctx); close(in.done) }()
	stop = func() {
		select {
		case <-in.done:
		default:
			in.crash()
		}
		jcancel()
		<-jdone
	}
	t.Cleanup(stop)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.insts[i] = in
	c.st.Instances[id] = cluster.Instance{ID: id, Partition: 0, Instance: i, Address: in.addr, Run: run,
		Disk: &cluster.DiskState{Position: cluster.Position{Epoch: int64(rec.Epoch), Seq: rec.Seq}, Keys: rec.Keys, Recovering: rec.SyncInterrupted}}
	c.st.Revision++
	c.publish()
	return in, stop
}

// elect does what the manager's restart election does with both instances registered:
// the record names the one whose disk holds the newest position primary, with its run,
// in a new epoch, and the other its backup, out of sync.
func (c *coord) elect(t *testing.T) cluster.Record {
	t.Helper()
	c.mu.Lock()
	rec := c.st.Records[0]
	w, o := c.st.Instances[rec.Primary], c.st.Instances[rec.Backup]
	c.mu.Unlock()
	if w.Disk == nil || o.Disk == nil {
		t.Fatalf("both instances registered with their disks: %+v %+v", w, o)
	}
	if w.Disk.Less(o.Disk.Position) {
		w, o = o, w
	}
	next := rec
	next.Epoch = max(rec.Epoch, w.Disk.Epoch) + 1
	next.Primary, next.PrimaryRun, next.Backup, next.BackupRun, next.InSync = w.ID, w.Run, o.ID, "", false
	c.setRecord(next)
	return next
}

func newCoord() *coord {
	m, _ := cluster.NewPartitionMap(1, true)
	return &coord{st: cluster.State{
		Revision: 1, Map: m,
		Records:         map[int]cluster.Record{0: cluster.InitialRecord(0, true)},
		RecordRevisions: map[int]int64{0: 1},
		Instances:       map[string]cluster.Instance{},
	}, insts: make([]*inst, 2)}
}

// setKeys writes key:from..key:to-1 (value: the number), each until acknowledged.
func setKeys(t *testing.T, rdb *redis.Client, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		k := fmt.Sprintf("key:%d", i)
		testutil.Eventually(t, 10*time.Second, "SET "+k+" acknowledged", func() bool { return rdb.Set(context.Background(), k, i, 0).Err() == nil })
	}
}

// checkKeys fails unless st holds key:0..key:n-1 with their values.
func checkKeys(t *testing.T, what string, st *store.Store, n int) {
	t.Helper()
	for i := range n {
		if v, ok, _ := st.Get(nil, fmt.Appendf(nil, "key:%d", i)); !ok || string(v) != fmt.Sprint(i) {
			t.Fatalf("%s: acknowledged key:%d missing (%q)", what, i, v)
		}
	}
}

// onDisk is what a kill -9 of the instance journaling to dir would leave: a copy of its
// files now, loaded into a new store.
func onDisk(t *testing.T, dir string) *store.Store {
	t.Helper()
	cp := t.TempDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st := store.New(1 << 20)
	if _, _, err := persist.Open(persist.Config{Dir: cp, Store: st}); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDiskHoldsAcknowledgedWrites: with a journal on each instance, every acknowledged
// write is on the primary's disk when its reply comes, and on the backup's once applied,
// through a full sync of a backup started on an empty disk too.
func TestDiskHoldsAcknowledgedWrites(t *testing.T) {
	c := newCoord()
	dirs := []string{t.TempDir(), t.TempDir()}
	for i := range 2 {
		c.startDisk(t, i, dirs[i])
	}
	testutil.Eventually(t, 10*time.Second, "backup in sync", func() bool { r := c.record(); return r.InSync && r.PrimaryRun != "" })
	rdb := redis.NewClient(&redis.Options{Addr: c.insts[0].addr, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	set := func(from, to int) { t.Helper(); setKeys(t, rdb, from, to) }
	check := checkKeys
	set(0, 100)
	check(t, "primary's disk", onDisk(t, dirs[0]), 100)
	// The backup goes; writes go on alone; it comes back on an empty disk: full sync.
	c.insts[1].crash()
	c.deregister(c.insts[1].id)
	set(100, 200)
	for i := range 3 { // past the ring: the backup cannot continue from it
		testutil.Eventually(t, 10*time.Second, "a large SET acknowledged", func() bool {
			return rdb.Set(ctx, fmt.Sprintf("pad:%d", i), make([]byte, 1<<20), 0).Err() == nil
		})
	}
	dirs[1] = t.TempDir()
	c.startDisk(t, 1, dirs[1])
	testutil.Eventually(t, 10*time.Second, "the new backup in sync", func() bool { r := c.record(); return r.InSync && r.BackupRun != "" })
	set(200, 300)
	check(t, "primary's disk", onDisk(t, dirs[0]), 300)
	testutil.Eventually(t, 10*time.Second, "the backup's disk holding every write", func() bool {
		st := onDisk(t, dirs[1])
		_, ok, _ := st.Get(nil, []byte("key:299"))
		return ok
	})
	check(t, "backup's disk after its full sync", onDisk(t, dirs[1]), 300)
}

// TestBothRestartFromDisk: both instances of a partition stop at once (a whole release)
// and start again on their disks: the record's primary takes the partition back with what
// it loaded, the backup syncs from it, and every acknowledged write is there.
func TestBothRestartFromDisk(t *testing.T) {
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		t.Run(fmt.Sprintf("stopping p0-i%d first", order[0]), func(t *testing.T) { bothRestart(t, order) })
	}
}

func bothRestart(t *testing.T, order [2]int) {
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
	before := c.record()
	for _, i := range order {
		stops[i]()
		c.deregister(c.insts[i].id)
	}
	stopped := c.record()
	var back [2]*inst
	for i := range 2 {
		back[i], _ = c.startDisk(t, i, dirs[i])
	}
	// Neither claims the partition by itself: the record names no live process, and
	// the manager's restart election decides.
	named := back[0]
	if stopped.Primary == back[1].id {
		named = back[1]
	}
	testutil.Eventually(t, 10*time.Second, "the record's primary waiting for the restart election", func() bool {
		st := named.node.Status()
		return !st.Serving && strings.Contains(st.Why, "restart election")
	})
	if r := c.record(); r != stopped {
		t.Fatalf("record %+v changed before the election (was %+v)", r, stopped)
	}
	c.elect(t)
	testutil.Eventually(t, 10*time.Second, "a primary back and its backup in sync", func() bool {
		r := c.record()
		return r.Epoch > before.Epoch && r.InSync && r.BackupRun != ""
	})
	p, b := c.insts[0], c.insts[1]
	if c.record().Primary != p.id {
		p, b = b, p
	}
	rdb = redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer rdb.Close()
	setKeys(t, rdb, 200, 210)
	checkKeys(t, "the primary", p.store, 210)
	checkKeys(t, "the backup", b.store, 210)
}
