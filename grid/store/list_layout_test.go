package store

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// Entries read the same from either end of a node, whatever the width of their lengths.
func TestListEntriesReadFromBothEnds(t *testing.T) {
	var elems [][]byte
	for _, n := range []int{0, 1, 127, 128, 300, 16383, 16384, 70000} {
		elems = append(elems, bytes.Repeat([]byte{byte('a' + n%26)}, n))
	}
	var buf []byte
	for _, e := range elems {
		at := len(buf)
		buf = append(buf, make([]byte, entryLen(e))...)
		if w := putEntry(buf[at:], e); w != entryLen(e) {
			t.Fatalf("putEntry(%d bytes) wrote %d, entryLen says %d", len(e), w, entryLen(e))
		}
	}
	rest := buf
	for i, want := range elems {
		var e []byte
		e, rest = firstEntry(rest)
		if !bytes.Equal(e, want) {
			t.Fatalf("entry %d from the start: %d bytes, want %d", i, len(e), len(want))
		}
	}
	rest = buf
	for i := len(elems) - 1; i >= 0; i-- {
		var e []byte
		e, rest = lastEntry(rest)
		if !bytes.Equal(e, elems[i]) {
			t.Fatalf("entry %d from the end: %d bytes, want %d", i, len(e), len(elems[i]))
		}
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left after reading every entry from the end", len(rest))
	}
}

// A list used as a queue from either side keeps its order, and its memory stays in
// proportion to what it holds: popped bytes are reused or freed, never left behind.
func TestListQueueBothWays(t *testing.T) {
	for _, left := range []bool{true, false} {
		s, _ := newTestStore()
		key := b("q")
		var want [][]byte
		base := s.DatasetBytes()
		for i := range 5000 {
			e := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%200)
			if _, err := s.Push(key, [][]byte{e}, left, false); err != nil {
				t.Fatal(err)
			}
			want = append(want, e)
			if i%3 != 0 {
				continue
			}
			got, _, err := s.Pop(key, !left, 1)
			if err != nil || len(got) != 1 || !bytes.Equal(got[0], want[0]) {
				t.Fatalf("left=%v step %d: popped %q (%v), want %q", left, i, got, err, want[0])
			}
			want = want[1:]
		}
		live := 0
		for _, e := range want {
			live += entryLen(e)
		}
		if used := s.DatasetBytes() - base; used > int64(2*live+2*(listNodeHdr+listNodeMax)) {
			t.Errorf("left=%v: the list takes %d bytes of the arena for %d bytes of entries", left, used, live)
		}
		if n, _ := s.LLen(key); n != int64(len(want)) {
			t.Fatalf("left=%v: LLEN %d, want %d", left, n, len(want))
		}
		for len(want) > 0 {
			got, _, err := s.Pop(key, !left, 1)
			if err != nil || !bytes.Equal(got[0], want[0]) {
				t.Fatalf("left=%v draining: popped %q (%v), want %q", left, got, err, want[0])
			}
			want = want[1:]
		}
		if used := s.DatasetBytes(); used != base {
			t.Errorf("left=%v: the arena holds %d bytes after the list emptied, %d before it", left, used, base)
		}
	}
}

// LRangeEach hands out the range's length and then its elements, in order; a key of
// another type is an error and hands out nothing.
func TestLRangeEach(t *testing.T) {
	s, _ := newTestStore()
	must[int64](t)(s.Push(b("l"), [][]byte{b("a"), b("b"), b("c"), b("d")}, false, false))
	must[SetResult](t)(s.Set(nil, b("str"), b("v"), SetOptions{}))
	tests := []struct {
		key         string
		start, stop int64
		want        string
		wantErr     error
	}{
		{"l", 0, -1, "4 abcd", nil},
		{"l", 1, 2, "2 bc", nil},
		{"l", -2, 100, "2 cd", nil},
		{"l", 3, 1, "0 ", nil},
		{"l", 4, 10, "0 ", nil},
		{"missing", 0, -1, "0 ", nil},
		{"str", 0, -1, "", ErrWrongType},
	}
	for _, tt := range tests {
		var got []byte
		err := s.LRangeEach(b(tt.key), tt.start, tt.stop, func(n int) {
			got = fmt.Appendf(got, "%d ", n)
		}, func(e []byte) { got = append(got, e...) })
		if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("LRangeEach(%s, %d, %d): %q, %v; want %q, %v", tt.key, tt.start, tt.stop, got, err, tt.want, tt.wantErr)
		}
	}
}

// Pushes alternating between the ends of one node, and pops in between, keep the order:
// the node's elements move within its chunk when one end runs out of room.
func TestListAlternatingPushes(t *testing.T) {
	s, _ := newTestStore()
	key := b("alt")
	var want [][]byte
	for i := range 3000 {
		e := fmt.Appendf(nil, "e%d", i)
		left := i%2 == 0 || i%7 == 0
		if _, err := s.Push(key, [][]byte{e}, left, false); err != nil {
			t.Fatal(err)
		}
		if left {
			want = append([][]byte{e}, want...)
		} else {
			want = append(want, e)
		}
		if i%5 == 0 {
			out, _, err := s.PopOne(nil, key, i%10 == 0)
			if err != nil {
				t.Fatal(err)
			}
			exp := want[len(want)-1]
			if i%10 == 0 {
				exp, want = want[0], want[1:]
			} else {
				want = want[:len(want)-1]
			}
			if !bytes.Equal(out, exp) {
				t.Fatalf("step %d: popped %q, want %q", i, out, exp)
			}
		}
		if i%97 == 0 || i == 2999 {
			got, err := s.LRange(key, 0, -1)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("step %d: LRANGE 0 -1 = %d elements (%v), want %d", i, len(got), err, len(want))
			}
		}
	}
}
