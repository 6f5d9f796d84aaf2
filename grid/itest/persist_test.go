package itest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/local"
)

// persistGrid is `insight-grid local --data-dir` on ports it keeps across its restarts,
// so the manager's etcd and every instance's journal are found again.
type persistGrid struct {
	dir, logPath string
	base         int
	partitions   int
	instances    int
	args         []string
	seed, api    string
	cmd          *exec.Cmd
	exited       chan struct{}
}

// newPersistGrid starts a grid of partitions (with a backup each when ha) keeping its data
// in a temporary directory; it stops when t ends, printing its log if t failed.
func newPersistGrid(t *testing.T, partitions int, ha bool, args ...string) *persistGrid {
	t.Helper()
	g := &persistGrid{dir: t.TempDir(), partitions: partitions, instances: partitions, args: args}
	if ha {
		g.instances *= 2
		g.args = append(g.args, "--ha")
	}
	base, err := ports.FreeBase("127.0.0.1", local.PortOffsets(g.instances), local.MaxBasePort)
	if err != nil {
		t.Fatal(err)
	}
	g.base, g.logPath = base, filepath.Join(g.dir, "grid.log")
	t.Cleanup(func() {
		g.stop(t, false)
		if t.Failed() {
			b, _ := os.ReadFile(g.logPath)
			t.Logf("grid log, last 8000 bytes:\n%s", b[max(0, len(b)-8000):])
		}
	})
	g.start(t)
	return g
}

// start runs local on the grid's directory and ports and waits until it is ready.
func (g *persistGrid) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(g.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"local", "--partitions", strconv.Itoa(g.partitions), "--base-port", strconv.Itoa(g.base),
		"--data-dir", filepath.Join(g.dir, "grid"), "--log-level", "info", "--timeout", "60s"}, g.args...)
	cmd := exec.Command(grid.bin, args...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting insight-grid local: %v", err)
	}
	g.cmd, g.exited = cmd, make(chan struct{})
	ready := make(chan bool, 1)
	go func(exited chan struct{}) {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "seed "):
				g.seed = strings.TrimPrefix(line, "seed ")
			case strings.HasPrefix(line, "manager "):
				g.api = strings.TrimPrefix(line, "manager ")
			case line == "ready":
				ready <- true
			}
		}
		ready <- false
		_ = cmd.Wait()
		close(exited)
	}(g.exited)
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("insight-grid local exited before it was ready")
		}
	case <-time.After(90 * time.Second):
		t.Fatal("insight-grid local was not ready in 90s")
	}
}

// stop ends the grid: SIGTERM (every instance stops gracefully, a primary hands over), or
// kill -9 of local, which takes every child with it (Pdeathsig), as a node losing all its
// pods at once. It returns once every port is free again.
func (g *persistGrid) stop(t *testing.T, kill bool) {
	t.Helper()
	if g.cmd == nil {
		return
	}
	var pids []int
	if kill {
		for k := range g.instances {
			if st, err := g.status(k); err == nil {
				pids = append(pids, st.PID)
			}
		}
		_ = g.cmd.Process.Kill()
	} else {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-g.exited:
	case <-time.After(30 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	g.cmd = nil
	testutil.Eventually(t, 30*time.Second, "the killed instances gone and the grid's ports free", func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		for _, off := range local.PortOffsets(g.instances) {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(g.base+off)))
			if err != nil {
				return false
			}
			ln.Close()
		}
		return true
	})
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// status is /v1/status of instance k (2P+I with HA, P without).
func (g *persistGrid) status(k int) (cluster.InstanceStatus, error) {
	var st cluster.InstanceStatus
	err := getInto(fmt.Sprintf("http://127.0.0.1:%d/v1/status", g.base+1010+k), &st)
	return st, err
}

func (g *persistGrid) client(t *testing.T) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{g.seed}, MaxRedirects: 16})
	t.Cleanup(func() { c.Close() })
	return c
}

const persistLib = "#!lua name=persistlib\nredis.register_function('pget', function(keys) return redis.call('GET', keys[1]) end)"

