package preflight

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/internal/golden"
)

// fakeCluster is a hand-written Cluster: a list of nodes, pods, classes and served kinds.
type fakeCluster struct {
	version string
	nodes   []corev1.Node
	pods    []corev1.Pod
	classes []storagev1.StorageClass
	served  map[Kind]bool
}

func (f *fakeCluster) ServerVersion(context.Context) (string, error) { return f.version, nil }
func (f *fakeCluster) Nodes(context.Context) ([]corev1.Node, error)  { return f.nodes, nil }
func (f *fakeCluster) Pods(context.Context) ([]corev1.Pod, error)    { return f.pods, nil }
func (f *fakeCluster) StorageClasses(context.Context) ([]storagev1.StorageClass, error) {
	return f.classes, nil
}
func (f *fakeCluster) Serves(_ context.Context, apiVersion, kind string) (bool, error) {
	return f.served[Kind{APIVersion: apiVersion, Kind: kind}], nil
}

func node(name, zone, mem string, mods ...func(*corev1.Node)) corev1.Node {
	n := corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{TopologyHostname: name, TopologyZone: zone}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse(mem)},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, m := range mods {
		m(&n)
	}
	return n
}

func tainted(n *corev1.Node) {
	n.Spec.Taints = []corev1.Taint{{Key: "kwok.x-k8s.io/node", Value: "fake", Effect: corev1.TaintEffectNoSchedule}}
}
func cordoned(n *corev1.Node) { n.Spec.Unschedulable = true }

func mem(m string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(m), corev1.ResourceCPU: resource.MustParse("100m")}
}

func TestTopology(t *testing.T) {
	threeZones := []corev1.Node{node("n0", "zone-a", "8Gi"), node("n1", "zone-b", "8Gi"), node("n2", "zone-c", "8Gi")}
	oneZone := []corev1.Node{node("n0", "zone-a", "8Gi"), node("n1", "zone-a", "8Gi")}
	tests := []struct {
		name        string
		nodes       []corev1.Node
		pods        []corev1.Pod
		req         Requirements
		wantPending int
		wantFailed  []string
		wantInFix   string
	}{
		{
			name:        "2 partitions with ha and zone anti-affinity on 1 zone predicts 2 Pending pods",
			nodes:       oneZone,
			req:         Requirements{Partitions: 2, HA: true, AntiAffinityTopology: TopologyZone, PodRequests: mem("512Mi")},
			wantPending: 2, wantFailed: []string{"topology"}, wantInFix: "--anti-affinity=hostname (2 schedulable nodes)",
		},
		{
			name:  "same on 3 zones fits",
			nodes: threeZones,
			req:   Requirements{Partitions: 2, HA: true, AntiAffinityTopology: TopologyZone, PodRequests: mem("512Mi"), Managers: 3, ManagerRequests: mem("256Mi")},
		},
		{
			name:        "hostname anti-affinity on a single node leaves every backup Pending",
			nodes:       []corev1.Node{node("n0", "zone-a", "8Gi")},
			req:         Requirements{Partitions: 3, HA: true, AntiAffinityTopology: TopologyHostname, PodRequests: mem("512Mi")},
			wantPending: 3, wantFailed: []string{"topology"}, wantInFix: "add schedulable nodes in 1 more",
		},
		{
			name:  "no anti-affinity: one zone is enough",
			nodes: oneZone,
			req:   Requirements{Partitions: 2, HA: true, PodRequests: mem("512Mi")},
		},
		{
			name:        "tainted and cordoned nodes do not count",
			nodes:       []corev1.Node{node("n0", "zone-a", "8Gi"), node("k1", "zone-b", "8Gi", tainted), node("c2", "zone-c", "8Gi", cordoned)},
			req:         Requirements{Partitions: 1, HA: true, AntiAffinityTopology: TopologyZone, PodRequests: mem("512Mi")},
			wantPending: 1, wantFailed: []string{"topology"},
		},
		{
			name:        "no usable node at all",
			nodes:       []corev1.Node{node("k0", "zone-a", "8Gi", tainted)},
			req:         Requirements{Partitions: 1, PodRequests: mem("512Mi"), Managers: 1, ManagerRequests: mem("128Mi")},
			wantPending: 2, wantFailed: []string{"topology"}, wantInFix: "tolerate their taints",
		},
		{
			name:  "a tolerated taint makes the node usable",
			nodes: []corev1.Node{node("n0", "zone-a", "8Gi"), node("k1", "zone-b", "8Gi", tainted)},
			req: Requirements{Partitions: 1, HA: true, AntiAffinityTopology: TopologyZone, PodRequests: mem("512Mi"),
				Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
		},
		{
			name:  "memory: 4 pods of 3Gi on two 8Gi nodes, one already half used",
			nodes: []corev1.Node{node("n0", "zone-a", "8Gi"), node("n1", "zone-b", "8Gi")},
			pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "x"}, Spec: corev1.PodSpec{NodeName: "n1",
				Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: mem("4Gi")}}}}}},
			req:         Requirements{Partitions: 2, HA: true, PodRequests: mem("3Gi")},
			wantPending: 1, wantFailed: []string{"resources"}, wantInFix: "lower --memory",
		},
		{
			name:  "an upgrade does not count the release's own pods",
			nodes: []corev1.Node{node("n0", "zone-a", "4Gi")},
			pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "insight-pu-0-0", Namespace: "db", Labels: map[string]string{"app.kubernetes.io/instance": "insight"}},
				Spec: corev1.PodSpec{NodeName: "n0", Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: mem("3Gi")}}}}}},
			req: Requirements{Partitions: 1, PodRequests: mem("3Gi"), Namespace: "db", Release: "insight"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeCluster{version: "v1.34.4", nodes: tt.nodes, pods: tt.pods}
			res, err := Run(context.Background(), c, tt.req)
			if res == nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Pending != tt.wantPending {
				t.Errorf("pending = %d, want %d; checks: %+v", res.Pending, tt.wantPending, res.Checks)
			}
			var failed []string
			var fixes string
			for _, c := range res.Checks {
				if !c.OK {
					failed = append(failed, c.Name)
					fixes += c.Fix
				}
			}
			if strings.Join(failed, ",") != strings.Join(tt.wantFailed, ",") {
				t.Errorf("failed checks = %v, want %v; checks: %+v", failed, tt.wantFailed, res.Checks)
			}
			if (err != nil) != (len(tt.wantFailed) > 0) {
				t.Errorf("err = %v, want error: %v", err, len(tt.wantFailed) > 0)
			}
			if !strings.Contains(fixes, tt.wantInFix) {
				t.Errorf("fix %q does not contain %q", fixes, tt.wantInFix)
			}
		})
	}
}

