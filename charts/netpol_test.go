package charts_test

import (
	"fmt"
	"testing"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// netpolPeer is a pod a flow starts or ends at: its namespace, the namespace's labels
// besides kubernetes.io/metadata.name, the pod's labels, and the container ports that
// resolve a port number to its name.
type netpolPeer struct {
	namespace string
	nsLabels  map[string]string
	labels    map[string]string
	ports     []corev1.ContainerPort
}

// Pods outside the release: an application in the release's namespace, one in another
// namespace, a Prometheus in an unlabelled namespace and one in a namespace labelled for
// monitoring, and the cluster DNS.
var outsidePeers = map[string]netpolPeer{
	"app":        {namespace: namespace, labels: map[string]string{"app": "web"}},
	"outsider":   {namespace: "shop", labels: map[string]string{"app": "web"}},
	"prometheus": {namespace: "monitoring", labels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	"prometheus-labelled": {namespace: "observability", nsLabels: map[string]string{"insight.dev/monitoring": "true"},
		labels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	"kube-dns": {namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}, ports: []corev1.ContainerPort{
		{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP}}},
	"internet": {namespace: "", labels: nil},
}

// netpolFlow is a connection and whether the rendered policies let it through (both the
// source's egress and the destination's ingress).
type netpolFlow struct {
	from, to string
	port     int
	proto    corev1.Protocol
	allowed  bool
	why      string
}

func tcp(from, to string, port int, allowed bool, why string) netpolFlow {
	return netpolFlow{from: from, to: to, port: port, proto: corev1.ProtocolTCP, allowed: allowed, why: why}
}

// netpolCase is a set of values on top of a profile and the flows it must allow or refuse.
type netpolCase struct {
	name  string
	sets  []string
	flows []netpolFlow
}

var netpolCases = []netpolCase{
	{name: "defaults", flows: []netpolFlow{
		tcp("app", "pu", 6379, true, "RESP from the release's namespace"),
		tcp("outsider", "pu", 6379, false, "RESP from another namespace"),
		tcp("app", "pu", 8080, false, "admin endpoints from an application"),
		tcp("outsider", "pu", 8080, false, "admin endpoints from another namespace"),
		tcp("pu", "pu", 6380, true, "replication and slot migration between data pods (mutual TLS)"),
		tcp("app", "pu", 6380, false, "the internal links from an application"),
		tcp("sql", "pu", 6380, false, "the internal links from the SQL endpoints"),
		tcp("manager", "pu", 6380, false, "the internal links from the managers"),
		tcp("outsider", "pu", 6380, false, "the internal links from another namespace"),
		tcp("pu", "pu", 8080, false, "data pods do not call each other's admin endpoints"),
		tcp("manager", "pu", 8080, true, "handover and status from the managers"),
		tcp("manager", "pu", 6379, false, "the managers do not speak RESP"),
		tcp("sql", "pu", 6379, true, "the SQL endpoints read the grid"),
		tcp("pu", "manager", 2379, true, "data pods to etcd's clients port"),
		tcp("pu", "manager", 2380, false, "data pods are not etcd peers"),
		tcp("pu", "manager", 8090, false, "data pods do not call the API"),
		tcp("manager", "manager", 2379, true, "etcd client between managers"),
		tcp("manager", "manager", 2380, true, "etcd peers"),
		tcp("app", "manager", 2379, false, "etcd from an application"),
		tcp("app", "manager", 2380, false, "etcd peer port from an application"),
		tcp("outsider", "manager", 2379, false, "etcd from another namespace"),
		tcp("app", "manager", 8090, false, "the API from a pod outside the release"),
		tcp("outsider", "manager", 8090, false, "the API from another namespace"),
		tcp("app", "sql", 3306, true, "MySQL from the release's namespace"),
		tcp("outsider", "sql", 3306, false, "MySQL from another namespace"),
		tcp("prometheus", "pu", 9121, false, "metrics from a namespace not labelled for monitoring"),
		tcp("prometheus", "manager", 9122, false, "metrics from a namespace not labelled for monitoring"),
		tcp("prometheus", "sql", 9104, false, "metrics without a monitoring selector"),
		tcp("prometheus-labelled", "pu", 9121, true, "metrics from a namespace labelled insight.dev/monitoring=true"),
		tcp("prometheus-labelled", "manager", 9122, true, "metrics from a namespace labelled insight.dev/monitoring=true"),
		tcp("prometheus-labelled", "pu", 8080, false, "the admin endpoints stay closed to the scrapers"),
		tcp("prometheus-labelled", "manager", 8090, false, "the API stays closed to the scrapers"),
		tcp("prometheus-labelled", "pu", 6379, false, "RESP stays closed to the scrapers"),
		tcp("prometheus-labelled", "manager", 2379, false, "etcd stays closed to the scrapers"),
		tcp("app", "pu", 9121, true, "metrics from the release's namespace"),
		tcp("app", "manager", 9122, true, "metrics from the release's namespace"),
		tcp("outsider", "pu", 9121, false, "metrics from another namespace"),
		tcp("outsider", "manager", 9122, false, "metrics from another namespace"),
		{from: "pu", to: "kube-dns", port: 53, proto: corev1.ProtocolUDP, allowed: true, why: "DNS over UDP"},
		tcp("pu", "kube-dns", 53, true, "DNS over TCP"),
		{from: "manager", to: "kube-dns", port: 53, proto: corev1.ProtocolUDP, allowed: true, why: "DNS"},
		{from: "sql", to: "kube-dns", port: 53, proto: corev1.ProtocolUDP, allowed: true, why: "DNS"},
		tcp("pu", "internet", 443, false, "egress elsewhere"),
		tcp("manager", "outsider", 6379, false, "egress elsewhere"),
		tcp("sql", "manager", 8090, false, "egress elsewhere"),
		tcp("spark-executor", "spark-driver", 7078, true, "executors to their driver's RPC"),
		tcp("spark-executor", "spark-driver", 7079, true, "executors to the driver's block manager"),
		tcp("spark-driver", "spark-executor", 7079, true, "the driver fetches blocks from executors"),
		tcp("spark-executor", "spark-executor", 7079, true, "shuffle between executors"),
		tcp("spark-executor", "pu", 6379, true, "the Redis connector dials the data pods"),
		tcp("spark-driver", "pu", 6379, true, "the Redis connector reads the slot map"),
		tcp("spark-driver", "sql", 3306, true, "JDBC to the SQL endpoints"),
		tcp("spark-driver", "internet", 6443, true, "the driver calls the API server"),
		tcp("spark-driver", "internet", 80, false, "egress elsewhere"),
		tcp("spark-executor", "manager", 8090, false, "Spark does not call the manager"),
		tcp("app", "spark-driver", 7078, false, "the driver's RPC from an application"),
		tcp("app", "spark-driver", 4040, false, "the UI without a ui selector"),
		tcp("outsider", "spark-executor", 7079, false, "block managers from another namespace"),
		{from: "spark-executor", to: "kube-dns", port: 53, proto: corev1.ProtocolUDP, allowed: true, why: "DNS"},
	}},
	{name: "clients-widened", sets: []string{`pu.networkPolicy.clients[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=shop`, `sql.networkPolicy.clients[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=shop`}, flows: []netpolFlow{
		tcp("outsider", "pu", 6379, true, "RESP from the namespace the clients selector names"),
		tcp("outsider", "sql", 3306, true, "MySQL from the namespace the clients selector names"),
		tcp("app", "pu", 6379, false, "the selector replaces the namespace default"),
		tcp("sql", "pu", 6379, true, "the release's SQL endpoints whatever the clients selector"),
		tcp("pu", "pu", 6380, true, "replication whatever the clients selector"),
		tcp("outsider", "pu", 6380, false, "the internal links are not for the clients selector"),
		tcp("outsider", "manager", 2379, false, "etcd stays closed"),
	}},
	{name: "clients-none", sets: []string{"pu.networkPolicy.clients=null"}, flows: []netpolFlow{
		tcp("app", "pu", 6379, false, "no application allowed"),
		tcp("sql", "pu", 6379, true, "the release's SQL endpoints"),
		tcp("spark-executor", "pu", 6379, true, "the release's Spark pods"),
		tcp("pu", "pu", 6380, true, "replication"),
	}},
	{name: "sql-clients-none", sets: []string{"sql.networkPolicy.clients=null"}, flows: []netpolFlow{
		tcp("app", "sql", 3306, false, "no application allowed"),
		tcp("spark-driver", "sql", 3306, true, "the release's Spark pods"),
	}},
	{name: "spark-ui", sets: []string{`spark.networkPolicy.ui[0].podSelector.matchLabels.app=web`}, flows: []netpolFlow{
		tcp("app", "spark-driver", 4040, true, "the UI from the ui selector"),
		tcp("app", "spark-driver", 7078, false, "only the UI port"),
	}},
	{name: "monitoring", sets: []string{
		`pu.networkPolicy.monitoring[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=monitoring`,
		`manager.networkPolicy.monitoring[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=monitoring`,
		`sql.networkPolicy.monitoring[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=monitoring`,
	}, flows: []netpolFlow{
		tcp("prometheus", "pu", 9121, true, "metrics from the monitoring selector"),
		tcp("prometheus", "manager", 9122, true, "metrics from the monitoring selector"),
		tcp("prometheus", "sql", 9104, true, "metrics from the monitoring selector"),
		tcp("prometheus", "pu", 8080, false, "the admin endpoints are not the metrics port"),
		tcp("prometheus", "manager", 8090, false, "the API is not the metrics port"),
		tcp("prometheus", "pu", 6379, false, "only the metrics port"),
		tcp("prometheus", "manager", 2379, false, "only the metrics port"),
		tcp("outsider", "pu", 9121, false, "other namespaces still refused"),
		tcp("app", "pu", 9121, false, "the selector replaces the default"),
		tcp("prometheus-labelled", "manager", 9122, false, "the selector replaces the default"),
	}},
	{name: "monitoring-none", sets: []string{"pu.networkPolicy.monitoring=null", "manager.networkPolicy.monitoring=null"}, flows: []netpolFlow{
		tcp("app", "pu", 9121, false, "no scraper allowed"),
		tcp("prometheus-labelled", "manager", 9122, false, "no scraper allowed"),
		tcp("manager", "pu", 8080, true, "the managers' admin calls whatever the monitoring peers"),
	}},
	{name: "operators", sets: []string{`manager.networkPolicy.operators[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=shop`}, flows: []netpolFlow{
		tcp("outsider", "manager", 8090, true, "the API from the operators selector"),
		tcp("outsider", "manager", 2379, false, "etcd stays closed to operators"),
		tcp("app", "manager", 8090, false, "pods outside the release and the selector"),
	}},
	{name: "egress-off", sets: []string{"pu.networkPolicy.egress.enabled=false", "manager.networkPolicy.egress.enabled=false", "sql.networkPolicy.egress.enabled=false", "spark.networkPolicy.egress.enabled=false"}, flows: []netpolFlow{
		tcp("pu", "internet", 443, true, "egress unrestricted"),
		tcp("manager", "outsider", 6379, true, "egress unrestricted"),
		tcp("outsider", "manager", 2379, false, "ingress still restricted"),
		tcp("pu", "pu", 6380, true, "replication"),
	}},
	{name: "zeppelin-spark", sets: []string{"zeppelin.enabled=true,zeppelin.spark.enabled=true"}, flows: []netpolFlow{
		tcp("app", "zeppelin", 8080, true, "the web UI from the release's namespace"),
		tcp("outsider", "zeppelin", 8080, false, "the web UI from another namespace"),
		tcp("app", "zeppelin", 12320, false, "the interpreters' callback from an application"),
		tcp("zeppelin-interpreter", "zeppelin", 12320, true, "the interpreters' callback"),
		tcp("zeppelin-interpreter", "zeppelin", 8080, false, "interpreters do not call the web UI"),
		tcp("zeppelin", "zeppelin-interpreter", 12321, true, "the server's calls to an interpreter"),
		tcp("app", "zeppelin-interpreter", 12321, false, "interpreters from an application"),
		tcp("zeppelin-interpreter", "sql", 3306, true, "the JDBC interpreter's MySQL"),
		tcp("zeppelin", "sql", 3306, false, "the server runs no interpreter with runMode=k8s"),
		tcp("zeppelin-spark", "pu", 6379, true, "spark-redis to the grid"),
		tcp("zeppelin-spark", "internet", 443, true, "Spark's driver to the API server (default: any address)"),
		tcp("spark-executor", "zeppelin-spark", 22321, true, "executors to their driver"),
		tcp("spark-executor", "zeppelin-spark", 12321, false, "executors do not call the interpreter port"),
		tcp("app", "zeppelin-spark", 4040, true, "the Spark UI from the users"),
		tcp("zeppelin", "internet", 443, true, "the launcher to the API server (default: any address)"),
		tcp("zeppelin", "internet", 80, false, "egress elsewhere"),
		tcp("zeppelin", "pu", 6379, false, "the server does not read the grid"),
		{from: "zeppelin", to: "kube-dns", port: 53, proto: corev1.ProtocolUDP, allowed: true, why: "DNS"},
		{from: "zeppelin-interpreter", to: "kube-dns", port: 53, proto: corev1.ProtocolUDP, allowed: true, why: "DNS"},
	}},
	{name: "zeppelin-sql-clients-narrowed", sets: []string{"zeppelin.enabled=true", `sql.networkPolicy.clients[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=shop`}, flows: []netpolFlow{
		tcp("zeppelin-interpreter", "sql", 3306, true, "the release's Zeppelin whatever the SQL clients selector"),
		tcp("app", "sql", 3306, false, "the selector replaces the namespace default"),
		tcp("zeppelin-interpreter", "pu", 6379, false, "no Spark: interpreters do not read the grid"),
		tcp("zeppelin-interpreter", "internet", 443, false, "no Spark: interpreters do not call the API server"),
		tcp("spark-executor", "zeppelin-interpreter", 22321, false, "no Spark: no driver port"),
	}},
	{name: "zeppelin-users-and-api-server", sets: []string{"zeppelin.enabled=true",
		`zeppelin.networkPolicy.users[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name=shop`,
		"zeppelin.networkPolicy.apiServer[0].ipBlock.cidr=10.96.0.1/32"}, flows: []netpolFlow{
		tcp("outsider", "zeppelin", 8080, true, "the web UI from the namespace the users selector names"),
		tcp("app", "zeppelin", 8080, false, "the selector replaces the namespace default"),
		tcp("zeppelin", "internet", 443, false, "the API server narrowed to its address"),
	}},
	{name: "zeppelin-local", sets: []string{"zeppelin.enabled=true,zeppelin.runMode=local"}, flows: []netpolFlow{
		tcp("zeppelin", "sql", 3306, true, "interpreters inside the server's pod"),
		tcp("zeppelin", "internet", 443, false, "no launcher, no API server"),
	}},
	{name: "tls-off", sets: []string{"global.tls.enabled=false"}, flows: []netpolFlow{
		tcp("pu", "pu", 6379, true, "replication in plain on the RESP port"),
		tcp("pu", "pu", 6380, false, "no internal links port without TLS"),
		tcp("app", "pu", 6379, true, "RESP from the release's namespace"),
	}},
	{name: "resp-tls", sets: []string{"pu.tls.port=6390"}, flows: []netpolFlow{
		tcp("app", "pu", 6390, true, "RESP over TLS from the release's namespace"),
		tcp("app", "pu", 6379, true, "plain RESP kept beside it"),
		tcp("outsider", "pu", 6390, false, "RESP over TLS from another namespace"),
		tcp("app", "pu", 6380, false, "the internal links stay the PUs' own"),
	}},
	{name: "disabled", sets: []string{"pu.networkPolicy.enabled=false", "manager.networkPolicy.enabled=false", "sql.networkPolicy.enabled=false", "spark.networkPolicy.enabled=false"}, flows: []netpolFlow{
		tcp("outsider", "manager", 2379, true, "no policy selects the pod"),
		tcp("outsider", "pu", 8080, true, "no policy selects the pod"),
		tcp("outsider", "pu", 9121, true, "no policy selects the pod"),
	}},
}

// TestNetworkPolicyFlows renders the dev and production profiles with the SQL endpoints and Spark
// and evaluates every flow of netpolCases against the rendered NetworkPolicies with
// cyclonus's engine (networking/v1 semantics: a pod no policy selects is open; a selected
// pod takes what some rule of some policy allows, per direction).
func TestNetworkPolicyFlows(t *testing.T) {
	for _, profile := range []string{"dev", "production"} {
		for _, c := range netpolCases {
			t.Run(profile+"/"+c.name, func(t *testing.T) {
				s := valueSet{name: profile + "-" + c.name, profile: profile, sets: append([]string{"sql.enabled=true,spark.enabled=true"}, c.sets...)}
				policies, peers := renderedNetwork(t, s)
				for _, f := range c.flows {
					got, err := flowAllowed(policies, peers, f)
					if err != nil {
						t.Fatal(err)
					}
					if got != f.allowed {
						t.Errorf("%s -> %s:%d/%s (%s): allowed %v, want %v", f.from, f.to, f.port, f.proto, f.why, got, f.allowed)
					}
				}
			})
		}
	}
}

// renderedNetwork renders s and returns its NetworkPolicies and the release's pods by
// component (pu, manager, sql, spark-driver, spark-executor, zeppelin and its interpreter pods) with the outside peers.
func renderedNetwork(t *testing.T, s valueSet) (*matcher.Policy, map[string]netpolPeer) {
	t.Helper()
	peers := map[string]netpolPeer{}
	for k, v := range outsidePeers {
		peers[k] = v
	}
	var netpols []*networkingv1.NetworkPolicy
	for _, obj := range decode(t, mustRender(t, s).manifest) {
		switch o := obj.(type) {
		case *networkingv1.NetworkPolicy:
			netpols = append(netpols, o)
		case *appsv1.StatefulSet:
			peers[o.Spec.Template.Labels[labelComponent]] = podPeer(o.Namespace, o.Spec.Template)
		case *appsv1.Deployment:
			peers[o.Spec.Template.Labels[labelComponent]] = podPeer(o.Namespace, o.Spec.Template)
		case *corev1.ConfigMap:
			// Spark's pods are built from the templates of its ConfigMap.
			for _, role := range []string{"driver", "executor"} {
				if text, ok := o.Data[role+"-pod-template.yaml"]; ok {
					pod := parsePod(t, role, text)
					peers["spark-"+role] = podPeer(o.Namespace, corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec})
				}
			}
		}
	}
	for _, c := range []string{"pu", "manager", "sql", "spark-driver", "spark-executor"} {
		if _, ok := peers[c]; !ok {
			t.Fatalf("%s renders no %s pods", s.name, c)
		}
	}
	if cm := zeppelinConfigMap(t, s); cm != nil {
		// The interpreter pods Zeppelin's launcher makes from the chart's spec, and the
		// executors Spark's driver makes.
		for peer, group := range map[string]string{"zeppelin-interpreter": "jdbc", "zeppelin-spark": "spark"} {
			pod, _ := interpreterPod(t, cm, group)
			peers[peer] = podPeer(pod.Namespace, corev1.PodTemplateSpec{ObjectMeta: pod.ObjectMeta, Spec: pod.Spec})
		}
		peers["spark-executor"] = netpolPeer{namespace: namespace, labels: map[string]string{"spark-role": "executor"}}
	}
	return matcher.BuildNetworkPolicies(false, netpols), peers
}

func podPeer(ns string, tmpl corev1.PodTemplateSpec) netpolPeer {
	var ports []corev1.ContainerPort
	for _, c := range tmpl.Spec.Containers {
		ports = append(ports, c.Ports...)
	}
	return netpolPeer{namespace: ns, labels: tmpl.Labels, ports: ports}
}

// flowAllowed asks the engine about f; "internet" is an address outside the cluster.
func flowAllowed(p *matcher.Policy, peers map[string]netpolPeer, f netpolFlow) (bool, error) {
	src, ok := peers[f.from]
	if !ok {
		return false, fmt.Errorf("no peer %q", f.from)
	}
	dst, ok := peers[f.to]
	if !ok {
		return false, fmt.Errorf("no peer %q", f.to)
	}
	portName := ""
	for _, cp := range dst.ports {
		if int(cp.ContainerPort) == f.port && cp.Protocol == f.proto {
			portName = cp.Name
		}
	}
	traffic := &matcher.Traffic{
		Source:           trafficPeer(src, "10.0.0.1"),
		Destination:      trafficPeer(dst, "10.0.0.2"),
		ResolvedPort:     f.port,
		ResolvedPortName: portName,
		Protocol:         f.proto,
	}
	return p.IsTrafficAllowed(traffic).IsAllowed(), nil
}

func trafficPeer(p netpolPeer, ip string) *matcher.TrafficPeer {
	if p.namespace == "" {
		return &matcher.TrafficPeer{IP: "203.0.113.7"}
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": p.namespace}
	for k, v := range p.nsLabels {
		nsLabels[k] = v
	}
	return &matcher.TrafficPeer{IP: ip, Internal: &matcher.InternalPeer{
		PodLabels:       p.labels,
		Namespace:       p.namespace,
		NamespaceLabels: nsLabels,
	}}
}
