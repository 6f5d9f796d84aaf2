package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
)

// A backup of a release of 3 partitions, taken with insightctl as an operator would (the
// manager reached by port-forward, the operator token read from the release's Secret), is
// refused into the release it came from (it holds keys) and restored into a new ha
// release of 2 partitions: every key, value and expiry time is there.
func TestBackup(t *testing.T) {
	src, dst := cluster.Namespace(t, "backup-src"), cluster.Namespace(t, "backup-dst")
	insightctlOK(t, "install", "demo", "-n", src, "--profile", "dev", "--partitions", "3", "--timeout", "4m")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	from := gridClient(t, src)
	keys := &keyLog{}
	keys.write(ctx, t, from, "bk", 3000)
	for i := range 100 {
		if err := from.Set(ctx, fmt.Sprintf("bk-ttl:%d", i), "x", time.Duration(10+i)*time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if err := from.HSet(ctx, fmt.Sprintf("bk-hash:%d", i), "a", i, "b", "y").Err(); err != nil {
			t.Fatal(err)
		}
	}

	dir := filepath.Join(t.TempDir(), "bk")
	res := insightctlOK(t, "backup", "demo", "-n", src, "--to", dir, "-o", "json")
	var m api.Manifest
	if err := json.Unmarshal([]byte(res.Stdout), &m); err != nil {
		t.Fatalf("backup -o json: %v\n%s", err, res.Stdout)
	}
	var total uint64
	for _, p := range m.Partitions {
		total += p.Keys
	}
	if len(m.Partitions) != 3 || total != 3200 {
		t.Fatalf("manifest: %d partitions, %d keys; want 3 and 3200\n%s", len(m.Partitions), total, res.Stdout)
	}
	t.Logf("backup:\n%s", res.Stderr)

	if res := insightctl(t, "restore", "demo", "-n", src, "--from", dir); res.ExitCode != 2 || !strings.Contains(res.Stderr, "holds 3200 keys") {
		t.Errorf("restore into the source: exit %d, want 2 naming its 3200 keys:\n%s", res.ExitCode, res.Stderr)
	}

	insightctlOK(t, "install", "demo", "-n", dst, "--profile", "ha", "--partitions", "2", "--timeout", "4m")
	res = insightctlOK(t, "restore", "demo", "-n", dst, "--from", "file://"+dir)
	t.Logf("restore:\n%s%s", res.Stdout, res.Stderr)
	to := gridClient(t, dst)
	keys.check(ctx, t, to)
	for i := range 100 {
		k := fmt.Sprintf("bk-ttl:%d", i)
		want, got := from.PExpireTime(ctx, k).Val(), to.PExpireTime(ctx, k).Val()
		if want <= 0 || want != got {
			t.Fatalf("PEXPIRETIME %s: %s restored, %s in the source", k, got, want)
		}
		h := fmt.Sprintf("bk-hash:%d", i)
		if got := to.HGetAll(ctx, h).Val(); got["a"] != fmt.Sprint(i) || got["b"] != "y" || len(got) != 2 {
			t.Fatalf("HGETALL %s: %v", h, got)
		}
	}
	var restored atomic.Int64
	err := to.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := c.DBSize(ctx).Result()
		restored.Add(n)
		return err
	})
	if err != nil || restored.Load() != 3200 {
		t.Fatalf("the restored release holds %d keys (%v), want 3200", restored.Load(), err)
	}
}
