package data

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
	"github.com/insightgrid/insight/grid/wan"
)

// wanJournal numbers a primary's changes into its journal as the replication node does
// (repl's storeJournal and RecordWAN): each change of the store, then the WAN metadata
// the tracker stamps it with, in one sequence.
type wanJournal struct {
	mu  sync.Mutex
	j   *persist.Journal
	t   *wan.Tracker // nil: WAN replication off
	seq uint64
	// unstamped journals the changes alone, as when the instance stops between a
	// change and its stamp.
	unstamped bool
}

func (w *wanJournal) Record(slot int, op []byte) {
	w.rec(slot, op)
	if w.t != nil && !w.unstamped {
		w.t.Record(slot, op, w.rec)
	}
}

func (w *wanJournal) rec(_ int, op []byte) {
	w.mu.Lock()
	w.seq++
	w.j.Append(1, w.seq, op)
	w.mu.Unlock()
}

// diskSite is one start of a site's partition with a data directory: what openDisk
// loaded, and its journal running until stop.
type diskSite struct {
	store *store.Store
	wan   *wan.Tracker
	rec   persist.Recovery
	jn    *wanJournal
	stop  func()
}

// openSite starts the partition on dir as a data instance does (the tracker first, then
// openDisk), its clock reading now.
func openSite(t *testing.T, dir string, rewritePct int, now func() time.Time) *diskSite {
	t.Helper()
	st := store.New(1 << 20)
	tr := wan.NewTracker(wan.Config{Site: "london", Targets: []string{"paris", "tokyo"}, OutboxMax: 1000, Mode: wan.ModeBlock,
		TombstoneTTL: time.Hour, Store: st, Now: now})
	in := &instance{store: st, wan: tr}
	rec, err := in.openDisk(Config{DataDir: dir, AppendFsync: persist.FsyncAlways, RewritePercentage: rewritePct, RewriteMinSize: 1,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	jn := &wanJournal{j: in.disk, t: tr, seq: rec.Seq}
	st.SetJournal(jn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.disk.Run(ctx) }()
	var once sync.Once
	s := &diskSite{store: st, wan: tr, rec: rec, jn: jn}
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("the journal stopped with %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// snapshotEverything waits for a snapshot taken after every change, its journal empty.
// Every flush of records starts a snapshot unless one is being written: between
// snapshots, it journals nudge again (an operation whose replay changes nothing).
func snapshotEverything(t *testing.T, s *diskSite, nudge []byte) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, "a snapshot of everything, its journal empty", func() bool {
		s.jn.mu.Lock()
		last := s.jn.seq
		s.jn.mu.Unlock()
		st := s.jn.j.Status()
		switch {
		case st.SnapshotInProgress:
			return false
		case st.SyncedOffset == last && st.JournalBytes == 8:
			return true
		}
		s.jn.rec(0, nudge)
		return false
	})
}

func (s *diskSite) set(t *testing.T, k, v string) {
	t.Helper()
	if _, err := s.store.Set(nil, []byte(k), []byte(v), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
}

// metadata is the tracker's every operation, sorted: equal for equal metadata and targets.
func metadata(tr *wan.Tracker) []string {
	var out []string
	for slot := range slots.Count {
		tr.DumpSlot(slot, func(op []byte) { out = append(out, string(op)) })
	}
	slices.Sort(out)
	return out
}

// outbox is what target would be sent now: key@HLC (deleted for a tombstone).
func outbox(t *testing.T, tr *wan.Tracker, target string) []string {
	t.Helper()
	b, err := tr.Pull(target, 1000, func(int, []byte) { t.Errorf("a pull for %s journaled something", target) })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range b.Changes {
		v := "deleted"
		if c.Op != nil {
			v = "set"
		}
		out = append(out, fmt.Sprintf("%s@%d:%s", c.Key, c.HLC, v))
	}
	return out
}

// TestWANMetadataSurvivesARestart: with a data directory, a site's per-key metadata, its
// tombstones and the targets' watermarks come back from the journal alone and from a
// snapshot with the journal after it, so the outbox holds the same unacknowledged writes;
// and a clock that reads an hour earlier after the restart still stamps the next write
// after every write made before it.
func TestWANMetadataSurvivesARestart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rewritePct int  // 0: no snapshots
		snapOnly   bool // the last snapshot holds everything, its journal nothing
	}{{"journal", 0, false}, {"snapshot and journal", 1, false}, {"snapshot", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			later := time.Now().Add(time.Hour)
			a := openSite(t, dir, tc.rewritePct, func() time.Time { return later })
			for i := range 10 {
				a.set(t, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
			}
			if tc.rewritePct > 0 {
				testutil.Eventually(t, 10*time.Second, "a snapshot written", func() bool {
					names, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.snap"))
					return len(names) > 0
				})
			}
			a.store.Del([]byte("k3")) // a tombstone
			a.set(t, "k5", "v5b")     // rewritten: the outbox holds the last write only
			b, err := a.wan.Pull("paris", 4, a.jn.rec)
			if err != nil || len(b.Changes) != 4 {
				t.Fatalf("pull for paris: %d changes, %v", len(b.Changes), err)
			}
			var ackOp []byte
			if err := a.wan.Ack("paris", b.Upto, func(slot int, op []byte) { ackOp = op; a.jn.rec(slot, op) }); err != nil { // paris's watermark
				t.Fatal(err)
			}
			if tc.snapOnly {
				snapshotEverything(t, a, ackOp)
			}
			before, st := metadata(a.wan), a.wan.Status()
			paris, tokyo := outbox(t, a.wan, "paris"), outbox(t, a.wan, "tokyo")
			if len(tokyo) != 10 || len(paris) != 6 || !strings.Contains(strings.Join(tokyo, " "), ":deleted") {
				t.Fatalf("before the restart: outbox for paris %v, for tokyo %v: want 6 and 10 keys, k3 deleted", paris, tokyo)
			}
			a.stop()

			r := openSite(t, dir, tc.rewritePct, time.Now)
			if tc.rewritePct > 0 && r.rec.Snapshot == "" || tc.snapOnly && r.rec.Records != 0 {
				t.Fatalf("recovery %+v: want a snapshot loaded (and no journal record with it)", r.rec)
			}
			if got := metadata(r.wan); !slices.Equal(got, before) {
				t.Fatalf("metadata after the restart: %d operations, want the %d before, equal\n%q\n%q", len(got), len(before), got, before)
			}
			rst := r.wan.Status()
			if rst.MetaKeys != st.MetaKeys || rst.Outbox != st.Outbox || rst.ClockHLC < st.ClockHLC || !slices.Equal(rst.Targets, st.Targets) {
				t.Fatalf("status after the restart %+v, want %+v (the clock not behind)", rst, st)
			}
			if got := outbox(t, r.wan, "paris"); !slices.Equal(got, paris) {
				t.Errorf("outbox for paris after the restart %v, want %v", got, paris)
			}
			if got := outbox(t, r.wan, "tokyo"); !slices.Equal(got, tokyo) {
				t.Errorf("outbox for tokyo after the restart %v, want %v", got, tokyo)
			}
			if _, ok, _ := r.store.Get(nil, []byte("k3")); ok {
				t.Error("k3, deleted before the restart, is back")
			}

			r.set(t, "k0", "after")
			out := outbox(t, r.wan, "tokyo")
			for _, c := range out {
				var k string
				var h uint64
				if _, err := fmt.Sscanf(strings.Replace(c, "@", " ", 1), "%s %d", &k, &h); err != nil {
					t.Fatal(err)
				}
				if k == "k0" && h <= st.ClockHLC {
					t.Fatalf("k0 written after the restart stamped %d, not after %d, the newest stamp before it", h, st.ClockHLC)
				}
			}
			if last := out[len(out)-1]; !strings.HasPrefix(last, "k0@") {
				t.Errorf("outbox for tokyo %v: want k0's new write last", out)
			}
		})
	}
}

// TestWANMetadataOfAFormerSiteIsDroppedWithoutWAN: an instance started without
// --wan-site on a directory a site left loads its keys and drops the metadata, rather
// than refusing the journal.
func TestWANMetadataOfAFormerSiteIsDroppedWithoutWAN(t *testing.T) {
	dir := t.TempDir()
	a := openSite(t, dir, 0, time.Now)
	a.set(t, "k", "v")
	a.stop()
	st := store.New(1 << 20)
	in := &instance{store: st}
	if _, err := in.openDisk(Config{DataDir: dir, AppendFsync: persist.FsyncAlways, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("opening a former site's directory without WAN: %v", err)
	}
	if v, ok, _ := st.Get(nil, []byte("k")); !ok || string(v) != "v" {
		t.Fatalf("k = %q, %v after the restart without WAN; want v", v, ok)
	}
}

// TestATargetRemovedFromTheConfigurationDoesNotHoldTheOutbox: the watermark of a site
// dropped from --wan-targets comes back from the data directory with the others; the
// outbox then empties when the remaining targets acknowledge, not never.
func TestATargetRemovedFromTheConfigurationDoesNotHoldTheOutbox(t *testing.T) {
	dir := t.TempDir()
	a := openSite(t, dir, 0, time.Now)
	a.set(t, "k1", "v")
	if err := a.wan.Ack("tokyo", 1, a.jn.rec); err != nil { // tokyo's watermark is in the journal
		t.Fatal(err)
	}
	a.set(t, "k2", "v")
	a.stop()
	st := store.New(1 << 20)
	tr := wan.NewTracker(wan.Config{Site: "london", Targets: []string{"paris"}, OutboxMax: 1000, Mode: wan.ModeBlock,
		TombstoneTTL: time.Hour, Store: st})
	in := &instance{store: st, wan: tr}
	if _, err := in.openDisk(Config{DataDir: dir, AppendFsync: persist.FsyncAlways, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	b, err := tr.Pull("paris", 10, func(int, []byte) {})
	if err != nil || len(b.Changes) != 2 {
		t.Fatalf("pull for paris after the restart: %+v, %v; want k1 and k2", b, err)
	}
	if err := tr.Ack("paris", b.Upto, func(int, []byte) {}); err != nil {
		t.Fatal(err)
	}
	if n := tr.Status().Outbox; n != 0 {
		t.Fatalf("outbox after paris, the only target, acknowledged everything: %d keys, want 0", n)
	}
}

// TestTheOutboxLoadedFromASnapshotHoldsOnlyTheUnacknowledged: keys every target has
// acknowledged, loaded from a snapshot in no order, are not counted in the outbox (which
// block mode holds writes on).
func TestTheOutboxLoadedFromASnapshotHoldsOnlyTheUnacknowledged(t *testing.T) {
	dir := t.TempDir()
	a := openSite(t, dir, 1, time.Now)
	for i := range 20 {
		a.set(t, fmt.Sprintf("k%d", i), "v")
	}
	var ackOp []byte
	for _, target := range []string{"paris", "tokyo"} {
		b, err := a.wan.Pull(target, 100, a.jn.rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.wan.Ack(target, b.Upto, func(slot int, op []byte) { ackOp = op; a.jn.rec(slot, op) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.wan.Status().Outbox; n != 0 {
		t.Fatalf("outbox before the restart: %d keys, want 0", n)
	}
	snapshotEverything(t, a, ackOp)
	a.stop()
	r := openSite(t, dir, 1, time.Now)
	if n := r.wan.Status().Outbox; n != 0 || r.rec.Records != 0 {
		t.Fatalf("outbox after a restart from a snapshot (recovery %+v): %d keys, want 0", r.rec, n)
	}
}

// TestAChangeJournaledWithoutItsStampIsStampedAtTheRestart: an instance stopped between a
// change and its stamp (two records) comes back with the key's new value and gives it a
// new stamp, so it is sent; keys written before WAN was on are not.
func TestAChangeJournaledWithoutItsStampIsStampedAtTheRestart(t *testing.T) {
	dir := t.TempDir()
	// Without WAN first: these keys have no metadata and stay without.
	st := store.New(1 << 20)
	in := &instance{store: st}
	if _, err := in.openDisk(Config{DataDir: dir, AppendFsync: persist.FsyncAlways, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	jn := &wanJournal{j: in.disk}
	st.SetJournal(jn)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.disk.Run(ctx) }()
	if _, err := st.Set(nil, []byte("before-wan"), []byte("v"), store.SetOptions{}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	a := openSite(t, dir, 0, time.Now)
	a.set(t, "k1", "v1")
	a.set(t, "k2", "v1")
	a.store.Del([]byte("k3"))                           // absent: nothing journaled
	for _, target := range []string{"paris", "tokyo"} { // every stamped write acknowledged
		b, err := a.wan.Pull(target, 100, a.jn.rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.wan.Ack(target, b.Upto, a.jn.rec); err != nil {
			t.Fatal(err)
		}
	}
	a.jn.unstamped = true
	a.set(t, "k2", "v2") // its stamp never journaled
	a.set(t, "k4", "v1")
	a.store.Del([]byte("k1"))
	a.stop()

	r := openSite(t, dir, 0, time.Now)
	out := outbox(t, r.wan, "tokyo")
	want := map[string]string{"k1": "deleted", "k2": "set", "k4": "set"}
	got := map[string]string{}
	for _, c := range out {
		k, rest, _ := strings.Cut(c, "@")
		_, v, _ := strings.Cut(rest, ":")
		got[k] = v
	}
	if len(got) != len(want) || got["k1"] != want["k1"] || got["k2"] != want["k2"] || got["k4"] != want["k4"] {
		t.Fatalf("outbox for tokyo after the restart %v: want k1 deleted, k2 and k4 set, before-wan not", out)
	}
	if v, ok, _ := r.store.Get(nil, []byte("k2")); !ok || string(v) != "v2" {
		t.Fatalf("k2 = %q, %v; want v2", v, ok)
	}
}
