package wan

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// allSlots is every slot number.
func allSlots() []int {
	ids := make([]int, slots.Count)
	for i := range ids {
		ids[i] = i
	}
	return ids
}

// checkDigests fails unless every slot's incremental digest equals the one recomputed
// from the metadata by a walk.
func checkDigests(t *testing.T, what string, tr *Tracker) {
	t.Helper()
	bad := 0
	for slot := range slots.Count {
		got := tr.dig.slot[slot]
		if want := tr.recomputeDigest(slot); got != want {
			if bad < 3 {
				t.Errorf("%s: slot %d's digest %+v, recomputed %+v", what, slot, got, want)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d slots' digests differ from the recomputed ones", what, bad)
	}
}

func TestDigestsKeptIncrementallyEqualARecomputation(t *testing.T) {
	wall := time.Now()
	a := newSite(t, "a", func(c *Config) { c.Now = func() time.Time { return wall }; c.TombstoneTTL = time.Minute }, "b")
	b := newSite(t, "b", nil, "a")
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string { return fmt.Sprintf("k%d", rng.IntN(400)) }
	for i := range 3000 {
		switch rng.IntN(6) {
		case 0, 1:
			a.set(t, key(), fmt.Sprint(i))
		case 2:
			a.st.Del([]byte(key()))
		case 3:
			if _, err := a.st.HSet([]byte("h"+key()), [][]byte{[]byte("f"), []byte(fmt.Sprint(i))}); err != nil {
				t.Fatal(err)
			}
		case 4:
			b.set(t, key(), fmt.Sprint(i)) // written at b, applied at a below
		case 5:
			k := key()
			slot := slots.Of([]byte(k))
			a.tr.MovingOut(slot, true) // its slot moves out: the metadata is forgotten
			a.st.Del([]byte(k))
			a.tr.MovingOut(slot, false)
		}
		if i%500 == 499 {
			ship(t, b, a, b.pull(t, "a"))
			ship(t, a, b, a.pull(t, "b"))
		}
	}
	checkDigests(t, "the primary after writes, deletions, moves and remote writes", a.tr)
	checkDigests(t, "its backup after replaying the stream", a.backup(t).tr)
	if got, want := a.backup(t).tr.Digests(allSlots()), a.tr.Digests(allSlots()); !slices.Equal(got, want) {
		t.Fatalf("the backup's digests differ from the primary's (%d and %d slots)", len(got), len(want))
	}
	wall = wall.Add(2 * time.Minute)
	if n := a.tr.CollectTombstones(); n == 0 {
		t.Fatal("no tombstone collected: the test does not exercise collection")
	}
	checkDigests(t, "the primary after collecting tombstones", a.tr)
	a.tr.Reset()
	if d := a.tr.Digests(allSlots()); len(d) != 0 {
		t.Fatalf("after Reset %d slots hold a digest", len(d))
	}
}

func TestSitesHoldingTheSameWritesHoldTheSameDigests(t *testing.T) {
	a, b := newSite(t, "a", nil, "b"), newSite(t, "b", nil, "a")
	for i := range 500 {
		a.set(t, fmt.Sprintf("a%d", i), "v")
		b.set(t, fmt.Sprintf("b%d", i), "v")
	}
	a.st.Del([]byte("a7"))
	ship(t, a, b, a.pull(t, "b"))
	ship(t, b, a, b.pull(t, "a"))
	da, db := a.tr.Digests(allSlots()), b.tr.Digests(allSlots())
	if len(da) == 0 || !slices.Equal(da, db) {
		t.Fatalf("after exchanging every write the sites' digests differ: %d and %d slots", len(da), len(db))
	}
	if d := DiffSlots(da, db); len(d) != 0 {
		t.Fatalf("DiffSlots of equal digests: %v", d)
	}
	a.set(t, "a1", "changed")
	a.st.Del([]byte("b2"))
	want := []int{slots.Of([]byte("a1")), slots.Of([]byte("b2"))}
	slices.Sort(want)
	if got := DiffSlots(a.tr.Digests(allSlots()), db); !slices.Equal(got, want) {
		t.Fatalf("DiffSlots after a write and a deletion at a: %v, want %v", got, want)
	}
	if got := DiffSlots(db, a.tr.Digests(allSlots())); !slices.Equal(got, want) {
		t.Fatalf("DiffSlots from b's side: %v, want %v", got, want)
	}
	if got := DiffSlots(nil, db); len(got) != 0 {
		t.Fatalf("a site holding nothing differs in %v: it has nothing to send", got)
	}
}

func TestBetterPicksTheEntriesTheTargetLacksOrHoldsOlder(t *testing.T) {
	e := func(k string, h uint64, site string, del bool) Entry {
		return Entry{Key: []byte(k), HLC: h, Site: site, Deleted: del}
	}
	mine := []Entry{
		e("same", 5, "a", false),
		e("newer", 9, "a", false),
		e("older", 3, "a", false),
		e("tie-greater-site", 7, "c", false),
		e("tie-lesser-site", 7, "a", false),
		e("missing", 4, "c", false),
		e("deleted-newer", 8, "a", true),
		e("deleted-missing", 2, "a", true),
		e("targets-own", 6, "b", false),
	}
	theirs := []Entry{
		e("same", 5, "a", false),
		e("newer", 4, "b", false),
		e("older", 6, "b", true),
		e("tie-greater-site", 7, "b", false),
		e("tie-lesser-site", 7, "b", false),
		e("deleted-newer", 1, "b", false),
		e("targets-own", 2, "a", false),
	}
	got, skipped := Better(mine, theirs, "b")
	var keys []string
	for _, g := range got {
		keys = append(keys, string(g.Key))
	}
	want := []string{"newer", "tie-greater-site", "missing", "deleted-newer", "deleted-missing"}
	if !slices.Equal(keys, want) || skipped != 1 {
		t.Fatalf("Better sends %v and skips %d; want %v and 1 (b's own write)", keys, skipped, want)
	}
}

// repair pushes what src holds better than dst, as a gateway's sync does over the wire,
// and returns the keys sent.
func repair(t *testing.T, src, dst *site) int {
	t.Helper()
	sent := 0
	for _, slot := range DiffSlots(src.tr.Digests(allSlots()), dst.tr.Digests(allSlots())) {
		better, _ := Better(src.tr.Entries(slot), dst.tr.Entries(slot), dst.tr.Site())
		for _, c := range src.tr.Changes(better) {
			if _, err := dst.tr.ApplyRemote(c, exclusive, dst.rec); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	return sent
}

func TestRepairInBothDirectionsMakesTwoSitesEqualKeepingDeletions(t *testing.T) {
	a, b := newSite(t, "a", nil, "b"), newSite(t, "b", nil, "a")
	for i := range 200 {
		a.set(t, fmt.Sprintf("k%d", i), "a")
	}
	ship(t, a, b, a.pull(t, "b"))
	// The cut: nothing more is shipped. b deletes k1 and rewrites k2, a rewrites k3,
	// deletes k4, and writes keys b never saw; c's write of k5 reached b only.
	b.st.Del([]byte("k1"))
	b.set(t, "k2", "b")
	a.set(t, "k3", "a2")
	a.st.Del([]byte("k4"))
	for i := range 50 {
		a.set(t, fmt.Sprintf("new%d", i), "a")
	}
	c := newSite(t, "c", nil, "b")
	c.set(t, "k5", "c")
	if _, err := b.tr.ApplyRemote(c.pull(t, "b").Changes[0], exclusive, b.rec); err != nil {
		t.Fatal(err)
	}

	if n := repair(t, a, b); n != 2+50 {
		t.Fatalf("a sent %d keys to b, want 52 (k3, k4's tombstone, the 50 new keys)", n)
	}
	// b sends k1's tombstone, k2 and c's k5; a's own writes it holds as they are.
	if n := repair(t, b, a); n != 3 {
		t.Fatalf("b sent %d keys to a, want 3 (k1's tombstone, k2, c's k5)", n)
	}
	if da, db := a.tr.Digests(allSlots()), b.tr.Digests(allSlots()); !slices.Equal(da, db) {
		t.Fatalf("after a repair each way the digests differ in %d slots", len(DiffSlots(da, db)))
	}
	for _, s := range []*site{a, b} {
		for k, want := range map[string]string{"k1": "", "k2": "b", "k3": "a2", "k4": "", "k5": "c", "new9": "a", "k0": "a"} {
			if v, _ := s.get(t, k); v != want {
				t.Errorf("site %s: %s=%q, want %q", s.tr.Site(), k, v, want)
			}
		}
	}
	if n := repair(t, a, b) + repair(t, b, a); n != 0 {
		t.Fatalf("a second repair sent %d keys, want none", n)
	}
}

func TestChangesLeaveOutKeysWrittenAgainAndCarryEveryKind(t *testing.T) {
	a := newSite(t, "a", nil, "b")
	a.set(t, "k", "1")
	if _, err := a.st.SAdd([]byte("s"), [][]byte{[]byte("m")}); err != nil {
		t.Fatal(err)
	}
	old := a.tr.Entries(slots.Of([]byte("k")))
	a.set(t, "k", "2")
	if got := a.tr.Changes(old); len(got) != 0 {
		t.Fatalf("changes for a key written again since: %+v", got)
	}
	if got := a.tr.Changes(a.tr.Entries(slots.Of([]byte("s")))); len(got) != 1 || got[0].Op == nil {
		t.Fatalf("changes for a set: %+v; want the set whole", got)
	}
}

// TestRepairCarriesMergeStates: a repair sends a pn-counter key as its merge state, as a
// pull does, so the site it repairs merges it (a whole value would be refused there),
// whichever site's last write is newer; a second repair changes nothing. (The key's
// entries keep differing, each site holding its own last write's stamp: a repair sends
// such a key again each time, merged as a no-op.)
func TestRepairCarriesMergeStates(t *testing.T) {
	rules, err := ParseRules([]string{"n:*=pn-counter"})
	if err != nil {
		t.Fatal(err)
	}
	pol := func(c *Config) { c.Policies = rules }
	a, b := newSite(t, "a", pol, "b"), newSite(t, "b", pol, "a")
	a.incr(t, "n:1", 5)
	b.incr(t, "n:1", 2)
	if n := repair(t, a, b); n != 1 {
		t.Fatalf("a sent %d keys to b, want 1", n)
	}
	if n := repair(t, b, a); n != 1 {
		t.Fatalf("b sent %d keys to a, want 1", n)
	}
	for _, s := range []*site{a, b} {
		if v, _ := s.get(t, "n:1"); v != "7" {
			t.Errorf("site %s: n:1=%q after a repair each way, want 7 (5 at a, 2 at b)", s.tr.Site(), v)
		}
	}
	repair(t, a, b)
	repair(t, b, a)
	for _, s := range []*site{a, b} {
		if v, _ := s.get(t, "n:1"); v != "7" {
			t.Errorf("site %s: n:1=%q after a second repair, want 7 still", s.tr.Site(), v)
		}
	}
}

func TestKeysWithoutMetadataAreStampedOlderThanAnyWrite(t *testing.T) {
	st := store.New(1 << 20)
	for i := range 100 {
		if _, err := st.Set(nil, []byte(fmt.Sprintf("old%d", i)), []byte("before"), store.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// WAN turned on over data already there: the tracker's journal from now on.
	a := &site{st: st}
	a.tr = NewTracker(Config{Site: "a", Targets: []string{"b"}, OutboxMax: 1000, Mode: ModeBlock, TombstoneTTL: time.Hour, Store: st})
	st.SetJournal(a)
	a.set(t, "old0", "rewritten")
	if n := a.tr.StampUnmarked(exclusive, a.rec); n != 99 {
		t.Fatalf("stamped %d keys, want the 99 without metadata", n)
	}
	if n := a.tr.StampUnmarked(exclusive, a.rec); n != 0 {
		t.Fatalf("a second pass stamped %d keys", n)
	}
	checkDigests(t, "after stamping", a.tr)
	if got, want := a.backup(t).tr.Digests(allSlots()), a.tr.Digests(allSlots()); !slices.Equal(got, want) {
		t.Fatal("the backup's digests differ from the primary's after stamping")
	}
	// A site lacking the keys gets them; any real write of one wins over the stamp.
	b := newSite(t, "b", nil, "a")
	b.set(t, "old5", "at b")
	if n := repair(t, a, b); n != 99 {
		t.Fatalf("a sent %d keys to b, want 99 (old0 and the 98 stamped keys b lacks)", n)
	}
	if v, _ := b.get(t, "old5"); v != "at b" {
		t.Fatalf("b's write of old5 lost to a's stamped value: %q", v)
	}
	if v, _ := b.get(t, "old6"); v != "before" {
		t.Fatalf("b holds old6=%q, want a's value", v)
	}
}

func TestARepairOfATargetRunsOnceAtATime(t *testing.T) {
	var r repairs
	first, _ := r.begin("b")
	if first == nil || first.State != api.WANRepairRunning || first.ID == 0 {
		t.Fatalf("first repair of b: %+v", first)
	}
	if again, running := r.begin("b"); again != nil || running != first.ID {
		t.Fatalf("a second repair of b while one runs: %+v, running %d; want refused naming %d", again, running, first.ID)
	}
	if other, _ := r.begin("c"); other == nil {
		t.Fatal("a repair of c refused while b's runs")
	}
	r.update(first, func(rs *api.WANRepair) { rs.State = api.WANRepairDone })
	if next, _ := r.begin("b"); next == nil || next.ID == first.ID {
		t.Fatalf("a repair of b after the first ended: %+v", next)
	}
	for range 2 * repairsKept {
		rs, _ := r.begin("d")
		r.update(rs, func(rs *api.WANRepair) { rs.State = api.WANRepairFailed })
	}
	list := r.list()
	running := func(target string) bool {
		return slices.ContainsFunc(list, func(x api.WANRepair) bool { return x.Target == target && x.State == api.WANRepairRunning })
	}
	if len(list) > repairsKept+2 || !running("b") || !running("c") {
		t.Fatalf("after many repairs the status keeps %d (want the last %d and the 2 running): %v", len(list), repairsKept, list)
	}
}

func TestRangesFoldSortedSlots(t *testing.T) {
	got := ranges([]int{0, 1, 2, 5, 7, 8, 16383})
	want := [][2]int{{0, 2}, {5, 5}, {7, 8}, {16383, 16383}}
	if !slices.Equal(got, want) {
		t.Fatalf("ranges: %v, want %v", got, want)
	}
}

func TestATargetBackInSyncAtEveryPartitionIsNoticedOnce(t *testing.T) {
	var r resyncs
	for i, step := range []struct {
		target string
		p      int
		resync bool
		back   bool
	}{
		{"b", 0, false, false},
		{"b", 0, true, false},
		{"b", 1, true, false},
		{"c", 0, false, false},
		{"b", 0, false, false}, // partition 1 still resynchronizes
		{"b", 1, true, false},
		{"b", 1, false, true},
		{"b", 1, false, false},
		{"b", 0, false, false},
	} {
		if got := r.note(step.target, step.p, step.resync); got != step.back {
			t.Fatalf("step %d (%s partition %d resync %v): back in sync %v, want %v", i, step.target, step.p, step.resync, got, step.back)
		}
	}
}

// BenchmarkDigestUpdate is what a key's metadata change adds to the write path: its old
// entry's hash out of the slot's digest and the new one's in.
func BenchmarkDigestUpdate(b *testing.B) {
	a := newSite(b, "london", nil, "paris")
	k := "user:1234:profile"
	slot := slots.Of([]byte(k))
	old := entry{hlc: 1 << 20}
	for i := 0; b.Loop(); i++ {
		e := entry{hlc: old.hlc + 1}
		a.tr.digestSet(slot, k, old, true, e)
		old = e
	}
}

func TestAskingATargetToRepairThisSiteTakesItsAnswer(t *testing.T) {
	for _, tc := range []struct {
		code int
		ok   bool
	}{
		{http.StatusAccepted, true},
		{http.StatusConflict, true},   // one runs there already
		{http.StatusBadRequest, true}, // it does not replicate to this site: not asked again
		{http.StatusServiceUnavailable, false},
	} {
		var asked string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			asked = r.Method + " " + r.URL.Path + " " + string(b)
			w.WriteHeader(tc.code)
			_, _ = w.Write([]byte(`{"target":"a","id":7,"state":"running"}`))
		}))
		g := NewGateway(GatewayConfig{Site: "a"})
		err := g.askRepair(context.Background(), GatewayTarget{Name: "b", Address: strings.TrimPrefix(srv.URL, "http://")})
		srv.Close()
		if (err == nil) != tc.ok || asked != `POST /v1/wan/sync {"target":"a"}` {
			t.Errorf("target answering %d: err %v, asked %q", tc.code, err, asked)
		}
	}
}
