package manager

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/registry"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testManager is a manager on an embedded single-member etcd holding a map of
// `partitions` partitions, and its API on an httptest server.
type testManager struct {
	*Manager
	api      *httptest.Server
	logs     *testutil.Buffer
	noQuorum atomic.Bool // makes hasLeader false
}

func newTestManager(t *testing.T, partitions int, ha bool) *testManager {
	t.Helper()
	logs := &testutil.Buffer{}
	cfg := Config{Name: "m-0", DataDir: t.TempDir(), Bind: "127.0.0.1", AdvertiseHost: "127.0.0.1",
		ClientPort: freePort(t), PeerPort: freePort(t), HTTPPort: 1, Partitions: partitions, HA: ha,
		Heartbeat: 10 * time.Millisecond, Election: 100 * time.Millisecond, Version: "test",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := startEtcd(cfg, "", "")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(10 * time.Second):
		e.Close()
		t.Fatal("etcd not ready after 10s")
	}
	m := newManager(cfg, e)
	tm := &testManager{Manager: m, logs: logs}
	m.hasLeader = func() bool { return !tm.noQuorum.Load() && e.Server.Leader() != 0 }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := registry.Bootstrap(ctx, m.cli, partitions, ha); err != nil {
		t.Fatal(err)
	}
	tm.api = httptest.NewServer(m.routes())
	t.Cleanup(func() {
		tm.api.Close()
		m.cli.Close()
		e.Close()
	})
	return tm
}

func (tm *testManager) put(t *testing.T, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tm.cli.Put(ctx, key, string(b)); err != nil {
		t.Fatal(err)
	}
}

func (tm *testManager) setRecord(t *testing.T, p int, r cluster.Record) {
	t.Helper()
	tm.put(t, cluster.PartitionKey(p), r)
}

func (tm *testManager) record(t *testing.T, p int) cluster.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := tm.cli.Get(ctx, cluster.PartitionKey(p))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("reading record %d: %v", p, err)
	}
	var r cluster.Record
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// register writes instance i of partition p as registered with run, answering HTTP at addr.
func (tm *testManager) register(t *testing.T, p, i int, run, addr string) {
	t.Helper()
	tm.put(t, cluster.InstanceKey(p, i), cluster.Instance{ID: cluster.InstanceID(p, i), Partition: p, Instance: i,
		Address: "127.0.0.1:1", HTTPAddress: addr, Run: run})
}

func (tm *testManager) deregister(t *testing.T, p, i int) {
	t.Helper()
	if _, err := tm.cli.Delete(context.Background(), cluster.InstanceKey(p, i)); err != nil {
		t.Fatal(err)
	}
}

// handoverReq is what a fake data instance received.
type handoverReq struct {
	To    string `json:"to"`
	Epoch int64  `json:"epoch"`
}

// fakeInstance is a data instance's POST /v1/handover answering with reply.
type fakeInstance struct {
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []handoverReq
	reply func(n int, req handoverReq) (int, string)
}

func newFakeInstance(t *testing.T, reply func(n int, req handoverReq) (int, string)) *fakeInstance {
	f := &fakeInstance{reply: reply}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/handover" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		var req handoverReq
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		n := len(f.reqs)
		f.mu.Unlock()
		status, body := f.reply(n, req)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeInstance) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeInstance) requests() []handoverReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]handoverReq(nil), f.reqs...)
}

func okHandover(from, to string, epoch int64) func(int, handoverReq) (int, string) {
	return func(int, handoverReq) (int, string) {
		b, _ := json.Marshal(api.SwitchResult{Partition: 0, From: from, To: to, Epoch: epoch, PauseMicros: 850})
		return http.StatusOK, string(b)
	}
}

// post calls the API and decodes the answer into a generic document.
func (tm *testManager) post(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	return tm.postJSON(t, path, "")
}

