package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestLocalRestartsKilledInstance checks the harness and local's restarts on their own:
// a killed data instance is started again (new pid) and becomes ready, and the load's
// acknowledged writes all read back.
func TestLocalRestartsKilledInstance(t *testing.T) {
	g := startLocal(t)
	ctx := testCtx(t, 60*time.Second)
	w := g.startWriters(ctx, t, 2, "h", -1)
	t.Cleanup(w.stop)
	if err := waitFor(ctx, 15*time.Second, "acknowledged writes to both partitions", func(context.Context) (bool, string) {
		a, b := w.count(0), w.count(1)
		return a >= 50 && b >= 50, fmt.Sprintf("%d and %d", a, b)
	}); err != nil {
		t.Fatal(err)
	}
	const victim = "p1-i1"
	pid := g.signalInstance(ctx, t, victim, syscall.SIGKILL)
	killAt := time.Now()
	newPid := g.waitRestarted(ctx, t, victim, killAt)
	if newPid == pid {
		t.Fatalf("%s restarted with the pid it had (%d)", victim, pid)
	}
	t.Logf("%s killed (pid %d), restarted as pid %d after %s", victim, pid, newPid, time.Since(killAt).Round(time.Millisecond))
	if err := waitFor(ctx, 20*time.Second, victim+" ready again", func(ctx context.Context) (bool, string) {
		st, err := g.Status(ctx, victim)
		if err != nil {
			return false, err.Error()
		}
		if st.PID != 0 && st.PID != newPid {
			return false, fmt.Sprintf("status of pid %d", st.PID)
		}
		return st.Ready, fmt.Sprintf("%+v", st)
	}); err != nil {
		t.Error(err)
	}
	w.stop()
	t.Log(w.summary())
	if w.count(0) == 0 || w.count(1) == 0 {
		t.Errorf("no load: %s", w.summary())
	}
	g.verifyAcks(ctx, t, w.all(), 20*time.Second)
}

// TestKillPrimaryUnderLoad kills -9 the primary of partition 0 under load: its in-sync
// backup must take over within the write-gap bound, with no acknowledged write lost.
func TestKillPrimaryUnderLoad(t *testing.T) {
	g := startLocal(t)
	ctx := testCtx(t, 120*time.Second)
	before, w, reg := g.startFaultLoad(ctx, t)

	victim := before.Primary
	pid := g.signalInstance(ctx, t, victim, syscall.SIGKILL)
	killAt := time.Now() // the process is gone: nothing it answers comes after this
	t.Logf("%s killed %s, primary of partition 0 in epoch %d (pid %d)", clock(killAt), victim, before.Epoch, pid)
	waitResumed(ctx, t, w, killAt, 15*time.Second, "the kill")
	g.stopFaultLoad(ctx, t, w, reg, before.Epoch, killAt)

	if after, err := g.Partition(ctx, 0); err != nil {
		t.Errorf("partition 0 after the kill: %v", err)
	} else if after.Epoch <= before.Epoch || !slices.Contains(g.servedBy(0, before.Epoch), before.Backup) {
		t.Errorf("partition 0 after the kill: %s; want %s serving as primary in an epoch after %d (it did: %v)",
			after, before.Backup, before.Epoch, g.servedBy(0, before.Epoch))
	}
	if gap := g.checkAfterFault(ctx, t, w.all(), reg, w); gap > maxWriteGap {
		t.Errorf("partition 0 went %s without an acknowledged write; the bound is %s", gap.Round(time.Millisecond), maxWriteGap)
	}
	// local restarts the killed instance: it comes back as the backup and catches up.
	if p, err := g.waitHealthy(ctx, 0, 20*time.Second); err != nil {
		t.Errorf("after the failover: %v", err)
	} else {
		t.Logf("partition 0 healthy again: %s", p)
	}
}

