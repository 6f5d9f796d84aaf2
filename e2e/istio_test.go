package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/e2e/framework"
)

// istioKinds are the add-on's objects as kubectl names them.
const istioKinds = "peerauthentications.security.istio.io,authorizationpolicies.security.istio.io,destinationrules.networking.istio.io"

// analyze runs Istio's analyzer against the live API server on one namespace, with 0
// warnings as the failure threshold.
func analyze(t *testing.T, istioctl, ns string) framework.Result {
	t.Helper()
	return cluster.Run(t, 2*time.Minute, istioctl, "analyze", "--kubeconfig", cluster.Kubeconfig, "-n", ns,
		"--failure-threshold", "Warning", "--color=false", "--timeout", "60s")
}

// TestIstioAddOnPassesIstiosAnalyzer installs Istio's CRDs in the API server and the HA
// suite with the Istio add-on, so that the API server validates every object against the
// CRDs' schemas (and a strict server-side dry-run refuses any field they do not know), then
// runs Istio's own analyzer, istioctl analyze, on the release's namespace with its pods
// marked as istio-cni marks pods in ambient mode (no CNI runs here): 0 errors and 0
// warnings. A policy that selects no workload must make the analyzer fail, so an analysis
// that skipped the objects cannot pass.
func TestIstioAddOnPassesIstiosAnalyzer(t *testing.T) {
	crds, istioctl := os.Getenv("INSIGHT_ISTIO_CRDS"), os.Getenv("INSIGHT_ISTIOCTL")
	if crds == "" || istioctl == "" {
		t.Fatal("INSIGHT_ISTIO_CRDS or INSIGHT_ISTIOCTL is not set: run the e2e tests through ci/e2e.sh, which sets them to what ci/tools.sh fetched and built")
	}
	kubectlOK(t, "apply", "--server-side", "-f", crds)
	t.Cleanup(func() { kubectl(t, "delete", "--ignore-not-found", "--wait=false", "-f", crds) })
	kubectlOK(t, "wait", "--for", "condition=established", "--timeout", "60s", "-f", crds)

	ns := cluster.Namespace(t, "istio")
	kubectlOK(t, "label", "namespace", ns, "istio.io/dataplane-mode=ambient")
	args := []string{"-n", ns, "--profile", "ha", "--partitions", "2", "--enable", "istio"}
	// template renders offline: it is told which API versions the cluster serves.
	tmpl := []string{"template", "demo"}
	for _, api := range charts.IstioAPIs {
		tmpl = append(tmpl, "--api-versions", api)
	}
	rendered := insightctlOK(t, append(tmpl, args...)...).Stdout
	manifest := filepath.Join(t.TempDir(), "suite.yaml")
	if err := os.WriteFile(manifest, []byte(rendered), 0o600); err != nil {
		t.Fatal(err)
	}
	// Strict: a field the CRDs' schemas do not know fails instead of being pruned.
	kubectlOK(t, "apply", "--dry-run=server", "--validate=strict", "-f", manifest)
	insightctlOK(t, append([]string{"install", "demo", "--timeout", "4m"}, args...)...)

	objs := strings.Fields(kubectlOK(t, "get", istioKinds, "-n", ns, "-o", "name"))
	if len(objs) != 7 {
		t.Fatalf("Istio objects in %s: %v, want 2 PeerAuthentications, 2 AuthorizationPolicies, 3 DestinationRules", ns, objs)
	}
	kubectlOK(t, "annotate", "pods", "-n", ns, "-l", "app.kubernetes.io/instance=demo", "ambient.istio.io/redirection=enabled")

	res := analyze(t, istioctl, ns)
	out := res.Stdout + res.Stderr
	if res.ExitCode != 0 || strings.Contains(out, "Warning [") || strings.Contains(out, "Error [") {
		t.Fatalf("istioctl analyze -n %s: exit %d\n%s", ns, res.ExitCode, out)
	}
	t.Logf("istioctl analyze -n %s: %s", ns, strings.TrimSpace(out))

	// The control: a policy for workloads that do not exist is reported.
	stray := filepath.Join(t.TempDir(), "stray.yaml")
	if err := os.WriteFile(stray, []byte(`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: stray
spec:
  selector:
    matchLabels:
      app.kubernetes.io/name: no-such-workload
  action: ALLOW
  rules:
    - to:
        - operation:
            ports: ["6379"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectlOK(t, "apply", "-n", ns, "-f", stray)
	res = analyze(t, istioctl, ns)
	if res.ExitCode == 0 || !strings.Contains(res.Stdout+res.Stderr, "IST0127") {
		t.Fatalf("istioctl analyze did not report the stray policy (IST0127): exit %d\n%s%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	kubectlOK(t, "delete", "-n", ns, "-f", stray)
}
