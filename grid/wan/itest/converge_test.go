package itest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/wan"
)

// TestBenchWANConverge measures how two sites converge after a long cut with many keys
// changed (ci/bench-wan-converge.sh), skipped unless INSIGHT_BENCH_WAN_CONVERGE=1. Two
// sites of 2 partitions in their own network namespaces (as the cut tests) replicate in a
// steady state, then the link is cut for BENCH_WAN_CONVERGE_CUT_SECONDS (30) while one
// site takes BENCH_WAN_CONVERGE_KEYS (1000000) distinct keys from pipelined clients —
// for as long as that takes, past the cut's length if need be — and both sites write
// BENCH_WAN_CONVERGE_CONTENDED (10000) keys of their own. Both sites run
// --wan-outbox-full mark-out-of-sync with --wan-outbox-max BENCH_WAN_CONVERGE_OUTBOX_MAX
// (100000, the default) per partition, so the cut marks the target out of sync and the
// heal resynchronizes it from the metadata, then repairs it by digests. The anchor, in the
// same run unless BENCH_WAN_CONVERGE_ANCHOR=0, is two more sites doing the same with an
// outbox bound above the keys written: the heal drains the outbox. Each prints the write
// rate, the time from the heal until no backlog either way and until both sites' per-slot
// digests are identical, what the gateways sent, the path taken and the data instances'
// memory, and checks every acknowledged key at both sites. It fails only when a run does
// not work (a wait times out, a key is missing or differs).
func TestBenchWANConverge(t *testing.T) {
	if os.Getenv("INSIGHT_BENCH_WAN_CONVERGE") != "1" {
		t.Skip("the WAN convergence benchmark: set INSIGHT_BENCH_WAN_CONVERGE=1 (ci/bench-wan-converge.sh)")
	}
	c := convergeConfig{
		keys:      envInt("BENCH_WAN_CONVERGE_KEYS", 1_000_000),
		contended: envInt("BENCH_WAN_CONVERGE_CONTENDED", 10_000),
		cut:       time.Duration(envInt("BENCH_WAN_CONVERGE_CUT_SECONDS", 30)) * time.Second,
		clients:   envInt("BENCH_WAN_CONVERGE_CLIENTS", 8),
		healWait:  time.Duration(envInt("BENCH_WAN_CONVERGE_WAIT_SECONDS", 600)) * time.Second,
	}
	var bound, anchor convergeResult
	t.Run("bound", func(t *testing.T) {
		bound = convergeRun(t, c, "outbox bound hit", envInt("BENCH_WAN_CONVERGE_OUTBOX_MAX", 100_000))
	})
	if os.Getenv("BENCH_WAN_CONVERGE_ANCHOR") == "0" || t.Failed() {
		return
	}
	t.Run("anchor", func(t *testing.T) {
		anchor = convergeRun(t, c, "anchor, outbox bound above the keys", 2*(c.keys+c.contended))
	})
	if t.Failed() {
		return
	}
	t.Logf("bench-wan-converge: from the heal to no backlog either way: outbox bound hit %s, anchor (outbox drain) %s, ratio %.2f; to the heal's repairs done: %s, %s, ratio %.2f",
		bound.drained.Round(time.Millisecond), anchor.drained.Round(time.Millisecond), bound.drained.Seconds()/anchor.drained.Seconds(),
		bound.done.Round(time.Millisecond), anchor.done.Round(time.Millisecond), bound.done.Seconds()/anchor.done.Seconds())
}

// convergeConfig is what a convergence run writes during its cut.
type convergeConfig struct {
	keys, contended, clients int
	cut, healWait            time.Duration
}

// convergeResult is how long a convergence run took from the heal: until no backlog
// either way, until identical digests, until the repairs the heal started were done.
type convergeResult struct {
	drained, equal, done time.Duration
}

