package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/grid/api"
)

// Online re-partitioning of a grid, without and with pu.ha, with insightctl: 2 -> 3 partitions while a client
// writes, then back to 2; every acknowledged key stays readable, the map covers every slot,
// and the StatefulSet of the partition that left is gone. A raw helm upgrade to fewer
// partitions is refused and deletes nothing; one to more partitions is completed by
// insightctl scale.
func TestRepartition(t *testing.T) {
	for _, tc := range []struct {
		name, profile string
		instances     int // per partition
	}{{"non-ha", "dev", 1}, {"ha", "ha", 2}} {
		t.Run(tc.name, func(t *testing.T) { repartition(t, tc.profile, tc.instances) })
	}
}

func repartition(t *testing.T, profile string, instances int) {
	ns := cluster.Namespace(t, "repartition-"+profile)
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", profile, "--partitions", "2", "--timeout", "4m")
	manager := managerURL(t, ns)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rdb := gridClient(t, ns)
	keys := &keyLog{}
	keys.write(ctx, t, rdb, "before", 2000)

	// Out, with a writer running: the scale must not stop the grid serving.
	stop := keys.writeInBackground(ctx, rdb, "during-out")
	start := time.Now()
	res := insightctlOK(t, "scale", "demo", "-n", ns, "--partitions", "3", "--timeout", "5m", "--manager-url", manager)
	out := time.Since(start)
	written, failed := stop()
	t.Logf("scale --partitions 3 took %s (%d keys written meanwhile, %d writes failed):\n%s", out.Round(10*time.Millisecond), written, failed, res.Stderr)
	if written == 0 {
		t.Errorf("no write was acknowledged while the grid re-partitioned (%d failed): it stopped serving", failed)
	}
	if !strings.Contains(res.Stdout, "PARTITIONS: 2 -> 3") {
		t.Errorf("scale --partitions 3 printed:\n%s", res.Stdout)
	}
	checkMap(t, ns, manager, 3)
	if n := len(dataPods(t, ns)); n != 3*instances {
		t.Errorf("%d data pods after the scale-out, want %d", n, 3*instances)
	}
	keys.check(ctx, t, gridClient(t, ns))

	// Re-running it is how an interrupted scale resumes: here nothing is left to do.
	res = insightctlOK(t, "scale", "demo", "-n", ns, "--partitions", "3", "--manager-url", manager)
	if !strings.Contains(res.Stdout, "PARTITIONS: 3 (unchanged)") {
		t.Errorf("the re-run is not a no-op:\n%s\n%s", res.Stdout, res.Stderr)
	}

	// In.
	keys.write(ctx, t, rdb, "before-in", 500)
	start = time.Now()
	res = insightctlOK(t, "scale", "demo", "-n", ns, "--partitions", "2", "--timeout", "5m", "--manager-url", manager)
	t.Logf("scale --partitions 2 took %s:\n%s", time.Since(start).Round(10*time.Millisecond), res.Stderr)
	checkMap(t, ns, manager, 2)
	if _, err := cluster.Client.AppsV1().StatefulSets(ns).Get(ctx, "demo-insight-pu-2", metav1.GetOptions{}); err == nil {
		t.Errorf("StatefulSet demo-insight-pu-2 still exists after the scale-in")
	}
	for _, p := range dataPods(t, ns) {
		if p.Labels["insight.dev/partition"] == "2" {
			t.Errorf("pod %s of partition 2 still exists after the scale-in", p.Name)
		}
	}
	keys.check(ctx, t, gridClient(t, ns))

	// Plain helm may not drop a partition that holds data: refused, nothing deleted.
	res = cluster.Helm(t, "upgrade", "demo", umbrellaChart, "-n", ns, "--set", "pu.partitions=1", "--reuse-values")
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "pu.partitions=1 but release demo runs 2 partitions") ||
		!strings.Contains(res.Stderr, "insightctl scale demo -n "+ns+" --partitions 1") {
		t.Fatalf("helm upgrade --set pu.partitions=1: exit %d, want a refusal naming both counts and insightctl scale\n%s", res.ExitCode, res.Stderr)
	}
	if sts, err := cluster.Client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{LabelSelector: puSelector}); err != nil || len(sts.Items) != 2 {
		t.Fatalf("after the refused upgrade: %d data StatefulSets (%v), want 2", len(sts.Items), err)
	}
	keys.check(ctx, t, gridClient(t, ns))

	// Plain helm may add a partition; the managers are not restarted by it, so the map
	// stays until insightctl scale, which finds the chart done, asks the manager. No
	// --wait: with pu.ha the new pods are Ready only once their partition is in the map.
	helmOK(t, "upgrade", "demo", umbrellaChart, "-n", ns, "--set", "pu.partitions=3", "--reuse-values")
	if _, err := cluster.Client.AppsV1().StatefulSets(ns).Get(ctx, "demo-insight-pu-2", metav1.GetOptions{}); err != nil {
		t.Fatalf("StatefulSet demo-insight-pu-2 after helm upgrade --set pu.partitions=3: %v", err)
	}
	checkMap(t, ns, manager, 2)
	res = insightctlOK(t, "scale", "demo", "-n", ns, "--partitions", "3", "--timeout", "5m", "--manager-url", manager)
	if strings.Contains(res.Stderr, "upgrade the release") || !strings.Contains(res.Stdout, "PARTITIONS: 2 -> 3") {
		t.Errorf("scale --partitions 3 after helm upgraded the chart:\n%s\n%s", res.Stdout, res.Stderr)
	}
	checkMap(t, ns, manager, 3)
	readyGridPods(t, ns, 3*instances)
	keys.check(ctx, t, gridClient(t, ns))
}

