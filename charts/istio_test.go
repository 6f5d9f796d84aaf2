package charts_test

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/charts"
)

// istioSets are the umbrella with the Istio add-on on, rendered with Istio's CRDs served.
var istioSets = []valueSet{
	{name: "addon-istio", sets: []string{"istio.enabled=true"}},
	{name: "addon-istio-ha", profile: "ha", sets: []string{"istio.enabled=true,istio.metrics.permissive=true," +
		"istio.authorizationPolicies.clients.principals[0]=cluster.local/ns/shop/sa/web," +
		"istio.authorizationPolicies.api.namespaces[0]=ci,pu.serviceAccount.name=grid,istio.serviceAccounts.pu=grid"}},
}

// TestIstioGolden compares the add-on's render, in the umbrella, with testdata/<name>.yaml,
// and checks that the embedded chart renders as the checkout does.
func TestIstioGolden(t *testing.T) {
	for _, s := range istioSets {
		t.Run(s.name, func(t *testing.T) {
			r, err := renderWithAPIs(t, mustLoad(t, ""), s.values(t), charts.IstioAPIs)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, s.name+".yaml", []byte(r.manifest+"---\n# NOTES.txt\n"+r.notes+"\n"))
			fromDir, err := renderWithAPIs(t, mustLoad(t, charts.Umbrella), s.values(t), charts.IstioAPIs)
			if err != nil {
				t.Fatal(err)
			}
			if fromDir != r {
				t.Errorf("embedded and checkout renders differ:\n%s", firstDiff([]byte(fromDir.manifest), []byte(r.manifest)))
			}
		})
	}
}

// TestIstioRefusesWhatCannotWork checks the add-on's refusals: without Istio's kinds it
// names them and the --api-versions flags instead of dropping its objects; a ServiceAccount
// renamed in a component and not in the add-on, which would deny the grid its own traffic;
// nothing to create.
func TestIstioRefusesWhatCannotWork(t *testing.T) {
	tests := []addOnRender{
		{"umbrella without CRDs", charts.Umbrella, "istio.enabled=true", nil, []string{
			"istio.enabled=true needs Istio's CRDs",
			"security.istio.io/v1/PeerAuthentication, security.istio.io/v1/AuthorizationPolicy, networking.istio.io/v1/DestinationRule",
			"--api-versions security.istio.io/v1/PeerAuthentication --api-versions security.istio.io/v1/AuthorizationPolicy --api-versions networking.istio.io/v1/DestinationRule",
		}},
		{"umbrella, only PeerAuthentication served and wanted", charts.Umbrella,
			"istio.enabled=true,istio.authorizationPolicies.enabled=false,istio.destinationRules.enabled=false", charts.IstioAPIs[:1], nil},
		{"umbrella, requireCRDs off", charts.Umbrella, "istio.enabled=true,istio.requireCRDs=false", nil, nil},
		{"data pods renamed, add-on not", charts.Umbrella, "istio.enabled=true,pu.serviceAccount.name=grid", charts.IstioAPIs, []string{
			`istio.serviceAccounts.pu names "demo-insight-pu", but the pu pods run as "grid" (pu.serviceAccount): set istio.serviceAccounts.pu=grid`,
		}},
		{"managers without a ServiceAccount of their own", charts.Umbrella, "istio.enabled=true,manager.serviceAccount.create=false", charts.IstioAPIs, []string{
			`istio.serviceAccounts.manager names "demo-insight-manager", but the manager pods run as "default"`,
		}},
		{"standalone without CRDs", charts.Istio, "", nil, []string{
			"The insight-istio chart needs Istio's CRDs", "(set requireCRDs=false only if",
		}},
		{"standalone with CRDs", charts.Istio, "", charts.IstioAPIs, nil},
		{"nothing to create", charts.Istio, "peerAuthentication.enabled=false,authorizationPolicies.enabled=false,destinationRules.enabled=false", charts.IstioAPIs, []string{
			"peerAuthentication.enabled, authorizationPolicies.enabled and destinationRules.enabled are all false",
		}},
	}
	checkAddOnRenders(t, "PeerAuthentication", tests)
}

