package charts_test

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/values"
)

// TestLintStrict runs Helm's linter as `helm lint --strict` does (a warning fails) over
// every chart with its defaults and over the umbrella with every profile.
func TestLintStrict(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion("v1.34.4")
	if err != nil {
		t.Fatal(err)
	}
	type run struct {
		name, dir string
		vals      map[string]any
	}
	runs := []run{
		{"insight", charts.Umbrella, nil},
		{"insight-manager", charts.Manager, nil},
		{"insight-pu", charts.PU, nil},
		{"insight-sql", charts.SQL, nil},
		{"insight-wan-gateway", charts.WANGateway, map[string]any{"site": "london"}},
		{"insight-wan-gateway-in-the-umbrella", charts.Umbrella, map[string]any{"wanGateway": map[string]any{"enabled": true, "site": "london",
			"targets": []any{map[string]any{"name": "paris", "address": "gw.paris:7443", "tls": map[string]any{"caSecret": "paris-ca"}, "auth": map[string]any{"tokenSecret": "paris-token"}}}}}},
		{"insight-spark", charts.Spark, nil},
		{"insight-zeppelin", charts.Zeppelin, nil},
		{"insight-zeppelin-in-the-umbrella", charts.Umbrella, map[string]any{"zeppelin": map[string]any{"enabled": true, "spark": map[string]any{"enabled": true}}, "sql": map[string]any{"enabled": true}}},
		// The linter cannot serve the Prometheus Operator's kinds, which the chart requires.
		{"insight-prometheus", charts.Prometheus, map[string]any{"requireCRDs": false}},
		{"insight-istio", charts.Istio, map[string]any{"requireCRDs": false}},
		{"insight-common", filepath.Join("..", "templates", charts.Common), nil},
	}
	for _, p := range values.Names() {
		vals, err := values.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run{"insight-profile-" + p, charts.Umbrella, vals})
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			linter := lint.AllWithKubeVersion(r.dir, r.vals, namespace, kv)
			for _, m := range linter.Messages {
				if m.Severity >= support.WarningSev {
					t.Error(m)
				}
			}
		})
	}
}

// TestPackagedChartRenders saves the chart from the checkout as `helm package` does and
// checks the .tgz (which holds copies, not symlinks) renders like the directory.
func TestPackagedChartRenders(t *testing.T) {
	dir, err := charts.Load(charts.Umbrella)
	if err != nil {
		t.Fatal(err)
	}
	tgz, err := chartutil.Save(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range contract {
		want, err := render(t, mustLoad(t, charts.Umbrella), s.values(t))
		if err != nil {
			t.Fatal(err)
		}
		got, err := render(t, mustLoad(t, tgz), s.values(t))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: packaged chart renders differently:\n%s", s.name, firstDiff([]byte(want.manifest), []byte(got.manifest)))
		}
	}
}

// mustLoad loads a chart afresh: an install prunes disabled subcharts and renames
// aliased ones in place, so a loaded chart serves one render only.
func mustLoad(t *testing.T, dir string) *chart.Chart {
	t.Helper()
	c, err := charts.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
