package persist

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/store"
)

// TestRecoverEveryType: what the store journals (every type, expiry, deletions, the
// function libraries) comes back equal after a stop, and the numbering continues.
func TestRecoverEveryType(t *testing.T) {
	for _, f := range []Fsync{FsyncAlways, FsyncEverysec, FsyncNo} {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			a := openJournal(t, Config{Dir: dir, Fsync: f})
			stop := run(t, a.j)
			fill(t, a.s, 50)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			b := openJournal(t, Config{Dir: dir, Fsync: f})
			if got, want := contents(b.s), contents(a.s); !slices.Equal(got, want) {
				t.Fatalf("recovered %d keys, want %d: they differ", len(got), len(want))
			}
			if string(b.s.Functions()) != string(a.s.Functions()) {
				t.Errorf("function libraries %q, want %q", b.s.Functions(), a.s.Functions())
			}
			if b.rec.Seq != a.num.head() || b.rec.Epoch != 1 || b.rec.Cut != "" || b.rec.Records != int64(a.num.head()) {
				t.Errorf("recovery %+v, want position 1/%d, %d records, nothing cut", b.rec, a.num.head(), a.num.head())
			}
		})
	}
}

// writeRecords journals n SETs of key0..key(n-1), stops and returns the journal's path.
func writeRecords(t *testing.T, dir string, n int) string {
	t.Helper()
	a := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	stop := run(t, a.j)
	for i := range n {
		must[store.SetResult](t)(a.s.Set(nil, []byte("key"+string(rune('a'+i))), []byte(strings.Repeat("v", 100)), store.SetOptions{}))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, journalName(1))
}

// recordOffsets are the offsets of a journal's records.
func recordOffsets(t *testing.T, data []byte) []int {
	t.Helper()
	var offs []int
	for off := magicLen; off < len(data); {
		offs = append(offs, off)
		off += frameHeader + int(binary.LittleEndian.Uint32(data[off:]))
	}
	return offs
}

// TestTruncatedTail: a record cut short by a crash is cut from the file and reported;
// the records before it load; the next start finds nothing to cut.
func TestTruncatedTail(t *testing.T) {
	dir := t.TempDir()
	path := writeRecords(t, dir, 10)
	data := must[[]byte](t)(os.ReadFile(path))
	offs := recordOffsets(t, data)
	last := offs[len(offs)-1]
	if err := os.WriteFile(path, data[:last+20], 0o600); err != nil {
		t.Fatal(err)
	}
	b := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	if b.s.Keys() != 9 || b.rec.Seq != 9 || b.rec.CutBytes != 20 || b.rec.CutRecords != 1 || !strings.Contains(b.rec.Cut, "truncated record") {
		t.Fatalf("keys %d, recovery %+v: want 9 keys at seq 9, 20 bytes and 1 record cut as truncated", b.s.Keys(), b.rec)
	}
	if size := must[os.FileInfo](t)(os.Stat(path)).Size(); size != int64(last) {
		t.Errorf("journal is %d bytes after the cut, want %d", size, last)
	}
	stop := run(t, b.j)
	must[store.SetResult](t)(b.s.Set(nil, []byte("after"), []byte("cut"), store.SetOptions{}))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	c := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	if c.s.Keys() != 10 || c.rec.Cut != "" || c.rec.Seq != 10 {
		t.Errorf("second start: keys %d, recovery %+v; want 10 keys, nothing cut", c.s.Keys(), c.rec)
	}
}

// TestFlippedByte: a byte flipped in the middle of the journal is caught by the
// checksum: the records before it load, it and every later one are cut and counted.
func TestFlippedByte(t *testing.T) {
	dir := t.TempDir()
	path := writeRecords(t, dir, 10)
	data := must[[]byte](t)(os.ReadFile(path))
	offs := recordOffsets(t, data)
	data[offs[4]+frameHeader+5] ^= 0x40
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	if b.s.Keys() != 4 || b.rec.Seq != 4 || b.rec.CutRecords != 6 || b.rec.CutBytes != int64(len(data)-offs[4]) || !strings.Contains(b.rec.Cut, "checksum mismatch") ||
		!strings.Contains(b.rec.Cut, journalName(1)) {
		t.Fatalf("keys %d, recovery %+v: want 4 keys, the 6 records from byte %d cut for a checksum mismatch", b.s.Keys(), b.rec, offs[4])
	}
	if got := must[[]byte](t)(os.ReadFile(path)); len(got) != offs[4] {
		t.Errorf("journal is %d bytes after the cut, want %d", len(got), offs[4])
	}
}

