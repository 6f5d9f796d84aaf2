package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"
	restclient "k8s.io/client-go/rest"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/cli/internal/golden"
)

var frozen = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func init() {
	action.Timestamper = func() helmtime.Time { return helmtime.Time{Time: frozen} }
}

// cluster is the fake world a test command line runs against.
type cluster struct {
	objects  []runtime.Object
	releases []*release.Release
	// manager is the JSON the manager's /v1/partitions answers through the service proxy;
	// "": there is no API server to proxy through.
	manager string
}

func zoneNode(name, zone string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func defaultClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local",
		Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}}
}

func threeZones() []runtime.Object {
	return []runtime.Object{zoneNode("node-0", "zone-a"), zoneNode("node-1", "zone-b"), zoneNode("node-2", "zone-c"), defaultClass()}
}

func oneZone() []runtime.Object {
	return []runtime.Object{zoneNode("node-0", "zone-a"), zoneNode("node-1", "zone-a"), defaultClass()}
}

// served are the API kinds the fake API server offers.
var served = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{{Kind: "ConfigMap"}, {Kind: "Secret"}, {Kind: "Service"}, {Kind: "ServiceAccount"}, {Kind: "Pod"}}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Kind: "StatefulSet"}}},
	{GroupVersion: "policy/v1", APIResources: []metav1.APIResource{{Kind: "PodDisruptionBudget"}}},
	{GroupVersion: "networking.k8s.io/v1", APIResources: []metav1.APIResource{{Kind: "NetworkPolicy"}}},
}

type result struct {
	out, err string
	code     int
	store    *storage.Storage
	kube     *fake.Clientset
}

// madeToken is the operator token the chart makes at random in a render: goldens show
// tokenPlaceholder instead (charts/operatortoken_test.go checks the token itself).
var madeToken = regexp.MustCompile(`(?m)(^kind: Secret\nmetadata:\n  name: [a-z0-9-]+-operator-token\n(?:.*\n)*?data:\n  token: )"[A-Za-z0-9+/=]+"$`)

// tokenPlaceholder is base64 of "made at random on install, kept across upgrades".
const tokenPlaceholder = `"bWFkZSBhdCByYW5kb20gb24gaW5zdGFsbCwga2VwdCBhY3Jvc3MgdXBncmFkZXM="`

// madeTLS is a key of the TLS Secret the chart makes at random in a render (a new CA and
// certificate each time): goldens show tlsPlaceholder instead (charts/tls_test.go checks
// the certificate itself).
var madeTLS = regexp.MustCompile(`(?m)(^  (?:tls\.crt|tls\.key|ca\.crt): )"[A-Za-z0-9+/=]+"$`)

// tlsPlaceholder is base64 of "made once on install, kept across upgrades".
const tlsPlaceholder = `"bWFkZSBvbmNlIG9uIGluc3RhbGwsIGtlcHQgYWNyb3NzIHVwZ3JhZGVz"`

// runCmd runs one whole command line against the fake cluster and in-memory releases.
// runGolden runs line against c, with --manager-url managerURL appended when it is set,
// checks the exit code and compares the output, the manager's URL shown as
// http://manager, with the golden file.
func runGolden(t *testing.T, c cluster, line, managerURL string, code int, goldenFile string, mods ...func(*Env)) result {
	t.Helper()
	if managerURL != "" {
		line += " --manager-url " + managerURL
	}
	r := runCmd(t, c, line, mods...)
	if r.code != code {
		t.Errorf("exit code %d, want %d\n%s", r.code, code, r)
	}
	got := r.String()
	if managerURL != "" {
		got = strings.ReplaceAll(got, managerURL, "http://manager")
	}
	golden.Assert(t, got, goldenFile)
	return r
}

