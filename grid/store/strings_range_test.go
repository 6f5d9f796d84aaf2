package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// setBit is SETBIT through EditString, as the server does it.
func setBit(s *Store, key []byte, off int, on bool) error {
	return s.EditString(key, int64(off/8)+1, func(v []byte) []Span {
		was := v[off/8]
		mask := byte(1) << (7 - off%8)
		if on {
			v[off/8] |= mask
		} else {
			v[off/8] &^= mask
		}
		if v[off/8] == was {
			return nil
		}
		return []Span{{Off: off / 8, Len: 1}}
	})
}

func TestStringRangeJournalIsSmall(t *testing.T) {
	src, _ := newTestStore()
	src.maxBulk = 4 << 20
	dst, _ := newTestStore()
	dst.maxBulk = 4 << 20
	rec := &sizeRecorder{replica: replica{t: t, dst: dst}}
	src.SetJournal(rec)
	big := []byte("bitmap")
	must[SetResult](t)(src.Set(nil, big, bytes.Repeat([]byte{0x0f}, 1<<20), SetOptions{At: 5_000_000}))
	cases := []struct {
		name string
		run  func() error
		max  int
	}{
		{"setbit inside", func() error { return setBit(src, big, 4000, true) }, 16},
		{"setbit unchanged", func() error { return setBit(src, big, 4000, true) }, 0},
		{"setbit growing by a byte", func() error { return setBit(src, big, 8<<20, true) }, 20},
		{"setrange inside", func() error { _, err := src.SetRange(big, 100, []byte("abc")); return err }, 20},
		{"setrange past the end", func() error { _, err := src.SetRange(big, 2<<20, []byte("xyz")); return err }, 24},
		{"append", func() error { _, err := src.Append(big, []byte("tail")); return err }, 24},
		{"two spans", func() error {
			return src.EditString(big, 0, func(v []byte) []Span {
				v[10], v[900_000] = 1, 2
				return []Span{{Off: 10, Len: 1}, {Off: 900_000, Len: 1}}
			})
		}, 24},
		{"rewrite of a few bytes", func() error {
			return src.UpdateStrings([][]byte{big}, func(vals [][]byte, _ []bool) ([]byte, error) {
				nv := bytes.Clone(vals[0])
				nv[5], nv[7] = 'a', 'b'
				return nv, nil
			})
		}, 24},
	}
	for _, c := range cases {
		rec.max = 0
		before := rec.ops
		if err := c.run(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.max == 0 && rec.ops != before {
			t.Errorf("%s journaled an op for no change", c.name)
		}
		if rec.max > c.max {
			t.Errorf("%s on a 1 MiB string journaled %d bytes, want at most %d", c.name, rec.max, c.max)
		}
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatal("the replica differs from the primary")
	}
	if src.TTL(big) != dst.TTL(big) || src.TTL(big) <= 0 {
		t.Fatalf("expiry primary %d replica %d: range writes keep it", src.TTL(big), dst.TTL(big))
	}
}

func TestStringRangeReplaysToSameState(t *testing.T) {
	src, _ := newTestStore()
	dst, _ := newTestStore()
	src.SetJournal(&replica{t: t, dst: dst})
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 3000 {
		k := fmt.Appendf(nil, "k%d", rng.IntN(6))
		var err error
		switch rng.IntN(7) {
		case 0:
			err = setBit(src, k, rng.IntN(3000), rng.IntN(2) == 0)
		case 1:
			_, err = src.SetRange(k, int64(rng.IntN(400)), fmt.Appendf(nil, "r%d", i))
		case 2:
			_, err = src.Append(k, fmt.Appendf(nil, "a%d", i))
		case 3:
			err = src.UpdateStrings([][]byte{k}, func(vals [][]byte, wrong []bool) ([]byte, error) {
				if wrong[0] {
					return nil, ErrWrongType
				}
				nv := bytes.Clone(vals[0])
				if len(nv) == 0 || rng.IntN(4) == 0 {
					return append(nv, 'g'), nil
				}
				nv[rng.IntN(len(nv))]++
				return nv, nil
			})
		case 4:
			_, err = src.ComputeString(k, [][]byte{k}, func(vals [][]byte) []byte {
				if rng.IntN(5) == 0 {
					return nil
				}
				return bytes.ToUpper(vals[0])
			})
		case 5:
			_, err = src.SAdd(k, [][]byte{b("m")})
		default:
			src.Del(k)
		}
		if err != nil && !errors.Is(err, ErrWrongType) {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatal("the replica differs from the primary")
	}
}

func TestStringRangeApplyRejectsMalformedOps(t *testing.T) {
	s, _ := newTestStore()
	for _, op := range [][]byte{
		{opStrRange, 1, 'k'},
		{opStrRange, 1, 'k', 4, 1, 3, 2, 'a', 'b'},           // bytes past the length
		{opStrRange, 1, 'k', 0xff, 0xff, 0xff, 0x7f, 0},      // longer than proto-max-bulk-len
		{opStrRange, 1, 'k', 4, 200, 0, 1, 'a'},              // a count past the op
		{opStrRange, 1, 'k', 4, 1, 0xff, 0xff, 0x7f, 1, 'a'}, // an offset past the length
	} {
		if err := s.Apply(op); !errors.Is(err, ErrBadOp) {
			t.Errorf("Apply(%x) = %v, want ErrBadOp", op, err)
		}
	}
	if s.Keys() != 0 {
		t.Fatal("a malformed op created a key")
	}
}

func TestBitWritesPastMaxMemory(t *testing.T) {
	s, _ := newTestStore()
	s.maxBulk = 512 << 20
	must[SetResult](t)(s.Set(nil, b("small"), b("x"), SetOptions{}))
	s.SetMaxMemory(s.UsedMemory() + 4096)
	before := dump(s)
	if err := setBit(s, b("huge"), 8*(64<<20), true); !errors.Is(err, ErrOOM) {
		t.Fatalf("a 64 MiB SETBIT past maxmemory: %v, want ErrOOM", err)
	}
	if err := setBit(s, b("small"), 8*(64<<20), true); !errors.Is(err, ErrOOM) {
		t.Fatalf("growing a string by 64 MiB past maxmemory: %v, want ErrOOM", err)
	}
	if _, err := s.SetRange(b("small"), 64<<20, b("x")); !errors.Is(err, ErrOOM) {
		t.Fatalf("SETRANGE past maxmemory: %v, want ErrOOM", err)
	}
	if dump(s) != before {
		t.Fatal("a refused write changed the store")
	}
	// A write inside the string needs no room.
	if err := setBit(s, b("small"), 3, true); err != nil {
		t.Fatal(err)
	}
}
