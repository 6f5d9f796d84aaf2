package itest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/testutil"
)

// writer writes at one site until stopped and remembers what was acknowledged.
type writer struct {
	site    string
	mu      sync.Mutex
	unique  map[string]string // key → last acknowledged value ("" deleted)
	hashes  map[string]map[string]string
	contend map[string]string // contended key → this site's last acknowledged value
	errs    int
}

func newWriter(site string) *writer {
	return &writer{site: site, unique: map[string]string{}, hashes: map[string]map[string]string{}, contend: map[string]string{}}
}

// run writes until ctx ends: a new string key each round, a hash every 5th, a deletion
// of the previous key every 7th, and one of 20 keys both sites write.
func (w *writer) run(ctx context.Context, c *redis.ClusterClient) {
	for i := 0; ctx.Err() == nil; i++ {
		k := fmt.Sprintf("u:%s:%d", w.site, i)
		v := fmt.Sprintf("v%d", i)
		if c.Set(ctx, k, v, 0).Err() == nil {
			w.mu.Lock()
			w.unique[k] = v
			w.mu.Unlock()
		} else {
			w.errs++
		}
		if i%5 == 0 {
			h := fmt.Sprintf("h:%s:%d", w.site, i)
			if c.HSet(ctx, h, "n", i, "site", w.site).Err() == nil {
				w.mu.Lock()
				w.hashes[h] = map[string]string{"n": fmt.Sprint(i), "site": w.site}
				w.mu.Unlock()
			}
		}
		if i%7 == 6 {
			prev := fmt.Sprintf("u:%s:%d", w.site, i-1)
			if c.Del(ctx, prev).Err() == nil {
				w.mu.Lock()
				w.unique[prev] = ""
				w.mu.Unlock()
			}
		}
		ck := fmt.Sprintf("c:%d", i%20)
		cv := fmt.Sprintf("%s:%d", w.site, i)
		if c.Set(ctx, ck, cv, 0).Err() == nil {
			w.mu.Lock()
			w.contend[ck] = cv
			w.mu.Unlock()
		}
	}
}

// lag writes a key at from and measures how long until it is readable at to.
func lag(ctx context.Context, from, to *site, n int) time.Duration {
	k := fmt.Sprintf("lag:%s:%d", from.name, n)
	t0 := time.Now()
	if from.rdb.Set(ctx, k, "x", 0).Err() != nil {
		return -1
	}
	for ctx.Err() == nil {
		if v, err := to.rdb.Get(ctx, k).Result(); err == nil && v == "x" {
			return time.Since(t0)
		}
		time.Sleep(time.Millisecond)
	}
	return -1
}

