package manager

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
)

// live is a manager that answers /livez.
func live(t *testing.T) *api.Client {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(s.Close)
	return api.NewClient(s.URL, s.Client())
}

// hanging is a proxy that never answers until the test ends.
func hanging(t *testing.T) *api.Client {
	t.Helper()
	done := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); s.Close() })
	return api.NewClient(s.URL, s.Client())
}

// The ways are tried in order: --manager-url alone when given; else the service proxy,
// accepted only when a manager answers through it within its time box; else the
// port-forward.
func TestReachOrder(t *testing.T) {
	proxied, forwarded := live(t), live(t)
	var tried []string
	way := func(name string, c *api.Client, err error) Way {
		return func(context.Context) (*api.Client, func(), error) {
			tried = append(tried, name)
			return c, nil, err
		}
	}
	refused := &api.UnreachableError{Via: "the API server's proxy", Err: errors.New("HTTP 503: no endpoints available")}
	tests := []struct {
		name    string
		r       Reacher
		want    *api.Client // nil: an error
		tried   string
		errText string
	}{
		{name: "the URL wins outright", r: Reacher{URL: "10.0.0.7:8090", Proxy: way("proxy", proxied, nil), Forward: way("forward", forwarded, nil)}, tried: ""},
		{name: "proxy first", r: Reacher{Proxy: way("proxy", proxied, nil), Forward: way("forward", forwarded, nil)}, want: proxied, tried: "proxy"},
		{name: "proxy without a service", r: Reacher{Proxy: way("proxy", nil, errors.New("no manager service")), Forward: way("forward", forwarded, nil)}, want: forwarded, tried: "proxy,forward"},
		{name: "proxy that reaches no manager", r: Reacher{Proxy: way("proxy", api.NewClient("http://127.0.0.1:1", nil), nil), Forward: way("forward", forwarded, nil)}, want: forwarded, tried: "proxy,forward"},
		{name: "proxy that hangs is time-boxed", r: Reacher{Proxy: way("proxy", hanging(t), nil), Forward: way("forward", forwarded, nil), ProxyTimeout: 50 * time.Millisecond}, want: forwarded, tried: "proxy,forward"},
		{name: "neither", r: Reacher{Proxy: way("proxy", nil, refused), Forward: way("forward", nil, errors.New("no running manager pod"))}, tried: "proxy,forward",
			errText: "manager unreachable via the API server: service proxy: manager unreachable via the API server's proxy: HTTP 503: no endpoints available; port-forward: no running manager pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tried = nil
			c, stop, err := tt.r.Reach(context.Background())
			if got := strings.Join(tried, ","); got != tt.tried {
				t.Errorf("tried %q, want %q", got, tt.tried)
			}
			switch {
			case tt.errText != "":
				if err == nil || err.Error() != tt.errText || !api.IsUnreachable(err) {
					t.Fatalf("error %v, want %q", err, tt.errText)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			defer stop()
			if tt.r.URL != "" {
				if c.Base != "http://10.0.0.7:8090" {
					t.Errorf("client of %s, want the URL", c.Base)
				}
				return
			}
			if c != tt.want {
				t.Errorf("client of %s, want %s", c.Base, tt.want.Base)
			}
		})
	}
}

func TestReachBadURL(t *testing.T) {
	_, _, err := (&Reacher{URL: "ftp://x"}).Reach(context.Background())
	if err == nil || !strings.Contains(err.Error(), `--manager-url "ftp://x": want the manager's REST API URL`) {
		t.Errorf("error %v", err)
	}
}
