package manager

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/wan/hlc"
)

// fakeWANInstance is a ready data instance answering GET /v1/wan/status with st, or
// with HTTP 404 when st is nil (WAN off).
func fakeWANInstance(t *testing.T, st *api.WANInstanceStatus) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/status":
			httpjson.Write(w, http.StatusOK, cluster.InstanceStatus{Ready: true})
		case r.Method == http.MethodGet && r.URL.Path == pathWANStatus && st != nil:
			httpjson.Write(w, http.StatusOK, st)
		case r.Method == http.MethodGet && r.URL.Path == pathWANStatus:
			httpjson.Error(w, http.StatusNotFound, "NotFound", "WAN replication is off on this instance (no --wan-site)")
		default:
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func getOverview(t *testing.T, tm *testManager) api.Overview {
	t.Helper()
	resp, err := http.Get(tm.api.URL + api.PathOverview)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/overview: HTTP %d", resp.StatusCode)
	}
	var o api.Overview
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestWANOverviewSumsThePrimariesPerTargetSite: three partitions of site ny, two
// targets; partition 2's primary answers 404. Per target, the backlog is the sum, the
// lag the largest of the partitions with a backlog, the last acknowledgement the oldest,
// the out-of-sync partitions listed; the backup is never asked.
func TestWANOverviewSumsThePrimariesPerTargetSite(t *testing.T) {
	tm := newTestManager(t, 3, true)
	tm.cfg.WANSite = "ny"
	now := time.Now()
	old, recent := now.Add(-90*time.Second), now.Add(-time.Second)
	ts := func(t time.Time) uint64 { return hlc.Make(t.UnixMilli(), 3) }
	p0 := &api.WANInstanceStatus{Site: "ny", Targets: []api.WANInstanceTarget{
		{Site: "ldn", AckedHLC: ts(old), Backlog: 40},
		{Site: "sfo", AckedHLC: ts(recent), Backlog: 0},
	}}
	p1 := &api.WANInstanceStatus{Site: "ny", Targets: []api.WANInstanceTarget{
		{Site: "ldn", AckedHLC: ts(recent), Backlog: 2, OutOfSync: true, MarkedOutOfSync: 1},
		{Site: "sfo", AckedHLC: 0, Backlog: 5},
	}}
	tm.register(t, 0, 0, "r", fakeWANInstance(t, p0))
	tm.register(t, 0, 1, "r", fakeWANInstance(t, nil)) // the backup: asking it would fail
	tm.register(t, 1, 0, "r", fakeWANInstance(t, p1))
	tm.register(t, 2, 0, "r", fakeWANInstance(t, nil))

	o := getOverview(t, tm)
	w := o.WAN
	if w == nil || w.Site != "ny" || len(w.Targets) != 2 {
		t.Fatalf("wan %+v: want site ny with the targets ldn and sfo", w)
	}
	ldn, sfo := w.Targets[0], w.Targets[1]
	if ldn.Site != "ldn" || ldn.Backlog != 42 || len(ldn.OutOfSyncPartitions) != 1 || ldn.OutOfSyncPartitions[0] != 1 {
		t.Fatalf("ldn %+v: want backlog 42 and partition 1 out of sync", ldn)
	}
	if ldn.LagSeconds < 89 || ldn.LagSeconds > 120 {
		t.Fatalf("ldn lag %.1f s: want partition 0's, about 90 s", ldn.LagSeconds)
	}
	wantOld := hlc.Time(ts(old)).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if ldn.LastAck != wantOld {
		t.Fatalf("ldn last ack %q, want the oldest, %q", ldn.LastAck, wantOld)
	}
	if len(ldn.Partitions) != 2 || ldn.Partitions[0].Partition != 0 || ldn.Partitions[0].Primary != "p0-i0" || ldn.Partitions[0].OutOfSync ||
		ldn.Partitions[1].Partition != 1 || ldn.Partitions[1].Backlog != 2 || !ldn.Partitions[1].OutOfSync {
		t.Fatalf("ldn partitions %+v", ldn.Partitions)
	}
	// sfo: partition 1 has had nothing acknowledged; its lag is then unknown, not 0 s
	// of partition 0 (no backlog there).
	if sfo.Site != "sfo" || sfo.Backlog != 5 || sfo.LastAck != "" || sfo.LagSeconds != 0 || len(sfo.OutOfSyncPartitions) != 0 {
		t.Fatalf("sfo %+v: want backlog 5, no last ack", sfo)
	}
	if len(w.Unanswered) != 1 || w.Unanswered[0].Partition != 2 || !strings.Contains(w.Unanswered[0].Error, "WAN replication is off") {
		t.Fatalf("unanswered %+v: want partition 2 with its primary's 404 message", w.Unanswered)
	}
	alerts := map[string]string{}
	for _, a := range o.Alerts {
		if a.Severity == "warning" {
			alerts[a.Subject] += a.Message
		}
	}
	if !strings.Contains(alerts["WAN site ldn"], "partitions [1] out of sync") || !strings.Contains(alerts["partition 2"], "no WAN status") || alerts["WAN site sfo"] != "" {
		t.Fatalf("warnings %q: want ldn's partition 1 out of sync and partition 2 without WAN status", alerts)
	}
}

