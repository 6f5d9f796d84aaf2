package cmd

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
)

// sparkRelease is release demo with Spark on, and its dynamic allocation as given.
func sparkRelease(dynamic bool) *release.Release {
	return deployedRelease("demo", 1, map[string]any{"pu": map[string]any{"partitions": 2},
		"spark": map[string]any{"enabled": true, "dynamicAllocation": map[string]any{"enabled": dynamic}}}, release.StatusDeployed)
}

// TestScaleSparkExecutors checks scale --spark-executors: it upgrades the release with
// spark.executor.instances and every other value kept, changes nothing when the release
// has it already, allows 0 only with dynamic allocation, and refuses bad input before
// touching the release.
func TestScaleSparkExecutors(t *testing.T) {
	for _, tt := range []struct {
		name      string
		rel       *release.Release
		cmd       string
		code      int
		want      string // in stderr
		golden    string
		revision  int
		executors string // spark.executor.instances in the last revision's values ("" unset)
	}{
		{name: "set", rel: sparkRelease(false), cmd: "scale demo --spark-executors 4", golden: "scale-spark.golden", revision: 2, executors: "4"},
		{name: "json", rel: sparkRelease(false), cmd: "scale demo --spark-executors 3 -o json", golden: "scale-spark-json.golden", revision: 2, executors: "3"},
		{name: "dry run", rel: sparkRelease(false), cmd: "scale demo --spark-executors 4 --dry-run", golden: "scale-spark-dry-run.golden", revision: 1},
		{name: "unchanged", rel: sparkRelease(false), cmd: "scale demo --spark-executors 2", golden: "scale-spark-noop.golden", revision: 1},
		{name: "zero with dynamic allocation", rel: sparkRelease(true), cmd: "scale demo --spark-executors 0", revision: 2, executors: "0"},
		{name: "zero without dynamic allocation", rel: sparkRelease(false), cmd: "scale demo --spark-executors 0", code: 2,
			want: "--spark-executors: release demo runs Spark without dynamic allocation", revision: 1},
		{name: "negative", rel: sparkRelease(false), cmd: "scale demo --spark-executors -1", code: 2, want: "--spark-executors: must be at least 1", revision: 1},
		{name: "with another change", rel: sparkRelease(false), cmd: "scale demo --spark-executors 3 --memory 1Gi --ha=true", code: 2,
			want: "--memory: cannot be combined with --spark-executors", revision: 1},
		{name: "without Spark", rel: haRelease(nil), cmd: "scale demo --spark-executors 3", code: 2,
			want: "release demo does not run Spark (spark.enabled=false)", revision: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster{objects: threeZones(), releases: []*release.Release{tt.rel}}
			var r result
			if tt.golden != "" {
				r = runGolden(t, c, tt.cmd, "", tt.code, tt.golden)
			} else {
				r = runCmd(t, c, tt.cmd)
				if r.code != tt.code || !strings.Contains(r.err, tt.want) {
					t.Errorf("exit code %d, want %d with %q\n%s", r.code, tt.code, tt.want, r)
				}
			}
			last, err := r.store.Last("demo")
			if err != nil {
				t.Fatal(err)
			}
			if last.Version != tt.revision {
				t.Fatalf("last revision %d, want %d\n%s", last.Version, tt.revision, r)
			}
			if tt.revision == 1 {
				return
			}
			spark, _ := last.Config["spark"].(map[string]any)
			executor, _ := spark["executor"].(map[string]any)
			if got := fmt.Sprint(executor["instances"]); got != tt.executors {
				t.Errorf("spark.executor.instances %s, want %s (values %v)", got, tt.executors, last.Config)
			}
			if spark["enabled"] != true || fmt.Sprint(last.Config["pu"]) != "map[partitions:2]" {
				t.Errorf("the other values were not kept: %v", last.Config)
			}
		})
	}
}

// TestDiffScaleSparkExecutors checks that diff previews scale --spark-executors: the Spark
// ConfigMap with spark.executor.instances 5, exit code 5 under --exit-code, and the release
// untouched. (The fake release's manifest is a placeholder, so every object shows as added.)
func TestDiffScaleSparkExecutors(t *testing.T) {
	c := cluster{objects: threeZones(), releases: []*release.Release{sparkRelease(false)}}
	r := runCmd(t, c, "diff scale demo --spark-executors 5 --exit-code")
	if r.code != 5 {
		t.Fatalf("exit code %d, want 5\n%s", r.code, r)
	}
	if !strings.Contains(r.out, "+    spark.executor.instances 5\n") {
		t.Errorf("the diff does not show spark.executor.instances 5:\n%s", r)
	}
	if last, err := r.store.Last("demo"); err != nil || last.Version != 1 {
		t.Errorf("diff changed the release: %v %v", last, err)
	}
}
