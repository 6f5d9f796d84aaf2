package manager

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/insightgrid/insight/grid/api"
)

// manager answers like the grid's manager for partitions 0 and 1.
func fakeManager(t *testing.T, prefix string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \"x\"","reason":"ServiceUnavailable","code":503}`))
			return
		}
		switch r.Method + " " + path {
		case "GET /v1/partitions":
			_, _ = w.Write([]byte(`{"partitions":[{"id":0,"epoch":3,"primary":"p0-i0","backup":"p0-i1","inSync":true,"preferredPrimary":"p0-i0"}]}`))
		case "POST /v1/partitions/0/failover":
			_, _ = w.Write([]byte(`{"partition":0,"from":"p0-i0","to":"p0-i1","epoch":4,"pauseMicros":850}`))
		case "POST /v1/partitions/0/failback":
			_, _ = w.Write([]byte(`{"partition":0,"unchanged":true,"primary":"p0-i0","epoch":3}`))
		case "POST /v1/partitions/1/failover":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"Conflict","message":"partition 1: backup p1-i1 is not in sync with primary p1-i0"}}`))
		case "POST /v1/partitions/7/failover":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"NotFound","message":"partition 7 not found: the grid has 2 partitions (0-1)"}}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream connect error"))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestServiceProxy(t *testing.T) {
	const prefix = "/api/v1/namespaces/grid/services/http:demo-insight-manager:8090/proxy"
	s := fakeManager(t, prefix)
	svc := func(name string, headless bool, ports ...int32) *corev1.Service {
		sv := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "grid",
			Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}}}
		if headless {
			sv.Spec.ClusterIP = corev1.ClusterIPNone
		}
		for _, p := range ports {
			sv.Spec.Ports = append(sv.Spec.Ports, corev1.ServicePort{Port: p})
		}
		return sv
	}
	kube := fake.NewSimpleClientset(svc("demo-insight-manager-headless", true, 2379, 2380, 8090), svc("demo-insight-manager", false, 8090))
	c, err := ServiceProxy(context.Background(), kube, &rest.Config{Host: s.URL}, "grid", "demo")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Failover(context.Background(), 0)
	if err != nil || r.To != "p0-i1" {
		t.Fatalf("failover through the proxy: %v %v", r, err)
	}

	// The API server's own refusal is a Kubernetes Status: no manager answered.
	c, err = ServiceProxy(context.Background(), fake.NewSimpleClientset(svc("demo-manager", false, 8090)), &rest.Config{Host: s.URL}, "grid", "demo")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Failover(context.Background(), 0)
	if !api.IsUnreachable(err) || !strings.Contains(err.Error(), "no endpoints available") || !strings.Contains(err.Error(), "service demo-manager") {
		t.Errorf("proxy refusal: %v", err)
	}

	if _, err := ServiceProxy(context.Background(), fake.NewSimpleClientset(), &rest.Config{Host: s.URL}, "grid", "demo"); err == nil ||
		!strings.Contains(err.Error(), "has no manager service") {
		t.Errorf("no service: %v", err)
	}
	if _, err := ServiceProxy(context.Background(), kube, nil, "grid", "demo"); err == nil {
		t.Error("no rest config accepted")
	}
}

// A port-forward goes to a ready manager pod first, else a running one.
func TestManagerPod(t *testing.T) {
	pod := func(name string, phase corev1.PodPhase, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "grid",
			Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}},
			Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	}
	for _, tt := range []struct {
		name string
		pods []*corev1.Pod
		want string // "": an error
	}{
		{"ready first", []*corev1.Pod{pod("demo-manager-0", corev1.PodRunning, false), pod("demo-manager-1", corev1.PodRunning, true)}, "demo-manager-1"},
		{"running else", []*corev1.Pod{pod("demo-manager-1", corev1.PodPending, false), pod("demo-manager-0", corev1.PodRunning, false)}, "demo-manager-0"},
		{"none running", []*corev1.Pod{pod("demo-manager-0", corev1.PodPending, false)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kube := fake.NewSimpleClientset()
			for _, p := range tt.pods {
				if _, err := kube.CoreV1().Pods("grid").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ManagerPod(context.Background(), kube, "grid", "demo")
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("ManagerPod = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
