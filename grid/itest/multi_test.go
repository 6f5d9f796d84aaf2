package itest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// TestClusterClientTransactions: go-redis's cluster client runs TxPipelined on the
// partition of each hash tag, and its WATCH-based optimistic locking from several
// goroutines on keys of every partition ends with the exact count.
func TestClusterClientTransactions(t *testing.T) {
	ctx := ctxT(t)
	c := clusterClient(t, &redis.ClusterOptions{PoolSize: 8})
	for i := range 6 {
		tag := fmt.Sprintf("{tx%d}", i)
		cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, tag+"a", "1", 0)
			p.IncrBy(ctx, tag+"a", 41)
			p.LPush(ctx, tag+"l", "x", "y")
			return nil
		})
		if err != nil || len(cmds) != 3 || cmds[1].(*redis.IntCmd).Val() != 42 || cmds[2].(*redis.IntCmd).Val() != 2 {
			t.Fatalf("TxPipelined on %s: %v, %v", tag, cmds, err)
		}
	}
	const workers, each = 6, 25
	var conflicts atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		key := fmt.Sprintf("{tx%d}counter", w%3)
		wg.Go(func() {
			for range each {
				for {
					err := c.Watch(ctx, func(tx *redis.Tx) error {
						n, err := tx.Get(ctx, key).Int()
						if err != nil && !errors.Is(err, redis.Nil) {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, key, n+1, 0)
							return nil
						})
						return err
					}, key)
					if errors.Is(err, redis.TxFailedErr) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	for i := range 3 {
		key := fmt.Sprintf("{tx%d}counter", i)
		if n, err := c.Get(ctx, key).Int(); err != nil || n != 2*each {
			t.Errorf("%s after %d optimistic increments: %d, %v", key, 2*each, n, err)
		}
	}
	t.Logf("%d optimistic increments, %d retried after a conflict", workers*each, conflicts.Load())
}

// TestTransactionsSurviveFailover: clients run MULTI INCR {t}a (50 SETs) INCR {t}b EXEC in
// a loop while others read both keys, and the primary of `insight-grid local --partitions 1
// --ha` is killed with -9 (the local grid restarts it, empty, as its backup). No
// read, before or after the backup takes over, sees one increment without the other; on
// the new primary a == b, every acknowledged EXEC is there, and at most the ones whose
// outcome the clients could not learn were applied besides.
func TestTransactionsSurviveFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an HA local grid and kills its primary")
	}
	g := startHALocal(t, 1, 1)
	g.waitHealthy(t, 0, 30*time.Second)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{fmt.Sprintf("127.0.0.1:%d", g.base+10), fmt.Sprintf("127.0.0.1:%d", g.base+11)}, MaxRedirects: 8,
	})
	defer rdb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var acked, inDoubt, reads atomic.Int64
	var torn atomic.Pointer[string]
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				wctx, c := context.WithTimeout(ctx, 3*time.Second)
				_, err := rdb.TxPipelined(wctx, func(p redis.Pipeliner) error {
					p.Incr(wctx, "{t}a")
					// Writes between the increments: without the transaction as one
					// unit, the backup could stop between them.
					for i := range 50 {
						p.Set(wctx, fmt.Sprintf("{t}pad%d", i), "x", 0)
					}
					p.Incr(wctx, "{t}b")
					return nil
				})
				c()
				switch {
				case err == nil:
					acked.Add(1)
				case ctx.Err() == nil:
					inDoubt.Add(1) // maybe applied: its reply was lost or refused
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				rctx, c := context.WithTimeout(ctx, 3*time.Second)
				v, err := rdb.MGet(rctx, "{t}a", "{t}b").Result()
				c()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				reads.Add(1)
				if fmt.Sprint(v[0]) != fmt.Sprint(v[1]) {
					s := fmt.Sprintf("{t}a=%v {t}b=%v", v[0], v[1])
					torn.Store(&s)
				}
			}
		})
	}
	testutil.Eventually(t, 20*time.Second, "transactions acknowledged", func() bool { return acked.Load() > 200 })
	before := acked.Load()
	killed := g.killPrimary(t, 0)
	start := time.Now()
	testutil.Eventually(t, 20*time.Second, "partition 0 taken over", func() bool {
		p, err := g.partition(0)
		return err == nil && p.Epoch > killed.Epoch && p.Primary != killed.Primary
	})
	took := time.Since(start)
	after := acked.Load()
	testutil.Eventually(t, 20*time.Second, "transactions on the new primary", func() bool { return acked.Load() > after+200 })
	cancel()
	wg.Wait()

	if s := torn.Load(); s != nil {
		t.Errorf("a read saw half a transaction: %s", *s)
	}
	check, c := context.WithTimeout(context.Background(), 10*time.Second)
	defer c()
	v, err := rdb.MGet(check, "{t}a", "{t}b").Result()
	if err != nil {
		t.Fatal(err)
	}
	a, b := fmt.Sprint(v[0]), fmt.Sprint(v[1])
	var n int64
	if _, err := fmt.Sscan(a, &n); err != nil {
		t.Fatalf("{t}a = %q: %v", a, err)
	}
	if a != b {
		t.Errorf("on the new primary {t}a=%s {t}b=%s: half a transaction survived the failover", a, b)
	}
	if n < acked.Load() || n > acked.Load()+inDoubt.Load() {
		t.Errorf("{t}a=%d after %d acknowledged transactions and %d in doubt", n, acked.Load(), inDoubt.Load())
	}
	t.Logf("%d transactions acknowledged (%d before kill -9 of the primary), %d in doubt, %d reads, all whole; %s took over in %s; {t}a={t}b=%d",
		acked.Load(), before, inDoubt.Load(), reads.Load(), killed.Backup, took.Round(time.Millisecond), n)
}
