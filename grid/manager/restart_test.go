package manager

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
)

func disk(epoch int64, seq uint64, keys int64) *cluster.DiskState {
	return &cluster.DiskState{Position: cluster.Position{Epoch: epoch, Seq: seq}, Keys: keys}
}

func TestRestartElectionRule(t *testing.T) {
	rec := cluster.Record{Epoch: 4, Primary: "p0-i0", Backup: "p0-i1", InSync: true, PreferredPrimary: "p0-i0", PrimaryRun: "a", BackupRun: "b"}
	outOfSync := rec
	outOfSync.InSync, outOfSync.BackupRun = false, ""
	floored := rec
	floored.Floor = &cluster.Position{Epoch: 3, Seq: 500}
	i0 := func(run string, d *cluster.DiskState) cluster.Instance {
		return cluster.Instance{ID: "p0-i0", Run: run, Disk: d}
	}
	i1 := func(run string, d *cluster.DiskState) cluster.Instance {
		return cluster.Instance{ID: "p0-i1", Run: run, Disk: d}
	}
	insts := func(in ...cluster.Instance) map[string]cluster.Instance {
		m := map[string]cluster.Instance{}
		for _, i := range in {
			m[i.ID] = i
		}
		return m
	}
	tests := []struct {
		name   string
		rec    cluster.Record
		insts  map[string]cluster.Instance
		waited bool
		needed bool
		winner string
		why    string
	}{
		{"live primary", rec, insts(i0("a", disk(4, 10, 1))), true, false, "", ""},
		{"in-sync backup alive takes over by itself", rec, insts(i0("x", disk(4, 10, 1)), i1("b", disk(4, 9, 1))), true, false, "", ""},
		{"unclaimed record", cluster.Record{Epoch: 1, Primary: "p0-i0", Backup: "p0-i1"}, insts(), true, false, "", ""},
		{"no backup", cluster.Record{Epoch: 2, Primary: "p0-i0", PrimaryRun: "a"}, insts(i0("x", disk(1, 5, 1))), true, false, "", ""},
		{"nobody registered", rec, insts(), true, true, "", "no instance registered"},
		{"backup's disk newer", rec, insts(i0("x", disk(4, 100, 5)), i1("y", disk(4, 120, 5))), false, true, "p0-i1", "newest disk"},
		{"primary's disk newer", rec, insts(i0("x", disk(4, 130, 5)), i1("y", disk(4, 120, 5))), false, true, "p0-i0", "newest disk"},
		{"a newer epoch beats a longer sequence", rec, insts(i0("x", disk(3, 900, 5)), i1("y", disk(4, 120, 5))), false, true, "p0-i1", "newest disk"},
		{"tie: the record's primary", rec, insts(i0("x", disk(4, 120, 5)), i1("y", disk(4, 120, 5))), false, true, "p0-i0", "newest disk"},
		{"an interrupted sync counts as empty", rec, insts(i0("x", &cluster.DiskState{Recovering: true}), i1("y", disk(2, 1, 1))), false, true, "p0-i1", "newest disk"},
		{"both empty", rec, insts(i0("x", disk(0, 0, 0)), i1("y", disk(0, 0, 0))), false, true, "", "both instances' disks are empty"},
		{"one alone, before the wait", rec, insts(i1("y", disk(4, 120, 5))), false, true, "", "waiting for the other instance"},
		{"in-sync backup alone after the wait", rec, insts(i1("y", disk(4, 120, 5))), true, true, "p0-i1", "the only instance"},
		{"primary alone after the wait", outOfSync, insts(i0("x", disk(4, 120, 5))), true, true, "p0-i0", "the only instance"},
		{"out-of-sync backup alone is never promoted", outOfSync, insts(i1("y", disk(4, 999, 5))), true, true, "", "out of sync"},
		{"an empty disk alone is never promoted", rec, insts(i0("x", disk(0, 0, 0))), true, true, "", "disk is empty"},
		{"alone behind the last election's floor", floored, insts(i0("x", disk(3, 499, 5))), true, true, "", "behind what the partition held"},
		{"alone at the floor", floored, insts(i0("x", disk(3, 500, 5))), true, true, "p0-i0", "the only instance"},
		{"memory-only instances", rec, insts(i0("x", nil), i1("y", nil)), true, true, "", "no registered instance has a data directory"},
		{"the other has no data directory: no wait", rec, insts(i0("x", disk(4, 1, 1)), i1("y", nil)), false, true, "p0-i0", "the only instance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := decide(tt.rec, tt.insts, tt.waited)
			if e.needed != tt.needed || e.winner != tt.winner || !strings.Contains(e.why, tt.why) || e.risk != "" {
				t.Errorf("decide = %+v, want needed %v, winner %q, why containing %q, no risk", e, tt.needed, tt.winner, tt.why)
			}
		})
	}
}

