package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/slots"
)

// fakePrimary is a data instance's GET /v1/status of a serving primary that routes with
// the map version lag behind the one in etcd (0: the current one) and reports no slot left
// to copy.
type fakePrimary struct {
	srv *httptest.Server
	lag atomic.Int64
}

func newFakePrimary(t *testing.T, tm *testManager) *fakePrimary {
	f := &fakePrimary{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := registry.Load(r.Context(), tm.cli)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		v := st.Map.Version - f.lag.Load()
		_ = json.NewEncoder(w).Encode(cluster.InstanceStatus{Role: cluster.RolePrimary, Serving: true, Ready: true,
			MapVersion: v, Migration: cluster.MigrationStatus{Version: v}})
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePrimary) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// postJSON posts body and decodes the answer.
func (tm *testManager) postJSON(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(tm.api.URL+path, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("POST %s: HTTP %d, body not JSON: %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, doc
}

func (tm *testManager) repartitionStatus(t *testing.T) api.RepartitionStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := registry.Load(ctx, tm.cli)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tm.repart.status(st)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// steps runs the repartitioner until it reports nothing pending, at most n steps.
func (tm *testManager) steps(t *testing.T, n int) int {
	t.Helper()
	for i := 1; i <= n; i++ {
		active, err := tm.repart.step(context.Background())
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !active {
			return i
		}
	}
	t.Fatalf("not done after %d steps: %+v", n, tm.repartitionStatus(t))
	return n
}

func TestRepartitionRequests(t *testing.T) {
	tm := newTestManager(t, 2, false)
	bad := []struct{ body, want string }{
		{`{}`, "partitions: missing; want a number of partitions between 1 and 16384"},
		{`{"partitions": 0}`, "partitions: 0; want a number of partitions between 1 and 16384"},
		{`{"partitions": 16385}`, "partitions: 16385; want"},
		{`{"partitions": "3"}`, "request body: json: cannot unmarshal string"},
		{`{"partitons": 3}`, `unknown field "partitons"`},
		{`nope`, "request body: invalid character"},
		{`{"partitions": 3, "rate": -1}`, "rate: -1: want bytes per second, 0 (no limit) or more"},
		{`{"partitions": 3, "rate": "fast"}`, `rate: size "fast": want a non-negative number of bytes`},
		{`{"partitions": 3, "rate": true}`, "rate: true: want bytes per second"},
	}
	for _, b := range bad {
		code, doc := tm.postJSON(t, "/v1/repartition", b.body)
		if code != http.StatusBadRequest || !strings.Contains(errMessage(doc), b.want) {
			t.Errorf("POST %s: %d %q, want 400 %q", b.body, code, errMessage(doc), b.want)
		}
	}
	if code, doc := tm.postJSON(t, "/v1/repartition", `{"partitions": 2}`); code != http.StatusAccepted || doc["state"] != "idle" {
		t.Errorf("asking for the partitions the grid has: %d %v", code, doc)
	}
	code, doc := tm.postJSON(t, "/v1/repartition", `{"partitions": 3, "rate": "2mb"}`)
	if code != http.StatusAccepted || doc["target"] != 3.0 || doc["state"] != "growing" || doc["rateBytesPerSecond"] != float64(2<<20) {
		t.Fatalf("POST 3 at 2mb/s: %d %v", code, doc)
	}
	if code, doc := tm.postJSON(t, "/v1/repartition", `{"partitions": 3}`); code != http.StatusAccepted || doc["rateBytesPerSecond"] != float64(2<<20) {
		t.Errorf("asking again for the same target: %d %v, want 202 with the rate unchanged", code, doc)
	}
	if code, doc := tm.postJSON(t, "/v1/repartition", `{"partitions": 3, "rate": 1000}`); code != http.StatusAccepted || doc["rateBytesPerSecond"] != 1000.0 {
		t.Errorf("changing the rate of the re-partitioning in progress: %d %v", code, doc)
	}
	code, doc = tm.postJSON(t, "/v1/repartition", `{"partitions": 4}`)
	if code != http.StatusConflict || !strings.Contains(errMessage(doc), "re-partitioning to 3 partitions is in progress") {
		t.Errorf("POST 4 while growing to 3: %d %q", code, errMessage(doc))
	}
	tm.noQuorum.Store(true)
	if code, _ := tm.postJSON(t, "/v1/repartition", `{"partitions": 3}`); code != http.StatusServiceUnavailable {
		t.Errorf("without quorum: %d, want 503", code)
	}
	tm.noQuorum.Store(false)
	req, _ := http.NewRequest(http.MethodDelete, tm.api.URL+"/v1/repartition", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %v %v", resp, err)
	}
}

func TestRepartitionWalksTheMap(t *testing.T) {
	tm := newTestManager(t, 2, false)
	fakes := map[int]*fakePrimary{}
	for p := range 3 {
		fakes[p] = newFakePrimary(t, tm)
	}
	for p := range 2 {
		tm.register(t, p, 0, "run", fakes[p].addr())
	}
	if code, doc := tm.postJSON(t, "/v1/repartition", `{"partitions": 3}`); code != http.StatusAccepted {
		t.Fatalf("POST 3: %d %v", code, doc)
	}
	// Nothing happens until the new partition's instance registers.
	if active, err := tm.repart.step(context.Background()); !active || err != nil {
		t.Fatalf("step: %v %v", active, err)
	}
	if st := tm.repartitionStatus(t); st.Partitions != 2 || !strings.Contains(st.Message, "waiting for the new partitions' instances to register: [p2-i0]") {
		t.Fatalf("before p2-i0 registers: %+v", st)
	}
	tm.register(t, 2, 0, "run", fakes[2].addr())
	// A target routing with an old map version holds the moves in importing.
	fakes[2].lag.Store(1)
	for range 3 {
		if _, err := tm.repart.step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	st := tm.repartitionStatus(t)
	if st.Partitions != 3 || len(st.Moves) == 0 || st.Moves[0].State != cluster.MoveImporting || !strings.Contains(st.Message, "waiting for partition 2 to route with map version") {
		t.Fatalf("with a lagging target: %+v", st)
	}
	fakes[2].lag.Store(0)
	n := tm.steps(t, 100)
	st = tm.repartitionStatus(t)
	if st.Partitions != 3 || st.Target != 0 || st.State != "idle" || len(st.Moves) != 0 {
		t.Fatalf("after %d steps: %+v", n, st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	state, err := registry.Load(ctx, tm.cli)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := slots.Balanced(3)
	for p, ps := range state.Map.Partitions {
		if got := countSlots(ps.Slots); got != want[p].Len() {
			t.Errorf("partition %d has %d slots, want %d", p, got, want[p].Len())
		}
	}
	if rec, ok := state.Records[2]; !ok || rec.Primary != "p2-i0" || rec.Epoch != 1 {
		t.Errorf("record of the new partition: %+v %v", rec, ok)
	}
	// Shrinking back moves the slots off partition 2 and drops it from the map.
	if code, doc := tm.postJSON(t, "/v1/repartition", `{"partitions": 2}`); code != http.StatusAccepted {
		t.Fatalf("POST 2: %d %v", code, doc)
	}
	tm.steps(t, 100)
	if st := tm.repartitionStatus(t); st.Partitions != 2 || st.State != "idle" {
		t.Fatalf("after shrinking: %+v", st)
	}
	// Growing again gives partition 2 a record in a newer epoch.
	tm.postJSON(t, "/v1/repartition", `{"partitions": 3}`)
	tm.steps(t, 100)
	if rec := tm.record(t, 2); rec.Epoch != 2 {
		t.Errorf("partition 2 added again: epoch %d, want 2", rec.Epoch)
	}
}

func TestApplyFlag(t *testing.T) {
	tm := newTestManager(t, 2, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	target := func() int {
		st, err := registry.Load(ctx, tm.cli)
		if err != nil {
			t.Fatal(err)
		}
		return st.Map.Target
	}
	// First start: the flag made the map; it is only recorded.
	if err := tm.applyFlag(ctx); err != nil || target() != 0 {
		t.Fatalf("first start: %v, target %d", err, target())
	}
	tm.cfg.Partitions = 3 // restarted with a raised --partitions
	if err := tm.applyFlag(ctx); err != nil || target() != 3 {
		t.Fatalf("raised flag: %v, target %d, want 3", err, target())
	}
	applied := func() (string, int64) {
		resp, err := tm.cli.Get(ctx, cluster.ManagerPartitionsKey)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reading the applied flag: %v", err)
		}
		return string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision
	}
	_, rev := applied()
	if err := tm.applyFlag(ctx); err != nil || target() != 3 {
		t.Fatalf("same flag again: %v, target %d", err, target())
	}
	if _, again := applied(); again != rev {
		t.Errorf("the same flag again was written again (revision %d -> %d)", rev, again)
	}
	// A raise the manager cannot act on yet (another target in progress) is not recorded
	// as applied: the next start tries again.
	tm.cfg.Partitions = 4
	if err := tm.applyFlag(ctx); err == nil || !strings.Contains(err.Error(), "re-partitioning to 3 partitions is in progress") {
		t.Fatalf("raise during another re-partitioning: %v", err)
	}
	if v, _ := applied(); v != "3" {
		t.Errorf("applied flag %q after a refused raise, want 3", v)
	}
	tm.cfg.Partitions = 1 // lowered: logged, nothing removed
	if err := tm.applyFlag(ctx); err != nil || target() != 3 {
		t.Fatalf("lowered flag: %v, target %d, want 3 unchanged", err, target())
	}
	if !strings.Contains(tm.logs.String(), "--partitions is lower than the partitions the grid runs") {
		t.Errorf("no warning for the lowered flag in:\n%s", tm.logs.String())
	}
}
