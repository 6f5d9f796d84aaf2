package store

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/insightgrid/insight/grid/slots"
)

// replica applies every journaled operation of its primary to a second store, as a
// backup does.
type replica struct {
	t   *testing.T
	dst *Store
	ops int
}

func (r *replica) Record(_ int, op []byte) {
	r.ops++
	if err := r.dst.Apply(op); err != nil {
		r.t.Fatalf("applying op %x: %v", op, err)
	}
}

// RecordExpiry takes the deletions of the primary's expiry cycle, as a serving primary's
// journal does.
func (r *replica) RecordExpiry(slot int, op []byte) { r.Record(slot, op) }

// ExpiresKeys is true: the source store is the primary.
func (r *replica) ExpiresKeys() bool { return true }

// dump renders a store's whole content, sorted, for comparison.
func dump(s *Store) string {
	var lines []string
	for i := range s.slots {
		s.DumpSlot(i, func(op []byte) { lines = append(lines, canonical(op)) })
	}
	sort.Strings(lines)
	return fmt.Sprint(lines)
}

// canonical renders an operation with a hash's fields sorted (map order varies).
func canonical(op []byte) string {
	if op[0] == opSet {
		r := &opReader{b: op[1:]}
		key, at, members := r.bytes(), r.varint(), r.list(1)
		ms := make([]string, len(members))
		for i, x := range members {
			ms[i] = string(x)
		}
		sort.Strings(ms)
		return fmt.Sprintf("set %s at %d %q", key, at, ms)
	}
	if op[0] != opHash {
		return fmt.Sprintf("%x", op)
	}
	r := &opReader{b: op[1:]}
	key, at, n := r.bytes(), r.varint(), r.count()
	var fs []string
	for range n {
		fs = append(fs, fmt.Sprintf("%s=%s", r.bytes(), r.bytes()))
	}
	sort.Strings(fs)
	return fmt.Sprintf("hash %s at %d %v", key, at, fs)
}

