// Package ui runs insightctl ui: a proxy on 127.0.0.1 to the release's manager, reached
// as every insightctl command reaches it (the API server's service proxy, else a
// port-forward trusting the release's CA), that adds the operator token to every request
// as kubectl proxy adds the user's credential. The browser opens the manager's web UI
// at the proxy's URL; it never holds the token nor needs to trust the release's CA.
//
// It must not depend on cobra: the command copies its flags into Options.
package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// csrfHeader is the header the UI's pages send with every POST (grid/ui.CSRFHeader): a
// page of another site cannot set it without a CORS preflight, which the proxy never
// allows.
const csrfHeader = "X-Insight-CSRF"

// Options are insightctl ui's parameters.
type Options struct {
	Release    string
	ManagerURL string
	// Port is the loopback port to listen on; 0: a free one.
	Port int
	// LoginURL is --login-url: instead of the proxy, print a one-time login link of the
	// UI at this URL (the manager.ui.ingress host) and exit.
	LoginURL string
}

// Validate checks the options without a cluster.
func (o Options) Validate() error {
	var problems []validate.Problem
	if o.Port < 0 || o.Port > 65535 {
		problems = append(problems, validate.Problem{Key: "--port", Value: o.Port, Message: "must be between 0 (a free port) and 65535"})
	}
	if o.LoginURL != "" {
		if u, err := url.Parse(o.LoginURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			problems = append(problems, validate.Problem{Key: "--login-url", Value: o.LoginURL, Message: "must be the URL the UI's Ingress serves, https://host (manager.ui.ingress.host)"})
		}
		if o.Port != 0 {
			problems = append(problems, validate.Problem{Key: "--port", Value: o.Port, Message: "has no use with --login-url, which starts no proxy"})
		}
	}
	problems = append(problems, manager.CheckURL(o.ManagerURL)...)
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

// Run reaches the manager, listens on 127.0.0.1, prints the UI's URL and proxies until
// ctx ends (Ctrl-C).
func Run(ctx context.Context, d *deps.Deps, o Options) error {
	// A port-forward opened here lives as long as ctx: the whole run.
	client, err := d.Manager(ctx, o.Release, o.ManagerURL)
	if err != nil {
		if api.IsUnreachable(err) && o.ManagerURL == "" {
			return fmt.Errorf("ui: cannot reach the manager of %s: %w\n%s", o.Release, err, manager.Hint)
		}
		return fmt.Errorf("ui: cannot reach the manager of %s: %w", o.Release, err)
	}
	if o.LoginURL != "" {
		return printLogin(d, client, o)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)))
	if err != nil {
		return fmt.Errorf("ui: listening on 127.0.0.1 (--port %d): %w", o.Port, err)
	}
	p, err := NewProxy(client, ln.Addr().String())
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(d.IO.Out, "The web UI of release %s, through %s:\n  http://%s/ui/\nThis proxy adds the operator token to every request; it serves 127.0.0.1 only. Ctrl-C stops it.\n",
		o.Release, client.Via, ln.Addr())
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-done:
		return fmt.Errorf("ui: the proxy stopped: %w", err)
	}
}

// printLogin prints a one-time login link of the UI at o.LoginURL, signed with the
// release's operator token (the token itself is never printed).
func printLogin(d *deps.Deps, c *api.Client, o Options) error {
	if c.Token == nil {
		return fmt.Errorf("ui --login-url: release %s has no operator token to sign a login with; its UI needs no login", o.Release)
	}
	tok, err := c.Token()
	if err != nil || tok == "" {
		return fmt.Errorf("ui --login-url: reading the operator token of %s: %v", o.Release, err)
	}
	code, err := api.LoginCode(tok, time.Now(), api.LoginTTL)
	if err != nil {
		return fmt.Errorf("ui --login-url: %w", err)
	}
	_, err = fmt.Fprintf(d.IO.Out, "%s%s?token=%s\n(one use, valid %s)\n", strings.TrimRight(o.LoginURL, "/"), api.PathUILogin, url.QueryEscape(code), api.LoginTTL)
	return err
}

// NewProxy is the handler that forwards the browser's requests at self (host:port of
// the listener) to the manager of c, with c's operator token. It refuses a Host other
// than self or localhost (DNS rebinding), and a request that changes something without
// the UI's CSRF header or from another origin.
func NewProxy(c *api.Client, self string) (http.Handler, error) {
	base, err := url.Parse(c.Base)
	if err != nil {
		return nil, fmt.Errorf("ui: manager URL %q: %w", c.Base, err)
	}
	_, port, err := net.SplitHostPort(self)
	if err != nil {
		return nil, fmt.Errorf("ui: listener address %q: %w", self, err)
	}
	hosts := map[string]bool{self: true, "localhost:" + port: true, "127.0.0.1:" + port: true}
	rt := http.DefaultTransport
	if c.HTTP != nil && c.HTTP.Transport != nil {
		rt = c.HTTP.Transport
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(base)
			// The browser's credentials mean nothing to the manager: the token stands for them.
			for _, h := range []string{api.TokenHeader, "Authorization", "Cookie"} {
				pr.Out.Header.Del(h)
			}
		},
		Transport:     tokenTransport{rt: rt, token: c.Token},
		FlushInterval: -1, // the server-sent events go through at once
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusBadGateway, "the manager via %s did not answer: %v", c.Via, err)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts[r.Host] {
			writeError(w, http.StatusForbidden, "Host %q: this proxy answers http://%s only", r.Host, self)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if r.Header.Get(csrfHeader) == "" {
				writeError(w, http.StatusForbidden, "%s %s: the UI's requests carry %s; this proxy refuses others that change the grid (use insightctl's commands)", r.Method, r.URL.Path, csrfHeader)
				return
			}
			if o := r.Header.Get("Origin"); o != "" && !hosts[strings.TrimPrefix(o, "http://")] {
				writeError(w, http.StatusForbidden, "%s %s from origin %q: only the UI at http://%s may act", r.Method, r.URL.Path, o, self)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}), nil
}

// tokenTransport puts the operator token on every request.
type tokenTransport struct {
	rt    http.RoundTripper
	token func() (string, error)
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.token == nil {
		return t.rt.RoundTrip(r)
	}
	tok, err := t.token()
	if err != nil {
		return nil, fmt.Errorf("the operator token: %w", err)
	}
	if tok != "" {
		r.Header.Set(api.TokenHeader, tok)
	}
	return t.rt.RoundTrip(r)
}

func writeError(w http.ResponseWriter, status int, format string, a ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: api.ErrorDetail{Code: http.StatusText(status), Message: fmt.Sprintf(format, a...)}})
}
