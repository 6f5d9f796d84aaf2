package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/wan"
)

// TestGatewayRefusesBadFlags checks that each bad flag is refused by name before the
// gateway starts.
func TestGatewayRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []string{"gateway", "--site", "london", "--manager", "http://127.0.0.1:1", "--operator-token-file", tok,
		"--target", "paris=paris.example:7443", "--target-ca", "paris=/ca", "--target-token-file", "paris=/tok"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no site", []string{"gateway", "--manager", "http://127.0.0.1:1"}, "--site is required"},
		{"bad site", []string{"gateway", "--site", "London", "--manager", "http://127.0.0.1:1"}, "--site"},
		{"no manager", []string{"gateway", "--site", "london"}, "--manager is required"},
		{"https manager without a CA", []string{"gateway", "--site", "london", "--manager", "https://m:8090"}, "--manager https://m:8090 is https: give --tls-ca-cert-file"},
		{"bad port", append(ok, "--port", "70000"), "--port 70000"},
		{"target without address", append(ok, "--target", "tokyo"), `--target "tokyo": want NAME=HOST:PORT`},
		{"target address without port", append(ok, "--target", "tokyo=tokyo.example", "--target-ca", "tokyo=/ca", "--target-token-file", "tokyo=/tok"), `--target tokyo="tokyo.example": want NAME=HOST:PORT`},
		{"target named as this site", append(ok, "--target", "london=x:1", "--target-ca", "london=/ca", "--target-token-file", "london=/tok"), "--target london: that is this site (--site)"},
		{"target twice", append(ok, "--target", "paris=y:1"), "--target paris given twice"},
		{"bad target name", append(ok, "--target", "Tokyo=x:1"), "--target "},
		{"CA of an unknown site", append(ok, "--target-ca", "tokyo=/ca"), "--target-ca tokyo: no --target tokyo=HOST:PORT names that site"},
		{"token without a file", append(ok, "--target-token-file", "paris"), `--target-token-file "paris": want NAME=FILE`},
		{"server name without a host", append(ok, "--target-server-name", "paris="), `--target-server-name "paris=": want NAME=HOST`},
		{"target without its CA and token", []string{"gateway", "--site", "london", "--manager", "http://127.0.0.1:1", "--operator-token-file", tok, "--target", "paris=p:1"},
			"--target paris: give --target-ca paris=FILE and --target-token-file paris=FILE"},
		{"insecure target with a CA", []string{"gateway", "--site", "london", "--manager", "http://127.0.0.1:1", "--target", "paris=p:1", "--target-ca", "paris=/ca"},
			"--target paris: --insecure sends in plain without a token"},
		{"certificate without a key", append(ok, "--tls-cert-file", "/c"), "--tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr, func(string) string { return "" })
			if code == 0 || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want a failure naming %q", code, stderr.String(), tt.want)
			}
		})
	}
}

// fakeSite is a site's manager and one data instance, both over HTTPS with the site's
// certificate: the manager's partition map names the instance as the primary of all
// slots, and the instance records the changes applied to it and the token presented.
type fakeSite struct {
	mu      sync.Mutex
	applied []wan.Change
	tokens  []string
}

func (f *fakeSite) start(t *testing.T, src *tlsconf.Source) (managerURL string) {
	t.Helper()
	data := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/wan/apply":
			var req struct {
				Changes []wan.Change `json:"changes"`
			}
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f.mu.Lock()
			f.applied = append(f.applied, req.Changes...)
			f.tokens = append(f.tokens, r.Header.Get("Authorization")+r.Header.Get("X-Insight-Token"))
			f.mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]int{"applied": len(req.Changes)})
		case "/v1/wan/pull":
			_ = json.NewEncoder(w).Encode(wan.Batch{Site: "london"})
		default:
			http.NotFound(w, r)
		}
	}))
	data.TLS = src.ServerConfig(tlsconf.AuthOptional)
	data.StartTLS()
	t.Cleanup(data.Close)
	dataAddr := strings.TrimPrefix(data.URL, "https://")
	mgr := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathPartitions {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(api.Partitions{Partitions: []api.Partition{{ID: 0, Slots: [][2]int{{0, 16383}}, Primary: "p0-i0",
			Instances: []api.Instance{{ID: "p0-i0", HTTPAddress: dataAddr, Role: "primary", Ready: true}}}}})
	}))
	mgr.TLS = src.ServerConfig(tlsconf.AuthOptional)
	mgr.StartTLS()
	t.Cleanup(mgr.Close)
	return mgr.URL
}

// freePort is a port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestGatewayServesTheSinkOverTLSAndAppliesAtTheSitesPrimary runs the gateway role with
// the site's certificate and token against a site over HTTPS: it is ready once the
// manager answers, refuses a batch without the token, applies one with it at the
// primary (presenting the token over TLS to the data instance), and stops on cancel.
func TestGatewayServesTheSinkOverTLSAndAppliesAtTheSitesPrimary(t *testing.T) {
	dir := t.TempDir()
	files, err := tlsconf.Generate(filepath.Join(dir, "tls"), nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	src, err := tlsconf.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var site fakeSite
	managerURL := site.start(t, src)
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var stderr bytes.Buffer
	go func() {
		done <- runGateway(ctx, []string{"--site", "london", "--manager", managerURL, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--operator-token-file", tokFile, "--tls-cert-file", files.Cert, "--tls-key-file", files.Key, "--tls-ca-cert-file", files.CA,
			"--target", "paris=127.0.0.1:1", "--target-ca", "paris=" + files.CA, "--target-token-file", "paris=" + tokFile}, &stderr, func(string) string { return "" })
	}()

	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://127.0.0.1:" + strconv.Itoa(port)
	get := func(path string) (int, string) {
		resp, err := hc.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for code, body := get("/readyz"); code != http.StatusOK; code, body = get("/readyz") {
		select {
		case err := <-done:
			t.Fatalf("the gateway stopped: %v\n%s", err, stderr.String())
		case <-ctx.Done():
			t.Fatalf("/readyz never answered 200; last %d %s", code, body)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if code, _ := get("/livez"); code != http.StatusOK {
		t.Errorf("/livez answered %d", code)
	}

	post := func(token string) int {
		body, _ := json.Marshal(wan.Batch{Site: "paris", Changes: []wan.Change{{Key: []byte("greeting"), HLC: 1 << 20, Site: "paris", Op: []byte("x")}}})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+wan.PathBatch, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Errorf("a batch without the token: %d, want 401", code)
	}
	if code := post("s3cret"); code != http.StatusOK {
		t.Fatalf("a batch with the token: %d, want 200\n%s", code, stderr.String())
	}
	site.mu.Lock()
	if len(site.applied) != 1 || string(site.applied[0].Key) != "greeting" || len(site.tokens) != 1 || !strings.Contains(site.tokens[0], "s3cret") {
		t.Errorf("the primary got %+v with the tokens %q; want the change greeting with the site's token", site.applied, site.tokens)
	}
	site.mu.Unlock()

	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("the gateway stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not stop on cancel")
	}
}
