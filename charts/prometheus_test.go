package charts_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/charts"
)

// monitoringAPIs are the kinds the Prometheus add-on creates, as the Prometheus
// Operator's CRDs serve them.
var monitoringAPIs = charts.OperatorAPIs

// prometheusSets are the umbrella with the Prometheus add-on on, rendered with the
// operator's CRDs served; the first is what TestPrometheusRulesPromtool's tests expect.
var prometheusSets = []valueSet{
	{name: "addon-prometheus", sets: []string{"prometheus.enabled=true"}},
	{name: "addon-prometheus-ha", profile: "ha", sets: []string{"prometheus.enabled=true,prometheus.labels.release=kube-prometheus-stack,prometheus.rules.alerts.replicationLag.enabled=false,prometheus.podMonitors.interval=15s"}},
}

// TestPrometheusGolden compares the add-on's render, in the umbrella, with
// testdata/<name>.yaml, and checks that the embedded chart renders as the checkout does.
func TestPrometheusGolden(t *testing.T) {
	for _, s := range prometheusSets {
		t.Run(s.name, func(t *testing.T) {
			r := mustRenderPrometheus(t, s)
			golden(t, s.name+".yaml", []byte(r.manifest+"---\n# NOTES.txt\n"+r.notes+"\n"))
			fromDir, err := renderWithAPIs(t, mustLoad(t, charts.Umbrella), s.values(t), monitoringAPIs)
			if err != nil {
				t.Fatal(err)
			}
			if fromDir != r {
				t.Errorf("embedded and checkout renders differ:\n%s", firstDiff([]byte(fromDir.manifest), []byte(r.manifest)))
			}
		})
	}
}

// TestPrometheusNeedsCRDs checks that the add-on refuses to render when the cluster does
// not serve the operator's kinds, naming them and the --api-versions flags, instead of
// dropping its objects; requireCRDs=false renders them anyway.
func TestPrometheusNeedsCRDs(t *testing.T) {
	tests := []addOnRender{
		{"umbrella without CRDs", charts.Umbrella, "prometheus.enabled=true", nil, []string{
			"prometheus.enabled=true needs the Prometheus Operator CRDs",
			"monitoring.coreos.com/v1/PodMonitor, monitoring.coreos.com/v1/PrometheusRule",
			"--api-versions monitoring.coreos.com/v1/PodMonitor --api-versions monitoring.coreos.com/v1/PrometheusRule",
		}},
		{"umbrella without PrometheusRule", charts.Umbrella, "prometheus.enabled=true", monitoringAPIs[:1], []string{
			"does not serve monitoring.coreos.com/v1/PrometheusRule: install",
		}},
		{"umbrella, rules and dashboards off, PodMonitor served", charts.Umbrella, "prometheus.enabled=true,prometheus.rules.enabled=false,prometheus.dashboards.enabled=false", monitoringAPIs[:1], nil},
		{"umbrella, dashboards without recording rules", charts.Umbrella, "prometheus.enabled=true,prometheus.rules.records.enabled=false", monitoringAPIs, []string{
			"prometheus.dashboards.enabled=true needs the recorded series of prometheus.rules.records.enabled=true",
		}},
		{"umbrella, requireCRDs off", charts.Umbrella, "prometheus.enabled=true,prometheus.requireCRDs=false", nil, nil},
		{"standalone without CRDs", charts.Prometheus, "", nil, []string{
			"The insight-prometheus chart needs the Prometheus Operator CRDs", "(set requireCRDs=false only if",
		}},
		{"standalone with CRDs", charts.Prometheus, "", monitoringAPIs, nil},
		{"scrape timeout equal to the interval", charts.Prometheus, "podMonitors.scrapeTimeout=500ms,podMonitors.interval=0m500ms", monitoringAPIs, nil},
		{"scrape timeout in hours", charts.Prometheus, "podMonitors.scrapeTimeout=1h,podMonitors.interval=59m", monitoringAPIs, []string{"podMonitors.scrapeTimeout=1h is longer than podMonitors.interval=59m"}},
		{"nothing to create", charts.Prometheus, "podMonitors.manager.enabled=false,podMonitors.pu.enabled=false,rules.enabled=false,dashboards.enabled=false", monitoringAPIs, []string{
			"podMonitors.manager.enabled, podMonitors.pu.enabled, rules.enabled and dashboards.enabled are all false",
		}},
	}
	checkAddOnRenders(t, "PodMonitor", tests)
}

// TestPrometheusRulesPromtool renders the add-on's PrometheusRule, writes its groups as
// a Prometheus rule file and runs `promtool check rules` and `promtool test rules` with
// testdata/prometheus-rules-test.yaml, which makes every alert fire and not fire.
func TestPrometheusRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (ci/tools.sh installs it with Debian's prometheus package): the rules are not checked")
	}
	r := mustRenderPrometheus(t, prometheusSets[0])
	groups := ruleGroups(t, r.manifest)
	if len(groups) == 0 {
		t.Fatal("no PrometheusRule rendered")
	}
	dir := t.TempDir()
	rules, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join("testdata", "prometheus-rules-test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules-test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules-test.yaml"}} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// TestPrometheusAlertsCovered checks that every alert the add-on renders has a runbook in