// TestStopPrimaryBeyondLease stops (SIGSTOP) the primary of partition 0 for three lease
// TTLs while clients write, then continues it: the backup must have taken over, and the
// resumed process, deposed, must acknowledge nothing.
func TestStopPrimaryBeyondLease(t *testing.T) {
	g := startLocal(t)
	ctx := testCtx(t, 120*time.Second)
	before, w, reg := g.startFaultLoad(ctx, t)

	victim := before.Primary
	// A connection to the victim opened before it stops: a SET sent on it while the
	// process is stopped is read only after it resumes, deposed by then.
	probe := redis.NewClient(&redis.Options{Addr: g.inst[victim].RESP, DialTimeout: time.Second,
		ReadTimeout: 6 * leaseTTL, WriteTimeout: 5 * time.Second, MaxRetries: -1, PoolSize: 1})
	t.Cleanup(func() { probe.Close() })
	if err := probe.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING %s: %v", victim, err)
	}
	probeKey := keyIn(g, 0, "chaos:probe:")
	pid := g.signalInstance(ctx, t, victim, syscall.SIGSTOP)
	stopAt := time.Now() // every thread is stopped: the SET below is read only after SIGCONT
	t.Logf("%s stopped %s, primary of partition 0 in epoch %d (pid %d), for %s", clock(stopAt), victim, before.Epoch, pid, 3*leaseTTL)
	probeRes := make(chan error, 1)
	go func() { probeRes <- probe.Set(ctx, probeKey, "from-the-deposed-primary", 0).Err() }()
	waitResumed(ctx, t, w, stopAt, 3*leaseTTL, "SIGSTOP")
	keepLoad(ctx, time.Until(stopAt.Add(3*leaseTTL)))
	if err := g.signal(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	contAt := time.Now()
	t.Logf("%s continued %s", clock(contAt), victim)
	var extra []ack
	select {
	case err := <-probeRes:
		if err == nil {
			t.Errorf("%s acknowledged SET %s sent while it was stopped, after it resumed deposed", victim, probeKey)
			extra = append(extra, ack{Key: probeKey, Val: "from-the-deposed-primary", Part: 0, Call: stopAt, Ret: time.Now()})
		} else {
			t.Logf("SET sent to %s while it was stopped, answered after it resumed: %v", victim, err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not answer a SET in 10s after it resumed", victim)
	}
	g.stopFaultLoad(ctx, t, w, reg, before.Epoch, stopAt)

	if !slices.Contains(g.servedBy(0, before.Epoch), before.Backup) {
		t.Errorf("%s did not serve as primary of partition 0 after epoch %d while %s was stopped (served: %v)",
			before.Backup, before.Epoch, victim, g.servedBy(0, before.Epoch))
	}
	g.checkAfterFault(ctx, t, append(w.all(), extra...), reg, w)
	if p, err := g.waitHealthy(ctx, 0, 20*time.Second); err != nil {
		t.Errorf("after %s resumed: %v", victim, err)
	} else {
		t.Logf("partition 0 healthy again %s after SIGCONT: %s", time.Since(contAt).Round(time.Millisecond), p)
	}
}

// TestBackupThenPrimaryKilled kills the backup of partition 0, then its primary before the
// restarted backup is back in sync: with both copies of the data gone, partition 0 must
// refuse writes and never answer a read that contradicts an acknowledged write, while
// partition 1 keeps serving.
func TestBackupThenPrimaryKilled(t *testing.T) {
	g := startLocal(t)
	ctx := testCtx(t, 120*time.Second)
	before := g.requireHealthy(ctx, t, 0)
	w0 := g.startWriters(ctx, t, 4, "w", 0)
	w1 := g.startWriters(ctx, t, 2, "q", 1)
	t.Cleanup(w0.stop)
	t.Cleanup(w1.stop)
	waitAcked(ctx, t, w0, 0, 200)
	primary, backup := before.Primary, before.Backup

	// local restarts the backup after its restart delay; it is stopped the moment local
	// reports the new process, long before it can catch up.
	var frozen atomic.Int64
	restarted := make(chan int, 1)
	g.lw.setOnRestart(func(ev restartEvent) {
		if ev.Name == backup && frozen.CompareAndSwap(0, int64(ev.Pid)) {
			if err := g.signal(ev.Pid, syscall.SIGSTOP); err != nil {
				t.Errorf("stopping the restarted %s: %v", backup, err)
			}
			restarted <- ev.Pid
		}
	})
	bpid := g.signalInstance(ctx, t, backup, syscall.SIGKILL)
	t.Logf("%s killed %s, backup of partition 0 (pid %d)", clock(time.Now()), backup, bpid)
	if err := waitFor(ctx, 10*time.Second, "the manager showing partition 0 out of sync", func(ctx context.Context) (bool, string) {
		p, err := g.Partition(ctx, 0)
		if err != nil {
			return false, err.Error()
		}
		return !p.InSync && p.Primary == primary, p.String()
	}); err != nil {
		t.Fatal(err)
	}
	var newBackup int
	select {
	case newBackup = <-restarted:
	case <-time.After(10 * time.Second):
		t.Fatalf("local did not restart %s in 10s", backup)
	}
	if p, err := g.Partition(ctx, 0); err != nil || p.InSync {
		t.Fatalf("partition 0 once the restarted %s (pid %d) is stopped: %s, %v; want out of sync", backup, newBackup, p, err)
	}
	ppid := g.signalInstance(ctx, t, primary, syscall.SIGKILL)
	killPrimaryAt := time.Now()
	t.Logf("%s restarted %s stopped (pid %d); killed %s, primary of partition 0 (pid %d)", clock(killPrimaryAt), backup, newBackup, primary, ppid)
	g.waitRestarted(ctx, t, primary, killPrimaryAt)
	if err := g.signal(newBackup, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(ctx, 15*time.Second, "both instances of partition 0 answering /v1/status", func(ctx context.Context) (bool, string) {
		for _, id := range []string{primary, backup} {
			if _, err := g.Status(ctx, id); err != nil {
				return false, err.Error()
			}
		}
		return true, ""
	}); err != nil {
		t.Fatal(err)
	}

	// Observation window: 2 lease TTLs with both processes up.
	window := 2 * leaseTTL
	t.Logf("both instances of partition 0 are up again %s after the primary's kill; observing for %s", time.Since(killPrimaryAt).Round(time.Millisecond), window)
	var sample []ack
	for _, a := range w0.all() {
		if a.Call.Before(killPrimaryAt) && len(sample) < 100 {
			sample = append(sample, a)
		}
	}
	if len(sample) == 0 {
		t.Fatal("no write to partition 0 was acknowledged before its primary was killed")
	}
	probe := g.client(t)
	var acceptedWrites, contradictions, refusals []string
	refused, reads, readErrs := 0, 0, 0
	pace := time.NewTicker(20 * time.Millisecond)
	defer pace.Stop()
	end := time.Now().Add(window)
	for i := 0; time.Now().Before(end); i++ {
		k := keyIn(g, 0, fmt.Sprintf("chaos:window:%d:", i))
		if err := probe.Set(ctx, k, "x", 0).Err(); err == nil {
			acceptedWrites = append(acceptedWrites, k)
		} else {
			refused++
			if len(refusals) < 5 && !slices.Contains(refusals, err.Error()) {
				refusals = append(refusals, err.Error())
			}
		}
		a := sample[i%len(sample)]
		v, err := probe.Get(ctx, a.Key).Result()
		reads++
		switch {
		case errors.Is(err, redis.Nil):
			contradictions = append(contradictions, fmt.Sprintf("GET %s: nil, acknowledged %q", a.Key, a.Val))
		case err != nil:
			readErrs++
		case v != a.Val:
			contradictions = append(contradictions, fmt.Sprintf("GET %s: %q, acknowledged %q", a.Key, v, a.Val))
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-pace.C:
		}
	}
	w0.stop()
	w1.stop()
	t.Logf("partition 0 writers: %s", w0.summary())
	t.Logf("partition 1 writers: %s", w1.summary())
	t.Logf("window: %d writes refused (%q), %d reads of acknowledged keys, %d of them errors", refused, refusals, reads, readErrs)
	if len(acceptedWrites) > 0 {
		t.Errorf("partition 0 accepted %d writes with both copies of its data lost, e.g. %v", len(acceptedWrites), acceptedWrites[:min(5, len(acceptedWrites))])
	}
	if n := w0.ackedAfter(0, killPrimaryAt); n > 0 {
		t.Errorf("partition 0 acknowledged %d writes sent after its primary was killed with its backup out of sync", n)
	}
	if len(contradictions) > 0 {
		t.Errorf("%d reads contradict acknowledged writes, e.g.:\n  %s", len(contradictions), strings.Join(contradictions[:min(10, len(contradictions))], "\n  "))
	}
	if p, err := g.Partition(ctx, 0); err == nil {
		t.Logf("partition 0 at the end: %s", p)
	}
	// Partition 1 was not touched: it served throughout.
	w1.mu.Lock()
	errs1 := w1.errs[1]
	w1.mu.Unlock()
	if errs1 > 0 {
		t.Errorf("partition 1 failed %d writes while partition 0 was down", errs1)
	}
	if gap, from := w1.gap(1); gap > time.Second {
		t.Errorf("partition 1 went %s without an acknowledged write (from %s)", gap.Round(time.Millisecond), clock(from))
	}
	g.checkSplitBrain(t)
}

// keyIn is the first key prefix+<n> that partition p holds.
func keyIn(g *Grid, p int, prefix string) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("%s%d", prefix, i); g.partitionOf(k) == p {
			return k
		}
	}
}