// writeEveryType writes keys of every type (some with a TTL, some changed, one deleted)
// and loads a function library on every primary; check verifies all of it.
func writeEveryType(ctx context.Context, t *testing.T, c *redis.ClusterClient, n int) (check func(*testing.T, *redis.ClusterClient)) {
	t.Helper()
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		ok(c.Set(ctx, fmt.Sprintf("str:%d", i), fmt.Sprintf("v%d", i), 0).Err())
		ok(c.Set(ctx, fmt.Sprintf("ttl:%d", i), "expiring", 10*time.Minute).Err())
		ok(c.IncrBy(ctx, fmt.Sprintf("ctr:%d", i), int64(i)).Err())
		ok(c.HSet(ctx, fmt.Sprintf("hash:%d", i), "a", "1", "b", "2", "c", "3").Err())
		ok(c.HDel(ctx, fmt.Sprintf("hash:%d", i), "b").Err())
		ok(c.Expire(ctx, fmt.Sprintf("hash:%d", i), 20*time.Minute).Err())
		ok(c.RPush(ctx, fmt.Sprintf("list:%d", i), "x", "y", "z").Err())
		ok(c.LPop(ctx, fmt.Sprintf("list:%d", i)).Err())
		ok(c.SAdd(ctx, fmt.Sprintf("set:%d", i), "m1", "m2", "m3").Err())
		ok(c.SRem(ctx, fmt.Sprintf("set:%d", i), "m2").Err())
		ok(c.ZAdd(ctx, fmt.Sprintf("zset:%d", i), redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: -2, Member: "b"}).Err())
		stream := fmt.Sprintf("stream:%d", i)
		ok(c.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: "1-1", Values: []string{"f", "v1"}}).Err())
		ok(c.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: "2-1", Values: []string{"f", "v2"}}).Err())
		ok(c.XGroupCreate(ctx, stream, "g", "0").Err())
		ok(c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "alice", Streams: []string{stream, ">"}, Count: 1}).Err())
		ok(c.Set(ctx, fmt.Sprintf("gone:%d", i), "x", 0).Err())
		ok(c.Del(ctx, fmt.Sprintf("gone:%d", i)).Err())
	}
	ok(c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.FunctionLoad(ctx, persistLib).Err() }))
	return func(t *testing.T, c *redis.ClusterClient) {
		t.Helper()
		ctx := ctxT(t)
		eq := func(what string, got, want any) {
			t.Helper()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s = %v, want %v", what, got, want)
			}
		}
		for i := range n {
			eq("GET str", c.Get(ctx, fmt.Sprintf("str:%d", i)).Val(), fmt.Sprintf("v%d", i))
			eq("GET ttl", c.Get(ctx, fmt.Sprintf("ttl:%d", i)).Val(), "expiring")
			if ttl := c.PTTL(ctx, fmt.Sprintf("ttl:%d", i)).Val(); ttl <= 0 || ttl > 10*time.Minute {
				t.Fatalf("PTTL ttl:%d = %s, want (0, 10m]", i, ttl)
			}
			if ttl := c.PTTL(ctx, fmt.Sprintf("hash:%d", i)).Val(); ttl <= 10*time.Minute || ttl > 20*time.Minute {
				t.Fatalf("PTTL hash:%d = %s, want (10m, 20m]", i, ttl)
			}
			if ttl := c.PTTL(ctx, fmt.Sprintf("str:%d", i)).Val(); ttl != -1 {
				t.Fatalf("PTTL str:%d = %s, want none", i, ttl)
			}
			eq("GET ctr", c.Get(ctx, fmt.Sprintf("ctr:%d", i)).Val(), strconv.Itoa(i))
			eq("HGETALL", c.HGetAll(ctx, fmt.Sprintf("hash:%d", i)).Val(), map[string]string{"a": "1", "c": "3"})
			eq("LRANGE", c.LRange(ctx, fmt.Sprintf("list:%d", i), 0, -1).Val(), []string{"y", "z"})
			members := c.SMembers(ctx, fmt.Sprintf("set:%d", i)).Val()
			slices.Sort(members)
			eq("SMEMBERS", members, []string{"m1", "m3"})
			eq("ZRANGE", c.ZRangeWithScores(ctx, fmt.Sprintf("zset:%d", i), 0, -1).Val(), []redis.Z{{Score: -2, Member: "b"}, {Score: 1.5, Member: "a"}})
			stream := fmt.Sprintf("stream:%d", i)
			eq("XRANGE", c.XRange(ctx, stream, "-", "+").Val(), []redis.XMessage{{ID: "1-1", Values: map[string]any{"f": "v1"}}, {ID: "2-1", Values: map[string]any{"f": "v2"}}})
			p := c.XPending(ctx, stream, "g").Val()
			if p == nil || p.Count != 1 || p.Consumers["alice"] != 1 {
				t.Fatalf("XPENDING %s g = %+v, want alice's one entry", stream, p)
			}
			eq("EXISTS gone", c.Exists(ctx, fmt.Sprintf("gone:%d", i)).Val(), 0)
			eq("FCALL pget", c.FCall(ctx, "pget", []string{fmt.Sprintf("str:%d", i)}).Val(), fmt.Sprintf("v%d", i))
		}
	}
}

