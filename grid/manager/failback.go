package manager

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
)

// metrics are the manager's own metrics beyond the leadership gauges.
type metrics struct {
	failbacks *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{failbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "failbacks_total",
		Help: "Automatic failbacks to the preferred primary attempted by this manager, by result (success, failure)."}, []string{"result"})}
}

// register adds the metrics to reg: failbacks_total and failover_available, which is 1
// while etcd has a leader (a quorum) and so records can change.
func (mt *metrics) register(reg prometheus.Registerer, hasLeader func() bool) error {
	for _, r := range []string{"success", "failure"} {
		mt.failbacks.WithLabelValues(r)
	}
	if err := reg.Register(mt.failbacks); err != nil {
		return err
	}
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "failover_available",
		Help: "1 when etcd has a quorum, so failover, failback and promotions can change partition records; 0 when they are stopped."},
		func() float64 { return b2f(hasLeader()) }))
}

// quorumPoll is how often watchQuorum looks at etcd's leader (an atomic read). It only
// logs, so it need not wake the manager more than twice a second.
const quorumPoll = 500 * time.Millisecond

// noQuorumMsg is logged at Warn when etcd loses its leader.
const noQuorumMsg = "etcd has no quorum: partitions keep serving in their current roles, failover and failback are stopped"

// watchQuorum logs each change of etcd's quorum until ctx ends: role changes need a
// quorum, so without one the grid deliberately stays as it is (consistency over
// availability of failover).
func (m *Manager) watchQuorum(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	had, since := true, time.Now()
	for {
		if has := m.hasLeader(); has != had {
			if has {
				m.log.Info("etcd quorum is back: failover and failback resume", "after", time.Since(since).Round(time.Millisecond).String())
			} else {
				m.log.Warn(noQuorumMsg)
			}
			had, since = has, time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Automatic failback's retry policy: attempts per eligible record state, and the backoff
// between them (doubling up to maxBackoff).
const (
	failbackAttempts   = 5
	failbackBackoff    = time.Second
	failbackMaxBackoff = 30 * time.Second
	failbackParallel   = 4 // partitions handed back at once
)

// autoFailback hands partitions back to their preferred primaries. Every manager follows
// the records; only the etcd leader acts. A partition is due once its record has named
// the preferred primary as the in-sync backup for delay without interruption.
type autoFailback struct {
	m     *Manager
	delay time.Duration
	now   func() time.Time
	sem   chan struct{}

	mu      sync.Mutex
	cands   map[int]*candidate
	running map[int]bool
	wg      sync.WaitGroup
	// wake tells run that observe added a candidate: without one, run sleeps.
	wake chan struct{}
}

// candidate is a partition eligible for failback since a time. key identifies the record
// state: a new epoch or a restarted primary or backup starts the delay again.
type candidate struct {
	key      string
	from, to string
	epoch    int64
	since    time.Time
	next     time.Time // earliest next attempt
	attempts int
	gaveUp   bool
}

func newAutoFailback(m *Manager, delay time.Duration) *autoFailback {
	return &autoFailback{m: m, delay: delay, now: time.Now, sem: make(chan struct{}, failbackParallel),
		cands: map[int]*candidate{}, running: map[int]bool{}, wake: make(chan struct{}, 1)}
}

// eligible reports whether rec's partition should go back to its preferred primary.
func eligible(rec cluster.Record) bool {
	return rec.Backup != "" && rec.PreferredPrimary != "" && rec.Primary != rec.PreferredPrimary &&
		rec.Backup == rec.PreferredPrimary && rec.InSync
}

// observe updates the candidates from a new cluster state.
func (a *autoFailback) observe(st *cluster.State) {
	if st.Map == nil {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[int]bool{}
	for _, pm := range st.Map.Partitions {
		rec, ok := st.Records[pm.ID]
		if !ok || !eligible(rec) {
			continue
		}
		seen[pm.ID] = true
		key := fmt.Sprintf("%d/%s/%s/%s", rec.Epoch, rec.Primary, rec.PrimaryRun, rec.BackupRun)
		if c := a.cands[pm.ID]; c != nil && c.key == key {
			continue
		}
		a.cands[pm.ID] = &candidate{key: key, from: rec.Primary, to: rec.Backup, epoch: rec.Epoch, since: now, next: now.Add(a.delay)}
		select {
		case a.wake <- struct{}{}:
		default:
		}
		a.m.log.Debug("partition runs on its backup instance; failing back once it stays in sync",
			"partition", pm.ID, "primary", rec.Primary, "preferredPrimary", rec.PreferredPrimary, "epoch", rec.Epoch, "delay", a.delay.String())
	}
	for id := range a.cands {
		if !seen[id] {
			delete(a.cands, id)
		}
	}
}

// run follows the records and acts on due candidates until ctx ends: it looks at them
// every delay/10 (50-250 ms) while there are any, and sleeps until observe adds one while
// there are none (nearly always).
func (a *autoFailback) run(ctx context.Context) {
	a.m.log.Info("automatic failback on", "delay", a.delay.String())
	a.wg.Go(func() { _ = registry.Watch(ctx, a.m.cli, a.m.log, a.observe) })
	every := min(max(a.delay/10, 50*time.Millisecond), 250*time.Millisecond)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.wg.Wait()
			return
		case <-t.C:
			a.tick(ctx)
		case <-a.wake:
		}
		if a.pending() {
			t.Reset(every)
		} else {
			t.Stop()
		}
	}
}

// pending reports whether a candidate may still be failed back (is due later, or runs).
func (a *autoFailback) pending() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.cands {
		if !c.gaveUp {
			return true
		}
	}
	return false
}

// tick starts an attempt for every due candidate, on the etcd leader only.
func (a *autoFailback) tick(ctx context.Context) {
	if !a.m.isLeader() {
		return
	}
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, c := range a.cands {
		if a.running[id] || c.gaveUp || now.Before(c.next) {
			continue
		}
		a.running[id] = true
		c.attempts++
		a.wg.Add(1)
		go a.attempt(ctx, id, c)
	}
}

// attempt fails partition id back once and schedules a retry if that failed.
func (a *autoFailback) attempt(ctx context.Context, id int, c *candidate) {
	defer a.wg.Done()
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		a.finish(id)
		return
	}
	defer func() { <-a.sem }()
	log := a.m.log.With("partition", id, "from", c.from, "to", c.to, "epoch", c.epoch, "attempt", c.attempts)
	log.Info("automatic failback", "inSyncFor", a.now().Sub(c.since).Round(time.Millisecond).String())
	r, oe := a.m.failback(ctx, id)
	if ctx.Err() != nil {
		a.finish(id)
		return
	}
	mt := a.m.metrics.failbacks
	if oe == nil {
		if r.Unchanged {
			log.Info("automatic failback: the preferred primary already serves", "primary", r.Primary)
		} else {
			log.Info("automatic failback done", "newEpoch", r.Epoch, "pauseMicros", r.PauseMicros)
			mt.WithLabelValues("success").Inc()
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		a.running[id] = false
		if a.cands[id] == c { // done: the next eligible record state starts over
			delete(a.cands, id)
		}
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	defer mt.WithLabelValues("failure").Inc() // after the log line
	a.running[id] = false
	if a.cands[id] != c { // the record moved on meanwhile; the new state decides
		log.Info("automatic failback failed while the partition changed", "err", oe.msg)
		return
	}
	if c.attempts >= failbackAttempts {
		c.gaveUp = true
		log.Warn("automatic failback gave up: the partition keeps serving from its backup instance; fix the cause and run insight-grid failback",
			"attempts", c.attempts, "err", oe.msg)
		return
	}
	backoff := min(failbackBackoff<<(c.attempts-1), failbackMaxBackoff)
	c.next = a.now().Add(backoff)
	log.Warn("automatic failback failed, retrying", "err", oe.msg, "retryIn", backoff.String())
}

func (a *autoFailback) finish(id int) {
	a.mu.Lock()
	a.running[id] = false
	a.mu.Unlock()
}
