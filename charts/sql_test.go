package charts_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/insightgrid/insight/charts"
)

// sqlSets are the umbrella with the SQL endpoints on: the defaults, and the HA profile with
// authentication, two replicas kept apart and the local cluster's bind address.
var sqlSets = []valueSet{
	{name: "addon-sql", sets: []string{"sql.enabled=true"}},
	{name: "addon-sql-ha", profile: "ha", sets: []string{"sql.enabled=true,sql.replicas=2,sql.antiAffinity.enabled=true,sql.maxExecutionTime=30s," +
		"sql.bindAddress=$(INSIGHT_BIND),global.auth.enabled=true,global.auth.password=secret"}},
}

// TestSQLGolden compares the umbrella's render with the SQL endpoints on with
// testdata/<name>.yaml, and checks that the embedded chart renders as the checkout does.
func TestSQLGolden(t *testing.T) {
	for _, s := range sqlSets {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s)
			golden(t, s.name+".yaml", []byte(r.manifest+"---\n# NOTES.txt\n"+r.notes+"\n"))
			fromDir, err := render(t, mustLoad(t, charts.Umbrella), s.values(t))
			if err != nil {
				t.Fatal(err)
			}
			if fromDir != r {
				t.Errorf("embedded and checkout renders differ:\n%s", firstDiff([]byte(fromDir.manifest+fromDir.notes), []byte(r.manifest+r.notes)))
			}
		})
	}
}

// TestSQLOffByDefault checks that no profile deploys the SQL endpoints unless asked (the
// data pods' NetworkPolicy names the SQL pods as peers all the same).
func TestSQLOffByDefault(t *testing.T) {
	for _, s := range allSets(t) {
		for _, obj := range decode(t, mustRender(t, s).manifest) {
			m, err := meta.Accessor(obj)
			if err != nil {
				t.Fatal(err)
			}
			if m.GetLabels()[labelComponent] == "sql" {
				t.Errorf("%s renders %T %s without sql.enabled=true", s.name, obj, m.GetName())
			}
		}
	}
}