// TestWANOverviewNamesAPartitionWithoutAPrimary: an unregistered primary is a row of
// Unanswered, the other partitions still count.
func TestWANOverviewNamesAPartitionWithoutAPrimary(t *testing.T) {
	tm := newTestManager(t, 2, false)
	tm.cfg.WANSite = "ny"
	tm.register(t, 0, 0, "r", fakeWANInstance(t, &api.WANInstanceStatus{Site: "ny", Targets: []api.WANInstanceTarget{{Site: "ldn", Backlog: 7}}}))
	w := getOverview(t, tm).WAN
	if w == nil || len(w.Targets) != 1 || w.Targets[0].Backlog != 7 || len(w.Unanswered) != 1 || w.Unanswered[0].Partition != 1 ||
		!strings.Contains(w.Unanswered[0].Error, "not registered") {
		t.Fatalf("wan %+v: want ldn's backlog 7 and partition 1 unanswered as not registered", w)
	}
}

// TestOverviewHasNoWANSectionWhenNotASite: without --wan-site the manager asks no
// instance for WAN state and the overview has no "wan" key at all.
func TestOverviewHasNoWANSectionWhenNotASite(t *testing.T) {
	tm := newTestManager(t, 1, false)
	asked := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pathWANStatus {
			asked <- r.URL.Path
		}
		httpjson.Write(w, http.StatusOK, cluster.InstanceStatus{Ready: true})
	}))
	t.Cleanup(srv.Close)
	tm.register(t, 0, 0, "r", strings.TrimPrefix(srv.URL, "http://"))
	resp, err := http.Get(tm.api.URL + api.PathOverview)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["partitions"]; !ok {
		t.Fatalf("overview %v: no partitions", doc)
	}
	if w, ok := doc["wan"]; ok {
		t.Fatalf("overview has wan %s, want none when not a site", w)
	}
	select {
	case p := <-asked:
		t.Fatalf("the manager asked %s of an instance when not a site", p)
	default:
	}
}

// TestWANOverviewIsOneReadingForConcurrentViewers: overviews within the freshness of a
// reading (here an hour) share it; the primary is asked once.
func TestWANOverviewIsOneReadingForConcurrentViewers(t *testing.T) {
	tm := newTestManager(t, 1, false)
	tm.cfg.WANSite = "ny"
	tm.wan.fresh = time.Hour
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == pathWANStatus {
			asked.Add(1)
			httpjson.Write(w, http.StatusOK, api.WANInstanceStatus{Site: "ny", Targets: []api.WANInstanceTarget{{Site: "ldn", Backlog: 3}}})
			return
		}
		httpjson.Write(w, http.StatusOK, cluster.InstanceStatus{Ready: true})
	}))
	t.Cleanup(srv.Close)
	tm.register(t, 0, 0, "r", strings.TrimPrefix(srv.URL, "http://"))
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if w := getOverview(t, tm).WAN; w == nil || len(w.Targets) != 1 || w.Targets[0].Backlog != 3 {
				t.Errorf("wan %+v: want ldn's backlog 3", w)
			}
		})
	}
	wg.Wait()
	if n := asked.Load(); n != 1 {
		t.Fatalf("the primary was asked %d times for 6 overviews, want once", n)
	}
}

func TestWANSiteFlagIsChecked(t *testing.T) {
	cfg := Config{Name: "m-0", ClientPort: 1, PeerPort: 2, HTTPPort: 3, Partitions: 1, Heartbeat: 10 * time.Millisecond, Election: time.Second, WANSite: "New York"}
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), `--wan-site "New York": a site name is 1 to 32 characters of a-z, 0-9 and '-'`) {
		t.Fatalf("Validate: %v", err)
	}
	cfg.WANSite = "ny"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate with --wan-site ny: %v", err)
	}
}
