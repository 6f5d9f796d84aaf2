package cluster

import "testing"

func TestFreshRecordAndServedDisk(t *testing.T) {
	claimed := InitialRecord(0, true)
	claimed.PrimaryRun = "a"
	reset := Record{Epoch: 2, Primary: "p0-i1", Backup: "p0-i0", PreferredPrimary: "p0-i0"}
	for _, tc := range []struct {
		name string
		rec  Record
		want bool
	}{
		{"the map's creation, with a backup", InitialRecord(3, true), true},
		{"the map's creation, without", InitialRecord(3, false), true},
		{"claimed", claimed, false},
		{"an operator's reset", reset, false},
	} {
		if got := tc.rec.Fresh(); got != tc.want {
			t.Errorf("%s: Fresh() = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		d    *DiskState
		want bool
	}{
		{"no data directory", nil, false},
		{"empty", &DiskState{}, false},
		{"a position", &DiskState{Position: Position{Epoch: 1, Seq: 1}}, true},
		{"keys without a record", &DiskState{Keys: 3}, true},
		{"inside an interrupted full sync", &DiskState{Recovering: true}, true},
	} {
		if got := tc.d.Served(); got != tc.want {
			t.Errorf("%s: Served() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
