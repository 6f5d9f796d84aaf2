package itest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// cutFor is how long the cut-and-heal test keeps the link between the sites cut; the
// outbox test cuts it for 20 s, which before the gateway's links gave up dead connections
// left its batches waiting 10 s after the heal on a request's 30-second timeout.
const cutFor = 30 * time.Second

// healedWithin bounds how long after a heal the backlogs may take to drain: a gateway
// dials again at most linkDialTimeout (5 s) after its last attempt and waits at most 2 s
// between attempts, so its first batch goes out within about 4 s of the heal; the rest
// is margin for a loaded machine.
const healedWithin = 8 * time.Second

// TestCutLinkBothSitesKeepWritingThenConverge runs two sites in their own network
// namespaces, writes at both (unique keys, hashes, deletions, keys both sites write),
// cuts the link between them for 30 s while both keep writing, heals it, and waits
// until both sites hold the same contents: every acknowledged write, the deleted keys
// absent at both, the contended keys equal to one site's last write.
func TestCutLinkBothSitesKeepWritingThenConverge(t *testing.T) {
	t.Parallel() // the cuts are mostly waiting: the three tests run their cuts at once
	n := newWANNet(t)
	sp := specs(t, "lisbon", "dublin")
	n.place(sp[0], sp[1])
	sp[0].partitions = 2
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 3*time.Minute)

	// Steady state: paced writers at both sites, and the lag of a probe key both ways.
	wctx, stopWriters := context.WithCancel(ctx)
	defer stopWriters()
	wa, wb := newWriter(a.name), newWriter(b.name)
	var wg sync.WaitGroup
	for _, x := range []struct {
		w *writer
		s *site
	}{{wa, a}, {wb, b}} {
		c := pacedClient(t, x.s, 2*time.Millisecond)
		wg.Add(1)
		go func() { defer wg.Done(); x.w.run(wctx, c) }()
	}
	lags := lagsBothWays(ctx, 8*time.Second, a, b)
	if len(lags) < 10 {
		t.Fatalf("only %d lag probes arrived in 8s of steady state", len(lags))
	}
	t.Logf("steady state: replication lag over %d probes p50 %s p99 %s; written so far %s %d, %s %d",
		len(lags), pct(lags, 0.5), pct(lags, 0.99), a.name, wa.count(), b.name, wb.count())

	// The cut: both sites keep acknowledging writes.
	before := [2]int{wa.count(), wb.count()}
	n.cutLink()
	cutAt := time.Now()
	t.Logf("cut the link between %s (%s) and %s (%s)", a.name, n.ipA, b.name, n.ipB)
	keepWriting(ctx, cutAt.Add(cutFor))
	during := [2]int{wa.count() - before[0], wb.count() - before[1]}
	for i, s := range []*site{a, b} {
		if during[i] < 100 {
			t.Errorf("site %s acknowledged %d writes in the %s of the cut: a site must keep taking writes when its link to the others is cut", s.name, during[i], cutFor)
		}
	}
	stopWriters()
	wg.Wait()
	var backlog [2]int
	var lagAt [2]float64
	for i, s := range []*site{a, b} {
		var gs api.WANGatewayStatus
		if err := getGateway(ctx, s, &gs); err != nil {
			t.Fatalf("site %s's gateway status at the end of the cut: %v", s.name, err)
		}
		backlog[i], lagAt[i] = gs.Targets[0].Backlog, gs.Targets[0].LagSeconds
		// The oldest acknowledged write is from before the cut: the lag shows the cut.
		if cut := time.Since(cutAt).Seconds(); backlog[i] == 0 || lagAt[i] < cut-5 {
			t.Errorf("site %s's gateway at the end of a %.0f s cut reports a backlog of %d and a lag of %.1f s: it must hold what it could not send, and its lag must span the cut",
				s.name, cut, backlog[i], lagAt[i])
		}
	}
	n.healLink()
	healAt := time.Now()
	t.Logf("healed the link after %s; written during the cut %s %d, %s %d; at the heal %s→%s backlog %d keys lag %.1f s, %s→%s backlog %d keys lag %.1f s",
		healAt.Sub(cutAt).Round(time.Millisecond), a.name, during[0], b.name, during[1], a.name, b.name, backlog[0], lagAt[0], b.name, a.name, backlog[1], lagAt[1])

	// Converged: no backlog either way, and both sites hold the same keys and values.
	var drained time.Duration
	var last string
	testutil.Eventually(t, 60*time.Second, "both sites converged after the heal", func() bool {
		for _, s := range []*site{a, b} {
			var gs api.WANGatewayStatus
			if err := getGateway(ctx, s, &gs); err != nil || gs.Targets[0].Backlog != 0 {
				last = fmt.Sprintf("site %s's gateway: %+v, %v", s.name, gs.Targets, err)
				return false
			}
		}
		if drained == 0 {
			drained = time.Since(healAt)
		}
		ca, err1 := a.contents(ctx)
		cb, err2 := b.contents(ctx)
		if err1 != nil || err2 != nil {
			last = fmt.Sprintf("reading the contents: %v, %v", err1, err2)
			return false
		}
		if d := diff(ca, cb); d != "" {
			last = fmt.Sprintf("%s and %s differ: %s", a.name, b.name, d)
			return false
		}
		return true
	})
	if t.Failed() {
		t.Fatal(last)
	}
	t.Logf("after the heal: backlogs drained in %s, contents equal in %s", drained.Round(time.Millisecond), time.Since(healAt).Round(time.Millisecond))
	if drained > healedWithin {
		t.Errorf("the backlogs took %s after the heal to drain, more than %s: the gateways waited on connections the cut had broken", drained.Round(time.Millisecond), healedWithin)
	}

	contents, err := a.contents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, w := range []*writer{wa, wb} {
		for k, v := range w.unique {
			if got := contents[k]; got != v {
				t.Errorf("%s (written at %s): both sites hold %q, the last acknowledged write was %q", k, w.site, got, v)
			}
			if v == "" {
				deleted++
			}
		}
		for h, fields := range w.hashes {
			if got, want := contents[h], hashValue(fields); got != want {
				t.Errorf("hash %s (written at %s): both sites hold %q, want %q", h, w.site, got, want)
			}
		}
	}
	for i := range 20 {
		k := fmt.Sprintf("c:%d", i)
		if got := contents[k]; got != wa.contend[k] && got != wb.contend[k] {
			t.Errorf("contended %s converged to %q at both sites, neither site's last write (%q, %q)", k, got, wa.contend[k], wb.contend[k])
		}
	}
	t.Logf("checked %d keys at both sites: %d unique keys of %s, %d of %s (%d deleted, absent at both), %d hashes, 20 contended keys",
		len(contents), len(wa.unique), a.name, len(wb.unique), b.name, deleted, len(wa.hashes)+len(wb.hashes))
}