// lagsBothWays probes the lag from a to b and from b to a, one probe after the other each
// way, for d; it returns every probe that arrived.
func lagsBothWays(ctx context.Context, d time.Duration, a, b *site) []time.Duration {
	pctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	var lags []time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, pair := range [][2]*site{{a, b}, {b, a}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; pctx.Err() == nil; i++ {
				if l := lag(pctx, pair[0], pair[1], i); l >= 0 {
					mu.Lock()
					lags = append(lags, l)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return lags
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

func TestTwoSitesReplicateBothWaysAndConverge(t *testing.T) {
	sp := specs(t, "london", "newyork")
	sp[0].partitions, sp[0].ha = 2, true
	sp[1].partitions = 3
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)

	ctx := ctxFor(t, 4*time.Minute)
	wctx, stop := context.WithTimeout(ctx, 6*time.Second)
	defer stop()
	wa, wb := newWriter(a.name), newWriter(b.name)
	var wg sync.WaitGroup
	var lags []time.Duration
	var lmu sync.Mutex
	wg.Add(4)
	go func() { defer wg.Done(); wa.run(wctx, a.rdb) }()
	go func() { defer wg.Done(); wb.run(wctx, b.rdb) }()
	for _, pair := range [][2]*site{{a, b}, {b, a}} {
		go func() {
			defer wg.Done()
			for n := 0; wctx.Err() == nil; n++ {
				if d := lag(wctx, pair[0], pair[1], n); d >= 0 {
					lmu.Lock()
					lags = append(lags, d)
					lmu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("written: %s %d keys (%d errors), %s %d keys (%d errors); replication lag under that load over %d probes: p50 %s p99 %s",
		a.name, len(wa.unique), wa.errs, b.name, len(wb.unique), wb.errs, len(lags), pct(lags, 0.5), pct(lags, 0.99))
	if len(wa.unique) < 50 || len(wb.unique) < 50 {
		t.Fatalf("too few writes acknowledged (%d, %d) to say anything", len(wa.unique), len(wb.unique))
	}

	var keys []string
	want := map[string]string{}
	for _, w := range []*writer{wa, wb} {
		for k, v := range w.unique {
			keys, want[k] = append(keys, k), v
		}
	}
	var contended []string
	for i := range 20 {
		contended = append(contended, fmt.Sprintf("c:%d", i))
	}
	var last string
	testutil.Eventually(t, 90*time.Second, "both sites holding every acknowledged write", func() bool {
		for _, s := range []*site{a, b} {
			got, err := s.values(ctx, keys)
			if err != nil {
				last = err.Error()
				return false
			}
			for _, k := range keys {
				if got[k] != want[k] {
					last = fmt.Sprintf("site %s: %s=%q, want %q", s.name, k, got[k], want[k])
					return false
				}
			}
			for _, w := range []*writer{wa, wb} {
				for h, fields := range w.hashes {
					m, err := s.rdb.HGetAll(ctx, h).Result()
					if err != nil || fmt.Sprint(m) != fmt.Sprint(fields) {
						last = fmt.Sprintf("site %s: hash %s = %v (%v), want %v", s.name, h, m, err, fields)
						return false
					}
				}
			}
		}
		ca, err1 := a.values(ctx, contended)
		cb, err2 := b.values(ctx, contended)
		if err1 != nil || err2 != nil {
			return false
		}
		for _, k := range contended {
			if ca[k] != cb[k] {
				last = fmt.Sprintf("contended %s: %s holds %q, %s holds %q", k, a.name, ca[k], b.name, cb[k])
				return false
			}
			// Last-writer-wins: the survivor is one site's last write of the key (a
			// site's earlier writes carry older timestamps than its later ones).
			if ca[k] != wa.contend[k] && ca[k] != wb.contend[k] {
				t.Fatalf("contended %s converged to %q, neither site's last write (%q, %q)", k, ca[k], wa.contend[k], wb.contend[k])
			}
		}
		return true
	})
	if t.Failed() {
		t.Log(last)
	}
	for p := range 2 {
		testutil.Eventually(t, 30*time.Second, "no backlog at london", func() bool {
			st, err := a.primaryStatus(p)
			return err == nil && len(st.Targets) == 1 && st.Targets[0].Backlog == 0 && !st.Targets[0].OutOfSync
		})
	}
}

func TestKilledSourcePrimaryLosesNoUnsentChange(t *testing.T) {
	sp := specs(t, "hongkong", "london")
	sp[0].ha = true
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 4*time.Minute)
	testutil.Eventually(t, 30*time.Second, "hongkong's partition with an in-sync backup", func() bool {
		ps, err := a.mgr.Partitions(ctx)
		return err == nil && len(ps) == 1 && ps[0].InSync && ps[0].Backup != ""
	})

	b.signal(t, syscall.SIGSTOP) // london's gateway stops: nothing is delivered
	const n = 400
	for i := range n {
		if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET k:%d: %v", i, err)
		}
	}
	st, err := a.primaryStatus(0)
	if err != nil || st.Targets[0].Backlog != n {
		t.Fatalf("hongkong's outbox before the kill: %+v, %v; want a backlog of %d", st, err, n)
	}
	if err := syscall.Kill(a.pids["p0-i0"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the backup serving as primary", func() bool {
		ps, err := a.mgr.Partitions(ctx)
		return err == nil && len(ps) == 1 && ps[0].Primary == "p0-i1"
	})
	st, err = a.status(0, 1)
	if err != nil || st.Targets[0].Backlog != n {
		t.Fatalf("the new primary's outbox: %+v, %v; want the %d unsent keys", st, err, n)
	}
	b.signal(t, syscall.SIGCONT)
	testutil.Eventually(t, 90*time.Second, "london holding every key written at hongkong", func() bool {
		return b.holdsNumbered(ctx, n)
	})
	testutil.Eventually(t, 30*time.Second, "no backlog left at hongkong", func() bool {
		st, err := a.primaryStatus(0)
		return err == nil && st.Targets[0].Backlog == 0
	})
}

func TestFullOutboxMarksOutOfSyncThenResyncs(t *testing.T) {
	sp := specs(t, "paris", "tokyo")
	sp[0].args = []string{"--wan-outbox-max", "20", "--wan-outbox-full", "mark-out-of-sync"}
	a := start(t, sp[0], sp) // tokyo is down
	ctx := ctxFor(t, 3*time.Minute)
	const n = 100
	for i := range n {
		if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET k:%d with the outbox full: %v (mark-out-of-sync never holds writes)", i, err)
		}
	}
	st, err := a.primaryStatus(0)
	if err != nil || !st.Targets[0].OutOfSync || st.Targets[0].MarkedOutOfSync == 0 || st.Targets[0].Backlog != n || st.Outbox > 20 {
		t.Fatalf("paris after %d writes with tokyo down: %+v, %v; want tokyo out of sync, its backlog %d, the outbox within 20", n, st, err, n)
	}
	data, err := get(ctx, nil, fmt.Sprintf("http://127.0.0.1:%d/metrics", a.base+2010))
	if err != nil || !strings.Contains(data, `insight_wan_out_of_sync{target="tokyo"} 1`) || !strings.Contains(data, `insight_wan_marked_out_of_sync_total{target="tokyo"} 1`) {
		t.Errorf("paris's data instance metrics (%v) lack tokyo out of sync:\n%s", err, grepLines(data, "insight_wan_"))
	}
	gw, err := get(ctx, a, "https://"+a.gateway()+"/metrics")
	if err != nil || !strings.Contains(gw, `insight_wan_gateway_out_of_sync_partitions{target="tokyo"} 1`) || !strings.Contains(gw, `insight_wan_gateway_backlog_keys{target="tokyo"} 100`) {
		t.Errorf("paris's gateway metrics (%v) lack tokyo's backlog and out-of-sync partition:\n%s", err, grepLines(gw, "insight_wan_"))
	}
	b := start(t, sp[1], sp)
	testutil.Eventually(t, 90*time.Second, "tokyo resynchronized", func() bool {
		if !b.holdsNumbered(ctx, n) {
			return false
		}
		st, err := a.primaryStatus(0)
		return err == nil && !st.Targets[0].OutOfSync && st.Targets[0].Backlog == 0
	})
}

func TestFullOutboxBlocksWritesUntilTheTargetTakesThem(t *testing.T) {
	sp := specs(t, "berlin", "sydney")
	sp[0].args = []string{"--wan-outbox-max", "20", "--wan-outbox-full", "block"}
	a := start(t, sp[0], sp) // sydney is down
	ctx := ctxFor(t, 3*time.Minute)
	const n = 60
	var acked sync.WaitGroup
	done := make(chan error, 1)
	var count int64
	var mu sync.Mutex
	acked.Add(1)
	go func() {
		defer acked.Done()
		for i := range n {
			if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
				done <- err
				return
			}
			mu.Lock()
			count++
			mu.Unlock()
		}
		done <- nil
	}()
	testutil.Eventually(t, 30*time.Second, "a write reply held by the full outbox", func() bool {
		st, err := a.primaryStatus(0)
		return err == nil && st.BlockedWrites > 0
	})
	mu.Lock()
	held := count
	mu.Unlock()
	if held > 21 {
		t.Fatalf("%d writes acknowledged with an outbox of 20 and the target down", held)
	}
	b := start(t, sp[1], sp)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a held write failed: %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the held writes were not let go once sydney took the outbox")
	}
	acked.Wait()
	testutil.Eventually(t, 60*time.Second, "sydney holding every write", func() bool {
		return b.holdsNumbered(ctx, n)
	})
}

func TestWANEndpointsRefuseBadRequests(t *testing.T) {
	sp := specs(t, "oslo", "lima")
	sp[0].partitions = 2 // foo (slot 12182) is partition 1's
	a := start(t, sp[0], sp)
	tok, err := os.ReadFile(filepath.Join(a.dir, "operator-token"))
	if err != nil {
		t.Fatal(err)
	}
	data := fmt.Sprintf("http://127.0.0.1:%d", a.base+1010)
	post := func(url, token, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	token := strings.TrimSpace(string(tok))
	for _, tc := range []struct {
		name, path, token, body string
		code                    int
		want                    string
	}{
		{"no token", "/v1/wan/pull", "", `{"target":"lima","max":10}`, 401, "operator token"},
		{"wrong token", "/v1/wan/pull", "nope", `{"target":"lima","max":10}`, 403, "not this grid's"},
		{"unknown target", "/v1/wan/pull", token, `{"target":"rome","max":10}`, 400, `target \"rome\": not a target site of this grid`},
		{"max", "/v1/wan/pull", token, `{"target":"lima","max":0}`, 400, "max 0: must be between 1 and 100000"},
		{"unknown field", "/v1/wan/ack", token, `{"target":"lima","upto":1,"x":1}`, 400, "unknown field"},
		{"own site", "/v1/wan/apply", token, `{"changes":[{"k":"Zm9v","h":1,"s":"oslo"}]}`, 400, "comes from this site"},
		{"no timestamp", "/v1/wan/apply", token, `{"changes":[{"k":"Zm9v","s":"lima"}]}`, 400, "has no timestamp"},
		{"wrong partition", "/v1/wan/apply", token, `{"changes":[{"k":"Zm9v","h":1,"s":"lima"}]}`, 409, "is not in a slot of partition 0"},
	} {
		code, body := post(data+tc.path, tc.token, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	// The gateway's sink: the site's token, a well-formed batch from another site.
	gw := "https://" + a.gateway() + "/v1/wan/batch"
	pem, _ := os.ReadFile(filepath.Join(a.dir, "tls", "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	for _, tc := range []struct {
		name, token, body string
		code              int
		want              string
	}{
		{"sink without token", "", `{}`, 401, "operator token"},
		{"sink from itself", token, `{"site":"oslo","changes":[]}`, 400, `batch from site \"oslo\", which is this site`},
		{"sink garbage", token, `{"site":`, 400, "batch:"},
	} {
		req, _ := http.NewRequest(http.MethodPost, gw, strings.NewReader(tc.body))
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, resp.StatusCode, b, tc.code, tc.want)
		}
	}
}

func TestRepartitioningASiteDeletesNothingAtTheOther(t *testing.T) {
	sp := specs(t, "madrid", "rome")
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 3*time.Minute)
	const n = 300
	for i := range n {
		if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	allAt := func(s *site) func() bool { return func() bool { return s.holdsNumbered(ctx, n) } }
	testutil.Eventually(t, 60*time.Second, "rome holding madrid's keys", allAt(b))
	tok, err := os.ReadFile(filepath.Join(a.dir, "operator-token"))
	if err != nil {
		t.Fatal(err)
	}
	a.mgr.Token = func() (string, error) { return strings.TrimSpace(string(tok)), nil }
	if _, err := a.mgr.RequestRepartition(ctx, 2, nil); err != nil {
		t.Fatalf("repartition madrid to 2 partitions: %v", err)
	}
	testutil.Eventually(t, 90*time.Second, "madrid re-partitioned", func() bool {
		r, err := a.mgr.Repartition(ctx)
		return err == nil && r.Partitions == 2 && r.Idle()
	})
	// The moved keys were deleted at their old partition: none of that reaches rome,
	// which keeps every key (and gets the moved ones again, stamped by their new partition).
	testutil.Eventually(t, 60*time.Second, "no backlog at madrid's partitions", func() bool {
		for p := range 2 {
			st, err := a.primaryStatus(p)
			if err != nil || st.Targets[0].Backlog != 0 {
				return false
			}
		}
		return true
	})
	if !allAt(b)() {
		keys := numberedKeys(n)
		got, _ := b.values(ctx, keys)
		missing := 0
		for _, k := range keys {
			if got[k] == "" {
				missing++
			}
		}
		t.Fatalf("rome lost %d of madrid's keys to madrid's re-partitioning", missing)
	}
	if !allAt(a)() {
		t.Fatal("madrid lost keys in its re-partitioning")
	}
}
