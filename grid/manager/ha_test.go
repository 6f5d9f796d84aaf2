package manager

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
)

func (tm *testManager) haStatus(t *testing.T) api.HAStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := registry.Load(ctx, tm.cli)
	if err != nil {
		t.Fatal(err)
	}
	return tm.ha.status(st)
}

func (tm *testManager) haStep(t *testing.T) bool {
	t.Helper()
	pending, err := tm.ha.step(context.Background())
	if err != nil {
		t.Fatalf("HA step: %v", err)
	}
	return pending
}

func (tm *testManager) mapHA(t *testing.T) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := registry.Load(ctx, tm.cli)
	if err != nil {
		t.Fatal(err)
	}
	return st.Map.HA
}

// Turning HA on names the registered other instance of each partition its backup, out of
// sync, and leaves partitions whose instance has not started waiting; the status is done
// only once every backup is in sync.
func TestHAOn(t *testing.T) {
	tm := newTestManager(t, 2, false)
	tm.register(t, 0, 0, "run-a", "127.0.0.1:1")
	tm.register(t, 0, 1, "run-b", "127.0.0.1:1")
	tm.register(t, 1, 0, "run-c", "127.0.0.1:1")
	tm.setRecord(t, 0, cluster.Record{Epoch: 1, Primary: "p0-i0", PreferredPrimary: "p0-i0", PrimaryRun: "run-a"})
	tm.setRecord(t, 1, cluster.Record{Epoch: 1, Primary: "p1-i0", PreferredPrimary: "p1-i0", PrimaryRun: "run-c"})
	if tm.haStep(t) {
		t.Fatal("HA off and no backups: the step reports work pending")
	}
	code, doc := tm.postJSON(t, api.PathHA, `{"ha": true}`)
	if code != http.StatusAccepted || doc["ha"] != true || doc["done"] != false {
		t.Fatalf("POST /v1/ha on = %d %v", code, doc)
	}
	if !tm.haStep(t) {
		t.Fatal("backups on their way: the step reports nothing pending")
	}
	want := cluster.Record{Epoch: 1, Primary: "p0-i0", Backup: "p0-i1", PreferredPrimary: "p0-i0", PrimaryRun: "run-a"}
	if got := tm.record(t, 0); got != want {
		t.Errorf("partition 0 = %+v, want %+v", got, want)
	}
	if got := tm.record(t, 1); got.Backup != "" {
		t.Errorf("partition 1 named %q its backup before p1-i1 registered", got.Backup)
	}
	if st := tm.haStatus(t); st.Done || st.WithBackup != 1 || !strings.Contains(st.Message, "waiting for p1-i1 to start and register") {
		t.Errorf("status = %+v", st)
	}
	tm.register(t, 1, 1, "run-d", "127.0.0.1:1")
	tm.haStep(t)
	if got := tm.record(t, 1); got.Backup != "p1-i1" || got.InSync || got.Epoch != 1 {
		t.Errorf("partition 1 = %+v, want backup p1-i1 out of sync, epoch 1", got)
	}
	// The primaries record their backups in sync.
	for p, run := range []string{"run-b", "run-d"} {
		r := tm.record(t, p)
		r.InSync, r.BackupRun = true, run
		tm.setRecord(t, p, r)
	}
	if tm.haStep(t) {
		t.Error("every backup in sync: the step reports work pending")
	}
	if st := tm.haStatus(t); !st.Done || st.InSync != 2 || st.WithBackup != 2 {
		t.Errorf("status = %+v, want done with 2 backups in sync", st)
	}
}

