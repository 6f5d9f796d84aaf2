package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/insightgrid/insight/cli/repartition"
)

// repartitionManager answers GET /v1/repartition with progress, one document per
// request (the last one repeats), and POST /v1/repartition like the grid's manager.
type repartitionManager struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string
	// progress are the successive GET answers; POST moves on to the first of them.
	progress []string
	// posted is the answer to POST for each count; missing: 409 Conflict.
	posted map[int]string
	next   int
}

func newRepartitionManager(t *testing.T, posted map[int]string, progress ...string) *repartitionManager {
	t.Helper()
	f := &repartitionManager{progress: progress, posted: posted}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.HasSuffix(r.URL.Path, "/livez") {
			_, _ = w.Write([]byte(`{"status":"ok"}`))
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(body)))
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodGet:
			_, _ = w.Write([]byte(f.progress[min(f.next, len(f.progress)-1)]))
			f.next++
		case http.MethodPost:
			var req struct{ Partitions int }
			_ = json.Unmarshal(body, &req)
			ans, ok := f.posted[req.Partitions]
			if !ok {
				w.WriteHeader(http.StatusConflict)
				_, _ = w.Write([]byte(`{"error":{"code":"Conflict","message":"re-partitioning to 4 partitions is in progress (moving, 3000 slots left): wait until GET /v1/repartition shows state idle, then ask for 2"}}`))
				return
			}
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(ans))
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *repartitionManager) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func progressJSON(partitions, target int, state string, remaining, moving int, version int64, msg string) string {
	return fmt.Sprintf(`{"partitions":%d,"target":%d,"state":%q,"message":%q,"mapVersion":%d,"slotsRemaining":%d,"slotsMoving":%d,"moves":[]}`,
		partitions, target, state, msg, version, remaining, moving)
}

// gridAfterUpgrade makes the fake cluster follow the release: once a revision with fewer
// partitions is stored, the StatefulSets and pods of the partitions past it are gone, as
// Helm and the garbage collector would leave them.
func gridAfterUpgrade(e *Env) {
	inner := e.Connect
	e.Connect = func(g *GlobalFlags) (*Clients, error) {
		c, err := inner(g)
		if err != nil {
			return c, err
		}
		kube := c.Kube.(*fake.Clientset)
		tracker := kube.Tracker()
		prune := func(k8stesting.Action) (bool, runtime.Object, error) {
			rel, err := c.Helm.Releases.Last("demo")
			if err != nil {
				return false, nil, nil
			}
			pu, _ := rel.Config["pu"].(map[string]any)
			n, ok := pu["partitions"].(int)
			if !ok {
				return false, nil, nil
			}
			for _, kind := range []struct {
				gvr  string
				list runtime.Object
			}{{"statefulsets", &appsv1.StatefulSetList{}}, {"pods", &corev1.PodList{}}} {
				gvr := appsv1.SchemeGroupVersion.WithResource(kind.gvr)
				gvk := appsv1.SchemeGroupVersion.WithKind("StatefulSet")
				if kind.gvr == "pods" {
					gvr, gvk = corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod")
				}
				l, err := tracker.List(gvr, gvk, "default")
				if err != nil {
					return true, nil, err
				}
				items, _ := meta.ExtractList(l)
				for _, o := range items {
					m, _ := meta.Accessor(o)
					var id int
					if _, err := fmt.Sscan(m.GetLabels()["insight.dev/partition"], &id); err == nil && id >= n {
						_ = tracker.Delete(gvr, "default", m.GetName())
					}
				}
			}
			return false, nil, nil
		}
		kube.PrependReactor("list", "*", prune)
		return c, nil
	}
}

func fastPoll(e *Env) { e.PollInterval = time.Millisecond }

