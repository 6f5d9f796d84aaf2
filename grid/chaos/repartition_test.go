package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/slots"
)

// repartitionStatus is the manager's GET /v1/repartition.
type repartitionStatus struct {
	Partitions     int    `json:"partitions"`
	Target         int    `json:"target"`
	State          string `json:"state"`
	Message        string `json:"message"`
	SlotsRemaining int    `json:"slotsRemaining"`
	Moves          []struct {
		From  int    `json:"from"`
		To    int    `json:"to"`
		State string `json:"state"`
	} `json:"moves"`
}

// maxRepartitionGap bounds the longest interval without any acknowledged write while
// slots move: moving a batch holds each of its slots for one round trip at a time, so
// writes never stop; the bound leaves room for a loaded CI machine.
const maxRepartitionGap = 2 * time.Second

// TestRepartitionUnderLoad re-partitions a 3-partition HA grid to 5 partitions and then to
// 2 while go-redis cluster clients write unique keys and read and write registers: every
// acknowledged write, and every key loaded before, must read back with its value after
// each step, the register history must stay linearizable, writes must keep being
// acknowledged throughout, and local must run exactly the instances of the partitions in
// the map at the end.
func TestRepartitionUnderLoad(t *testing.T) {
	g, ctx, loaded, w, reg := startRepartitionLoad(t, 20000, "rp")

	for _, n := range []int{5, 2} {
		start := time.Now()
		st := g.repartition(ctx, t, n)
		end := time.Now()
		took := end.Sub(start)
		g.checkMap(ctx, t, n)
		acks := w.all()
		t.Logf("3->5->2: %d partitions after %s (%s); %d acknowledged writes so far, %d preloaded keys; %s",
			n, took.Round(time.Millisecond), st.Message, len(acks), len(loaded), w.summary())
		g.verifyAcks(ctx, t, append(slices.Clone(loaded), acks...), time.Minute)
		if gap, at := w.gapInFrom(-1, start, end); gap > maxRepartitionGap {
			t.Errorf("re-partitioning to %d: no write was acknowledged for %s from %s (bound %s)", n, gap.Round(time.Millisecond), clock(at), maxRepartitionGap)
		} else {
			t.Logf("re-partitioning to %d: longest interval without an acknowledged write %s, from %s", n, gap.Round(time.Millisecond), clock(at))
		}
	}
	w.stop()
	reg.stop()
	g.verifyAcks(ctx, t, append(slices.Clone(loaded), w.all()...), time.Minute)
	reg.check(t)
	t.Log(w.summary())
	// local stops the instances of partitions 2-4 once they left the map.
	for p := 2; p < 5; p++ {
		g.addPartitionAddrs(p)
		for i := range 2 {
			name := fmt.Sprintf("p%d-i%d", p, i)
			err := waitFor(ctx, 10*time.Second, name+" stopped after its partition left the grid", func(ctx context.Context) (bool, string) {
				_, err := g.Status(ctx, name)
				return err != nil, "still answers"
			})
			if err != nil {
				t.Error(err)
			}
		}
	}
}

// startRepartitionLoad starts a healthy 3-partition HA grid with keys keys loaded, four
// writers of unique keys (prefix) and three register clients, all stopped when t ends.
func startRepartitionLoad(t *testing.T, keys int, prefix string) (*Grid, context.Context, []ack, *writers, *registers) {
	t.Helper()
	g := startLocalGrowing(t, 3, 5)
	ctx := testCtx(t, 8*time.Minute)
	for p := range 3 {
		g.requireHealthy(ctx, t, p)
	}
	loaded := g.preload(ctx, t, keys)
	w := g.startPacedWriters(ctx, t, 4, prefix, -1, 2*time.Millisecond)
	reg := g.startRegisters(ctx, t, g.registerKeys(map[int]int{0: 2, 1: 2, 2: 2}), 3)
	t.Cleanup(w.stop)
	t.Cleanup(reg.stop)
	waitAcked(ctx, t, w, 0, 100)
	return g, ctx, loaded, w, reg
}

// preload writes n keys in pipelines and returns them as acknowledged writes.
func (g *Grid) preload(ctx context.Context, t *testing.T, n int) []ack {
	t.Helper()
	c := g.client(t)
	var out []ack
	const batch = 1000
	for i := 0; i < n; i += batch {
		var part []ack
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < min(i+batch, n); j++ {
				a := ack{Key: fmt.Sprintf("chaos:pre:%d", j), Val: fmt.Sprintf("pre-%d", j)}
				a.Part = g.partitionOf(a.Key)
				p.Set(ctx, a.Key, a.Val, 0)
				part = append(part, a)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("preloading keys: %v", err)
		}
		for k, cmd := range cmds {
			if cmd.Err() == nil {
				out = append(out, part[k])
			}
		}
	}
	if len(out) != n {
		t.Fatalf("preloading: %d of %d keys acknowledged", len(out), n)
	}
	return out
}