// Turning HA off drops the backup of a partition whose primary is instance 0 in one
// record change, hands one whose primary is instance 1 back to instance 0 first (and only
// once instance 0 is in sync), and never changes the epoch itself.
func TestHAOff(t *testing.T) {
	tm := newTestManager(t, 3, true)
	primary1 := newFakeInstance(t, okHandover("p1-i1", "p1-i0", 3))
	tm.register(t, 0, 0, "run-a", "127.0.0.1:1")
	tm.register(t, 0, 1, "run-b", "127.0.0.1:1")
	tm.register(t, 1, 0, "run-c", "127.0.0.1:1")
	tm.register(t, 1, 1, "run-d", primary1.addr())
	tm.setRecord(t, 0, cluster.Record{Epoch: 1, Primary: "p0-i0", Backup: "p0-i1", InSync: true, PreferredPrimary: "p0-i0", PrimaryRun: "run-a", BackupRun: "run-b"})
	failedOver := cluster.Record{Epoch: 2, Primary: "p1-i1", Backup: "p1-i0", InSync: false, PreferredPrimary: "p1-i0", PrimaryRun: "run-d"}
	tm.setRecord(t, 1, failedOver)
	tm.setRecord(t, 2, cluster.Record{Epoch: 1, Primary: "p2-i0", Backup: "p2-i1", PreferredPrimary: "p2-i0"}) // backup never started

	code, doc := tm.postJSON(t, api.PathHA, `{"ha": false}`)
	if code != http.StatusAccepted || doc["ha"] != false {
		t.Fatalf("POST /v1/ha off = %d %v", code, doc)
	}
	if !tm.haStep(t) {
		t.Fatal("partition 1 still has a backup: the step reports nothing pending")
	}
	if got, want := tm.record(t, 0), (cluster.Record{Epoch: 1, Primary: "p0-i0", PreferredPrimary: "p0-i0", PrimaryRun: "run-a"}); got != want {
		t.Errorf("partition 0 = %+v, want %+v", got, want)
	}
	if got := tm.record(t, 2); got.Backup != "" || got.Epoch != 1 {
		t.Errorf("partition 2 = %+v, want no backup, epoch 1", got)
	}
	if got := tm.record(t, 1); got != failedOver {
		t.Errorf("partition 1 changed while p1-i0 is out of sync: %+v", got)
	}
	if st := tm.haStatus(t); st.Done || st.WithBackup != 1 || !strings.Contains(st.Message, "partition 1: its primary is p1-i1") {
		t.Errorf("status = %+v", st)
	}
	if n := len(primary1.requests()); n != 0 {
		t.Fatalf("handover asked of p1-i1 while p1-i0 is out of sync (%d requests)", n)
	}
	inSync := failedOver
	inSync.InSync, inSync.BackupRun = true, "run-c"
	tm.setRecord(t, 1, inSync)
	tm.haStep(t)
	if reqs := primary1.requests(); len(reqs) != 1 || reqs[0] != (handoverReq{To: "p1-i0", Epoch: 2}) {
		t.Fatalf("handover requests = %+v, want one to p1-i0 at epoch 2", reqs)
	}
	// The handover's record, as the data instance writes it.
	tm.setRecord(t, 1, cluster.Record{Epoch: 3, Primary: "p1-i0", Backup: "p1-i1", InSync: true, PreferredPrimary: "p1-i0", PrimaryRun: "run-c", BackupRun: "run-d"})
	tm.haStep(t)
	if tm.haStep(t) {
		t.Error("no backups left: the step reports work pending")
	}
	if got := tm.record(t, 1); got.Backup != "" || got.Primary != "p1-i0" || got.Epoch != 3 {
		t.Errorf("partition 1 = %+v, want primary p1-i0 alone at epoch 3", got)
	}
	if st := tm.haStatus(t); !st.Done || st.WithBackup != 0 {
		t.Errorf("status = %+v, want done", st)
	}
}

// A changed --ha sets the map's HA once; a manager restarted with the same flag leaves
// what POST /v1/ha set alone.
func TestApplyHAFlag(t *testing.T) {
	tm := newTestManager(t, 1, false)
	ctx := context.Background()
	tm.cfg.HA = true // the chart's pu.ha changed, the manager restarted
	if err := tm.applyHAFlag(ctx); err != nil {
		t.Fatal(err)
	}
	if !tm.mapHA(t) {
		t.Fatal("--ha=true did not turn HA on")
	}
	if code, doc := tm.postJSON(t, api.PathHA, `{"ha": false}`); code != http.StatusAccepted {
		t.Fatalf("POST /v1/ha off = %d %v", code, doc)
	}
	if err := tm.applyHAFlag(ctx); err != nil { // a restart with the same flag
		t.Fatal(err)
	}
	if tm.mapHA(t) {
		t.Error("a restart with an unchanged --ha undid POST /v1/ha")
	}
	tm.cfg.HA = false
	if err := tm.applyHAFlag(ctx); err != nil {
		t.Fatal(err)
	}
	if tm.mapHA(t) {
		t.Error("--ha=false left HA on")
	}
}

func TestHARequestErrors(t *testing.T) {
	tm := newTestManager(t, 1, false)
	for _, body := range []string{`{}`, `{"ha": "yes"}`, `{"ha": true, "x": 1}`, `nope`} {
		code, doc := tm.postJSON(t, api.PathHA, body)
		if code != http.StatusBadRequest || !strings.Contains(errMessage(doc), `want {"ha": true} or {"ha": false}`) {
			t.Errorf("POST %s = %d %v", body, code, doc)
		}
	}
	if tm.mapHA(t) {
		t.Error("a refused request changed the map")
	}
	tm.noQuorum.Store(true)
	if code, _ := tm.postJSON(t, api.PathHA, `{"ha": true}`); code != http.StatusServiceUnavailable {
		t.Errorf("without quorum: %d, want 503", code)
	}
}