func runCmd(t *testing.T, c cluster, line string, mods ...func(*Env)) result {
	t.Helper()
	args := strings.Fields(line)
	mem := driver.NewMemory()
	mem.SetNamespace("default")
	store := storage.Init(mem)
	for _, r := range c.releases {
		if err := store.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	kube := fake.NewSimpleClientset(c.objects...)
	disc := kube.Discovery().(*fakediscovery.FakeDiscovery)
	disc.FakedServerVersion = &version.Info{GitVersion: "v1.34.4", Major: "1", Minor: "34"}
	disc.Resources = served
	// The API server's service proxy to release demo's manager, when there is one.
	var rest *restclient.Config
	if c.manager != "" {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case proxyPrefix + "/livez":
				_, _ = w.Write([]byte(`{"status":"ok"}`))
			case proxyPrefix + "/v1/partitions":
				_, _ = w.Write([]byte(c.manager))
			default:
				http.NotFound(w, r)
			}
		}))
		t.Cleanup(api.Close)
		rest = &restclient.Config{Host: api.URL}
	}
	var out, errOut bytes.Buffer
	env := &Env{
		In: strings.NewReader(""), Out: &out, ErrOut: &errOut,
		Getenv: func(string) string { return "" },
		Now:    func() time.Time { return frozen },
		Connect: func(g *GlobalFlags) (*Clients, error) {
			ns := g.Namespace
			if ns == "" {
				ns = "default"
			}
			mem.SetNamespace(ns)
			return &Clients{
				Helm: &action.Configuration{
					Releases:     store,
					KubeClient:   &kubefake.PrintingKubeClient{Out: io.Discard},
					Capabilities: chartutil.DefaultCapabilities,
					Log:          func(string, ...any) {},
				},
				Kube:      kube,
				REST:      rest,
				Namespace: ns,
			}, nil
		},
		PollInterval: time.Hour,
	}
	for _, m := range mods {
		m(env)
	}
	code := Execute(context.Background(), env, args)
	return result{out: out.String(), err: errOut.String(), code: code, store: store, kube: kube}
}

func (r result) String() string {
	return fmt.Sprintf("exit code: %d\n--- stdout\n%s--- stderr\n%s", r.code, r.out, r.err)
}

func deployedRelease(name string, revision int, config map[string]any, status release.Status) *release.Release {
	ch, err := charts.Load("")
	if err != nil {
		panic(err)
	}
	return &release.Release{
		Name: name, Namespace: "default", Version: revision, Config: config, Chart: ch,
		Info: &release.Info{Status: status, Description: "Install complete",
			FirstDeployed: helmtime.Time{Time: frozen}, LastDeployed: helmtime.Time{Time: frozen}},
		Manifest: "---\n# Source: x\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
	}
}