// The fields of Istio's objects the tests evaluate; decoding is strict, so a field the
// chart renders and these do not know fails the test rather than being ignored.
type istioMeta struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

type workloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

type authorizationPolicy struct {
	APIVersion string `json:"apiVersion"`
	istioMeta
	Spec struct {
		Selector workloadSelector `json:"selector"`
		Action   string           `json:"action"`
		Rules    []struct {
			From []struct {
				Source struct {
					Principals []string `json:"principals"`
					Namespaces []string `json:"namespaces"`
				} `json:"source"`
			} `json:"from"`
			To []struct {
				Operation struct {
					Ports []string `json:"ports"`
				} `json:"operation"`
			} `json:"to"`
		} `json:"rules"`
	} `json:"spec"`
}

type peerAuthentication struct {
	APIVersion string `json:"apiVersion"`
	istioMeta
	Spec struct {
		Selector workloadSelector `json:"selector"`
		MTLS     struct {
			Mode string `json:"mode"`
		} `json:"mtls"`
		PortLevelMTLS map[string]struct {
			Mode string `json:"mode"`
		} `json:"portLevelMtls"`
	} `json:"spec"`
}

// mesh is a rendered suite as an Istio sidecar or ztunnel would enforce it at layer 4.
type mesh struct {
	pods     map[string]corev1.PodTemplateSpec // by component
	policies []authorizationPolicy
	peers    []peerAuthentication
}

func parseMesh(t *testing.T, manifest string) mesh {
	t.Helper()
	m := mesh{pods: map[string]corev1.PodTemplateSpec{}}
	for name, doc := range releaseutil.SplitManifests(manifest) {
		var meta istioMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch meta.Kind {
		case "StatefulSet":
			var sts appsv1.StatefulSet
			if err := yaml.Unmarshal([]byte(doc), &sts); err != nil {
				t.Fatal(err)
			}
			m.pods[sts.Spec.Template.Labels["app.kubernetes.io/component"]] = sts.Spec.Template
		case "AuthorizationPolicy":
			var p authorizationPolicy
			if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			m.policies = append(m.policies, p)
		case "PeerAuthentication":
			var p peerAuthentication
			if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			m.peers = append(m.peers, p)
		}
	}
	return m
}

// peer is who opens a connection: a workload identity, or none for plain text.
type peer struct {
	principal, namespace string
}

// allows says whether a connection from src to port of the component's pods is allowed:
// with ALLOW policies selecting the pods, some rule must match; with none, all is allowed.
func (m mesh) allows(t *testing.T, src peer, component string, port int) bool {
	t.Helper()
	pod, ok := m.pods[component]
	if !ok {
		t.Fatalf("no StatefulSet for component %s", component)
	}
	selected := false
	for _, p := range m.policies {
		if !selects(p.Spec.Selector.MatchLabels, pod.Labels) {
			continue
		}
		if p.Spec.Action != "ALLOW" {
			t.Fatalf("policy %s: action %s, the add-on only allows", p.Metadata.Name, p.Spec.Action)
		}
		selected = true
		for _, r := range p.Spec.Rules {
			fromOK := len(r.From) == 0
			for _, f := range r.From {
				if slices.Contains(f.Source.Principals, src.principal) && src.principal != "" ||
					slices.Contains(f.Source.Namespaces, src.namespace) && src.principal != "" {
					fromOK = true
				}
			}
			toOK := len(r.To) == 0
			for _, to := range r.To {
				if slices.Contains(to.Operation.Ports, fmt.Sprint(port)) {
					toOK = true
				}
			}
			if fromOK && toOK {
				return true
			}
		}
	}
	return !selected
}

