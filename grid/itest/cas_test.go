package itest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// Linearizability of WATCH-based compare-and-set across kill -9 of the primary: clients
// increment counters with WATCH k / GET k / MULTI / SET k v+1 / EXEC, others GET them,
// while the primary of `insight-grid local --partitions 1 --ha` is killed and its backup
// takes over. Every operation is recorded with its call and return times and the history
// is checked with porcupine against a compare-and-set register per key.

// casInput is a GET of Key, or a compare-and-set of Key from Expect (what the client's GET
// after WATCH read) to Expect+1.
type casInput struct {
	Key    string
	Read   bool
	Expect int64
}

// casOutput is what the client learnt: the value read, whether EXEC applied the SET (a
// null EXEC: the watched key changed), or nothing (Unknown: the EXEC was sent but its
// reply lost, so it may or may not have taken effect, at any time after its call).
type casOutput struct {
	Value   int64
	OK      bool
	Unknown bool
}

// casModel is a register per key holding an integer (a missing key reads 0). A GET reads
// the state; an applied CAS needs the state to be its Expect and makes it Expect+1; a CAS
// refused by EXEC needs a state other than Expect (the key changed after WATCH, so at some
// point of the operation it held another value); a CAS of unknown outcome is applied if
// the state is its Expect, and is nothing otherwise.
var casModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(casInput).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(int64), input.(casInput), output.(casOutput)
		switch {
		case in.Read:
			return out.Value == st, st
		case out.Unknown:
			if st == in.Expect {
				return true, in.Expect + 1
			}
			return true, st
		case out.OK:
			return st == in.Expect, in.Expect + 1
		default:
			return st != in.Expect, st
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(casInput), output.(casOutput)
		switch {
		case in.Read:
			return fmt.Sprintf("get(%s) -> %d", in.Key, out.Value)
		case out.Unknown:
			return fmt.Sprintf("cas(%s, %d -> %d) -> ?", in.Key, in.Expect, in.Expect+1)
		}
		return fmt.Sprintf("cas(%s, %d -> %d) -> %t", in.Key, in.Expect, in.Expect+1, out.OK)
	},
	DescribeState: func(state any) string { return strconv.FormatInt(state.(int64), 10) },
}

// casHistory is the operations the clients recorded, times in nanoseconds since start.
type casHistory struct {
	start   time.Time
	mu      sync.Mutex
	ops     []porcupine.Operation
	nextID  int
	applied atomic.Int64 // CAS operations EXEC applied
	unknown atomic.Int64
}

func (h *casHistory) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *casHistory) add(op porcupine.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// newID is a fresh client id: a client whose EXEC has an unknown outcome goes on under a
// new one, since that operation never returns (each id's operations are sequential).
func (h *casHistory) newID() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nextID++
	return h.nextID - 1
}

// casOnce runs one WATCH / GET / MULTI SET EXEC on key and records it.
func (h *casHistory) casOnce(ctx context.Context, c *redis.ClusterClient, id int, key string) (nextID int) {
	call := h.now()
	var expect int64
	sent := false
	err := c.Watch(ctx, func(tx *redis.Tx) error {
		v, err := tx.Get(ctx, key).Int64()
		if errors.Is(err, redis.Nil) {
			v, err = 0, nil
		}
		if err != nil {
			return err
		}
		expect, sent = v, true
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, v+1, 0)
			return nil
		})
		return err
	}, key)
	in := casInput{Key: key, Expect: expect}
	switch {
	case !sent:
		return id // WATCH or GET failed: nothing was written
	case err == nil:
		h.applied.Add(1)
		h.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: casOutput{OK: true}, Return: h.now()})
	case errors.Is(err, redis.TxFailedErr):
		h.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: casOutput{}, Return: h.now()})
	default:
		h.unknown.Add(1)
		h.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: casOutput{Unknown: true}, Return: math.MaxInt64})
		return h.newID()
	}
	return id
}

