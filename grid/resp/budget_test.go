package resp

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func setCommand(key string, size int) string {
	return fmt.Sprintf("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, size, strings.Repeat("v", size))
}

func TestBudgetLendsLargeBuffersAndTakesThemBack(t *testing.T) {
	b := NewBudget(4<<20, nil, time.Second)
	in := setCommand("a", 1<<20) + setCommand("b", 10)
	r := NewReader(strings.NewReader(in), 0)
	r.SetBudget(b)
	args, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if len(args[2]) != 1<<20 {
		t.Fatalf("value of %d bytes, want %d", len(args[2]), 1<<20)
	}
	if got := b.Used(); got < 1<<20 || got > 2<<20 {
		t.Fatalf("the budget lends %d bytes while a 1 MiB value is read, want between 1 and 2 MiB", got)
	}
	if _, err := r.ReadCommand(); err != nil {
		t.Fatal(err)
	}
	if got := b.Used(); got != 0 {
		t.Fatalf("the budget still lends %d bytes after the large command was consumed, want 0", got)
	}
	r.Release()
}

func TestBudgetRefusesAReaderThatHoldsAndNeedsMore(t *testing.T) {
	b := NewBudget(1<<20, nil, time.Minute)
	// Another client holds most of the budget.
	if err := b.acquire(800<<10, 0); err != nil {
		t.Fatal(err)
	}
	r := NewReader(strings.NewReader(setCommand("k", 600<<10)), 0)
	r.SetBudget(b)
	start := time.Now()
	_, err := r.ReadCommand()
	var be *BudgetError
	if !errors.As(err, &be) {
		t.Fatalf("ReadCommand: %v, want a *BudgetError", err)
	}
	if !strings.Contains(be.Msg, "can lend them now") {
		t.Fatalf("error %q does not say what the budget lends", be.Msg)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("a reader holding part of the budget waited for more instead of giving up")
	}
	r.Release()
	if got := b.Used(); got != 800<<10 {
		t.Fatalf("budget lends %d after the refused reader released, want %d (the other client's)", got, 800<<10)
	}
}

func TestBudgetReaderHoldingNothingWaitsForMemoryGivenBack(t *testing.T) {
	b := NewBudget(1<<20, nil, time.Minute)
	if err := b.acquire(1<<20, 0); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	r := NewReader(pr, 0)
	r.SetBudget(b)
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadCommand()
		done <- err
	}()
	go func() { _, _ = io.WriteString(pw, setCommand("k", 100<<10)) }()
	select {
	case err := <-done:
		t.Fatalf("ReadCommand returned (%v) while the budget was spent; want it to wait", err)
	case <-time.After(200 * time.Millisecond):
	}
	b.release(1 << 20)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ReadCommand after the memory came back: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting reader did not go on after the memory came back")
	}
	r.Release()
}

func TestBudgetWaitEndsWithAnError(t *testing.T) {
	b := NewBudget(1<<20, nil, 50*time.Millisecond)
	if err := b.acquire(1<<20, 0); err != nil {
		t.Fatal(err)
	}
	err := b.acquire(200<<10, 0)
	var be *BudgetError
	if !errors.As(err, &be) || !strings.Contains(be.Msg, "within 50ms") {
		t.Fatalf("acquire on a spent budget: %v, want a *BudgetError naming the wait", err)
	}
}

func TestBudgetLendsTheRoomTheProcessHasLeft(t *testing.T) {
	free := int64(3 << 20)
	b := NewBudget(1<<20, func() int64 { return free }, 10*time.Millisecond)
	if got := b.Total(); got != 4<<20 {
		t.Fatalf("Total %d, want base plus free room %d", got, 4<<20)
	}
	if err := b.acquire(3<<20, 0); err != nil {
		t.Fatalf("acquire within base and free room: %v", err)
	}
	free = -5 << 20 // past maxmemory: only the base is lent
	if got := b.Total(); got != 1<<20 {
		t.Fatalf("Total past maxmemory %d, want the base %d", got, 1<<20)
	}
	if err := b.acquire(200<<10, 0); err == nil {
		t.Fatal("acquire succeeded with the budget over its total")
	}
}
