package itest

import (
	"context"
	"fmt"
	"strings"
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
	l := startPairLoad(t, "scripts", "{s}a", "{s}b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var bad atomic.Pointer[string]
	l.run(ctx, func(ctx context.Context) error {
		v, err := incrBoth.Run(ctx, l.rdb, l.keys).Int64Slice()
		if err == nil && (len(v) != 2 || v[0] != v[1]) {
			s := fmt.Sprintf("script returned %v", v)
			bad.Store(&s)
		}
		return err
	})
	l.failoverAndCheck(t, cancel)
	if s := bad.Load(); s != nil {
		t.Errorf("a script saw its keys apart: %s", *s)
	}
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
