package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// listModel runs random list commands, decoded from in, against the store and a Go slice
// per key, checking the whole of every list after each.
func listModel(t *testing.T, in []byte) {
	s, _ := newTestStore()
	mirror, _ := newTestStore()
	s.SetJournal(&replica{t: t, dst: mirror})
	want := map[string][][]byte{}
	next := func() int {
		if len(in) == 0 {
			return 0
		}
		c := in[0]
		in = in[1:]
		return int(c)
	}
	elem := func() []byte {
		c := next()
		switch c % 8 {
		case 0:
			return bytes.Repeat([]byte{'L'}, 1000+next()*40) // 1000..11200 bytes: past a node
		case 1:
			return []byte{}
		default:
			return fmt.Appendf(nil, "e%d", c%12)
		}
	}
	keys := []string{"{l}a", "{l}b"}
	var trace []string
	defer func() {
		if t.Failed() {
			t.Log(trace[max(0, len(trace)-15):])
		}
	}()
	for step := 0; len(in) > 0; step++ {
		k := keys[next()%2]
		cur := want[k]
		op := next() % 10
		trace = append(trace, fmt.Sprintf("step %d op %d on %s (len %d)", step, op, k, len(cur)))
		switch op {
		case 0, 1, 2, 3: // push
			left := op%2 == 0
			es := make([][]byte, 1+next()%(1+30*(op/2)))
			for i := range es {
				es[i] = elem()
			}
			for _, e := range es {
				if left {
					cur = append([][]byte{e}, cur...)
				} else {
					cur = append(cur, e)
				}
			}
			n, err := s.Push([]byte(k), es, left, false)
			if err != nil || n != int64(len(cur)) {
				t.Fatalf("step %d push: %d %v, want %d", step, n, err, len(cur))
			}
		case 4, 5: // pop
			left, count := op == 4, int64(next()%6)
			var got [][]byte
			var err error
			if count == 1 {
				// LPOP/RPOP without a count: PopOne appends to the buffer it is given.
				var one []byte
				var ok bool
				one, ok, err = s.PopOne([]byte("prefix:"), []byte(k), left)
				if ok != (len(cur) > 0) || !bytes.HasPrefix(one, []byte("prefix:")) {
					t.Fatalf("step %d PopOne: %q %v, list of %d", step, one, ok, len(cur))
				}
				if ok {
					got = [][]byte{one[len("prefix:"):]}
				}
			} else {
				got, _, err = s.Pop([]byte(k), left, count)
			}
			if err != nil {
				t.Fatal(err)
			}
			c := min(int(count), len(cur))
			var exp [][]byte
			if left {
				exp, cur = cur[:c], cur[c:]
			} else {
				for i := range c {
					exp = append(exp, cur[len(cur)-1-i])
				}
				cur = cur[:len(cur)-c]
			}
			if !equalLists(got, exp) {
				t.Fatalf("step %d pop(left %v, %d) = %d elements, want %d", step, left, count, len(got), len(exp))
			}
		case 6: // lset
			if len(cur) == 0 {
				continue
			}
			i, e := next()%len(cur), elem()
			if err := s.LSet([]byte(k), int64(i), e); err != nil {
				t.Fatal(err)
			}
			cur[i] = e
		case 7: // ltrim
			start, stop := int64(next()%10)-5, int64(next()%10)-5
			if err := s.LTrim([]byte(k), start, stop); err != nil {
				t.Fatal(err)
			}
			from, to, ok := rangeOf(start, stop, int64(len(cur)))
			if ok {
				cur = cur[from : to+1]
			} else {
				cur = nil
			}
		case 8: // lmove
			other := keys[next()%2]
			fromLeft, toLeft := next()%2 == 0, next()%2 == 0
			e, ok, err := s.LMove([]byte(k), []byte(other), fromLeft, toLeft)
			if err != nil || ok != (len(cur) > 0) {
				t.Fatalf("step %d lmove: %v %v", step, ok, err)
			}
			if !ok {
				continue
			}
			var x []byte
			if fromLeft {
				x, cur = cur[0], cur[1:]
			} else {
				x, cur = cur[len(cur)-1], cur[:len(cur)-1]
			}
			if !bytes.Equal(x, e) {
				t.Fatalf("step %d lmove gave %.20q, want %.20q", step, e, x)
			}
			want[k] = cur
			dst := want[other]
			if toLeft {
				dst = append([][]byte{x}, dst...)
			} else {
				dst = append(dst, x)
			}
			want[other] = dst
			cur = want[k]
		default: // linsert, lrem
			if next()%2 == 0 {
				pivot, e := elem(), elem()
				n, err := s.LInsert([]byte(k), true, pivot, e)
				if err != nil {
					t.Fatal(err)
				}
				at := -1
				for i, x := range cur {
					if bytes.Equal(x, pivot) {
						at = i
						break
					}
				}
				if at >= 0 {
					cur = append(cur[:at], append([][]byte{e}, cur[at:]...)...)
				}
				if len(cur) == 0 && n != 0 || at < 0 && len(cur) > 0 && n != -1 {
					t.Fatalf("step %d linsert = %d", step, n)
				}
			} else {
				e := elem()
				n, err := s.LRem([]byte(k), 0, e)
				if err != nil {
					t.Fatal(err)
				}
				var kept [][]byte
				for _, x := range cur {
					if !bytes.Equal(x, e) {
						kept = append(kept, x)
					}
				}
				if int(n) != len(cur)-len(kept) {
					t.Fatalf("step %d lrem = %d, want %d", step, n, len(cur)-len(kept))
				}
				cur = kept
			}
		}
		if op != 8 {
			want[k] = cur
		}
		for _, k := range keys {
			got, err := s.LRange([]byte(k), 0, -1)
			if err != nil || !equalLists(got, want[k]) {
				t.Fatalf("step %d (op %d): %s holds %d elements, want %d", step, op, k, len(got), len(want[k]))
			}
			if n, _ := s.LLen([]byte(k)); n != int64(len(want[k])) {
				t.Fatalf("step %d: LLEN %s = %d, want %d", step, k, n, len(want[k]))
			}
			if n := len(want[k]); n > 0 {
				for _, i := range []int{0, n - 1, n / 2, n / 3, 2 * n / 3} {
					if got, ok, _ := s.LIndex(nil, []byte(k), int64(i)); !ok || !bytes.Equal(got, want[k][i]) {
						t.Fatalf("step %d: LINDEX %s %d = %.20q, want %.20q", step, k, i, got, want[k][i])
					}
				}
			}
		}
		if step%50 == 0 || len(in) == 0 {
			if got, exp := dump(mirror), dump(s); got != exp {
				t.Fatalf("step %d (op %d): the journal's replica differs", step, op)
			}
		}
	}
	for _, k := range keys {
		s.Del([]byte(k))
	}
	s.arena.Trim()
	if u := s.UsedMemory(); u != 0 {
		t.Fatalf("used memory %d once the lists are deleted", u)
	}
}

