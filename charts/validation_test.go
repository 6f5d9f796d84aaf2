package charts_test

import (
	"strings"
	"testing"

	"github.com/insightgrid/insight/charts"
)

// TestBadValuesRefused checks that plain Helm refuses bad values before rendering
// anything, with a message naming the key as the user wrote it.
func TestBadValuesRefused(t *testing.T) {
	tests := []struct {
		name string
		set  string
		want []string
	}{
		{"partitions zero", "pu.partitions=0", []string{"/pu/partitions", "minimum: got 0, want 1"}},
		{"partitions above 512", "pu.partitions=513", []string{"/pu/partitions", "maximum: got 513, want 512"}},
		{"partitions not a number", "pu.partitions=abc", []string{"/pu/partitions", "got string, want integer"}},
		{"memory not a quantity", "pu.resources.limits.memory=lots", []string{"/pu/resources/limits/memory", "'lots' does not match pattern"}},
		{"cpu not a quantity", "pu.resources.requests.cpu=fast", []string{"/pu/resources/requests/cpu", "'fast' does not match pattern"}},
		{"unknown topology", "pu.antiAffinity.topology=rack", []string{"/pu/antiAffinity/topology", "value must be one of 'kubernetes.io/hostname', 'topology.kubernetes.io/zone'"}},
		{"ha not a boolean", "manager.ha=3", []string{"/manager/ha", "want boolean"}},
		{"UI ingress without a host", "manager.ui.ingress.enabled=true", []string{"/manager/ui/ingress/host", "minLength: got 0, want 1"}},
		{"UI ingress host not a DNS name", "manager.ui.ingress.host=Insight_UI", []string{"/manager/ui/ingress/host", "'Insight_UI' does not match pattern"}},
		{"UI read-only not a boolean", "manager.ui.readOnly=maybe", []string{"/manager/ui/readOnly", "want boolean"}},
		{"misspelt key", "pu.partition=3", []string{"/pu", "additional properties 'partition' not allowed"}},
		{"unknown top-level key", "pus.partitions=3", []string{"additional properties 'pus' not allowed"}},
		{"request above limit", "pu.resources.requests.memory=1Gi", []string{"pu.resources.requests.memory=1Gi is above pu.resources.limits.memory=512Mi"}},
		{"tiering without volumes", "pu.tiering.enabled=true", []string{"pu.tiering.enabled=true needs pu.persistence.enabled=true"}},
		{"tiering disk budget not a size", "pu.tiering.maxDisk=lots", []string{"/pu/tiering/maxDisk", "'lots' does not match pattern"}},
		{"tiering misspelt key", "pu.tiering.enable=true", []string{"/pu/tiering", "additional properties 'enable' not allowed"}},
		{"ha managers without volumes", "manager.ha=true,manager.persistence.enabled=false", []string{"manager.ha=true needs manager.persistence.enabled=true"}},
		{"auth without password", "global.auth.enabled=true", []string{"global.auth.enabled=true needs a password"}},
		{"auth with both", "global.auth.enabled=true,global.auth.password=x,global.auth.existingSecret=s", []string{"global.auth.password and global.auth.existingSecret are both set"}},
		{"pu without managers", "manager.enabled=false", []string{"pu.enabled=true with manager.enabled=false"}},
		{"no SQL endpoint", "sql.enabled=true,sql.replicas=0", []string{"/sql/replicas", "minimum: got 0, want 1"}},
		{"SQL time limit not a duration", "sql.enabled=true,sql.maxExecutionTime=ten", []string{"/sql/maxExecutionTime", "'ten' does not match pattern"}},
		{"SQL seeds without a port", "sql.enabled=true,sql.grid=grid.example", []string{"/sql/grid", "'grid.example' does not match pattern"}},
		{"SQL bind address not an address", "sql.enabled=true,sql.bindAddress=localhost", []string{"/sql/bindAddress", "'localhost' does not match pattern"}},
		{"SQL request above limit", "sql.enabled=true,sql.resources.requests.memory=1Gi", []string{"sql.resources.requests.memory=1Gi is above sql.resources.limits.memory=512Mi"}},
		{"SQL without a grid", "sql.enabled=true,pu.enabled=false", []string{"sql.enabled=true with pu.enabled=false: the SQL endpoints need a grid"}},
		{"SQL auth without password and without PUs", "sql.enabled=true,pu.enabled=false,sql.grid=g:6379,global.auth.enabled=true", []string{"global.auth.enabled=true needs a password"}},
		{"Spark without executors", "spark.enabled=true,spark.executor.instances=0", []string{"spark.executor.instances=0: a job needs at least one executor"}},
		{"Spark executors without dynamic allocation's range", "spark.enabled=true,spark.dynamicAllocation.enabled=true,spark.dynamicAllocation.minExecutors=5,spark.dynamicAllocation.maxExecutors=2",
			[]string{"spark.dynamicAllocation.minExecutors=5 is above spark.dynamicAllocation.maxExecutors=2"}},
		{"Spark without a grid", "spark.enabled=true,pu.enabled=false,manager.enabled=false", []string{"spark.enabled=true with pu.enabled=false: Spark jobs need a grid"}},
		{"Spark memory in Kubernetes' format", "spark.enabled=true,spark.executor.memory=1Gi", []string{"/spark/executor/memory", "'1Gi' does not match pattern"}},
		{"Spark conf key outside spark.", "spark.conf.foo=1", []string{"invalid propertyName 'foo'", "does not match pattern '^spark"}},
		{"unknown alert severity", "prometheus.rules.alerts.failover.severity=page", []string{"/prometheus/rules/alerts/failover/severity", "value must be one of 'warning', 'critical'"}},
		{"empty release selector label", "prometheus.labels.release=", []string{"/prometheus/labels/release", "minLength: got 0, want 1"}},
		{"alert duration not a duration", "prometheus.rules.alerts.backupOutOfSync.for=ten", []string{"/prometheus/rules/alerts/backupOutOfSync/for", "'ten' does not match pattern"}},
		{"memory percentage above 100", "prometheus.rules.alerts.memoryHigh.percent=150", []string{"/prometheus/rules/alerts/memoryHigh/percent", "maximum: got 150, want 100"}},
		{"zero scrape interval", "prometheus.podMonitors.interval=0", []string{"/prometheus/podMonitors/interval"}},
		{"misspelt alert", "prometheus.rules.alerts.failovers.enabled=false", []string{"/prometheus/rules/alerts", "additional properties 'failovers' not allowed"}},
		{"scrape timeout above the interval", "prometheus.enabled=true,prometheus.podMonitors.scrapeTimeout=1m30s,prometheus.podMonitors.interval=1m", []string{"prometheus.podMonitors.scrapeTimeout=1m30s is longer than prometheus.podMonitors.interval=1m"}},
		{"add-on without CRDs", "prometheus.enabled=true", []string{"prometheus.enabled=true needs the Prometheus Operator CRDs"}},
		{"unknown mutual TLS mode", "istio.peerAuthentication.mode=strict", []string{"/istio/peerAuthentication/mode", "value must be one of 'STRICT', 'PERMISSIVE'"}},
		{"principal without its namespace", "istio.authorizationPolicies.clients.principals[0]=web", []string{"/istio/authorizationPolicies/clients/principals/0", "'web' does not match pattern"}},
		{"Istio add-on without CRDs", "istio.enabled=true", []string{"istio.enabled=true needs Istio's CRDs"}},
		{
			// Every cross-field message comes at once, so one round of fixes is enough.
			"every message at once",
			"spark.enabled=true,spark.executor.instances=0,zeppelin.enabled=true,wanGateway.enabled=true,istio.enabled=true,prometheus.enabled=true,pu.resources.requests.cpu=2",
			[]string{"spark.executor.instances=0", "zeppelin.enabled=true", "wanGateway.site is empty", "istio.enabled=true needs Istio's CRDs", "prometheus.enabled=true", "pu.resources.requests.cpu=2 is above pu.resources.limits.cpu=1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valueSet{name: tt.name, sets: []string{tt.set}}
			c, err := charts.Load("")
			if err != nil {
				t.Fatal(err)
			}
			_, err = render(t, c, s.values(t))
			if err == nil {
				t.Fatalf("--set %s was accepted", tt.set)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("--set %s: error does not contain %q:\n%v", tt.set, want, err)
				}
			}
		})
	}
}

