package store

import (
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/slots"
)

// TestJournalExpiryWithBackupClockBehind replays a primary's journal to a backup whose
// clock is 100ms behind the primary's (two hosts are never exactly in step): a key that
// has expired on the primary but not yet on the backup is written again, by every kind
// of incremental write. The primary's write starts a new key; the backup must start the
// same new key, not add the write to the old value it still holds — which would keep the
// old content and expiry, and lose the acknowledged write when the old expiry passes.
// Whichever way the primary removes the expired key (a write finding it, or the expiry
// cycle), it journals the deletion.
func TestJournalExpiryWithBackupClockBehind(t *testing.T) {
	writes := []struct {
		name  string
		old   func(s *Store, key []byte) error
		write func(s *Store, key []byte) error
	}{
		{"APPEND",
			func(s *Store, k []byte) error { _, err := s.Append(k, b("old")); return err },
			func(s *Store, k []byte) error { _, err := s.Append(k, b("new")); return err }},
		{"SETRANGE",
			func(s *Store, k []byte) error { _, err := s.Append(k, b("old-old-old")); return err },
			func(s *Store, k []byte) error { _, err := s.SetRange(k, 2, b("new")); return err }},
		{"SADD",
			func(s *Store, k []byte) error { _, err := s.SAdd(k, [][]byte{b("old")}); return err },
			func(s *Store, k []byte) error { _, err := s.SAdd(k, [][]byte{b("new")}); return err }},
		{"HSET",
			func(s *Store, k []byte) error { _, err := s.HSet(k, [][]byte{b("old"), b("1")}); return err },
			func(s *Store, k []byte) error { _, err := s.HSet(k, [][]byte{b("new"), b("2")}); return err }},
		{"RPUSH",
			func(s *Store, k []byte) error {
				_, err := s.Push(k, [][]byte{b("o1"), b("o2"), b("o3")}, true, false)
				return err
			},
			func(s *Store, k []byte) error { _, err := s.Push(k, [][]byte{b("new")}, false, false); return err }},
		{"LPUSH",
			func(s *Store, k []byte) error {
				_, err := s.Push(k, [][]byte{b("o1"), b("o2")}, false, false)
				return err
			},
			func(s *Store, k []byte) error { _, err := s.Push(k, [][]byte{b("new")}, true, false); return err }},
		{"ZADD",
			func(s *Store, k []byte) error {
				_, err := s.ZAdd(k, ZAddFlags{}, [][]byte{b("old")}, []float64{1})
				return err
			},
			func(s *Store, k []byte) error {
				_, err := s.ZAdd(k, ZAddFlags{}, [][]byte{b("new")}, []float64{2})
				return err
			}},
		{"XADD",
			func(s *Store, k []byte) error {
				_, _, err := s.XAdd(k, XAddArgs{ID: StreamID{Ms: 5, Seq: 1}}, [][]byte{b("f"), b("old")})
				return err
			},
			func(s *Store, k []byte) error {
				_, _, err := s.XAdd(k, XAddArgs{ID: StreamID{Ms: 1, Seq: 1}}, [][]byte{b("f"), b("new")})
				return err
			}},
	}
	for _, w := range writes {
		for _, byCycle := range []bool{false, true} {
			name := w.name + " finding the key expired"
			if byCycle {
				name = w.name + " after the expiry cycle removed the key"
			}
			t.Run(name, func(t *testing.T) {
				src, now := newTestStore()
				dst, dnow := newTestStore()
				*dnow = *now - 100
				src.SetJournal(&replica{t: t, dst: dst})
				key := b("k")
				if err := w.old(src, key); err != nil {
					t.Fatal(err)
				}
				if _, err := src.Expire(key, *now+50, ExpireAlways); err != nil {
					t.Fatal(err)
				}
				*now += 60 // expired on the primary; on the backup, 40ms to go
				*dnow += 60
				if byCycle {
					if n := src.DropExpired(slots.Of(key)); n != 1 {
						t.Fatalf("the expiry cycle removed %d keys, want 1", n)
					}
				}
				if err := w.write(src, key); err != nil {
					t.Fatal(err)
				}
				want := dump(src)
				if got := dump(dst); got != want {
					t.Errorf("after the write, the backup holds\n  %s\nthe primary\n  %s", got, want)
				}
				*now += 3_600_000 // the old expiry passes on both
				*dnow += 3_600_000
				want = dump(src)
				if got := dump(dst); got != want {
					t.Errorf("once the old expiry passed, the backup holds\n  %s\nthe primary\n  %s", got, want)
				}
				if want == "[]" {
					t.Errorf("the primary lost the write of a new key")
				}
			})
		}
	}
}

// replicaJournal is a replica's journal: it takes nothing, and its store leaves expiry to
// the primary.
type replicaJournal struct{ records int }

func (j *replicaJournal) Record(int, []byte)       { j.records++ }
func (j *replicaJournal) RecordExpiry(int, []byte) { j.records++ }
func (j *replicaJournal) ExpiresKeys() bool        { return false }

// TestReplicaLeavesExpiryToItsPrimary: a replica's clock ahead of its primary's must not
// make it drop a key the primary still writes to (it would then hold only the later
// writes, without the expiry). Its expiry cycle deletes nothing; an expired key is gone
// for it when the primary's journaled deletion arrives, and meanwhile the primary's
// writes still change it.
func TestReplicaLeavesExpiryToItsPrimary(t *testing.T) {
	src, now := newTestStore()
	dst, dnow := newTestStore()
	*dnow = *now + 100 // the replica's clock is ahead
	dj := &replicaJournal{}
	dst.SetJournal(dj)
	src.SetJournal(&replica{t: t, dst: dst})
	key := b("k")
	must[int64](t)(src.SAdd(key, [][]byte{b("old")}))
	must[bool](t)(src.Expire(key, *now+50, ExpireAlways))
	*now += 10 // live on the primary; on the replica, past its expiry
	*dnow += 10
	if next, volatile := dst.expireCycle(0, time.Now().Add(time.Second)); volatile || next != 0 || dst.Keys() != 1 {
		t.Fatalf("the replica's expiry cycle ran (volatile %v, %d keys left)", volatile, dst.Keys())
	}
	must[int64](t)(src.SAdd(key, [][]byte{b("new")}))
	ahead := *dnow
	*dnow = *now // read the replica's records as the primary's clock sees them
	if got, want := dump(dst), dump(src); got != want {
		t.Fatalf("after a write to the key live on the primary, the replica holds\n  %s\nthe primary\n  %s", got, want)
	}
	*dnow = ahead
	*now += 50 // expired on the primary too: its cycle deletes the key and journals it
	*dnow += 50
	if n := src.DropExpired(slots.Of(key)); n != 1 {
		t.Fatalf("the primary's expiry cycle removed %d keys, want 1", n)
	}
	if dst.Keys() != 0 || dj.records != 0 {
		t.Fatalf("after the primary's expiry, the replica holds %d keys and journaled %d operations", dst.Keys(), dj.records)
	}
}
