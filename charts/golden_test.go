package charts_test

import (
	"testing"

	"github.com/insightgrid/insight/charts"
)

// TestGolden renders every profile and every user-contract command and compares the
// manifests and NOTES with testdata/<name>.yaml.
func TestGolden(t *testing.T) {
	for _, s := range allSets(t) {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s)
			golden(t, s.name+".yaml", []byte(r.manifest+"---\n# NOTES.txt\n"+r.notes+"\n"))
		})
	}
}

// TestEmbeddedMatchesCheckout checks that the chart compiled into the binary renders
// exactly as plain helm renders the checkout through its dependency symlinks.
func TestEmbeddedMatchesCheckout(t *testing.T) {
	for _, s := range allSets(t) {
		t.Run(s.name, func(t *testing.T) {
			embedded := mustRender(t, s)
			dir, err := charts.Load(charts.Umbrella)
			if err != nil {
				t.Fatal(err)
			}
			fromDir, err := render(t, dir, s.values(t))
			if err != nil {
				t.Fatal(err)
			}
			if embedded != fromDir {
				t.Errorf("embedded and checkout renders differ:\n%s", firstDiff([]byte(fromDir.manifest+fromDir.notes), []byte(embedded.manifest+embedded.notes)))
			}
		})
	}
}
