package data

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/server"
)

// listeners are a data instance's ports: RESP plain and over TLS, the internal links'
// (mutual TLS), HTTP and metrics (plain); nil: not served.
type listeners struct {
	resp, tls, repl, http, metrics net.Listener
}

// listen opens cfg's ports, TLS ones wrapped in the server side of cfg.TLS.
func listen(cfg Config) (*listeners, error) {
	l := &listeners{}
	for _, p := range []struct {
		flag string
		port int
		ln   *net.Listener
		tls  *tls.Config
	}{
		{"--port", cfg.Port, &l.resp, nil},
		{"--tls-port", cfg.TLSPort, &l.tls, serverTLS(cfg, cfg.TLSAuthClients)},
		{"--repl-port", cfg.ReplPort, &l.repl, serverTLS(cfg, tlsconf.AuthYes)},
		{"--http-port", cfg.HTTPPort, &l.http, httpTLS(cfg)},
		// Plain whatever the TLS: a scraper reads it without a client certificate.
		{"--metrics-port", cfg.MetricsPort, &l.metrics, nil},
	} {
		if p.port == 0 {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(p.port)))
		if err != nil {
			l.close()
			return nil, fmt.Errorf("listening on %s %d: %w", p.flag, p.port, err)
		}
		if p.tls != nil {
			ln = tls.NewListener(ln, p.tls)
		}
		*p.ln = ln
	}
	return l, nil
}

func serverTLS(cfg Config, auth tlsconf.ClientAuth) *tls.Config {
	if cfg.TLS == nil {
		return nil
	}
	return cfg.TLS.ServerConfig(auth)
}

// httpTLS is the HTTP port's TLS: client certificates verified when given (the managers
// present theirs; a kubelet's probes have none), the operator token guarding changes.
func httpTLS(cfg Config) *tls.Config {
	if cfg.TLS == nil || !cfg.HTTPTLS {
		return nil
	}
	return cfg.TLS.ServerConfig(tlsconf.AuthOptional)
}

// serve serves every port in its own goroutine (wg counts them), an error of one sent to
// errc: RESP and the internal links by srv, HTTP by hs, metrics by ms.
func (l *listeners) serve(wg *sync.WaitGroup, errc chan<- error, srv *server.Server, hs, ms *http.Server) {
	for _, r := range []struct {
		name     string
		ln       net.Listener
		internal bool
	}{{"RESP", l.resp, false}, {"RESP TLS", l.tls, false}, {"replication", l.repl, true}} {
		if r.ln == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve := srv.Serve
			if r.internal {
				serve = srv.ServeInternal
			}
			if err := serve(r.ln); err != nil {
				errc <- fmt.Errorf("%s server: %w", r.name, err)
			}
		}()
	}
	for _, h := range []struct {
		name string
		ln   net.Listener
		hs   *http.Server
	}{{"HTTP", l.http, hs}, {"metrics", l.metrics, ms}} {
		if h.ln == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.hs.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s server: %w", h.name, err)
			}
		}()
	}
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.resp, l.tls, l.repl, l.http, l.metrics} {
		if ln != nil {
			ln.Close()
		}
	}
}

// addr is ln's address for the log ("" when not served).
func (l *listeners) addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// advertise fills in the addresses self registers: RESP (the TLS port when there is no
// plain one), RESP over TLS and the internal links' port.
func advertise(self *cluster.Instance, cfg Config) {
	at := func(port int) string { return net.JoinHostPort(cfg.AdvertiseHost, strconv.Itoa(port)) }
	if cfg.TLSPort != 0 {
		self.TLSAddress = at(cfg.TLSPort)
	}
	if cfg.ReplPort != 0 {
		self.ReplAddress = at(cfg.ReplPort)
	}
	self.Address = self.TLSAddress
	if cfg.Port != 0 {
		self.Address = at(cfg.Port)
	}
}