// readOnce GETs key and records it; a GET that failed tells nothing and is left out.
func (h *casHistory) readOnce(ctx context.Context, c *redis.ClusterClient, id int, key string) error {
	call := h.now()
	v, err := c.Get(ctx, key).Int64()
	if errors.Is(err, redis.Nil) {
		v, err = 0, nil
	}
	if err != nil {
		return err
	}
	h.add(porcupine.Operation{ClientId: id, Input: casInput{Key: key, Read: true}, Call: call, Output: casOutput{Value: v}, Return: h.now()})
	return nil
}

// TestWatchCASLinearizableUnderKill: WATCH-based compare-and-set on three keys by six
// clients, plain GETs by two more, across kill -9 of the primary of an HA partition, is
// linearizable: porcupine finds an order of the recorded operations that a
// compare-and-set register per key allows, EXECs of unknown outcome included.
func TestWatchCASLinearizableUnderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an HA local grid and kills its primary")
	}
	g := startHALocal(t, 1, 1)
	// One attempt per command: go-redis would resend a transaction's MULTI SET EXEC on a
	// new connection after a lost reply, without its WATCH.
	c := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:        []string{fmt.Sprintf("127.0.0.1:%d", g.base+10), fmt.Sprintf("127.0.0.1:%d", g.base+11)},
		MaxRedirects: 8, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	})
	t.Cleanup(func() { c.Close() })
	keys := []string{"cas:a", "cas:b", "cas:c"}
	const casClients, readers = 6, 2
	h := &casHistory{start: time.Now(), nextID: casClients + readers + 1}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	work, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for cl := range casClients + readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(cl), uint64(time.Now().UnixNano())))
			pace := time.NewTicker(2 * time.Millisecond)
			defer pace.Stop()
			id := cl
			for {
				select {
				case <-work.Done():
					return
				case <-pace.C:
				}
				key := keys[rng.IntN(len(keys))]
				if cl < casClients {
					id = h.casOnce(work, c, id, key)
				} else {
					_ = h.readOnce(work, c, id, key) // a failed GET is retried on the next tick
				}
			}
		})
	}
	testutil.Eventually(t, 20*time.Second, "compare-and-sets applied before the kill", func() bool { return h.applied.Load() >= 500 })
	before := h.applied.Load()
	killed := g.killPrimary(t, 0)
	start := time.Now()
	testutil.Eventually(t, 20*time.Second, "partition 0 taken over", func() bool {
		p, err := g.partition(0)
		return err == nil && p.Epoch > killed.Epoch && p.Primary != killed.Primary
	})
	took := time.Since(start)
	takenOver := h.applied.Load()
	testutil.Eventually(t, 15*time.Second, "compare-and-sets applied on the new primary", func() bool { return h.applied.Load() >= takenOver+500 })
	stop()
	wg.Wait()
	// The last word: each key read once more after every client stopped.
	for _, k := range keys {
		testutil.Eventually(t, 10*time.Second, "a final read of "+k, func() bool { return h.readOnce(ctx, c, casClients+readers, k) == nil })
	}

	h.mu.Lock()
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(casModel, ops, 30*time.Second)
	summary := fmt.Sprintf("%d operations: %d compare-and-sets applied (%d before kill -9 of %s, whose backup %s took over in %s), %d of unknown outcome; checked in %s",
		len(ops), h.applied.Load(), before, killed.Primary, killed.Backup, took.Round(time.Millisecond), h.unknown.Load(), time.Since(checkStart).Round(time.Millisecond))
	switch res {
	case porcupine.Ok:
		t.Logf("linearizable: %s", summary)
	case porcupine.Illegal:
		path := filepath.Join(os.TempDir(), fmt.Sprintf("insight-cas-%d.html", time.Now().UnixNano()))
		if err := porcupine.VisualizePath(casModel, info, path); err != nil {
			t.Logf("writing the visualization: %v", err)
		}
		t.Errorf("not linearizable: %s; porcupine's visualization: %s", summary, path)
	default:
		t.Errorf("porcupine could not decide in 30s: %s", summary)
	}
}
