package slab

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// put stores key → val as a record (flags byte, key length, key, value) and returns it.
func put(t testing.TB, a *Arena, key, val []byte) Ref {
	t.Helper()
	n := 1 + binary.MaxVarintLen64 + len(key) + len(val)
	r, b, err := a.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 0
	w := binary.PutUvarint(b[1:], uint64(len(key)))
	copy(b[1+w:], key)
	copy(b[1+w+len(key):], val)
	return r
}

func valueOf(a *Arena, r Ref, vlen int) []byte {
	rec := a.Bytes(r)
	_, w := binary.Uvarint(rec[1:])
	off := 1 + w + len(KeyOf(rec))
	return rec[off : off+vlen]
}

// model runs ops against a table over an arena and a map, checking they agree after each.
func model(t *testing.T, ops []byte) {
	a := NewArena()
	var tab Table
	want := map[string][]byte{}
	refs := map[string]Ref{}
	for i := 0; i+2 < len(ops); i += 3 {
		key := []byte(fmt.Sprintf("k%d", ops[i+1]%64))
		h := Hash(key)
		switch ops[i] % 4 {
		case 0, 1: // set, with a value whose size varies (small and large classes)
			size := int(ops[i+2]) * int(ops[i+2]) * (1 + int(ops[i]%3))
			val := bytes.Repeat([]byte{ops[i+2]}, size%(MaxSmall+5000))
			r := put(t, a, key, val)
			if pos, old := tab.Find(a, h, key); pos >= 0 {
				tab.Replace(pos, r)
				a.Free(old)
			} else {
				tab.Insert(a, h, r)
			}
			want[string(key)], refs[string(key)] = val, r
		case 2:
			if pos, old := tab.Find(a, h, key); pos >= 0 {
				tab.Delete(a, pos)
				a.Free(old)
			}
			delete(want, string(key))
			delete(refs, string(key))
		case 3:
			a.Trim()
		}
		if tab.Len() != len(want) {
			t.Fatalf("op %d: table has %d keys, model %d", i/3, tab.Len(), len(want))
		}
		var live int64
		for k, v := range want {
			pos, r := tab.Find(a, Hash([]byte(k)), []byte(k))
			if pos < 0 || r != refs[k] {
				t.Fatalf("op %d: key %s not found (pos %d ref %x want %x)", i/3, k, pos, r, refs[k])
			}
			if got := valueOf(a, r, len(v)); !bytes.Equal(got, v) {
				t.Fatalf("op %d: key %s holds another value", i/3, k)
			}
			live += int64(ChunkSize(1 + binary.MaxVarintLen64 + len(k) + len(v)))
		}
		if a.Live() != live {
			t.Fatalf("op %d: arena live %d, model %d", i/3, a.Live(), live)
		}
		if a.Resident() < a.Live() {
			t.Fatalf("op %d: resident %d below live %d", i/3, a.Resident(), a.Live())
		}
		seen := 0
		for p := range tab.Cap() {
			if tab.At(p) != 0 {
				seen++
			}
		}
		if seen != len(want) {
			t.Fatalf("op %d: %d entries iterated, want %d", i/3, seen, len(want))
		}
	}
	for k := range want {
		pos, r := tab.Find(a, Hash([]byte(k)), []byte(k))
		tab.Delete(a, pos)
		a.Free(r)
	}
	a.Trim()
	if a.Live() != 0 || a.Resident() != 0 || a.IndexBytes() != 0 {
		t.Fatalf("emptied: live %d resident %d index %d", a.Live(), a.Resident(), a.IndexBytes())
	}
}

func FuzzTableAgainstMap(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 2, 3, 2, 1, 0, 3, 0, 0})
	f.Add(bytes.Repeat([]byte{0, 7, 200, 1, 9, 3, 2, 7, 0}, 40))
	f.Fuzz(model)
}

func TestTableManyKeys(t *testing.T) {
	ops := make([]byte, 0, 3*5000)
	for i := range 5000 {
		ops = append(ops, byte(i%3), byte(i*7), byte(i))
	}
	model(t, ops)
}

func TestClassesCoverEverySize(t *testing.T) {
	prev := 0
	for n := 1; n <= MaxSmall; n++ {
		c := ChunkSize(n)
		if c < n || c < prev {
			t.Fatalf("size %d: chunk %d (previous %d)", n, c, prev)
		}
		if n > 256 && c-n > n/8+1 {
			t.Fatalf("size %d: chunk %d wastes more than 1/8", n, c)
		}
		prev = c
	}
}

func TestEmptyPagesGoBackToTheKernel(t *testing.T) {
	a := NewArena()
	var refs []Ref
	for range 10000 {
		r, _, err := a.Alloc(100)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if got, want := a.Live(), int64(10000*112); got != want {
		t.Fatalf("live %d, want %d", got, want)
	}
	full := a.Resident()
	if full < a.Live() || full > a.Live()+pageSize {
		t.Fatalf("resident %d for %d live", full, a.Live())
	}
	for _, r := range refs {
		a.Free(r)
	}
	if a.Resident() > pageSize {
		t.Fatalf("resident %d after freeing everything, want at most one kept page", a.Resident())
	}
	a.Trim()
	if a.Resident() != 0 {
		t.Fatalf("resident %d after trim", a.Resident())
	}
}

func BenchmarkFindHit(b *testing.B) {
	a := NewArena()
	var tab Table
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key:%012d", i))
		tab.Insert(a, Hash(keys[i]), put(b, a, keys[i], []byte("value")))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := keys[i%len(keys)]
		if pos, _ := tab.Find(a, Hash(k), k); pos < 0 {
			b.Fatal("missing")
		}
	}
}
