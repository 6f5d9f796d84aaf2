package store

import (
	"errors"
	"fmt"
	"math/big"
	"testing"
)

func TestGetRange(t *testing.T) {
	s, _ := newTestStore()
	must[SetResult](t)(s.Set(nil, b("s"), b("This is a string"), SetOptions{}))
	must[SetResult](t)(s.Set(nil, b("e"), b(""), SetOptions{}))
	// Redis's documented cases and its tests/unit/type/string.tcl ones.
	tests := []struct {
		key        string
		start, end int64
		want       string
	}{
		{"s", 0, 3, "This"},
		{"s", -3, -1, "ing"},
		{"s", 0, -1, "This is a string"},
		{"s", 10, 100, "string"},
		{"s", 5, 3, ""},
		{"s", -1, -5, ""},
		{"s", -100, 100, "This is a string"},
		{"s", -5000, 10000, "This is a string"},
		{"s", 0, -100, "T"}, // Redis clamps both to 0
		{"s", 1, -3, "his is a stri"},
		{"s", 5, -100, ""},
		{"s", 15, 20, "g"},
		{"s", 16, 20, ""},
		{"e", 0, -1, ""},
		{"none", 0, -1, ""},
	}
	for _, tt := range tests {
		got, err := s.GetRange(nil, b(tt.key), tt.start, tt.end)
		if err != nil || string(got) != tt.want {
			t.Errorf("GetRange(%s, %d, %d) = %q, %v; want %q", tt.key, tt.start, tt.end, got, err, tt.want)
		}
	}
}

func TestSetRange(t *testing.T) {
	s, now := newTestStore()
	tests := []struct {
		initial string // "-": no key
		offset  int64
		val     string
		want    string // "-": no key after
		n       int64
		err     error
	}{
		{"-", 0, "foo", "foo", 3, nil},
		{"-", 1, "foo", "\x00foo", 4, nil},
		{"-", 0, "", "-", 0, nil},
		{"foo", 0, "", "foo", 3, nil},
		{"foo", 0, "b", "boo", 3, nil},
		{"foo", 1, "b", "fbo", 3, nil},
		{"foo", 4, "bar", "foo\x00bar", 7, nil},
		{"hello world", 6, "Redis", "hello Redis", 11, nil},
		{"foo", -1, "x", "foo", 0, ErrOffsetRange},
		{"-", 1 << 20, "x", "-", 0, ErrTooBig},
		{"foo", 1 << 20, "", "foo", 3, nil},
	}
	for _, tt := range tests {
		s.Del(b("k"))
		if tt.initial != "-" {
			must[SetResult](t)(s.Set(nil, b("k"), b(tt.initial), SetOptions{At: *now + 5000}))
		}
		n, err := s.SetRange(b("k"), tt.offset, b(tt.val))
		v, ok, _ := s.Get(nil, b("k"))
		got := string(v)
		if !ok {
			got = "-"
		}
		if !errors.Is(err, tt.err) || n != tt.n || got != tt.want {
			t.Errorf("SETRANGE %q %d %q = %d, %v, value %q; want %d, %v, %q", tt.initial, tt.offset, tt.val, n, err, got, tt.n, tt.err, tt.want)
		}
		if ok && tt.initial != "-" && s.TTL(b("k")) != 5000 {
			t.Errorf("SETRANGE on %q lost the TTL: %d", tt.initial, s.TTL(b("k")))
		}
	}
}

func TestGetExGetDelMSetNX(t *testing.T) {
	s, now := newTestStore()
	must[SetResult](t)(s.Set(nil, b("k"), b("v"), SetOptions{}))
	if v, ok, err := s.GetEx(nil, b("k"), ExpireSet, *now+1000); !ok || err != nil || string(v) != "v" || s.TTL(b("k")) != 1000 {
		t.Fatalf("GETEX EX: %q %v %v, TTL %d", v, ok, err, s.TTL(b("k")))
	}
	if _, ok, _ := s.GetEx(nil, b("k"), ExpireKeep, 0); !ok || s.TTL(b("k")) != 1000 {
		t.Fatalf("GETEX without option changed the TTL: %d", s.TTL(b("k")))
	}
	if _, ok, _ := s.GetEx(nil, b("k"), ExpireRemoved, 0); !ok || s.TTL(b("k")) != -1 {
		t.Fatalf("GETEX PERSIST left TTL %d", s.TTL(b("k")))
	}
	if v, ok, _ := s.GetEx(nil, b("k"), ExpireSet, *now); !ok || string(v) != "v" || s.Exists(b("k")) {
		t.Fatalf("GETEX with a past time: %q %v, exists %v", v, ok, s.Exists(b("k")))
	}
	must[int64](t)(s.HSet(b("h"), [][]byte{b("f"), b("v")}))
	if _, _, err := s.GetEx(nil, b("h"), ExpireKeep, 0); !errors.Is(err, ErrWrongType) {
		t.Fatalf("GETEX on a hash: %v", err)
	}
	if _, _, err := s.GetDel(nil, b("h")); !errors.Is(err, ErrWrongType) || !s.Exists(b("h")) {
		t.Fatalf("GETDEL on a hash: %v", err)
	}
	must[SetResult](t)(s.Set(nil, b("k"), b("v"), SetOptions{}))
	if v, ok, err := s.GetDel(nil, b("k")); !ok || err != nil || string(v) != "v" || s.Exists(b("k")) {
		t.Fatalf("GETDEL: %q %v %v", v, ok, err)
	}
	if done, err := s.MSetNX([][]byte{b("{x}a"), b("1"), b("{x}b"), b("2")}); !done || err != nil {
		t.Fatalf("MSETNX of new keys: %v %v", done, err)
	}
	if done, _ := s.MSetNX([][]byte{b("{x}c"), b("3"), b("{x}b"), b("4")}); done || s.Exists(b("{x}c")) {
		t.Fatal("MSETNX wrote although a key existed")
	}
}