// TestFullOutboxDuringACut fills both sites' outboxes while the link between them is
// cut: lima's (block) holds write replies until the heal lets it send, quito's
// (mark-out-of-sync) takes every write, marks lima out of sync, and resynchronizes it
// after the heal. Every write arrives.
func TestFullOutboxDuringACut(t *testing.T) {
	t.Parallel() // the cuts are mostly waiting: the three tests run their cuts at once
	n := newWANNet(t)
	sp := specs(t, "lima", "quito")
	n.place(sp[0], sp[1])
	sp[0].args = []string{"--wan-outbox-max", "20", "--wan-outbox-full", "block"}
	sp[1].args = []string{"--wan-outbox-max", "20", "--wan-outbox-full", "mark-out-of-sync"}
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 3*time.Minute)

	n.cutLink()
	cutAt := time.Now()
	const na, nb = 60, 100
	blocked := make(chan error, 1)
	var acked sync.Mutex
	count := 0
	go func() {
		for i := range na {
			if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
				blocked <- fmt.Errorf("SET k:%d at %s: %w", i, a.name, err)
				return
			}
			acked.Lock()
			count++
			acked.Unlock()
		}
		blocked <- nil
	}()
	for i := range nb {
		if err := b.rdb.Set(ctx, fmt.Sprintf("m:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET m:%d at %s with its outbox full: %v (mark-out-of-sync never holds writes)", i, b.name, err)
		}
	}
	testutil.Eventually(t, 30*time.Second, a.name+"'s writes held by its full outbox", func() bool {
		st, err := a.primaryStatus(0)
		return err == nil && st.BlockedWrites > 0
	})
	st, err := b.primaryStatus(0)
	if err != nil || !st.Targets[0].OutOfSync || st.Targets[0].MarkedOutOfSync == 0 || st.Targets[0].Backlog != nb || st.Outbox > 20 {
		t.Fatalf("%s after %d writes with the link cut: %+v, %v; want %s out of sync, a backlog of %d, the outbox within 20", b.name, nb, st, err, a.name, nb)
	}
	keepWriting(ctx, cutAt.Add(20*time.Second))
	acked.Lock()
	held := count
	acked.Unlock()
	if held > 21 {
		t.Fatalf("%d writes acknowledged at %s with an outbox of 20 and the link cut", held, a.name)
	}
	n.healLink()
	healAt := time.Now()
	t.Logf("healed the link after %s: %s had %d of %d writes acknowledged, the rest held", healAt.Sub(cutAt).Round(time.Millisecond), a.name, held, na)
	select {
	case err := <-blocked:
		if err != nil {
			t.Fatalf("a held write failed: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%s's held writes were not let go within 60s of the heal", a.name)
	}
	released := time.Since(healAt)
	t.Logf("%s's held writes all acknowledged %s after the heal", a.name, released.Round(time.Millisecond))
	if released > healedWithin {
		t.Errorf("%s's held writes were let go %s after the heal, more than %s: its gateway waited on a connection the cut had broken", a.name, released.Round(time.Millisecond), healedWithin)
	}
	testutil.Eventually(t, 60*time.Second, fmt.Sprintf("%s holding %s's writes and %s resynchronized", b.name, a.name, a.name), func() bool {
		if !b.holdsNumbered(ctx, na) {
			return false
		}
		st, err := b.primaryStatus(0)
		return err == nil && !st.Targets[0].OutOfSync && st.Targets[0].Backlog == 0
	})
	keys := make([]string, nb)
	for i := range keys {
		keys[i] = fmt.Sprintf("m:%d", i)
	}
	testutil.Eventually(t, 30*time.Second, a.name+" holding every write of "+b.name, func() bool {
		got, err := a.values(ctx, keys)
		if err != nil {
			return false
		}
		for i, k := range keys {
			if got[k] != fmt.Sprint(i) {
				return false
			}
		}
		return true
	})
	t.Logf("both sites hold every write %s after the heal", time.Since(healAt).Round(time.Millisecond))
}