// convergeRun is one convergence run of c (TestBenchWANConverge) between two new sites
// with an outbox bound of outboxMax keys per partition; its lines say label.
func convergeRun(t *testing.T, c convergeConfig, label string, outboxMax int) convergeResult {
	nKeys, nContended, cut, clients, healWait := c.keys, c.contended, c.cut, c.clients, c.healWait
	const partitions = 2

	n := newWANNet(t)
	sp := specs(t, "lisbon", "dublin")
	n.place(sp[0], sp[1])
	for _, s := range sp {
		s.partitions = partitions
		s.args = []string{"--wan-outbox-max", strconv.Itoa(outboxMax), "--wan-outbox-full", "mark-out-of-sync"}
	}
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 2*cut+healWait+10*time.Minute)
	say := func(format string, args ...any) { t.Logf("bench-wan-converge: "+label+": "+format, args...) }
	say("%d partitions per site, each site in its own network namespace; %d unique keys (64-byte values) at %s and %d contended keys at both during a cut of at least %s; %d pipelined clients; --wan-outbox-max %d --wan-outbox-full mark-out-of-sync",
		partitions, nKeys, a.name, nContended, cut, clients, outboxMax)
	mem := func(when string) {
		for _, s := range []*site{a, b} {
			say("memory %s: %s", when, s.rss())
		}
	}

	// Steady state: lag probes both ways, and a few thousand keys each way arriving.
	const steady = 2000
	for _, s := range []*site{a, b} {
		if err := setKeys(ctx, s, 0, steady, pipeClients(s, 1), func(i int) (string, string) { return fmt.Sprintf("pre:%s:%d", s.name, i), "x" }, nil); err != nil {
			t.Fatal(err)
		}
	}
	lags := lagsBothWays(ctx, 5*time.Second, a, b)
	if len(lags) < 10 {
		t.Fatalf("only %d lag probes arrived in 5s of steady state", len(lags))
	}
	if err := waitFor(ctx, 60*time.Second, func() (bool, string) {
		for _, s := range []*site{a, b} {
			gs, err := gatewayOf(ctx, s)
			if err != nil || gs.Targets[0].Backlog != 0 {
				return false, fmt.Sprintf("site %s: %+v %v", s.name, gs.Targets, err)
			}
		}
		return true, ""
	}); err != nil {
		t.Fatalf("steady state: no backlog either way: %v", err)
	}
	say("steady state: lag over %d probes p50 %s p99 %s; %d keys each way arrived", len(lags), pct(lags, 0.5), pct(lags, 0.99), steady)
	mem("before the cut")

	// The cut: the unique keys at a, the contended keys at both sites meanwhile.
	n.cutLink()
	cutAt := time.Now()
	acked := make([]bool, nKeys)
	var uniq atomic.Int64
	wctx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	contended := [2][]string{make([]string, nContended), make([]string, nContended)}
	var rounds [2]atomic.Int64
	var cwg sync.WaitGroup
	for i, s := range []*site{a, b} {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			// Rounds over the contended keys until the cut ends; at least one. a goes in key
			// order, b in reverse, so when their last rounds overlap the winners are mixed.
			for r := 0; ; r++ {
				key := func(j int) int { return j + i*(nContended-1-2*j) }
				val := func(j int) (string, string) { return fmt.Sprintf("cc:%d", key(j)), fmt.Sprintf("%s-r%d", s.name, r) }
				if err := setKeys(ctx, s, 0, nContended, pipeClients(s, 1), val, func(j int) { _, contended[i][key(j)] = val(j) }); err != nil {
					t.Errorf("contended keys at %s: %v", s.name, err)
					return
				}
				rounds[i].Add(1)
				if !sleepCtx(wctx, 500*time.Millisecond) {
					return
				}
			}
		}()
	}
	uc := pipeClients(a, clients)
	err := setKeys(ctx, a, 0, nKeys, uc, uniqueKV, func(i int) { acked[i] = true; uniq.Add(1) })
	wrote := time.Since(cutAt)
	if err != nil {
		t.Fatalf("writing the unique keys at %s: %v (%d acknowledged in %s)", a.name, err, uniq.Load(), wrote.Round(time.Millisecond))
	}
	sleepCtx(ctx, time.Until(cutAt.Add(cut)))
	stopWriting()
	cwg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	before := [2]api.WANGatewayStatus{}
	for i, s := range []*site{a, b} {
		gs, err := gatewayOf(ctx, s)
		if err != nil {
			t.Fatalf("site %s's gateway at the end of the cut: %v", s.name, err)
		}
		before[i] = gs
	}
	n.healLink()
	healAt := time.Now()
	cutLen := healAt.Sub(cutAt)
	say("cut of %s: %d unique keys acknowledged at %s in %s (%.0f writes/s), %d and %d rounds of the %d contended keys at %s and %s",
		cutLen.Round(time.Millisecond), uniq.Load(), a.name, wrote.Round(time.Millisecond), float64(uniq.Load())/wrote.Seconds(), rounds[0].Load(), rounds[1].Load(), nContended, a.name, b.name)
	for i, s := range []*site{a, b} {
		say("at the heal %s→%s: %s", s.name, []*site{b, a}[i].name, pathOf(before[i]))
	}
	mem("at the heal")

	// Converged: no backlog either way, then identical digests.
	var drained, equal time.Duration
	var after [2]api.WANGatewayStatus
	lastLog := time.Now()
	err = waitFor(ctx, healWait, func() (bool, string) {
		since := time.Since(healAt)
		quiet := true
		for i, s := range []*site{a, b} {
			gs, err := gatewayOf(ctx, s)
			if err != nil {
				return false, err.Error()
			}
			after[i] = gs
			quiet = quiet && gs.Targets[0].Backlog == 0 && len(gs.Targets[0].OutOfSyncPartitions) == 0
		}
		if quiet && drained == 0 {
			drained = since
			say("backlog 0 both ways, no partition out of sync: %s after the heal", drained.Round(time.Millisecond))
		}
		if time.Since(lastLog) >= 10*time.Second {
			lastLog = time.Now()
			say("+%s: %s→%s %s; %s→%s %s", since.Round(time.Second), a.name, b.name, pathOf(after[0]), b.name, a.name, pathOf(after[1]))
		}
		if drained == 0 {
			return false, fmt.Sprintf("backlogs %d and %d", after[0].Targets[0].Backlog, after[1].Targets[0].Backlog)
		}
		da, err1 := digestsOf(ctx, a, b.name)
		db, err2 := digestsOf(ctx, b, a.name)
		if err1 != nil || err2 != nil {
			return false, fmt.Sprintf("digests: %v, %v", err1, err2)
		}
		if !slices.Equal(da, db) {
			return false, fmt.Sprintf("digests of %d and %d slots, %d differing at %s, %d at %s", len(da), len(db), len(wan.DiffSlots(da, db)), a.name, len(wan.DiffSlots(db, da)), b.name)
		}
		if equal == 0 {
			equal = since
		}
		// Identical digests. A target marked out of sync is repaired by digests once
		// every partition is back in sync: wait for that repair's end, and any other's.
		for i, gs := range after {
			healed := false
			for _, r := range gs.Repairs {
				if r.State == api.WANRepairRunning {
					return false, "a repair still running"
				}
				healed = healed || !repairTime(r.Started).Before(healAt.Truncate(time.Millisecond))
			}
			if marked(before[i]) > 0 && !healed {
				return false, fmt.Sprintf("site %s's repair of a target back in sync not started", []*site{a, b}[i].name)
			}
		}
		return true, ""
	})
	if err != nil {
		say("NOT converged %s after the heal: %v; %s→%s %s; %s→%s %s", time.Since(healAt).Round(time.Second), err, a.name, b.name, pathOf(after[0]), b.name, a.name, pathOf(after[1]))
		mem("at the timeout")
		t.FailNow()
	}
	res := convergeResult{drained: drained, equal: equal}
	done := time.Since(healAt)
	res.done = done
	say("converged: backlog 0 both ways %s after the heal, per-slot digests identical %s after it, the repairs the heal started done %s after it",
		drained.Round(time.Millisecond), equal.Round(time.Millisecond), done.Round(time.Millisecond))
	for i, s := range []*site{a, b} {
		o := []*site{b, a}[i]
		gs := after[i]
		say("%s→%s: sent %d keys in %d batches, %.1f MB compressed since the heal (%.0f keys/s over %s); %s",
			s.name, o.name, gs.Keys-before[i].Keys, gs.Batches-before[i].Batches, float64(gs.Bytes-before[i].Bytes)/1e6,
			float64(gs.Keys-before[i].Keys)/done.Seconds(), done.Round(time.Millisecond), pathOf(gs))
		path := "outbox drain (no partition marked out of sync)"
		if m := marked(gs); m > 0 {
			path = fmt.Sprintf("outbox bound hit: %d partition markings out of sync, resynchronized from the metadata", m)
		}
		var repaired int64
		for _, r := range gs.Repairs {
			if !repairTime(r.Started).Before(healAt.Truncate(time.Millisecond)) {
				repaired += r.KeysSent
				path += fmt.Sprintf(", then repair by digests #%d: %s, %d slots compared, %d differing, %d keys sent in %s", r.ID, r.State, r.SlotsCompared, r.SlotsDiffering, r.KeysSent, took(r).Round(time.Millisecond))
			}
		}
		say("path %s→%s: %s; keys sent since the heal by the delegators %d, by repairs %d", s.name, o.name, path, gs.Keys-before[i].Keys-repaired, repaired)
	}
	mem("after converging")

	// Every acknowledged key at both sites with its value; the contended keys equal.
	var missing [2]int
	for i, s := range []*site{a, b} {
		bad, first, err := checkKeys(ctx, s, nKeys, acked)
		if err != nil {
			t.Fatalf("reading the unique keys at %s: %v", s.name, err)
		}
		missing[i] = bad
		if bad > 0 {
			t.Errorf("%d of %d acknowledged unique keys missing or wrong at %s, e.g. %s", bad, uniq.Load(), s.name, first)
		}
	}
	ckeys := make([]string, nContended)
	for k := range ckeys {
		ckeys[k] = fmt.Sprintf("cc:%d", k)
	}
	va, err1 := valuesChunked(ctx, a, ckeys)
	vb, err2 := valuesChunked(ctx, b, ckeys)
	if err1 != nil || err2 != nil {
		t.Fatalf("reading the contended keys: %v, %v", err1, err2)
	}
	wonBy := map[string]int{}
	for k, key := range ckeys {
		switch {
		case va[key] != vb[key]:
			t.Errorf("contended %s: %q at %s, %q at %s", key, va[key], a.name, vb[key], b.name)
		case va[key] != contended[0][k] && va[key] != contended[1][k]:
			t.Errorf("contended %s: %q at both sites, neither site's last write (%q, %q)", key, va[key], contended[0][k], contended[1][k])
		case va[key] == contended[0][k]:
			wonBy[a.name]++
		default:
			wonBy[b.name]++
		}
	}
	say("checked: %d acknowledged unique keys at both sites (%d and %d missing or wrong), %d contended keys equal at both (last write of %s %d, of %s %d)",
		uniq.Load(), missing[0], missing[1], nContended, a.name, wonBy[a.name], b.name, wonBy[b.name])
	return res
}