// plainTextAccepted says whether the component's pods take plain text on port.
func (m mesh) plainTextAccepted(component string, port int) bool {
	pod := m.pods[component]
	for _, p := range m.peers {
		if !selects(p.Spec.Selector.MatchLabels, pod.Labels) {
			continue
		}
		if pl, ok := p.Spec.PortLevelMTLS[fmt.Sprint(port)]; ok {
			return pl.Mode != "STRICT"
		}
		return p.Spec.MTLS.Mode != "STRICT"
	}
	return true
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestIstioPoliciesAllowTheGridsOwnTrafficOnly evaluates the rendered AuthorizationPolicies
// and PeerAuthentications, as the mesh enforces them at layer 4, against every connection
// the grid opens (replication and slot migration between data pods, handover and status
// from the managers, etcd among managers and from data pods), the applications' RESP
// connections, and the ones nothing needs, which must be denied.
func TestIstioPoliciesAllowTheGridsOwnTrafficOnly(t *testing.T) {
	const ns = namespace
	pu := peer{"cluster.local/ns/" + ns + "/sa/demo-insight-pu", ns}
	manager := peer{"cluster.local/ns/" + ns + "/sa/demo-insight-manager", ns}
	sameNS := peer{"cluster.local/ns/" + ns + "/sa/app", ns}
	otherNS := peer{"cluster.local/ns/shop/sa/web", "shop"}
	ci := peer{"cluster.local/ns/ci/sa/runner", "ci"}
	plain := peer{}
	type flow struct {
		from      peer
		to        string
		port      int
		allowed   bool
		plainText bool // accepted without mutual TLS
	}
	tests := []struct {
		name  string
		set   valueSet
		flows []flow
	}{
		{"defaults", valueSet{profile: "ha", sets: []string{"istio.enabled=true"}}, []flow{
			{from: pu, to: "pu", port: 6379, allowed: true},
			{from: manager, to: "pu", port: 8080, allowed: true},
			{from: pu, to: "manager", port: 2379, allowed: true},
			{from: manager, to: "manager", port: 2379, allowed: true},
			{from: manager, to: "manager", port: 2380, allowed: true},
			{from: manager, to: "manager", port: 8090, allowed: true},
			{from: sameNS, to: "pu", port: 6379, allowed: true},
			{from: otherNS, to: "pu", port: 6379},
			{from: sameNS, to: "pu", port: 8080},
			{from: pu, to: "manager", port: 2380},
			{from: pu, to: "pu", port: 8080},
			{from: sameNS, to: "manager", port: 2379},
			{from: sameNS, to: "manager", port: 8090},
			{from: plain, to: "pu", port: 6379},
			{from: plain, to: "pu", port: 8080},
			{from: plain, to: "manager", port: 8090},
			{from: sameNS, to: "pu", port: 9121},
			{from: plain, to: "pu", port: 9121},
			{from: plain, to: "manager", port: 9122},
		}},
		{"clients, API callers and an outside Prometheus named", valueSet{profile: "ha", sets: []string{"istio.enabled=true,istio.metrics.permissive=true," +
			"istio.authorizationPolicies.clients.principals[0]=cluster.local/ns/shop/sa/web,istio.authorizationPolicies.api.namespaces[0]=ci"}}, []flow{
			{from: otherNS, to: "pu", port: 6379, allowed: true},
			{from: sameNS, to: "pu", port: 6379},
			{from: ci, to: "manager", port: 8090, allowed: true},
			{from: ci, to: "manager", port: 2379},
			{from: plain, to: "pu", port: 9121, allowed: true, plainText: true},
			{from: plain, to: "manager", port: 9122, allowed: true, plainText: true},
			{from: plain, to: "pu", port: 8080},
			{from: plain, to: "manager", port: 8090},
			{from: otherNS, to: "pu", port: 8080},
			{from: plain, to: "pu", port: 6379},
			{from: plain, to: "manager", port: 2380},
			{from: pu, to: "pu", port: 6379, allowed: true},
		}},
		{"a Prometheus in the mesh", valueSet{sets: []string{"istio.enabled=true,istio.metrics.principals[0]=cluster.local/ns/monitoring/sa/prometheus"}}, []flow{
			{from: peer{"cluster.local/ns/monitoring/sa/prometheus", "monitoring"}, to: "pu", port: 9121, allowed: true},
			{from: peer{"cluster.local/ns/monitoring/sa/prometheus", "monitoring"}, to: "manager", port: 9122, allowed: true},
			{from: peer{"cluster.local/ns/monitoring/sa/prometheus", "monitoring"}, to: "pu", port: 8080},
			{from: peer{"cluster.local/ns/monitoring/sa/prometheus", "monitoring"}, to: "manager", port: 8090},
			{from: peer{"cluster.local/ns/monitoring/sa/prometheus", "monitoring"}, to: "pu", port: 6379},
			{from: plain, to: "pu", port: 9121},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := renderWithAPIs(t, mustLoad(t, ""), tt.set.values(t), charts.IstioAPIs)
			if err != nil {
				t.Fatal(err)
			}
			m := parseMesh(t, r.manifest)
			for _, f := range tt.flows {
				who := f.from.principal
				if who == "" {
					who = "plain text"
				}
				if got := m.allows(t, f.from, f.to, f.port); got != f.allowed {
					t.Errorf("%s -> %s:%d allowed=%v, want %v", who, f.to, f.port, got, f.allowed)
				}
				if got := m.plainTextAccepted(f.to, f.port); f.from.principal == "" && got != f.plainText {
					t.Errorf("plain text -> %s:%d accepted=%v, want %v", f.to, f.port, got, f.plainText)
				}
			}
		})
	}
}

// istioPortName is Istio's protocol selection by port name: <protocol>[-<suffix>].
var istioPortName = regexp.MustCompile(`^(tcp|http|grpc|tls|https|http2|mongo|redis|mysql|udp)(-.*)?$`)

// TestServicePortsDeclareTheirProtocol checks what Istio needs of the grid's Services in
// every profile: each port says its protocol (appProtocol, or a name Istio reads), RESP
// and etcd as plain tcp (Istio's redis protocol is experimental), and every port a pod
// is dialled on by its IP (MOVED and ASK redirects, replication, etcd peers, handover) is
// declared on a headless Service selecting that pod, or the sidecar would not match it.
func TestServicePortsDeclareTheirProtocol(t *testing.T) {
	// The HTTP ports serve HTTPS with global.tls.enabled, the default.
	want := map[string]string{"resp": "tcp", "client": "tcp", "peer": "tcp", "http": "https", "repl": "tcp", "resp-tls": "tcp"}
	for _, s := range []valueSet{{name: "dev", profile: "dev"}, {name: "ha", profile: "ha"}, {name: "production", profile: "production"}} {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s)
			var services []*corev1.Service
			var templates []corev1.PodTemplateSpec
			for _, obj := range decode(t, r.manifest) {
				switch o := obj.(type) {
				case *corev1.Service:
					services = append(services, o)
				case *appsv1.StatefulSet:
					templates = append(templates, o.Spec.Template)
				}
			}
			for _, svc := range services {
				for _, p := range svc.Spec.Ports {
					if p.AppProtocol == nil {
						if !istioPortName.MatchString(p.Name) {
							t.Errorf("Service %s port %s: no appProtocol and a name Istio does not read", svc.Name, p.Name)
						}
						continue
					}
					if w, ok := want[p.Name]; ok && *p.AppProtocol != w {
						t.Errorf("Service %s port %s: appProtocol %s, want %s", svc.Name, p.Name, *p.AppProtocol, w)
					}
				}
			}
			for _, tpl := range templates {
				for _, c := range tpl.Spec.Containers {
					for _, cp := range c.Ports {
						declared := false
						for _, svc := range services {
							if svc.Spec.ClusterIP != corev1.ClusterIPNone || !selects(svc.Spec.Selector, tpl.Labels) {
								continue
							}
							for _, p := range svc.Spec.Ports {
								if p.TargetPort.String() == cp.Name || p.TargetPort.IntValue() == int(cp.ContainerPort) {
									declared = true
								}
							}
						}
						if !declared {
							t.Errorf("%s port %s (%d): no headless Service selecting the pod declares it", tpl.Labels["app.kubernetes.io/component"], cp.Name, cp.ContainerPort)
						}
					}
				}
			}
		})
	}
}