// TestDamagedLength: a length flipped to a huge value is damage too, not an allocation.
func TestDamagedLength(t *testing.T) {
	dir := t.TempDir()
	path := writeRecords(t, dir, 3)
	data := must[[]byte](t)(os.ReadFile(path))
	offs := recordOffsets(t, data)
	binary.LittleEndian.PutUint32(data[offs[1]:], 0xFFFFFFF0)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	if b.s.Keys() != 1 || !strings.Contains(b.rec.Cut, "out of range") || b.rec.CutRecords != 1 {
		t.Fatalf("keys %d, recovery %+v: want 1 key, a length out of range cut", b.s.Keys(), b.rec)
	}
}

// TestEmptyAndShortFiles: an empty journal (created, nothing written) loads empty; one
// cut inside its header is cut to nothing and reported; both are usable afterwards.
func TestEmptyAndShortFiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		cut     bool
	}{{"empty", "", false}, {"short header", "INSG", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, journalName(1)), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			a := openJournal(t, Config{Dir: dir, Fsync: FsyncEverysec})
			if a.s.Keys() != 0 || (a.rec.Cut != "") != tc.cut {
				t.Fatalf("keys %d, recovery %+v; want empty, cut %v", a.s.Keys(), a.rec, tc.cut)
			}
			stop := run(t, a.j)
			must[store.SetResult](t)(a.s.Set(nil, []byte("k"), []byte("v"), store.SetOptions{}))
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if b := openJournal(t, Config{Dir: dir, Fsync: FsyncEverysec}); b.s.Keys() != 1 || b.rec.Cut != "" {
				t.Errorf("after a write: keys %d, recovery %+v", b.s.Keys(), b.rec)
			}
		})
	}
}

// TestNotAJournal: a file that is not a journal stops the start with its name.
func TestNotAJournal(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, journalName(1)), []byte("*2\r\n$3\r\nSET\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(Config{Dir: dir, Store: store.New(1 << 20)})
	if err == nil || !strings.Contains(err.Error(), journalName(1)) || !strings.Contains(err.Error(), "not a INSGAOF1 file") {
		t.Fatalf("Open: %v; want a refusal naming the file", err)
	}
}

// TestConfigErrors: bad settings are refused with the flag, the value and what is allowed.
func TestConfigErrors(t *testing.T) {
	s := store.New(1 << 20)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Store: s}, "--data-dir is empty"},
		{Config{Dir: "d", Store: s, Fsync: 7}, "--appendfsync 7: must be always, everysec or no"},
		{Config{Dir: "d", Store: s, RewritePercentage: -1}, "--auto-aof-rewrite-percentage -1"},
		{Config{Dir: "d", Store: s, RewriteMinSize: -5}, "--auto-aof-rewrite-min-size -5"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	for _, in := range []string{"sometimes", "", "1"} {
		if _, err := ParseFsync(in); err == nil || !strings.Contains(err.Error(), "must be always, everysec or no") {
			t.Errorf("ParseFsync(%q) = %v", in, err)
		}
	}
	for in, want := range map[string]Fsync{"always": FsyncAlways, "EVERYSEC": FsyncEverysec, "no": FsyncNo} {
		if got, err := ParseFsync(in); err != nil || got != want {
			t.Errorf("ParseFsync(%q) = %v, %v", in, got, err)
		}
	}
}

