package cmd

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/insightgrid/insight/cli/internal/golden"
)

// fakeManager answers the manager's partition API for a grid of two partitions, at its
// root and under the API server's service proxy path of release demo's manager.
type fakeManager struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string
	// records is GET /v1/partitions' answer.
	records string
	// slow delays the switch-overs.
	slow time.Duration
}

const proxyPrefix = "/api/v1/namespaces/default/services/http:demo-insight-manager:8090/proxy"

func newFakeManager(t *testing.T) *fakeManager {
	t.Helper()
	f := &fakeManager{records: recordsJSON(0, 0)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, proxied := strings.CutPrefix(r.URL.Path, proxyPrefix)
		answer := func(status int, body string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
		if path == "/livez" && (proxied || r.URL.Path == "/livez") {
			answer(200, `{"status":"ok"}`) // how insightctl checks that the proxy reaches a manager
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+path)
		records, slow := f.records, f.slow
		f.mu.Unlock()
		if strings.Contains(path, "/failover") || strings.Contains(path, "/failback") {
			time.Sleep(slow)
		}
		switch r.Method + " " + path {
		case "GET /v1/partitions":
			answer(200, records)
		case "POST /v1/partitions/0/failover":
			answer(200, `{"partition":0,"from":"p0-i0","to":"p0-i1","epoch":4,"pauseMicros":850}`)
		case "POST /v1/partitions/0/failback":
			answer(200, `{"partition":0,"from":"p0-i1","to":"p0-i0","epoch":5,"pauseMicros":1230}`)
		case "POST /v1/partitions/1/failover", "POST /v1/partitions/1/failback":
			answer(409, `{"error":{"code":"Conflict","message":"partition 1: backup p1-i1 is not in sync with primary p1-i0: wait until it has caught up (GET /v1/partitions/1 shows inSync: true) and retry"}}`)
		case "POST /v1/partitions/2/failover":
			answer(404, `{"error":{"code":"NotFound","message":"partition 2 not found: the grid has 2 partitions (0-1)"}}`)
		default:
			answer(503, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"demo-insight-manager\"","reason":"ServiceUnavailable","code":503}`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeManager) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// recordsJSON is GET /v1/partitions with partition p's primary the given instance.
func recordsJSON(primary0, primary1 int) string {
	rec := func(p, primary int) string {
		return fmt.Sprintf(`{"id":%d,"epoch":3,"primary":"p%d-i%d","backup":"p%d-i%d","inSync":true,"preferredPrimary":"p%d-i0"}`, p, p, primary, p, 1-primary, p)
	}
	return `{"partitions":[` + rec(0, primary0) + "," + rec(1, primary1) + `]}`
}

// withAPIServer points the clients' REST config (the service proxy) at url.
func withAPIServer(url string) func(*Env) {
	return func(e *Env) {
		inner := e.Connect
		e.Connect = func(g *GlobalFlags) (*Clients, error) {
			c, err := inner(g)
			if c != nil {
				c.REST = &rest.Config{Host: url}
			}
			return c, err
		}
	}
}

func managerService() *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "demo-insight-manager", Namespace: "default",
		Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8090}}}}
}

func haRelease(extra map[string]any) *release.Release {
	pu := map[string]any{"partitions": 2, "ha": true}
	for k, v := range extra {
		pu[k] = v
	}
	return deployedRelease("demo", 1, map[string]any{"pu": pu}, release.StatusDeployed)
}

func TestSwitchCommands(t *testing.T) {
	f := newFakeManager(t)
	ha := cluster{objects: []runtime.Object{managerService()}, releases: []*release.Release{haRelease(nil)}}
	noHA := cluster{releases: []*release.Release{deployedRelease("demo", 1, map[string]any{"pu": map[string]any{"partitions": 2}}, release.StatusDeployed)}}
	direct := "--release demo --manager-url " + f.URL
	tests := []struct {
		name    string
		cluster cluster
		cmd     string
		proxy   bool
		code    int
		golden  string
		// contains replaces golden where the output holds the test server's address.
		contains string
		calls    []string
	}{
		{name: "failover", cluster: ha, cmd: "failover 0 " + direct, golden: "failover.golden", calls: []string{"POST /v1/partitions/0/failover"}},
		{name: "failover through the service proxy", cluster: ha, cmd: "failover 0 --release demo", proxy: true, golden: "failover.golden", calls: []string{"POST /v1/partitions/0/failover"}},
		{name: "failover json", cluster: ha, cmd: "failover 0 -o json " + direct, golden: "failover-json.golden"},
		{name: "failover refused", cluster: ha, cmd: "failover 1 " + direct, code: 1, golden: "failover-conflict.golden"},
		{name: "failover not a number", cmd: "failover one --manager-url ftp://x --timeout 0s", code: 2, golden: "failover-bad-input.golden", calls: []string{}},
		{name: "failover out of range", cluster: ha, cmd: "failover 2 " + direct, code: 2, golden: "failover-range.golden", calls: []string{}},
		{name: "failover unknown to the manager", cluster: cluster{objects: ha.objects, releases: []*release.Release{haRelease(map[string]any{"partitions": 3})}},
			cmd: "failover 2 " + direct, code: 2, golden: "failover-not-found.golden"},
		{name: "failover without ha", cluster: noHA, cmd: "failover 0 " + direct, code: 2, golden: "failover-no-ha.golden", calls: []string{}},
		{name: "failover of a missing release", cmd: "failover 0 " + direct, code: 1, golden: "failover-no-release.golden", calls: []string{}},
		{name: "failover, proxy cannot reach the manager", cluster: cluster{objects: []runtime.Object{&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "demo-other", Namespace: "default", Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 8090}}}}}, releases: ha.releases},
			cmd: "failover 0 --release demo", proxy: true, code: 1, contains: "--manager-url http://<manager pod IP>:8090"},
		{name: "failback one", cluster: ha, cmd: "failback 0 " + direct, golden: "failback-one.golden", calls: []string{"POST /v1/partitions/0/failback"}},
		{name: "failback all, one refused", cluster: ha, cmd: "failback " + direct, code: 1, golden: "failback-all.golden",
			calls: []string{"GET /v1/partitions", "POST /v1/partitions/0/failback", "POST /v1/partitions/1/failback"}},
		{name: "failback all json", cluster: ha, cmd: "failback -o json " + direct, code: 1, golden: "failback-all-json.golden"},
		{name: "failback too many arguments", cmd: "failback 0 1", code: 2, golden: "failback-args.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.calls = nil
			f.mu.Unlock()
			var mods []func(*Env)
			if tt.proxy {
				mods = append(mods, withAPIServer(f.URL))
			}
			r := runCmd(t, tt.cluster, tt.cmd, mods...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\n%s", r.code, tt.code, r)
			}
			if tt.contains != "" {
				if !strings.Contains(r.String(), tt.contains) {
					t.Errorf("output lacks %q:\n%s", tt.contains, r)
				}
			} else {
				golden.Assert(t, r.String(), tt.golden)
			}
			if tt.calls != nil {
				if got := f.called(); strings.Join(got, ",") != strings.Join(tt.calls, ",") {
					t.Errorf("manager calls %v, want %v", got, tt.calls)
				}
			}
		})
	}
}

func TestFailoverTimeout(t *testing.T) {
	f := newFakeManager(t)
	f.slow = 500 * time.Millisecond
	r := runCmd(t, cluster{releases: []*release.Release{haRelease(nil)}}, "failover 0 --release demo --timeout 50ms --manager-url "+f.URL)
	if r.code != 4 || !strings.Contains(r.err, "failover of partition 0: no answer from the manager within --timeout 50ms") {
		t.Errorf("%s", r)
	}
}
