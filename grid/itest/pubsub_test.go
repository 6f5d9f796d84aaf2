package itest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
)

// instanceClient is a plain client of the data instance at RESP port port.
func instanceClient(t *testing.T, port int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	t.Cleanup(func() { c.Close() })
	return c
}

// subscribeAt subscribes to channel on the instance at port and waits for the
// confirmation, so what is published afterwards reaches it.
func subscribeAt(ctx context.Context, t *testing.T, port int, channel string) *redis.PubSub {
	t.Helper()
	ps := instanceClient(t, port).Subscribe(ctx, channel)
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("SUBSCRIBE %s on port %d: %v", channel, port, err)
	}
	return ps
}

// receive is the next message of ps, failing t when none comes before ctx ends.
func receive(ctx context.Context, t *testing.T, ps *redis.PubSub, what string) *redis.Message {
	t.Helper()
	msg, err := ps.ReceiveMessage(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return msg
}

// TestPublishReachesSubscribersOnEveryInstance checks cluster-wide PUBLISH on the local
// grid: a burst published on one instance reaches a subscriber on each of the three
// instances exactly once and in order, and each PUBLISH answers the number of subscribers
// of the instance it was sent to.
func TestPublishReachesSubscribersOnEveryInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clients against the local grid")
	}
	ctx := ctxT(t)
	ports := []int{grid.base + 10, grid.base + 11, grid.base + 12}
	subs := make([]*redis.PubSub, len(ports))
	for i, p := range ports {
		subs[i] = subscribeAt(ctx, t, p, "itest:news")
	}
	const burst = 1000
	for from, p := range ports {
		pub := instanceClient(t, p)
		cmds, err := pub.Pipelined(ctx, func(pl redis.Pipeliner) error {
			for i := range burst {
				pl.Publish(ctx, "itest:news", fmt.Sprintf("%d:%d", from, i))
			}
			pl.Publish(ctx, "itest:news", "end")
			return nil
		})
		if err != nil {
			t.Fatalf("PUBLISH burst on port %d: %v", p, err)
		}
		for i, c := range cmds {
			if n, err := c.(*redis.IntCmd).Result(); err != nil || n != 1 {
				t.Fatalf("PUBLISH %d on port %d answered %d, %v; want 1, its own subscriber only", i, p, n, err)
			}
		}
		for i, ps := range subs {
			for j := range burst {
				want := fmt.Sprintf("%d:%d", from, j)
				if m := receive(ctx, t, ps, fmt.Sprintf("message %d on port %d", j, ports[i])); m.Payload != want {
					t.Fatalf("message %d on port %d published on port %d: %q, want %q", j, ports[i], p, m.Payload, want)
				}
			}
			if m := receive(ctx, t, ps, "the last message"); m.Payload != "end" {
				t.Fatalf("after the burst on port %d, port %d got %q, want \"end\" (nothing twice)", p, ports[i], m.Payload)
			}
		}
	}
}

// localGrid is a grid started by `insight-grid local` for one test, with instance k's
// RESP on base+10+k and HTTP on base+1010+k.
type localGrid struct{ base int }

// startLocalGrid starts `insight-grid local --partitions partitions` with args on free
// ports and waits until it is ready; it stops when t ends, printing its log if t failed.
func startLocalGrid(t *testing.T, partitions int, args ...string) *localGrid {
	t.Helper()
	base, _, _, _ := runLocal(t, partitions, partitions, args...)
	return &localGrid{base: base}
}

// pid is the process ID of instance k, from its /v1/status.
func (g *localGrid) pid(t *testing.T, k int) int {
	t.Helper()
	var st cluster.InstanceStatus
	if err := getInto(fmt.Sprintf("http://127.0.0.1:%d/v1/status", g.base+1010+k), &st); err != nil || st.PID <= 0 {
		t.Fatalf("status of instance %d: %+v, %v", k, st, err)
	}
	return st.PID
}

// infoStat is field of the INFO stats of c.
func infoStat(ctx context.Context, t *testing.T, c *redis.Client, field string) int {
	t.Helper()
	info, err := c.Info(ctx, "stats").Result()
	if err != nil {
		t.Fatalf("INFO stats: %v", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO %s: %q", field, v)
			}
			return n
		}
	}
	t.Fatalf("INFO stats has no %s:\n%s", field, info)
	return 0
}

