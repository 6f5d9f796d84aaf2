package cmd

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/insightgrid/insight/cli/internal/golden"
)

// gridObjects are release demo's data StatefulSets and pods: partitions × 2 instances,
// each pod of revision rev and ready unless mods changes it.
func gridObjects(partitions int, update, rev string, mods map[string]func(*corev1.Pod)) []runtime.Object {
	objs := append(threeZones(), managerService())
	two := int32(2)
	for p := 0; p < partitions; p++ {
		name := fmt.Sprintf("demo-insight-pu-%d", p)
		labels := map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "pu", "insight.dev/partition": fmt.Sprint(p)}
		objs = append(objs, &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels, Generation: 3},
			Spec:       appsv1.StatefulSetSpec{Replicas: &two},
			Status:     appsv1.StatefulSetStatus{ObservedGeneration: 3, Replicas: 2, ReadyReplicas: 2, CurrentRevision: rev, UpdateRevision: update},
		})
		for i := 0; i < 2; i++ {
			pl := map[string]string{"controller-revision-hash": rev, "apps.kubernetes.io/pod-index": fmt.Sprint(i)}
			for k, v := range labels {
				pl[k] = v
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, i), Namespace: "default", Labels: pl},
				Spec:       corev1.PodSpec{NodeName: fmt.Sprintf("node-%d", i), Containers: []corev1.Container{{Name: "pu"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
			}
			if m := mods[pod.Name]; m != nil {
				m(pod)
			}
			objs = append(objs, pod)
		}
	}
	return objs
}

func notReady(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "pu", Ready: false, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

func TestScale(t *testing.T) {
	f := newFakeManager(t)
	url := " --manager-url " + f.URL
	ready := gridObjects(2, "rev-a", "rev-a", nil)
	scaled := map[string]any{"resources": map[string]any{"requests": map[string]any{"memory": "1Gi"}, "limits": map[string]any{"memory": "1Gi"}}}
	tests := []struct {
		name     string
		cluster  cluster
		cmd      string
		code     int
		golden   string
		revision int // the release's last revision afterwards
	}{
		{name: "nothing to scale", cmd: "scale demo", code: 2, golden: "scale-nothing.golden"},
		{name: "bad quantities", cmd: "scale demo --memory 1Gx --cpu lots --timeout 0s --manager-url ftp://m", code: 2, golden: "scale-bad.golden"},
		{name: "too many arguments", cmd: "scale a b --memory 1Gi", code: 2, golden: "scale-args.golden"},
		{name: "missing release", cmd: "scale demo --memory 1Gi", code: 1, golden: "scale-missing.golden"},
		{name: "without ha", cluster: cluster{objects: ready, releases: []*release.Release{deployedRelease("demo", 1, map[string]any{"pu": map[string]any{"partitions": 2}}, release.StatusDeployed)}},
			cmd: "scale demo --memory 1Gi", code: 2, golden: "scale-no-ha.golden", revision: 1},
		{name: "scale", cluster: cluster{objects: ready, releases: []*release.Release{haRelease(nil)}},
			cmd: "scale demo --memory 1Gi --cpu 500m" + url, golden: "scale.golden", revision: 2},
		{name: "scale json", cluster: cluster{objects: ready, releases: []*release.Release{haRelease(nil)}},
			cmd: "scale demo --memory 1Gi -o json" + url, golden: "scale-json.golden", revision: 2},
		{name: "resume: same values change nothing", cluster: cluster{objects: ready, releases: []*release.Release{haRelease(scaled)}},
			cmd: "scale demo --memory 1Gi" + url, golden: "scale-resume.golden", revision: 1},
		{name: "dry run", cluster: cluster{objects: ready, releases: []*release.Release{haRelease(nil)}},
			cmd: "scale demo --memory 1Gi --dry-run" + url, golden: "scale-dry-run.golden", revision: 1},
		{name: "a backup not ready: refused", cluster: cluster{objects: gridObjects(2, "rev-a", "rev-a", map[string]func(*corev1.Pod){"demo-insight-pu-1-1": notReady}),
			releases: []*release.Release{haRelease(nil)}}, cmd: "scale demo --memory 1Gi" + url, code: 1, golden: "scale-unhealthy.golden", revision: 1},
		{name: "timeout", cluster: cluster{objects: gridObjects(2, "rev-b", "rev-a", nil), releases: []*release.Release{haRelease(nil)}},
			cmd: "scale demo --memory 1Gi --timeout 50ms" + url, code: 4, golden: "scale-timeout.golden", revision: 2},
		{name: "a pod does not come up", cluster: cluster{objects: gridObjects(2, "rev-b", "rev-a", map[string]func(*corev1.Pod){"demo-insight-pu-0-1": func(p *corev1.Pod) {
			notReady(p)
			p.Labels["controller-revision-hash"] = "rev-b"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "pu", Image: "ghcr.io/insightgrid/insight-grid:nope",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}}
		}}), releases: []*release.Release{haRelease(scaled)}},
			cmd: "scale demo --memory 1Gi --timeout 1m" + url, code: 1, golden: "scale-stuck.golden", revision: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.cluster, tt.cmd)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", r.code, tt.code, r)
			}
			golden.Assert(t, strings.ReplaceAll(r.String(), f.URL, "http://manager"), tt.golden)
			if tt.revision == 0 {
				return
			}
			rel, err := r.store.Last("demo")
			if err != nil {
				t.Fatal(err)
			}
			if rel.Version != tt.revision {
				t.Errorf("revision %d, want %d", rel.Version, tt.revision)
			}
		})
	}
}

// The scale keeps the release's values and sets requests and limits.
func TestScaleValues(t *testing.T) {
	c := cluster{objects: gridObjects(2, "rev-a", "rev-a", nil),
		releases: []*release.Release{haRelease(map[string]any{"logLevel": "debug"})}}
	r := runCmd(t, c, "scale demo --memory 2Gi --cpu 2 -o json")
	if r.code != 0 {
		t.Fatal(r)
	}
	rel, err := r.store.Last("demo")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rel.Config)
	want := `{"pu":{"ha":true,"logLevel":"debug","partitions":2,"resources":{"limits":{"cpu":"2","memory":"2Gi"},"requests":{"cpu":"2","memory":"2Gi"}}}}`
	if string(got) != want {
		t.Errorf("values %s\nwant   %s", got, want)
	}
	var sum struct {
		RequestID string `json:"requestId"`
		Rollout   struct {
			Done             bool   `json:"done"`
			ManagerReachable bool   `json:"managerReachable"`
			ManagerError     string `json:"managerError"`
		} `json:"rollout"`
	}
	if err := json.Unmarshal([]byte(r.out), &sum); err != nil || sum.RequestID != "demo-r2" || !sum.Rollout.Done || sum.Rollout.ManagerReachable ||
		!strings.Contains(sum.Rollout.ManagerError, "no API server connection") {
		t.Errorf("summary %+v (%v)\n%s", sum, err, r.out)
	}
}