func TestScalePartitions(t *testing.T) {
	two, three := haRelease(nil), haRelease(map[string]any{"partitions": 3})
	out := newRepartitionManager(t, map[int]string{3: progressJSON(2, 3, "growing", 5461, 0, 8, "re-partitioning from 2 to 3 partitions requested")},
		progressJSON(2, 0, "idle", 0, 0, 7, "2 partitions; no re-partitioning requested"),
		progressJSON(2, 3, "growing", 5461, 0, 8, "waiting for the new partitions' instances to register: [p2-i0 p2-i1]"),
		progressJSON(3, 3, "moving", 5461, 1024, 10, "1024 slots start moving (4437 left after them)"),
		progressJSON(3, 3, "moving", 4437, 1024, 13, "partition 0 is copying keys: 512 slots left (2210 keys moved so far)"),
		progressJSON(3, 3, "finishing", 0, 0, 30, "slots changed owner"),
		progressJSON(3, 0, "idle", 0, 0, 31, "3 partitions; no re-partitioning requested"))
	in := newRepartitionManager(t, map[int]string{2: progressJSON(3, 2, "moving", 5461, 0, 32, "re-partitioning from 3 to 2 partitions requested")},
		progressJSON(3, 0, "idle", 0, 0, 31, "3 partitions; no re-partitioning requested"),
		progressJSON(3, 2, "moving", 2731, 1024, 40, "1024 slots start moving"),
		progressJSON(3, 2, "shrinking", 0, 0, 55, "sources are empty: targets serve the slots"),
		progressJSON(2, 0, "idle", 0, 0, 57, "2 partitions; no re-partitioning requested"))
	// The map reached 2 partitions before an interruption; the release still has 3.
	inResumed := newRepartitionManager(t, map[int]string{2: progressJSON(2, 0, "idle", 0, 0, 57, "")},
		progressJSON(2, 0, "idle", 0, 0, 57, "2 partitions; no re-partitioning requested"))
	done := newRepartitionManager(t, nil, progressJSON(3, 0, "idle", 0, 0, 31, "3 partitions; no re-partitioning requested"))
	busy := newRepartitionManager(t, nil, progressJSON(3, 4, "moving", 3000, 1024, 40, "1024 slots start moving"))
	stuck := newRepartitionManager(t, map[int]string{3: progressJSON(2, 3, "growing", 5461, 0, 8, "")},
		progressJSON(2, 0, "idle", 0, 0, 7, ""),
		progressJSON(2, 3, "growing", 5461, 0, 8, "waiting for the new partitions' instances to register: [p2-i0 p2-i1]"))
	old := httptest.NewServer(http.NotFoundHandler()) // a grid without /v1/repartition
	t.Cleanup(old.Close)

	tests := []struct {
		name     string
		cluster  cluster
		manager  *httptest.Server
		cmd      string
		code     int
		golden   string
		revision int      // the release's last revision afterwards; 0: not checked
		values   int      // its pu.partitions; 0: not checked
		calls    []string // the manager's calls; nil: not checked
		drained  []string // StatefulSets marked drained afterwards
	}{
		{name: "bad count", cmd: "scale demo --partitions 0", code: 2, golden: "scale-partitions-bad.golden"},
		{name: "mixed with resources", cmd: "scale demo --partitions 20000 --memory 1Gi --cpu 1 --force --wait=false", code: 2, golden: "scale-partitions-mixed.golden"},
		{name: "above the chart's maximum", cmd: "scale demo --partitions 600", code: 2, golden: "scale-partitions-chart-max.golden"},
		{name: "bad rate", cmd: "scale demo --partitions 3 --rate fast", code: 2, golden: "scale-partitions-bad-rate.golden"},
		{name: "rate without partitions", cmd: "scale demo --rate 4mb", code: 2, golden: "scale-rate-alone.golden"},
		{name: "out", cluster: cluster{objects: gridObjects(2, "rev-a", "rev-a", nil), releases: []*release.Release{two}}, manager: out.Server,
			cmd: "scale demo --partitions 3 --rate 2mb", golden: "scale-partitions-out.golden", revision: 2, values: 3,
			calls: []string{"GET /v1/repartition", `POST /v1/repartition {"partitions":3,"rate":2097152}`, "GET /v1/repartition", "GET /v1/repartition", "GET /v1/repartition", "GET /v1/repartition", "GET /v1/repartition"}},
		{name: "done already", cluster: cluster{objects: gridObjects(3, "rev-a", "rev-a", nil), releases: []*release.Release{three}}, manager: done.Server,
			cmd: "scale demo --partitions 3 -o json", golden: "scale-partitions-noop.golden", revision: 1, values: 3, calls: []string{"GET /v1/repartition"}},
		{name: "in", cluster: cluster{objects: gridObjects(3, "rev-a", "rev-a", nil), releases: []*release.Release{three}}, manager: in.Server,
			cmd: "scale demo --partitions 2", golden: "scale-partitions-in.golden", revision: 2, values: 2,
			calls: []string{"GET /v1/repartition", `POST /v1/repartition {"partitions":2}`, "GET /v1/repartition", "GET /v1/repartition", "GET /v1/repartition"}},
		{name: "in, resumed after the map shrank", cluster: cluster{objects: gridObjects(3, "rev-a", "rev-a", nil), releases: []*release.Release{three}}, manager: inResumed.Server,
			cmd: "scale demo --partitions 2 -o json", golden: "scale-partitions-in-resumed.golden", revision: 2, values: 2, calls: []string{"GET /v1/repartition"}},
		{name: "in, dry run", cluster: cluster{objects: gridObjects(3, "rev-a", "rev-a", nil), releases: []*release.Release{three}}, manager: done.Server,
			cmd: "scale demo --partitions 2 --dry-run", golden: "scale-partitions-dry-run.golden", revision: 1, values: 3},
		{name: "another count in progress", cluster: cluster{objects: gridObjects(3, "rev-a", "rev-a", nil), releases: []*release.Release{three}}, manager: busy.Server,
			cmd: "scale demo --partitions 2", code: 1, golden: "scale-partitions-busy.golden", revision: 1, values: 3, calls: []string{"GET /v1/repartition"}},
		{name: "timeout", cluster: cluster{objects: gridObjects(2, "rev-a", "rev-a", nil), releases: []*release.Release{two}}, manager: stuck.Server,
			cmd: "scale demo --partitions 3 --timeout 10s", code: 4, golden: "scale-partitions-timeout.golden", revision: 2, values: 3},
		{name: "a grid without re-partitioning", cluster: cluster{objects: gridObjects(2, "rev-a", "rev-a", nil), releases: []*release.Release{two}}, manager: old,
			cmd: "scale demo --partitions 3", code: 1, golden: "scale-partitions-old-grid.golden", revision: 1, values: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := ""
			if tt.manager != nil {
				url = tt.manager.URL
			}
			r := runGolden(t, tt.cluster, tt.cmd, url, tt.code, tt.golden, fastPoll, gridAfterUpgrade)
			if tt.calls != nil {
				var m *repartitionManager
				for _, f := range []*repartitionManager{out, in, inResumed, done, busy} {
					if f.Server == tt.manager {
						m = f
					}
				}
				if c := m.called(); strings.Join(c, "\n") != strings.Join(tt.calls, "\n") {
					t.Errorf("manager calls:\n%s\nwant:\n%s", strings.Join(c, "\n"), strings.Join(tt.calls, "\n"))
				}
			}
			if tt.revision == 0 {
				return
			}
			rel, err := r.store.Last("demo")
			if err != nil {
				t.Fatal(err)
			}
			pu, _ := rel.Config["pu"].(map[string]any)
			if rel.Version != tt.revision || pu["partitions"] != tt.values {
				t.Errorf("revision %d with pu.partitions=%v, want %d with %d", rel.Version, pu["partitions"], tt.revision, tt.values)
			}
		})
	}
}