// TestPersistLocalRestart: a grid without backups, stopped (gracefully, or every process
// killed -9 at once) and started again on its data directory, serves every key it
// acknowledged, with its value and TTL, and its function libraries.
func TestPersistLocalRestart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		kill  bool
		fsync string
	}{{"SIGTERM", false, "everysec"}, {"kill-9", true, "everysec"}, {"kill-9 always", true, "always"}} {
		t.Run(tc.name, func(t *testing.T) {
			g := newPersistGrid(t, 2, false, "--restart-delay", "0", "--appendfsync", tc.fsync)
			c := g.client(t)
			check := writeEveryType(ctxT(t), t, c, 100)
			check(t, c)
			g.stop(t, tc.kill)
			g.start(t)
			check(t, g.client(t))
			loaded := int64(0)
			for k := range g.instances {
				st, err := g.status(k)
				if err != nil || st.Persistence == nil {
					t.Fatalf("status of instance %d: %+v, %v: want its persistence", k, st, err)
				}
				if st.Persistence.Appendfsync != tc.fsync || st.Persistence.Cut != "" {
					t.Errorf("instance %d persistence %+v", k, *st.Persistence)
				}
				loaded += st.Persistence.LoadedKeys
			}
			if want := int64(100 * 8); loaded != want {
				t.Errorf("the instances loaded %d keys, want %d", loaded, want)
			}
		})
	}
}

// TestPersistHAKillPrimary: in an HA grid with appendfsync always, the primary is killed
// -9 under writes; it restarts from its disk, joins as the backup and is synced from the
// new primary; then that one is killed -9 too, and the first takes over again. Every
// write acknowledged meanwhile is there.
func TestPersistHAKillPrimary(t *testing.T) {
	g := newPersistGrid(t, 1, true, "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms", "--appendfsync", "always")
	hl := &haLocal{base: g.base, api: g.api}
	c := g.client(t)
	w := startHAWriters(c, 4)
	defer func() { w.stop(); w.done.Wait() }()
	for round := range 2 {
		testutil.Eventually(t, 30*time.Second, "writes going on", func() bool { return w.count() > 200*(2*round+1) })
		before := hl.killPrimary(t, 0)
		testutil.Eventually(t, 30*time.Second, "writes going on after the kill", func() bool { return w.count() > 200*(2*round+2) })
		after := hl.waitHealthy(t, 0, 60*time.Second)
		if after.Primary != before.Backup || after.Backup != before.Primary {
			t.Fatalf("round %d: partition %+v after killing %s, want the roles swapped", round, after, before.Primary)
		}
		st, err := hl.status(before.Primary)
		if err != nil || st.Persistence == nil || st.Persistence.LoadedKeys == 0 {
			t.Fatalf("round %d: the restarted %s: %+v, %v: want it to have loaded its keys from its disk", round, before.Primary, st.Persistence, err)
		}
		t.Logf("round %d: %s restarted with %d keys from its disk (%d records), synced as the backup", round, before.Primary, st.Persistence.LoadedKeys, st.Persistence.LoadedRecords)
	}
	w.stop()
	w.done.Wait()
	ctx := ctxT(t)
	w.mu.Lock()
	defer w.mu.Unlock()
	lost := 0
	for k, v := range w.acked {
		got, err := c.Get(ctx, k).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("GET %s: %v", k, err)
		}
		if got != v {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(w.acked))
	}
	t.Logf("%d acknowledged writes, all present; %d failed during the failovers", len(w.acked), w.errs)
}

// TestPersistHAWholeRestart: every process of an HA grid with appendfsync always is killed
// -9 at once under writes (local, its manager and both instances of each partition, as a
// node losing all its pods) and started again on the same directory: the manager's
// restart election makes each partition's newest disk its primary, the other instance
// syncs from it, and every write acknowledged before the kill is there.
func TestPersistHAWholeRestart(t *testing.T) {
	g := newPersistGrid(t, 2, true, "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms", "--appendfsync", "always")
	hl := &haLocal{base: g.base, api: g.api}
	for p := range 2 {
		hl.waitHealthy(t, p, 30*time.Second)
	}
	w := startHAWriters(g.client(t), 4)
	defer func() { w.stop(); w.done.Wait() }()
	testutil.Eventually(t, 30*time.Second, "writes going on", func() bool { return w.count() > 500 })
	g.stop(t, true)
	w.stop()
	w.done.Wait()
	g.start(t)
	hl = &haLocal{base: g.base, api: g.api}
	for p := range 2 {
		hl.waitHealthy(t, p, 60*time.Second)
	}
	lost := lostWrites(t, g.client(t), w)
	w.mu.Lock()
	defer w.mu.Unlock()
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost by the whole restart", lost, len(w.acked))
	}
	t.Logf("%d acknowledged writes before the kill, all present after the restart", len(w.acked))
}
