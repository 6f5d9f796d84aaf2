package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/e2e/framework"
)

// typedKeys is a set of keys of every type, with and without an expiry, and what each
// must read back as.
type typedKeys struct {
	n int
	// expiry is each key's PEXPIRETIME when written (-1: none).
	expiry map[string]time.Duration
	// shortGone is when every p-short key has expired.
	shortGone time.Time
}

// writeTypedKeys writes n keys of each type (string, hash, list, set, sorted set), every
// other one with a TTL, plus keys that expire within two seconds.
func writeTypedKeys(ctx context.Context, t *testing.T, c *redis.ClusterClient, n int) *typedKeys {
	t.Helper()
	k := &typedKeys{n: n, expiry: map[string]time.Duration{}}
	for i := range n {
		ttl := time.Duration(0)
		if i%2 == 0 {
			ttl = time.Duration(30+i) * time.Minute
		}
		must := func(what string, err error) {
			if err != nil {
				t.Fatalf("%s %d: %v", what, i, err)
			}
		}
		must("SET", c.Set(ctx, fmt.Sprintf("p-str:%d", i), fmt.Sprintf("v%d", i), ttl).Err())
		must("HSET", c.HSet(ctx, fmt.Sprintf("p-hash:%d", i), "a", i, "b", "y").Err())
		must("RPUSH", c.RPush(ctx, fmt.Sprintf("p-list:%d", i), "x", i, "z").Err())
		must("SADD", c.SAdd(ctx, fmt.Sprintf("p-set:%d", i), "m", i).Err())
		must("ZADD", c.ZAdd(ctx, fmt.Sprintf("p-zset:%d", i), redis.Z{Score: float64(i + 1), Member: "m"}, redis.Z{Score: 0.5, Member: "h"}).Err())
		for _, key := range k.names(i) {
			if ttl > 0 && !strings.HasPrefix(key, "p-str:") {
				must("PEXPIRE", c.PExpire(ctx, key, ttl).Err())
			}
			exp, err := c.PExpireTime(ctx, key).Result()
			must("PEXPIRETIME", err)
			k.expiry[key] = exp
		}
		must("SET PX", c.Set(ctx, fmt.Sprintf("p-short:%d", i), "gone", 1500*time.Millisecond).Err())
	}
	k.shortGone = time.Now().Add(1500 * time.Millisecond)
	return k
}

func (k *typedKeys) names(i int) []string {
	var out []string
	for _, p := range []string{"p-str", "p-hash", "p-list", "p-set", "p-zset"} {
		out = append(out, fmt.Sprintf("%s:%d", p, i))
	}
	return out
}

// check reads every key back with its value and expiry time, and checks that the keys
// that expired meanwhile stay gone.
func (k *typedKeys) check(ctx context.Context, t *testing.T, c *redis.ClusterClient) {
	t.Helper()
	bad := 0
	fail := func(format string, a ...any) {
		if bad < 10 {
			t.Errorf(format, a...)
		}
		bad++
	}
	for i := range k.n {
		if got, err := c.Get(ctx, fmt.Sprintf("p-str:%d", i)).Result(); err != nil || got != fmt.Sprintf("v%d", i) {
			fail("GET p-str:%d: %q, %v", i, got, err)
		}
		if got, err := c.HGetAll(ctx, fmt.Sprintf("p-hash:%d", i)).Result(); err != nil || len(got) != 2 || got["a"] != fmt.Sprint(i) || got["b"] != "y" {
			fail("HGETALL p-hash:%d: %v, %v", i, got, err)
		}
		if got, err := c.LRange(ctx, fmt.Sprintf("p-list:%d", i), 0, -1).Result(); err != nil || !slices.Equal(got, []string{"x", fmt.Sprint(i), "z"}) {
			fail("LRANGE p-list:%d: %v, %v", i, got, err)
		}
		got, err := c.SMembers(ctx, fmt.Sprintf("p-set:%d", i)).Result()
		slices.Sort(got)
		if want := []string{fmt.Sprint(i), "m"}; err != nil || !slices.Equal(got, want) {
			fail("SMEMBERS p-set:%d: %v, %v; want %v", i, got, err, want)
		}
		if got, err := c.ZRangeWithScores(ctx, fmt.Sprintf("p-zset:%d", i), 0, -1).Result(); err != nil || len(got) != 2 ||
			got[0].Member != "h" || got[0].Score != 0.5 || got[1].Member != "m" || got[1].Score != float64(i+1) {
			fail("ZRANGE p-zset:%d WITHSCORES: %v, %v", i, got, err)
		}
		for _, key := range k.names(i) {
			if got, err := c.PExpireTime(ctx, key).Result(); err != nil || got != k.expiry[key] {
				fail("PEXPIRETIME %s: %v, %v; want %v as written", key, got, err, k.expiry[key])
			}
		}
		if n, err := c.Exists(ctx, fmt.Sprintf("p-short:%d", i)).Result(); err != nil || n != 0 {
			fail("EXISTS p-short:%d (expired before the reinstall): %d, %v; want 0", i, n, err)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d checks failed after the reinstall", bad, k.n*11)
	}
	t.Logf("all %d keys of 5 types back with their values and expiry times; %d expired keys stay gone", 5*k.n, k.n)
}

// pvcUIDs maps the release's PVCs in ns to their UIDs and the volumes they are bound to.
func pvcUIDs(t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing PVCs: %v", err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = fmt.Sprintf("%s bound to %s (%s)", p.UID, p.Spec.VolumeName, p.Status.Phase)
	}
	return out
}