// uniqueKV is the benchmark's unique key i and its 64-byte value.
func uniqueKV(i int) (string, string) {
	v := strconv.Itoa(i) + "."
	return "cv:" + strconv.Itoa(i), v + strings.Repeat("x", 64-len(v))
}

// pipeClients is n clients of s (their own connection pools), closed with the test.
func pipeClients(s *site, n int) []*redis.ClusterClient {
	out := make([]*redis.ClusterClient, n)
	for i := range out {
		opts := *s.rdb.Options()
		out[i] = redis.NewClusterClient(&opts)
	}
	return out
}

// setKeys SETs the keys kv gives for [from, to) at s, the clients sending pipelines of
// 500 concurrently, and calls ack (if given) for each acknowledged one, each index from
// one goroutine. It stops at the first failed pipeline, and closes the clients.
func setKeys(ctx context.Context, s *site, from, to int, clients []*redis.ClusterClient, kv func(int) (string, string), ack func(int)) error {
	const chunk = 500
	var next atomic.Int64
	next.Store(int64(from))
	errs := make(chan error, len(clients))
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= to || ctx.Err() != nil {
					return
				}
				hi := min(lo+chunk, to)
				cmds := make([]*redis.StatusCmd, 0, hi-lo)
				_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := lo; i < hi; i++ {
						k, v := kv(i)
						cmds = append(cmds, p.Set(ctx, k, v, 0))
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("SET of keys %d..%d at %s: %w", lo, hi-1, s.name, err)
					return
				}
				if ack != nil {
					for j, cmd := range cmds {
						if cmd.Err() == nil {
							ack(lo + j)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// checkKeys reads the unique keys acknowledged (acked[i]) at s and returns how many are
// missing or hold another value, and the first of them.
func checkKeys(ctx context.Context, s *site, n int, acked []bool) (int, string, error) {
	bad, first := 0, ""
	const chunk = 20000
	for lo := 0; lo < n; lo += chunk {
		var keys []string
		var want []string
		for i := lo; i < min(lo+chunk, n); i++ {
			if acked[i] {
				k, v := uniqueKV(i)
				keys, want = append(keys, k), append(want, v)
			}
		}
		got, err := s.values(ctx, keys)
		if err != nil {
			return 0, "", err
		}
		for j, k := range keys {
			if got[k] != want[j] {
				bad++
				if first == "" {
					first = fmt.Sprintf("%s=%.20q", k, got[k])
				}
			}
		}
	}
	return bad, first, nil
}

// valuesChunked reads keys at s in pipelines of 20000.
func valuesChunked(ctx context.Context, s *site, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	for lo := 0; lo < len(keys); lo += 20000 {
		got, err := s.values(ctx, keys[lo:min(lo+20000, len(keys))])
		if err != nil {
			return nil, err
		}
		for k, v := range got {
			out[k] = v
		}
	}
	return out, nil
}

// waitFor calls cond every second until it holds, for at most d: the error says what it
// last reported. (A gateway status counts the backlog over the metadata under the
// tracker's lock: polled faster, it would slow what it measures.)
func waitFor(ctx context.Context, d time.Duration, cond func() (bool, string)) error {
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("not within %s: %s", d, why)
		}
		sleepCtx(ctx, time.Second)
	}
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// gatewayOf is s's gateway status; an error when it has no target.
func gatewayOf(ctx context.Context, s *site) (api.WANGatewayStatus, error) {
	var gs api.WANGatewayStatus
	if err := getGateway(ctx, s, &gs); err != nil {
		return gs, fmt.Errorf("site %s's gateway status: %w", s.name, err)
	}
	if len(gs.Targets) == 0 {
		return gs, fmt.Errorf("site %s's gateway status names no target", s.name)
	}
	return gs, nil
}

// pathOf says what a gateway's status shows of its target: the backlog, the partitions
// out of sync and the times they were marked (the outbox bound hit: resynchronized from
// the metadata), the repairs by digests, and what it sent.
func pathOf(gs api.WANGatewayStatus) string {
	var reps []string
	for _, r := range gs.Repairs {
		reps = append(reps, fmt.Sprintf("#%d %s %d/%d slots %d keys", r.ID, r.State, r.SlotsDiffering, r.SlotsCompared, r.KeysSent))
	}
	tg := gs.Targets[0]
	return fmt.Sprintf("backlog %d, out of sync partitions %v (marked %d times), repairs [%s], sent %d keys %d batches %.1f MB, errors %d",
		tg.Backlog, tg.OutOfSyncPartitions, marked(gs), strings.Join(reps, "; "), gs.Keys, gs.Batches, float64(gs.Bytes)/1e6, gs.Errors)
}

// marked is how many times the gateway's partitions marked its target out of sync.
func marked(gs api.WANGatewayStatus) uint64 {
	var n uint64
	for _, p := range gs.Partitions {
		for _, tg := range p.Targets {
			n += tg.MarkedOutOfSync
		}
	}
	return n
}

// digestsOf is s's per-slot digests as its gateway serves them to site asking, in slot
// order; the request goes from inside s's namespace.
func digestsOf(ctx context.Context, s *site, asking string) ([]wan.SiteDigest, error) {
	pem, err := os.ReadFile(filepath.Join(s.dir, "tls", "ca.crt"))
	if err != nil {
		return nil, err
	}
	tok, err := os.ReadFile(filepath.Join(s.dir, "operator-token"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := s.httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	hc.Timeout = 60 * time.Second
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+s.gateway()+wan.PathDigests, strings.NewReader(fmt.Sprintf(`{"site":%q}`, asking)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("site %s's digests: %w", s.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("site %s's digests: %s %.200s %v", s.name, resp.Status, body, err)
	}
	var res struct {
		Digests []wan.SiteDigest `json:"digests"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("site %s's digests: %w", s.name, err)
	}
	slices.SortFunc(res.Digests, func(a, b wan.SiteDigest) int { return a.Slot - b.Slot })
	return res.Digests, nil
}

// rss is the resident memory of the site's data instances and of its local process (the
// supervisor and the gateway), now and at its peak (VmHWM), in MB.
func (s *site) rss() string {
	pids := map[string]int{"local": s.cmd.Process.Pid}
	for k, p := range s.pids {
		pids[k] = p
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(pids)) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pids[name]))
		if err != nil {
			parts = append(parts, name+" gone")
			continue
		}
		field := func(f string) string {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, f+":") {
					kb, _ := strconv.Atoi(strings.Fields(l)[1])
					return fmt.Sprintf("%.0f", float64(kb)/1024)
				}
			}
			return "?"
		}
		parts = append(parts, fmt.Sprintf("%s %s MB (peak %s)", name, field("VmRSS"), field("VmHWM")))
	}
	return s.name + ": " + strings.Join(parts, ", ")
}
