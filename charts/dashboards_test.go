package charts_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/charts/promexpr"
)

// Dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct{ Name string } `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string             `json:"title"`
		GridPos struct{ X, W int } `json:"gridPos"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// renderedDashboards returns the dashboards of the ConfigMaps labelled for the Grafana
// sidecar in manifest, by ConfigMap namespace/name and key.
func renderedDashboards(t *testing.T, manifest string) map[string]dashboard {
	t.Helper()
	out := map[string]dashboard{}
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil || cm.Kind != "ConfigMap" || cm.Labels["grafana_dashboard"] != "1" {
			continue
		}
		for key, data := range cm.Data {
			var d dashboard
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				t.Fatalf("ConfigMap %s key %s is not a dashboard: %v", cm.Name, key, err)
			}
			out[cm.Namespace+"/"+cm.Name+"/"+key] = d
		}
	}
	return out
}

// recordedSeries returns the names the add-on's recording rules record.
func recordedSeries(t *testing.T, manifest string) []string {
	t.Helper()
	var names []string
	for _, g := range ruleGroups(t, manifest) {
		for _, rule := range g["rules"].([]any) {
			if name, ok := rule.(map[string]any)["record"].(string); ok {
				names = append(names, name)
			}
		}
	}
	return names
}

// TestDashboardsReadOneRelease checks the Grafana dashboards the add-on ships: four of
// them with distinct uids, every panel with a query, every series selector kept to the
// namespace and release picked in Grafana, every recorded series they read recorded by
// the add-on's rules and every recording rule read by some panel, and panels inside
// Grafana's 24-column grid.
func TestDashboardsReadOneRelease(t *testing.T) {
	r := mustRenderPrometheus(t, prometheusSets[0])
	dashboards := renderedDashboards(t, r.manifest)
	if len(dashboards) != 4 {
		t.Fatalf("%d dashboards rendered, want 4 (overview, partition, replication, memory)", len(dashboards))
	}
	records := recordedSeries(t, r.manifest)
	if len(records) == 0 {
		t.Fatal("no recording rules rendered")
	}
	read := map[string]bool{}
	uids := map[string]string{}
	for where, d := range dashboards {
		if !strings.HasPrefix(where, "insight/demo-insight-dashboard-") {
			t.Errorf("dashboard ConfigMap %s: want it in the release's namespace, named after the release", where)
		}
		if prev, dup := uids[d.UID]; dup || d.UID == "" {
			t.Errorf("%s: uid %q empty or also used by %s", where, d.UID, prev)
		}
		uids[d.UID] = where
		if !strings.HasPrefix(d.Title, "Insight / ") {
			t.Errorf("%s: title %q, want it under \"Insight / \"", where, d.Title)
		}
		var vars []string
		for _, v := range d.Templating.List {
			vars = append(vars, v.Name)
		}
		for _, v := range []string{"datasource", "namespace", "release"} {
			if !slices.Contains(vars, v) {
				t.Errorf("%s: no variable %q (has %v)", where, v, vars)
			}
		}
		if len(d.Panels) == 0 {
			t.Errorf("%s: no panels", where)
		}
		for _, p := range d.Panels {
			if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s, panel %q: x %d width %d is outside the 24-column grid", where, p.Title, p.GridPos.X, p.GridPos.W)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s, panel %q: no query", where, p.Title)
			}
			for _, q := range p.Targets {
				sels := promexpr.Selectors(q.Expr)
				if len(sels) == 0 {
					t.Errorf("%s, panel %q: query %q reads no series", where, p.Title, q.Expr)
				}
				for _, s := range sels {
					if !s.Has(`namespace="$namespace"`) || !s.Has(`insight_release="$release"`) {
						t.Errorf("%s, panel %q: %s is not kept to the picked namespace and release", where, p.Title, s)
					}
					if strings.Contains(s.Name, ":") {
						if !slices.Contains(records, s.Name) {
							t.Errorf("%s, panel %q: %s is not recorded by the add-on's rules %v", where, p.Title, s.Name, records)
						}
						read[s.Name] = true
					}
				}
			}
		}
	}
	for _, rec := range records {
		if !read[rec] {
			t.Errorf("recording rule %s is read by no dashboard", rec)
		}
	}
}

// TestDashboardsValues checks the dashboards' switches: off renders none, a namespace of
// their own moves them, and the sidecar labels are the user's.
func TestDashboardsValues(t *testing.T) {
	off := mustRenderPrometheus(t, valueSet{sets: []string{"prometheus.enabled=true,prometheus.dashboards.enabled=false"}})
	if n := len(renderedDashboards(t, off.manifest)); n != 0 {
		t.Errorf("dashboards.enabled=false rendered %d dashboards", n)
	}
	moved := mustRenderPrometheus(t, valueSet{sets: []string{"prometheus.enabled=true,prometheus.dashboards.namespace=grafana"}})
	for where := range renderedDashboards(t, moved.manifest) {
		if !strings.HasPrefix(where, "grafana/") {
			t.Errorf("dashboards.namespace=grafana: %s", where)
		}
	}
	relabelled := mustRenderPrometheus(t, valueSet{sets: []string{"prometheus.enabled=true,prometheus.dashboards.labels.grafana_dashboard=null,prometheus.dashboards.labels.team=data"}})
	if n := len(renderedDashboards(t, relabelled.manifest)); n != 0 {
		t.Errorf("with the label grafana_dashboard removed, %d ConfigMaps still carry it", n)
	}
	if !strings.Contains(relabelled.manifest, "team: data") {
		t.Errorf("dashboards.labels.team=data is not on the ConfigMaps")
	}
}