// TestPublishWithAStoppedInstance checks that an instance stopped with SIGSTOP does not
// hold up PUBLISH on another: each PUBLISH still answers at once, messages past the
// stopped instance's queue are dropped and counted, and once it runs again (SIGCONT) new
// messages reach its subscribers, after what was queued, in order. The grid's own lease
// TTL is long so the stopped instance stays registered.
func TestPublishWithAStoppedInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local grid")
	}
	g := startLocalGrid(t, 2, "--lease-ttl", "30s")
	ctx := ctxT(t)
	sub := subscribeAt(ctx, t, g.base+11, "itest:stop")
	pub := instanceClient(t, g.base+10)
	// The forwarding connection is open before the stop.
	if err := pub.Publish(ctx, "itest:stop", "hello").Err(); err != nil {
		t.Fatalf("PUBLISH: %v", err)
	}
	if m := receive(ctx, t, sub, "the first message"); m.Payload != "hello" {
		t.Fatalf("first message %q, want \"hello\"", m.Payload)
	}
	pid := g.pid(t, 1)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP instance 1 (pid %d): %v", pid, err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT instance 1 (pid %d): %v", pid, err)
			}
		}
	}
	t.Cleanup(resume)
	big := strings.Repeat("x", 1<<20)
	// 8 MiB of queue and the sockets' buffers hold a few dozen 1 MiB messages.
	sent := 0
	publish := func() {
		t.Helper()
		// A PUBLISH waiting for the stopped instance would run into this bound.
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := pub.Publish(pctx, "itest:stop", strconv.Itoa(sent)+":"+big).Result()
		if err != nil || n != 0 {
			t.Fatalf("PUBLISH %d with instance 1 stopped: %d, %v; want 0 at once", sent, n, err)
		}
		sent++
	}
	for infoStat(ctx, t, pub, "pubsub_forward_dropped") == 0 {
		if sent == 200 {
			t.Fatal("200 messages of 1 MiB for a stopped instance were all queued, none dropped")
		}
		publish()
	}
	// The queue is full: every further message for the stopped instance is dropped.
	first := infoStat(ctx, t, pub, "pubsub_forward_dropped")
	for range 20 {
		publish()
	}
	dropped := infoStat(ctx, t, pub, "pubsub_forward_dropped")
	if dropped != first+20 {
		t.Fatalf("pubsub_forward_dropped %d after 20 more messages for a full queue, want %d", dropped, first+20)
	}
	resume()
	if err := pub.Publish(ctx, "itest:stop", "after").Err(); err != nil {
		t.Fatalf("PUBLISH after SIGCONT: %v", err)
	}
	last, delivered := -1, 0
	for {
		m := receive(ctx, t, sub, "messages on the instance after SIGCONT")
		if m.Payload == "after" {
			break
		}
		n, err := strconv.Atoi(m.Payload[:max(0, strings.IndexByte(m.Payload, ':'))])
		if err != nil || n <= last {
			t.Fatalf("message %.20q after message %d: out of order", m.Payload, last)
		}
		last = n
		delivered++
	}
	if delivered+dropped != sent {
		t.Fatalf("%d messages delivered and %d dropped of %d published", delivered, dropped, sent)
	}
	metric := fmt.Sprintf("insight_grid_pubsub_forward_dropped_total %d\n", dropped)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", g.base+2010))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(body), metric) {
		t.Fatalf("/metrics of instance 0 lacks %q (%v)", metric, err)
	}
	t.Logf("instance stopped: %d messages of 1 MiB published, %d delivered after SIGCONT, %d dropped", sent, delivered, dropped)
}

// TestPublishReachesBackupsAcrossFailover checks PUBLISH on an HA partition: the backup's
// subscribers get what is published on the primary and the other way round, and after the
// primary is killed and restarted (a failover), the instances forward to each other again.
func TestPublishReachesBackupsAcrossFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an HA local grid")
	}
	g := startHALocal(t, 1, 1)
	ctx := ctxT(t)
	portOf := func(name string) int {
		var p, i int
		if _, err := fmt.Sscanf(name, "p%d-i%d", &p, &i); err != nil {
			t.Fatalf("instance name %q: %v", name, err)
		}
		return g.base + 10 + 2*p + i
	}
	check := func(when string, pt func() (primary, backup int)) {
		t.Helper()
		primary, backup := pt()
		for _, dir := range [][2]int{{primary, backup}, {backup, primary}} {
			sub := subscribeAt(ctx, t, dir[1], "itest:ha")
			msg := fmt.Sprintf("%s from %d", when, dir[0])
			if n, err := instanceClient(t, dir[0]).Publish(ctx, "itest:ha", msg).Result(); err != nil || n != 0 {
				t.Fatalf("%s: PUBLISH on port %d: %d, %v; want 0 (no subscriber there)", when, dir[0], n, err)
			}
			if m := receive(ctx, t, sub, when); m.Payload != msg {
				t.Fatalf("%s: port %d got %q, want %q", when, dir[1], m.Payload, msg)
			}
			sub.Close()
		}
	}
	healthy := func() (int, int) {
		pt := g.waitHealthy(t, 0, 30*time.Second)
		t.Logf("primary %s, backup %s, epoch %d", pt.Primary, pt.Backup, pt.Epoch)
		return portOf(pt.Primary), portOf(pt.Backup)
	}
	check("before the failover", healthy)
	g.killPrimary(t, 0)
	check("after the failover", healthy)
}
