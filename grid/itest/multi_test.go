package itest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
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
	l := startPairLoad(t, "transactions", "{t}a", "{t}b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l.run(ctx, func(ctx context.Context) error {
		_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Incr(ctx, "{t}a")
			// Writes between the increments: without the transaction as one unit, the
			// backup could stop between them.
			for i := range 50 {
				p.Set(ctx, fmt.Sprintf("{t}pad%d", i), "x", 0)
			}
			p.Incr(ctx, "{t}b")
			return nil
		})
		return err
	})
	l.failoverAndCheck(t, cancel)
}
