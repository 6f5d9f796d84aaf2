package chaos

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/local"
)

// The agreement asked of used_memory and the process's RSS over a workload: their growths
// differ by at most accountingShare of used_memory's growth plus accountingSlack (what
// nothing counts: the binary's pages touched, thread stacks, the allocator's rounding to
// OS pages). Measured on the 2-core machine the tests run on, 100k keys: used_memory grew
// by 173-174 MB, RSS by 3.3-3.6 MB (about 2%) less; the margin allows over six times that.
const (
	accountingShare = 0.05
	accountingSlack = 16 << 20
)

// startSingle starts `insight-grid local --partitions 1` (no backup) on free loopback ports
// and returns its data instance's RESP address; it is stopped when t ends.
func startSingle(t *testing.T) string {
	t.Helper()
	needBinary(t)
	base, err := ports.FreeBase("127.0.0.1", local.PortOffsets(1), local.MaxBasePort)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "local", "--partitions", "1", "--base-port", strconv.Itoa(base), "--log-level", "warn", "--timeout", "60s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var log strings.Builder
	cmd.Stderr = &log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", strings.Join(cmd.Args, " "), err)
	}
	ready, exited := make(chan bool, 1), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		ready <- false
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { stopLocal(t, cmd, exited) })
	select {
	case ok := <-ready:
		if !ok {
			<-exited
			t.Fatalf("insight-grid local exited before it was ready:\n%s", log.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("insight-grid local was not ready in 60s")
	}
	return fmt.Sprintf("127.0.0.1:%d", base+10)
}

// memInfo is INFO memory's fields as numbers.
func memInfo(ctx context.Context, t *testing.T, c *redis.Client) map[string]int64 {
	t.Helper()
	s, err := c.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatalf("INFO memory: %v", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(s, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			out[k] = n
		}
	}
	for _, k := range []string{"used_memory", "used_memory_rss", "used_memory_data", "used_memory_dataset"} {
		if _, ok := out[k]; !ok {
			t.Fatalf("INFO memory has no %s:\n%s", k, s)
		}
	}
	return out
}

// accountingWorkload writes n keys from rng through pipelines: strings of 16 B to 2 KiB,
// one in 200 of 64 to 100 KiB, small hashes and hashes of 200 fields; then overwrites a
// fifth of them with other sizes and types and deletes another fifth.
func accountingWorkload(ctx context.Context, c *redis.Client, rng *rand.Rand, n int) error {
	val := func(size int) string {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	write := func(p redis.Pipeliner, k string) {
		switch x := rng.IntN(200); {
		case x == 0:
			p.Set(ctx, k, val(64<<10+rng.IntN(36<<10)), 0)
		case x < 20:
			fv := make([]any, 0, 10)
			for f := range 5 {
				fv = append(fv, fmt.Sprint("f", f), val(1+rng.IntN(60)))
			}
			p.HSet(ctx, k, fv...)
		case x < 22:
			fv := make([]any, 0, 400)
			for f := range 200 {
				fv = append(fv, fmt.Sprint("field:", f), val(1+rng.IntN(100)))
			}
			p.HSet(ctx, k, fv...)
		default:
			p.Set(ctx, k, val(16+rng.IntN(2<<10)), 0)
		}
	}
	key := func(i int) string { return fmt.Sprintf("acct:%d", i) }
	batch := func(from, to int, each func(p redis.Pipeliner, i int)) error {
		for i := from; i < to; i += 500 {
			p := c.Pipeline()
			for j := i; j < min(i+500, to); j++ {
				each(p, j)
			}
			if _, err := p.Exec(ctx); err != nil {
				return fmt.Errorf("keys %d..%d: %w", i, min(i+500, to)-1, err)
			}
		}
		return nil
	}
	if err := batch(0, n, func(p redis.Pipeliner, i int) { write(p, key(i)) }); err != nil {
		return err
	}
	if err := batch(0, n/5, func(p redis.Pipeliner, _ int) { k := key(rng.IntN(n)); p.Del(ctx, k); write(p, k) }); err != nil {
		return err
	}
	return batch(0, n/5, func(p redis.Pipeliner, _ int) { p.Del(ctx, key(rng.IntN(n))) })
}

// TestUsedMemoryTracksRSS runs a randomized workload against one data instance and
// compares how much its RSS grew with how much its used_memory grew; after FLUSHALL the
// data's memory falls back to where it started.
func TestUsedMemoryTracksRSS(t *testing.T) {
	addr := startSingle(t)
	ctx := testCtx(t, 3*time.Minute) // 100k keys under -race on a loaded 2-core machine
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 10 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := memInfo(ctx, t, c)
	const keys = 100_000
	if err := accountingWorkload(ctx, c, rand.New(rand.NewPCG(13, 17)), keys); err != nil {
		t.Fatal(err)
	}
	// used_memory's runtime part is sampled every 20 ms: read once it has seen the end.
	time.Sleep(100 * time.Millisecond)
	after := memInfo(ctx, t, c)
	dUsed := after["used_memory"] - before["used_memory"]
	dRSS := after["used_memory_rss"] - before["used_memory_rss"]
	margin := int64(accountingShare*float64(dUsed)) + accountingSlack
	t.Logf("%d keys: used_memory %d -> %d (+%d), rss %d -> %d (+%d), data %d, dataset %d; |ΔRSS-Δused| = %d (%.1f%% of Δused), margin %d",
		keys, before["used_memory"], after["used_memory"], dUsed, before["used_memory_rss"], after["used_memory_rss"], dRSS,
		after["used_memory_data"], after["used_memory_dataset"], abs(dRSS-dUsed), 100*float64(abs(dRSS-dUsed))/float64(dUsed), margin)
	if dUsed < 32<<20 {
		t.Fatalf("used_memory grew by %d bytes only: the workload did not store its data", dUsed)
	}
	if abs(dRSS-dUsed) > margin {
		t.Errorf("RSS grew by %d bytes, used_memory by %d: they differ by more than %.0f%% + %d MiB",
			dRSS, dUsed, 100*accountingShare, accountingSlack>>20)
	}
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := memInfo(ctx, t, c)
	t.Logf("after FLUSHALL: used_memory_data %d (was %d before the workload), used_memory %d, rss %d",
		flushed["used_memory_data"], before["used_memory_data"], flushed["used_memory"], flushed["used_memory_rss"])
	if d := flushed["used_memory_data"] - before["used_memory_data"]; d > 1<<20 {
		t.Errorf("used_memory_data is %d bytes above its start after FLUSHALL", d)
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
