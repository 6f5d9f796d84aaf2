package ipam

import (
	"fmt"
	"testing"
)

func TestPool(t *testing.T) {
	p, err := NewPool(2)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op, key, want string
		wantErr       bool
	}{
		{"alloc", "a", "127.1.2.2", false},
		{"alloc", "b", "127.1.2.3", false},
		{"alloc", "a", "127.1.2.2", false}, // idempotent
		{"release", "a", "", false},
		{"alloc", "c", "127.1.2.4", false}, // round-robin: .2 is not reused at once
		{"release", "nobody", "", false},
	}
	for i, s := range steps {
		if s.op == "release" {
			p.Release(s.key)
			continue
		}
		got, err := p.Allocate(s.key)
		if (err != nil) != s.wantErr || got != s.want {
			t.Fatalf("step %d: %s(%s) = %q, %v; want %q", i, s.op, s.key, got, err, s.want)
		}
	}
	// Fill the pool: 253 addresses in all (b and c hold two), then one more fails, then a release makes room.
	for i := 0; i < 251; i++ {
		if _, err := p.Allocate(fmt.Sprint("fill", i)); err != nil {
			t.Fatalf("fill %d: %v", i, err)
		}
	}
	if _, err := p.Allocate("overflow"); err == nil {
		t.Fatal("want error when the pool is full")
	}
	p.Release("b")
	if got, err := p.Allocate("overflow"); err != nil || got != "127.1.2.3" {
		t.Fatalf("after release: %q %v", got, err)
	}
	if NodeIP(1) != "127.1.1.1" {
		t.Fatal(NodeIP(1))
	}
	for _, bad := range []int{-1, 256} {
		if _, err := NewPool(bad); err == nil {
			t.Fatalf("NewPool(%d) want error", bad)
		}
	}
}