func TestJournalReplaysToSameState(t *testing.T) {
	src, now := newTestStore()
	dst, dnow := newTestStore()
	rep := &replica{t: t, dst: dst}
	src.SetJournal(rep)
	rng := rand.New(rand.NewPCG(1, 2))
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(40)) }
	field := func() []byte { return fmt.Appendf(nil, "f%d", rng.IntN(6)) }
	for i := range 5000 {
		k := key()
		var err error
		switch rng.IntN(36) {
		case 0:
			_, err = src.Set(nil, k, fmt.Appendf(nil, "v%d", i), SetOptions{At: *now + int64(rng.IntN(3000))})
		case 1:
			_, err = src.Set(nil, k, fmt.Appendf(nil, "v%d", i), SetOptions{NX: rng.IntN(2) == 0, KeepTTL: true})
		case 2:
			_, err = src.IncrBy(k, int64(rng.IntN(10)))
		case 3:
			_, err = src.IncrByFloat(k, []byte("0.5"))
		case 4:
			_, err = src.Append(k, []byte("x"))
		case 5:
			src.Del(k)
		case 6:
			_, _ = src.Expire(k, *now+int64(rng.IntN(4000))-500, ExpireCond(rng.IntN(5)))
		case 7:
			src.Persist(k)
		case 8:
			_, err = src.HSet(k, [][]byte{field(), fmt.Appendf(nil, "h%d", i), field(), []byte("y")})
		case 9:
			_, err = src.HDel(k, [][]byte{field(), field()})
		case 10:
			_, err = src.HIncrBy(k, field(), 3)
		case 11:
			_ = src.MSet([][]byte{k, []byte("m"), fmt.Appendf(nil, "{%s}x", k), []byte("n")})
		case 12:
			*now += int64(rng.IntN(200))
			*dnow = *now
		case 13:
			if rng.IntN(50) == 0 {
				src.Flush()
			}
		case 14:
			_, err = src.SAdd(k, [][]byte{field(), fmt.Appendf(nil, "%d", rng.IntN(9)), fmt.Appendf(nil, "%d", i)})
		case 15:
			_, err = src.SRem(k, [][]byte{field(), fmt.Appendf(nil, "%d", rng.IntN(9))})
		case 16:
			_, _, err = src.SPop(k, int64(rng.IntN(3)))
		case 17:
			_, err = src.SMove(k, fmt.Appendf(nil, "{%s}x", k), fmt.Appendf(nil, "%d", rng.IntN(9)))
		case 19:
			_, err = src.Push(k, [][]byte{field(), fmt.Appendf(nil, "%d", i)}, rng.IntN(2) == 0, false)
		case 20:
			_, _, err = src.Pop(k, rng.IntN(2) == 0, int64(rng.IntN(3)))
		case 21:
			_, _, err = src.LMove(k, fmt.Appendf(nil, "{%s}x", k), rng.IntN(2) == 0, rng.IntN(2) == 0)
		case 22:
			_, err = src.LRem(k, 1, field())
		case 23:
			_, err = src.HSetNX(k, field(), fmt.Appendf(nil, "n%d", i))
		case 24:
			_, err = src.HIncrByFloat(k, field(), big.NewFloat(0.25))
		case 25:
			_, _, err = src.GetEx(nil, k, ExpireChange(rng.IntN(3)), *now+int64(rng.IntN(4000))-500)
		case 26:
			_, _, err = src.GetDel(nil, k)
		case 27:
			_, err = src.MSetNX([][]byte{k, []byte("m"), fmt.Appendf(nil, "{%s}y", k), []byte("n")})
		case 28:
			_, err = src.SetRange(k, int64(rng.IntN(20)), []byte("range"))
		case 29:
			_, err = src.Rename(k, fmt.Appendf(nil, "{%s}x", k), rng.IntN(2) == 0)
			if errors.Is(err, ErrNoSuchKey) {
				err = nil
			}
		case 30:
			_, err = src.Copy(fmt.Appendf(nil, "{%s}x", k), k, rng.IntN(2) == 0)
		case 31:
			ms := [][]byte{field(), fmt.Appendf(nil, "%d", rng.IntN(9)), fmt.Appendf(nil, "z%d", i)}
			if rng.IntN(10) == 0 {
				ms = members(140, "big%d")
			}
			scores := make([]float64, len(ms))
			for j := range scores {
				scores[j] = float64(rng.IntN(5)) - 2
				if rng.IntN(8) == 0 {
					scores[j] = math.Copysign(0, -1)
				}
			}
			_, err = src.ZAdd(k, ZAddFlags{GT: rng.IntN(4) == 0}, ms, scores)
		case 32:
			_, err = src.ZRem(k, [][]byte{field(), fmt.Appendf(nil, "%d", rng.IntN(9))})
		case 33:
			_, _, err = src.ZPop(k, rng.IntN(2) == 0, int64(rng.IntN(3)))
		case 34:
			_, err = src.ZRemRange(k, ZQuery{By: ZByScore, Score: ZScoreRange{Min: -1, Max: 0}})
		case 35:
			dst := fmt.Appendf(nil, "{%s}x", k)
			if rng.IntN(2) == 0 {
				_, err = src.ZAlgebraStore(ZOp(rng.IntN(3)), dst, [][]byte{k, dst}, nil, ZAggSum)
			} else {
				_, err = src.ZRangeStore(dst, k, ZQuery{By: ZByRank, Start: 0, Stop: int64(rng.IntN(200))})
			}
		case 18:
			_, err = src.SetAlgebraStore(SetOp(rng.IntN(3)), fmt.Appendf(nil, "{%s}x", k), [][]byte{k, fmt.Appendf(nil, "{%s}x", k)})
		}
		if err != nil && !errors.Is(err, ErrWrongType) && !errors.Is(err, ErrNotInteger) && !errors.Is(err, ErrNotFloat) && !errors.Is(err, ErrHashNotInteger) && !errors.Is(err, ErrHashNotFloat) {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatalf("replica differs from primary after %d journaled ops\nprimary: %s\nreplica: %s", rep.ops, want, got)
	}
	// Used memory differs with history; the key counts must not, once the keys each side
	// collected lazily without journaling it (expiry is not journaled) are collected on
	// the other side too.
	for i := range src.slots {
		src.DropExpired(i)
		dst.DropExpired(i)
	}
	if dst.Keys() != src.Keys() || dst.VolatileKeys() != src.VolatileKeys() {
		t.Errorf("replica keys/volatile %d/%d, primary %d/%d", dst.Keys(), dst.VolatileKeys(), src.Keys(), src.VolatileKeys())
	}
}

