package cmd

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/insightgrid/insight/cli/scale"
)

// membersJSON is a GET /v1/managers document: names ending in "*" lead, in "~" learn.
func membersJSON(names ...string) string {
	var ms []string
	voters := 0
	for _, n := range names {
		leader, learner := strings.HasSuffix(n, "*"), strings.HasSuffix(n, "~")
		n = strings.TrimRight(n, "*~")
		if !learner {
			voters++
		}
		ms = append(ms, fmt.Sprintf(`{"name":%q,"peerURL":"","clientURL":"","leader":%v,"healthy":true,"learner":%v}`, n, leader, learner))
	}
	return fmt.Sprintf(`{"members":[%s],"voters":%d}`, strings.Join(ms, ","), voters)
}

// managerObjects are release demo's manager StatefulSet of replicas pods (annotated with
// members, as the chart does) and its first pods pods.
func managerObjects(replicas, pods int) []runtime.Object {
	labels := map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}
	r := int32(replicas)
	objs := []runtime.Object{&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-insight-manager", Namespace: "default", Labels: labels,
			Annotations: map[string]string{scale.MembersAnnotation: fmt.Sprint(replicas)}},
		Spec: appsv1.StatefulSetSpec{Replicas: &r},
	}}
	for i := range pods {
		objs = append(objs, managerPod(i))
	}
	return objs
}

func managerPod(i int) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("demo-insight-manager-%d", i), Namespace: "default",
		Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}}}
}

// managerPodsFollowRelease makes the manager pods what the release's last revision asks
// for (3 with manager.ha, else 1), as the StatefulSet controller would.
func managerPodsFollowRelease(e *Env) {
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
			mgr, _ := rel.Config["manager"].(map[string]any)
			gvr := corev1.SchemeGroupVersion.WithResource("pods")
			for i := 1; i <= 2; i++ {
				if mgr["ha"] == true {
					_ = tracker.Add(managerPod(i))
				} else {
					_ = tracker.Delete(gvr, "default", fmt.Sprintf("demo-insight-manager-%d", i))
				}
			}
			return false, nil, nil
		})
		return c, nil
	}
}

func managersRelease(ha bool) *release.Release {
	return deployedRelease("demo", 1, map[string]any{"pu": map[string]any{"partitions": 2}, "manager": map[string]any{"ha": ha, "persistence": map[string]any{"enabled": true}}}, release.StatusDeployed)
}

// scale --manager-ha=false removes the members through the manager before it marks the
// StatefulSet and upgrades; --manager-ha=true upgrades and follows the learners until
// they are voters; a run with nothing to do changes nothing; bad combinations are refused.
func TestScaleManagers(t *testing.T) {
	off := newProgressManager(t, membersJSON("m-0", "m-1*", "m-2"))
	off.postReply = `{"members":[{"name":"m-0","healthy":true,"leader":true}],"voters":1,"removed":["m-2","m-1"]}`
	off.afterPost = []string{membersJSON("m-0*")}
	on := newProgressManager(t, membersJSON("m-0*"), membersJSON("m-0*", "m-1~"), membersJSON("m-0*", "m-1", "m-2~"), membersJSON("m-0*", "m-1", "m-2"))
	done := newProgressManager(t, membersJSON("m-0*", "m-1", "m-2"))
	refused := newProgressManager(t, membersJSON("m-0", "m-1*", "m-2"))
	refused.postStatus, refused.postReply = 409, `{"error":{"code":"Conflict","message":"member m-0, which would stay, is not a healthy voting member"}}`
	tests := []struct {
		name    string
		cluster cluster
		manager *progressManager
		cmd     string
		code    int
		golden  string
		ha      bool     // the release's manager.ha afterwards
		calls   []string // the manager's calls
		marked  string   // the StatefulSet's insight.io/etcd-members afterwards
	}{
		{name: "mixed", cmd: "scale demo --manager-ha=false --ha=true --memory 1Gi --wait=false", code: 2, golden: "scale-managers-mixed.golden"},
		{name: "off", cluster: cluster{objects: managerObjects(3, 3), releases: []*release.Release{managersRelease(true)}}, manager: off,
			cmd: "scale demo --manager-ha=false", golden: "scale-managers-off.golden", ha: false, marked: "1",
			calls: []string{"GET /v1/managers", `POST /v1/managers {"members":1}`, "GET /v1/managers"}},
		{name: "on", cluster: cluster{objects: managerObjects(1, 1), releases: []*release.Release{managersRelease(false)}}, manager: on,
			cmd: "scale demo --manager-ha=true --skip-preflight", golden: "scale-managers-on.golden", ha: true, marked: "1",
			calls: []string{"GET /v1/managers", "GET /v1/managers", "GET /v1/managers", "GET /v1/managers"}},
		{name: "nothing to do", cluster: cluster{objects: managerObjects(3, 3), releases: []*release.Release{managersRelease(true)}}, manager: done,
			cmd: "scale demo --manager-ha=true -o json", golden: "scale-managers-noop.golden", ha: true, marked: "3", calls: []string{"GET /v1/managers"}},
		{name: "removal refused", cluster: cluster{objects: managerObjects(3, 3), releases: []*release.Release{managersRelease(true)}}, manager: refused,
			cmd: "scale demo --manager-ha=false", code: 1, golden: "scale-managers-refused.golden", ha: true, marked: "3",
			calls: []string{"GET /v1/managers", `POST /v1/managers {"members":1}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := ""
			if tt.manager != nil {
				url = tt.manager.URL
			}
			r := runGolden(t, tt.cluster, tt.cmd, url, tt.code, tt.golden, fastPoll, managerPodsFollowRelease)
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
			if mgr, _ := rel.Config["manager"].(map[string]any); mgr["ha"] != tt.ha {
				t.Errorf("manager.ha = %v, want %v", mgr["ha"], tt.ha)
			}
			s, err := r.kube.AppsV1().StatefulSets("default").Get(t.Context(), "demo-insight-manager", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Annotations[scale.MembersAnnotation]; got != tt.marked {
				t.Errorf("%s=%q, want %q", scale.MembersAnnotation, got, tt.marked)
			}
		})
	}
}
