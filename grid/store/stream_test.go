package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/insightgrid/insight/grid/slots"
)

func sid(ms, seq uint64) StreamID { return StreamID{Ms: ms, Seq: seq} }

func fv(kv ...string) [][]byte {
	out := make([][]byte, len(kv))
	for i, s := range kv {
		out[i] = []byte(s)
	}
	return out
}

func ids(es []StreamEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID.String())
	}
	return out
}

func TestXAddIDs(t *testing.T) {
	s, now := newTestStore()
	k := b("s")
	for _, tc := range []struct {
		name string
		a    XAddArgs
		want string
		err  error
	}{
		{"explicit", XAddArgs{ID: sid(5, 1)}, "5-1", nil},
		{"equal", XAddArgs{ID: sid(5, 1)}, "", ErrStreamIDSmall},
		{"smaller", XAddArgs{ID: sid(4, 9)}, "", ErrStreamIDSmall},
		{"zero", XAddArgs{}, "", ErrStreamIDZero},
		{"seq auto same ms", XAddArgs{ID: sid(5, 0), SeqAuto: true}, "5-2", nil},
		{"seq auto new ms", XAddArgs{ID: sid(7, 0), SeqAuto: true}, "7-0", nil},
		{"seq auto past", XAddArgs{ID: sid(6, 0), SeqAuto: true}, "", ErrStreamIDSmall},
		{"auto", XAddArgs{Auto: true}, fmt.Sprintf("%d-0", *now), nil},
		{"auto same ms", XAddArgs{Auto: true}, fmt.Sprintf("%d-1", *now), nil},
		{"nomkstream existing", XAddArgs{ID: sid(uint64(*now)+1, 0), NoMkStream: true}, fmt.Sprintf("%d-0", *now+1), nil},
	} {
		id, ok, err := s.XAdd(k, tc.a, fv("f", "v"))
		if !errors.Is(err, tc.err) || (err == nil && (!ok || id.String() != tc.want)) {
			t.Errorf("%s: %v %v %v, want %s %v", tc.name, id, ok, err, tc.want, tc.err)
		}
	}
	if _, ok, err := s.XAdd(b("none"), XAddArgs{Auto: true, NoMkStream: true}, fv("f", "v")); ok || err != nil || s.Exists(b("none")) {
		t.Errorf("NOMKSTREAM created a stream: %v %v", ok, err)
	}
	must[SetResult](t)(s.Set(nil, b("str"), b("x"), SetOptions{}))
	if _, _, err := s.XAdd(b("str"), XAddArgs{Auto: true}, fv("f", "v")); !errors.Is(err, ErrWrongType) {
		t.Errorf("XADD on a string: %v", err)
	}
	if s.Type(k) != KindStream {
		t.Errorf("TYPE %v", s.Type(k))
	}
}

