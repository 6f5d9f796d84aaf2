package persist

import (
	"bytes"
	"slices"
	"testing"

	"github.com/insightgrid/insight/grid/store"
)

// fakeMeta is a Config.Meta whose operations start with 0xF0 and hold one slot's
// state: the last one of a slot wins.
type fakeMeta struct {
	state    map[int]string
	resets   int
	replayed []string // the store's changes replayed
}

func (m *fakeMeta) Owns(op []byte) bool { return len(op) > 1 && op[0] == 0xF0 }

func (m *fakeMeta) ApplyOp(op []byte) error {
	if m.state == nil {
		m.state = map[int]string{}
	}
	m.state[int(op[1])] = string(op[2:])
	return nil
}

func (m *fakeMeta) DumpSlot(slot int, fn func(op []byte)) {
	if v, ok := m.state[slot]; ok {
		fn(append([]byte{0xF0, byte(slot)}, v...))
	}
}

func (m *fakeMeta) Reset() { m.state, m.resets = nil, m.resets+1 }

func (m *fakeMeta) Replayed(op []byte) { m.replayed = append(m.replayed, string(op)) }

func metaOp(slot int, v string) []byte { return append([]byte{0xF0, byte(slot)}, v...) }

// TestMetaOperationsReplayIntoMetaNotTheStore: Config.Meta's operations in the journal
// go to it (the store refuses them without it), a snapshot holds its state and its
// keys count the store's alone, and a full sync's reset empties it with the store.
func TestMetaOperationsReplayIntoMetaNotTheStore(t *testing.T) {
	dir := t.TempDir()
	a := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways, Meta: &fakeMeta{}})
	stop := run(t, a.j)
	must[store.SetResult](t)(a.s.Set(nil, []byte("k"), []byte("v"), store.SetOptions{}))
	a.num.Record(0, metaOp(1, "one"))
	a.num.Record(0, metaOp(2, "two"))
	a.num.Record(0, metaOp(1, "one again"))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(Config{Dir: dir, Store: store.New(1 << 20)}); err == nil {
		t.Fatal("a journal holding Meta operations opened without Meta: want the store's refusal")
	}
	m := &fakeMeta{}
	b := openJournal(t, Config{Dir: dir, Fsync: FsyncAlways, Meta: m})
	if want := map[int]string{1: "one again", 2: "two"}; len(m.state) != 2 || m.state[1] != want[1] || m.state[2] != want[2] || b.s.Keys() != 1 {
		t.Fatalf("after the replay: meta %v, %d keys; want %v and 1 key", m.state, b.s.Keys(), want)
	}
	if len(m.replayed) != 1 {
		t.Fatalf("Replayed told %d changes of the store, want the one SET", len(m.replayed))
	}

	// A snapshot holds the meta's state; its key count is the store's.
	snapMeta := &fakeMeta{state: map[int]string{3: "three", 200: "later"}}
	st := store.New(1 << 20)
	must[store.SetResult](t)(st.Set(nil, []byte("k"), []byte("v"), store.SetOptions{}))
	var buf bytes.Buffer
	keys, err := writeSnapshot(t.Context(), &buf, st, snapMeta, position{1, 9})
	if err != nil || keys != 1 {
		t.Fatalf("snapshot: %d keys, %v; want 1", keys, err)
	}
	var ops []string
	info, err := ReadSnapshot(&buf, func(op []byte) error { ops = append(ops, string(op)); return nil })
	if err != nil || info.Keys != 3 || !slices.Contains(ops, string(metaOp(3, "three"))) {
		t.Fatalf("snapshot read: %+v, %v, %d records; want 3 records, the meta's among them", info, err, len(ops))
	}

	// A full sync's reset empties the meta; what the sync loads comes back.
	b.j.Reset()
	b.j.Load(metaOp(4, "synced"))
	b.j.Loaded(2, 1)
	stopB := run(t, b.j)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	c := &fakeMeta{}
	openJournal(t, Config{Dir: dir, Fsync: FsyncAlways, Meta: c})
	if c.resets != 1 || len(c.state) != 1 || c.state[4] != "synced" || len(c.replayed) != 1 {
		t.Fatalf("after a full sync: meta %v (%d resets); want only slot 4's, reset once", c.state, c.resets)
	}
}
