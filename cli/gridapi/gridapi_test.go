package gridapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// manager answers like the grid's manager for partitions 0 and 1.
func manager(t *testing.T, prefix string) *httptest.Server {
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

func TestDirect(t *testing.T) {
	s := manager(t, "")
	c := Direct(s.URL+"/", nil)
	ctx := context.Background()

	r, err := c.Failover(ctx, 0)
	if err != nil || r.String() != "partition 0: p0-i0 -> p0-i1, epoch 4, write pause 0.85 ms" {
		t.Errorf("failover: %v %v", r, err)
	}
	r, err = c.Failback(ctx, 0)
	if err != nil || r.String() != "partition 0: p0-i0 is already the primary, epoch 3, unchanged" {
		t.Errorf("failback: %v %v", r, err)
	}
	ps, err := c.Partitions(ctx)
	if err != nil || len(ps) != 1 || ps[0].Epoch != 3 || !ps[0].InSync {
		t.Errorf("partitions: %+v %v", ps, err)
	}

	_, err = c.Failover(ctx, 1)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 409 || ae.BadRequest() || !strings.Contains(err.Error(), "not in sync") {
		t.Errorf("conflict: %v", err)
	}
	_, err = c.Failover(ctx, 7)
	if !errors.As(err, &ae) || !ae.BadRequest() {
		t.Errorf("not found: %v", err)
	}
	_, err = c.Failover(ctx, 3)
	if !IsUnreachable(err) || !strings.Contains(err.Error(), "HTTP 502: upstream connect error") {
		t.Errorf("bad gateway: %v", err)
	}

	s.Close()
	_, err = c.Failover(ctx, 0)
	if !IsUnreachable(err) {
		t.Errorf("closed server: %v", err)
	}
}

func TestServiceProxy(t *testing.T) {
	const prefix = "/api/v1/namespaces/grid/services/http:demo-insight-manager:8090/proxy"
	s := manager(t, prefix)
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
	if !IsUnreachable(err) || !strings.Contains(err.Error(), "no endpoints available") || !strings.Contains(err.Error(), "service demo-manager") {
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

func TestParseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://10.0.0.7:8090/": "http://10.0.0.7:8090",
		"127.1.0.3:8090":        "http://127.1.0.3:8090",
		"https://m.example/api": "https://m.example/api",
		"ftp://x":               "",
		"http://":               "",
		"http://h:1/?a=b":       "",
	} {
		got, err := ParseURL(raw)
		if (err != nil) != (want == "") || got != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

// RequestRepartition sends {"partitions": N[, "rate": R]} as JSON; a refusal comes back as
// *Error.
func TestRepartition(t *testing.T) {
	var got string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = r.Method + " " + r.URL.Path + " " + r.Header.Get("Content-Type") + " " + string(b)
		switch {
		case r.Method == http.MethodGet:
			_, _ = w.Write([]byte(`{"partitions":2,"target":3,"state":"moving","message":"1024 slots start moving","mapVersion":7,"slotsRemaining":5461,"slotsMoving":1024,"moves":[{"slots":[[5461,6484]],"from":0,"to":2,"state":"migrating"}]}`))
		case strings.Contains(string(b), `"partitions":3`):
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"partitions":2,"target":3,"state":"growing","mapVersion":6,"moves":[]}`))
		default:
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"error":{"code":"Conflict","message":"re-partitioning to 3 partitions is in progress"}}`))
		}
	}))
	defer s.Close()
	c := Direct(s.URL, s.Client())
	ctx := context.Background()
	st, err := c.RequestRepartition(ctx, 3, "")
	if err != nil || st.Target != 3 || st.State != "growing" || st.Idle() {
		t.Fatalf("POST 3: %+v, %v", st, err)
	}
	if want := `POST /v1/repartition application/json {"partitions":3}`; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	if _, err := c.RequestRepartition(ctx, 3, "2mb"); err != nil {
		t.Fatal(err)
	}
	if want := `POST /v1/repartition application/json {"partitions":3,"rate":"2mb"}`; got != want {
		t.Errorf("sent %q, want %q", got, want)
	}
	st, err = c.Repartition(ctx)
	if err != nil || st.SlotsRemaining != 5461 || len(st.Moves) != 1 || st.Moves[0].Slots[0] != [2]int{5461, 6484} || st.Moves[0].State != "migrating" {
		t.Fatalf("GET: %+v, %v", st, err)
	}
	_, err = c.RequestRepartition(ctx, 1, "")
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != "Conflict" {
		t.Fatalf("POST 1 during 3: %v, want a 409 *Error", err)
	}
}
