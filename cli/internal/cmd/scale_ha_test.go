package cmd

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/insightgrid/insight/cli/repartition"
)

// progressManager answers GETs with progress, one document per request (the last one
// repeats). A POST answers postReply with postStatus (default 200) and switches the GETs to
// afterPost when postReply is set, else answers 202 with the next document.
type progressManager struct {
	*httptest.Server
	mu         sync.Mutex
	calls      []string
	progress   []string
	next       int
	postReply  string
	postStatus int
	afterPost  []string
}

func newProgressManager(t *testing.T, progress ...string) *progressManager {
	t.Helper()
	f := &progressManager{progress: progress}
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
		if r.Method == http.MethodPost && f.postReply != "" {
			if f.postStatus != 0 {
				w.WriteHeader(f.postStatus)
			}
			_, _ = w.Write([]byte(f.postReply))
			f.progress, f.next = f.afterPost, 0
			return
		}
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusAccepted)
		}
		_, _ = w.Write([]byte(f.progress[min(f.next, len(f.progress)-1)]))
		f.next++
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *progressManager) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func haJSON(ha bool, withBackup, inSync int, done bool, msg string) string {
	return fmt.Sprintf(`{"ha":%v,"partitions":2,"withBackup":%d,"inSync":%d,"done":%v,"message":%q}`, ha, withBackup, inSync, done, msg)
}

// backupPodsGoWithHA deletes the pods of ordinal 1 once the release's last revision has
// pu.ha=false, as the StatefulSet controller would.
func backupPodsGoWithHA(e *Env) {
	inner := e.Connect
	e.Connect = func(g *GlobalFlags) (*Clients, error) {
		c, err := inner(g)
		if err != nil {
			return c, err
		}
		kube := c.Kube.(*fake.Clientset)
		tracker := kube.Tracker()
		kube.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
			rel, err := c.Helm.Releases.Last("demo")
			if err != nil {
				return false, nil, nil
			}
			if pu, _ := rel.Config["pu"].(map[string]any); pu["ha"] != false {
				return false, nil, nil
			}
			gvr, gvk := corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod")
			l, err := tracker.List(gvr, gvk, "default")
			if err != nil {
				return true, nil, err
			}
			items, _ := meta.ExtractList(l)
			for _, o := range items {
				m, _ := meta.Accessor(o)
				if m.GetLabels()["apps.kubernetes.io/pod-index"] == "1" {
					_ = tracker.Delete(gvr, "default", m.GetName())
				}
			}
			return false, nil, nil
		})
		return c, nil
	}
}

