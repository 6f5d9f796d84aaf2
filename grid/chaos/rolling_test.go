package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// maxRollGap bounds each partition's longest interval without an acknowledged write over a
// whole rolling restart. The target is 1 s; twice that leaves room for a loaded
// 2-core CI machine running the grid, the clients and the race detector at once.
const maxRollGap = 2 * time.Second

// switchResult is the manager's answer to POST /v1/partitions/{id}/failover and /failback.
type switchResult struct {
	Partition   int    `json:"partition"`
	From        string `json:"from"`
	To          string `json:"to"`
	Epoch       int64  `json:"epoch"`
	PauseMicros int64  `json:"pauseMicros"`
	Unchanged   bool   `json:"unchanged"`
	Primary     string `json:"primary"`
}

func (r switchResult) String() string {
	if r.Unchanged {
		return fmt.Sprintf("unchanged: %s already primary in epoch %d (the manager's automatic failback came first)", r.Primary, r.Epoch)
	}
	return fmt.Sprintf("%s -> %s, epoch %d, pauseMicros %d", r.From, r.To, r.Epoch, r.PauseMicros)
}

// TestRollingRestart restarts every instance of a 3-partition HA grid under load, one at a
// time, in the order insightctl's rolling change follows per partition: the backup (SIGTERM,
// local restarts it, it catches up), a planned failover to it through the manager, the old
// primary (now the backup) the same way, and a failback to the preferred primary. No
// acknowledged write may be lost, the register history must stay linearizable, and no
// partition may go longer than maxRollGap without an acknowledged write.
func TestRollingRestart(t *testing.T) {
	const partitions = 3
	g := startLocalN(t, partitions)
	ctx := testCtx(t, 8*time.Minute)
	for p := range partitions {
		g.requireHealthy(ctx, t, p)
	}
	w := g.startWriters(ctx, t, 6, "roll", -1)
	reg := g.startRegisters(ctx, t, g.registerKeys(map[int]int{0: 2, 1: 2, 2: 2}), 4)
	t.Cleanup(w.stop)
	t.Cleanup(reg.stop)
	for p := range partitions {
		waitAcked(ctx, t, w, p, 200)
	}

	rollStart := time.Now()
	var pauses []string
	var steps []rollStep
	step := func(p int, what string) { steps = append(steps, rollStep{p: p, what: what, at: time.Now()}) }
	for p := range partitions {
		before := g.requireHealthy(ctx, t, p)
		if before.PreferredPrimary != "" && before.Primary != before.PreferredPrimary {
			t.Fatalf("partition %d before its restart: %s; want the preferred primary serving", p, before)
		}
		partStart := time.Now()
		step(p, "restart of the backup "+before.Backup)
		g.restartInSync(ctx, t, partitions, p, before.Backup)
		step(p, "failover")
		over := g.switchOver(ctx, t, p, "failover")
		if over.To != before.Backup {
			t.Fatalf("partition %d failover: %s; want a switch to %s", p, over, before.Backup)
		}
		step(p, "restart of the old primary "+before.Primary)
		g.restartInSync(ctx, t, partitions, p, before.Primary)
		step(p, "failback")
		back := g.switchOver(ctx, t, p, "failback")
		if after := g.requireHealthy(ctx, t, p); after.Primary != before.Primary {
			t.Fatalf("partition %d after the failback: %s; want %s primary again", p, after, before.Primary)
		}
		t.Logf("partition %d rolled in %s: failover %s; failback %s", p, time.Since(partStart).Round(time.Millisecond), over, back)
		pauses = append(pauses, fmt.Sprintf("p%d failover %s, failback %s", p, pauseOf(over), pauseOf(back)))
	}
	rollEnd := time.Now()
	t.Logf("rolling restart of %d instances done in %s; switch-over pauses reported by the manager: %s",
		2*partitions, rollEnd.Sub(rollStart).Round(time.Millisecond), strings.Join(pauses, "; "))

	keepLoad(ctx, time.Second)
	w.stop()
	reg.stop()
	t.Log(w.summary())
	g.verifyAcks(ctx, t, w.all(), 30*time.Second)
	reg.check(t)
	g.checkSplitBrain(t)
	for i, st := range steps {
		end := rollEnd
		if i+1 < len(steps) {
			end = steps[i+1].at
		}
		t.Logf("%s p%d %-36s %8s", clock(st.at), st.p, st.what, end.Sub(st.at).Round(time.Millisecond))
	}
	for p := range partitions {
		gap, began := w.gapInFrom(p, rollStart, rollEnd)
		// The step the gap began in: a switch-over's pause outlasts its API call.
		during := "before the first step"
		for _, st := range steps {
			if !st.at.After(began) {
				during = fmt.Sprintf("p%d %s", st.p, st.what)
			}
		}
		t.Logf("partition %d: longest write gap during the roll %s, from %s (during the %s); %d writes acknowledged during the roll",
			p, gap.Round(time.Millisecond), clock(began), during, w.countIn(p, rollStart, rollEnd))
		if gap > maxRollGap {
			t.Errorf("partition %d went %s without an acknowledged write during the rolling restart; the bound is %s (target 1s)",
				p, gap.Round(time.Millisecond), maxRollGap)
		}
	}
}