// TestFullSync: a backup's full sync replaces what the journal held; one the stop
// interrupts loads nothing (the backup syncs again) and says so.
func TestFullSync(t *testing.T) {
	dir := t.TempDir()
	a := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	stop := run(t, a.j)
	fill(t, a.s, 5)
	primary := store.New(1 << 29)
	fill(t, primary, 8)
	a.j.Reset()
	for _, op := range contents(primary) {
		a.j.Load([]byte(op))
	}
	a.j.Loaded(7, 1000)
	a.j.Append(7, 1001, []byte(contents(primary)[0]))
	if !a.j.Wait(1001) {
		t.Fatal("Wait(1001) refused")
	}
	a.j.Reset()
	a.j.Load([]byte(contents(primary)[1]))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// The interrupted second sync: the files are kept up to its first record.
	b := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	if b.s.Keys() != 0 || b.rec.Seq != 0 || len(b.rec.Discarded) != 1 || !strings.Contains(b.rec.Discarded[0], "full sync") {
		t.Fatalf("keys %d, recovery %+v: want empty, an interrupted full sync discarded", b.s.Keys(), b.rec)
	}
	// Without it: the first sync's state at 7/1001.
	data := must[[]byte](t)(os.ReadFile(filepath.Join(dir, journalName(1))))
	offs := recordOffsets(t, data)
	if err := os.WriteFile(filepath.Join(dir, journalName(1)), data[:offs[len(offs)-2]], 0o600); err != nil {
		t.Fatal(err)
	}
	c := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways})
	if got, want := contents(c.s), contents(primary); !slices.Equal(got, want) || c.rec.Epoch != 7 || c.rec.Seq != 1001 {
		t.Fatalf("recovered %d keys at %d/%d; want the primary's %d at 7/1001", len(got), c.rec.Epoch, c.rec.Seq, len(want))
	}
}

// TestRenumberRefusesWaiters: a wait for a sequence of a numbering that started over
// (a full sync, a new primary) is refused, not answered by the new numbering's fsyncs.
func TestRenumberRefusesWaiters(t *testing.T) {
	a := openJournal(t, Config{Dir: t.TempDir(), Fsync: FsyncAlways})
	a.j.Append(1, 1, []byte(contents(filled(t))[0]))
	got := make(chan bool)
	go func() { got <- a.j.Wait(1) }()
	waitFor(t, func() bool { a.j.mu.Lock(); defer a.j.mu.Unlock(); return len(a.j.waiters) == 1 })
	a.j.Reset()
	if <-got {
		t.Fatal("Wait(1) of the old numbering returned true after a reset")
	}
}

func filled(t *testing.T) *store.Store {
	s := store.New(1 << 29)
	fill(t, s, 2)
	return s
}

// TestSnapshots: with a small rewrite threshold the journal is compacted into snapshots
// as writes go on; the old files are removed; the last snapshot with the journal after it
// recovers the same data.
func TestSnapshots(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Fsync: FsyncEverysec, RewritePercentage: 50, RewriteMinSize: 4 << 10}
	a := openJournal(t, cfg)
	stop := run(t, a.j)
	for round := range 20 {
		fill(t, a.s, 30)
		must[store.SetResult](t)(a.s.Set(nil, []byte("round"), []byte{byte(round)}, store.SetOptions{}))
		waitFor(t, func() bool { return !a.j.rewriting.Load() })
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if a.j.rewrites.Load() < 2 {
		t.Fatalf("%d snapshots written, want several", a.j.rewrites.Load())
	}
	// The older files are gone: the last snapshot, its journal, and the next journal
	// when the stop cut the next snapshot short.
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshot-*"))
	journals, _ := filepath.Glob(filepath.Join(dir, "journal-*"))
	if len(snaps) != 1 || len(journals) < 1 || len(journals) > 2 {
		t.Errorf("snapshots %v, journals %v: want one snapshot and its journal (and the next one)", snaps, journals)
	}
	b := openJournal(t, cfg)
	if got, want := contents(b.s), contents(a.s); !slices.Equal(got, want) {
		t.Fatalf("recovered %d keys, want %d", len(got), len(want))
	}
	if b.rec.Snapshot == "" || b.rec.Seq != a.num.head() {
		t.Errorf("recovery %+v: want a snapshot and the position %d", b.rec, a.num.head())
	}
}

// TestDamagedSnapshot: a snapshot is never cut: damage stops the start with advice.
func TestDamagedSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Fsync: FsyncNo, RewritePercentage: 1, RewriteMinSize: 1}
	a := openJournal(t, cfg)
	stop := run(t, a.j)
	fill(t, a.s, 20)
	waitFor(t, func() bool { return a.j.rewrites.Load() > 0 && !a.j.rewriting.Load() })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.snap"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v", snaps)
	}
	data := must[[]byte](t)(os.ReadFile(snaps[0]))
	data[len(data)/2] ^= 1
	if err := os.WriteFile(snaps[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(Config{Dir: dir, Store: store.New(1 << 29)})
	if err == nil || !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), "move the directory's files aside") {
		t.Fatalf("Open: %v; want a refusal", err)
	}
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(time.Millisecond)
	}
}
