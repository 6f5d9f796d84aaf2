package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const zoneKey = "topology.kubernetes.io/zone"

// TestClusterUp checks the shape the other tests rely on: every node Ready, and both the
// node-agent nodes and the kwok nodes spread over three zones.
func TestClusterUp(t *testing.T) {
	ctx := context.Background()
	nodes, err := cluster.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing nodes: %v", err)
	}
	zones := map[string]map[string]bool{"agent": {}, "kwok": {}}
	for _, n := range nodes.Items {
		kind := "agent"
		if n.Labels["type"] == "kwok" {
			kind = "kwok"
		}
		zones[kind][n.Labels[zoneKey]] = true
		if !nodeReady(&n) {
			t.Errorf("node %s is not Ready", n.Name)
		}
		if n.Status.Allocatable.Memory().IsZero() || n.Status.Allocatable.Cpu().IsZero() {
			t.Errorf("node %s has no allocatable cpu or memory: %v", n.Name, n.Status.Allocatable)
		}
	}
	for kind, z := range zones {
		if len(z) < 3 {
			t.Errorf("%s nodes span %d zones (%v), want 3", kind, len(z), z)
		}
	}
	v, err := cluster.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if !strings.HasPrefix(v.GitVersion, "v1.34.") {
		t.Errorf("server version %s, want v1.34.x", v.GitVersion)
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// TestZoneAntiAffinity runs a StatefulSet whose pods must not share a zone on the kwok nodes:
// three replicas land in three zones, a fourth stays Pending with a FailedScheduling event.
func TestZoneAntiAffinity(t *testing.T) {
	ns := cluster.Namespace(t, "zones")
	ctx := context.Background()
	sts := zoneSpreadStatefulSet("spread", 3)
	if _, err := cluster.Client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating StatefulSet: %v", err)
	}
	cluster.WaitFor(t, 60*time.Second, "3 Ready replicas", func(ctx context.Context) (bool, error) {
		s, err := cluster.Client.AppsV1().StatefulSets(ns).Get(ctx, "spread", metav1.GetOptions{})
		return err == nil && s.Status.ReadyReplicas == 3, err
	})
	if got := zonesOfPods(t, ns); len(got) != 3 {
		t.Fatalf("pods landed in zones %v, want 3 distinct zones", got)
	}

	if _, err := cluster.Client.AppsV1().StatefulSets(ns).Patch(ctx, "spread", "application/merge-patch+json",
		[]byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("scaling to 4: %v", err)
	}
	cluster.WaitFor(t, 60*time.Second, "FailedScheduling event for spread-3", func(ctx context.Context) (bool, error) {
		evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.name=spread-3,reason=FailedScheduling",
		})
		return err == nil && len(evs.Items) > 0, err
	})
	p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "spread-3", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting spread-3: %v", err)
	}
	if p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
		t.Fatalf("spread-3 is %s on %q, want Pending and unscheduled", p.Status.Phase, p.Spec.NodeName)
	}
}

func zonesOfPods(t *testing.T, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing pods: %v", err)
	}
	zones := map[string]string{}
	for _, p := range pods.Items {
		n, err := cluster.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("getting node of %s: %v", p.Name, err)
		}
		z := n.Labels[zoneKey]
		if other, dup := zones[z]; dup {
			t.Errorf("pods %s and %s share zone %s", other, p.Name, z)
		}
		zones[z] = p.Name
	}
	return zones
}

func zoneSpreadStatefulSet(name string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"type": "kwok"},
					Tolerations: []corev1.Toleration{{
						Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
					}},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
							TopologyKey:   zoneKey,
						}},
					}},
					Containers: []corev1.Container{{
						Name:  "app",
						Image: fmt.Sprintf("registry.invalid/%s:1", name),
					}},
				},
			},
		},
	}
}