// gridClient is a Redis Cluster client seeded with the release's data pods, as an
// application on the pod network would connect.
func gridClient(t *testing.T, ns string) *redis.ClusterClient {
	t.Helper()
	var addrs []string
	for _, p := range dataPods(t, ns) {
		if p.Status.PodIP != "" && p.DeletionTimestamp == nil {
			addrs = append(addrs, p.Status.PodIP+":6379")
		}
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRedirects: 16, DialTimeout: 2 * time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// keyLog remembers every key whose write the grid acknowledged.
type keyLog struct {
	mu   sync.Mutex
	keys map[string]string
}

func (l *keyLog) add(k, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[string]string{}
	}
	l.keys[k] = v
}

// write writes n keys and fails on the first error.
func (l *keyLog) write(ctx context.Context, t *testing.T, c *redis.ClusterClient, prefix string, n int) {
	t.Helper()
	for i := range n {
		k, v := fmt.Sprintf("%s:%d", prefix, i), fmt.Sprintf("v%d", i)
		if err := c.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		l.add(k, v)
	}
}

// writeInBackground writes keys until the returned stop is called (or 10 minutes pass),
// and stop tells how many were acknowledged and how many failed.
func (l *keyLog) writeInBackground(ctx context.Context, c *redis.ClusterClient, prefix string) (stop func() (int, int)) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	var wg sync.WaitGroup
	var ok, failed int
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			k, v := fmt.Sprintf("%s:%d", prefix, i), fmt.Sprintf("v%d", i)
			if err := c.Set(ctx, k, v, 0).Err(); err != nil {
				failed++
				continue
			}
			l.add(k, v)
			ok++
		}
	})
	return func() (int, int) {
		cancel()
		wg.Wait()
		return ok, failed
	}
}

// check reads every acknowledged key back.
func (l *keyLog) check(ctx context.Context, t *testing.T, c *redis.ClusterClient) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	missing := 0
	for k, v := range l.keys {
		got, err := c.Get(ctx, k).Result()
		if err != nil || got != v {
			if missing < 5 {
				t.Errorf("GET %s: %q, %v; want %q", k, got, err, v)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged keys are not readable", missing, len(l.keys))
	}
	t.Logf("all %d acknowledged keys readable", len(l.keys))
}

// checkMap checks that the manager's map has want partitions and they own every slot once.
func checkMap(t *testing.T, ns, manager string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	parts, err := api.NewClient(manager, managerHTTP(t, ns)).Partitions(ctx)
	if err != nil {
		t.Fatalf("GET /v1/partitions: %v", err)
	}
	if len(parts) != want {
		t.Errorf("the map has %d partitions, want %d", len(parts), want)
	}
	owner := make([]int, 16384)
	for i := range owner {
		owner[i] = -1
	}
	for _, p := range parts {
		for _, r := range p.Slots {
			for s := r[0]; s <= r[1]; s++ {
				if owner[s] != -1 {
					t.Fatalf("slot %d owned by partitions %d and %d", s, owner[s], p.ID)
				}
				owner[s] = p.ID
			}
		}
	}
	for s, p := range owner {
		if p == -1 {
			t.Fatalf("slot %d has no partition", s)
		}
	}
}
