package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The order of a partition's steps in a rolling restart (cli/rollout), as scale prints them.
var rollSteps = []string{"waiting", "restarting backup", "backup in sync", "primary handing over",
	"restarting old primary", "back in sync", "failed back"}

var stepLine = regexp.MustCompile(`(?m)^\S+ partition (\d+): ([a-z ]+?)(?: \(|,|$)`)

// Day-2 operations on an ha grid of 2 partitions: a rolling memory scale, its no-op re-run,
// and a planned failover and failback through the manager.
func TestOps(t *testing.T) {
	ns := cluster.Namespace(t, "ops")
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "ha", "--partitions", "2", "--timeout", "4m")
	// Without --manager-url the CLI reaches the manager through a port-forward (the API
	// server refuses to proxy to the node agent's loopback pod addresses); the failover
	// names the manager's pod address instead, as an operator on the pod network would.
	manager := managerURL(t, ns)
	// Nobody outside the release changes the grid without the operator token; insightctl,
	// reading the Secret, does below.
	refusedWithoutToken(t, ns, manager)

	res := insightctlOK(t, "scale", "demo", "-n", ns, "--memory", "600Mi", "--timeout", "5m")
	if !strings.Contains(res.Stderr, "Request demo-r2: revision 2 applied") {
		t.Errorf("scale printed no request id:\n%s", res.Stderr)
	}
	t.Logf("scale's view:\n%s", res.Stderr)
	checkStepOrder(t, res.Stderr, 2)
	pods := dataPods(t, ns)
	if len(pods) != 4 {
		t.Fatalf("%d data pods, want 4", len(pods))
	}
	want := resource.MustParse("600Mi")
	for _, p := range pods {
		c := p.Spec.Containers[0]
		if c.Resources.Limits.Memory().Cmp(want) != 0 || c.Resources.Requests.Memory().Cmp(want) != 0 {
			t.Errorf("pod %s: memory limit %s request %s, want 600Mi", p.Name, c.Resources.Limits.Memory(), c.Resources.Requests.Memory())
		}
		if !podReady(&p) || p.DeletionTimestamp != nil {
			t.Errorf("pod %s is not ready after the scale", p.Name)
		}
	}

	// Re-running the same scale is how an interrupted one resumes: nothing changes.
	res = insightctlOK(t, "scale", "demo", "-n", ns, "--memory", "600Mi", "--timeout", "2m")
	if !strings.Contains(res.Stderr, "already has these values (revision 2)") {
		t.Errorf("the re-run is not a no-op:\n%s", res.Stderr)
	}
	if s := status(t, ns); s.Release.Revision != 2 {
		t.Errorf("revision after the re-run %d, want 2", s.Release.Revision)
	}

	res = insightctlOK(t, "failover", "0", "--release", "demo", "-n", ns, "--manager-url", manager)
	t.Logf("failover: %s", res.Stdout)
	if !regexp.MustCompile(`^partition 0: p0-i0 -> p0-i1, epoch \d+, write pause \d+\.\d\d ms\n$`).MatchString(res.Stdout) {
		t.Errorf("failover printed %q", res.Stdout)
	}
	// The manager fails back by itself 5 s after the switch-over; either way partition 0
	// ends on p0-i0.
	res = insightctlOK(t, "failback", "0", "--release", "demo", "-n", ns)
	t.Logf("failback: %s", res.Stdout)
	if !regexp.MustCompile(`^partition 0: (p0-i1 -> p0-i0, epoch \d+, write pause \d+\.\d\d ms|p0-i0 is already the primary, epoch \d+, unchanged)\n$`).MatchString(res.Stdout) {
		t.Errorf("failback printed %q", res.Stdout)
	}
	res = insightctlOK(t, "failback", "--release", "demo", "-n", ns, "-o", "json")
	if strings.Count(res.Stdout, `"unchanged": true`) != 2 {
		t.Errorf("failback of every partition after the failback of 0:\n%s", res.Stdout)
	}

	bad := insightctl(t, "failover", "2", "--release", "demo", "-n", ns)
	if bad.ExitCode != 2 || !strings.Contains(bad.Stderr, "release demo has 2 partitions: 0-1") {
		t.Errorf("failover of a partition out of range: exit %d\n%s", bad.ExitCode, bad.Stderr)
	}
	bad = insightctl(t, "scale", "demo", "-n", ns, "--partitions", "3", "--memory", "1Gi")
	if bad.ExitCode != 2 || !strings.Contains(bad.Stderr, "--memory: cannot be combined with --partitions") {
		t.Errorf("scale --partitions --memory: exit %d\n%s", bad.ExitCode, bad.Stderr)
	}
}

// managerURL is the REST API of the release's first manager pod, at its pod address:
// https when the release runs TLS (global.tls.enabled, the default).
func managerURL(t *testing.T, ns string) string {
	t.Helper()
	p, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), "demo-insight-manager-0", metav1.GetOptions{})
	if err != nil || p.Status.PodIP == "" {
		t.Fatalf("manager pod: %v (IP %q)", err, p.Status.PodIP)
	}
	scheme := "http"
	if _, _, _, ok := releaseTLS(t, ns); ok {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:8090", scheme, p.Status.PodIP)
}

func dataPods(t *testing.T, ns string) []corev1.Pod {
	t.Helper()
	l, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=demo,app.kubernetes.io/component=pu"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// checkStepOrder checks that every partition's steps, as scale printed them, went forward
// only, included both restarts and ended failed back.
func checkStepOrder(t *testing.T, out string, partitions int) {
	t.Helper()
	index := map[string]int{}
	for i, s := range rollSteps {
		index[s] = i
	}
	seen := map[int][]string{}
	for _, m := range stepLine.FindAllStringSubmatch(out, -1) {
		p, _ := strconv.Atoi(m[1])
		if _, ok := index[m[2]]; !ok {
			t.Errorf("partition %d: unknown step %q", p, m[2])
			continue
		}
		seen[p] = append(seen[p], m[2])
	}
	for p := 0; p < partitions; p++ {
		steps := seen[p]
		for i := 1; i < len(steps); i++ {
			if index[steps[i]] < index[steps[i-1]] {
				t.Errorf("partition %d went back from %q to %q: %v", p, steps[i-1], steps[i], steps)
			}
		}
		has := strings.Join(steps, ",")
		for _, want := range []string{"restarting backup", "restarting old primary"} {
			if !strings.Contains(has, want) {
				t.Errorf("partition %d: no %q step in %v", p, want, steps)
			}
		}
		if len(steps) == 0 || steps[len(steps)-1] != "failed back" {
			t.Errorf("partition %d did not end failed back: %v", p, steps)
		}
	}
	t.Logf("steps: %v", seen)
}