// rollStep is a step of the rolling restart: its partition, what it does, when it began.
type rollStep struct {
	p    int
	what string
	at   time.Time
}

// pauseOf is a switch-over's reported write pause, for the log.
func pauseOf(r switchResult) string {
	if r.Unchanged {
		return "(done by the manager)"
	}
	return (time.Duration(r.PauseMicros) * time.Microsecond).String()
}

// restartInSync restarts instance name of partition p as a rolling change does: with
// every partition healthy (so no other instance is down), SIGTERM to the instance, which
// must be p's backup; then it waits until local started it again and it is p's in-sync,
// ready backup. It fails t when any step does.
func (g *Grid) restartInSync(ctx context.Context, t *testing.T, partitions, p int, name string) {
	t.Helper()
	for q := range partitions {
		g.requireHealthy(ctx, t, q)
	}
	if pt, err := g.Partition(ctx, p); err != nil {
		t.Fatalf("partition %d before restarting %s: %v", p, name, err)
	} else if pt.Backup != name {
		t.Fatalf("partition %d before restarting %s: %s; want it the backup", p, name, pt)
	}
	termAt := time.Now()
	pid := g.signalInstance(ctx, t, name, syscall.SIGTERM)
	newPid := g.waitRestarted(ctx, t, name, termAt)
	restarted := time.Since(termAt)
	if err := waitFor(ctx, 30*time.Second, fmt.Sprintf("%s (pid %d) the in-sync backup of partition %d", name, newPid, p), func(ctx context.Context) (bool, string) {
		st, err := g.Status(ctx, name)
		if err != nil {
			return false, err.Error()
		}
		if st.PID != newPid || !st.Ready || st.Role != "backup" || !st.InSync {
			return false, fmt.Sprintf("%+v", st)
		}
		pt, err := g.Partition(ctx, p)
		if err != nil {
			return false, err.Error()
		}
		return pt.Backup == name && pt.InSync, pt.String()
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s SIGTERM %s (pid %d): restarted as pid %d after %s, in sync after %s",
		clock(termAt), name, pid, newPid, restarted.Round(time.Millisecond), time.Since(termAt).Round(time.Millisecond))
}

// switchOver asks the manager for a planned failover or failback of partition p and
// returns its answer; it fails t unless the manager answers 200.
func (g *Grid) switchOver(ctx context.Context, t *testing.T, p int, op string) switchResult {
	t.Helper()
	var r switchResult
	url := fmt.Sprintf("%s/v1/partitions/%d/%s", g.api, p, op)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := g.post(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A switch-over waits for the primary's handover: longer than g.hc's timeout allows.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: reading the answer: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, body)
	}
	t.Logf("%s partition %d %s: %s", clock(time.Now()), p, op, r)
	return r
}
