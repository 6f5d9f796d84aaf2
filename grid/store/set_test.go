package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func members(n int, format string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, format, i)
	}
	return out
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func TestSetEncodings(t *testing.T) {
	tests := []struct {
		name    string
		adds    [][][]byte // SADD calls in order
		want    byte       // 'i' intset, 'l' listpack, 't' table
		ordered []string   // with an intset: SMEMBERS in numeric order
	}{
		{"integers", [][][]byte{{b("3"), b("-1"), b("20"), b("2")}}, 'i', []string{"-1", "2", "3", "20"}},
		{"512 integers", [][][]byte{members(512, "%d")}, 'i', nil},
		{"513 integers", [][][]byte{members(513, "%d")}, 't', nil},
		{"not canonical", [][][]byte{{b("1"), b("01")}}, 'l', nil},
		{"int64 overflow", [][][]byte{{b("9223372036854775808")}}, 'l', nil},
		{"text after 127 integers", [][][]byte{members(127, "%d"), {b("x")}}, 'l', nil},
		{"text after 128 integers", [][][]byte{members(128, "%d"), {b("x")}}, 't', nil},
		{"128 texts", [][][]byte{members(128, "m%d")}, 'l', nil},
		{"129 texts", [][][]byte{members(128, "m%d"), {b("x")}}, 't', nil},
		{"a 65-byte member", [][][]byte{{b("a")}, members(1, "%065d")}, 't', nil},
		{"a 64-byte member", [][][]byte{{b("a")}, members(1, "%064d")}, 'l', nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore()
			for _, add := range tt.adds {
				must[int64](t)(s.SAdd(b("s"), add))
			}
			sl := s.slotOf(b("s"))
			r, _ := s.find(sl, b("s"))
			enc := byte('l')
			if r.table() {
				enc = 't'
			} else if r.flags&flagInts != 0 {
				enc = 'i'
			}
			if enc != tt.want {
				t.Fatalf("encoding %c, want %c", enc, tt.want)
			}
			if tt.ordered != nil {
				got, _ := s.SMembers(b("s"))
				if !slices.Equal(strs(got), tt.ordered) {
					t.Fatalf("SMEMBERS = %q, want %q", got, tt.ordered)
				}
			}
			s.Del(b("s"))
			if s.DatasetBytes() != 0 || s.IndexBytes() != 0 {
				t.Fatalf("deleted set leaves dataset %d index %d", s.DatasetBytes(), s.IndexBytes())
			}
		})
	}
}

func TestSetCommands(t *testing.T) {
	s, _ := newTestStore()
	must[int64](t)(s.SAdd(b("{s}a"), [][]byte{b("1"), b("2"), b("3"), b("x")}))
	must[int64](t)(s.SAdd(b("{s}b"), [][]byte{b("2"), b("3"), b("4")}))
	must[SetResult](t)(s.Set(nil, b("{s}str"), b("v"), SetOptions{}))
	sortedOf := func(v [][]byte, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		out := strs(v)
		slices.Sort(out)
		return out
	}
	for _, tt := range []struct {
		op   SetOp
		keys []string
		want []string
	}{
		{SetInter, []string{"{s}a", "{s}b"}, []string{"2", "3"}},
		{SetInter, []string{"{s}a", "{s}none"}, []string{}},
		{SetUnion, []string{"{s}a", "{s}b", "{s}none"}, []string{"1", "2", "3", "4", "x"}},
		{SetDiff, []string{"{s}a", "{s}b"}, []string{"1", "x"}},
		{SetDiff, []string{"{s}none", "{s}b"}, []string{}},
	} {
		keys := make([][]byte, len(tt.keys))
		for i, k := range tt.keys {
			keys[i] = b(k)
		}
		if got := sortedOf(s.SetAlgebra(tt.op, keys)); !slices.Equal(got, tt.want) {
			t.Errorf("op %d %q = %q, want %q", tt.op, tt.keys, got, tt.want)
		}
	}
	// Redis 7 checks every key's type, even after a missing one.
	if _, err := s.SetAlgebra(SetInter, [][]byte{b("{s}none"), b("{s}str")}); !errors.Is(err, ErrWrongType) {
		t.Errorf("SINTER with a string key: %v", err)
	}
	if n, err := s.SInterCard([][]byte{b("{s}a"), b("{s}b")}, 1); n != 1 || err != nil {
		t.Errorf("SINTERCARD LIMIT 1 = %d %v", n, err)
	}
	// A store over the destination itself, and one whose result is empty deletes it.
	if n, err := s.SetAlgebraStore(SetUnion, b("{s}a"), [][]byte{b("{s}a"), b("{s}b")}); n != 5 || err != nil {
		t.Fatalf("SUNIONSTORE a a b = %d %v", n, err)
	}
	if n, err := s.SetAlgebraStore(SetInter, b("{s}str"), [][]byte{b("{s}a"), b("{s}b")}); n != 3 || err != nil || s.Type(b("{s}str")) != KindSet {
		t.Fatalf("SINTERSTORE over a string = %d %v, type %v", n, err, s.Type(b("{s}str")))
	}
	if n, err := s.SetAlgebraStore(SetDiff, b("{s}str"), [][]byte{b("{s}b"), b("{s}a")}); n != 0 || err != nil || s.Exists(b("{s}str")) {
		t.Fatalf("empty SDIFFSTORE = %d %v, exists %v", n, err, s.Exists(b("{s}str")))
	}
	// SMOVE: same key, absent member, a move that empties the source.
	if ok, _ := s.SMove(b("{s}b"), b("{s}b"), b("4")); !ok {
		t.Error("SMOVE b b 4 = false")
	}
	if ok, _ := s.SMove(b("{s}b"), b("{s}c"), b("zz")); ok || s.Exists(b("{s}c")) {
		t.Error("SMOVE of a non-member moved or created the destination")
	}
	must[int64](t)(s.SAdd(b("{s}one"), [][]byte{b("m")}))
	if ok, err := s.SMove(b("{s}one"), b("{s}c"), b("m")); !ok || err != nil || s.Exists(b("{s}one")) {
		t.Fatalf("SMOVE of the last member: %v %v, source exists %v", ok, err, s.Exists(b("{s}one")))
	}
	if got := sortedOf(s.SMembers(b("{s}c"))); !slices.Equal(got, []string{"m"}) {
		t.Fatalf("destination = %q", got)
	}
	if found, err := s.SMIsMember(b("{s}c"), [][]byte{b("m"), b("n")}); err != nil || !slices.Equal(found, []bool{true, false}) {
		t.Fatalf("SMISMEMBER = %v %v", found, err)
	}
}

