package charts_test

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/insightgrid/insight/charts"
)

// wanTarget is a target site as the umbrella's values write it: its gateway's address and
// the Secrets holding its CA and operator token.
const wanTarget = "wanGateway.targets[0].name=paris,wanGateway.targets[0].address=demo-insight-wan-gateway.paris.svc:7443," +
	"wanGateway.targets[0].tls.caSecret=paris-ca,wanGateway.targets[0].auth.tokenSecret=paris-token"

// wanSets are the umbrella as a WAN site: one target on the defaults, and the HA profile
// with two targets (one through a load balancer whose certificate names another host,
// Secrets with their own keys), a NodePort, the other outbox mode and narrowed ingress.
var wanSets = []valueSet{
	{name: "addon-wan-gateway", sets: []string{"wanGateway.enabled=true,wanGateway.site=london," + wanTarget}},
	{name: "addon-wan-gateway-ha", profile: "ha", sets: []string{"wanGateway.enabled=true,wanGateway.site=london," + wanTarget +
		",wanGateway.targets[1].name=tokyo,wanGateway.targets[1].address=203.0.113.7:30443,wanGateway.targets[1].tls.caSecret=tokyo,wanGateway.targets[1].tls.caKey=ca.pem" +
		",wanGateway.targets[1].tls.serverName=wan.tokyo.example,wanGateway.targets[1].auth.tokenSecret=tokyo,wanGateway.targets[1].auth.tokenKey=operator" +
		",wanGateway.service.type=NodePort,wanGateway.service.nodePort=30443,wanGateway.outbox.max=5000,wanGateway.outbox.full=mark-out-of-sync" +
		",wanGateway.networkPolicy.sites[0].ipBlock.cidr=203.0.113.0/24"}},
}

