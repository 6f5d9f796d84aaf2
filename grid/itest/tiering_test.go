package itest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// tieringInfo reads the tiering and memory fields of every primary's INFO, summed.
func tieringInfo(ctx context.Context, t *testing.T, c *redis.ClusterClient) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		s, err := n.Info(ctx, "tiering", "memory").Result()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(s, "\r\n") {
			k, v, ok := strings.Cut(line, ":")
			if i, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
				out[k] += i
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTieringServesADataSetThreeTimesTheRAMBudget writes three times a data instance's
// RAM budget (--maxmemory) of values; tiered storage keeps the cold ones on disk, and
// every key reads back, before and after a restart (the tier is emptied at start and
// filled again as the journal is replayed).
func TestTieringServesADataSetThreeTimesTheRAMBudget(t *testing.T) {
	const budget = 32 << 20
	g := newPersistGrid(t, 1, false, "--restart-delay", "0", "--appendfsync", "no", "--tiering-ram", strconv.Itoa(budget))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	val := func(i int) []byte { return fmt.Appendf(bytes.Repeat([]byte{'a' + byte(i%26)}, 1000), ":%08d", i) }
	n := 3 * budget / 1000
	c := g.client(t)
	for i := 0; i < n; i += 500 {
		p := c.Pipeline()
		for j := i; j < min(i+500, n); j++ {
			p.Set(ctx, fmt.Sprintf("k:%08d", j), val(j), 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatalf("writing keys %d..: %v (INFO %v)", i, err, tieringInfo(ctx, t, c))
		}
	}
	readAll := func(c *redis.ClusterClient) {
		t.Helper()
		for i := 0; i < n; i += 500 {
			p := c.Pipeline()
			cmds := make([]*redis.StringCmd, 0, 500)
			for j := i; j < min(i+500, n); j++ {
				cmds = append(cmds, p.Get(ctx, fmt.Sprintf("k:%08d", j)))
			}
			if _, err := p.Exec(ctx); err != nil {
				t.Fatalf("reading keys %d..: %v", i, err)
			}
			for k, cmd := range cmds {
				if got := cmd.Val(); got != string(val(i+k)) {
					t.Fatalf("k:%08d = %.40q..., want %.40q...", i+k, got, val(i+k))
				}
			}
		}
	}
	readAll(c)
	info := tieringInfo(ctx, t, c)
	t.Logf("after writing and reading %d keys of 1 KB: %v", n, info)
	if info["tiering_enabled"] != 1 || info["tiered_keys"] < int64(n)/2 || info["tiered_cold_reads"] == 0 {
		t.Fatalf("tiering did not keep most values on disk: %v", info)
	}
	// The memory in use (records, indexes, runtime) is what spilling keeps within the
	// budget; used_memory adds the free chunks between records, reported.
	if inUse := info["used_memory_dataset"] + info["used_memory_index"] + info["used_memory_runtime"]; inUse > budget+budget/20 {
		t.Errorf("memory in use %d past the RAM budget %d by more than 5%%", inUse, budget)
	}
	g.stop(t, false)
	g.start(t)
	c = g.client(t)
	readAll(c)
	if info := tieringInfo(ctx, t, c); info["tiered_keys"] < int64(n)/2 {
		t.Fatalf("after the restart the journal's replay did not spill: %v", info)
	}
}
