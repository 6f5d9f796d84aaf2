// Package metricsport serves a process's Prometheus metrics on a port of their own: plain
// HTTP, GET /metrics and nothing else, so a scraper needs neither the client certificate
// nor the operator token of the admin port, and a NetworkPolicy can open metrics to the
// monitoring namespaces without opening the admin endpoints. It must not depend on the
// grid's roles (data, manager); they hand it what to serve.
package metricsport

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"
)

// Path is the only path the metrics port serves.
const Path = "/metrics"

// Handler serves metrics at GET and HEAD /metrics; any other path is a 404 and any other
// method on /metrics a 405 naming the allowed ones.
func Handler(metrics http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path {
			http.Error(w, fmt.Sprintf("404 page not found: %s; the metrics port serves only GET %s", r.URL.Path, Path), http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, fmt.Sprintf("405 method not allowed: %s %s; only GET and HEAD are", r.Method, Path), http.StatusMethodNotAllowed)
			return
		}
		metrics.ServeHTTP(w, r)
	})
}

// NewServer is the HTTP server of the metrics port: Handler(metrics), with the header
// timeout every server of the grid sets.
func NewServer(metrics http.Handler) *http.Server {
	return &http.Server{Handler: Handler(metrics), ReadHeaderTimeout: 5 * time.Second}
}

// Moved is what an admin port answers on /metrics since metrics have a port of their
// own: where to scrape now, for the operator whose scrape configuration still names the
// admin port.
func Moved(flag string, port int) string {
	if port == 0 {
		return fmt.Sprintf("metrics are not served on this port; this process serves no metrics port (%s 0)", flag)
	}
	return fmt.Sprintf("metrics are not served on this port: scrape http://<this host>:%d%s (%s)", port, Path, flag)
}

// Distinct checks that the metrics port (0: none) is none of a process's other ports,
// given by flag: a clash would otherwise surface as "address already in use" at start.
func Distinct(metrics int, others map[string]int) []error {
	if metrics == 0 {
		return nil
	}
	var errs []error
	for _, flag := range slices.Sorted(maps.Keys(others)) {
		if others[flag] == metrics {
			errs = append(errs, fmt.Errorf("--metrics-port %d: %s uses it too; give the metrics a port of their own", metrics, flag))
		}
	}
	return errs
}