func TestSRandMember(t *testing.T) {
	for _, n := range []int{5, 1000} { // a listpack and a table
		s, _ := newTestStore()
		must[int64](t)(s.SAdd(b("s"), members(n, "m%d")))
		for _, count := range []int64{1, 3, int64(n) / 2, int64(n) - 1, int64(n), int64(n) + 5, -1, -3, -2 * int64(n)} {
			got, err := s.SRandMember(b("s"), count)
			if err != nil {
				t.Fatal(err)
			}
			want := count
			if count > int64(n) {
				want = int64(n)
			}
			if count < 0 {
				want = -count
			}
			seen := map[string]bool{}
			for _, m := range got {
				if ok, _ := s.SIsMember(b("s"), m); !ok {
					t.Fatalf("SRANDMEMBER %d gave %q, not a member", count, m)
				}
				if count > 0 && seen[string(m)] {
					t.Fatalf("SRANDMEMBER %d of %d repeats %q", count, n, m)
				}
				seen[string(m)] = true
			}
			if int64(len(got)) != want {
				t.Fatalf("SRANDMEMBER %d of %d gave %d", count, n, len(got))
			}
		}
		// Every member comes up: the picks are spread over the whole set.
		seen := map[string]bool{}
		for range 50 {
			got, _ := s.SRandMember(b("s"), -int64(n))
			for _, m := range got {
				seen[string(m)] = true
			}
		}
		if len(seen) != n {
			t.Errorf("%d random picks over %d members saw %d of them", 50*n, n, len(seen))
		}
	}
}

// TestSScanReturnsEveryMember iterates a large set with SSCAN while members are added and
// removed (the table grows, shrinks and shifts entries back): every member present for
// the whole iteration is returned.
func TestSScanReturnsEveryMember(t *testing.T) {
	s, _ := newTestStore()
	key := b("s")
	stable := members(500, "stable%d")
	must[int64](t)(s.SAdd(key, stable))
	must[int64](t)(s.SAdd(key, members(3000, "churn%d")))
	seen := map[string]int{}
	cursor, calls := uint64(0), 0
	for {
		var page [][]byte
		var err error
		cursor, page, err = s.SScan(key, cursor, nil, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			seen[string(m)]++
		}
		calls++
		// Churn: remove a batch of churn members, then add them back in growing numbers.
		switch calls % 3 {
		case 0:
			must[int64](t)(s.SRem(key, members(6000, "churn%d")))
		case 1:
			must[int64](t)(s.SAdd(key, members(min(calls*100, 6000), "churn%d")))
		}
		if cursor == 0 {
			break
		}
	}
	for _, m := range stable {
		if seen[string(m)] == 0 {
			t.Fatalf("SSCAN missed %q in %d calls", m, calls)
		}
	}
	// A filtered scan of a small set answers at once with cursor 0.
	must[int64](t)(s.SAdd(b("small"), [][]byte{b("a1"), b("b1"), b("a2")}))
	if c, got, _ := s.SScan(b("small"), 0, b("a*"), 10); c != 0 || !slices.Equal(strs(got), []string{"a1", "a2"}) {
		t.Fatalf("SSCAN small MATCH a* = %d %q", c, got)
	}
}