// keepWriting waits until at (the writers run meanwhile), or ctx's end.
func keepWriting(ctx context.Context, at time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(at)):
	}
}

// count is how many keys w has written (set or deleted).
func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.unique)
}

// pacer spaces a client's commands at least `every` apart: a steady load that leaves the
// machine's cores to the sites.
type pacer struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time
}

func (p *pacer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (p *pacer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		p.mu.Lock()
		now := time.Now()
		at := p.next
		if at.Before(now) {
			at = now
		}
		p.next = at.Add(p.every)
		p.mu.Unlock()
		if d := at.Sub(now); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		return next(ctx, cmd)
	}
}

func (p *pacer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// pacedClient is a client of s sending a command at most every `every`, closed when t ends.
func pacedClient(t *testing.T, s *site, every time.Duration) *redis.ClusterClient {
	opts := *s.rdb.Options()
	c := redis.NewClusterClient(&opts)
	c.AddHook(&pacer{every: every})
	t.Cleanup(func() { c.Close() })
	return c
}

// contents is every key s holds and its value: a string's, a hash's fields as
// hashValue writes them, or the kind of any other.
func (s *site) contents(ctx context.Context) (map[string]string, error) {
	var mu sync.Mutex
	var keys []string
	err := s.rdb.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "*", 1000).Iterator()
		var ks []string
		for it.Next(ctx) {
			ks = append(ks, it.Val())
		}
		mu.Lock()
		keys = append(keys, ks...)
		mu.Unlock()
		return it.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("scanning site %s: %w", s.name, err)
	}
	types := make([]*redis.StatusCmd, len(keys))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			types[i] = p.Type(ctx, k)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reading the kinds of site %s's keys: %w", s.name, err)
	}
	strs := map[string]*redis.StringCmd{}
	hashes := map[string]*redis.MapStringStringCmd{}
	out := make(map[string]string, len(keys))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			switch kind := types[i].Val(); kind {
			case "string":
				strs[k] = p.Get(ctx, k)
			case "hash":
				hashes[k] = p.HGetAll(ctx, k)
			case "none": // deleted between the scan and now
			default:
				out[k] = "kind " + kind
			}
		}
		return nil
	}); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("reading site %s's keys: %w", s.name, err)
	}
	for k, c := range strs {
		if c.Err() == nil {
			out[k] = c.Val()
		}
	}
	for k, c := range hashes {
		if c.Err() == nil && len(c.Val()) > 0 {
			out[k] = hashValue(c.Val())
		}
	}
	return out, nil
}

