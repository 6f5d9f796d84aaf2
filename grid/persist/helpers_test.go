package persist

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// numbered feeds a store's changes to a journal as a primary's redo ring does: the next
// sequence per change, appended in order under one lock.
type numbered struct {
	mu         sync.Mutex
	j          *Journal
	epoch, seq uint64
}

func (n *numbered) Record(_ int, op []byte) {
	n.mu.Lock()
	n.seq++
	n.j.Append(n.epoch, n.seq, op)
	n.mu.Unlock()
}

// head is the last sequence given out: what a write's reply waits for.
func (n *numbered) head() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seq
}

// opened is a journal open on a fresh store, numbering the store's changes after what
// it recovered.
type opened struct {
	j   *Journal
	rec Recovery
	s   *store.Store
	num *numbered
}

func openJournal(t *testing.T, cfg Config) opened {
	t.Helper()
	s := store.New(1 << 29)
	cfg.Store = s
	j, rec, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	num := &numbered{j: j, epoch: max(rec.Epoch, 1), seq: rec.Seq}
	s.SetJournal(num)
	return opened{j: j, rec: rec, s: s, num: num}
}

// run runs the journal's writer until the returned stop is called (and waited for), or
// the test ends.
func run(t *testing.T, j *Journal) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("the journal's writer did not stop in 30s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// contents is the store's every key, as the operations that recreate it, sorted: two
// stores hold the same data when their contents are equal.
func contents(s *store.Store) []string {
	var out []string
	for slot := range slots.Count {
		s.DumpSlot(slot, func(op []byte) { out = append(out, string(op)) })
	}
	slices.Sort(out)
	return out
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// fill writes keys of every type, with and without expiry, changes and deletes some,
// and loads function libraries.
func fill(t *testing.T, s *store.Store, n int) {
	t.Helper()
	future := time.Now().Add(time.Hour).UnixMilli()
	for i := range n {
		k := func(kind string) []byte { return fmt.Appendf(nil, "%s:%d", kind, i) }
		must[store.SetResult](t)(s.Set(nil, k("str"), fmt.Appendf(nil, "v%d", i), store.SetOptions{}))
		must[store.SetResult](t)(s.Set(nil, k("ttl"), []byte("expiring"), store.SetOptions{At: future + int64(i)}))
		must[int64](t)(s.IncrBy(k("ctr"), int64(i)))
		must[int64](t)(s.HSet(k("hash"), bs("f1", "a", "f2", "b", "f3", "c")))
		must[int64](t)(s.HDel(k("hash"), bs("f2")))
		must[int64](t)(s.SAdd(k("set"), bs("x", "y", "z")))
		must[int64](t)(s.SRem(k("set"), bs("y")))
		must[int64](t)(s.Push(k("list"), bs("1", "2", "3", "4"), false, false))
		must[[][]byte](t)(func() ([][]byte, error) { out, _, err := s.Pop(k("list"), true, 1); return out, err }())
		must[store.ZAddResult](t)(s.ZAdd(k("zset"), store.ZAddFlags{}, bs("a", "b"), []float64{1.5, -2}))
		must[store.StreamID](t)(func() (store.StreamID, error) {
			id, _, err := s.XAdd(k("stream"), store.XAddArgs{Auto: true}, bs("f", "v"))
			return id, err
		}())
		if i%3 == 0 {
			must[bool](t)(s.Expire(k("str"), future, store.ExpireAlways))
		}
		if i%5 == 0 {
			s.Del(k("ctr"))
		}
	}
	s.SetFunctions([]byte("#!lua name=lib\nredis.register_function('f', function() return 1 end)"))
}
