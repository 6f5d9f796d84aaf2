package store

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// fillZSetsAndStreams writes sorted sets of both encodings and streams with deleted
// entries, consumer groups, consumers with and without pending entries, and none left.
func fillZSetsAndStreams(t *testing.T, s *Store, now int64) []string {
	t.Helper()
	var ms [][]byte
	var scores []float64
	for i := range 300 {
		ms, scores = append(ms, fmt.Appendf(nil, "m%d", i)), append(scores, float64(i%17)-3.5)
	}
	must[ZAddResult](t)(s.ZAdd(b("{d}zbig"), ZAddFlags{}, ms, scores))
	must[ZAddResult](t)(s.ZAdd(b("{d}zsmall"), ZAddFlags{}, bs("a", "b", "c"), []float64{math.Inf(-1), 0, 1e300}))
	must[ZAddResult](t)(s.ZAdd(b("{d}zlong"), ZAddFlags{}, [][]byte{[]byte(strings.Repeat("l", 65))}, []float64{math.Copysign(0, -1)}))
	xadd := func(key string, id StreamID, fv ...string) {
		t.Helper()
		if _, _, err := s.XAdd(b(key), XAddArgs{ID: id}, bs(fv...)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 250 {
		fv := []string{"f", fmt.Sprint(i)}
		if i%5 == 0 {
			fv = []string{"g", strings.Repeat("v", i*20)}
		}
		xadd("{d}xbig", StreamID{Ms: uint64(i/3 + 1), Seq: uint64(i % 3)}, fv...)
	}
	if _, err := s.XDel(b("{d}xbig"), []StreamID{{0, 1}, {10, 2}, {80, 0}}); err != nil {
		t.Fatal(err)
	}
	must[int64](t)(s.XTrim(b("{d}xbig"), XTrimArgs{Strategy: TrimMaxLen, MaxLen: 200}))
	if err := s.XGroupCreate(b("{d}xbig"), b("g1"), StreamID{}, false, false, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.XGroupCreate(b("{d}xbig"), b("g0"), StreamID{Ms: 60}, false, false, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.XReadGroup([][]byte{b("{d}xbig")}, []XReadGroupID{{New: true}}, b("g1"), b("alice"), 5, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.XReadGroup([][]byte{b("{d}xbig")}, []XReadGroupID{{New: true}}, b("g1"), b("bob"), 3, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.XGroupCreateConsumer(b("{d}xbig"), b("g1"), b("carol")); err != nil {
		t.Fatal(err)
	}
	xadd("{d}xempty", StreamID{Ms: 5, Seq: 5}, "a", "1")
	if _, err := s.XDel(b("{d}xempty"), []StreamID{{5, 5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.XGroupCreate(b("{d}xempty"), b("g"), StreamID{}, true, false, 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Expire(b("{d}zsmall"), now+60_000, ExpireAlways); !ok || err != nil {
		t.Fatalf("EXPIRE: %v %v", ok, err)
	}
	return []string{"{d}zbig", "{d}zsmall", "{d}zlong", "{d}xbig", "{d}xempty"}
}

func bs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, x := range s {
		out[i] = []byte(x)
	}
	return out
}

// TestRestoreValueOfSortedSetsAndStreams copies sorted sets and streams whole with Dump
// and RestoreValue: the copy, and the backup that applied what the copy journaled, hold
// what the original holds, in the same encodings, counted in used memory.
func TestRestoreValueOfSortedSetsAndStreams(t *testing.T) {
	src, now := newTestStore()
	dst, dnow := newTestStore()
	*dnow = *now
	backup, bnow := newTestStore()
	*bnow = *now
	dst.SetJournal(&replica{t: t, dst: backup})
	keys := fillZSetsAndStreams(t, src, *now)
	before := dst.UsedMemory()
	for _, k := range keys {
		v, ok := src.Dump(b(k))
		if !ok {
			t.Fatalf("Dump %s: absent", k)
		}
		if err := dst.RestoreValue(b(k), v, false); err != nil {
			t.Fatalf("RestoreValue %s: %v", k, err)
		}
		for _, st := range []*Store{dst, backup} {
			we, _ := src.Encoding(b(k))
			if ge, _ := st.Encoding(b(k)); ge != we {
				t.Errorf("%s: encoding %s, want %s", k, ge, we)
			}
		}
		if err := dst.RestoreValue(b(k), v, false); !errors.Is(err, ErrBusyKey) {
			t.Errorf("RestoreValue %s over itself: %v", k, err)
		}
	}
	if want, got, got2 := dump(src), dump(dst), dump(backup); got != want || got2 != want {
		t.Fatalf("restored:\n%.2000s\nbackup:\n%.2000s\nwant:\n%.2000s", got, got2, want)
	}
	if dst.UsedMemory() <= before+10_000 {
		t.Fatalf("used memory %d after restoring, %d before", dst.UsedMemory(), before)
	}
}

// TestRestoreValueRefusesWhatCannotBe refuses, changing nothing, a stream whose entries
// go back, a group named twice, an entry pending for two consumers, a sorted set with a
// member twice or a NaN score, and a value past maxmemory.
func TestRestoreValueRefusesWhatCannotBe(t *testing.T) {
	s, _ := newTestStore()
	e := func(ms uint64) StreamEntry { return StreamEntry{ID: StreamID{Ms: ms}, Fields: bs("f", "v")} }
	p := func(ms uint64) StreamPending { return StreamPending{ID: StreamID{Ms: ms}, Count: 1} }
	for name, v := range map[string]Value{
		"entries back":       {Kind: KindStream, Stream: &StreamValue{Entries: []StreamEntry{e(2), e(1)}, Last: StreamID{Ms: 2}}},
		"entry after last":   {Kind: KindStream, Stream: &StreamValue{Entries: []StreamEntry{e(2)}, Last: StreamID{Ms: 1}}},
		"entry 0-0":          {Kind: KindStream, Stream: &StreamValue{Entries: []StreamEntry{e(0)}, Last: StreamID{Ms: 1}}},
		"entry no fields":    {Kind: KindStream, Stream: &StreamValue{Entries: []StreamEntry{{ID: StreamID{Ms: 1}}}, Last: StreamID{Ms: 1}}},
		"group twice":        {Kind: KindStream, Stream: &StreamValue{Groups: []StreamGroup{{Name: b("g")}, {Name: b("g")}}}},
		"consumer twice":     {Kind: KindStream, Stream: &StreamValue{Groups: []StreamGroup{{Name: b("g"), Consumers: []StreamConsumer{{Name: b("c")}, {Name: b("c")}}}}}},
		"pending twice":      {Kind: KindStream, Stream: &StreamValue{Groups: []StreamGroup{{Name: b("g"), Consumers: []StreamConsumer{{Name: b("c"), Pending: []StreamPending{p(1)}}, {Name: b("d"), Pending: []StreamPending{p(1)}}}}}}},
		"no stream":          {Kind: KindStream},
		"member twice":       {Kind: KindZSet, ZSet: []ZEntry{{Member: b("a")}, {Member: b("a"), Score: 1}}},
		"nan score":          {Kind: KindZSet, ZSet: []ZEntry{{Member: b("a"), Score: math.NaN()}}},
		"empty sorted set":   {Kind: KindZSet},
		"negative delivery":  {Kind: KindStream, Stream: &StreamValue{Groups: []StreamGroup{{Name: b("g"), Consumers: []StreamConsumer{{Name: b("c"), Pending: []StreamPending{{Count: -1}}}}}}}},
		"unknown value kind": {Kind: KindNone},
	} {
		if err := s.RestoreValue(b("{r}k"), v, true); !errors.Is(err, errNoValue) {
			t.Errorf("%s: %v", name, err)
		}
		if s.Exists(b("{r}k")) {
			t.Fatalf("%s: the key was created", name)
		}
	}
	// Past maxmemory: refused before anything changes, the old value kept.
	must[ZAddResult](t)(s.ZAdd(b("{r}k"), ZAddFlags{}, bs("old"), []float64{1}))
	var big Value
	big.Kind, big.Stream = KindStream, &StreamValue{}
	for i := range 5000 {
		big.Stream.Entries = append(big.Stream.Entries, StreamEntry{ID: StreamID{Ms: uint64(i + 1)}, Fields: bs("field", strings.Repeat("x", 200))})
	}
	big.Stream.Last = StreamID{Ms: 5000}
	s.SetMaxMemory(s.UsedMemory() + 100_000)
	used := s.UsedMemory()
	if err := s.RestoreValue(b("{r}k"), big, true); !errors.Is(err, ErrOOM) {
		t.Fatalf("restore past maxmemory: %v", err)
	}
	if kind := s.Type(b("{r}k")); kind != KindZSet || s.UsedMemory() != used {
		t.Fatalf("after a refused restore: %v, used %d (was %d)", kind, s.UsedMemory(), used)
	}
}
