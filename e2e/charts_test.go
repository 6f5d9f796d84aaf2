package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const umbrellaChart = "../charts/insight"

// The source documents' commands, run as written with the real helm binary (chart path aside).
func TestHelmContractPartitionsAndUpgrade(t *testing.T) {
	ns := cluster.Namespace(t, "helm-partitions")
	helmOK(t, "install", "demo", umbrellaChart, "-n", ns, "--wait", "--timeout", "3m",
		"--set", "pu.partitions=3,pu.resources.limits.memory=512Mi")
	pods := readyGridPods(t, ns, 3)
	for _, p := range pods {
		if got := p.Spec.Containers[0].Resources.Limits.Memory().String(); got != "512Mi" {
			t.Errorf("%s memory limit %s, want 512Mi", p.Name, got)
		}
	}

	helmOK(t, "upgrade", "demo", umbrellaChart, "-n", ns, "--wait", "--timeout", "3m",
		"--set", "pu.resources.limits.memory=600Mi", "--reuse-values")
	cluster.WaitFor(t, 2*time.Minute, "every pu pod on 600Mi and Ready", func(ctx context.Context) (bool, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: puSelector})
		if err != nil || len(pods.Items) != 3 {
			return false, err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || !podReady(&p) || p.Spec.Containers[0].Resources.Limits.Memory().String() != "600Mi" {
				return false, nil
			}
		}
		return true, nil
	})

	// A raw helm upgrade cannot drop partitions that hold data: refused with the key and
	// both counts named and insightctl scale pointed to, nothing deleted.
	res := cluster.Helm(t, "upgrade", "demo", umbrellaChart, "-n", ns, "--set", "pu.partitions=2", "--reuse-values")
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "pu.partitions=2 but release demo runs 3 partitions") ||
		!strings.Contains(res.Stderr, "insightctl scale demo -n "+ns+" --partitions 2") {
		t.Fatalf("helm upgrade --set pu.partitions=2: exit %d, want a refusal naming the key\n%s", res.ExitCode, res.Stderr)
	}
	if sts, err := cluster.Client.AppsV1().StatefulSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: puSelector}); err != nil || len(sts.Items) != 3 {
		t.Fatalf("after the refused upgrade: %d data StatefulSets (%v), want 3", len(sts.Items), err)
	}

	pvcsBefore := pvcNames(t, ns)
	helmOK(t, "uninstall", "demo", "-n", ns, "--wait", "--timeout", "2m")
	if after := pvcNames(t, ns); len(pvcsBefore) == 0 || strings.Join(after, ",") != strings.Join(pvcsBefore, ",") {
		t.Fatalf("PVCs before uninstall %v, after %v: want the same, non-empty", pvcsBefore, after)
	}
}

func TestHelmContractHAAntiAffinity(t *testing.T) {
	for _, tc := range []struct {
		name, set, topologyKey string
		partitions             int
	}{
		{"hostname", "pu.ha=true,pu.antiAffinity.enabled=true", "kubernetes.io/hostname", 1},
		{"zone", "pu.ha=true,pu.antiAffinity.enabled=true,pu.partitions=3,pu.antiAffinity.topology=topology.kubernetes.io/zone", zoneKey, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := cluster.Namespace(t, "helm-ha-"+tc.name)
			helmOK(t, "install", "demo", umbrellaChart, "-n", ns, "--wait", "--timeout", "3m", "--set", tc.set)
			pods := readyGridPods(t, ns, 2*tc.partitions)
			domains := map[string]map[string]string{} // partition -> domain -> pod
			for _, p := range pods {
				node, err := cluster.Client.CoreV1().Nodes().Get(context.Background(), p.Spec.NodeName, metav1.GetOptions{})
				if err != nil {
					t.Fatalf("node of %s: %v", p.Name, err)
				}
				part, domain := p.Labels["insight.dev/partition"], node.Labels[tc.topologyKey]
				if domains[part] == nil {
					domains[part] = map[string]string{}
				}
				if other, ok := domains[part][domain]; ok {
					t.Errorf("partition %s has %s and %s in one %s (%s)", part, other, p.Name, tc.topologyKey, domain)
				}
				domains[part][domain] = p.Name
			}
			if len(domains) != tc.partitions {
				t.Errorf("pods of %d partitions, want %d", len(domains), tc.partitions)
			}
		})
	}
}

// Plain helm refuses bad values through the charts' schemas, naming the key, before it
// creates anything.
func TestHelmRejectsBadValues(t *testing.T) {
	ns := cluster.Namespace(t, "helm-bad")
	for _, tc := range []struct{ set, key string }{
		{"pu.partitions=0", "partitions"},
		{"pu.partitions=abc", "partitions"},
		{"pu.resources.limits.memory=lots", "memory"},
		{"pu.antiAffinity.topology=rack", "topology"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			res := cluster.Helm(t, "install", "demo", umbrellaChart, "-n", ns, "--set", tc.set)
			if res.ExitCode == 0 {
				t.Fatalf("helm install --set %s succeeded, want a refusal", tc.set)
			}
			if !strings.Contains(res.Stderr, tc.key) {
				t.Errorf("error does not name %q:\n%s", tc.key, res.Stderr)
			}
		})
	}
	if res := cluster.Helm(t, "list", "-a", "-q", "-n", ns); strings.TrimSpace(res.Stdout) != "" {
		t.Errorf("releases left behind: %q", res.Stdout)
	}
	ctx := context.Background()
	sts, _ := cluster.Client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	svcs, _ := cluster.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	secrets, _ := cluster.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if len(sts.Items)+len(svcs.Items)+len(secrets.Items) != 0 {
		t.Errorf("objects created: %d StatefulSets, %d Services, %d Secrets", len(sts.Items), len(svcs.Items), len(secrets.Items))
	}
}

const puSelector = "app.kubernetes.io/component=pu"

func helmOK(t *testing.T, args ...string) {
	t.Helper()
	start := time.Now()
	res := cluster.Helm(t, args...)
	if res.ExitCode != 0 {
		t.Fatalf("helm %s: exit %d\n%s%s", strings.Join(args, " "), res.ExitCode, res.Stdout, res.Stderr)
	}
	t.Logf("helm %s: %s", args[0], time.Since(start).Round(10*time.Millisecond))
}

// readyGridPods returns the release's data pods once there are want of them, all Ready.
func readyGridPods(t *testing.T, ns string, want int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	cluster.WaitFor(t, 2*time.Minute, "Ready data pods", func(ctx context.Context) (bool, error) {
		list, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: puSelector})
		if err != nil {
			return false, err
		}
		pods = list.Items
		if len(pods) != want {
			return false, nil
		}
		for i := range pods {
			if !podReady(&pods[i]) {
				return false, nil
			}
		}
		return true, nil
	})
	return pods
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func pvcNames(t *testing.T, ns string) []string {
	t.Helper()
	list, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing PVCs: %v", err)
	}
	var names []string
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	return names
}