// waitReadable waits until the grid at c answers a read of key (the slot map served).
func waitReadable(t *testing.T, c *redis.ClusterClient, key string) {
	t.Helper()
	cluster.WaitFor(t, 2*time.Minute, "the grid to serve "+key, func(ctx context.Context) (bool, error) {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		err := c.Get(rctx, key).Err()
		return err == nil || errors.Is(err, redis.Nil), nil
	})
}

// A release with pu.persistence.enabled, uninstalled with the real helm (the StatefulSets'
// PVCs are kept, as Kubernetes keeps them) and installed again under the same name with the
// same values, comes back with every key, value and expiry time: its new pods bind the same
// claims and load their journals. Without and with a backup per partition (pu.ha), where
// both copies come back and the manager's restart election picks the newest disk.
func TestPersistenceSurvivesUninstall(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  string
		pods int
		ha   bool
	}{
		{"single", "pu.partitions=2,pu.persistence.enabled=true", 2, false},
		{"ha", "pu.partitions=2,pu.ha=true,pu.persistence.enabled=true", 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := cluster.Namespace(t, "persist-"+tc.name)
			install := []string{"install", "demo", umbrellaChart, "-n", ns, "-f", "../values/dev.yaml", "--set", tc.set, "--wait", "--timeout", "4m"}
			helmOK(t, install...)
			readyGridPods(t, ns, tc.pods)
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			c := gridClient(t, ns)
			waitReadable(t, c, "none")
			keys := writeTypedKeys(ctx, t, c, 100)
			before := pvcUIDs(t, ns)
			if len(before) < tc.pods {
				t.Fatalf("PVCs before the uninstall: %v; want one per data pod (%d)", before, tc.pods)
			}

			helmOK(t, "uninstall", "demo", "-n", ns, "--wait", "--timeout", "2m")
			cluster.WaitFor(t, 2*time.Minute, "the release's pods to be gone", func(ctx context.Context) (bool, error) {
				list, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
				return err == nil && len(list.Items) == 0, err
			})
			if after := pvcUIDs(t, ns); !maps.Equal(before, after) {
				t.Fatalf("PVCs before the uninstall %v, after %v: want them kept as they were", before, after)
			}
			// Past the short keys' expiry, with the release gone.
			if err := framework.Poll(10*time.Second, func(context.Context) (bool, error) {
				return time.Now().After(keys.shortGone), nil
			}); err != nil {
				t.Fatal(err)
			}

			helmOK(t, install...)
			readyGridPods(t, ns, tc.pods)
			if after := pvcUIDs(t, ns); !maps.Equal(before, after) {
				t.Errorf("PVCs after the reinstall %v, want the kept ones %v", after, before)
			}
			c = gridClient(t, ns)
			waitReadable(t, c, "p-str:0")
			keys.check(ctx, t, c)
			if tc.ha {
				bothCopiesBack(t, ns)
			}
		})
	}
}

// bothCopiesBack waits until insightctl status shows every partition of release demo in ns
// with a ready primary and a ready backup the manager has in sync, holding as many keys.
func bothCopiesBack(t *testing.T, ns string) {
	t.Helper()
	type instance struct {
		Pod   string `json:"pod"`
		Ready bool   `json:"ready"`
		Keys  *int64 `json:"keys"`
	}
	var last string
	err := framework.Poll(2*time.Minute, func(context.Context) (bool, error) {
		res := insightctl(t, "status", "demo", "-n", ns, "-o", "json")
		last = res.Stdout + res.Stderr
		var s struct {
			Partitions []struct {
				ID      int       `json:"id"`
				Primary *instance `json:"primary"`
				Backup  *instance `json:"backup"`
				InSync  *bool     `json:"inSync"`
			} `json:"partitions"`
		}
		if res.ExitCode != 0 || json.Unmarshal([]byte(res.Stdout), &s) != nil || len(s.Partitions) == 0 {
			return false, nil
		}
		for _, p := range s.Partitions {
			if p.Primary == nil || p.Backup == nil || !p.Primary.Ready || !p.Backup.Ready || p.InSync == nil || !*p.InSync ||
				p.Primary.Keys == nil || p.Backup.Keys == nil || *p.Primary.Keys != *p.Backup.Keys {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("waiting for every partition's two copies after the reinstall: %v\n%s", err, last)
	}
	t.Logf("every partition back with its primary and an in-sync backup holding the same keys")
}
