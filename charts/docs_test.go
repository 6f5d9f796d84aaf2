package charts_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/insightgrid/insight/charts"
)

var paramLine = regexp.MustCompile(`(?m)^\s*## @param (\S+) `)

// TestEveryKeyDocumented checks that every leaf key of each chart's values.yaml has a
// "## @param" line, and that every documented key appears in the chart's README.md and,
// as the umbrella user writes it, in docs/values.md.
func TestEveryKeyDocumented(t *testing.T) {
	reference, err := os.ReadFile(filepath.Join("..", "docs", "values.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ chart, prefix string }{{charts.Umbrella, ""}, {charts.Manager, "manager."}, {charts.PU, "pu."}, {charts.SQL, "sql."}, {charts.WANGateway, "wanGateway."}, {charts.Spark, "spark."}, {charts.Zeppelin, "zeppelin."}, {charts.Prometheus, "prometheus."}, {charts.Istio, "istio."}} {
		path := filepath.Join(c.chart, "values.yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		documented := map[string]bool{}
		for _, m := range paramLine.FindAllStringSubmatch(string(data), -1) {
			documented[m[1]] = true
		}
		vals, err := chartutil.ReadValues(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range leafKeys("", vals) {
			if !documented[key] {
				t.Errorf("%s: %s has no ## @param line", path, key)
			}
		}
		readme, err := os.ReadFile(filepath.Join(c.chart, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		for key := range documented {
			if !strings.Contains(string(readme), "`"+key+"`") {
				t.Errorf("%s/README.md does not list %s", c.chart, key)
			}
			full := key
			if !strings.HasPrefix(key, "global.") {
				full = c.prefix + key
			}
			if !strings.Contains(string(reference), "`"+full+"`") {
				t.Errorf("docs/values.md does not list %s", full)
			}
		}
	}
}

// leafKeys lists the dotted keys of values whose values are not non-empty maps.
func leafKeys(prefix string, vals map[string]any) []string {
	var keys []string
	for k, v := range vals {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			keys = append(keys, leafKeys(prefix+k+".", m)...)
			continue
		}
		keys = append(keys, prefix+k)
	}
	sort.Strings(keys)
	return keys
}
