package store

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// zmodel is a sorted set as a plain sorted slice, the reference the store is checked
// against.
type zmodel []ZEntry

func (z *zmodel) set(m string, sc float64) {
	*z = slices.DeleteFunc(*z, func(e ZEntry) bool { return string(e.Member) == m })
	*z = append(*z, ZEntry{[]byte(m), sc})
	slices.SortFunc(*z, func(a, b ZEntry) int { return zcmp(a.Score, a.Member, b.Score, b.Member) })
}

func (z *zmodel) del(m string) {
	*z = slices.DeleteFunc(*z, func(e ZEntry) bool { return string(e.Member) == m })
}

func zstrs(ents []ZEntry) []string {
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = fmt.Sprintf("%s=%g", e.Member, e.Score)
	}
	return out
}

// TestZSetAgainstModel runs random adds, removals and range removals across both
// encodings and checks every element, every rank and range reads against the model.
func TestZSetAgainstModel(t *testing.T) {
	for _, size := range []int{20, 300, 2000, 6000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s, _ := newTestStore()
			key := b("z")
			var model zmodel
			rng := rand.New(rand.NewPCG(uint64(size), 7))
			member := func() string { return fmt.Sprintf("m%d", rng.IntN(size)) }
			steps := 4 * size
			for i := range steps {
				switch rng.IntN(10) {
				case 0, 1, 2, 3, 4, 5:
					m, sc := member(), float64(rng.IntN(size/2))
					if _, err := s.ZAdd(key, ZAddFlags{}, [][]byte{b(m)}, []float64{sc}); err != nil {
						t.Fatal(err)
					}
					model.set(m, sc)
				case 6, 7:
					m := member()
					must[int64](t)(s.ZRem(key, [][]byte{b(m)}))
					model.del(m)
				case 8:
					if rng.IntN(20) != 0 {
						continue
					}
					lo := float64(rng.IntN(size / 2))
					n, err := s.ZRemRange(key, ZQuery{By: ZByScore, Score: ZScoreRange{Min: lo, Max: lo + 3}})
					if err != nil {
						t.Fatal(err)
					}
					before := len(model)
					model = slices.DeleteFunc(model, func(e ZEntry) bool { return e.Score >= lo && e.Score <= lo+3 })
					if int(n) != before-len(model) {
						t.Fatalf("step %d: ZREMRANGEBYSCORE removed %d, want %d", i, n, before-len(model))
					}
				case 9:
					if _, _, err := s.ZPop(key, rng.IntN(2) == 0, 2); err != nil {
						t.Fatal(err)
					}
					got, _ := s.ZRange(key, ZQuery{By: ZByRank, Start: 0, Stop: -1})
					model = got
				}
			}
			checkZTree(t, s, key)
			got, err := s.ZRange(key, ZQuery{By: ZByRank, Start: 0, Stop: -1})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(zstrs(got), zstrs(model)) {
				t.Fatalf("ZRANGE 0 -1 differs from the model:\n%v\n%v", zstrs(got), zstrs(model))
			}
			for i, e := range model {
				r, ok, _ := s.ZRank(key, e.Member, false)
				rr, _, _ := s.ZRank(key, e.Member, true)
				if !ok || r != int64(i) || rr != int64(len(model)-1-i) {
					t.Fatalf("ZRANK %s = %d/%d, want %d", e.Member, r, rr, i)
				}
			}
			rev, _ := s.ZRange(key, ZQuery{By: ZByScore, Score: ZScoreRange{Min: 3, Max: 40, MinEx: true}, Rev: true, Offset: 1, Limit: 7})
			var want []ZEntry
			for i := len(model) - 1; i >= 0; i-- {
				if e := model[i]; e.Score > 3 && e.Score <= 40 {
					want = append(want, e)
				}
			}
			want = want[min(1, len(want)):]
			want = want[:min(7, len(want))]
			if !slices.Equal(zstrs(rev), zstrs(want)) {
				t.Fatalf("ZRANGE BYSCORE REV LIMIT:\n%v\nwant %v", zstrs(rev), zstrs(want))
			}
			if n, _ := s.ZCard(key); n != int64(len(model)) {
				t.Fatalf("ZCARD %d, want %d", n, len(model))
			}
		})
	}
}

