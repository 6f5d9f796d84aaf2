package itest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// incrBoth increments KEYS[1], writes 50 keys, then increments KEYS[2]: a backup that
// applied a script's changes one by one could stop between the two increments.
var incrBoth = redis.NewScript(`
local a = redis.call('incr', KEYS[1])
for i = 1, 50 do redis.call('set', KEYS[1] .. 'pad' .. i, 'x') end
local b = redis.call('incr', KEYS[2])
return {a, b}`)

// TestScriptsSurviveFailover: clients run a writing script with go-redis's Script
// (EVALSHA, EVAL after NOSCRIPT, as on the new primary whose script cache is empty) while
// others read both keys, and the primary of `insight-grid local --partitions 1 --ha` is
// killed with -9. No read sees one increment without the other; on the new primary a == b,
// every acknowledged script's writes are there, and at most the ones whose outcome the
// clients could not learn were applied besides: a backup applies a script's effects whole.
func TestScriptsSurviveFailover(t *testing.T) {
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
	keys := []string{"{s}a", "{s}b"}

	var acked, inDoubt, reads atomic.Int64
	var torn, bad atomic.Pointer[string]
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				wctx, c := context.WithTimeout(ctx, 3*time.Second)
				v, err := incrBoth.Run(wctx, rdb, keys).Int64Slice()
				c()
				if err != nil {
					inDoubt.Add(1) // maybe applied: its reply was lost, refused or cut off at the end
					time.Sleep(10 * time.Millisecond)
					continue
				}
				acked.Add(1)
				if len(v) != 2 || v[0] != v[1] {
					s := fmt.Sprintf("script returned %v", v)
					bad.Store(&s)
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				rctx, c := context.WithTimeout(ctx, 3*time.Second)
				v, err := rdb.MGet(rctx, keys...).Result()
				c()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				reads.Add(1)
				if fmt.Sprint(v[0]) != fmt.Sprint(v[1]) {
					s := fmt.Sprintf("{s}a=%v {s}b=%v", v[0], v[1])
					torn.Store(&s)
				}
			}
		})
	}
	testutil.Eventually(t, 20*time.Second, "scripts acknowledged", func() bool { return acked.Load() > 200 })
	before := acked.Load()
	killed := g.killPrimary(t, 0)
	start := time.Now()
	testutil.Eventually(t, 20*time.Second, "partition 0 taken over", func() bool {
		p, err := g.partition(0)
		return err == nil && p.Epoch > killed.Epoch && p.Primary != killed.Primary
	})
	took := time.Since(start)
	after := acked.Load()
	testutil.Eventually(t, 20*time.Second, "scripts on the new primary", func() bool { return acked.Load() > after+200 })
	cancel()
	wg.Wait()

	if s := torn.Load(); s != nil {
		t.Errorf("a read saw half a script: %s", *s)
	}
	if s := bad.Load(); s != nil {
		t.Errorf("a script saw its keys apart: %s", *s)
	}
	check, c := context.WithTimeout(context.Background(), 10*time.Second)
	defer c()
	v, err := rdb.MGet(check, keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	a, b := fmt.Sprint(v[0]), fmt.Sprint(v[1])
	var n int64
	if _, err := fmt.Sscan(a, &n); err != nil {
		t.Fatalf("{s}a = %q: %v", a, err)
	}
	if a != b {
		t.Errorf("on the new primary {s}a=%s {s}b=%s: half a script survived the failover", a, b)
	}
	if n < acked.Load() || n > acked.Load()+inDoubt.Load() {
		t.Errorf("{s}a=%d after %d acknowledged scripts and %d in doubt", n, acked.Load(), inDoubt.Load())
	}
	t.Logf("%d scripts acknowledged (%d before kill -9 of the primary), %d in doubt, %d reads, all whole; %s took over in %s; {s}a={s}b=%d",
		acked.Load(), before, inDoubt.Load(), reads.Load(), killed.Backup, took.Round(time.Millisecond), n)
}

// TestFunctionsSurviveFailover: a library loaded on the primary of `insight-grid local
// --partitions 1 --ha` is on its backup: after kill -9 of the primary, FCALL runs on the
// new primary without the library being loaded again, and so does FCALL_RO.
func TestFunctionsSurviveFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an HA local grid and kills its primary")
	}
	g := startHALocal(t, 1, 1)
	g.waitHealthy(t, 0, 30*time.Second)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{fmt.Sprintf("127.0.0.1:%d", g.base+10), fmt.Sprintf("127.0.0.1:%d", g.base+11)}, MaxRedirects: 8,
	})
	defer rdb.Close()
	ctx := ctxT(t)
	lib := "#!lua name=counter\n" +
		"redis.register_function('bump', function(keys) return redis.call('incr', keys[1]) end)\n" +
		"redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}"
	if name, err := rdb.FunctionLoad(ctx, lib).Result(); err != nil || name != "counter" {
		t.Fatalf("FUNCTION LOAD: %q, %v", name, err)
	}
	for i := 1; i <= 10; i++ {
		if n, err := rdb.FCall(ctx, "bump", []string{"{f}n"}).Int(); err != nil || n != i {
			t.Fatalf("FCALL bump %d: %d, %v", i, n, err)
		}
	}
	killed := g.killPrimary(t, 0)
	testutil.Eventually(t, 20*time.Second, "partition 0 taken over", func() bool {
		p, err := g.partition(0)
		return err == nil && p.Epoch > killed.Epoch && p.Primary != killed.Primary
	})
	var n int
	testutil.Eventually(t, 20*time.Second, "FCALL on the new primary", func() bool {
		var err error
		n, err = rdb.FCall(ctx, "bump", []string{"{f}n"}).Int()
		if err != nil && strings.Contains(err.Error(), "Function not found") {
			t.Fatalf("the new primary lost the library: %v", err)
		}
		return err == nil
	})
	if n != 11 {
		t.Errorf("FCALL bump on the new primary: %d, want 11", n)
	}
	if v, err := rdb.FCallRO(ctx, "peek", []string{"{f}n"}).Text(); err != nil || v != "11" {
		t.Errorf("FCALL_RO peek: %q, %v", v, err)
	}
}
