package cmd

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/cli/internal/golden"
)

// wanGateway is a plain-HTTP WAN gateway of site london sending to paris and tokyo (the
// TLS, token and release ways are tested in cli/wan).
func wanGateway(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/wan/status":
			_, _ = w.Write([]byte(`{"site":"london","targets":[
 {"site":"paris","address":"10.0.0.7:7443","backlog":0,"oldestAckedHLC":113756538814464003,"lagSeconds":0,"outOfSyncPartitions":[]},
 {"site":"tokyo","address":"10.0.1.7:7443","backlog":1200,"oldestAckedHLC":113756538814464003,"lagSeconds":12.25,"outOfSyncPartitions":[3]}],
 "partitions":[{"partition":0,"site":"london"}],"batchesSent":7,"keysSent":900,"bytesSent":20480,"keysApplied":12,"errors":0,
 "repairs":[{"target":"tokyo","id":4,"state":"running","started":"2025-01-02T03:04:00Z","slotsCompared":4096,"slotsDiffering":2,"keysSent":31}]}`))
		case "POST /v1/wan/sync":
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"target":"paris","id":5,"state":"running"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestWANCommandLines(t *testing.T) {
	gw := wanGateway(t)
	noGateway := cluster{releases: []*release.Release{deployedRelease("demo", 1, nil, release.StatusDeployed)}}
	for _, c := range []struct {
		name    string
		cluster cluster
		line    string
		code    int
		golden  string
	}{
		{"status", cluster{}, "wan status --gateway " + gw.URL, 0, "wan-status.golden"},
		{"sync", cluster{}, "wan sync --gateway " + gw.URL + " --target paris", 0, "wan-sync.golden"},
		{"sync of an unknown target", cluster{}, "wan sync --gateway " + gw.URL + " --target rome", 2, "wan-sync-unknown-target.golden"},
		{"sync without a target", cluster{}, "wan sync demo --wait", 2, "wan-sync-no-target.golden"},
		{"bad gateway flags", cluster{}, "wan status demo --gateway 127.0.0.1 --timeout 0s", 2, "wan-status-bad.golden"},
		{"release without a gateway", noGateway, "wan status demo", 2, "wan-status-no-gateway.golden"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(t, c.cluster, c.line, func(e *Env) {
				if c.cluster.releases == nil {
					e.Connect = func(*GlobalFlags) (*Clients, error) { return nil, fmt.Errorf("must not connect") }
				}
			})
			if r.code != c.code {
				t.Errorf("exit code %d, want %d\n%s", r.code, c.code, r)
			}
			golden.Assert(t, strings.ReplaceAll(r.String(), gw.URL, "http://gateway"), c.golden)
		})
	}
}
