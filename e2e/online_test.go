package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkInBackground runs insightctl check on release demo for duration, returning its
// outcome on the channel (an error instead of t.Fatal: it runs beside the test).
func checkInBackground(ns string, duration time.Duration) <-chan checkOutcome {
	out := make(chan checkOutcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), duration+4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(os.Getenv("INSIGHT_BIN"), "insightctl"), "--kubeconfig", cluster.Kubeconfig,
			"check", "demo", "-n", ns, "--duration", duration.String(), "--rate", "200", "-o", "json")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var r checkJSON
		if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
			err = errors.Join(err, jerr)
		}
		out <- checkOutcome{report: r, err: err, stderr: stderr.String()}
	}()
	return out
}

type checkOutcome struct {
	report checkJSON
	err    error
	stderr string
}

// A release without HA and with one manager gets a backup per partition and three
// managers, then loses both again, through insightctl scale, while an insightctl check Job
// writes through it all: no acknowledged write is lost; the longest write gap is logged.
func TestOnlineHAAndManagersUnderLoad(t *testing.T) {
	ns := cluster.Namespace(t, "online")
	insightctlOK(t, "install", "demo", "-n", ns, "--partitions", "2", "--timeout", "4m")

	const writing = 90 * time.Second
	results := checkInBackground(ns, writing)
	cluster.WaitFor(t, 2*time.Minute, "the check Job's pod to run", func(ctx context.Context) (bool, error) {
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=check"})
		if err != nil {
			return false, err
		}
		for _, p := range l.Items {
			if p.Status.Phase == "Running" {
				return true, nil
			}
		}
		return false, nil
	})
	writesFrom := time.Now()

	steps := []struct{ what, flag string }{
		{"HA on", "--ha=true"},
		{"managers 1 to 3", "--manager-ha=true"},
		{"managers 3 to 1", "--manager-ha=false"},
		{"HA off", "--ha=false"},
	}
	for _, s := range steps {
		start := time.Now()
		res := insightctl(t, "scale", "demo", "-n", ns, s.flag, "--timeout", "4m")
		t.Logf("%s (scale %s): exit %d in %s\n%s", s.what, s.flag, res.ExitCode, time.Since(start).Round(time.Second), res.Stderr)
		if res.ExitCode != 0 {
			cluster.Dump(t, ns)
			t.Fatalf("scale %s: exit %d\n%s\n%s", s.flag, res.ExitCode, res.Stdout, res.Stderr)
		}
		if s.flag == "--manager-ha=true" {
			// Three members: a plain helm upgrade may not scale two of them away.
			raw := cluster.Helm(t, "upgrade", "demo", umbrellaChart, "-n", ns, "--reuse-values", "--set", "manager.ha=false", "--dry-run=server")
			if raw.ExitCode == 0 || !strings.Contains(raw.Stderr, "insightctl scale demo -n "+ns+" --manager-ha=false") {
				t.Errorf("helm upgrade --set manager.ha=false on 3 members: exit %d, want the refusal naming insightctl scale\n%s", raw.ExitCode, raw.Stderr)
			}
		}
	}
	if took := time.Since(writesFrom); took > writing-5*time.Second {
		t.Errorf("the four changes took %s, longer than the check writes (%s): the last ones ran without load", took.Round(time.Second), writing)
	}
	members, err := cluster.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=demo,app.kubernetes.io/component=manager"})
	if err != nil || len(members.Items) != 1 {
		t.Errorf("manager pods after shrinking: %d, %v; want 1", len(members.Items), err)
	}
	// Raw Helm: growing the managers needs no insightctl, shrinking them does.
	if raw := cluster.Helm(t, "upgrade", "demo", umbrellaChart, "-n", ns, "--reuse-values", "--set", "manager.ha=true", "--dry-run=server"); raw.ExitCode != 0 {
		t.Errorf("helm upgrade --set manager.ha=true (server dry run) refused: %s", raw.Stderr)
	}

	o := <-results
	w := o.report.Writes
	t.Logf("check during the four changes: acknowledged %d, failed %d, lost %d, unverified %d, longest write gap %.1f ms, p99 %.2f ms, max %.2f ms",
		w.Acknowledged, w.Failed, w.Lost, w.Unverified, w.LongestGapMs, w.P99Ms, w.MaxMs)
	if o.err != nil {
		t.Fatalf("check: %v\n%s", o.err, o.stderr)
	}
	if w.Lost != 0 || w.Unverified != 0 || w.Acknowledged == 0 {
		t.Errorf("acknowledged %d, lost %d, unverified %d: want writes and none lost\n%s", w.Acknowledged, w.Lost, w.Unverified, o.stderr)
	}
}