func TestSnapshotLoadsSameState(t *testing.T) {
	src, _ := newTestStore()
	for i := range 300 {
		k := fmt.Appendf(nil, "key:%d", i)
		if i%3 == 0 {
			must[int64](t)(src.HSet(k, [][]byte{[]byte("a"), []byte("1"), []byte("b"), k}))
			continue
		}
		if i%5 == 0 {
			must[int64](t)(src.SAdd(k, members(i, "%d")))
			continue
		}
		if i%7 == 0 {
			ms := members(i, "m%d")
			must[ZAddResult](t)(src.ZAdd(k, ZAddFlags{}, ms, make([]float64, len(ms))))
			continue
		}
		must[SetResult](t)(src.Set(nil, k, k, SetOptions{At: int64(i%2) * 9_000_000}))
	}
	dst, _ := newTestStore()
	must[SetResult](t)(dst.Set(nil, []byte("stale"), []byte("x"), SetOptions{}))
	dst.Reset()
	for i := range src.slots {
		src.DumpSlot(i, func(op []byte) {
			if err := dst.Apply(op); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatalf("snapshot differs\nprimary: %s\nreplica: %s", want, got)
	}
}

func TestApplyRejectsMalformedOps(t *testing.T) {
	s, _ := newTestStore()
	for _, op := range [][]byte{
		nil,
		{99, 1, 'k'},
		{opString, 5, 'k'},
		{opString, 1, 'k'},
		{opHash, 1, 'k', 0, 200},
		{opHashSet, 1, 'k', 3, 1, 'f'},
		{opSet, 1, 'k', 0, 2, 1, 'a'},
		{opSetAdd, 1, 'k', 5, 1, 'a'},
		{opList, 1, 'k', 0, 0, 3, 1, 'a'},
		{opListPut, 1, 'k', 0},
		{opListTrim, 1, 'k', 2},
		{opZSet, 1, 'k', 0, 1, 1, 'a', 0, 0},
		{opZAdd, 1, 'k', 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0xf8, 0x7f},
		{opZRem, 1, 'k', 4, 1, 'a'},
		{opFlushSlot, 0xff, 0xff, 0x03},
	} {
		if err := s.Apply(op); !errors.Is(err, ErrBadOp) {
			t.Errorf("Apply(%x) = %v, want ErrBadOp", op, err)
		}
	}
	if s.Keys() != 0 {
		t.Errorf("malformed ops left %d keys", s.Keys())
	}
}

// TestMoveSlotKeys moves one slot's keys from one store to another the way a migrating
// slot is moved (DumpKeys, Restore, Del): the target ends with the same keys and values,
// its replica too, and the source is empty once expired keys are dropped.
func TestMoveSlotKeys(t *testing.T) {
	src, now := newTestStore()
	dst, _ := newTestStore()
	mirror, _ := newTestStore()
	dst.SetJournal(&replica{t: t, dst: mirror})
	const tag = "{m}"
	slot := slots.OfString(tag)
	for i := range 40 {
		k := fmt.Appendf(nil, "%s%d", tag, i)
		if i%10 == 9 {
			// A sorted set, small or large, moves whole.
			ms := members(20*i, "z%d")
			scores := make([]float64, len(ms))
			for j := range scores {
				scores[j] = float64(j % 7)
			}
			must[ZAddResult](t)(src.ZAdd(k, ZAddFlags{}, ms, scores))
			continue
		}
		switch i % 3 {
		case 0:
			must[int64](t)(src.HSet(k, [][]byte{[]byte("f"), k}))
		case 1:
			must[SetResult](t)(src.Set(nil, k, k, SetOptions{At: *now + 60_000}))
		default:
			must[SetResult](t)(src.Set(nil, k, k, SetOptions{}))
		}
	}
	must[SetResult](t)(src.Set(nil, []byte(tag+"soon"), []byte("x"), SetOptions{At: *now + 5}))
	before := dump(src)
	*now += 10 // {m}soon expires: it is not moved
	want := dump(src)
	if want == before {
		t.Fatal("{m}soon did not expire")
	}
	for {
		keys, ops := src.DumpKeys(slot, 7, 1<<20)
		if len(keys) == 0 {
			break
		}
		if len(keys) > 7 {
			t.Fatalf("batch of %d keys, want at most 7", len(keys))
		}
		for _, op := range ops {
			if err := dst.Restore(slot, op); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range keys {
			src.Del(k)
		}
	}
	if n := src.CountInSlot(slot); n != 1 {
		t.Fatalf("source holds %d entries, want only the expired one", n)
	}
	if n := src.DropExpired(slot); n != 1 || src.CountInSlot(slot) != 0 {
		t.Fatalf("DropExpired removed %d, %d left", n, src.CountInSlot(slot))
	}
	if got := dump(dst); got != want {
		t.Fatalf("target differs\nsource: %s\ntarget: %s", want, got)
	}
	if got := dump(mirror); got != want {
		t.Fatalf("target's replica differs\nsource: %s\nreplica: %s", want, got)
	}
	if err := dst.Restore(slot+1, fmt.Append([]byte{opDel}, "x")); !errors.Is(err, ErrBadOp) {
		t.Errorf("Restore of a deletion: %v, want ErrBadOp", err)
	}
}
