package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/internal/golden"
	"github.com/insightgrid/insight/grid/api"
)

type fakeCluster struct {
	pods    []corev1.Pod
	nodes   []corev1.Node
	manager []api.Partition
}

func (f *fakeCluster) Pods(context.Context) ([]corev1.Pod, error)   { return f.pods, nil }
func (f *fakeCluster) Nodes(context.Context) ([]corev1.Node, error) { return f.nodes, nil }
func (f *fakeCluster) Partitions(context.Context) ([]api.Partition, error) {
	if f.manager == nil {
		return nil, errors.New("no manager service")
	}
	return f.manager, nil
}

func pod(name, node string, labels map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func data(p, i string) map[string]string {
	return map[string]string{"app.kubernetes.io/component": "pu", "insight.dev/partition": p, "insight.dev/instance": i}
}

func fixture() *fakeCluster {
	zone := func(n, z string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"topology.kubernetes.io/zone": z}}}
	}
	return &fakeCluster{
		nodes: []corev1.Node{zone("n0", "zone-a"), zone("n1", "zone-b")},
		pods: []corev1.Pod{
			pod("insight-pu-0-0", "n0", data("0", "0")), pod("insight-pu-0-1", "n1", data("0", "1")),
			pod("insight-manager-0", "n0", map[string]string{"app.kubernetes.io/component": "manager"}),
		},
	}
}

func TestManagerUnreachableFallsBackToPreferredRoles(t *testing.T) {
	r, err := Collect(context.Background(), fixture(), Release{Name: "insight"})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Partitions[0]
	if r.ManagerReachable || p.Primary.Pod != "insight-pu-0-0" || p.Backup.Pod != "insight-pu-0-1" || p.Backup.Zone != "zone-b" || p.InSync != nil {
		t.Errorf("unexpected report: %+v", r)
	}
}

func TestTwoPrimariesIsLoud(t *testing.T) {
	c := fixture()
	keys := int64(7)
	c.manager = []api.Partition{{ID: 0, Epoch: 3, Primary: "p0-i1", InSync: true, Instances: []api.Instance{
		{ID: "p0-i0", Partition: 0, Instance: 0, Role: "primary", Ready: true, Keys: &keys},
		{ID: "p0-i1", Partition: 0, Instance: 1, Role: "primary", Ready: true},
	}}}
	r, err := Collect(context.Background(), c, Release{Name: "insight", Updated: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Partitions[0].TwoPrimaries || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "PARTITION 0 HAS 2 PRIMARIES") {
		t.Fatalf("two primaries not flagged: %+v", r)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "!!! PARTITION 0 HAS 2 PRIMARIES") || !strings.Contains(b.String(), "TWO PRIMARIES") {
		t.Errorf("table does not flag it:\n%s", b.String())
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// The JSON schema is documented in docs/cli.md; a change here is a change of contract.
	golden.Assert(t, string(j)+"\n", "report.json")
}

// An instance the manager has registered but whose pod is not in view shows the node and
// zone it registered.
func TestRegisteredInstanceWithoutPodShowsItsNodeAndZone(t *testing.T) {
	c := fixture()
	c.manager = []api.Partition{{ID: 1, Epoch: 1, Primary: "p1-i0", Instances: []api.Instance{
		{ID: "p1-i0", Partition: 1, Instance: 0, Role: "primary", Ready: true, Node: "n7", Zone: "zone-c"},
	}}}
	r, err := Collect(context.Background(), c, Release{Name: "insight"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Partitions) != 2 || r.Partitions[1].Primary == nil {
		t.Fatalf("report %+v: want partition 1 with its registered primary", r)
	}
	if in := r.Partitions[1].Primary; in.Node != "n7" || in.Zone != "zone-c" || in.State != "absent" {
		t.Errorf("registered instance without a pod: %+v, want node n7 zone zone-c, absent", in)
	}
}