// TestUmbrellaAuthMessagesComeOnce checks that global.auth is validated once whichever of
// the components using the grid's password are on (the data pods, the SQL endpoints,
// Spark, Zeppelin), and not at all when none is.
func TestUmbrellaAuthMessagesComeOnce(t *testing.T) {
	const missing = "global.auth.enabled=true needs a password"
	withoutGrid := "pu.enabled=false,manager.enabled=false,global.auth.enabled=true"
	tests := []struct {
		name, set string
		want      int // times the message appears; 0: the render succeeds
	}{
		{"data pods", "global.auth.enabled=true", 1},
		{"every component", "sql.enabled=true,spark.enabled=true,zeppelin.enabled=true,global.auth.enabled=true", 1},
		{"SQL alone", withoutGrid + ",sql.enabled=true,sql.grid=g:6379", 1},
		{"Spark alone", withoutGrid + ",spark.enabled=true,spark.grid.host=g", 1},
		{"Zeppelin alone", withoutGrid + ",zeppelin.enabled=true,zeppelin.jdbc.enabled=false", 1},
		{"Spark and Zeppelin", withoutGrid + ",spark.enabled=true,spark.grid.host=g,zeppelin.enabled=true,zeppelin.jdbc.enabled=false", 1},
		{"managers alone", "pu.enabled=false,global.auth.enabled=true", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, mustLoad(t, ""), valueSet{sets: []string{tt.set}}.values(t))
			got := 0
			if err != nil {
				got = strings.Count(err.Error(), missing)
			}
			if got != tt.want || (tt.want == 0 && err != nil) {
				t.Errorf("--set %s: %q %d times (%v), want %d", tt.set, missing, got, err, tt.want)
			}
		})
	}
}