func errMessage(doc map[string]any) string {
	e, _ := doc["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func TestFailover(t *testing.T) {
	tm := newTestManager(t, 2, true)
	primary := newFakeInstance(t, okHandover("p0-i0", "p0-i1", 4))
	backup := newFakeInstance(t, func(int, handoverReq) (int, string) { return 500, "backup asked" })
	tm.register(t, 0, 0, "run-a", primary.addr())
	tm.register(t, 0, 1, "run-b", backup.addr())
	inSync := cluster.Record{Epoch: 3, Primary: "p0-i0", Backup: "p0-i1", InSync: true, PreferredPrimary: "p0-i0", PrimaryRun: "run-a", BackupRun: "run-b"}

	t.Run("ok", func(t *testing.T) {
		tm.setRecord(t, 0, inSync)
		status, doc := tm.post(t, "/v1/partitions/0/failover")
		if status != 200 || doc["from"] != "p0-i0" || doc["to"] != "p0-i1" || doc["epoch"] != 4.0 || doc["pauseMicros"] != 850.0 {
			t.Fatalf("HTTP %d %v", status, doc)
		}
		reqs := primary.requests()
		if len(reqs) != 1 || reqs[0] != (handoverReq{To: "p0-i1", Epoch: 3}) {
			t.Fatalf("handover requests %+v, want one {p0-i1 3}", reqs)
		}
	})

	tests := []struct {
		name   string
		path   string
		method string
		rec    *cluster.Record
		status int
		want   string
	}{
		{"not in sync", "/v1/partitions/0/failover", "POST", &cluster.Record{Epoch: 3, Primary: "p0-i0", Backup: "p0-i1", PreferredPrimary: "p0-i0"},
			409, "backup p0-i1 is not in sync with primary p0-i0: wait until it has caught up"},
		{"no backup", "/v1/partitions/0/failover", "POST", &cluster.Record{Epoch: 1, Primary: "p0-i0", PreferredPrimary: "p0-i0"},
			409, "partition 0 has no backup"},
		{"unknown partition", "/v1/partitions/7/failover", "POST", nil, 404, "partition 7 not found: the grid has 2 partitions (0-1)"},
		{"bad id", "/v1/partitions/x/failover", "POST", nil, 400, `partition id "x": must be a non-negative integer`},
		{"negative id", "/v1/partitions/-1/failover", "POST", nil, 400, `partition id "-1"`},
		{"GET", "/v1/partitions/0/failover", "GET", nil, 405, "only POST is allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.rec != nil {
				tm.setRecord(t, 0, *tt.rec)
			}
			req, _ := http.NewRequest(tt.method, tm.api.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var doc map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || !strings.Contains(errMessage(doc), tt.want) {
				t.Fatalf("HTTP %d %v, want %d and %q", resp.StatusCode, doc, tt.status, tt.want)
			}
		})
	}

	t.Run("instance refuses", func(t *testing.T) {
		tm.setRecord(t, 0, inSync)
		refusing := newFakeInstance(t, func(int, handoverReq) (int, string) {
			return 409, `{"error":{"code":"Conflict","message":"epoch mismatch: current epoch is 5"}}`
		})
		tm.register(t, 0, 0, "run-a", refusing.addr())
		status, doc := tm.post(t, "/v1/partitions/0/failover")
		if status != 409 || !strings.Contains(errMessage(doc), "primary p0-i0 refused the handover to p0-i1: epoch mismatch: current epoch is 5") {
			t.Fatalf("HTTP %d %v", status, doc)
		}
	})

	t.Run("primary unreachable", func(t *testing.T) {
		tm.setRecord(t, 0, inSync)
		tm.register(t, 0, 0, "run-a", "127.0.0.1:1")
		status, doc := tm.post(t, "/v1/partitions/0/failover")
		if status != 503 || !strings.Contains(errMessage(doc), "primary p0-i0 at 127.0.0.1:1 unreachable") {
			t.Fatalf("HTTP %d %v", status, doc)
		}
	})

	t.Run("primary not registered", func(t *testing.T) {
		tm.setRecord(t, 0, inSync)
		tm.deregister(t, 0, 0)
		status, doc := tm.post(t, "/v1/partitions/0/failover")
		if status != 503 || !strings.Contains(errMessage(doc), "primary p0-i0 is not registered") {
			t.Fatalf("HTTP %d %v", status, doc)
		}
	})

	t.Run("backup not registered", func(t *testing.T) {
		tm.setRecord(t, 0, inSync)
		tm.register(t, 0, 0, "run-a", primary.addr())
		tm.deregister(t, 0, 1)
		status, doc := tm.post(t, "/v1/partitions/0/failover")
		if status != 409 || !strings.Contains(errMessage(doc), "backup p0-i1 is not registered") {
			t.Fatalf("HTTP %d %v", status, doc)
		}
	})

	t.Run("no quorum", func(t *testing.T) {
		tm.noQuorum.Store(true)
		defer tm.noQuorum.Store(false)
		status, doc := tm.post(t, "/v1/partitions/0/failover")
		if status != 503 || !strings.Contains(errMessage(doc), "etcd has no quorum") {
			t.Fatalf("HTTP %d %v", status, doc)
		}
	})
}