// A scale-in marks only the partitions that leave as drained, and only after the
// manager's map no longer has them; a later scale-out takes the mark off the ones that
// stay.
func TestScalePartitionsDrainedMark(t *testing.T) {
	three := haRelease(map[string]any{"partitions": 3})
	objs := gridObjects(3, "rev-a", "rev-a", nil)
	for _, o := range objs {
		if s, ok := o.(*appsv1.StatefulSet); ok && s.Name == "demo-insight-pu-1" {
			s.Annotations = map[string]string{repartition.DrainedAnnotation: "true"} // left by an earlier, reversed scale-in
		}
	}
	m := newRepartitionManager(t, map[int]string{2: progressJSON(2, 0, "idle", 0, 0, 57, "")}, progressJSON(3, 0, "idle", 0, 0, 31, ""), progressJSON(2, 0, "idle", 0, 0, 57, ""))
	var patched []string
	r := runCmd(t, cluster{objects: objs, releases: []*release.Release{three}}, "scale demo --partitions 2 --manager-url "+m.URL, fastPoll, gridAfterUpgrade, func(e *Env) {
		inner := e.Connect
		e.Connect = func(g *GlobalFlags) (*Clients, error) {
			c, err := inner(g)
			if err == nil {
				c.Kube.(*fake.Clientset).PrependReactor("patch", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
					p := a.(k8stesting.PatchAction)
					patched = append(patched, p.GetName()+" "+string(p.GetPatch()))
					return false, nil, nil
				})
			}
			return c, err
		}
	})
	if r.code != 0 {
		t.Fatal(r)
	}
	want := []string{
		`demo-insight-pu-1 {"metadata":{"annotations":{"insight.io/drained":null}}}`,
		`demo-insight-pu-2 {"metadata":{"annotations":{"insight.io/drained":"true"}}}`,
	}
	if strings.Join(patched, "\n") != strings.Join(want, "\n") {
		t.Errorf("patches:\n%s\nwant:\n%s", strings.Join(patched, "\n"), strings.Join(want, "\n"))
	}
}