func TestZAddFlags(t *testing.T) {
	tests := []struct {
		name   string
		flags  ZAddFlags
		score  float64
		want   ZAddResult
		result float64 // a's score after
	}{
		{"plain update", ZAddFlags{}, 5, ZAddResult{Updated: 1, Score: 5, Processed: true}, 5},
		{"nx on existing", ZAddFlags{NX: true}, 5, ZAddResult{}, 2},
		{"xx update", ZAddFlags{XX: true}, 5, ZAddResult{Updated: 1, Score: 5, Processed: true}, 5},
		{"gt lower", ZAddFlags{GT: true}, 1, ZAddResult{}, 2},
		{"gt higher", ZAddFlags{GT: true}, 3, ZAddResult{Updated: 1, Score: 3, Processed: true}, 3},
		{"lt higher", ZAddFlags{LT: true}, 3, ZAddResult{}, 2},
		{"incr", ZAddFlags{Incr: true}, 1.5, ZAddResult{Updated: 1, Score: 3.5, Processed: true}, 3.5},
		{"incr gt negative", ZAddFlags{Incr: true, GT: true}, -1, ZAddResult{}, 2},
		{"same score", ZAddFlags{}, 2, ZAddResult{Score: 2, Processed: true}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore()
			must[ZAddResult](t)(s.ZAdd(b("z"), ZAddFlags{}, [][]byte{b("a")}, []float64{2}))
			got, err := s.ZAdd(b("z"), tt.flags, [][]byte{b("a")}, []float64{tt.score})
			if err != nil || got != tt.want {
				t.Fatalf("ZAdd = %+v, %v; want %+v", got, err, tt.want)
			}
			if sc, _, _ := s.ZScore(b("z"), b("a")); sc != tt.result {
				t.Fatalf("score %g, want %g", sc, tt.result)
			}
		})
	}
	s, _ := newTestStore()
	must[ZAddResult](t)(s.ZAdd(b("z"), ZAddFlags{}, [][]byte{b("a")}, []float64{math.Inf(1)}))
	if _, err := s.ZAdd(b("z"), ZAddFlags{Incr: true}, [][]byte{b("a")}, []float64{math.Inf(-1)}); !errors.Is(err, ErrZNaN) {
		t.Fatalf("inf + -inf: %v, want ErrZNaN", err)
	}
	if res, _ := s.ZAdd(b("new"), ZAddFlags{XX: true}, [][]byte{b("a")}, []float64{1}); res.Processed || s.Exists(b("new")) {
		t.Fatal("XX created a key")
	}
}

func TestZSetEncodings(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		long  bool
		large bool
	}{
		{"128 members", 128, false, false},
		{"129 members", 129, false, true},
		{"a 65-byte member", 3, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestStore()
			ms := members(tt.n, "m%d")
			if tt.long {
				ms[1] = fmt.Appendf(nil, "%065d", 1)
			}
			scores := make([]float64, len(ms))
			must[ZAddResult](t)(s.ZAdd(b("z"), ZAddFlags{}, ms, scores))
			r, _ := s.find(s.slotOf(b("z")), b("z"))
			if r.table() != tt.large {
				t.Fatalf("large %v, want %v", r.table(), tt.large)
			}
			if n, _ := s.ZCard(b("z")); n != int64(tt.n) {
				t.Fatalf("ZCARD %d", n)
			}
			s.Del(b("z"))
			if s.DatasetBytes() != 0 {
				t.Fatalf("%d bytes left after DEL", s.DatasetBytes())
			}
		})
	}
}

// TestZSetMemoryPerMember loads a 1M-member sorted set ("member:NNNNNNN", integer scores)
// and reports the data memory and the process's RSS growth per member (Redis 7.0: about
// 110-120 bytes of RSS per member).
func TestZSetMemoryPerMember(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a million members")
	}
	const n = 1_000_000
	runtime.GC()
	rss0 := rssBytes()
	s := New(1 << 20)
	batch := make([][]byte, 0, 1000)
	scores := make([]float64, 0, 1000)
	for i := range n {
		batch = append(batch, fmt.Appendf(nil, "member:%07d", i))
		scores = append(scores, float64(i))
		if len(batch) == cap(batch) {
			must[ZAddResult](t)(s.ZAdd(b("z"), ZAddFlags{}, batch, scores))
			batch, scores = batch[:0], scores[:0]
		}
	}
	runtime.GC()
	rss := rssBytes() - rss0
	t.Logf("1M-member zset: DataMemory %.1f B/member, RSS growth %.1f B/member", float64(s.DataMemory())/n, float64(rss)/n)
	if per := s.DataMemory() / n; per > 110 {
		t.Errorf("DataMemory %d B/member, more than Redis's RSS", per)
	}
}

