package store

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fill makes key hold a value of kind (big: past the small encodings) expiring at exp.
func fill(t *testing.T, s *Store, key []byte, kind Kind, big bool, exp int64) {
	t.Helper()
	n := 3
	if big {
		n = 300
	}
	switch kind {
	case KindString:
		must[SetResult](t)(s.Set(nil, key, []byte(strings.Repeat("v", n)), SetOptions{}))
	case KindHash:
		for i := range n {
			must[int64](t)(s.HSet(key, [][]byte{fmt.Appendf(nil, "f%d", i), fmt.Appendf(nil, "v%d", i)}))
		}
	case KindSet:
		must[int64](t)(s.SAdd(key, members(n, "m%d")))
	case KindList:
		must[int64](t)(s.Push(key, members(n, "e%d"), false, false))
	}
	if exp != 0 {
		must[bool](t)(s.Expire(key, exp, ExpireAlways))
	}
}

// value renders key's whole state (as a snapshot carries it) without the key's name.
func value(s *Store, key []byte) string {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	if !ok {
		return "none"
	}
	op := s.appendEntry(nil, []byte("x"), sl, &r)
	return canonical(op)
}

func TestRenameAndCopyEveryType(t *testing.T) {
	for _, kind := range []Kind{KindString, KindHash, KindSet, KindList} {
		for _, big := range []bool{false, true} {
			name := fmt.Sprintf("%s big=%v", kind, big)
			s, now := newTestStore()
			backup, _ := newTestStore()
			rep := &replica{t: t, dst: backup}
			s.SetJournal(rep)
			fill(t, s, b("{r}src"), kind, big, *now+5000)
			want := value(s, b("{r}src"))
			// COPY copies the TTL; without REPLACE an existing destination stays.
			must[SetResult](t)(s.Set(nil, b("{r}dst"), b("old"), SetOptions{At: *now + 9000}))
			if done, err := s.Copy(b("{r}src"), b("{r}dst"), false); done || err != nil {
				t.Fatalf("%s: COPY over an existing key without REPLACE: %v %v", name, done, err)
			}
			if done, err := s.Copy(b("{r}src"), b("{r}dst"), true); !done || err != nil {
				t.Fatalf("%s: COPY REPLACE: %v %v", name, done, err)
			}
			if got := value(s, b("{r}dst")); got != want || s.ExpireAt(b("{r}dst")) != *now+5000 {
				t.Fatalf("%s: copy %s, expires %d; want %s, %d", name, got, s.ExpireAt(b("{r}dst")), want, *now+5000)
			}
			// The copy is independent of its source.
			s.Del(b("{r}src"))
			if got := value(s, b("{r}dst")); got != want {
				t.Fatalf("%s: the copy changed with its source deleted: %s", name, got)
			}
			// RENAME keeps the TTL and replaces the destination, whatever its type.
			must[int64](t)(s.SAdd(b("{r}other"), members(3, "o%d")))
			if done, err := s.Rename(b("{r}dst"), b("{r}other"), true); done || err != nil {
				t.Fatalf("%s: RENAMENX onto an existing key: %v %v", name, done, err)
			}
			if done, err := s.Rename(b("{r}dst"), b("{r}other"), false); !done || err != nil {
				t.Fatalf("%s: RENAME: %v %v", name, done, err)
			}
			if s.Exists(b("{r}dst")) || value(s, b("{r}other")) != want || s.ExpireAt(b("{r}other")) != *now+5000 {
				t.Fatalf("%s: after RENAME source exists %v, destination %s expiring %d", name, s.Exists(b("{r}dst")), value(s, b("{r}other")), s.ExpireAt(b("{r}other")))
			}
			if _, err := s.Rename(b("{r}dst"), b("{r}x"), false); !errors.Is(err, ErrNoSuchKey) {
				t.Fatalf("%s: RENAME of a missing key: %v", name, err)
			}
			if done, _ := s.Rename(b("{r}other"), b("{r}other"), false); !done || value(s, b("{r}other")) != want {
				t.Fatalf("%s: RENAME onto itself", name)
			}
			if got, want := dump(rep.dst), dump(s); got != want {
				t.Fatalf("%s: backup differs\nprimary: %s\nbackup:  %s", name, want, got)
			}
		}
	}
}

func TestCopyPastMaxMemory(t *testing.T) {
	s, _ := newTestStore()
	fv := members(10000, "field%d")
	must[int64](t)(s.HSet(b("{o}h"), fv))
	must[int64](t)(s.Push(b("{o}l"), fv, false, false))
	must[SetResult](t)(s.Set(nil, b("{o}d"), b("keep"), SetOptions{}))
	s.arena.Trim()
	s.SetMaxMemory(s.UsedMemory())
	before := dump(s)
	for _, src := range []string{"{o}h", "{o}l"} {
		if _, err := s.Copy(b(src), b("{o}d"), true); !errors.Is(err, ErrOOM) {
			t.Errorf("COPY %s past maxmemory: %v, want ErrOOM", src, err)
		}
	}
	if dump(s) != before {
		t.Fatal("a refused COPY changed the store")
	}
	// RENAME, which frees as much as it takes, is not refused (as in Redis).
	if done, err := s.Rename(b("{o}h"), b("{o}h2"), false); !done || err != nil {
		t.Fatalf("RENAME at maxmemory: %v %v", done, err)
	}
}

func TestExpireAtAndRandomKey(t *testing.T) {
	s, now := newTestStore()
	if s.RandomKey() != nil {
		t.Fatal("RANDOMKEY of an empty store")
	}
	must[SetResult](t)(s.Set(nil, b("a"), b("1"), SetOptions{At: *now + 1500}))
	must[SetResult](t)(s.Set(nil, b("b"), b("1"), SetOptions{}))
	if s.ExpireAt(b("a")) != *now+1500 || s.ExpireAt(b("b")) != -1 || s.ExpireAt(b("c")) != -2 {
		t.Fatalf("ExpireAt: %d %d %d", s.ExpireAt(b("a")), s.ExpireAt(b("b")), s.ExpireAt(b("c")))
	}
	seen := map[string]bool{}
	for range 200 {
		seen[string(s.RandomKey())] = true
	}
	if len(seen) != 2 || !seen["a"] || !seen["b"] {
		t.Fatalf("RANDOMKEY picked %v", seen)
	}
	// An expired key not yet collected is never picked.
	*now += 2000
	for range 50 {
		if k := s.RandomKey(); string(k) != "b" {
			t.Fatalf("RANDOMKEY = %q with a expired", k)
		}
	}
	s.Del(b("b"))
	if k := s.RandomKey(); k != nil {
		t.Fatalf("RANDOMKEY = %q with only an expired key", k)
	}
}