// TestSetJournalIsPerChange checks that a change to a large set journals the members
// changed, not the set.
func TestSetJournalIsPerChange(t *testing.T) {
	src, _ := newTestStore()
	dst, _ := newTestStore()
	rec := &sizeRecorder{replica: replica{t: t, dst: dst}}
	src.SetJournal(rec)
	for i := range 20 {
		must[int64](t)(src.SAdd(b("big"), members(1000, fmt.Sprintf("m%d-%%d", i))))
	}
	rec.max = 0
	must[int64](t)(src.SAdd(b("big"), [][]byte{b("one more")}))
	must[int64](t)(src.SRem(b("big"), [][]byte{b("m0-1")}))
	if _, _, err := src.SPop(b("big"), 3); err != nil {
		t.Fatal(err)
	}
	must[SetResult](t)(src.Set(nil, b("{big}x"), b("1"), SetOptions{}))
	if _, err := src.SMove(b("big"), b("{big}other"), b("m1-1")); !errors.Is(err, ErrWrongType) && err != nil {
		t.Fatal(err)
	}
	if rec.max > 100 {
		t.Fatalf("a one-member change to a 20000-member set journaled %d bytes", rec.max)
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatal("the replica differs")
	}
}

type sizeRecorder struct {
	replica
	max int
}

func (r *sizeRecorder) Record(slot int, op []byte) {
	r.max = max(r.max, len(op))
	r.replica.Record(slot, op)
}

func TestSetMemoryReturnsToBaseline(t *testing.T) {
	s, _ := newTestStore()
	must[SetResult](t)(s.Set(nil, b("base"), b("v"), SetOptions{}))
	used, data, index := s.UsedMemory(), s.DatasetBytes(), s.IndexBytes()
	for i := range 50 {
		k := fmt.Appendf(nil, "{t}s%d", i)
		must[int64](t)(s.SAdd(k, members(10*i, "m%d")))
		must[int64](t)(s.SAdd(k, members(i, "%d")))
	}
	must[int64](t)(s.SetAlgebraStore(SetUnion, b("{t}u"), [][]byte{b("{t}s10"), b("{t}s49")}))
	if s.DatasetBytes() <= data {
		t.Fatal("sets take no memory")
	}
	for i := range 50 {
		s.Del(fmt.Appendf(nil, "{t}s%d", i))
	}
	if _, _, err := s.SPop(b("{t}u"), 1000); err != nil {
		t.Fatal(err)
	}
	if s.DatasetBytes() != data || s.IndexBytes() != index || s.UsedMemory() < used {
		t.Fatalf("after deleting the sets: used %d dataset %d index %d, want >=%d, %d, %d",
			s.UsedMemory(), s.DatasetBytes(), s.IndexBytes(), used, data, index)
	}
	// Pages the other key shares stay touched, as a malloc's would; once it goes too, the
	// arena gives every page back.
	s.Del(b("base"))
	s.arena.Trim()
	if u := s.UsedMemory(); u != 0 {
		t.Fatalf("used memory %d once every key is deleted", u)
	}
}

func TestSetWritesPastMaxMemory(t *testing.T) {
	s, _ := newTestStore()
	must[int64](t)(s.SAdd(b("{o}a"), members(600, "%d")))
	must[int64](t)(s.SAdd(b("{o}b"), members(600, "x%d")))
	s.SetMaxMemory(s.UsedMemory())
	before := dump(s)
	checks := map[string]error{}
	_, checks["sadd"] = s.SAdd(b("{o}a"), members(5000, "new%d"))
	_, checks["sunionstore"] = s.SetAlgebraStore(SetUnion, b("{o}c"), [][]byte{b("{o}a"), b("{o}b")})
	for name, err := range checks {
		if !errors.Is(err, ErrOOM) {
			t.Errorf("%s past maxmemory: %v, want ErrOOM", name, err)
		}
	}
	if dump(s) != before {
		t.Fatal("a refused write changed the store")
	}
	// Removing still works.
	if n, err := s.SRem(b("{o}a"), members(10, "%d")); n != 10 || err != nil {
		t.Fatalf("SREM at maxmemory = %d %v", n, err)
	}
}