func rssBytes() int64 {
	n, _ := readProcStatm()
	return n
}

func BenchmarkZAddLarge(b *testing.B) {
	s := New(1 << 20)
	key := []byte("z")
	rng := rand.New(rand.NewPCG(1, 2))
	m := make([]byte, 0, 32)
	for i := 0; b.Loop(); i++ {
		m = fmt.Appendf(m[:0], "member:%d", rng.IntN(1<<20))
		if _, err := s.ZAdd(key, ZAddFlags{}, [][]byte{m}, []float64{float64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkZRankLarge(b *testing.B) {
	s := New(1 << 20)
	key := []byte("z")
	for i := range 100_000 {
		m := fmt.Appendf(nil, "member:%d", i)
		if _, err := s.ZAdd(key, ZAddFlags{}, [][]byte{m}, []float64{float64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		if _, _, err := s.ZRank(key, fmt.Appendf(nil, "member:%d", rng.IntN(100_000)), false); err != nil {
			b.Fatal(err)
		}
	}
}

// readProcStatm is the process's resident set size from /proc/self/statm.
func readProcStatm() (int64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(data), &size, &rss); err != nil {
		return 0, err
	}
	return rss * int64(os.Getpagesize()), nil
}

// TestZSetOOMChangesNothing: a sorted-set write past maxmemory fails with ErrOOM before
// anything changes, whether it grows a set, converts one or stores a result.
func TestZSetOOMChangesNothing(t *testing.T) {
	s, _ := newTestStore()
	small := members(100, "m%d")
	must[ZAddResult](t)(s.ZAdd(b("{z}a"), ZAddFlags{}, small, make([]float64, len(small))))
	s.SetMaxMemory(s.UsedMemory() + 1024)
	before := dump(s)
	big := members(3000, "member:%07d")
	if _, err := s.ZAdd(b("{z}a"), ZAddFlags{}, big, make([]float64, len(big))); !errors.Is(err, ErrOOM) {
		t.Fatalf("ZADD past maxmemory: %v", err)
	}
	if _, err := s.ZAlgebraStore(ZUnion, b("{z}b"), [][]byte{b("{z}a"), b("{z}a")}, nil, ZAggSum); err != nil && !errors.Is(err, ErrOOM) {
		t.Fatal(err)
	}
	s.Del(b("{z}b"))
	if got := dump(s); got != before {
		t.Fatalf("a refused write changed the store:\n%s\n%s", before, got)
	}
}

// checkZTree fails unless every inner entry of the large sorted set at key holds its
// child's element count and greatest member and score, and the leaves are in order.
func checkZTree(t *testing.T, s *Store, key []byte) {
	t.Helper()
	sl := s.slotOf(key)
	r, ok := s.find(sl, key)
	if !ok || !r.table() {
		return
	}
	tree := ztree{s: s, root: slab.Ref(le64(r.body[4:]))}
	var walk func(ref slab.Ref) (int64, slab.Ref, float64)
	walk = func(ref slab.Ref) (int64, slab.Ref, float64) {
		n := tree.node(ref)
		k := znN(n)
		if znLeaf(n) {
			for i := range k {
				if _, sc := tree.rec(znEnt(n, i)); sc != znEntScore(n, i) {
					t.Fatalf("leaf entry %d: score %g, record's %g", i, znEntScore(n, i), sc)
				}
			}
			return int64(k), znEnt(n, k-1), znEntScore(n, k-1)
		}
		var total int64
		for i := range k {
			c, last, sc := walk(znChild(n, i))
			if c != znCount(n, i) || last != znMax(n, i) || sc != znMaxScore(n, i) {
				t.Fatalf("inner entry %d: count %d max %v/%g, child has %d %v/%g", i, znCount(n, i), znMax(n, i), znMaxScore(n, i), c, last, sc)
			}
			total += c
		}
		return total, znMax(n, k-1), znMaxScore(n, k-1)
	}
	walk(tree.root)
}
