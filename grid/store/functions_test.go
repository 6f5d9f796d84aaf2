package store

import (
	"testing"
	"time"
)

// TestFunctionsReplicateAndSnapshot: SetFunctions journals the libraries, a replica
// applies them and tells its hook; a snapshot starts with them; Reset empties them and
// tells the hook too; a unit open on slot 0 does not hold them back.
func TestFunctionsReplicateAndSnapshot(t *testing.T) {
	primary, backup := New(1<<20), New(1<<20)
	primary.TrackChanges()
	primary.SetJournal(&replica{t: t, dst: backup})
	var seen [][]byte
	backup.OnFunctions(func(blob []byte) { seen = append(seen, blob) })

	primary.BeginUnit(0)
	primary.SetFunctions([]byte("libs v1"))
	if got := string(backup.Functions()); got != "libs v1" {
		t.Fatalf("backup functions %q, want %q (a unit on slot 0 must not hold them back)", got, "libs v1")
	}
	primary.EndUnit(0)
	primary.SetFunctions(nil)
	if len(seen) != 2 || string(seen[0]) != "libs v1" || seen[1] != nil {
		t.Fatalf("hook saw %q, want [libs v1, nil]", seen)
	}

	primary.SetFunctions([]byte("libs v2"))
	fresh := New(1 << 20)
	var got []byte
	fresh.OnFunctions(func(blob []byte) { got = blob })
	n := 0
	primary.DumpSlot(0, func(op []byte) {
		n++
		if err := fresh.Apply(op); err != nil {
			t.Fatalf("applying the snapshot's op %x: %v", op, err)
		}
	})
	if n != 1 || string(got) != "libs v2" || string(fresh.Functions()) != "libs v2" {
		t.Fatalf("snapshot of slot 0: %d ops, functions %q, want 1 op holding %q", n, got, "libs v2")
	}
	fresh.Reset()
	if fresh.Functions() != nil || got != nil {
		t.Fatalf("after Reset: %q, hook %q, want none", fresh.Functions(), got)
	}
	if err := fresh.Apply([]byte{opFunctions, 5, 'x'}); err == nil {
		t.Fatal("a cut opFunctions was applied")
	}
}

// TestWaitUnitsWaitsForOpenUnits: a handover's WaitUnits returns once the open units are
// journaled, and gives up at its deadline while one stays open.
func TestWaitUnitsWaitsForOpenUnits(t *testing.T) {
	primary, backup := New(1<<20), New(1<<20)
	primary.TrackChanges()
	primary.SetJournal(&replica{t: t, dst: backup})
	if !primary.WaitUnits(time.Now()) {
		t.Fatal("WaitUnits without an open unit reported one")
	}
	primary.BeginUnit(77)
	if primary.WaitUnits(time.Now().Add(20 * time.Millisecond)) {
		t.Fatal("WaitUnits returned while a unit was open")
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		primary.EndUnit(77)
	}()
	if !primary.WaitUnits(time.Now().Add(10 * time.Second)) {
		t.Fatal("WaitUnits gave up although the unit ended")
	}
}
