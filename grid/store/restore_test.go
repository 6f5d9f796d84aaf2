package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/insightgrid/insight/grid/slots"
)

// everyEncoding is how many keys fillEveryEncoding writes.
const everyEncoding = 22

// fillEveryEncoding writes, under tag, strings small and over 64 KiB, hashes in both
// encodings (past 128 fields, with a 65-byte value, small) and sets in each of theirs
// (intset, listpack, table) and lists of one node and of many, each with and without an
// expiry.
func fillEveryEncoding(t *testing.T, s *Store, tag string, at int64) {
	t.Helper()
	for i := range everyEncoding {
		k := fmt.Appendf(nil, "%s%d", tag, i)
		exp := int64(0)
		if i%2 == 1 {
			exp = at
		}
		switch i / 2 % 11 {
		case 0:
			must[SetResult](t)(s.Set(nil, k, k, SetOptions{At: exp}))
		case 1:
			must[SetResult](t)(s.Set(nil, k, bytes.Repeat(k, 100<<10/len(k)), SetOptions{At: exp}))
		case 2:
			must[int64](t)(s.HSet(k, [][]byte{[]byte("f"), k, []byte("g"), []byte("1")}))
		case 3:
			var fv [][]byte
			for f := range 200 {
				fv = append(fv, fmt.Appendf(nil, "f%d", f), fmt.Appendf(nil, "%d", f))
			}
			must[int64](t)(s.HSet(k, fv))
		case 4:
			must[int64](t)(s.HSet(k, [][]byte{[]byte("long"), bytes.Repeat([]byte("v"), 65)}))
		case 5:
			must[int64](t)(s.IncrBy(k, 42))
		case 6:
			must[int64](t)(s.SAdd(k, members(300, "%d")))
		case 7:
			must[int64](t)(s.SAdd(k, [][]byte{[]byte("a"), k, []byte("7")}))
		case 8:
			must[int64](t)(s.SAdd(k, members(1000, "member%d")))
		case 9:
			must[int64](t)(s.Push(k, [][]byte{[]byte("a"), k}, true, false))
		default:
			must[int64](t)(s.Push(k, members(3000, "element%d"), true, false))
			must[int64](t)(s.Push(k, [][]byte{bytes.Repeat([]byte("L"), 70<<10)}, false, false))
		}
		if exp != 0 {
			if ok, err := s.Expire(k, exp, ExpireAlways); !ok || err != nil {
				t.Fatalf("EXPIRE %s: %v %v", k, ok, err)
			}
		}
	}
}

// TestMoveSlotKeysOfEveryEncoding moves a slot holding every type and encoding, with
// expiries, the way a migrating slot moves (DumpKeys, Restore): the target and its replica
// end with the same data, in the same encodings.
func TestMoveSlotKeysOfEveryEncoding(t *testing.T) {
	src, now := newTestStore()
	dst, _ := newTestStore()
	mirror, _ := newTestStore()
	dst.SetJournal(&replica{t: t, dst: mirror})
	const tag = "{mv}"
	slot := slots.OfString(tag)
	fillEveryEncoding(t, src, tag, *now+60_000)
	want := dump(src)
	moved := 0
	for {
		keys, ops := src.DumpKeys(slot, 5, 128<<10)
		if len(keys) == 0 {
			break
		}
		for i, op := range ops {
			if err := dst.Restore(slot, op); err != nil {
				t.Fatalf("Restore of %s: %v", keys[i], err)
			}
		}
		for _, k := range keys {
			src.Del(k)
		}
		moved += len(keys)
	}
	if moved != everyEncoding || src.Keys() != 0 || src.DatasetBytes() != 0 || src.IndexBytes() != 0 {
		t.Fatalf("moved %d keys; source keeps %d keys, dataset %d index %d", moved, src.Keys(), src.DatasetBytes(), src.IndexBytes())
	}
	if got := dump(dst); got != want {
		t.Fatalf("target differs\nsource: %.3000s\ntarget: %.3000s", want, got)
	}
	if got := dump(mirror); got != want {
		t.Fatalf("target's replica differs\nsource: %.3000s\nreplica: %.3000s", want, got)
	}
	for i := range everyEncoding {
		k := fmt.Appendf(nil, "%s%d", tag, i)
		sl := dst.slotOf(k)
		r, ok := dst.find(sl, k)
		if !ok {
			t.Fatalf("%s missing on the target", k)
		}
		if ints := i/2%11 == 6; (r.flags&flagInts != 0) != ints {
			t.Errorf("%s an intset on the target: %v, want %v", k, !ints, ints)
		}
		if table := i/2%11 == 3 || i/2%11 == 4 || i/2%11 == 8; r.table() != table {
			t.Errorf("%s in table encoding on the target: %v, want %v", k, r.table(), table)
		}
	}
}

// TestRestorePastMaxMemoryChangesNothing restores keys of every encoding into a target at
// its maxmemory: each is refused with ErrOOM, and neither the target nor its replica
// changes, also where the restored key would replace one the target holds.
func TestRestorePastMaxMemoryChangesNothing(t *testing.T) {
	src, now := newTestStore()
	const tag = "{oom}"
	slot := slots.OfString(tag)
	fillEveryEncoding(t, src, tag, *now+60_000)
	_, ops := src.DumpKeys(slot, 100, 1<<30)

	dst, _ := newTestStore()
	mirror, _ := newTestStore()
	dst.SetJournal(&replica{t: t, dst: mirror})
	// The target already holds some of the keys (a batch restored before), as a small
	// string each, which every restored value outgrows: a big string, hashes of both
	// encodings, sets, lists.
	for _, i := range []int{3, 4, 6, 9, 12, 17, 19, 20} {
		must[SetResult](t)(dst.Set(nil, fmt.Appendf(nil, "%s%d", tag, i), []byte("old"), SetOptions{}))
	}
	dst.SetMaxMemory(dst.UsedMemory())
	before, keys, data := dump(dst), dst.Keys(), dst.DatasetBytes()
	for i, op := range ops {
		if err := dst.Restore(slot, op); !errors.Is(err, ErrOOM) {
			t.Errorf("Restore of op %d (%.40q) at maxmemory: %v, want ErrOOM", i, op, err)
		}
	}
	if got := dump(dst); got != before || dst.Keys() != keys || dst.DatasetBytes() != data {
		t.Fatalf("refused restores changed the target: keys %d -> %d, dataset %d -> %d\nbefore: %s\nafter:  %s",
			keys, dst.Keys(), data, dst.DatasetBytes(), before, got)
	}
	if got := dump(mirror); got != before {
		t.Fatalf("the target's replica differs from the target\ntarget:  %s\nreplica: %s", before, got)
	}
	// With room again every key goes in.
	dst.SetMaxMemory(0)
	for _, op := range ops {
		if err := dst.Restore(slot, op); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatalf("target differs once restored without a limit\nsource: %.3000s\ntarget: %.3000s", want, got)
	}
}
