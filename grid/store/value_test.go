package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestDumpRestoreValueOfEveryEncoding copies every type and encoding through Dump and
// RestoreValue: the copy equals the original, encoding included, and the journal carries
// it to a replica.
func TestDumpRestoreValueOfEveryEncoding(t *testing.T) {
	src, now := newTestStore()
	dst, _ := newTestStore()
	mirror, _ := newTestStore()
	dst.SetJournal(&replica{t: t, dst: mirror})
	const tag = "{val}"
	fillEveryEncoding(t, src, tag, *now+60_000)
	for i := range everyEncoding {
		k := fmt.Appendf(nil, "%s%d", tag, i)
		v, ok := src.Dump(k)
		if !ok {
			t.Fatalf("Dump %s: absent", k)
		}
		if err := dst.RestoreValue(k, v, false); err != nil {
			t.Fatalf("RestoreValue %s: %v", k, err)
		}
		if err := dst.RestoreValue(k, v, false); !errors.Is(err, ErrBusyKey) {
			t.Fatalf("RestoreValue %s again without replace: %v", k, err)
		}
		if err := dst.RestoreValue(k, v, true); err != nil {
			t.Fatalf("RestoreValue %s with replace: %v", k, err)
		}
		got, _ := dst.Dump(k)
		if got.Encoding != v.Encoding || got.ExpireAt != v.ExpireAt {
			t.Errorf("%s: restored as %s expiring %d, want %s expiring %d", k, got.Encoding, got.ExpireAt, v.Encoding, v.ExpireAt)
		}
		if enc, _ := dst.Encoding(k); enc != v.Encoding {
			t.Errorf("%s: Encoding %s, want %s", k, enc, v.Encoding)
		}
		if n, ok := dst.MemoryUsage(k, 5); !ok || n < int64(len(k)) {
			t.Errorf("%s: MemoryUsage %d %v", k, n, ok)
		}
	}
	for i := range everyEncoding {
		k := fmt.Appendf(nil, "%s%d", tag, i)
		want, _ := src.Dump(k)
		got, _ := dst.Dump(k)
		if fmt.Sprint(sortedItems(got)) != fmt.Sprint(sortedItems(want)) {
			t.Fatalf("%s: restored copy differs", k)
		}
	}
	if got, want := dump(mirror), dump(dst); got != want {
		t.Fatalf("replica differs from the restored copy")
	}
}

func TestRestoreValueEdges(t *testing.T) {
	s, now := newTestStore()
	k := b("{e}k")
	// Already expired: nothing is created; with replace the old value goes.
	if err := s.RestoreValue(k, Value{Kind: KindString, Str: b("v"), ExpireAt: *now - 1}, false); err != nil || s.Exists(k) {
		t.Fatalf("expired restore: %v, exists %v", err, s.Exists(k))
	}
	must[SetResult](t)(s.Set(nil, k, b("old"), SetOptions{}))
	if err := s.RestoreValue(k, Value{Kind: KindString, Str: b("v"), ExpireAt: *now - 1}, true); err != nil || s.Exists(k) {
		t.Fatalf("expired restore with replace: %v, exists %v", err, s.Exists(k))
	}
	// Empty collections and unknown kinds are refused.
	for _, v := range []Value{{Kind: KindSet}, {Kind: KindHash, Items: [][]byte{b("f")}}, {Kind: KindZSet, Items: [][]byte{b("m")}}} {
		if err := s.RestoreValue(k, v, true); err == nil {
			t.Errorf("RestoreValue %v: no error", v)
		}
	}
	// Past maxmemory nothing changes.
	must[SetResult](t)(s.Set(nil, k, b("old"), SetOptions{}))
	s.SetMaxMemory(s.UsedMemory())
	big := Value{Kind: KindList, Items: members(5000, "element%d")}
	if err := s.RestoreValue(k, big, true); !errors.Is(err, ErrOOM) {
		t.Fatalf("RestoreValue past maxmemory: %v", err)
	}
	if v, _ := s.Dump(k); string(v.Str) != "old" {
		t.Fatalf("refused restore changed the key: %v", v)
	}
}

func TestEncodingNames(t *testing.T) {
	s, _ := newTestStore()
	for val, want := range map[string]string{"1": "int", "-9223372036854775808": "int", "9223372036854775808": "embstr",
		"01": "embstr", "hello": "embstr", string(make([]byte, 44)): "embstr", string(make([]byte, 45)): "raw"} {
		must[SetResult](t)(s.Set(nil, b("{n}k"), b(val), SetOptions{}))
		if got, _ := s.Encoding(b("{n}k")); got != want {
			t.Errorf("%q: %s, want %s", val, got, want)
		}
	}
	must[int64](t)(s.SAdd(b("{n}s"), [][]byte{b("1"), b("2")}))
	must[int64](t)(s.SAdd(b("{n}t"), [][]byte{b("a")}))
	must[int64](t)(s.Push(b("{n}l"), [][]byte{b("a")}, true, false))
	must[int64](t)(s.HSet(b("{n}h"), [][]byte{b("a"), b("1")}))
	for k, want := range map[string]string{"{n}s": "intset", "{n}t": "hashtable", "{n}l": "quicklist", "{n}h": "listpack"} {
		if got, _ := s.Encoding(b(k)); got != want {
			t.Errorf("%s: %s, want %s", k, got, want)
		}
	}
	if _, ok := s.Encoding(b("{n}none")); ok {
		t.Error("Encoding of a missing key")
	}
}

// sortedItems renders a value with a hash's or set's items in a stable order (a list's
// head index, internal, is left out).
func sortedItems(v Value) string {
	items := make([]string, 0, len(v.Items))
	switch v.Kind {
	case KindHash:
		for i := 0; i+1 < len(v.Items); i += 2 {
			items = append(items, string(v.Items[i])+"="+string(v.Items[i+1]))
		}
		slices.Sort(items)
	case KindSet:
		for _, it := range v.Items {
			items = append(items, string(it))
		}
		slices.Sort(items)
	default:
		for _, it := range v.Items {
			items = append(items, string(it))
		}
	}
	return fmt.Sprintf("%v %s %d %q %q", v.Kind, v.Encoding, v.ExpireAt, v.Str, items)
}