// repartition asks the manager for n partitions and waits until the grid has them.
func (g *Grid) repartition(ctx context.Context, t *testing.T, n int) repartitionStatus {
	t.Helper()
	g.postRepartition(ctx, t, n)
	return g.waitRepartitioned(ctx, t, n)
}

// postRepartition asks the manager for n partitions.
func (g *Grid) postRepartition(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	body := fmt.Sprintf(`{"partitions": %d}`, n)
	req, err := g.post(ctx, g.api+"/v1/repartition", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/repartition: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /v1/repartition %s: %s", body, resp.Status)
	}
}

// waitRepartitioned waits until the grid has n partitions and nothing moves.
func (g *Grid) waitRepartitioned(ctx context.Context, t *testing.T, n int) repartitionStatus {
	t.Helper()
	var st repartitionStatus
	err := waitFor(ctx, 3*time.Minute, fmt.Sprintf("re-partitioning to %d partitions", n), func(ctx context.Context) (bool, string) {
		if err := g.getJSON(ctx, g.api+"/v1/repartition", &st); err != nil {
			return false, err.Error()
		}
		return st.State == "idle" && st.Partitions == n, fmt.Sprintf("%+v", st)
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// checkMap checks that the manager's map has n partitions sharing the slots evenly.
func (g *Grid) checkMap(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	var list struct{ Partitions []Partition }
	if err := g.getJSON(ctx, g.api+"/v1/partitions", &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Partitions) != n {
		t.Fatalf("%d partitions in the map, want %d", len(list.Partitions), n)
	}
	want, err := slots.Balanced(n)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, p := range list.Partitions {
		got := 0
		for _, r := range p.Slots {
			got += r[1] - r[0] + 1
		}
		total += got
		if got != want[i].Len() {
			t.Errorf("partition %d has %d slots, want %d", p.ID, got, want[i].Len())
		}
	}
	if total != slots.Count {
		t.Errorf("the map covers %d slots, want %d", total, slots.Count)
	}
}

// TestRepartitionSurvivesKills grows a 3-partition HA grid to 5 under load and kills
// (SIGKILL) the primary of a source partition while its slots are being copied, then the
// primary of a new partition while slots are copied into it: the backups take over, the
// movers start again from what the map says, and every acknowledged write, and every key
// loaded before, still reads back with its value; the registers stay linearizable.
func TestRepartitionSurvivesKills(t *testing.T) {
	g, ctx, loaded, w, reg := startRepartitionLoad(t, 30000, "rk")

	g.postRepartition(ctx, t, 5)
	// A source's primary in the first batch, then a target's primary in a later one (once
	// fewer slots are left than at the first kill), each while slots are being copied, each
	// partition healthy again before the next kill (startRepartitionLoad checked 0-2, and the
	// manager moves slots into a partition only once its primary serves and its backup is
	// in sync).
	// The re-partitioning may end while a killed partition recovers (a failover takes about a
	// second, the slots may move in less): then the later kills have no move left to hit.
	total := 0
	for k, victim := range []int{0, 3} {
		var st repartitionStatus
		finished := false
		err := waitFor(ctx, 2*time.Minute, fmt.Sprintf("slots being copied out of or into partition %d", victim),
			func(ctx context.Context) (bool, string) {
				if err := g.getJSON(ctx, g.api+"/v1/repartition", &st); err != nil {
					return false, err.Error()
				}
				if k > 0 && st.Partitions == 5 && len(st.Moves) == 0 && st.SlotsRemaining == 0 {
					finished = true
					return true, ""
				}
				if total > 0 && st.SlotsRemaining >= total {
					return false, fmt.Sprintf("%+v", st)
				}
				for _, mv := range st.Moves {
					if mv.State == "migrating" && (mv.From == victim || mv.To == victim) {
						return true, ""
					}
				}
				return false, fmt.Sprintf("%+v", st)
			})
		if err != nil {
			t.Fatal(err)
		}
		if finished {
			t.Logf("the re-partitioning ended before slots moved out of or into partition %d: no kill of its primary (%s)", victim, st.Message)
			break
		}
		total = st.SlotsRemaining
		part, err := g.Partition(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		killedAt := time.Now()
		pid := g.signalInstance(ctx, t, part.Primary, syscall.SIGKILL)
		t.Logf("%s: killed %s (pid %d), primary of partition %d, while slots moved (%d left): %s",
			clock(killedAt), part.Primary, pid, victim, st.SlotsRemaining, st.Message)
		g.waitRestarted(ctx, t, part.Primary, killedAt)
		if _, err := g.waitHealthy(ctx, victim, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	st := g.waitRepartitioned(ctx, t, 5)
	t.Logf("re-partitioned to 5 despite the kills: %s", st.Message)
	g.checkMap(ctx, t, 5)
	w.stop()
	reg.stop()
	t.Log(w.summary())
	g.verifyAcks(ctx, t, append(slices.Clone(loaded), w.all()...), time.Minute)
	reg.check(t)
	g.checkSplitBrain(t)
}