// fillStream adds n entries 1-0..n-0 with fields that sometimes differ from the node's first.
func fillStream(t *testing.T, s *Store, k []byte, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		f := fv("f", fmt.Sprint(i))
		if i%7 == 0 {
			f = fv("other", "x", "f", fmt.Sprint(i))
		}
		if _, _, err := s.XAdd(k, XAddArgs{ID: sid(uint64(i), 0)}, f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestXRangeDelTrim(t *testing.T) {
	s, _ := newTestStore()
	k := b("s")
	fillStream(t, s, k, 350) // four nodes
	for _, tc := range []struct {
		name       string
		start, end StreamID
		count      int64
		rev        bool
		want       []string
	}{
		{"first", StreamID{}, MaxStreamID, 2, false, []string{"1-0", "2-0"}},
		{"across nodes", sid(99, 0), sid(102, 0), 0, false, []string{"99-0", "100-0", "101-0", "102-0"}},
		{"rev across nodes", sid(99, 0), sid(102, 0), 3, true, []string{"102-0", "101-0", "100-0"}},
		{"empty", sid(5, 1), sid(5, 9), 0, false, []string{}},
		{"inverted", sid(9, 0), sid(5, 0), 0, false, []string{}},
		{"last", sid(350, 0), MaxStreamID, 0, true, []string{"350-0"}},
	} {
		es, err := s.XRange(k, tc.start, tc.end, tc.count, tc.rev)
		if err != nil || !reflect.DeepEqual(ids(es), tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, ids(es), err, tc.want)
		}
	}
	es, _ := s.XRange(k, sid(14, 0), sid(14, 0), 0, false)
	if len(es) != 1 || fmt.Sprintf("%s", es[0].Fields) != "[other x f 14]" {
		t.Errorf("entry with its own fields: %q", es[0].Fields)
	}
	if n, _ := s.XDel(k, []StreamID{sid(2, 0), sid(2, 0), sid(999, 0)}); n != 1 {
		t.Errorf("XDEL: %d", n)
	}
	// Deleting a whole node's entries frees the node.
	var node []StreamID
	for i := 101; i <= 200; i++ {
		node = append(node, sid(uint64(i), 0))
	}
	before := s.DataMemory()
	if n, _ := s.XDel(k, node); n != 100 {
		t.Errorf("XDEL of a node: %d", n)
	}
	in, _, _ := s.XInfoStream(k, false, 0)
	if in.Length != 249 || in.Nodes != 3 || in.MaxDeleted != sid(200, 0) || in.First != sid(1, 0) || s.DataMemory() >= before {
		t.Errorf("after XDEL: %+v, memory %d -> %d", in, before, s.DataMemory())
	}
	for _, tc := range []struct {
		name    string
		a       XTrimArgs
		removed int64
		first   string
	}{
		{"approx keeps a partial node", XTrimArgs{Strategy: TrimMaxLen, MaxLen: 240, Approx: true}, 0, "1-0"},
		{"exact", XTrimArgs{Strategy: TrimMaxLen, MaxLen: 240}, 9, "11-0"},
		{"approx whole node", XTrimArgs{Strategy: TrimMaxLen, MaxLen: 150, Approx: true}, 90, "201-0"},
		{"minid limit too small", XTrimArgs{Strategy: TrimMinID, MinID: sid(330, 0), Approx: true, Limit: 10}, 0, "201-0"},
		{"minid exact", XTrimArgs{Strategy: TrimMinID, MinID: sid(330, 0)}, 129, "330-0"},
		{"all", XTrimArgs{Strategy: TrimMaxLen}, 21, ""},
	} {
		n, err := s.XTrim(k, tc.a)
		first := ""
		if es, _ := s.XRange(k, StreamID{}, MaxStreamID, 1, false); len(es) > 0 {
			first = es[0].ID.String()
		}
		if err != nil || n != tc.removed || first != tc.first {
			t.Errorf("%s: removed %d %v first %q, want %d %q", tc.name, n, err, first, tc.removed, tc.first)
		}
	}
	if n, _ := s.XLen(k); n != 0 || !s.Exists(k) {
		t.Errorf("a trimmed stream stays, empty: %d %v", n, s.Exists(k))
	}
}

func TestConsumerGroups(t *testing.T) {
	s, now := newTestStore()
	k := b("s")
	fillStream(t, s, k, 5)
	g, c1, c2 := b("g"), b("c1"), b("c2")
	if err := s.XGroupCreate(b("none"), g, StreamID{}, false, false, -1); !errors.Is(err, ErrStreamKeyMissing) {
		t.Errorf("XGROUP CREATE without key: %v", err)
	}
	must0(t, s.XGroupCreate(k, g, StreamID{}, false, false, -1))
	if err := s.XGroupCreate(k, g, StreamID{}, false, false, -1); !errors.Is(err, ErrBusyGroup) {
		t.Errorf("second XGROUP CREATE: %v", err)
	}
	read := func(c []byte, id XReadGroupID, count int64) []string {
		t.Helper()
		res, err := s.XReadGroup([][]byte{k}, []XReadGroupID{id}, g, c, count, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 0 {
			return nil
		}
		return ids(res[0].Entries)
	}
	if got := read(c1, XReadGroupID{New: true}, 2); !reflect.DeepEqual(got, []string{"1-0", "2-0"}) {
		t.Errorf("first read: %v", got)
	}
	*now += 100
	if got := read(c2, XReadGroupID{New: true}, 0); !reflect.DeepEqual(got, []string{"3-0", "4-0", "5-0"}) {
		t.Errorf("second read: %v", got)
	}
	if got := read(c2, XReadGroupID{New: true}, 0); got != nil {
		t.Errorf("nothing new: %v", got)
	}
	if got := read(c1, XReadGroupID{}, 0); !reflect.DeepEqual(got, []string{"1-0", "2-0"}) {
		t.Errorf("history: %v", got)
	}
	p, _ := s.XPendingSummary(k, g)
	if p.Count != 5 || p.First != sid(1, 0) || p.Last != sid(5, 0) || len(p.Consumers) != 2 {
		t.Errorf("summary %+v", p)
	}
	if n, _ := s.XAck(k, g, []StreamID{sid(1, 0), sid(1, 0), sid(9, 0)}); n != 1 {
		t.Errorf("XACK %d", n)
	}
	pe, _ := s.XPendingRange(k, g, StreamID{}, MaxStreamID, 10, 0, c1)
	if len(pe) != 1 || pe[0].ID != sid(2, 0) || pe[0].Count != 2 || pe[0].Idle != 0 {
		t.Errorf("c1 pending %+v", pe)
	}
	*now += 1000
	// XCLAIM moves 3-0 to c1 when idle long enough; 4-0 is deleted and leaves the PEL.
	must[int64](t)(s.XDel(k, []StreamID{sid(4, 0)}))
	cl, err := s.XClaim(k, g, c1, []StreamID{sid(3, 0), sid(4, 0)}, XClaimArgs{MinIdle: 500, Time: -1, RetryCount: -1})
	if err != nil || len(cl) != 1 || cl[0].Entry.ID != sid(3, 0) {
		t.Errorf("XCLAIM %+v %v", cl, err)
	}
	out, next, deleted, err := s.XAutoClaim(k, g, c2, 0, StreamID{}, 1, true)
	if err != nil || len(out) != 1 || out[0].Entry.ID != sid(2, 0) || next != sid(3, 0) || len(deleted) != 0 {
		t.Errorf("XAUTOCLAIM %+v next %v deleted %v %v", out, next, deleted, err)
	}
	gs, _ := s.XInfoGroups(k)
	if len(gs) != 1 || gs[0].Pending != 3 || gs[0].Consumers != 2 || gs[0].Last != sid(5, 0) || gs[0].Read != 5 {
		t.Errorf("groups %+v", gs)
	}
	if n, _ := s.XGroupDelConsumer(k, g, c2); n != 2 {
		t.Errorf("DELCONSUMER %d", n)
	}
	if ok, _ := s.XGroupDestroy(k, g); !ok {
		t.Error("DESTROY")
	}
	if s.heap.Load() != streamHeap+snodeHeap {
		t.Errorf("heap bytes %d after the group went, want %d", s.heap.Load(), streamHeap+snodeHeap)
	}
	s.Del(k)
	if s.heap.Load() != 0 || s.DatasetBytes() != 0 {
		t.Errorf("after DEL: heap %d, dataset %d", s.heap.Load(), s.DatasetBytes())
	}
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// streamOps runs random stream commands on src.
func streamOps(t *testing.T, src *Store, now *int64, rng *rand.Rand, n int) {
	key := func() []byte { return fmt.Appendf(nil, "{s}%d", rng.IntN(3)) }
	anyID := func() StreamID { return sid(uint64(rng.IntN(300)), uint64(rng.IntN(2))) }
	g := func() []byte { return fmt.Appendf(nil, "g%d", rng.IntN(2)) }
	c := func() []byte { return fmt.Appendf(nil, "c%d", rng.IntN(3)) }
	for i := range n {
		k := key()
		var err error
		switch rng.IntN(14) {
		case 0, 1, 2, 3:
			a := XAddArgs{Auto: rng.IntN(3) == 0, ID: anyID()}
			if rng.IntN(4) == 0 {
				a.Trim = XTrimArgs{Strategy: TrimMaxLen, MaxLen: int64(rng.IntN(50)), Approx: rng.IntN(2) == 0}
			}
			_, _, err = src.XAdd(k, a, fv("f", fmt.Sprint(i), "g", "x"))
		case 4:
			_, err = src.XDel(k, []StreamID{anyID(), anyID()})
		case 5:
			_, err = src.XTrim(k, XTrimArgs{Strategy: TrimMinID, MinID: anyID(), Approx: rng.IntN(2) == 0})
		case 6:
			err = src.XGroupCreate(k, g(), anyID(), rng.IntN(2) == 0, true, -1)
		case 7, 8:
			_, err = src.XReadGroup([][]byte{k}, []XReadGroupID{{New: rng.IntN(3) > 0}}, g(), c(), int64(rng.IntN(5)), rng.IntN(5) == 0)
		case 9:
			_, err = src.XAck(k, g(), []StreamID{anyID(), anyID(), anyID()})
		case 10:
			_, err = src.XClaim(k, g(), c(), []StreamID{anyID(), anyID()}, XClaimArgs{Time: -1, RetryCount: -1, Force: rng.IntN(2) == 0})
		case 11:
			_, _, _, err = src.XAutoClaim(k, g(), c(), 0, anyID(), 3, rng.IntN(2) == 0)
		case 12:
			_, err = src.XGroupDelConsumer(k, g(), c())
		case 13:
			*now += int64(rng.IntN(50))
			if rng.IntN(20) == 0 {
				_, err = src.Copy(k, fmt.Appendf(nil, "{s}%d", rng.IntN(3)), true)
			}
		}
		var re replyError
		if err != nil && !errors.Is(err, ErrWrongType) && !errors.As(err, &re) {
			t.Fatalf("op %d: %v", i, err)
		}
	}
}

func TestStreamJournalReplaysToSameState(t *testing.T) {
	src, now := newTestStore()
	dst, dnow := newTestStore()
	rep := &replica{t: t, dst: dst}
	src.SetJournal(rep)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		streamOps(t, src, now, rng, 200)
		*dnow = *now
		if got, want := dump(dst), dump(src); got != want {
			t.Fatalf("replica differs from primary after %d journaled ops\nprimary: %s\nreplica: %s", rep.ops, want, got)
		}
	}
	// A snapshot loads the same streams, groups included.
	snap, _ := newTestStore()
	for i := range src.slots {
		src.DumpSlot(i, func(op []byte) {
			if err := snap.Apply(op); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got, want := dump(snap), dump(src); got != want {
		t.Fatalf("snapshot differs\nprimary: %s\nsnapshot: %s", want, got)
	}
}

// sizes records the size of every journaled operation.
type sizes struct{ max int }

func (z *sizes) Record(_ int, op []byte) { z.max = max(z.max, len(op)) }

func TestStreamJournalOpsStaySmall(t *testing.T) {
	s, now := newTestStore()
	k := b("s")
	fillStream(t, s, k, 2000)
	must0(t, s.XGroupCreate(k, b("g"), StreamID{}, false, false, -1))
	z := &sizes{}
	s.SetJournal(z)
	for i := range 100 {
		*now++
		must[StreamID](t)(func() (StreamID, error) {
			id, _, err := s.XAdd(k, XAddArgs{Auto: true, Trim: XTrimArgs{Strategy: TrimMaxLen, MaxLen: 1900, Approx: i%2 == 0}}, fv("f", "v"))
			return id, err
		}())
		res, err := s.XReadGroup([][]byte{k}, []XReadGroupID{{New: true}}, b("g"), b("c"), 1, false)
		if err != nil || len(res) != 1 {
			t.Fatal(res, err)
		}
		must[int64](t)(s.XAck(k, b("g"), []StreamID{res[0].Entries[0].ID}))
		must[int64](t)(s.XDel(k, []StreamID{res[0].Entries[0].ID}))
	}
	if z.max > 64 {
		t.Errorf("largest journaled stream op: %d bytes, want a small op, not the stream", z.max)
	}
}

func TestStreamOOMChangesNothing(t *testing.T) {
	s, _ := newTestStore()
	k := b("s")
	fillStream(t, s, k, 10)
	s.arena.Trim()
	s.SetMaxMemory(s.UsedMemory())
	before := dump(s)
	if _, _, err := s.XAdd(k, XAddArgs{ID: sid(100, 0)}, fv("f", string(make([]byte, 70000)))); !errors.Is(err, ErrOOM) {
		t.Errorf("XADD past maxmemory: %v", err)
	}
	if err := s.XGroupCreate(b("new"), b("g"), StreamID{}, false, true, -1); !errors.Is(err, ErrOOM) {
		t.Errorf("XGROUP CREATE MKSTREAM past maxmemory: %v", err)
	}
	if got := dump(s); got != before {
		t.Errorf("a refused write changed the store")
	}
}

func TestStreamMovesWhole(t *testing.T) {
	src, _ := newTestStore()
	k := b("s")
	fillStream(t, src, k, 250)
	must0(t, src.XGroupCreate(k, b("g"), StreamID{}, false, false, -1))
	if _, err := src.XReadGroup([][]byte{k}, []XReadGroupID{{New: true}}, b("g"), b("c"), 3, false); err != nil {
		t.Fatal(err)
	}
	must0(t, src.XSetID(k, sid(900, 0), 300, sid(5, 0)))
	dst, _ := newTestStore()
	slot := slots.Of(k)
	_, ops := src.DumpKeys(slot, 10, 1<<30)
	for _, op := range ops {
		must0(t, dst.Restore(slot, op))
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatalf("moved stream differs\nsource: %s\ntarget: %s", want, got)
	}
	a, _, _ := src.XInfoStream(k, true, 0)
	bi, _, _ := dst.XInfoStream(k, true, 0)
	if !reflect.DeepEqual(a, bi) {
		t.Errorf("XINFO FULL differs:\n%+v\n%+v", a, bi)
	}
}

// BenchmarkXAdd adds small entries to one stream.
func BenchmarkXAdd(b *testing.B) {
	s := New(1 << 20)
	k := []byte("s")
	f := fv("field", "value")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, f); err != nil {
			b.Fatal(err)
		}
	}
	n, _ := s.XLen(k)
	b.ReportMetric(float64(s.DataMemory())/float64(n), "B/entry")
}

// BenchmarkXAddInts adds entries of two integer values (XADD s * f1 <i> f2 <i mod
// 1000>, the memory benchmark's entries) to one stream.
func BenchmarkXAddInts(b *testing.B) {
	s := New(1 << 20)
	k := []byte("s")
	f := fv("f1", "", "f2", "")
	var v1, v2 [20]byte
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		f[1], f[3] = strconv.AppendInt(v1[:0], int64(i), 10), strconv.AppendInt(v2[:0], int64(i%1000), 10)
		i++
		if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, f); err != nil {
			b.Fatal(err)
		}
	}
	n, _ := s.XLen(k)
	b.ReportMetric(float64(s.DataMemory())/float64(n), "B/entry")
}

// BenchmarkXAdd100 adds entries of one 100-byte value (redis-benchmark's XADD in
// ci/bench-types.sh) to one stream.
func BenchmarkXAdd100(b *testing.B) {
	s := New(1 << 20)
	k := []byte("s")
	f := fv("f", strings.Repeat("v", 100))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkXRange10 reads 10 entries of two fields (XRANGE s <id> + COUNT 10) from a
// stream of 100000.
func BenchmarkXRange10(b *testing.B) {
	s := New(1 << 20)
	k := []byte("s")
	for i := range 100_000 {
		if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, fv("n", strconv.Itoa(i), "v", strings.Repeat("v", 100))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		es, err := s.XRange(k, StreamID{}, MaxStreamID, 10, false)
		if err != nil || len(es) != 10 {
			b.Fatal(len(es), err)
		}
	}
}

// BenchmarkXReadGroupAck reads one new entry for a consumer and acknowledges it.
func BenchmarkXReadGroupAck(b *testing.B) {
	s := New(1 << 20)
	k := []byte("s")
	for range 100_000 {
		if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, fv("field", "value")); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.XGroupCreate(k, []byte("g"), StreamID{}, false, false, -1); err != nil {
		b.Fatal(err)
	}
	at := []XReadGroupID{{New: true}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := s.XReadGroup([][]byte{k}, at, []byte("g"), []byte("c"), 1, false)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) == 0 {
			if err := s.XGroupSetID(k, []byte("g"), StreamID{}, false, -1); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if _, err := s.XAck(k, []byte("g"), []StreamID{res[0].Entries[0].ID}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStreamMemoryPerEntry measures the data memory of a stream of a million small
// entries (XADD s * field value), to compare with Redis's used_memory for the same.
func TestStreamMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("a million entries")
	}
	s := New(1 << 20)
	base, rss := s.DataMemory(), residentBytes()
	k := []byte("s")
	ms := int64(1_700_000_000_000)
	s.clock = func() int64 { return ms }
	const n = 1_000_000
	for i := range n {
		if i%2 == 0 {
			ms++
		}
		if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, fv("field", fmt.Sprint(i%1000))); err != nil {
			t.Fatal(err)
		}
	}
	per := float64(s.DataMemory()-base) / n
	t.Logf("data memory per entry: %.1f B (dataset %.1f B), process RSS grew %.1f B per entry",
		per, float64(s.DatasetBytes())/n, float64(residentBytes()-rss)/n)
	if per > 18 {
		t.Errorf("%.1f B per entry, more than Redis 7.0's ~18", per)
	}
}

// residentBytes is the process's resident set size (0 where /proc is missing).
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, res int64
	if _, err := fmt.Sscan(string(b), &size, &res); err != nil {
		return 0
	}
	return res * int64(os.Getpagesize())
}

func TestSetOverStreamFreesIt(t *testing.T) {
	s, _ := newTestStore()
	k := b("s")
	fillStream(t, s, k, 300)
	must0(t, s.XGroupCreate(k, b("g"), StreamID{}, false, false, -1))
	must[SetResult](t)(s.Set(nil, k, b("x"), SetOptions{}))
	s.Del(k)
	if s.heap.Load() != 0 || s.DatasetBytes() != 0 {
		t.Errorf("SET over a stream leaked: heap %d, dataset %d", s.heap.Load(), s.DatasetBytes())
	}
	fillStream(t, s, k, 300)
	s.Flush()
	if s.heap.Load() != 0 || s.DatasetBytes() != 0 {
		t.Errorf("FLUSHALL leaked: heap %d, dataset %d", s.heap.Load(), s.DatasetBytes())
	}
}

// TestStreamItemsRoundTrip stores values that are integers as Redis writes them (kept as
// integers) and strings that only look like ones, and reads every one back byte for byte,
// forward, backward and through the journal's whole-stream operation.
func TestStreamItemsRoundTrip(t *testing.T) {
	s, _ := newTestStore()
	k := b("s")
	vals := []string{"0", "-0", "00", "01", "+1", "-1", "1", "12a", "", "-", " 1", "1 ",
		"9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
		"18446744073709551616", "99999999999999999999", "1000000", "-1000", "0x10", "1e3", "1.5"}
	var want [][]string
	for i, v := range vals {
		// the same fields as the node's first entry, then a field that is a number, then other fields
		e := []string{"f", v, "g", vals[(i+1)%len(vals)]}
		switch i % 3 {
		case 1:
			e = []string{v, "x", "7", v}
		case 2:
			e = []string{"f", v}
		}
		want = append(want, e)
		if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, fv(e...)); err != nil {
			t.Fatal(err)
		}
	}
	// an entry of many integers: their digits outgrow the decoder's first buffer
	var many []string
	for i := range 64 {
		many = append(many, strconv.Itoa(i), strconv.Itoa(-1<<61+i))
	}
	want = append(want, many)
	if _, _, err := s.XAdd(k, XAddArgs{Auto: true}, fv(many...)); err != nil {
		t.Fatal(err)
	}
	check := func(what string, es []StreamEntry, rev bool) {
		t.Helper()
		if len(es) != len(want) {
			t.Fatalf("%s: %d entries, want %d", what, len(es), len(want))
		}
		for i, e := range es {
			w := want[i]
			if rev {
				w = want[len(want)-1-i]
			}
			got := make([]string, len(e.Fields))
			for j, f := range e.Fields {
				got[j] = string(f)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("%s: entry %d is %q, want %q", what, i, got, w)
			}
		}
	}
	es, err := s.XRange(k, StreamID{}, MaxStreamID, 0, false)
	must0(t, err)
	check("XRANGE", es, false)
	es, err = s.XRange(k, StreamID{}, MaxStreamID, 0, true)
	must0(t, err)
	check("XREVRANGE", es, true)
	dst, _ := newTestStore()
	for i := range s.slots {
		s.DumpSlot(i, func(op []byte) { must0(t, dst.Apply(op)) })
	}
	es, err = dst.XRange(k, StreamID{}, MaxStreamID, 0, false)
	must0(t, err)
	check("snapshot", es, false)
}
