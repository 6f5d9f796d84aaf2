package cmd

import (
	"context"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheckCommandLines(t *testing.T) {
	ha := cluster{releases: []*release.Release{haRelease(nil)}}
	noHA := cluster{releases: []*release.Release{deployedRelease("demo", 1, map[string]any{"pu": map[string]any{"partitions": 2}}, release.StatusDeployed)}}
	for _, tt := range []struct {
		name    string
		cluster cluster
		cmd     string
		code    int
		want    []string
	}{
		{name: "bad flags", cmd: "check demo --disrupt explode --rate 0 --duration 1s --writers 99", code: 2, want: []string{
			"--disrupt: must be one of none, switchover, kill-primary (given: explode)", "--rate: must be 1 to 10000 writes per second (given: 0)",
			"--duration: must be 5s to 30m0s (given: 1s)", "--writers: must be 1 to 64 (given: 99)"}},
		{name: "timeout shorter than the writing", cmd: "check demo --duration 1m --timeout 30s", code: 2, want: []string{"--timeout: must be longer than --duration 1m0s"}},
		{name: "too many arguments", cmd: "check a b", code: 2, want: []string{"accepts at most 1 arg(s)"}},
		{name: "disruption without ha", cluster: noHA, cmd: "check demo --disrupt kill-primary", code: 2, want: []string{
			"release demo runs without pu.ha: partition 0 has no backup", "give --force to disrupt it anyway"}},
		{name: "partition out of range", cluster: ha, cmd: "check demo --disrupt switchover --partition 2", code: 2, want: []string{
			"--partition: release demo has 2 partition(s): 0-1 (given: 2)"}},
		{name: "no data pods", cluster: noHA, cmd: "check demo --disrupt kill-primary --force", code: 1, want: []string{
			"release demo has no data pods in namespace default"}},
		{name: "missing release", cmd: "check demo", code: 1, want: []string{"release demo in namespace default"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, tt.cluster, tt.cmd)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", r.code, tt.code, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.err, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r)
				}
			}
			if r.kube == nil {
				return
			}
			// Nothing was created: every refusal comes before the Job.
			jobs, err := r.kube.BatchV1().Jobs("default").List(context.Background(), metav1.ListOptions{})
			if err != nil || len(jobs.Items) != 0 {
				t.Errorf("Jobs after a refused check: %d, %v", len(jobs.Items), err)
			}
			sas, err := r.kube.CoreV1().ServiceAccounts("default").List(context.Background(), metav1.ListOptions{})
			if err != nil || len(sas.Items) != 0 {
				t.Errorf("ServiceAccounts after a refused check: %d, %v", len(sas.Items), err)
			}
		})
	}
}
