package install

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/cli/preflight"
	"github.com/insightgrid/insight/cli/validate"
)

func TestUserValuesPrecedence(t *testing.T) {
	ch, err := charts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "v.yaml")
	if err := os.WriteFile(file, []byte("pu:\n  partitions: 5\n  ha: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	three, yes := 3, true
	tests := []struct {
		name string
		p    Parameters
		base map[string]any
		key  string
		want any
	}{
		{name: "profile alone", p: Parameters{Profile: "ha"}, key: "pu.ha", want: true},
		{name: "friendly flag over profile", p: Parameters{Profile: "dev", Partitions: &three}, key: "pu.partitions", want: 3},
		{name: "-f over friendly flag", p: Parameters{Partitions: &three, HA: &yes, ValueFiles: []string{file}}, key: "pu.ha", want: false},
		{name: "--set over -f", p: Parameters{ValueFiles: []string{file}, Set: []string{"pu.partitions=7"}}, key: "pu.partitions", want: int64(7)},
		{name: "--set-string last", p: Parameters{Set: []string{"global.image.tag=1"}, SetString: []string{"global.image.tag=2"}}, key: "global.image.tag", want: "2"},
		{name: "upgrade base under everything", p: Parameters{Memory: "1Gi"}, base: map[string]any{"pu": map[string]any{"partitions": 4}}, key: "pu.partitions", want: 4},
		{name: "anti-affinity alone means zone", p: Parameters{AntiAffinity: "zone"}, key: "pu.antiAffinity.topology", want: "topology.kubernetes.io/zone"},
		{name: "anti-affinity none", p: Parameters{AntiAffinity: "none"}, key: "pu.antiAffinity.enabled", want: false},
		{name: "--enable an add-on", p: Parameters{Enable: []string{"prometheus"}}, key: "prometheus.enabled", want: true},
		{name: "--enable the SQL endpoints", p: Parameters{Enable: []string{"sql"}}, key: "sql.enabled", want: true},
		{name: "--enable Zeppelin", p: Parameters{Enable: []string{"zeppelin", "sql"}}, key: "zeppelin.enabled", want: true},
		{name: "--set over --enable", p: Parameters{Enable: []string{"Prometheus"}, Set: []string{"prometheus.enabled=false"}}, key: "prometheus.enabled", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := tt.p.UserValues(ch, tt.base, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := validate.Lookup(vals, tt.key)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %#v, want %#v (values %v)", tt.key, got, tt.want, vals)
			}
		})
	}
}

func TestUserValuesReportsEveryProblem(t *testing.T) {
	ch, err := charts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	zero := 0
	p := Parameters{Profile: "huge", Partitions: &zero, AntiAffinity: "rack", Memory: "lots", Enable: []string{"cassandra"},
		ValueFiles: []string{"/does/not/exist.yaml"}, Set: []string{"pu.partitions"}}
	_, err = p.UserValues(ch, nil, nil)
	ve, ok := err.(*validate.Error)
	if !ok {
		t.Fatalf("want *validate.Error, got %v", err)
	}
	var keys []string
	for _, pr := range ve.Problems {
		keys = append(keys, pr.Key)
	}
	if got, want := strings.Join(keys, " "), "--profile --partitions --anti-affinity --memory --enable --values --set"; got != want {
		t.Errorf("problem keys %q, want %q", got, want)
	}
}

// TestAddOns checks which of the embedded umbrella's dependencies --enable offers: the
// ones switched by "<alias>.enabled", not the grid itself.
func TestAddOns(t *testing.T) {
	ch, err := charts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := AddOns(ch), []string{"istio", "prometheus", "spark", "sql", "wanGateway", "zeppelin"}; !reflect.DeepEqual(got, want) {
		t.Errorf("AddOns = %v, want %v", got, want)
	}
}

// TestPreflightAsksForTheAddOnsKinds checks that with --enable prometheus the preflight's
// render succeeds and hands the Prometheus Operator's kinds to the api-kinds check, which
// asks the cluster, rather than failing on the client's default capabilities.
func TestPreflightAsksForTheAddOnsKinds(t *testing.T) {
	p := Parameters{Name: "demo", Namespace: "insight", Enable: []string{"prometheus"}}
	plan, err := p.Prepare(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := preflightRender(&p, plan)
	if err != nil {
		t.Fatal(err)
	}
	req, err := plan.Requirements(&p, rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"PodMonitor", "PrometheusRule"} {
		if !slices.Contains(req.Kinds, preflight.Kind{APIVersion: "monitoring.coreos.com/v1", Kind: kind}) {
			t.Errorf("preflight kinds %v lack %s", req.Kinds, kind)
		}
	}
}

// TestEnableSQLRendersTheEndpoints checks that --enable sql reaches the chart: the plan
// renders the SQL endpoints' Deployment and Service, and the preflight asks the cluster for
// the Deployment kind.
func TestEnableSQLRendersTheEndpoints(t *testing.T) {
	p := Parameters{Name: "demo", Namespace: "insight", Enable: []string{"sql"}}
	plan, err := p.Prepare(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := preflightRender(&p, plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: Deployment\nmetadata:\n  name: demo-insight-sql\n", "kind: Service\nmetadata:\n  name: demo-insight-sql\n"} {
		if !strings.Contains(rel.Manifest, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
	req, err := plan.Requirements(&p, rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(req.Kinds, preflight.Kind{APIVersion: "apps/v1", Kind: "Deployment"}) {
		t.Errorf("preflight kinds %v lack apps/v1 Deployment", req.Kinds)
	}
}

// TestEnableZeppelinRendersTheServer checks that --enable zeppelin,sql reaches the chart:
// the plan renders Zeppelin's Deployment and its launcher's Role, and the preflight asks the
// cluster for the Role kind.
func TestEnableZeppelinRendersTheServer(t *testing.T) {
	p := Parameters{Name: "demo", Namespace: "insight", Enable: []string{"zeppelin", "sql"}}
	plan, err := p.Prepare(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := preflightRender(&p, plan)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: Deployment\nmetadata:\n  name: demo-insight-zeppelin\n", "kind: Role\nmetadata:\n  name: demo-insight-zeppelin\n"} {
		if !strings.Contains(rel.Manifest, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
	req, err := plan.Requirements(&p, rel.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(req.Kinds, preflight.Kind{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}) {
		t.Errorf("preflight kinds %v lack rbac.authorization.k8s.io/v1 Role", req.Kinds)
	}
}
