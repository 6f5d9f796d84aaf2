package itest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/wan"
)

// gatewayPost POSTs body to path at s's gateway over HTTPS (trusting s's CA), with s's
// operator token unless noToken; it returns the status and the body.
func gatewayPost(ctx context.Context, t *testing.T, s *site, path, body string, noToken bool) (int, string) {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.dir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+s.gateway()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if !noToken {
		tok, err := os.ReadFile(filepath.Join(s.dir, "operator-token"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s at site %s: %v", path, s.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// siteDigests is s's per-slot digests as its gateway serves them to site asking.
func siteDigests(ctx context.Context, t *testing.T, s *site, asking string) []wan.SiteDigest {
	t.Helper()
	code, body := gatewayPost(ctx, t, s, wan.PathDigests, fmt.Sprintf(`{"site":%q}`, asking), false)
	if code != http.StatusOK {
		t.Fatalf("site %s's digests: %d %s", s.name, code, body)
	}
	var res struct {
		Digests []wan.SiteDigest `json:"digests"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(res.Digests, func(a, b wan.SiteDigest) int { return a.Slot - b.Slot })
	return res.Digests
}

// repairsOf is s's gateway's repairs of target started after since.
func repairsOf(ctx context.Context, s *site, target string, since time.Time) ([]api.WANRepair, error) {
	var gw api.WANGatewayStatus
	if err := getGateway(ctx, s, &gw); err != nil {
		return nil, err
	}
	var out []api.WANRepair
	for _, r := range gw.Repairs {
		if r.Target == target && !repairTime(r.Started).Before(since.Truncate(time.Millisecond)) {
			out = append(out, r)
		}
	}
	return out, nil
}

// repairTime parses a repair's RFC 3339 time; the zero time when it does not parse.
func repairTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// took is how long repair r ran.
func took(r api.WANRepair) time.Duration {
	return repairTime(r.Finished).Sub(repairTime(r.Started))
}

// loseData removes the data instances' directories of a stopped site (its CA and token
// stay, so the other site still trusts it): it comes back empty, as a site whose volumes
// were lost, or one joining.
func loseData(t *testing.T, s *siteSpec) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(s.dir, "instances")); err != nil {
		t.Fatal(err)
	}
}

// setNumbered writes k:i = i for i in [from, to) at s in pipelines.
func setNumbered(ctx context.Context, t *testing.T, s *site, from, to int) {
	t.Helper()
	for lo := from; lo < to; lo += 1000 {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := lo; i < min(lo+1000, to); i++ {
				p.Set(ctx, fmt.Sprintf("k:%d", i), i, 0)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("writing k:%d.. at %s: %v", lo, s.name, err)
		}
	}
}

// holdsRange reports whether s holds k:i = i for i in [from, to) and no k:i below from.
func (s *site) holdsRange(ctx context.Context, from, to int) (bool, string) {
	keys := numberedKeys(to)
	got, err := s.values(ctx, keys)
	if err != nil {
		return false, err.Error()
	}
	for i, k := range keys {
		want := fmt.Sprint(i)
		if i < from {
			want = ""
		}
		if got[k] != want {
			return false, fmt.Sprintf("site %s: %s=%q, want %q", s.name, k, got[k], want)
		}
	}
	return true, ""
}

func TestARestartedSiteIsRepairedByDigestsKeepingDeletions(t *testing.T) {
	sp := specs(t, "lisbon", "vienna")
	sp[0].partitions, sp[1].partitions = 2, 3 // digests are per slot: partitionings may differ
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 5*time.Minute)
	const n = 2000
	setNumbered(ctx, t, b, 0, n)
	testutil.Eventually(t, 60*time.Second, "lisbon holding vienna's keys", func() bool { return a.holdsNumbered(ctx, n) })

	// lisbon goes, and comes back without its data: vienna's outbox holds nothing for it
	// (lisbon acknowledged every key), only what vienna writes meanwhile — deletions of
	// k:0..9 and new keys. The rest comes back by digests, the repair lisbon's gateway
	// asks vienna for when it starts.
	stopSite(t, a, false)
	loseData(t, sp[0])
	for i := range 10 {
		if err := b.rdb.Del(ctx, fmt.Sprintf("k:%d", i)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	setNumbered(ctx, t, b, n, n+100)
	restart := time.Now()
	a = start(t, sp[0], sp)
	var last string
	testutil.Eventually(t, 90*time.Second, "lisbon holding every key vienna holds, the deleted ones deleted", func() bool {
		ok, why := a.holdsRange(ctx, 10, n+100)
		last = why
		return ok
	})
	if t.Failed() {
		t.Fatal(last)
	}
	var rep api.WANRepair
	testutil.Eventually(t, 30*time.Second, "vienna's repair of lisbon done", func() bool {
		rs, err := repairsOf(ctx, b, "lisbon", restart)
		if err != nil || len(rs) == 0 {
			return false
		}
		rep = rs[len(rs)-1]
		return rep.State == api.WANRepairDone
	})
	t.Logf("vienna's repair of lisbon: %d slots compared, %d differing, %d keys sent in %s",
		rep.SlotsCompared, rep.SlotsDiffering, rep.KeysSent, took(rep))
	if rep.KeysSent < n-10 || rep.SlotsDiffering == 0 || rep.SlotsCompared < rep.SlotsDiffering {
		t.Fatalf("vienna's repair of lisbon %+v: want at least the %d keys lisbon had acknowledged", rep, n-10)
	}
	testutil.Eventually(t, 30*time.Second, "identical digests at both sites", func() bool {
		da, db := siteDigests(ctx, t, a, "vienna"), siteDigests(ctx, t, b, "lisbon")
		last = fmt.Sprintf("%d slots at lisbon, %d at vienna, %d differing", len(da), len(db), len(wan.DiffSlots(da, db)))
		return len(da) > 0 && slices.Equal(da, db)
	})
	if t.Failed() {
		t.Fatal(last)
	}

	// A key deleted at vienna while lisbon's gateway is stopped: a repair from lisbon,
	// which still holds it (an older write), sends nothing, and the key stays deleted.
	a.signal(t, syscall.SIGSTOP)
	if err := b.rdb.Del(ctx, "k:10").Err(); err != nil {
		t.Fatal(err)
	}
	a.signal(t, syscall.SIGCONT)
	// vienna may have asked lisbon to repair it too (its own start's request, retried
	// until lisbon answered): a repair running is refused with 409 until it ends.
	var code int
	var body string
	testutil.Eventually(t, 30*time.Second, "lisbon starting a repair of vienna", func() bool {
		code, body = gatewayPost(ctx, t, a, api.PathWANSync, `{"target":"vienna"}`, false)
		return code != http.StatusConflict
	})
	var started api.WANRepairStarted
	if err := json.Unmarshal([]byte(body), &started); code != http.StatusAccepted || err != nil || started.Target != "vienna" || started.State != api.WANRepairRunning || started.ID == 0 {
		t.Fatalf("POST %s at lisbon: %d %s; want 202 and a running repair of vienna", api.PathWANSync, code, body)
	}
	testutil.Eventually(t, 60*time.Second, "lisbon's repair of vienna done", func() bool {
		rs, err := repairsOf(ctx, a, "vienna", restart)
		if err != nil {
			return false
		}
		for _, r := range rs {
			if r.ID == started.ID && r.State != api.WANRepairRunning {
				rep = r
				return true
			}
		}
		return false
	})
	if rep.State != api.WANRepairDone || rep.KeysSent != 0 {
		t.Fatalf("lisbon's repair of vienna %+v: want done, nothing sent (lisbon holds nothing newer)", rep)
	}
	testutil.Eventually(t, 60*time.Second, "k:10 deleted at both sites", func() bool {
		ok1, _ := a.holdsRange(ctx, 11, n+100)
		ok2, _ := b.holdsRange(ctx, 11, n+100)
		return ok1 && ok2
	})
	// lisbon asked vienna once, and took its answer: one repair of lisbon at vienna since
	// the restart, no second request.
	if logs, err := os.ReadFile(a.log); err != nil || strings.Contains(string(logs), `step="asking it to repair this site"`) {
		t.Errorf("lisbon asked vienna to repair it more than once (%v):\n%s", err, grepLines(string(logs), "WAN repair"))
	}
	// Another repair of lisbon may follow at vienna (vienna's delegator seeing lisbon's
	// partitions back in sync): it finds nothing to send.
	rs, err := repairsOf(ctx, b, "lisbon", restart)
	sent := 0
	for _, r := range rs {
		if r.KeysSent > 0 {
			sent++
		}
	}
	if err != nil || len(rs) == 0 || sent != 1 {
		t.Fatalf("vienna's repairs of lisbon since lisbon restarted: %+v, %v; want the one lisbon asked for to have sent the keys, any other nothing", rs, err)
	}
}

func TestSyncEndpointsRefuseBadRequests(t *testing.T) {
	sp := specs(t, "quito", "dakar")
	a := start(t, sp[0], sp) // dakar never starts
	ctx := ctxFor(t, 2*time.Minute)
	for _, tc := range []struct {
		name, path, body string
		noToken          bool
		code             int
		want             string
	}{
		{"sync without token", api.PathWANSync, `{"target":"dakar"}`, true, 401, "operator token"},
		{"sync of an unknown target", api.PathWANSync, `{"target":"rome"}`, false, 400, `target \"rome\": not a target site of this gateway (targets: dakar)`},
		{"sync with an unknown field", api.PathWANSync, `{"target":"dakar","x":1}`, false, 400, "unknown field"},
		{"digests for itself", wan.PathDigests, `{"site":"quito"}`, false, 400, `request from site \"quito\", which is this site`},
		{"digests from a bad name", wan.PathDigests, `{"site":"Bad Name"}`, false, 400, "a site name is 1 to 32 characters"},
		{"entries of a slot out of range", wan.PathEntries, `{"site":"dakar","slots":[16384]}`, false, 400, "slot 16384: want 0 to 16383"},
		{"digests without token", wan.PathDigests, `{"site":"dakar"}`, true, 401, "operator token"},
	} {
		code, body := gatewayPost(ctx, t, a, tc.path, tc.body, tc.noToken)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, code, body, tc.code, tc.want)
		}
	}
	// A repair of a site that is down fails, saying why.
	code, body := gatewayPost(ctx, t, a, api.PathWANSync, `{"target":"dakar"}`, false)
	if code != http.StatusAccepted && (code != http.StatusConflict || !strings.Contains(body, "is running")) {
		t.Fatalf("sync of dakar: %d %s", code, body)
	}
	testutil.Eventually(t, 60*time.Second, "a failed repair of dakar in quito's status", func() bool {
		rs, err := repairsOf(ctx, a, "dakar", time.Time{})
		if err != nil {
			return false
		}
		for _, r := range rs {
			if r.State == api.WANRepairFailed && strings.Contains(r.Error, "dakar") && r.Finished != "" && !repairTime(r.Finished).Before(repairTime(r.Started)) {
				return true
			}
		}
		return false
	})
	// The data instances' repair endpoints refuse slots of another partition.
	tok, err := os.ReadFile(filepath.Join(a.dir, "operator-token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/wan/digests", `{"slots":[[0,20000]]}`, "slot range 0-20000"},
		{"/v1/wan/entries", `{"slots":[-1]}`, "slot -1: want 0 to 16383"},
		{"/v1/wan/changes", `{"entries":[{"k":"Zm9v","s":"dakar"}]}`, "want a key, a timestamp and a site"},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", a.base+1010, tc.path), strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s; want 400 and %q", tc.path, resp.StatusCode, b, tc.want)
		}
	}
}

