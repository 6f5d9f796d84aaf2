package itest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// pairLoad drives a failover test whose writes increment two keys of one slot as one
// unit (a transaction, a script) against `insight-grid local --partitions 1 --ha`, while
// readers check that no read sees one increment without the other.
type pairLoad struct {
	g    *haLocal
	rdb  *redis.ClusterClient
	keys []string // the two counters
	what string   // what a write is, for messages: "transactions", "scripts"

	acked, inDoubt, reads atomic.Int64
	torn                  atomic.Pointer[string] // a read that saw the counters apart
	wg                    sync.WaitGroup
}

// startPairLoad starts the HA grid and a cluster client for a pairLoad.
func startPairLoad(t *testing.T, what string, keys ...string) *pairLoad {
	t.Helper()
	g := startHALocal(t, 1, 1)
	g.waitHealthy(t, 0, 30*time.Second)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{fmt.Sprintf("127.0.0.1:%d", g.base+10), fmt.Sprintf("127.0.0.1:%d", g.base+11)}, MaxRedirects: 8,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	return &pairLoad{g: g, rdb: rdb, keys: keys, what: what}
}

// run starts 8 writers calling write and 2 readers of the counters until ctx ends. A
// write that fails is in doubt: its reply may have been lost after it was applied, also
// one cut off by the end of the run.
func (l *pairLoad) run(ctx context.Context, write func(ctx context.Context) error) {
	for range 8 {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				wctx, c := context.WithTimeout(ctx, 3*time.Second)
				err := write(wctx)
				c()
				switch {
				case err == nil:
					l.acked.Add(1)
				case ctx.Err() != nil:
					// Cut off by the end of the run: sent, perhaps applied, its reply not read.
					l.inDoubt.Add(1)
				default:
					l.inDoubt.Add(1)
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	for range 2 {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				rctx, c := context.WithTimeout(ctx, 3*time.Second)
				v, err := l.rdb.MGet(rctx, l.keys...).Result()
				c()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l.reads.Add(1)
				if fmt.Sprint(v[0]) != fmt.Sprint(v[1]) {
					s := fmt.Sprintf("%s=%v %s=%v", l.keys[0], v[0], l.keys[1], v[1])
					l.torn.Store(&s)
				}
			}
		})
	}
}

// failoverAndCheck waits for 200 acknowledged writes, kills -9 the primary, waits for the
// backup to take over and for 200 writes on it, stops the load (stop cancels run's
// context), and checks: no read saw the counters apart, they are equal on the new
// primary, and they count every acknowledged write and at most the ones in doubt besides.
func (l *pairLoad) failoverAndCheck(t *testing.T, stop context.CancelFunc) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, l.what+" acknowledged", func() bool { return l.acked.Load() > 200 })
	before := l.acked.Load()
	killed := l.g.killPrimary(t, 0)
	start := time.Now()
	testutil.Eventually(t, 20*time.Second, "partition 0 taken over", func() bool {
		p, err := l.g.partition(0)
		return err == nil && p.Epoch > killed.Epoch && p.Primary != killed.Primary
	})
	took := time.Since(start)
	after := l.acked.Load()
	testutil.Eventually(t, 20*time.Second, l.what+" on the new primary", func() bool { return l.acked.Load() > after+200 })
	stop()
	l.wg.Wait()

	if s := l.torn.Load(); s != nil {
		t.Errorf("a read saw half of one of the %s: %s", l.what, *s)
	}
	check, c := context.WithTimeout(context.Background(), 10*time.Second)
	defer c()
	v, err := l.rdb.MGet(check, l.keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	a, b := fmt.Sprint(v[0]), fmt.Sprint(v[1])
	var n int64
	if _, err := fmt.Sscan(a, &n); err != nil {
		t.Fatalf("%s = %q: %v", l.keys[0], a, err)
	}
	if a != b {
		t.Errorf("on the new primary %s=%s %s=%s: half of one of the %s survived the failover", l.keys[0], a, l.keys[1], b, l.what)
	}
	acked, inDoubt := l.acked.Load(), l.inDoubt.Load()
	if n < acked || n > acked+inDoubt {
		t.Errorf("%s=%d after %d acknowledged %s and %d in doubt", l.keys[0], n, acked, l.what, inDoubt)
	}
	t.Logf("%d %s acknowledged (%d before kill -9 of the primary), %d in doubt, %d reads, all whole; %s took over in %s; %s=%s=%d",
		acked, l.what, before, inDoubt, l.reads.Load(), killed.Backup, took.Round(time.Millisecond), l.keys[0], l.keys[1], n)
}