func TestCommandLines(t *testing.T) {
	two := map[string]any{"pu": map[string]any{"partitions": 2}}
	tests := []struct {
		name    string
		cluster cluster
		cmd     string
		env     func(*Env)
		code    int
		golden  string
	}{
		{name: "template dev profile", cmd: "template --profile dev", golden: "template-dev.golden"},
		{name: "template prometheus without the CRDs", cmd: "template --enable prometheus", code: 1, golden: "template-prometheus-no-crds.golden"},
		{name: "template bad values, every problem at once", cmd: "template --partitions 0 --anti-affinity=rack --memory 1Gx --enable cassandra --set pu.ha=maybe --set pu.partitions=abc", code: 2, golden: "template-bad.golden"},
		{name: "values validate cross-field rules", cmd: "values validate --set pu.resources.requests.memory=2Gi,zeppelin.enabled=true", code: 2, golden: "values-validate-rules.golden"},
		{name: "values validate precedence", cmd: "values validate --profile ha --partitions 3 --memory 1Gi --set pu.partitions=4 -o yaml", golden: "values-validate-precedence.golden"},
		{name: "unknown profile", cmd: "values validate --profile huge", code: 2, golden: "bad-profile.golden"},
		{name: "bad output format", cmd: "values validate -o xml", code: 2, golden: "bad-output.golden"},
		{name: "unknown flag", cmd: "install --partitons 3", code: 2, golden: "bad-flag.golden"},
		{name: "bad flag value", cmd: "install --partitions three", code: 2, golden: "bad-flag-value.golden"},
		{name: "too many arguments", cmd: "install a b --profile dev", code: 2, golden: "bad-args.golden"},
		{name: "install without a terminal and without values", cmd: "install", code: 2, golden: "install-no-terminal.golden"},
		{name: "install -i with CI=true", cmd: "install -i", env: func(e *Env) {
			e.Terminal = true
			e.Getenv = func(k string) string { return map[string]string{"CI": "true"}[k] }
		}, code: 2, golden: "install-ci.golden"},
		{name: "install", cluster: cluster{objects: threeZones()}, cmd: "install demo --profile dev --partitions 2 --ha --anti-affinity=zone", golden: "install.golden"},
		{name: "install json", cluster: cluster{objects: threeZones()}, cmd: "install demo --profile dev -o json --wait=false", golden: "install-json.golden"},
		{name: "install preflight predicts Pending pods", cluster: cluster{objects: oneZone()}, cmd: "install demo --partitions 2 --ha --anti-affinity=zone", code: 3, golden: "install-preflight-zones.golden"},
		{name: "install skip preflight", cluster: cluster{objects: oneZone()}, cmd: "install demo --partitions 2 --ha --anti-affinity=zone --skip-preflight --wait=false", golden: "install-skip-preflight.golden"},
		{name: "upgrade keeps values", cluster: cluster{objects: threeZones(), releases: []*release.Release{deployedRelease("demo", 1, two, release.StatusDeployed)}}, cmd: "upgrade demo --memory 1Gi --wait=false", golden: "upgrade.golden"},
		{name: "upgrade of a missing release", cmd: "upgrade nope --profile dev", code: 1, golden: "upgrade-missing.golden"},
		{name: "history", cluster: cluster{releases: []*release.Release{deployedRelease("demo", 1, two, release.StatusSuperseded), deployedRelease("demo", 2, two, release.StatusDeployed)}}, cmd: "history demo", golden: "history.golden"},
		{name: "rollback", cluster: cluster{releases: []*release.Release{deployedRelease("demo", 1, two, release.StatusSuperseded), deployedRelease("demo", 2, two, release.StatusDeployed)}}, cmd: "rollback demo 1 --wait=false", golden: "rollback.golden"},
		{name: "rollback bad revision", cmd: "rollback demo one", code: 2, golden: "rollback-bad.golden"},
		{name: "uninstall keeps data", cluster: cluster{objects: pvcs(), releases: []*release.Release{deployedRelease("demo", 1, two, release.StatusDeployed)}}, cmd: "uninstall demo", golden: "uninstall.golden"},
		{name: "uninstall --delete-data", cluster: cluster{objects: pvcs(), releases: []*release.Release{deployedRelease("demo", 1, two, release.StatusDeployed)}}, cmd: "uninstall demo --delete-data", golden: "uninstall-delete-data.golden"},
		{name: "status, manager unreachable", cluster: statusCluster(""), cmd: "status demo", golden: "status-no-manager.golden"},
		{name: "status, two primaries", cluster: statusCluster(twoPrimaries), cmd: "status demo", golden: "status-two-primaries.golden"},
		{name: "status json", cluster: statusCluster(twoPrimaries), cmd: "status demo -o json", golden: "status.json.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*Env)
			if tt.env != nil {
				mods = append(mods, tt.env)
			}
			r := runCmd(t, tt.cluster, tt.cmd, mods...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", r.code, tt.code, r)
			}
			out := madeToken.ReplaceAllString(r.String(), "${1}"+tokenPlaceholder)
			golden.Assert(t, madeTLS.ReplaceAllString(out, "${1}"+tlsPlaceholder), tt.golden)
		})
	}
}