func TestFailback(t *testing.T) {
	tm := newTestManager(t, 1, true)
	// p0-i1 serves after a failover; p0-i0 is back as its backup.
	current := newFakeInstance(t, okHandover("p0-i1", "p0-i0", 5))
	tm.register(t, 0, 0, "run-c", "127.0.0.1:1")
	tm.register(t, 0, 1, "run-b", current.addr())

	tm.setRecord(t, 0, cluster.Record{Epoch: 4, Primary: "p0-i1", Backup: "p0-i0", InSync: false, PreferredPrimary: "p0-i0"})
	status, doc := tm.post(t, "/v1/partitions/0/failback")
	if status != 409 || !strings.Contains(errMessage(doc), "backup p0-i0 is not in sync with primary p0-i1") {
		t.Fatalf("out of sync: HTTP %d %v", status, doc)
	}

	tm.setRecord(t, 0, cluster.Record{Epoch: 4, Primary: "p0-i1", Backup: "p0-i0", InSync: true, PreferredPrimary: "p0-i0"})
	status, doc = tm.post(t, "/v1/partitions/0/failback")
	if status != 200 || doc["to"] != "p0-i0" || doc["epoch"] != 5.0 {
		t.Fatalf("failback: HTTP %d %v", status, doc)
	}
	if reqs := current.requests(); len(reqs) != 1 || reqs[0] != (handoverReq{To: "p0-i0", Epoch: 4}) {
		t.Fatalf("handover requests %+v", reqs)
	}

	tm.setRecord(t, 0, cluster.Record{Epoch: 5, Primary: "p0-i0", Backup: "p0-i1", InSync: true, PreferredPrimary: "p0-i0"})
	status, doc = tm.post(t, "/v1/partitions/0/failback")
	if status != 200 || doc["unchanged"] != true || doc["primary"] != "p0-i0" || doc["epoch"] != 5.0 {
		t.Fatalf("unchanged: HTTP %d %v", status, doc)
	}
	if n := len(current.requests()); n != 1 {
		t.Fatalf("%d handover requests, want still 1", n)
	}
}

func TestReset(t *testing.T) {
	tm := newTestManager(t, 2, true)
	lost := cluster.Record{Epoch: 6, Primary: "p1-i1", Backup: "p1-i0", InSync: false, PreferredPrimary: "p1-i0", PrimaryRun: "run-b", BackupRun: "run-a"}

	tm.setRecord(t, 1, lost)
	tm.register(t, 1, 1, "run-b", "127.0.0.1:1")
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/v1/partitions/1/reset", 400, "to do it, repeat with ?confirm=1"},
		{"/v1/partitions/1/reset?confirm=0", 400, `confirm="0"`},
		{"/v1/partitions/9/reset?confirm=9", 404, "partition 9 not found"},
		{"/v1/partitions/1/reset?confirm=1", 409, "primary p1-i1 is alive (registered, run \"run-b\") and holds the partition's data"},
	} {
		status, doc := tm.post(t, tt.path)
		if status != tt.status || !strings.Contains(errMessage(doc), tt.want) {
			t.Fatalf("POST %s: HTTP %d %v, want %d %q", tt.path, status, doc, tt.status, tt.want)
		}
	}
	if got := tm.record(t, 1); got != lost {
		t.Fatalf("refused reset changed the record: %+v", got)
	}

	// An in-sync backup that is alive takes over by itself: no reset.
	tm.deregister(t, 1, 1)
	tm.register(t, 1, 0, "run-a", "127.0.0.1:1")
	synced := lost
	synced.InSync = true
	tm.setRecord(t, 1, synced)
	status, doc := tm.post(t, "/v1/partitions/1/reset?confirm=1")
	if status != 409 || !strings.Contains(errMessage(doc), "backup p1-i0 is alive and in sync") {
		t.Fatalf("in-sync backup: HTTP %d %v", status, doc)
	}

	// The primary restarted (another run, an empty store) and the backup is out of sync.
	tm.setRecord(t, 1, lost)
	tm.register(t, 1, 1, "run-new", "127.0.0.1:1")
	status, doc = tm.post(t, "/v1/partitions/1/reset?confirm=1")
	if status != 200 || doc["epoch"] != 7.0 || doc["primary"] != "p1-i0" || doc["backup"] != "p1-i1" {
		t.Fatalf("reset: HTTP %d %v", status, doc)
	}
	want := cluster.Record{Epoch: 7, Primary: "p1-i0", Backup: "p1-i1", InSync: false, PreferredPrimary: "p1-i0"}
	if got := tm.record(t, 1); got != want {
		t.Fatalf("record after reset %+v, want %+v", got, want)
	}
	if !strings.Contains(tm.logs.String(), "level=WARN msg=\"partition reset: writes held only by lost copies are gone\" partition=1 previousEpoch=6 epoch=7") {
		t.Fatalf("no warning logged:\n%s", tm.logs.String())
	}
	if doc["warning"] != nil {
		t.Fatalf("warning with the preferred primary alive: %v", doc)
	}

	// The preferred primary is down, the other copy alive: the default reset warns, and
	// primary= keeps the surviving copy.
	tm.deregister(t, 1, 0)
	tm.setRecord(t, 1, cluster.Record{Epoch: 7, Primary: "p1-i0", Backup: "p1-i1", PreferredPrimary: "p1-i0", PrimaryRun: "run-a"})
	status, doc = tm.post(t, "/v1/partitions/1/reset?confirm=1&primary=p1-i7")
	if status != 400 || !strings.Contains(errMessage(doc), `primary="p1-i7": want one of partition 1's instances, p1-i0 or p1-i1`) {
		t.Fatalf("bad primary: HTTP %d %v", status, doc)
	}
	status, doc = tm.post(t, "/v1/partitions/1/reset?confirm=1")
	if w, _ := doc["warning"].(string); status != 200 || !strings.Contains(w, "p1-i0 is down and p1-i1 is alive") || !strings.Contains(w, "primary=p1-i1") {
		t.Fatalf("reset to a down preferred primary: HTTP %d %v", status, doc)
	}
	status, doc = tm.post(t, "/v1/partitions/1/reset?confirm=1&primary=p1-i1")
	if status != 200 || doc["primary"] != "p1-i1" || doc["backup"] != "p1-i0" || doc["warning"] != nil {
		t.Fatalf("reset to the surviving copy: HTTP %d %v", status, doc)
	}
	want = cluster.Record{Epoch: 9, Primary: "p1-i1", Backup: "p1-i0", PreferredPrimary: "p1-i0"}
	if got := tm.record(t, 1); got != want {
		t.Fatalf("record after reset %+v, want %+v", got, want)
	}
}