func TestPendingMessageNamesTheNumbers(t *testing.T) {
	c := &fakeCluster{version: "v1.34.4", nodes: []corev1.Node{node("n0", "zone-a", "8Gi")}}
	res, _ := Run(context.Background(), c, Requirements{Partitions: 2, HA: true, AntiAffinityTopology: TopologyZone, PodRequests: mem("1Gi")})
	var b strings.Builder
	for _, c := range res.Checks {
		fmt.Fprintf(&b, "%s ok=%v\n  %s\n  fix: %s\n", c.Name, c.OK, c.Message, c.Fix)
	}
	golden.Assert(t, b.String(), "pending-one-zone.golden")
}

func TestVersionStorageKinds(t *testing.T) {
	def := storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}}
	plain := storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "slow"}}
	sm := Kind{APIVersion: "monitoring.coreos.com/v1", Kind: "ServiceMonitor"}
	tests := []struct {
		name    string
		cluster fakeCluster
		req     Requirements
		failed  string
	}{
		{name: "old kubernetes", cluster: fakeCluster{version: "v1.25.0"}, failed: "kubernetes-version"},
		{name: "chart range", cluster: fakeCluster{version: "v1.34.4"}, req: Requirements{KubeVersionRange: ">=1.35.0-0"}, failed: "kubernetes-version"},
		{name: "supported", cluster: fakeCluster{version: "v1.34.4"}},
		{name: "persistence without default class", cluster: fakeCluster{version: "v1.34.4", classes: []storagev1.StorageClass{plain}}, req: Requirements{Persistence: true}, failed: "storage-class"},
		{name: "persistence with default class", cluster: fakeCluster{version: "v1.34.4", classes: []storagev1.StorageClass{def}}, req: Requirements{Persistence: true}},
		{name: "named class missing", cluster: fakeCluster{version: "v1.34.4", classes: []storagev1.StorageClass{def}}, req: Requirements{Persistence: true, StorageClass: "fast"}, failed: "storage-class"},
		{name: "crd missing", cluster: fakeCluster{version: "v1.34.4"}, req: Requirements{Kinds: []Kind{sm}}, failed: "api-kinds"},
		{name: "crd present", cluster: fakeCluster{version: "v1.34.4", served: map[Kind]bool{sm: true}}, req: Requirements{Kinds: []Kind{sm}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), &tt.cluster, tt.req)
			if res == nil {
				t.Fatalf("Run: %v", err)
			}
			var failed []string
			for _, c := range res.Checks {
				if !c.OK {
					failed = append(failed, c.Name)
				}
			}
			if strings.Join(failed, ",") != tt.failed {
				t.Errorf("failed = %v, want %q: %+v", failed, tt.failed, res.Checks)
			}
		})
	}
}

// TestMissingKindsNameTheAddOn checks that a missing CRD kind is reported with the add-on
// chart and the switch that need it.
func TestMissingKindsNameTheAddOn(t *testing.T) {
	pm := Kind{APIVersion: "monitoring.coreos.com/v1", Kind: "PodMonitor"}
	check, err := checkKinds(context.Background(), &fakeCluster{version: "v1.34.4"}, []Kind{pm})
	if err != nil {
		t.Fatal(err)
	}
	want := "the cluster does not serve PodMonitor (monitoring.coreos.com/v1, for insight-prometheus, prometheus.enabled), used by the enabled add-ons"
	if check.OK || check.Message != want {
		t.Errorf("check %+v, want message %q", check, want)
	}
}
