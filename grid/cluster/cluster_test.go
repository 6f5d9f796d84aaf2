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
	if n := v.SelfNode(); n == nil || n.ID != "p0-i1" || n.Role != RoleBackup || n.Port != 6379 || len(n.NodeID) != 40 {
		t.Fatalf("self: %+v", n)
	}
	if _, err := BuildView(&State{}, "p0-i0"); err == nil {
		t.Fatal("a view without a partition map must fail")
	}
}