// TestRestartElectionOnAFreshRecord: a record as the partition map's creation writes it
// (epoch 1, unclaimed) is elected on when a registered instance's disk served (the
// manager's state lost, the disks kept), and left to its preferred primary's claim on a
// first deploy; a lone instance is promoted after the wait with the risk stated.
func TestRestartElectionOnAFreshRecord(t *testing.T) {
	fresh := cluster.InitialRecord(0, true)
	reset := cluster.Record{Epoch: 5, Primary: "p0-i1", Backup: "p0-i0", PreferredPrimary: "p0-i0"}
	noBackup := cluster.InitialRecord(0, false)
	i0 := func(d *cluster.DiskState) cluster.Instance { return cluster.Instance{ID: "p0-i0", Run: "x", Disk: d} }
	i1 := func(d *cluster.DiskState) cluster.Instance { return cluster.Instance{ID: "p0-i1", Run: "y", Disk: d} }
	insts := func(in ...cluster.Instance) map[string]cluster.Instance {
		m := map[string]cluster.Instance{}
		for _, i := range in {
			m[i.ID] = i
		}
		return m
	}
	recovering := &cluster.DiskState{Recovering: true}
	tests := []struct {
		name   string
		rec    cluster.Record
		insts  map[string]cluster.Instance
		waited bool
		needed bool
		winner string
		why    string
		risk   string
	}{
		{"first deploy: empty disks", fresh, insts(i0(disk(0, 0, 0)), i1(disk(0, 0, 0))), true, false, "", "", ""},
		{"first deploy: memory only", fresh, insts(i0(nil), i1(nil)), true, false, "", "", ""},
		{"first deploy: nobody registered", fresh, insts(), true, false, "", "", ""},
		{"an operator's reset is claimed by the instance it names", reset, insts(i0(disk(4, 900, 5)), i1(disk(4, 10, 5))), true, false, "", "", ""},
		{"a partition without a backup", noBackup, insts(i0(disk(3, 10, 5))), true, false, "", "", ""},
		{"backup's disk newer", fresh, insts(i0(disk(2, 300, 300)), i1(disk(2, 600, 600))), false, true, "p0-i1", "newest disk", ""},
		{"a newer epoch beats a longer sequence", fresh, insts(i0(disk(2, 900, 5)), i1(disk(3, 10, 5))), false, true, "p0-i1", "newest disk", ""},
		{"tie: the record's primary", fresh, insts(i0(disk(2, 300, 5)), i1(disk(2, 300, 5))), false, true, "p0-i0", "newest disk", ""},
		{"the primary's volume lost", fresh, insts(i0(disk(0, 0, 0)), i1(disk(2, 600, 600))), false, true, "p0-i1", "newest disk", ""},
		{"the primary's sync interrupted", fresh, insts(i0(recovering), i1(disk(2, 600, 600))), false, true, "p0-i1", "newest disk", ""},
		{"an interrupted sync alone: both empty", fresh, insts(i0(recovering), i1(disk(0, 0, 0))), true, true, "", "both instances' disks are empty", ""},
		{"one alone, before the wait", fresh, insts(i0(disk(2, 300, 300))), false, true, "", "waiting for the other instance", ""},
		{"the record's primary alone after the wait", fresh, insts(i0(disk(2, 300, 300))), true, true, "p0-i0", "the only instance", "if p0-i1's disk is newer"},
		{"the record's backup alone after the wait", fresh, insts(i1(disk(2, 600, 600))), true, true, "p0-i1", "the only instance", "if p0-i0's disk is newer"},
		{"an interrupted sync alone is never promoted", fresh, insts(i1(recovering)), true, true, "", "disk is empty", ""},
		{"the other has no data directory: no wait, nothing to lose", fresh, insts(i0(nil), i1(disk(2, 600, 600))), false, true, "p0-i1", "the only instance", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := decide(tt.rec, tt.insts, tt.waited)
			if e.needed != tt.needed || e.winner != tt.winner || !strings.Contains(e.why, tt.why) ||
				(tt.risk == "") != (e.risk == "") || !strings.Contains(e.risk, tt.risk) {
				t.Errorf("decide = %+v, want needed %v, winner %q, why containing %q, risk containing %q", e, tt.needed, tt.winner, tt.why, tt.risk)
			}
		})
	}
	next := promoted(fresh, i1(disk(2, 600, 600)))
	want := cluster.Record{Epoch: 3, Primary: "p0-i1", PrimaryRun: "y", Backup: "p0-i0", PreferredPrimary: "p0-i0",
		Floor: &cluster.Position{Epoch: 2, Seq: 600}}
	if next.Floor == nil || *next.Floor != *want.Floor {
		t.Fatalf("floor %+v, want %+v", next.Floor, want.Floor)
	}
	next.Floor, want.Floor = nil, nil
	if next != want || next.Fresh() {
		t.Errorf("promoted = %+v, want %+v, no longer fresh", next, want)
	}
}