func TestUpgradeResetThenReuse(t *testing.T) {
	two := map[string]any{"pu": map[string]any{"partitions": 2}}
	r := runCmd(t, cluster{objects: threeZones(), releases: []*release.Release{deployedRelease("demo", 1, two, release.StatusDeployed)}}, "upgrade demo --memory 1Gi --wait=false")
	if r.code != 0 {
		t.Fatal(r)
	}
	rel, err := r.store.Last("demo")
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := rel.Config["pu"].(map[string]any)
	if pu["partitions"] != 2 || pu["resources"] == nil {
		t.Errorf("upgrade lost the old values or ignored the new: %v", rel.Config)
	}
	if rel.Version != 2 {
		t.Errorf("revision %d, want 2", rel.Version)
	}
}

func TestOfflineCommandsDoNotConnect(t *testing.T) {
	for _, line := range []string{"version --client", "template --profile dev", "values validate", "completion bash", "help install"} {
		r := runCmd(t, cluster{}, line, func(e *Env) {
			e.Connect = func(*GlobalFlags) (*Clients, error) { return nil, fmt.Errorf("must not connect") }
		})
		if r.code != 0 {
			t.Errorf("%s: %s", line, r)
		}
	}
}

func TestVersion(t *testing.T) {
	r := runCmd(t, cluster{}, "version -o json")
	if r.code != 0 || !strings.Contains(r.out, `"server": "v1.34.4"`) || !strings.Contains(r.out, `"version": "dev"`) {
		t.Errorf("version: %s", r)
	}
}

func pvcs() []runtime.Object {
	pvc := func(name, instance string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app.kubernetes.io/instance": instance}}}
	}
	return []runtime.Object{pvc("data-demo-insight-pu-0-0", "demo"), pvc("data-demo-insight-pu-0-1", "demo"), pvc("data-other-pu-0-0", "other")}
}

const twoPrimaries = `{"partitions":[
 {"id":0,"slots":[[0,8191]],"epoch":4,"primary":"p0-i1","backup":"p0-i0","inSync":true,"preferredPrimary":"p0-i0","instances":[
  {"id":"p0-i0","partition":0,"instance":0,"role":"primary","ready":true,"keys":10,"usedMemoryBytes":1048576},
  {"id":"p0-i1","partition":0,"instance":1,"role":"primary","ready":true,"keys":12,"usedMemoryBytes":1048576}]},
 {"id":1,"slots":[[8192,16383]],"epoch":1,"primary":"p1-i0","backup":"p1-i1","inSync":false,"preferredPrimary":"p1-i0","instances":[
  {"id":"p1-i0","partition":1,"instance":0,"role":"primary","ready":true,"keys":7,"usedMemoryBytes":2048},
  {"id":"p1-i1","partition":1,"instance":1,"role":"backup","ready":false,"keys":0,"usedMemoryBytes":0}]}]}`

func statusCluster(manager string) cluster {
	pod := func(name, node, component, partition, index string, ready bool) *corev1.Pod {
		labels := map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": component}
		if partition != "" {
			labels["insight.dev/partition"] = partition
			labels["apps.kubernetes.io/pod-index"] = index
		}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
		}
	}
	objs := append(threeZones(),
		pod("demo-insight-pu-0-0", "node-0", "pu", "0", "0", true),
		pod("demo-insight-pu-0-1", "node-1", "pu", "0", "1", true),
		pod("demo-insight-pu-1-0", "node-1", "pu", "1", "0", true),
		pod("demo-insight-pu-1-1", "node-2", "pu", "1", "1", false),
		pod("demo-insight-manager-0", "node-0", "manager", "", "", true),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "demo-insight-manager", Namespace: "default",
			Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8090}}}},
	)
	return cluster{objects: objs, manager: manager,
		releases: []*release.Release{deployedRelease("demo", 1, map[string]any{"pu": map[string]any{"partitions": 2, "ha": true}}, release.StatusDeployed)}}
}