func TestATargetBackInSyncIsRepairedByDigests(t *testing.T) {
	sp := specs(t, "cairo", "lagos")
	sp[0].args = []string{"--wan-outbox-max", "20", "--wan-outbox-full", "mark-out-of-sync"}
	a := start(t, sp[0], sp) // lagos is down: cairo marks it out of sync
	ctx := ctxFor(t, 3*time.Minute)
	const n = 100
	setNumbered(ctx, t, a, 0, n)
	testutil.Eventually(t, 30*time.Second, "lagos marked out of sync at cairo", func() bool {
		st, err := a.primaryStatus(0)
		return err == nil && st.Targets[0].OutOfSync
	})
	b := start(t, sp[1], sp)
	testutil.Eventually(t, 90*time.Second, "lagos back in sync and repaired", func() bool {
		logs, err := os.ReadFile(a.log)
		return err == nil && b.holdsNumbered(ctx, n) && strings.Contains(string(logs), "WAN repair of a target back in sync")
	})
	rs, err := repairsOf(ctx, a, "lagos", time.Time{})
	if err != nil || !slices.ContainsFunc(rs, func(r api.WANRepair) bool { return r.State != api.WANRepairFailed }) {
		t.Fatalf("cairo's repairs of lagos: %+v, %v", rs, err)
	}
}