// docs/runbooks and, in testdata/prometheus-rules-test.yaml, a case where it fires and
// one where it does not.
func TestPrometheusAlertsCovered(t *testing.T) {
	r := mustRenderPrometheus(t, prometheusSets[0])
	var alerts []string
	for _, g := range ruleGroups(t, r.manifest) {
		for _, rule := range g["rules"].([]any) {
			if name, ok := rule.(map[string]any)["alert"].(string); ok {
				alerts = append(alerts, name)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join("testdata", "prometheus-rules-test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		}
	}
	if err := yaml.Unmarshal(data, &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	if len(alerts) < 9 {
		t.Errorf("%d alerts rendered, want at least 9: %v", len(alerts), alerts)
	}
	for _, a := range alerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("%s: the promtool tests lack a case where it fires (%v) or one where it does not (%v)", a, fires[a], quiet[a])
		}
		if _, err := os.Stat(filepath.Join("..", "docs", "runbooks", a+".md")); err != nil {
			t.Errorf("%s has no runbook: %v", a, err)
		}
	}
}

// ruleGroups returns the spec.groups of every PrometheusRule in manifest.
func ruleGroups(t *testing.T, manifest string) []map[string]any {
	t.Helper()
	var groups []map[string]any
	for _, doc := range releaseutil.SplitManifests(manifest) {
		var obj struct {
			Kind string
			Spec struct {
				Groups []map[string]any `json:"groups"`
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		if obj.Kind == "PrometheusRule" {
			groups = append(groups, obj.Spec.Groups...)
		}
	}
	return groups
}

// TestPodMonitorsSelectTheGrid checks each PodMonitor against the StatefulSets of the same
// render: its selector must match their pod templates' labels, in the namespace it
// watches, and its port must be the named container port the grid serves /metrics on
// (INSIGHT_METRICS_PORT, plain HTTP whatever the TLS), not the admin port, so a renamed
// label or port fails here rather than as an empty target list or a TLS handshake error
// in Prometheus.
func TestPodMonitorsSelectTheGrid(t *testing.T) {
	for _, s := range prometheusSets {
		t.Run(s.name, func(t *testing.T) {
			r := mustRenderPrometheus(t, s)
			type podMonitor struct {
				Metadata struct{ Name, Namespace string }
				Spec     struct {
					NamespaceSelector struct {
						MatchNames []string `json:"matchNames"`
					} `json:"namespaceSelector"`
					Selector struct {
						MatchLabels map[string]string `json:"matchLabels"`
					}
					PodMetricsEndpoints []struct{ Port, Path string } `json:"podMetricsEndpoints"`
				}
			}
			var monitors []podMonitor
			var sets []*appsv1.StatefulSet
			for _, doc := range releaseutil.SplitManifests(r.manifest) {
				var head struct{ Kind string }
				if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
					t.Fatal(err)
				}
				switch head.Kind {
				case "PodMonitor":
					var pm podMonitor
					if err := yaml.Unmarshal([]byte(doc), &pm); err != nil {
						t.Fatal(err)
					}
					monitors = append(monitors, pm)
				case "StatefulSet":
					sets = append(sets, decode(t, doc)[0].(*appsv1.StatefulSet))
				}
			}
			if len(monitors) != 2 {
				t.Fatalf("%d PodMonitors, want 2 (managers and data pods)", len(monitors))
			}
			for _, pm := range monitors {
				matched := 0
				for _, sts := range sets {
					if !labels.SelectorFromSet(pm.Spec.Selector.MatchLabels).Matches(labels.Set(sts.Spec.Template.Labels)) {
						continue
					}
					matched++
					if !slices.Contains(pm.Spec.NamespaceSelector.MatchNames, sts.Namespace) {
						t.Errorf("%s selects %s's pods but watches namespaces %v, not %s", pm.Metadata.Name, sts.Name, pm.Spec.NamespaceSelector.MatchNames, sts.Namespace)
					}
					for _, ep := range pm.Spec.PodMetricsEndpoints {
						var port int32
						metricsEnv := ""
						for _, c := range sts.Spec.Template.Spec.Containers {
							for _, p := range c.Ports {
								if p.Name == ep.Port {
									port = p.ContainerPort
								}
							}
							for _, e := range c.Env {
								if e.Name == "INSIGHT_METRICS_PORT" {
									metricsEnv = e.Value
								}
							}
						}
						if port == 0 || ep.Path != "/metrics" {
							t.Errorf("%s scrapes port %q path %q: %s's pods have no such named port", pm.Metadata.Name, ep.Port, ep.Path, sts.Name)
						}
						if metricsEnv == "" || fmt.Sprint(port) != metricsEnv {
							t.Errorf("%s scrapes port %q (%d) of %s, but the grid serves /metrics on INSIGHT_METRICS_PORT=%q", pm.Metadata.Name, ep.Port, port, sts.Name, metricsEnv)
						}
					}
				}
				if matched == 0 {
					t.Errorf("%s (selector %v) selects none of the release's StatefulSets", pm.Metadata.Name, pm.Spec.Selector.MatchLabels)
				}
			}
		})
	}
}

// mustRenderPrometheus renders the embedded umbrella with a value set and the Prometheus
// Operator's kinds served.
func mustRenderPrometheus(t *testing.T, s valueSet) rendered {
	t.Helper()
	r, err := renderWithAPIs(t, mustLoad(t, ""), s.values(t), monitoringAPIs)
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	return r
}