func TestAutoFailback(t *testing.T) {
	tm := newTestManager(t, 1, true)
	const delay = 300 * time.Millisecond
	var leader sync.Mutex
	isLeader := true
	tm.isLeader = func() bool { leader.Lock(); defer leader.Unlock(); return isLeader }
	setLeader := func(v bool) { leader.Lock(); isLeader = v; leader.Unlock() }

	// The fake primary p0-i1 refuses twice, then hands over and writes the record as the
	// real one would.
	current := newFakeInstance(t, func(n int, req handoverReq) (int, string) {
		if n <= 2 {
			return 409, `{"error":{"code":"Conflict","message":"backup not in sync"}}`
		}
		b, _ := json.Marshal(cluster.Record{Epoch: req.Epoch + 1, Primary: "p0-i0", Backup: "p0-i1", InSync: false, PreferredPrimary: "p0-i0"})
		if _, err := tm.cli.Put(context.Background(), cluster.PartitionKey(0), string(b)); err != nil {
			return 503, `{"error":{"code":"Unavailable","message":"` + err.Error() + `"}}`
		}
		return okHandover("p0-i1", "p0-i0", req.Epoch+1)(n, req)
	})
	tm.register(t, 0, 0, "run-a", "127.0.0.1:1")
	tm.register(t, 0, 1, "run-b", current.addr())
	setLeader(false)
	tm.setRecord(t, 0, cluster.Record{Epoch: 2, Primary: "p0-i1", Backup: "p0-i0", InSync: true, PreferredPrimary: "p0-i0", BackupRun: "run-a"})

	ctx, cancel := context.WithCancel(context.Background())
	a := newAutoFailback(tm.Manager, delay)
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Not the leader: nothing happens.
	time.Sleep(3 * delay)
	if n := len(current.requests()); n != 0 {
		t.Fatalf("a follower made %d handover requests", n)
	}

	// The backup drops out of sync and comes back: the delay starts again.
	tm.setRecord(t, 0, cluster.Record{Epoch: 2, Primary: "p0-i1", Backup: "p0-i0", InSync: false, PreferredPrimary: "p0-i0", BackupRun: "run-a"})
	time.Sleep(delay / 3)
	setLeader(true)
	resync := time.Now()
	tm.setRecord(t, 0, cluster.Record{Epoch: 2, Primary: "p0-i1", Backup: "p0-i0", InSync: true, PreferredPrimary: "p0-i0", BackupRun: "run-a"})

	deadline := time.Now().Add(20 * time.Second)
	// The fake writes the record before it answers: wait for the manager's count too.
	for tm.record(t, 0).Primary != "p0-i0" || failbacks(t, tm.metrics, "success") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no failback; requests %+v; logs:\n%s", current.requests(), tm.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if since := time.Since(resync); since < delay+time.Second+2*time.Second-100*time.Millisecond {
		// two failures: backoff 1s, then 2s, after the delay
		t.Fatalf("failback done %s after the resync, before delay + backoff", since)
	}
	reqs := current.requests()
	if len(reqs) != 3 || reqs[2] != (handoverReq{To: "p0-i0", Epoch: 2}) {
		t.Fatalf("requests %+v, want 3 for {p0-i0 2}", reqs)
	}
	if s, f := failbacks(t, tm.metrics, "success"), failbacks(t, tm.metrics, "failure"); s != 1 || f != 2 {
		t.Fatalf("failbacks_total success %v failure %v, want 1 and 2", s, f)
	}
	logs := tm.logs.String()
	for _, want := range []string{"automatic failback failed, retrying", "retryIn=1s", "retryIn=2s", "automatic failback done"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// Done: the record is at the preferred primary, no more attempts.
	time.Sleep(3 * delay)
	if n := len(current.requests()); n != 3 {
		t.Fatalf("%d requests after the failback, want 3", n)
	}
}