// TestBenchWANRepair measures a repair by digests (ci/bench-wan.sh, make bench), skipped
// unless INSIGHT_BENCH_WAN=1: a site holding BENCH_WAN_REPAIR_KEYS keys (100000) the
// other lost (it restarted without its data) repairs it; it prints the time and the keys
// shipped, as the repair's status reports them.
func TestBenchWANRepair(t *testing.T) {
	if os.Getenv("INSIGHT_BENCH_WAN") != "1" {
		t.Skip("the WAN repair benchmark: set INSIGHT_BENCH_WAN=1 (ci/bench-wan.sh)")
	}
	n := envInt("BENCH_WAN_REPAIR_KEYS", 100000)
	sp := specs(t, "oporto", "zurich")
	sp[0].partitions, sp[1].partitions = 2, 2
	a, b := start(t, sp[0], sp), start(t, sp[1], sp)
	ctx := ctxFor(t, 10*time.Minute)
	setNumbered(ctx, t, b, 0, n)
	testutil.Eventually(t, 5*time.Minute, "oporto holding zurich's keys", func() bool { return a.holdsNumbered(ctx, n) })
	var before api.WANGatewayStatus
	if err := getGateway(ctx, b, &before); err != nil {
		t.Fatal(err)
	}
	stopSite(t, a, false)
	loseData(t, sp[0])
	restart := time.Now()
	a = start(t, sp[0], sp)
	started := time.Since(restart)
	var rep api.WANRepair
	testutil.Eventually(t, 5*time.Minute, "zurich's repair of oporto done", func() bool {
		rs, err := repairsOf(ctx, b, "oporto", restart)
		if err != nil || len(rs) == 0 {
			return false
		}
		rep = rs[len(rs)-1]
		return rep.State == api.WANRepairDone
	})
	if !a.holdsNumbered(ctx, n) {
		t.Fatalf("oporto lacks keys after the repair %+v", rep)
	}
	var gw api.WANGatewayStatus
	if err := getGateway(ctx, b, &gw); err != nil {
		t.Fatal(err)
	}
	ran := took(rep)
	t.Logf("bench-wan-repair: %d keys lost at oporto (restarted in %s); zurich's repair: %d slots compared, %d differing, %d keys sent in %s (%.0f keys/s), %d batches, %.1f MB of batches compressed",
		n, started.Round(time.Millisecond), rep.SlotsCompared, rep.SlotsDiffering, rep.KeysSent, ran.Round(time.Millisecond), float64(rep.KeysSent)/ran.Seconds(),
		gw.Batches-before.Batches, float64(gw.Bytes-before.Bytes)/1e6)
}