// TestSQLDeployment checks the SQL endpoints' objects against the values: the restricted
// pod (checkObject), insight-sql serve pointed at the PUs' Service with the values' limits,
// the grid's password from the PUs' Secret, and the Service's MySQL and metrics ports on
// the pods' own ports (no kube-proxy on the local cluster).
func TestSQLDeployment(t *testing.T) {
	for _, s := range sqlSets {
		t.Run(s.name, func(t *testing.T) {
			vals := s.values(t)
			var deploy *appsv1.Deployment
			var svc *corev1.Service
			var pdb *policyv1.PodDisruptionBudget
			for _, obj := range decode(t, mustRender(t, s).manifest) {
				checkObject(t, obj)
				switch o := obj.(type) {
				case *appsv1.Deployment:
					deploy = o
				case *corev1.Service:
					if o.Name == "demo-insight-sql" {
						svc = o
					}
				case *policyv1.PodDisruptionBudget:
					if o.Name == "demo-insight-sql" {
						pdb = o
					}
				}
			}
			if deploy == nil || svc == nil || pdb == nil {
				t.Fatalf("Deployment %v, Service %v, PodDisruptionBudget %v demo-insight-sql: want all three", deploy != nil, svc != nil, pdb != nil)
			}
			if fmt.Sprint(pdb.Spec.Selector.MatchLabels) != fmt.Sprint(deploy.Spec.Selector.MatchLabels) {
				t.Errorf("PodDisruptionBudget selects %v, want the Deployment's pods %v", pdb.Spec.Selector.MatchLabels, deploy.Spec.Selector.MatchLabels)
			}
			if want := int32(intValue(t, vals, 1, "sql", "replicas")); deploy.Spec.Replicas == nil || *deploy.Spec.Replicas != want {
				t.Errorf("replicas %v, want %d", deploy.Spec.Replicas, want)
			}
			if u := deploy.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable == nil || u.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v, want maxUnavailable 0 (a new endpoint is ready before an old one goes)", u)
			}
			c := deploy.Spec.Template.Spec.Containers[0]
			if got := strings.Join(c.Command, " "); got != "/insight-sql" {
				t.Errorf("command %q, want /insight-sql", got)
			}
			bind := stringValue(vals, "", "sql", "bindAddress")
			want := []string{
				"serve",
				"--listen=" + bind + ":3306",
				"--http-listen=" + bind + ":9104",
				"--grid=demo-insight-pu.insight.svc.cluster.local:6379",
				"--user=insight",
				"--max-result-rows=1000000",
				"--max-execution-time=" + stringValue(vals, "0", "sql", "maxExecutionTime"),
				"--log-format=json",
			}
			if !slices.Equal(c.Args, want) {
				t.Errorf("args\n  %q\nwant\n  %q", c.Args, want)
			}
			pass := env(c, "INSIGHT_REQUIREPASS")
			if boolValue(vals, "global", "auth", "enabled") {
				if pass == nil || pass.ValueFrom == nil || pass.ValueFrom.SecretKeyRef == nil ||
					pass.ValueFrom.SecretKeyRef.Name != "demo-insight-auth" || pass.ValueFrom.SecretKeyRef.Key != "password" {
					t.Errorf("INSIGHT_REQUIREPASS %+v, want the key password of the Secret demo-insight-auth", pass)
				}
			} else if pass != nil {
				t.Errorf("INSIGHT_REQUIREPASS %+v without global.auth.enabled", pass)
			}
			ports := map[string]corev1.ServicePort{}
			for _, p := range svc.Spec.Ports {
				ports[p.Name] = p
			}
			if p := ports["tcp-mysql"]; p.Port != 3306 || p.TargetPort.String() != "mysql" {
				t.Errorf("Service port tcp-mysql %+v, want 3306 to the pods' port mysql", p)
			}
			if p := ports["http-metrics"]; p.Port != 9104 || p.TargetPort.String() != "http" {
				t.Errorf("Service port http-metrics %+v, want 9104 to the pods' port http", p)
			}
			for _, cp := range c.Ports {
				if (cp.Name == "mysql" && cp.ContainerPort != 3306) || (cp.Name == "http" && cp.ContainerPort != 9104) {
					t.Errorf("container port %s is %d: the Service's port must be the pod's", cp.Name, cp.ContainerPort)
				}
			}
			anti := deploy.Spec.Template.Spec.Affinity.PodAntiAffinity
			hard := boolValue(vals, "sql", "antiAffinity", "enabled")
			if anti == nil || (len(anti.RequiredDuringSchedulingIgnoredDuringExecution) == 1) != hard {
				t.Errorf("anti-affinity %+v, want a required term only with sql.antiAffinity.enabled=%v", anti, hard)
			}
		})
	}
}

// TestSQLGridOverride checks that sql.grid replaces the PUs' Service as the seeds, which
// is what lets the endpoints run without the release's PUs.
func TestSQLGridOverride(t *testing.T) {
	s := valueSet{name: "sql elsewhere", sets: []string{"sql.enabled=true,pu.enabled=false,manager.enabled=false,sql.grid=10.0.0.1:6379\\,10.0.0.2:6379"}}
	for _, obj := range decode(t, mustRender(t, s).manifest) {
		if d, ok := obj.(*appsv1.Deployment); ok {
			if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--grid=10.0.0.1:6379,10.0.0.2:6379") {
				t.Errorf("args %q, want --grid=10.0.0.1:6379,10.0.0.2:6379", args)
			}
			return
		}
	}
	t.Fatal("no Deployment rendered")
}

// TestSQLUpgradeKeepsImmutableFields checks that the next chart and app version changes no
// immutable field of the SQL endpoints' objects (the Deployment's selector above all), and
// that there are some to check.
func TestSQLUpgradeKeepsImmutableFields(t *testing.T) {
	for _, s := range sqlSets {
		t.Run(s.name, func(t *testing.T) {
			want := immutables(t, decode(t, mustRender(t, s).manifest))
			if _, ok := want["Deployment/demo-insight-sql"]; !ok {
				t.Fatalf("no Deployment demo-insight-sql among %v", slices.Collect(maps.Keys(want)))
			}
			if got := immutables(t, renderBumped(t, s)); !reflect.DeepEqual(got, want) {
				t.Errorf("the version upgrade changes immutable fields:\nbefore %+v\nafter  %+v", want, got)
			}
		})
	}
}
