package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/insightgrid/insight/grid/cluster"
)

// MapExists answers from the key alone: false before the bootstrap, true after.
func TestMapExists(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ok, err := MapExists(ctx, cli); err != nil || ok {
		t.Fatalf("before the map: %v, %v; want false", ok, err)
	}
	if _, _, err := Bootstrap(ctx, cli, 1, false); err != nil {
		t.Fatal(err)
	}
	if ok, err := MapExists(ctx, cli); err != nil || !ok {
		t.Fatalf("after the bootstrap: %v, %v; want true", ok, err)
	}
	dead, stop := context.WithCancel(ctx)
	stop()
	if _, err := MapExists(dead, cli); err == nil {
		t.Fatal("MapExists on a cancelled context: no error")
	}
}

// CommitMap writes the map and its records together, only on the map's revision as read;
// a map changed meanwhile makes it fail with ErrConflict and write nothing.
func TestCommitMap(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Missing map: a revision it never had conflicts; 0 (absent) writes it.
	pm, err := cluster.NewPartitionMap(1, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := CommitMap(ctx, cli, 5, pm, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("missing map at revision 5: %v, want ErrConflict", err)
	}
	if ok, err := MapExists(ctx, cli); err != nil || ok {
		t.Fatalf("a conflicting commit wrote the map: %v, %v", ok, err)
	}
	if err := CommitMap(ctx, cli, 0, pm, nil); err != nil {
		t.Fatalf("missing map at revision 0: %v", err)
	}

	// Success: the map grows by two partitions, their records in the same revision.
	st, err := Load(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	next := *st.Map
	next.Version++
	next.Partitions = append(next.Partitions, cluster.PartitionSlots{ID: 1, Slots: [][2]int{}}, cluster.PartitionSlots{ID: 2, Slots: [][2]int{}})
	recs := map[int]cluster.Record{
		2: {Epoch: 7, Primary: cluster.InstanceID(2, 0), PreferredPrimary: cluster.InstanceID(2, 0)},
		1: cluster.InitialRecord(1, false),
	}
	if err := CommitMap(ctx, cli, st.MapRevision, &next, recs); err != nil {
		t.Fatalf("commit: %v", err)
	}
	got, err := Load(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if got.Map.Version != next.Version || len(got.Map.Partitions) != 3 || got.Records[1] != recs[1] || got.Records[2] != recs[2] {
		t.Fatalf("after the commit: map %+v, records %+v", got.Map, got.Records)
	}
	if got.RecordRevisions[1] != got.MapRevision || got.RecordRevisions[2] != got.MapRevision {
		t.Fatalf("the map (revision %d) and its records (%v) were not written together", got.MapRevision, got.RecordRevisions)
	}

	// Conflict: another write of the map after the read.
	stale := got.MapRevision
	other := *got.Map
	other.Version++
	if err := CommitMap(ctx, cli, stale, &other, nil); err != nil {
		t.Fatalf("concurrent commit: %v", err)
	}
	lost := *got.Map
	lost.Version += 5
	if err := CommitMap(ctx, cli, stale, &lost, map[int]cluster.Record{0: {Epoch: 99}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a stale revision: %v, want ErrConflict", err)
	}
	after, err := Load(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	if after.Map.Version != other.Version || after.Records[0].Epoch == 99 {
		t.Fatalf("the conflicting commit wrote something: map version %d, record 0 %+v", after.Map.Version, after.Records[0])
	}
}

// The applied flags: absent until set, set only on the revision read, and a manager that
// recorded the flag meanwhile makes the other fail with ErrConflict.
func TestAppliedFlag(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, key := range []string{cluster.ManagerPartitionsKey, cluster.ManagerHAKey} {
		v, rev, err := AppliedFlag(ctx, cli, key)
		if err != nil || v != "" || rev != 0 {
			t.Fatalf("%s before any manager: %q, %d, %v", key, v, rev, err)
		}
		if err := SetAppliedFlag(ctx, cli, key, "3", rev); err != nil {
			t.Fatalf("%s first set: %v", key, err)
		}
		v, rev, err = AppliedFlag(ctx, cli, key)
		if err != nil || v != "3" || rev == 0 {
			t.Fatalf("%s after the set: %q, %d, %v", key, v, rev, err)
		}
		// Another manager records its value after this one read.
		if err := SetAppliedFlag(ctx, cli, key, "4", rev); err != nil {
			t.Fatalf("%s concurrent set: %v", key, err)
		}
		if err := SetAppliedFlag(ctx, cli, key, "5", rev); !errors.Is(err, ErrConflict) {
			t.Fatalf("%s set on a stale revision: %v, want ErrConflict", key, err)
		}
		if err := SetAppliedFlag(ctx, cli, key, "5", 0); !errors.Is(err, ErrConflict) {
			t.Fatalf("%s set as absent while present: %v, want ErrConflict", key, err)
		}
		if v, _, err := AppliedFlag(ctx, cli, key); err != nil || v != "4" {
			t.Fatalf("%s after the conflicts: %q, %v; want the concurrent 4", key, v, err)
		}
	}
	// The two keys are independent.
	if _, err := cli.Delete(ctx, cluster.ManagerHAKey); err != nil {
		t.Fatal(err)
	}
	if v, rev, err := AppliedFlag(ctx, cli, cluster.ManagerHAKey); err != nil || v != "" || rev != 0 {
		t.Fatalf("deleted flag: %q, %d, %v", v, rev, err)
	}
	if v, _, err := AppliedFlag(ctx, cli, cluster.ManagerPartitionsKey); err != nil || v != "4" {
		t.Fatalf("the other flag: %q, %v", v, err)
	}
}

// MapChanges wakes on the map's key only; StateChanges on every key of the state.
func TestChanges(t *testing.T) {
	cli := startEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mapCh, stateCh := MapChanges(ctx, cli), StateChanges(ctx, cli)
	keysOf := func(wr clientv3.WatchResponse) map[string]bool {
		keys := map[string]bool{}
		for _, ev := range wr.Events {
			keys[string(ev.Kv.Key)] = true
		}
		return keys
	}
	// The watches start asynchronously: write until both have answered.
	var mapSeen, haSeen bool
	for !mapSeen || !haSeen {
		if _, err := cli.Put(ctx, cluster.ManagerHAKey, "true"); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, cluster.MapKey, "{}"); err != nil {
			t.Fatal(err)
		}
		select {
		case wr := <-mapCh:
			keys := keysOf(wr)
			if len(keys) != 1 || !keys[cluster.MapKey] {
				t.Fatalf("map watch delivered %v, want only %s", keys, cluster.MapKey)
			}
			mapSeen = true
		case wr := <-stateCh:
			haSeen = haSeen || keysOf(wr)[cluster.ManagerHAKey]
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("the watches delivered too little: map %v, %s %v", mapSeen, cluster.ManagerHAKey, haSeen)
		}
	}
}