func TestAutoFailbackGivesUp(t *testing.T) {
	tm := newTestManager(t, 1, true)
	a := newAutoFailback(tm.Manager, 0)
	now := time.Now()
	var clock sync.Mutex
	a.now = func() time.Time { clock.Lock(); defer clock.Unlock(); return now }
	advance := func(d time.Duration) { clock.Lock(); now = now.Add(d); clock.Unlock() }
	refusing := newFakeInstance(t, func(int, handoverReq) (int, string) {
		return 503, `{"error":{"code":"Unavailable","message":"etcd unreachable"}}`
	})
	tm.register(t, 0, 0, "run-a", "127.0.0.1:1")
	tm.register(t, 0, 1, "run-b", refusing.addr())
	rec := cluster.Record{Epoch: 2, Primary: "p0-i1", Backup: "p0-i0", InSync: true, PreferredPrimary: "p0-i0"}
	tm.setRecord(t, 0, rec)
	st, err := registry.Load(context.Background(), tm.cli)
	if err != nil {
		t.Fatal(err)
	}
	a.observe(st)
	ctx := context.Background()
	for i := range failbackAttempts + 2 {
		a.tick(ctx)
		a.wg.Wait()
		advance(failbackMaxBackoff)
		if n := len(refusing.requests()); n != min(i+1, failbackAttempts) {
			t.Fatalf("tick %d: %d requests", i, n)
		}
	}
	if !strings.Contains(tm.logs.String(), "automatic failback gave up") {
		t.Fatalf("no give-up logged:\n%s", tm.logs.String())
	}
	// A new epoch is a new chance.
	rec.Epoch = 3
	tm.setRecord(t, 0, rec)
	st, _ = registry.Load(context.Background(), tm.cli)
	a.observe(st)
	a.tick(ctx)
	a.wg.Wait()
	if n := len(refusing.requests()); n != failbackAttempts+1 {
		t.Fatalf("%d requests after a new epoch, want %d", n, failbackAttempts+1)
	}
}

func TestWatchQuorum(t *testing.T) {
	logs := &testutil.Buffer{}
	var mu sync.Mutex
	has := true
	m := &Manager{log: slog.New(slog.NewTextHandler(logs, nil)), hasLeader: func() bool { mu.Lock(); defer mu.Unlock(); return has }}
	set := func(v bool) { mu.Lock(); has = v; mu.Unlock() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.watchQuorum(ctx, 5*time.Millisecond); close(done) }()
	waitFor := func(s string, n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); strings.Count(logs.String(), s) < n; {
			if time.Now().After(deadline) {
				t.Fatalf("want %d x %q in:\n%s", n, s, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	set(false)
	waitFor(`level=WARN msg="`+noQuorumMsg+`"`, 1)
	set(true)
	waitFor("etcd quorum is back", 1)
	set(false)
	waitFor(noQuorumMsg, 2)
	cancel()
	<-done
	if n := strings.Count(logs.String(), noQuorumMsg); n != 2 {
		t.Fatalf("%d warnings, want one per transition", n)
	}
}

// failbacks reads insight_manager_failbacks_total{result} as /metrics shows it.
func failbacks(t *testing.T, mt *metrics, result string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := mt.register(prometheus.WrapRegistererWithPrefix("insight_manager_", reg), func() bool { return true }); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "insight_manager_failbacks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no insight_manager_failbacks_total{result=%q}", result)
	return 0
}
