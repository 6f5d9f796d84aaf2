package ui

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// upstream is a fake manager: it echoes the token it got, and streams two events on
// /v1/events, the second only after the test says so.
func upstream(t *testing.T, next <-chan struct{}) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathEvents {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: overview\ndata: 1\n\n")
			w.(http.Flusher).Flush()
			<-next
			_, _ = io.WriteString(w, "event: overview\ndata: 2\n\n")
			return
		}
		_, _ = io.WriteString(w, r.Method+" "+r.URL.Path+" token="+r.Header.Get(api.TokenHeader)+" cookie="+r.Header.Get("Cookie"))
	}))
	t.Cleanup(s.Close)
	return s
}

func proxyFor(t *testing.T, base string) (*httptest.Server, string) {
	t.Helper()
	c := api.NewClient(base, nil)
	c.Token = func() (string, error) { return "s3cret-token", nil }
	var h http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	srv.Start()
	t.Cleanup(srv.Close)
	self := strings.TrimPrefix(srv.URL, "http://")
	var err error
	if h, err = NewProxy(c, self); err != nil {
		t.Fatal(err)
	}
	return srv, self
}

func do(t *testing.T, method, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTheProxyAddsTheTokenAndDropsTheBrowsersCredentials(t *testing.T) {
	up := upstream(t, nil)
	srv, _ := proxyFor(t, up.URL)
	code, body := do(t, http.MethodGet, srv.URL+"/ui/", map[string]string{api.TokenHeader: "forged", "Cookie": "insight_ui_session=x"})
	if code != 200 || body != "GET /ui/ token=s3cret-token cookie=" {
		t.Fatalf("GET /ui/: %d %q", code, body)
	}
	code, body = do(t, http.MethodPost, srv.URL+api.PartitionPath(0, api.OpFailover), map[string]string{csrfHeader: "proxy", "Origin": srv.URL})
	if code != 200 || body != "POST /v1/partitions/0/failover token=s3cret-token cookie=" {
		t.Fatalf("the UI's POST: %d %q", code, body)
	}
}

func TestTheProxyRefusesOtherHostsAndActionsNotFromTheUI(t *testing.T) {
	up := upstream(t, nil)
	srv, self := proxyFor(t, up.URL)
	failover := srv.URL + api.PartitionPath(0, api.OpFailover)
	for _, c := range []struct {
		name, method, url string
		hdr               map[string]string
		want              string
	}{
		{"a rebinding host name", http.MethodGet, srv.URL + "/v1/partitions", map[string]string{"Host": "evil.example:80"}, "this proxy answers http://" + self},
		{"a POST without the UI's header", http.MethodPost, failover, nil, "refuses others that change the grid"},
		{"a POST from another origin", http.MethodPost, failover, map[string]string{csrfHeader: "x", "Origin": "http://evil.example"}, "only the UI at"},
	} {
		code, body := do(t, c.method, c.url, c.hdr)
		if code != http.StatusForbidden || !strings.Contains(body, c.want) || strings.Contains(body, "token=") {
			t.Fatalf("%s: %d %s, want 403 %q and no forwarding", c.name, code, body, c.want)
		}
	}
}

func TestTheProxyStreamsTheEventsAsTheyCome(t *testing.T) {
	next := make(chan struct{})
	up := upstream(t, next)
	srv, _ := proxyFor(t, up.URL)
	resp, err := http.Get(srv.URL + api.PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	wait := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l := <-lines:
				if l == want {
					return
				}
			case <-timeout:
				t.Fatalf("no %q through the proxy", want)
			}
		}
	}
	// The first event arrives while the manager still holds the stream open.
	wait("data: 1")
	close(next)
	wait("data: 2")
}

func TestOptionsRefuseABadPort(t *testing.T) {
	for _, p := range []int{-1, 65536} {
		err := Options{Release: "demo", Port: p}.Validate()
		var ve *validate.Error
		if err == nil || !strings.Contains(err.Error(), "--port") || !errors.As(err, &ve) {
			t.Fatalf("--port %d: %v, want a validation error naming --port", p, err)
		}
	}
	if err := (Options{Release: "demo", Port: 8080}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsRefuseABadLoginURL(t *testing.T) {
	for _, u := range []string{"insight.example.com", "ftp://insight.example.com", "https://", "https://h/ui/login", "https://h/?a=b"} {
		err := Options{Release: "demo", LoginURL: u}.Validate()
		if err == nil || !strings.Contains(err.Error(), "--login-url") {
			t.Fatalf("--login-url %q: %v, want a validation error naming --login-url", u, err)
		}
	}
	if err := (Options{Release: "demo", LoginURL: "https://insight.example.com/", Port: 80}).Validate(); err == nil || !strings.Contains(err.Error(), "--port") {
		t.Fatalf("--login-url with --port: %v", err)
	}
	if err := (Options{Release: "demo", LoginURL: "https://insight.example.com"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
