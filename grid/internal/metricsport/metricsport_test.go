package metricsport

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestHandlerServesOnlyGETMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "insight_test_gauge", Help: "A gauge the test sets."})
	reg.MustRegister(g)
	g.Set(42)
	srv := httptest.NewServer(Handler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	defer srv.Close()
	tests := []struct {
		method, path string
		code         int
		body         string // contained in the answer
		allow        string
	}{
		{"GET", "/metrics", 200, "insight_test_gauge 42", ""},
		{"HEAD", "/metrics", 200, "", ""},
		{"GET", "/metrics?x=1", 200, "insight_test_gauge 42", ""},
		{"POST", "/metrics", 405, "405 method not allowed: POST /metrics; only GET and HEAD are", "GET, HEAD"},
		{"DELETE", "/metrics", 405, "only GET and HEAD are", "GET, HEAD"},
		{"GET", "/", 404, "404 page not found: /; the metrics port serves only GET /metrics", ""},
		{"GET", "/metrics/", 404, "the metrics port serves only GET /metrics", ""},
		{"GET", "/readyz", 404, "the metrics port serves only GET /metrics", ""},
		{"POST", "/v1/handover", 404, "the metrics port serves only GET /metrics", ""},
		{"GET", "/debug/pprof/", 404, "the metrics port serves only GET /metrics", ""},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		body := string(b)
		if resp.StatusCode != tt.code || !strings.Contains(body, tt.body) || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d, Allow %q, body %q; want %d, Allow %q, a body with %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), body, tt.code, tt.allow, tt.body)
		}
	}
}

func TestMoved(t *testing.T) {
	if got, want := Moved("--metrics-port", 9121), "metrics are not served on this port: scrape http://<this host>:9121/metrics (--metrics-port)"; got != want {
		t.Errorf("Moved(9121) = %q, want %q", got, want)
	}
	if got, want := Moved("--metrics-port", 0), "this process serves no metrics port (--metrics-port 0)"; !strings.Contains(got, want) {
		t.Errorf("Moved(0) = %q, want it to contain %q", got, want)
	}
}

func TestDistinct(t *testing.T) {
	others := map[string]int{"--port": 6379, "--http-port": 8080, "--tls-port": 0}
	if errs := Distinct(9121, others); errs != nil {
		t.Errorf("Distinct(9121) = %v, want none", errs)
	}
	if errs := Distinct(0, others); errs != nil {
		t.Errorf("Distinct(0) = %v, want none: 0 is no metrics port, as --tls-port 0 is no TLS port", errs)
	}
	errs := Distinct(8080, others)
	if len(errs) != 1 || errs[0].Error() != "--metrics-port 8080: --http-port uses it too; give the metrics a port of their own" {
		t.Errorf("Distinct(8080) = %v", errs)
	}
}
