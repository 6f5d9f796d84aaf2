package itest

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// waitRouted waits until the seed's CLUSTER SLOTS gives a primary for every slot. Right
// after `insight-grid local` says ready, an instance's routing view may not list the
// partitions' primaries yet (CLUSTER SLOTS answers []): a cluster client that loads its
// slot map then sends each key to a random node and follows the MOVED, so a test that
// looks for a blocked client on the node the client first picked looks in the wrong place.
func waitRouted(t *testing.T, ctx context.Context) {
	t.Helper()
	seed := redis.NewClient(&redis.Options{Addr: grid.seed})
	defer seed.Close()
	testutil.Eventually(t, 20*time.Second, "the seed routing every slot", func() bool {
		// CLUSTER SLOTS, not SHARDS: it is what go-redis builds its slot map from.
		slots, err := seed.Do(ctx, "CLUSTER", "SLOTS").Slice()
		if err != nil {
			return false
		}
		n := int64(0)
		for _, r := range slots {
			if r, ok := r.([]any); ok && len(r) >= 3 {
				start, _ := r[0].(int64)
				end, _ := r[1].(int64)
				n += end - start + 1
			}
		}
		return n == 16384
	})
}

var blockedRe = regexp.MustCompile(`blocked_clients:(\d+)`)

// waitBlockedOnMasters waits until the masters together count n blocked clients,
// whichever node each client was sent to.
func waitBlockedOnMasters(t *testing.T, ctx context.Context, c *redis.ClusterClient, n int64, what string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what, func() bool {
		var sum atomic.Int64 // ForEachMaster runs in parallel
		err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			info, err := node.Info(ctx, "clients").Result()
			if err != nil {
				return err
			}
			m := blockedRe.FindStringSubmatch(info)
			if m == nil {
				return fmt.Errorf("no blocked_clients in %q", info)
			}
			k, _ := strconv.ParseInt(m[1], 10, 64)
			sum.Add(k)
			return nil
		})
		return err == nil && sum.Load() == n
	})
}

// TestClusterClientBlockingLists: go-redis's cluster client blocks with BLPOP and BLMOVE on
// keys of each partition, routed by the key, and is served by a push from another client;
// a short timeout answers nil.
func TestClusterClientBlockingLists(t *testing.T) {
	ctx := ctxT(t)
	waitRouted(t, ctx)
	c := clusterClient(t, nil)
	pusher := clusterClient(t, nil)
	for i := range 6 {
		tag := fmt.Sprintf("{blk%d}", i)
		type popped struct {
			val []string
			err error
		}
		got := make(chan popped, 1)
		go func() {
			v, err := c.BLPop(ctx, 10*time.Second, tag+"q").Result()
			got <- popped{v, err}
		}()
		// Served only once the client waits: its node counts it in INFO clients.
		waitBlockedOnMasters(t, ctx, pusher, 1, "BLPOP "+tag+"q waiting")
		if err := pusher.RPush(ctx, tag+"q", "job", "next").Err(); err != nil {
			t.Fatal(err)
		}
		if p := <-got; p.err != nil || fmt.Sprint(p.val) != fmt.Sprintf("[%sq job]", tag) {
			t.Fatalf("BLPOP %sq = %v, %v", tag, p.val, p.err)
		}
		if v, err := c.BLMove(ctx, tag+"q", tag+"done", "LEFT", "RIGHT", time.Second).Result(); err != nil || v != "next" {
			t.Fatalf("BLMOVE %sq = %q, %v", tag, v, err)
		}
		if _, err := c.BLPop(ctx, 50*time.Millisecond, tag+"q").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("BLPOP %sq on an empty list past its timeout: %v, want nil", tag, err)
		}
	}
}

// TestClusterClientBlockingZSetsAndStreams: go-redis's cluster client blocks with
// BZPOPMIN, XREAD BLOCK and XREADGROUP BLOCK on keys of each partition and is served by
// another client's ZADD or XADD; short timeouts answer nil.
func TestClusterClientBlockingZSetsAndStreams(t *testing.T) {
	ctx := ctxT(t)
	waitRouted(t, ctx)
	c := clusterClient(t, nil)
	w := clusterClient(t, nil)
	for i := range 3 {
		tag := fmt.Sprintf("{bzx%d}", i)
		if err := w.Del(ctx, tag+"z", tag+"s").Err(); err != nil { // left by an earlier run (-count)
			t.Fatal(err)
		}
		zgot := make(chan string, 1)
		go func() {
			v, err := c.BZPopMin(ctx, 10*time.Second, tag+"z").Result()
			zgot <- fmt.Sprint(v, err)
		}()
		waitBlockedOnMasters(t, ctx, w, 1, "BZPOPMIN "+tag+"z waiting")
		if err := w.ZAdd(ctx, tag+"z", redis.Z{Score: 2, Member: "b"}, redis.Z{Score: 1.5, Member: "a"}).Err(); err != nil {
			t.Fatal(err)
		}
		if got, want := <-zgot, fmt.Sprintf("&{{1.5 a} %sz} <nil>", tag); got != want {
			t.Fatalf("BZPOPMIN %sz = %s, want %s", tag, got, want)
		}
		if _, err := c.BZPopMax(ctx, 50*time.Millisecond, tag+"none").Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("BZPOPMAX %snone past its timeout: %v, want nil", tag, err)
		}

		if err := w.XGroupCreateMkStream(ctx, tag+"s", "g", "$").Err(); err != nil {
			t.Fatal(err)
		}
		xgot := make(chan string, 2)
		go func() {
			v, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{tag + "s", "$"}, Block: 10 * time.Second}).Result()
			xgot <- "read " + streamsText(v, err)
		}()
		waitBlockedOnMasters(t, ctx, w, 1, "XREAD "+tag+"s waiting")
		go func() {
			v, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{tag + "s", ">"}, Count: 1, Block: 10 * time.Second}).Result()
			xgot <- "group " + streamsText(v, err)
		}()
		waitBlockedOnMasters(t, ctx, w, 2, "XREAD and XREADGROUP "+tag+"s waiting")
		if err := w.XAdd(ctx, &redis.XAddArgs{Stream: tag + "s", ID: "1-1", Values: []string{"f", "v"}}).Err(); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{<-xgot: true, <-xgot: true}
		for _, want := range []string{
			fmt.Sprintf("read %ss 1-1 map[f:v]; <nil>", tag),
			fmt.Sprintf("group %ss 1-1 map[f:v]; <nil>", tag),
		} {
			if !got[want] {
				t.Fatalf("blocked stream reads on %ss got %v, want %q among them", tag, got, want)
			}
		}
		if n, err := w.XPending(ctx, tag+"s", "g").Result(); err != nil || n.Count != 1 || n.Consumers["c"] != 1 {
			t.Fatalf("XPENDING %ss g after the blocked XREADGROUP = %+v, %v", tag, n, err)
		}
		if _, err := c.XRead(ctx, &redis.XReadArgs{Streams: []string{tag + "s", "$"}, Block: 50 * time.Millisecond}).Result(); !errors.Is(err, redis.Nil) {
			t.Fatalf("XREAD BLOCK %ss past its timeout: %v, want nil", tag, err)
		}
	}
}

// streamsText is what XREAD or XREADGROUP read: stream, ID and fields of each entry.
func streamsText(streams []redis.XStream, err error) string {
	var b strings.Builder
	for _, st := range streams {
		for _, m := range st.Messages {
			fmt.Fprintf(&b, "%s %s %v; ", st.Stream, m.ID, m.Values)
		}
	}
	return b.String() + fmt.Sprint(err)
}
