package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/e2e/framework"
)

// insightctl runs the CLI built by ci/build.sh (INSIGHT_BIN) against the local cluster.
func insightctl(t *testing.T, args ...string) framework.Result {
	t.Helper()
	bin := filepath.Join(os.Getenv("INSIGHT_BIN"), "insightctl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("insightctl not built at %s (INSIGHT_BIN): %v", bin, err)
	}
	return cluster.Run(t, 6*time.Minute, bin, append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
}

func insightctlOK(t *testing.T, args ...string) framework.Result {
	t.Helper()
	start := time.Now()
	res := insightctl(t, args...)
	if res.ExitCode != 0 {
		t.Fatalf("insightctl %s: exit %d\n%s\n%s", strings.Join(args, " "), res.ExitCode, res.Stdout, res.Stderr)
	}
	t.Logf("insightctl %s: %s", args[0], time.Since(start).Round(10*time.Millisecond))
	return res
}

// statusJSON is the part of the documented insight.dev/status/v1 schema the tests read.
type statusJSON struct {
	Release struct {
		Name     string `json:"name"`
		Revision int    `json:"revision"`
	} `json:"release"`
	Partitions []struct {
		ID      int `json:"id"`
		Primary *struct {
			Pod   string `json:"pod"`
			Ready bool   `json:"ready"`
			Keys  *int64 `json:"keys"`
		} `json:"primary"`
	} `json:"partitions"`
	ManagerReachable bool     `json:"managerReachable"`
	ManagerError     string   `json:"managerError"`
	Warnings         []string `json:"warnings"`
}

func status(t *testing.T, ns string) statusJSON {
	t.Helper()
	res := insightctlOK(t, "status", "demo", "-n", ns, "-o", "json")
	var s statusJSON
	if err := json.Unmarshal([]byte(res.Stdout), &s); err != nil {
		t.Fatalf("status -o json is not JSON: %v\n%s", err, res.Stdout)
	}
	return s
}

// Install each profile, read the status, upgrade with a changed value, roll back, uninstall.
func TestInsightctlLifecycle(t *testing.T) {
	for _, tc := range []struct {
		profile    string
		partitions int
		extra      []string
	}{
		{"dev", 1, nil},
		{"ha", 3, nil},
		// production asks for 2 CPU and 4Gi for each of its 12 data pods: it fits the agent
		// nodes' allocatable (16 CPU, 64Gi each), and the processes use far less.
		{"production", 6, nil},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			ns := cluster.Namespace(t, "ctl-"+tc.profile)
			insightctlOK(t, append([]string{"install", "demo", "-n", ns, "--profile", tc.profile, "--timeout", "4m"}, tc.extra...)...)
			s := status(t, ns)
			if len(s.Partitions) != tc.partitions {
				t.Fatalf("status shows %d partitions, want %d", len(s.Partitions), tc.partitions)
			}
			// No --manager-url: the API server refuses to proxy to the node agent's loopback
			// pod addresses, so insightctl reaches the manager by a port-forward through the
			// node agent's kubelet API, as it would on any cluster kubectl works with.
			if !s.ManagerReachable {
				t.Errorf("status without --manager-url did not reach the manager: %s", s.ManagerError)
			}
			if len(s.Warnings) > 0 {
				t.Errorf("status warns: %v", s.Warnings)
			}
			for _, p := range s.Partitions {
				if p.Primary == nil || !p.Primary.Ready {
					t.Errorf("partition %d has no ready primary", p.ID)
				} else if p.Primary.Keys == nil {
					t.Errorf("partition %d: status shows no key count for primary %s (the manager's view)", p.ID, p.Primary.Pod)
				}
			}
			if tc.profile != "ha" {
				return // one full upgrade/rollback/uninstall cycle is enough; ha keeps manager PVCs
			}
			insightctlOK(t, "upgrade", "demo", "-n", ns, "--memory", "300Mi", "--timeout", "3m")
			if s := status(t, ns); s.Release.Revision != 2 {
				t.Errorf("revision after upgrade %d, want 2", s.Release.Revision)
			}
			insightctlOK(t, "rollback", "demo", "-n", ns, "--timeout", "3m")
			hist := insightctlOK(t, "history", "demo", "-n", ns)
			if !strings.Contains(hist.Stdout, "3") {
				t.Errorf("history after rollback lacks revision 3:\n%s", hist.Stdout)
			}
			insightctlOK(t, "uninstall", "demo", "-n", ns)
			if pvcs := pvcNames(t, ns); len(pvcs) == 0 {
				t.Errorf("uninstall removed the data volumes; want them kept")
			}
		})
	}
}

// The preflight predicts Pending pods: 2 partitions with ha and zone anti-affinity, with the
// pods held to one zone, leave 2 backups with nowhere to go. Nothing is installed.
func TestInsightctlPreflightPredictsPending(t *testing.T) {
	ns := cluster.Namespace(t, "ctl-preflight")
	res := insightctl(t, "install", "demo", "-n", ns, "--partitions", "2", "--ha", "--anti-affinity=zone",
		"--set", "pu.nodeSelector.topology\\.kubernetes\\.io/zone=zone-a")
	if res.ExitCode != 3 {
		t.Fatalf("exit code %d, want 3 (preflight failed)\n%s%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	if out := res.Stdout + res.Stderr; !strings.Contains(out, "2 pod(s) would stay Pending") {
		t.Errorf("preflight does not predict 2 Pending pods:\n%s", out)
	}
	if h := cluster.Helm(t, "list", "-a", "-q", "-n", ns); strings.TrimSpace(h.Stdout) != "" {
		t.Errorf("a release was created: %q", h.Stdout)
	}
}

// Without a terminal and without values, install refuses to guess and names the flags.
func TestInsightctlNonInteractiveNeedsFlags(t *testing.T) {
	ns := cluster.Namespace(t, "ctl-noninteractive")
	res := insightctl(t, "install", "demo", "-n", ns, "-i")
	if res.ExitCode != 2 {
		t.Fatalf("exit code %d, want 2\n%s%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "--profile") {
		t.Errorf("the message does not name the flags to pass:\n%s", res.Stderr)
	}
}