// hashValue is a hash's fields, sorted: f=v,f=v.
func hashValue(fields map[string]string) string {
	var parts []string
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, f+"="+fields[f])
	}
	return strings.Join(parts, ",")
}

// diff describes how a and b differ ("" when equal): how many keys differ, and a few.
func diff(a, b map[string]string) string {
	var differ []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			differ = append(differ, fmt.Sprintf("%s %q/%q", k, v, b[k]))
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok {
			differ = append(differ, fmt.Sprintf("%s absent/%q", k, w))
		}
	}
	if len(differ) == 0 {
		return ""
	}
	slices.Sort(differ)
	return fmt.Sprintf("%d keys of %d/%d, e.g. %s", len(differ), len(a), len(b), strings.Join(differ[:min(5, len(differ))], "; "))
}

// TestKilledSourcePrimaryDuringACutLosesNothing kills the source site's primary with
// kill -9 while the link is cut and its outbox holds writes it could not send: the
// promoted backup holds the same outbox, takes more writes, and after the heal every
// write reaches the other site.
func TestKilledSourcePrimaryDuringACutLosesNothing(t *testing.T) {
	t.Parallel() // the cuts are mostly waiting: the three tests run their cuts at once
	n := newWANNet(t)
	sp := specs(t, "athens", "cairo")
	n.place(sp[0], sp[1])
	sp[0].ha = true
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 3*time.Minute)
	testutil.Eventually(t, 30*time.Second, a.name+"'s partition with an in-sync backup", func() bool {
		ps, err := a.mgr.Partitions(ctx)
		return err == nil && len(ps) == 1 && ps[0].InSync && ps[0].Backup != ""
	})

	n.cutLink()
	cutAt := time.Now()
	const before, after = 400, 200
	for i := range before {
		if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET k:%d with the link cut: %v", i, err)
		}
	}
	st, err := a.primaryStatus(0)
	if err != nil || st.Targets[0].Backlog != before {
		t.Fatalf("%s's outbox with the link cut: %+v, %v; want a backlog of %d", a.name, st, err, before)
	}
	if err := syscall.Kill(a.pids["p0-i0"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the backup serving as primary", func() bool {
		ps, err := a.mgr.Partitions(ctx)
		return err == nil && len(ps) == 1 && ps[0].Primary == "p0-i1"
	})
	if st, err := a.status(0, 1); err != nil || st.Targets[0].Backlog != before {
		t.Fatalf("the promoted primary's outbox: %+v, %v; want the %d unsent keys", st, err, before)
	}
	for i := before; i < before+after; i++ {
		if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET k:%d at the promoted primary with the link cut: %v", i, err)
		}
	}
	keepWriting(ctx, cutAt.Add(20*time.Second))
	n.healLink()
	healAt := time.Now()
	t.Logf("healed the link after %s; p0-i0 killed with %d keys unsent, %d more written at p0-i1", healAt.Sub(cutAt).Round(time.Millisecond), before, after)
	testutil.Eventually(t, 60*time.Second, b.name+" holding every key written at "+a.name, func() bool {
		return b.holdsNumbered(ctx, before+after)
	})
	t.Logf("%s holds all %d keys %s after the heal", b.name, before+after, time.Since(healAt).Round(time.Millisecond))
	testutil.Eventually(t, 30*time.Second, "no backlog left at "+a.name, func() bool {
		st, err := a.primaryStatus(0)
		return err == nil && st.Targets[0].Backlog == 0
	})
}