func equalLists(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestListAgainstModel(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 11))
			in := make([]byte, 6000)
			for i := range in {
				in[i] = byte(rng.Uint32())
			}
			listModel(t, in)
		})
	}
}

func FuzzListAgainstModel(f *testing.F) {
	f.Add([]byte{0, 0, 3, 2, 2, 1, 4, 5, 1, 8, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 2048 {
			in = in[:2048]
		}
		listModel(t, in)
	})
}

// recorder keeps copies of every journaled operation.
type recorder struct{ ops [][]byte }

func (r *recorder) Record(_ int, op []byte) { r.ops = append(r.ops, bytes.Clone(op)) }

// TestListJournalConverges replays list operations the way a backup loading a snapshot
// does: the snapshot of a slot is taken at some point j while the stream it continues from
// starts at an earlier point s0, so the operations between s0 and j are applied to a state
// that already includes them. The replica must still end equal to the primary.
func TestListJournalConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	src, _ := newTestStore()
	rec := &recorder{}
	src.SetJournal(rec)
	keys := [][]byte{[]byte("{q}a"), []byte("{q}b")}
	slot := src.slotOf(keys[0]).idx
	elem := func() []byte {
		if rng.IntN(8) == 0 {
			return bytes.Repeat([]byte{'L'}, 3000+rng.IntN(6000))
		}
		return fmt.Appendf(nil, "e%d", rng.IntN(6))
	}
	var marks []int      // len(rec.ops) after each command
	var snaps [][][]byte // the slot's snapshot after each command
	for range 600 {
		k := keys[rng.IntN(2)]
		var err error
		switch rng.IntN(11) {
		case 0, 1, 2:
			_, err = src.Push(k, [][]byte{elem(), elem(), elem()}[:1+rng.IntN(3)], rng.IntN(2) == 0, false)
		case 3, 4:
			_, _, err = src.Pop(k, rng.IntN(2) == 0, int64(rng.IntN(4)))
		case 5:
			if n, _ := src.LLen(k); n > 0 {
				err = src.LSet(k, int64(rng.IntN(int(n))), elem())
			}
		case 6:
			err = src.LTrim(k, int64(rng.IntN(4)), int64(-1-rng.IntN(4)))
		case 7:
			_, err = src.LInsert(k, rng.IntN(2) == 0, elem(), elem())
		case 8:
			_, err = src.LRem(k, int64(rng.IntN(3)-1), elem())
		case 9:
			_, _, err = src.LMove(k, keys[rng.IntN(2)], rng.IntN(2) == 0, rng.IntN(2) == 0)
		default:
			if rng.IntN(5) == 0 {
				src.Del(k)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		marks = append(marks, len(rec.ops))
		var snap [][]byte
		src.DumpSlot(int(slot), func(op []byte) { snap = append(snap, bytes.Clone(op)) })
		snaps = append(snaps, snap)
	}
	want := dump(src)
	for range 200 {
		s0 := rng.IntN(len(marks))
		j := s0 + rng.IntN(len(marks)-s0)
		dst, _ := newTestStore()
		for _, op := range snaps[j] {
			if err := dst.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		for _, op := range rec.ops[marks[s0]:] {
			if err := dst.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		if got := dump(dst); got != want {
			t.Fatalf("stream from command %d over the snapshot after command %d: the replica differs\nprimary: %.600s\nreplica: %.600s", s0, j, want, got)
		}
	}
}

// TestListPushJournalsOneElement checks that a push onto a long list journals the element,
// not the list, and that the backup's copy stays the same.
func TestListPushJournalsOneElement(t *testing.T) {
	src, _ := newTestStore()
	dst, _ := newTestStore()
	rec := &sizeRecorder{replica: replica{t: t, dst: dst}}
	src.SetJournal(rec)
	for i := range 100 {
		must[int64](t)(src.Push(b("long"), members(1000, fmt.Sprintf("e%d-%%d", i)), i%2 == 0, false))
	}
	rec.max = 0
	must[int64](t)(src.Push(b("long"), [][]byte{b("x")}, true, false))
	must[int64](t)(src.Push(b("long"), [][]byte{b("y")}, false, false))
	if _, _, err := src.Pop(b("long"), true, 2); err != nil {
		t.Fatal(err)
	}
	if err := src.LSet(b("long"), 5000, b("z")); err != nil {
		t.Fatal(err)
	}
	if err := src.LTrim(b("long"), 1, -2); err != nil {
		t.Fatal(err)
	}
	if rec.max > 64 {
		t.Fatalf("a one-element change to a 100000-element list journaled %d bytes", rec.max)
	}
	if got, want := dump(dst), dump(src); got != want {
		t.Fatal("the replica differs")
	}
}

// TestListRotationKeepsExpiry rotates a one-element list with a TTL: the backup keeps the
// list and its TTL.
func TestListRotationKeepsExpiry(t *testing.T) {
	src, now := newTestStore()
	dst, _ := newTestStore()
	src.SetJournal(&replica{t: t, dst: dst})
	must[int64](t)(src.Push(b("r"), [][]byte{b("only")}, true, false))
	must[bool](t)(src.Expire(b("r"), *now+10_000, ExpireAlways))
	for _, dir := range [][2]bool{{true, false}, {false, true}, {true, true}, {false, false}} {
		if _, ok, err := src.LMove(b("r"), b("r"), dir[0], dir[1]); !ok || err != nil {
			t.Fatalf("rotation %v: %v %v", dir, ok, err)
		}
	}
	if got, want := dump(dst), dump(src); got != want || dst.TTL(b("r")) != 10_000 {
		t.Fatalf("after rotations the backup holds %s (TTL %d), want %s", got, dst.TTL(b("r")), want)
	}
}

func TestListWritesPastMaxMemory(t *testing.T) {
	s, _ := newTestStore()
	must[int64](t)(s.Push(b("{o}l"), members(2000, "e%d"), false, false))
	s.SetMaxMemory(s.UsedMemory())
	before := dump(s)
	if _, err := s.Push(b("{o}l"), members(5000, "new%d"), true, false); !errors.Is(err, ErrOOM) {
		t.Fatalf("LPUSH past maxmemory: %v", err)
	}
	if _, err := s.Push(b("{o}m"), [][]byte{bytes.Repeat([]byte("v"), 300<<10)}, true, false); !errors.Is(err, ErrOOM) {
		t.Fatalf("LPUSH of a new list past maxmemory: %v", err)
	}
	if dump(s) != before {
		t.Fatal("a refused write changed the store")
	}
	if _, _, err := s.Pop(b("{o}l"), true, 10); err != nil {
		t.Fatalf("LPOP at maxmemory: %v", err)
	}
}