// TestWANGatewayGolden compares the umbrella's render as a WAN site with
// testdata/<name>.yaml, and checks that the embedded chart renders as the checkout does.
func TestWANGatewayGolden(t *testing.T) {
	for _, s := range wanSets {
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

// TestWANGatewayOffByDefault checks that no profile renders the gateway or its ConfigMap,
// and that the data pods and managers read the WAN flags only from that ConfigMap, as
// optional: without it they run without WAN.
func TestWANGatewayOffByDefault(t *testing.T) {
	for _, s := range allSets(t) {
		for _, obj := range decode(t, mustRender(t, s).manifest) {
			m, err := meta.Accessor(obj)
			if err != nil {
				t.Fatal(err)
			}
			if m.GetLabels()[labelComponent] == "wan-gateway" || m.GetName() == "demo-insight-wan" {
				t.Errorf("%s renders %T %s without wanGateway.enabled=true", s.name, obj, m.GetName())
			}
			if sts, ok := obj.(*appsv1.StatefulSet); ok {
				checkWANEnv(t, sts)
			}
		}
	}
}

// checkWANEnv checks that a data pod or manager StatefulSet takes its WAN flags from the
// ConfigMap demo-insight-wan, optional: the data pods all four, the managers the site.
func checkWANEnv(t *testing.T, sts *appsv1.StatefulSet) {
	t.Helper()
	keys := map[string]string{"INSIGHT_WAN_SITE": "site"}
	if sts.Spec.Template.Labels[labelComponent] == "pu" {
		keys = map[string]string{"INSIGHT_WAN_SITE": "site", "INSIGHT_WAN_TARGETS": "targets", "INSIGHT_WAN_OUTBOX_MAX": "outbox-max", "INSIGHT_WAN_OUTBOX_FULL": "outbox-full"}
	}
	c := sts.Spec.Template.Spec.Containers[0]
	for name, key := range keys {
		e := env(c, name)
		if e == nil || e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil || e.ValueFrom.ConfigMapKeyRef.Name != "demo-insight-wan" ||
			e.ValueFrom.ConfigMapKeyRef.Key != key || e.ValueFrom.ConfigMapKeyRef.Optional == nil || !*e.ValueFrom.ConfigMapKeyRef.Optional {
			t.Errorf("StatefulSet %s: %s %+v, want the key %s of the ConfigMap demo-insight-wan, optional", sts.Name, name, e, key)
		}
	}
}

// wanObjects are the objects of a WAN site's render the tests look at.
type wanObjects struct {
	deploy *appsv1.Deployment
	svc    *corev1.Service
	cm     *corev1.ConfigMap
	sts    []*appsv1.StatefulSet
}

func renderWAN(t *testing.T, s valueSet) wanObjects {
	t.Helper()
	var w wanObjects
	for _, obj := range decode(t, mustRender(t, s).manifest) {
		checkObject(t, obj)
		switch o := obj.(type) {
		case *appsv1.Deployment:
			if o.Name == "demo-insight-wan-gateway" {
				w.deploy = o
			}
		case *corev1.Service:
			if o.Name == "demo-insight-wan-gateway" {
				w.svc = o
			}
		case *corev1.ConfigMap:
			if o.Name == "demo-insight-wan" {
				w.cm = o
			}
		case *appsv1.StatefulSet:
			w.sts = append(w.sts, o)
		}
	}
	if w.deploy == nil || w.svc == nil || w.cm == nil {
		t.Fatalf("Deployment %v, Service %v, ConfigMap %v: want all three", w.deploy != nil, w.svc != nil, w.cm != nil)
	}
	return w
}

// TestWANGatewayDeployment checks a WAN site's objects against the values: one gateway
// (restricted pod, probes on its port, no token) running insight-grid gateway with a
// flag per target and the files of its Secrets, the release's certificate and operator
// token, the managers' HTTPS API; the Service's https-wan 7443 (the contract insightctl
// wan relies on); the ConfigMap the data pods and managers read their flags from.
func TestWANGatewayDeployment(t *testing.T) {
	for _, s := range wanSets {
		t.Run(s.name, func(t *testing.T) {
			vals := s.values(t)
			w := renderWAN(t, s)
			if w.deploy.Spec.Replicas == nil || *w.deploy.Spec.Replicas != 1 {
				t.Errorf("replicas %v, want 1 (one gateway per site)", w.deploy.Spec.Replicas)
			}
			c := w.deploy.Spec.Template.Spec.Containers[0]
			want := []string{"gateway",
				"--target=paris=demo-insight-wan-gateway.paris.svc:7443",
				"--target-ca=paris=/etc/insight/wan-targets/paris/ca.crt",
				"--target-token-file=paris=/etc/insight/wan-targets/paris/token"}
			if s.name == "addon-wan-gateway-ha" {
				want = append(want, "--target=tokyo=203.0.113.7:30443",
					"--target-ca=tokyo=/etc/insight/wan-targets/tokyo/ca.crt",
					"--target-token-file=tokyo=/etc/insight/wan-targets/tokyo/token",
					"--target-server-name=tokyo=wan.tokyo.example")
			}
			if len(c.Command) != 0 || !slices.Equal(c.Args, want) {
				t.Errorf("command %q args\n  %q\nwant the image's insight-grid with\n  %q", c.Command, c.Args, want)
			}
			for name, value := range map[string]string{
				"INSIGHT_SITE":                "london",
				"INSIGHT_MANAGER":             "https://demo-insight-manager.insight.svc.cluster.local:8090",
				"INSIGHT_PORT":                "7443",
				"INSIGHT_OPERATOR_TOKEN_FILE": "/etc/insight/operator-token/token",
				"INSIGHT_TLS_CERT_FILE":       "/etc/insight/tls/tls.crt",
				"INSIGHT_TLS_CA_CERT_FILE":    "/etc/insight/tls/ca.crt",
			} {
				if e := env(c, name); e == nil || e.Value != value {
					t.Errorf("%s %+v, want %s", name, e, value)
				}
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "https-wan" || c.Ports[0].ContainerPort != 7443 {
				t.Errorf("container ports %+v, want https-wan 7443", c.Ports)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
				t.Errorf("readiness probe %+v, want HTTPS (the sink serves TLS)", p)
			}
			files := map[string]string{} // path under /etc/insight/wan-targets -> secret/key
			volumes := map[string]corev1.Volume{}
			for _, v := range w.deploy.Spec.Template.Spec.Volumes {
				volumes[v.Name] = v
				if v.Projected == nil {
					continue
				}
				for _, src := range v.Projected.Sources {
					for _, it := range src.Secret.Items {
						files[it.Path] = src.Secret.Name + "/" + it.Key
					}
				}
			}
			wantFiles := map[string]string{"paris/ca.crt": "paris-ca/ca.crt", "paris/token": "paris-token/token"}
			if s.name == "addon-wan-gateway-ha" {
				wantFiles["tokyo/ca.crt"], wantFiles["tokyo/token"] = "tokyo/ca.pem", "tokyo/operator"
			}
			if !mapsEqual(files, wantFiles) {
				t.Errorf("the targets' files %v, want %v", files, wantFiles)
			}
			if volumes["tls"].Secret == nil || volumes["tls"].Secret.SecretName != "demo-insight-tls" ||
				volumes["operator-token"].Secret == nil || volumes["operator-token"].Secret.SecretName != "demo-insight-operator-token" {
				t.Errorf("volumes %+v, want the release's TLS Secret and operator token", volumes)
			}

			if len(w.svc.Spec.Ports) != 1 || w.svc.Spec.Ports[0].Name != "https-wan" || w.svc.Spec.Ports[0].Port != 7443 || w.svc.Spec.Ports[0].TargetPort.String() != "https-wan" {
				t.Errorf("Service ports %+v, want https-wan 7443 to the pod's https-wan", w.svc.Spec.Ports)
			}
			if typ := stringValue(vals, "ClusterIP", "wanGateway", "service", "type"); string(w.svc.Spec.Type) != typ {
				t.Errorf("Service type %s, want %s", w.svc.Spec.Type, typ)
			}

			wantCM := map[string]string{"site": "london", "targets": "paris", "outbox-max": "100000", "outbox-full": "block"}
			if s.name == "addon-wan-gateway-ha" {
				wantCM = map[string]string{"site": "london", "targets": "paris,tokyo", "outbox-max": "5000", "outbox-full": "mark-out-of-sync"}
			}
			if !mapsEqual(w.cm.Data, wantCM) {
				t.Errorf("ConfigMap demo-insight-wan %v, want %v", w.cm.Data, wantCM)
			}
			for _, sts := range w.sts {
				checkWANEnv(t, sts)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestWANGatewayWithoutTLSSendsInPlain checks the release without TLS and operator token:
// the gateway calls the managers over HTTP, probes in HTTP, and its targets carry no CA
// nor token (a CA there is refused, as the gateway would send the token in plain).
func TestWANGatewayWithoutTLSSendsInPlain(t *testing.T) {
	plain := "wanGateway.enabled=true,wanGateway.site=london,global.tls.enabled=false,global.operatorToken.enabled=false," +
		"wanGateway.targets[0].name=paris,wanGateway.targets[0].address=gw.paris:7443"
	w := renderWAN(t, valueSet{name: "plain", sets: []string{plain}})
	c := w.deploy.Spec.Template.Spec.Containers[0]
	if e := env(c, "INSIGHT_MANAGER"); e == nil || e.Value != "http://demo-insight-manager.insight.svc.cluster.local:8090" {
		t.Errorf("INSIGHT_MANAGER %+v, want the managers' plain API", e)
	}
	if env(c, "INSIGHT_TLS_CERT_FILE") != nil || env(c, "INSIGHT_OPERATOR_TOKEN_FILE") != nil {
		t.Errorf("env %+v: TLS or token files without them", c.Env)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("readiness probe %+v, want HTTP", p)
	}
	if !slices.Equal(c.Args, []string{"gateway", "--target=paris=gw.paris:7443"}) {
		t.Errorf("args %q", c.Args)
	}
	_, err := render(t, mustLoad(t, charts.Umbrella), valueSet{sets: []string{plain + ",wanGateway.targets[0].tls.caSecret=paris-ca"}}.values(t))
	if err == nil || !strings.Contains(err.Error(), "wanGateway.targets[0] (paris): global.tls and global.operatorToken are off") {
		t.Errorf("a CA without TLS: %v", err)
	}
}

// TestWANGatewayBadValues checks that values a site cannot run with are refused, each
// naming its key.
func TestWANGatewayBadValues(t *testing.T) {
	on := "wanGateway.enabled=true,wanGateway.site=london,"
	tests := []struct {
		name, set string
		want      []string
	}{
		{"no site", "wanGateway.enabled=true", []string{"wanGateway.site is empty"}},
		{"site not a name", on + "wanGateway.site=London", []string{"/wanGateway/site", "'London' does not match pattern"}},
		{"site too long", on + "wanGateway.site=" + strings.Repeat("a", 33), []string{"/wanGateway/site"}},
		{"target name not a name", on + "wanGateway.targets[0].name=Paris,wanGateway.targets[0].address=x:1", []string{"/wanGateway/targets/0/name"}},
		{"target without address", on + "wanGateway.targets[0].name=paris", []string{"/wanGateway/targets/0", "missing property 'address'"}},
		{"target address without port", on + "wanGateway.targets[0].name=paris,wanGateway.targets[0].address=gw.paris", []string{"/wanGateway/targets/0/address"}},
		{"target misspelt key", on + wanTarget + ",wanGateway.targets[0].tls.ca=x", []string{"/wanGateway/targets/0/tls", "additional properties 'ca' not allowed"}},
		{"target is this site", on + strings.ReplaceAll(wanTarget, "name=paris", "name=london"), []string{"wanGateway.targets[0].name=london: that is this site (wanGateway.site)"}},
		{"target twice", on + wanTarget + ",wanGateway.targets[1].name=paris,wanGateway.targets[1].address=y:1,wanGateway.targets[1].tls.caSecret=a,wanGateway.targets[1].auth.tokenSecret=b",
			[]string{"wanGateway.targets[1].name=paris is listed twice"}},
		{"target without its CA", on + "wanGateway.targets[0].name=paris,wanGateway.targets[0].address=x:1,wanGateway.targets[0].auth.tokenSecret=t",
			[]string{"wanGateway.targets[0] (paris): set tls.caSecret and auth.tokenSecret"}},
		{"outbox mode", on + "wanGateway.outbox.full=drop", []string{"/wanGateway/outbox/full", "value must be one of 'block', 'mark-out-of-sync'"}},
		{"outbox bound", on + "wanGateway.outbox.max=0", []string{"/wanGateway/outbox/max", "minimum: got 0, want 1"}},
		{"service type", on + "wanGateway.service.type=External", []string{"/wanGateway/service/type"}},
		{"in an Istio mesh", on + wanTarget + ",istio.enabled=true", []string{"wanGateway.enabled=true with istio.enabled=true"}},
		{"without managers", on + "manager.enabled=false,pu.etcdEndpoints=e:2379", []string{"wanGateway.enabled=true with pu.enabled=true and manager.enabled=false"}},
		{"request above limit", on + "wanGateway.resources.requests.memory=1Gi", []string{"wanGateway.resources.requests.memory=1Gi is above wanGateway.resources.limits.memory=512Mi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, mustLoad(t, charts.Umbrella), valueSet{sets: []string{tt.set}}.values(t))
			if err == nil {
				t.Fatalf("--set %s rendered", tt.set)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("--set %s: error %v, want one containing %q", tt.set, err, w)
				}
			}
		})
	}
	// The production profile keeps the data pods on volumes: a site renders with it, the WAN
	// metadata journaled with the keys.
	res, err := render(t, mustLoad(t, charts.Umbrella), valueSet{profile: "production", sets: []string{on + wanTarget}}.values(t))
	if err != nil {
		t.Fatalf("the production profile as a site: %v", err)
	}
	if !strings.Contains(res.manifest, "INSIGHT_WAN_SITE") || !strings.Contains(res.manifest, "INSIGHT_DATA_DIR") {
		t.Errorf("the production profile as a site: the data pods want both INSIGHT_WAN_SITE and INSIGHT_DATA_DIR")
	}
}

// TestWANGatewayStandalone checks that the chart installed alone validates its own
// values, naming keys without the umbrella's prefix.
func TestWANGatewayStandalone(t *testing.T) {
	for set, want := range map[string]string{
		"targets[0].name=paris,targets[0].address=x:1":             "site is empty",
		"site=london,targets[0].name=paris,targets[0].address=x:1": "targets[0] (paris): set tls.caSecret and auth.tokenSecret",
	} {
		_, err := render(t, mustLoad(t, charts.WANGateway), valueSet{sets: []string{set}}.values(t))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "wanGateway.") {
			t.Errorf("--set %s: %v, want %q without the umbrella's prefix", set, err, want)
		}
	}
}

// TestWANGatewayNetworkFlows checks the policies of a WAN site: other sites reach the
// sink from anywhere (or only networkPolicy.sites), the gateway reaches its managers'
// API, its data pods' HTTP port and the targets' port, and nothing else of the grid.
func TestWANGatewayNetworkFlows(t *testing.T) {
	flows := []netpolFlow{
		tcp("internet", "wan-gateway", 7443, true, "another site to the sink"),
		tcp("outsider", "wan-gateway", 7443, true, "another site in this cluster to the sink"),
		tcp("internet", "wan-gateway", 8080, false, "nothing but the sink"),
		tcp("wan-gateway", "manager", 8090, true, "the partition map"),
		tcp("wan-gateway", "pu", 8080, true, "pull, acknowledge, apply"),
		tcp("wan-gateway", "pu", 6379, false, "the gateway does not speak RESP"),
		tcp("wan-gateway", "manager", 2379, false, "nor etcd"),
		tcp("wan-gateway", "internet", 7443, true, "the targets' gateways"),
		tcp("wan-gateway", "internet", 443, false, "nothing else outside"),
		tcp("app", "pu", 8080, false, "the data pods' admin port stays closed to applications"),
	}
	s := valueSet{name: "wan-flows", profile: "dev", sets: []string{"sql.enabled=true,spark.enabled=true,wanGateway.enabled=true,wanGateway.site=london," + wanTarget}}
	policies, peers := renderedNetwork(t, s)
	for _, f := range flows {
		got, err := flowAllowed(policies, peers, f)
		if err != nil {
			t.Fatal(err)
		}
		if got != f.allowed {
			t.Errorf("%s -> %s:%d (%s): allowed %v, want %v", f.from, f.to, f.port, f.why, got, f.allowed)
		}
	}
	narrowed := valueSet{name: "wan-flows-narrowed", profile: "dev", sets: append(s.sets, "wanGateway.networkPolicy.sites[0].namespaceSelector.matchLabels.site=paris")}
	policies, peers = renderedNetwork(t, narrowed)
	for _, f := range []netpolFlow{
		tcp("outsider", "wan-gateway", 7443, false, "a namespace networkPolicy.sites does not name"),
		tcp("internet", "wan-gateway", 7443, false, "an address networkPolicy.sites does not name"),
	} {
		if got, err := flowAllowed(policies, peers, f); err != nil || got != f.allowed {
			t.Errorf("narrowed: %s -> %s:%d (%s): allowed %v (%v), want %v", f.from, f.to, f.port, f.why, got, err, f.allowed)
		}
	}
}
