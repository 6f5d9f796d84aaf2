package store

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestKeyEventsSeeExpiryAndEviction checks that the function SetKeyEvents installs is
// told of the keys the expiry cycle and eviction remove, with their slots and why, and
// of no key a command deletes.
func TestKeyEventsSeeExpiryAndEviction(t *testing.T) {
	s, now := newTestStore()
	var dropped []string
	var why []KeyEvent
	s.SetKeyEvents(func(ev KeyEvent, slot int, key []byte) {
		if slot < 0 || slot >= len(s.slots) {
			t.Errorf("slot %d for %q", slot, key)
		}
		dropped = append(dropped, string(key))
		why = append(why, ev)
	})
	val := make([]byte, 100)
	for _, k := range []string{"gone", "expiring", "kept"} {
		must[SetResult](t)(s.Set(nil, b(k), val, SetOptions{}))
	}
	must[bool](t)(s.Expire(b("expiring"), *now+10, ExpireAlways))
	if !s.Del(b("gone")) {
		t.Fatal("DEL gone: not found")
	}
	*now += 20
	s.expireCycle(0, time.Now().Add(time.Minute))
	if !slices.Equal(dropped, []string{"expiring"}) || !slices.Equal(why, []KeyEvent{KeyExpired}) {
		t.Fatalf("after DEL and the expiry cycle: %q %v, want [expiring] [KeyExpired]", dropped, why)
	}

	dropped, why = nil, nil
	s.SetPolicy(PolicyAllKeysRandom)
	s.SetMaxMemory(s.UsedMemory())
	for i := 0; s.EvictedKeys() == 0; i++ {
		if i == 10_000 {
			t.Fatal("nothing evicted")
		}
		must[SetResult](t)(s.Set(nil, fmt.Appendf(nil, "n:%d", i), val, SetOptions{}))
	}
	if int64(len(dropped)) != s.EvictedKeys() || slices.ContainsFunc(why, func(ev KeyEvent) bool { return ev != KeyEvicted }) {
		t.Fatalf("%d evicted, the hook saw %q %v", s.EvictedKeys(), dropped, why)
	}
	s.SetKeyEvents(nil)
	s.SetMaxMemory(0)
	must[SetResult](t)(s.Set(nil, b("late"), val, SetOptions{}))
	must[bool](t)(s.Expire(b("late"), *now+10, ExpireAlways))
	*now += 20
	before := len(dropped)
	s.expireCycle(0, time.Now().Add(time.Minute))
	if len(dropped) != before {
		t.Fatalf("a removed hook was called: %q", dropped[before:])
	}
}
