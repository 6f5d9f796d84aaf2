package itest

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestClusterClientBlockingLists: go-redis's cluster client blocks with BLPOP and BLMOVE on
// keys of each partition, routed by the key, and is served by a push from another client;
// a short timeout answers nil.
//
// Known flaky since sorted sets, streams and bitmaps joined blocking lists in one build
// (about half the runs, each pair alone passes): the BLPOP connection exists on the right
// instance but is never counted blocked. It runs with INSIGHT_FLAKY_TESTS=1 until found.
func TestClusterClientBlockingLists(t *testing.T) {
	if os.Getenv("INSIGHT_FLAKY_TESTS") != "1" {
		t.Skip("known flaky: the blocked BLPOP is not counted in about half the runs of the merged build; INSIGHT_FLAKY_TESTS=1 runs it")
	}
	ctx := ctxT(t)
	c := clusterClient(t, nil)
	pusher := clusterClient(t, nil)
	for i := range 6 {
		tag := fmt.Sprintf("{blk%d}", i)
		node, err := c.MasterForKey(ctx, tag+"q")
		if err != nil {
			t.Fatal(err)
		}
		type popped struct {
			val []string
			err error
		}
		got := make(chan popped, 1)
		go func() {
			v, err := c.BLPop(ctx, 10*time.Second, tag+"q").Result()
			got <- popped{v, err}
		}()
		// Served only once the client waits: the node counts it in INFO clients.
		for deadline := time.Now().Add(10 * time.Second); ; {
			info, err := node.Info(ctx, "clients").Result()
			if err == nil && !strings.Contains(info, "blocked_clients:0\r\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("BLPOP %sq never waited: %s %v", tag, info, err)
			}
			time.Sleep(5 * time.Millisecond) // polling
		}
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
