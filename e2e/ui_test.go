package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// uiURL is the line insightctl ui prints with the proxy's address.
var uiURL = regexp.MustCompile(`^\s*(http://127\.0\.0\.1:\d+)/ui/\s*$`)

// startUI runs the real insightctl ui for release demo in ns until the test ends (stopped
// by its PID) and returns the proxy's base URL read from its stdout.
func startUI(t *testing.T, ns string) string {
	t.Helper()
	bin := filepath.Join(os.Getenv("INSIGHT_BIN"), "insightctl")
	cmd := exec.Command(bin, "--kubeconfig", cluster.Kubeconfig, "ui", "demo", "-n", ns)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting insightctl ui: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Stop it as Ctrl-C would, by its PID; kill it if it does not stop in time.
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("insightctl ui did not stop cleanly on SIGINT: %v\n%s", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("insightctl ui did not stop within 10s of SIGINT; killed: %v", <-exited)
		}
	})
	found := make(chan string, 1)
	var printed strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if m := uiURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case u := <-found:
		return u
	case err := <-exited:
		t.Fatalf("insightctl ui exited (%v) before printing its URL\n%s", err, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("insightctl ui printed no URL within 60s\nstderr: %s", stderr.String())
	}
	return ""
}

// uiGet fetches url through the proxy within 15s and returns the status, headers and body.
func uiGet(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// The web UI through insightctl ui, as an operator opens it: the real CLI reaches the
// manager by port-forward, trusting the release's CA and adding the operator token, and
// serves 127.0.0.1. Through it the UI's page loads, the overview shows the release's
// partitions, the event stream delivers an overview, and a POST that is not the UI's is
// refused by the proxy.
func TestUIThroughInsightctlUI(t *testing.T) {
	ns := cluster.Namespace(t, "ui")
	const partitions = 2
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "dev", "--partitions", "2", "--timeout", "4m")
	base := startUI(t, ns)
	t.Logf("insightctl ui serves %s", base)

	code, h, body := uiGet(t, base+"/ui/")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<title>Insight grid</title>") {
		t.Errorf("GET /ui/: %d %s, want 200 with the UI's page\n%.300s", code, h.Get("Content-Type"), body)
	}

	// The overview needs the operator token (the proxy adds it) and the manager over TLS.
	var ov api.Overview
	code, _, body = uiGet(t, base+api.PathOverview)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", api.PathOverview, code, body)
	}
	if err := json.Unmarshal(body, &ov); err != nil {
		t.Fatalf("GET %s is not JSON: %v\n%.300s", api.PathOverview, err, body)
	}
	if len(ov.Partitions) != partitions {
		t.Errorf("the overview shows %d partitions, want %d (pu.partitions)", len(ov.Partitions), partitions)
	}

	// The event stream goes through at once (the proxy flushes every write).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+api.PathEvents, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", api.PathEvents, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Errorf("GET %s: %d %s, want 200 text/event-stream", api.PathEvents, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok && event == "overview" {
			var ev api.Overview
			if err := json.Unmarshal([]byte(d), &ev); err != nil || len(ev.Partitions) != partitions {
				t.Errorf("the overview event: %d partitions (%v), want %d", len(ev.Partitions), err, partitions)
			}
			break
		}
	}
	if event != "overview" {
		t.Errorf("GET %s delivered no overview event within 20s (last event %q, %v)", api.PathEvents, event, sc.Err())
	}
	cancel()
	resp.Body.Close()

	// A POST that is not the UI's is refused by the proxy before it reaches the manager:
	// without the UI's CSRF header, and with it from another origin.
	for _, tc := range []struct {
		name, header, origin, want string
	}{
		{"no CSRF header", "", "", "X-Insight-CSRF"},
		{"another origin", "1", "http://evil.example", "from origin"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+api.PartitionPath(0, "failover"), nil)
		if tc.header != "" {
			req.Header.Set("X-Insight-CSRF", tc.header)
		}
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("POST (%s): %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), tc.want) {
			t.Errorf("POST %s (%s): %d %s, want 403 naming %q", api.PartitionPath(0, "failover"), tc.name, resp.StatusCode, b, tc.want)
		}
	}
	// The release is as it was: the refused failover did nothing.
	if s := status(t, ns); len(s.Partitions) != partitions || s.Partitions[0].Primary == nil || !s.Partitions[0].Primary.Ready {
		t.Errorf("status after the refused POSTs: %+v", s)
	}
}