// scale --ha=false has the manager drop the backups before it marks the StatefulSets and
// upgrades; scale --ha=true tells the manager first and follows the backups until in
// sync; a run with nothing to do changes nothing.
func TestScaleHA(t *testing.T) {
	off := newProgressManager(t,
		haJSON(true, 2, 2, true, "HA: each of the 2 partitions has its backup in sync"),
		haJSON(false, 2, 2, false, ""),
		haJSON(false, 1, 1, false, "partition 1: its primary is p1-i1, whose pod goes without HA; waiting for p1-i0 to be its in-sync backup to hand the partition back to it"),
		haJSON(false, 0, 0, true, "no HA: none of the 2 partitions has a backup"))
	on := newProgressManager(t,
		haJSON(false, 0, 0, true, "no HA: none of the 2 partitions has a backup"),
		haJSON(true, 0, 0, false, ""),
		haJSON(true, 1, 0, false, "partition 0: backup p0-i1 is catching up with primary p0-i0; partition 1: waiting for p1-i1 to start and register"),
		haJSON(true, 2, 2, true, "HA: each of the 2 partitions has its backup in sync"))
	done := newProgressManager(t, haJSON(true, 2, 2, true, "HA: each of the 2 partitions has its backup in sync"))
	noHA := haRelease(map[string]any{"ha": false})
	tests := []struct {
		name    string
		cluster cluster
		manager *progressManager
		cmd     string
		code    int
		golden  string
		ha      bool     // the release's pu.ha afterwards
		calls   []string // the manager's calls
		marked  string   // the StatefulSets' insight.io/ha afterwards
	}{
		{name: "mixed", cmd: "scale demo --ha=true --partitions 3 --memory 1Gi --wait=false", code: 2, golden: "scale-ha-mixed.golden"},
		{name: "off", cluster: cluster{objects: gridObjects(2, "rev-a", "rev-a", nil), releases: []*release.Release{haRelease(nil)}}, manager: off,
			cmd: "scale demo --ha=false", golden: "scale-ha-off.golden", ha: false, marked: "false",
			calls: []string{"GET /v1/ha", `POST /v1/ha {"ha":false}`, "GET /v1/ha", "GET /v1/ha"}},
		{name: "on", cluster: cluster{objects: gridObjects(2, "rev-a", "rev-a", nil), releases: []*release.Release{noHA}}, manager: on,
			cmd: "scale demo --ha=true --skip-preflight", golden: "scale-ha-on.golden", ha: true, marked: "true",
			calls: []string{"GET /v1/ha", `POST /v1/ha {"ha":true}`, "GET /v1/ha", "GET /v1/ha"}},
		{name: "nothing to do", cluster: cluster{objects: gridObjects(2, "rev-a", "rev-a", nil), releases: []*release.Release{haRelease(nil)}}, manager: done,
			cmd: "scale demo --ha=true -o json", golden: "scale-ha-noop.golden", ha: true, calls: []string{"GET /v1/ha"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := ""
			if tt.manager != nil {
				url = tt.manager.URL
			}
			r := runGolden(t, tt.cluster, tt.cmd, url, tt.code, tt.golden, fastPoll, backupPodsGoWithHA)
			if tt.manager == nil {
				return
			}
			if c := tt.manager.called(); strings.Join(c, "\n") != strings.Join(tt.calls, "\n") {
				t.Errorf("manager calls:\n%s\nwant:\n%s", strings.Join(c, "\n"), strings.Join(tt.calls, "\n"))
			}
			rel, err := r.store.Last("demo")
			if err != nil {
				t.Fatal(err)
			}
			if pu, _ := rel.Config["pu"].(map[string]any); pu["ha"] != tt.ha {
				t.Errorf("pu.ha = %v, want %v", pu["ha"], tt.ha)
			}
			sts, err := r.kube.AppsV1().StatefulSets("default").List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range sts.Items {
				if got := s.Annotations[repartition.HAAnnotation]; got != tt.marked {
					t.Errorf("%s: %s=%q, want %q", s.Name, repartition.HAAnnotation, got, tt.marked)
				}
			}
		})
	}
}

// upgrade --ha turns HA on online first, as scale --ha=true does, then upgrades the rest
// (here the anti-affinity) in a revision of its own.
func TestUpgradeTurnsHAOnFirst(t *testing.T) {
	on := newProgressManager(t,
		haJSON(false, 0, 0, true, "no HA: none of the 2 partitions has a backup"),
		haJSON(true, 0, 0, false, ""),
		haJSON(true, 2, 2, true, "HA: each of the 2 partitions has its backup in sync"))
	c := cluster{objects: gridObjects(2, "rev-a", "rev-a", nil), releases: []*release.Release{haRelease(map[string]any{"ha": false})}}
	r := runGolden(t, c, "upgrade demo --ha --anti-affinity=hostname --skip-preflight --wait=false", on.URL, 0, "upgrade-ha-on.golden", fastPoll)
	if c := on.called(); strings.Join(c, "\n") != strings.Join([]string{"GET /v1/ha", `POST /v1/ha {"ha":true}`, "GET /v1/ha"}, "\n") {
		t.Errorf("manager calls:\n%s", strings.Join(c, "\n"))
	}
	h, err := r.store.History("demo")
	if err != nil || len(h) != 3 {
		t.Fatalf("history: %d revisions, %v; want the install, the HA change and the upgrade", len(h), err)
	}
	for _, rel := range h {
		pu, _ := rel.Config["pu"].(map[string]any)
		_, anti := pu["antiAffinity"]
		switch rel.Version {
		case 2:
			if pu["ha"] != true || anti {
				t.Errorf("revision 2 (the HA change) = %v; want pu.ha=true alone", pu)
			}
		case 3:
			if pu["ha"] != true || !anti {
				t.Errorf("revision 3 (the upgrade) = %v; want pu.ha=true and the anti-affinity", pu)
			}
		}
	}
}