func TestHashMoreCommands(t *testing.T) {
	s, _ := newTestStore()
	if ok, err := s.HSetNX(b("h"), b("f"), b("v")); !ok || err != nil {
		t.Fatalf("HSETNX new: %v %v", ok, err)
	}
	if ok, _ := s.HSetNX(b("h"), b("f"), b("w")); ok {
		t.Fatal("HSETNX overwrote a field")
	}
	if n, _ := s.HStrLen(b("h"), b("f")); n != 1 {
		t.Fatalf("HSTRLEN = %d", n)
	}
	if n, _ := s.HStrLen(b("h"), b("none")); n != 0 {
		t.Fatalf("HSTRLEN of a missing field = %d", n)
	}
	for _, tt := range []struct{ initial, delta, want string }{
		{"10.50", "0.1", "10.6"},
		{"5.0e3", "2.0e2", "5200"},
		{"", "1.23456789012345678", "1.23456789012345678"},
	} {
		must[int64](t)(s.HDel(b("h"), [][]byte{b("n")}))
		if tt.initial != "" {
			must[int64](t)(s.HSet(b("h"), [][]byte{b("n"), b(tt.initial)}))
		}
		d, _ := ParseLongDouble(b(tt.delta))
		if got, err := s.HIncrByFloat(b("h"), b("n"), d); err != nil || string(got) != tt.want {
			t.Errorf("HINCRBYFLOAT %s by %s = %q, %v; want %s", tt.initial, tt.delta, got, err, tt.want)
		}
	}
	if _, err := s.HIncrByFloat(b("h"), b("f"), big.NewFloat(1)); !errors.Is(err, ErrHashNotFloat) {
		t.Fatalf("HINCRBYFLOAT of text: %v", err)
	}
	// HRANDFIELD and HSCAN over both encodings.
	for _, n := range []int{5, 300} {
		key := fmt.Appendf(nil, "r%d", n)
		for i := range n {
			must[int64](t)(s.HSet(key, [][]byte{fmt.Appendf(nil, "f%d", i), fmt.Appendf(nil, "v%d", i)}))
		}
		for _, count := range []int64{1, 3, int64(n) - 1, int64(n), int64(n) + 10} {
			out, err := s.HRandField(key, count, true)
			if err != nil || len(out) != 2*int(min(count, int64(n))) {
				t.Fatalf("HRANDFIELD %d of %d WITHVALUES: %d items, %v", count, n, len(out), err)
			}
			seen := map[string]bool{}
			for i := 0; i < len(out); i += 2 {
				if seen[string(out[i])] || "v"+string(out[i][1:]) != string(out[i+1]) {
					t.Fatalf("HRANDFIELD %d of %d: repeat or wrong value at %q=%q", count, n, out[i], out[i+1])
				}
				seen[string(out[i])] = true
			}
		}
		if out, _ := s.HRandField(key, -20, false); len(out) != 20 {
			t.Fatalf("HRANDFIELD -20 of %d: %d", n, len(out))
		}
		seen := map[string]string{}
		for cursor := uint64(0); ; {
			next, items, err := s.HScan(key, cursor, nil, 7)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(items); i += 2 {
				seen[string(items[i])] = string(items[i+1])
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		if len(seen) != n {
			t.Fatalf("HSCAN of %d fields saw %d", n, len(seen))
		}
	}
	must[SetResult](t)(s.Set(nil, b("s"), b("v"), SetOptions{}))
	for name, err := range map[string]error{
		"hsetnx":       second(s.HSetNX(b("s"), b("f"), b("v"))),
		"hstrlen":      second(s.HStrLen(b("s"), b("f"))),
		"hincrbyfloat": second(s.HIncrByFloat(b("s"), b("f"), big.NewFloat(1))),
		"hrandfield":   second(s.HRandField(b("s"), 1, false)),
	} {
		if !errors.Is(err, ErrWrongType) {
			t.Errorf("%s on a string: %v", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
