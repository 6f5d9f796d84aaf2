package cmd

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"
)

// diff takes the previewed command's own flags, changes nothing, and answers with exit
// code 5 under --exit-code without printing an error.
func TestDiffCommandLines(t *testing.T) {
	ha := map[string]any{"pu": map[string]any{"partitions": 2, "ha": true}}
	for _, tc := range []struct {
		line string
		code int
		out  string
	}{
		{"diff upgrade demo --memory 1Gi --wait=false --timeout 3m --exit-code", 5, "default, demo-insight-pu-0, StatefulSet (apps) has been added:"},
		{"diff upgrade demo --memory 1Gi", 0, "default, x, ConfigMap has been removed:"},
		{"diff scale demo --memory 1Gi --force --allow-data-loss --exit-code", 5, "+++ scale\n"},
		{"diff scale demo --partitions 3 --rate 4mb", 0, "default, demo-insight-pu-2, StatefulSet (apps) has been added:"},
		{"diff scale demo --partitions 3 --memory 1Gi", 2, ""},
		{"diff upgrade demo --no-such-flag", 2, ""},
	} {
		t.Run(tc.line, func(t *testing.T) {
			r := runCmd(t, cluster{objects: threeZones(), releases: []*release.Release{deployedRelease("demo", 1, ha, release.StatusDeployed)}}, tc.line)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\n%s", r.code, tc.code, r)
			}
			if !strings.Contains(r.out, tc.out) {
				t.Errorf("stdout lacks %q\n%s", tc.out, r)
			}
			if tc.code == 5 && strings.Contains(r.err, "Error") {
				t.Errorf("changes are reported as an error:\n%s", r)
			}
			if rel, err := r.store.Last("demo"); err != nil || rel.Version != 1 {
				t.Errorf("diff changed the release: %v %v", rel, err)
			}
		})
	}
}