// TestStandaloneSubchartsValidate checks that a subchart installed on its own applies
// its rules itself, naming keys without the umbrella's prefix.
func TestStandaloneSubchartsValidate(t *testing.T) {
	tests := []struct {
		chart, set, want string
	}{
		{charts.PU, "resources.requests.memory=2Gi", "resources.requests.memory=2Gi is above resources.limits.memory=512Mi"},
		{charts.PU, "partitions=0", "/partitions"},
		{charts.PU, "global.auth.enabled=true", "global.auth.enabled=true needs a password"},
		{charts.Manager, "ha=true,persistence.enabled=false", "ha=true needs persistence.enabled=true"},
		{charts.SQL, "resources.requests.cpu=2", "resources.requests.cpu=2 is above resources.limits.cpu=1"},
		{charts.SQL, "global.auth.enabled=true", "global.auth.enabled=true needs a password"},
		{charts.SQL, "user=", "/user"},
		{charts.Prometheus, "rules.alerts.targetDown.severity=info", "/rules/alerts/targetDown/severity"},
		{charts.Istio, "metrics.principals[0]=prometheus", "/metrics/principals/0"},
	}
	for _, tt := range tests {
		t.Run(tt.chart+" "+tt.set, func(t *testing.T) {
			_, err := render(t, mustLoad(t, tt.chart), valueSet{sets: []string{tt.set}}.values(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("--set %s: error %v, want one containing %q", tt.set, err, tt.want)
			}
		})
	}
}
