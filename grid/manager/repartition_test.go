package manager

import (
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/slots"
)

// apply runs a plan to its end in batches, as the repartitioner does, and returns the map.
func apply(t *testing.T, pm *cluster.PartitionMap, target int) (*cluster.PartitionMap, int) {
	t.Helper()
	for len(pm.Partitions) < target {
		pm.Partitions = append(pm.Partitions, cluster.PartitionSlots{ID: len(pm.Partitions), Slots: [][2]int{}})
	}
	moved := 0
	for {
		todo, err := plan(pm, target)
		if err != nil {
			t.Fatal(err)
		}
		if len(todo) == 0 {
			break
		}
		pm.Moves = nextBatch(todo, batchSlots)
		for _, mv := range pm.Moves {
			moved += countSlots(mv.Slots)
		}
		if err := pm.Validate(); err != nil {
			t.Fatalf("batch: %v", err)
		}
		pm = finishMoves(pm)
		if err := pm.Validate(); err != nil {
			t.Fatalf("after a batch: %v", err)
		}
	}
	pm.Partitions = pm.Partitions[:target]
	if err := pm.Validate(); err != nil {
		t.Fatalf("after shrinking: %v", err)
	}
	return pm, moved
}

func TestPlanBalancesWithFewestMoves(t *testing.T) {
	pm, err := cluster.NewPartitionMap(3, true)
	if err != nil {
		t.Fatal(err)
	}
	pm, moved := apply(t, pm, 5)
	// Each of the 5 partitions ends with its share; only what the new ones get moved.
	want, _ := slots.Balanced(5)
	for p, ps := range pm.Partitions {
		if n := countSlots(ps.Slots); n != want[p].Len() {
			t.Errorf("3->5: partition %d has %d slots, want %d", p, n, want[p].Len())
		}
	}
	if newShare := want[3].Len() + want[4].Len(); moved != newShare {
		t.Errorf("3->5 moved %d slots, want only the new partitions' %d", moved, newShare)
	}
	// Partition 0 keeps the start of its range.
	if got := pm.Partitions[0].Slots[0]; got != [2]int{0, want[0].Len() - 1} {
		t.Errorf("3->5: partition 0 starts with %v", got)
	}

	pm, moved = apply(t, pm, 2)
	want, _ = slots.Balanced(2)
	for p, ps := range pm.Partitions {
		if n := countSlots(ps.Slots); n != want[p].Len() {
			t.Errorf("5->2: partition %d has %d slots, want %d", p, n, want[p].Len())
		}
	}
	if gone := slots.Count - 3277 - 3277; moved != gone {
		t.Errorf("5->2 moved %d slots, want the %d of partitions 2-4", moved, gone)
	}
	if _, err := plan(pm, 0); err == nil {
		t.Error("a plan for 0 partitions must fail")
	}
	if todo, _ := plan(pm, 2); len(todo) != 0 {
		t.Errorf("a balanced map needs no moves, got %d", len(todo))
	}
}

func TestNextBatchTakesFromEverySource(t *testing.T) {
	var todo []slotMove
	for s := range 100 {
		todo = append(todo, slotMove{slot: s, from: 0, to: 3})
		todo = append(todo, slotMove{slot: 1000 + s, from: 1, to: 3})
		todo = append(todo, slotMove{slot: 2000 + s, from: 2, to: 4})
	}
	batch := nextBatch(todo, 30)
	per := map[int]int{}
	for _, mv := range batch {
		if mv.State != cluster.MoveImporting {
			t.Errorf("a new move starts importing, got %q", mv.State)
		}
		per[mv.From] += countSlots(mv.Slots)
		if len(mv.Slots) != 1 {
			t.Errorf("contiguous slots make one range, got %v", mv.Slots)
		}
	}
	if per[0] != 10 || per[1] != 10 || per[2] != 10 {
		t.Errorf("slots per source %v, want 10 each", per)
	}
	if got := nextBatch(todo[:2], 30); len(got) != 2 {
		t.Errorf("a short plan is taken whole: %+v", got)
	}
}

// TestProgressClock follows a re-partitioning's stall through the loop's observations.
func TestProgressClock(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type obs struct {
		at      float64
		pending bool
		version int64
	}
	tests := []struct {
		name  string
		steps []obs
		now   float64
		want  float64
	}{
		{"nothing observed", nil, 5, 0},
		{"nothing pending", []obs{{0, false, 3}, {1, false, 3}}, 1, 0},
		{"pending, map unchanged", []obs{{0, true, 3}, {1, true, 3}, {2, true, 3}}, 2.5, 2.5},
		{"a new map version restarts the clock", []obs{{0, true, 3}, {4, true, 3}, {5, true, 4}, {6, true, 4}}, 6, 1},
		{"done", []obs{{0, true, 3}, {4, true, 3}, {5, false, 4}}, 6, 0},
		{"pending again after done", []obs{{0, true, 3}, {1, false, 4}, {2, true, 4}, {3, true, 4}}, 3, 1},
		{"no observation lately: not leading", []obs{{0, true, 3}, {1, true, 3}}, 1 + 11, 0},
		{"leading again after a gap starts afresh", []obs{{0, true, 3}, {20, true, 3}, {21, true, 3}}, 21, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c progressClock
			for _, o := range tt.steps {
				c.observe(at(o.at), o.pending, o.version)
			}
			if got := c.stalled(at(tt.now)); got != tt.want {
				t.Errorf("stalled = %v, want %v", got, tt.want)
			}
		})
	}
}