func TestRestartElectionRecord(t *testing.T) {
	rec := cluster.Record{Epoch: 4, Primary: "p0-i0", Backup: "p0-i1", InSync: true, PreferredPrimary: "p0-i0", PrimaryRun: "a", BackupRun: "b"}
	next := promoted(rec, cluster.Instance{ID: "p0-i1", Run: "y", Disk: disk(6, 120, 5)})
	want := cluster.Record{Epoch: 7, Primary: "p0-i1", Backup: "p0-i0", PreferredPrimary: "p0-i0", PrimaryRun: "y",
		Floor: &cluster.Position{Epoch: 6, Seq: 120}}
	if next.Floor == nil || *next.Floor != *want.Floor {
		t.Fatalf("floor %+v, want %+v", next.Floor, want.Floor)
	}
	next.Floor, want.Floor = nil, nil
	if next != want {
		t.Errorf("promoted = %+v, want %+v", next, want)
	}
}

// TestRestartElectionStepsOnAFreshMap runs the election's loop step on etcd with the
// records of a new partition map: a first deploy's empty disk is left to its claim; a
// disk that served makes the partition wait for the other instance, and both registered
// promote the newest with one compare-and-swap; an instance alone after the wait is
// promoted with its risk logged at Warn.
func TestRestartElectionStepsOnAFreshMap(t *testing.T) {
	register := func(tm *testManager, i int, run string, d *cluster.DiskState) {
		t.Helper()
		tm.put(t, cluster.InstanceKey(0, i), cluster.Instance{ID: cluster.InstanceID(0, i), Partition: 0, Instance: i,
			Address: "127.0.0.1:1", Run: run, Disk: d})
	}
	step := func(r *restartElection) bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		pending, err := r.step(ctx)
		if err != nil {
			t.Fatalf("election step: %v", err)
		}
		return pending
	}
	fresh := cluster.InitialRecord(0, true)

	t.Run("both registered", func(t *testing.T) {
		tm := newTestManager(t, 1, true)
		r := newRestartElection(tm.Manager, time.Hour)
		register(tm, 0, "a", disk(0, 0, 0))
		if step(r) || tm.record(t, 0) != fresh {
			t.Fatalf("a first deploy's empty disk: record %+v, want it left to p0-i0's claim", tm.record(t, 0))
		}
		register(tm, 0, "a", disk(2, 300, 300))
		if !step(r) || tm.record(t, 0) != fresh || !strings.Contains(r.lastMessage(), "waiting for the other instance") {
			t.Fatalf("p0-i0 alone with data, before the wait: record %+v, message %q: want it waiting", tm.record(t, 0), r.lastMessage())
		}
		register(tm, 1, "b", disk(2, 600, 600))
		step(r)
		got := tm.record(t, 0)
		if got.Primary != "p0-i1" || got.PrimaryRun != "b" || got.Backup != "p0-i0" || got.Epoch != 3 || got.Fresh() {
			t.Fatalf("record %+v: want p0-i1 (the newest disk) promoted in epoch 3", got)
		}
		if step(r) || !strings.Contains(tm.logs.String(), "partition record is new") {
			t.Fatalf("after the promotion: want nothing pending, and the election on the new record logged")
		}
	})
	t.Run("alone after the wait", func(t *testing.T) {
		tm := newTestManager(t, 1, true)
		r := newRestartElection(tm.Manager, 0)
		register(tm, 1, "b", disk(2, 600, 600))
		step(r)
		if got := tm.record(t, 0); got.Primary != "p0-i1" || got.PrimaryRun != "b" {
			t.Fatalf("record %+v: want p0-i1 promoted alone", got)
		}
		if logs := tm.logs.String(); !strings.Contains(logs, "promoted an instance alone on a new partition record") ||
			!strings.Contains(logs, "if p0-i0's disk is newer") {
			t.Fatalf("logs: want the risk of the lone promotion stated, got\n%s", logs)
		}
	})
}
