package cluster

import (
	"strings"
	"testing"
)

func TestPartitionMapValidate(t *testing.T) {
	m, err := NewPartitionMap(3, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("balanced map: %v", err)
	}
	tests := []struct {
		name    string
		mod     func(*PartitionMap)
		wantErr string
	}{
		{"gap", func(m *PartitionMap) { m.Partitions[1].Slots[0][0]++ }, "slot 5461 not assigned"},
		{"overlap", func(m *PartitionMap) { m.Partitions[1].Slots[0][0]-- }, "slot 5460 assigned twice"},
		{"out of range", func(m *PartitionMap) { m.Partitions[2].Slots[0][1] = 16384 }, "bad slot range"},
		{"ids", func(m *PartitionMap) { m.Partitions[2].ID = 7 }, "partition at index 2 has id 7"},
	}
	for _, tt := range tests {
		m, _ := NewPartitionMap(3, true)
		tt.mod(m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestBuildView(t *testing.T) {
	m, _ := NewPartitionMap(2, true)
	st := &State{Map: m, Records: map[int]Record{0: InitialRecord(0, true)}, Instances: map[string]Instance{
		"p0-i0": {ID: "p0-i0", Partition: 0, Instance: 0, Address: "10.0.0.1:6379"},
		"p0-i1": {ID: "p0-i1", Partition: 0, Instance: 1, Address: "10.0.0.2:6379"},
	}}
	v, err := BuildView(st, "p0-i1")
	if err != nil {
		t.Fatal(err)
	}
	if p := v.Owner(100); p.ID != 0 || p.Primary.Address != "10.0.0.1:6379" || p.Backup.Role != RoleBackup {
		t.Fatalf("owner of slot 100: %+v", p)
	}
	// Partition 1 has no record yet (its default applies) and no registered instance.
	if p := v.Owner(16000); p.ID != 1 || p.Primary != nil || p.Record.Primary != "p1-i0" {
		t.Fatalf("owner of slot 16000: %+v", p)
	}
	// Only partition 0 (slots 0-8191) has a registered primary.
	if n := v.RoutedSlots(); n != 8192 {
		t.Fatalf("routed slots = %d, want 8192", n)
	}
	if n := v.SelfNode(); n == nil || n.ID != "p0-i1" || n.Role != RoleBackup || n.Port != 6379 || len(n.NodeID) != 40 {
		t.Fatalf("self: %+v", n)
	}
	if _, err := BuildView(&State{}, "p0-i0"); err == nil {
		t.Fatal("a view without a partition map must fail")
	}
}

func TestMovesValidateAndView(t *testing.T) {
	good := func() *PartitionMap {
		m, _ := NewPartitionMap(2, false)
		m.Partitions = append(m.Partitions, PartitionSlots{ID: 2, Slots: [][2]int{}})
		m.Moves = []Move{{Slots: [][2]int{{10, 20}}, From: 0, To: 2, State: MoveMigrating}}
		return m
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("map with a move and an empty partition: %v", err)
	}
	tests := []struct {
		name    string
		mod     func(*PartitionMap)
		wantErr string
	}{
		{"state", func(m *PartitionMap) { m.Moves[0].State = "moving" }, `unknown state "moving"`},
		{"target", func(m *PartitionMap) { m.Moves[0].To = 3 }, "bad target partition 3"},
		{"to itself", func(m *PartitionMap) { m.Moves[0].To = 0 }, "bad target partition 0"},
		{"not the source's", func(m *PartitionMap) { m.Moves[0].Slots[0] = [2]int{9000, 9001} }, "slot 9000 belongs to partition 1, not 0"},
		{"twice", func(m *PartitionMap) {
			m.Moves = append(m.Moves, Move{Slots: [][2]int{{20, 21}}, From: 0, To: 1, State: MoveMigrating})
		}, "slot 20 moves twice"},
		{"range", func(m *PartitionMap) { m.Moves[0].Slots[0] = [2]int{5, 4} }, "bad slot range"},
		{"source", func(m *PartitionMap) { m.Moves = append(m.Moves, Move{From: 7, To: 1, State: MoveMigrating}) }, "bad source partition 7"},
		{"empty", func(m *PartitionMap) { m.Moves[0].Slots = nil }, "move 0: no slots"},
	}
	for _, tt := range tests {
		m := good()
		tt.mod(m)
		if err := m.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	m := good()
	m.Version = 7
	st := &State{Map: m, Records: map[int]Record{}, Instances: map[string]Instance{}}
	v, err := BuildView(st, "p0-i0")
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 7 {
		t.Errorf("view version %d, want 7", v.Version)
	}
	if mv := v.Move(15); mv == nil || mv.From.ID != 0 || mv.To.ID != 2 || mv.State != MoveMigrating {
		t.Errorf("move of slot 15: %+v", mv)
	}
	if v.Move(9) != nil || v.Move(21) != nil {
		t.Error("slots 9 and 21 do not move")
	}
	if p := v.Owner(15); p.ID != 0 {
		t.Errorf("a moving slot belongs to its source until the move ends; owner %d", p.ID)
	}
}

func TestBuildViewAfterSharesTheMapsSlotTables(t *testing.T) {
	m, _ := NewPartitionMap(2, true)
	st := &State{Map: m, Records: map[int]Record{0: InitialRecord(0, true)}, Instances: map[string]Instance{
		"p0-i0": {ID: "p0-i0", Partition: 0, Instance: 0, Address: "10.0.0.1:6379"},
	}}
	v1, err := BuildView(st, "p0-i0")
	if err != nil {
		t.Fatal(err)
	}
	// A record change with the same map: the slot tables are v1's, the record is new.
	rec := InitialRecord(0, true)
	rec.Primary, rec.Backup, rec.Epoch = "p0-i1", "p0-i0", 2
	st2 := &State{Map: m, Records: map[int]Record{0: rec}, Instances: st.Instances}
	v2, err := BuildViewAfter(st2, "p0-i0", v1)
	if err != nil {
		t.Fatal(err)
	}
	if v2.tables != v1.tables || v2.Owner(100).Record.Epoch != 2 || v2.Owner(100).Primary != nil {
		t.Fatalf("same map: tables shared %v, owner of slot 100 %+v", v2.tables == v1.tables, v2.Owner(100))
	}
	// A new map (slot 100 moved to partition 1) gets its own, validated tables.
	m3, _ := NewPartitionMap(2, true)
	m3.Version = m.Version + 1
	m3.Partitions[0].Slots[0][0], m3.Partitions[1].Slots = 101, [][2]int{{0, 100}, m3.Partitions[1].Slots[0]}
	v3, err := BuildViewAfter(&State{Map: m3, Instances: st.Instances}, "p0-i0", v2)
	if err != nil {
		t.Fatal(err)
	}
	if v3.tables == v2.tables || v3.Owner(100).ID != 1 || v1.Owner(100).ID != 0 {
		t.Fatalf("new map: owner of slot 100 %d (before %d)", v3.Owner(100).ID, v1.Owner(100).ID)
	}
	m3.Partitions[1].Slots[0][1] = 99 // slot 100 assigned to nobody
	m4 := *m3
	if _, err := BuildViewAfter(&State{Map: &m4}, "p0-i0", v3); err == nil {
		t.Fatal("an invalid new map must fail")
	}
}
