package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkJSON is the part of the documented insight.dev/check-report/v1 schema the test reads.
type checkJSON struct {
	Job        string `json:"job"`
	Disruption *struct {
		Kind   string `json:"kind"`
		Pod    string `json:"pod"`
		Switch string `json:"switch"`
	} `json:"disruption"`
	Writes struct {
		Acknowledged int64   `json:"acknowledged"`
		Failed       int64   `json:"failed"`
		Lost         int64   `json:"lost"`
		Unverified   int64   `json:"unverified"`
		LongestGapMs float64 `json:"longestGapMs"`
		P50Ms        float64 `json:"p50Ms"`
		P99Ms        float64 `json:"p99Ms"`
		MaxMs        float64 `json:"maxMs"`
	} `json:"writes"`
	Partitions []struct {
		ID      int      `json:"id"`
		Slots   string   `json:"slots"`
		Primary string   `json:"primary"`
		Backups []string `json:"backups"`
	} `json:"partitions"`
}

// insightctl check deletes a primary pod of an ha grid while its Job writes, then fails a
// partition over through the manager: no acknowledged write is lost, and nothing of the
// check is left behind.
func TestCheckKillPrimary(t *testing.T) {
	ns := cluster.Namespace(t, "check")
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "ha", "--partitions", "2", "--timeout", "4m")

	bad := insightctl(t, "check", "demo", "-n", ns, "--disrupt", "explode")
	if bad.ExitCode != 2 || !strings.Contains(bad.Stderr, "--disrupt: must be one of none, switchover, kill-primary (given: explode)") {
		t.Errorf("check --disrupt explode: exit %d\n%s", bad.ExitCode, bad.Stderr)
	}

	res := insightctl(t, "check", "demo", "-n", ns, "--disrupt", "kill-primary", "--duration", "20s", "-o", "json")
	t.Logf("check: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	var r checkJSON
	if err := json.Unmarshal([]byte(res.Stdout), &r); err != nil {
		t.Fatalf("check -o json is not JSON (exit %d): %v\n%s", res.ExitCode, err, res.Stderr)
	}
	if res.ExitCode != 0 {
		t.Errorf("check exit %d, want 0", res.ExitCode)
	}
	w := r.Writes
	if w.Lost != 0 || w.Unverified != 0 || w.Acknowledged == 0 {
		t.Errorf("acknowledged %d, lost %d, unverified %d: want writes and none lost", w.Acknowledged, w.Lost, w.Unverified)
	}
	if r.Disruption == nil || r.Disruption.Kind != "kill-primary" || !strings.HasPrefix(r.Disruption.Pod, "demo-insight-pu-0-") {
		t.Errorf("disruption %+v, want a primary pod of partition 0 deleted", r.Disruption)
	}
	if len(r.Partitions) == 0 {
		t.Errorf("no partition map")
	}
	t.Logf("figures: acknowledged %d, failed %d, lost %d, longest gap %.1f ms, latency p50 %.2f p99 %.2f max %.2f ms, map %+v",
		w.Acknowledged, w.Failed, w.Lost, w.LongestGapMs, w.P50Ms, w.P99Ms, w.MaxMs, r.Partitions)

	checkGone(t, ns, r.Job)

	// A planned failover through the manager (reached at its pod address, as in TestOps).
	res = insightctl(t, "check", "demo", "-n", ns, "--disrupt", "switchover", "--partition", "1", "--duration", "10s",
		"--manager-url", managerURL(t, ns), "-o", "json")
	var s checkJSON
	if err := json.Unmarshal([]byte(res.Stdout), &s); err != nil || res.ExitCode != 0 {
		t.Fatalf("check --disrupt switchover: exit %d, %v\n%s\n%s", res.ExitCode, err, res.Stdout, res.Stderr)
	}
	w = s.Writes
	if w.Lost != 0 || w.Acknowledged == 0 || s.Disruption == nil || !strings.HasPrefix(s.Disruption.Switch, "partition 1: ") {
		t.Errorf("switchover: %+v %+v", w, s.Disruption)
	}
	t.Logf("switchover figures (%s): acknowledged %d, failed %d, lost %d, longest gap %.1f ms, latency p50 %.2f p99 %.2f max %.2f ms",
		s.Disruption.Switch, w.Acknowledged, w.Failed, w.Lost, w.LongestGapMs, w.P50Ms, w.P99Ms, w.MaxMs)
	checkGone(t, ns, s.Job)
}

// checkGone checks that nothing of the check's Job is left.
func checkGone(t *testing.T, ns, job string) {
	t.Helper()
	ctx := context.Background()
	if job == "" {
		t.Fatal("no Job named in the report")
	}
	if _, err := cluster.Client.BatchV1().Jobs(ns).Get(ctx, job, metav1.GetOptions{}); err == nil {
		t.Errorf("Job %s is still there after the check", job)
	}
	if _, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, job, metav1.GetOptions{}); err == nil {
		t.Errorf("ServiceAccount %s is still there after the check", job)
	}
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("pods of the Job after the check: %d, %v", len(pods.Items), err)
	}
}
