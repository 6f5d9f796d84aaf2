package local

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/wan"
)

// offWAN is the site's WAN gateway's port offset from BasePort, with Config.Site.
const offWAN = 5

// validateWAN checks the WAN flags.
func (c *Config) validateWAN() []error {
	var errs []error
	if c.Site == "" {
		if len(c.WANTargets) > 0 {
			errs = append(errs, fmt.Errorf("--wan-target given without --site: name this site first"))
		}
		if c.WANBind != "" {
			errs = append(errs, fmt.Errorf("--wan-bind given without --site: only a site has a gateway"))
		}
		return errs
	}
	if c.WANBind != "" {
		ip := net.ParseIP(c.WANBind)
		switch {
		case ip == nil:
			errs = append(errs, fmt.Errorf("--wan-bind %q: want an IP address of this machine the other sites reach (the gateway's sink listens on it, port base+%d)", c.WANBind, offWAN))
		case c.Insecure && !ip.IsLoopback():
			errs = append(errs, fmt.Errorf("--wan-bind %s with --insecure: the gateway would apply writes from anyone on that network, in plain and without a token; drop --insecure (TLS and the operator token) or bind loopback", c.WANBind))
		}
	}
	if err := wan.CheckSite(c.Site); err != nil {
		errs = append(errs, fmt.Errorf("--site %w", err))
	}
	if c.WANOutboxMax < 1 {
		errs = append(errs, fmt.Errorf("--wan-outbox-max %d: must be at least 1", c.WANOutboxMax))
	}
	if _, err := wan.ParseMode(c.WANOutboxFull); err != nil {
		errs = append(errs, fmt.Errorf("--wan-outbox-full %w", err))
	}
	seen := map[string]bool{}
	for _, t := range c.WANTargets {
		if err := wan.CheckSite(t.Name); err != nil {
			errs = append(errs, fmt.Errorf("--wan-target %w", err))
		}
		if t.Name == c.Site {
			errs = append(errs, fmt.Errorf("--wan-target %s: that is this site (--site)", t.Name))
		}
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("--wan-target %s given twice", t.Name))
		}
		seen[t.Name] = true
		if _, _, err := net.SplitHostPort(t.Address); err != nil {
			errs = append(errs, fmt.Errorf("--wan-target %s=%q: want NAME=HOST:PORT, the site's gateway", t.Name, t.Address))
		}
		if !c.Insecure && (t.CAFile == "" || t.TokenFile == "") {
			errs = append(errs, fmt.Errorf("--wan-target %s: give --wan-target-ca %s=FILE and --wan-target-token-file %s=FILE (the site's CA and operator token, printed by its insight-grid local), or run both sites with --insecure", t.Name, t.Name, t.Name))
		}
		if c.Insecure && (t.CAFile != "" || t.TokenFile != "") {
			errs = append(errs, fmt.Errorf("--wan-target %s: --insecure sends in plain without a token; drop --wan-target-ca and --wan-target-token-file", t.Name))
		}
	}
	return errs
}

// ParseWANTargets builds the targets from the repeated --wan-target NAME=ADDR,
// --wan-target-ca NAME=FILE and --wan-target-token-file NAME=FILE values.
func ParseWANTargets(addrs, cas, tokens []string) ([]wan.GatewayTarget, error) {
	var out []wan.GatewayTarget
	idx := map[string]int{}
	for _, a := range addrs {
		name, addr, ok := strings.Cut(a, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("--wan-target %q: want NAME=HOST:PORT", a)
		}
		idx[name] = len(out)
		out = append(out, wan.GatewayTarget{Name: name, Address: addr})
	}
	for _, f := range []struct {
		flag string
		vals []string
		set  func(t *wan.GatewayTarget, v string)
	}{
		{"--wan-target-ca", cas, func(t *wan.GatewayTarget, v string) { t.CAFile = v }},
		{"--wan-target-token-file", tokens, func(t *wan.GatewayTarget, v string) { t.TokenFile = v }},
	} {
		for _, v := range f.vals {
			name, file, ok := strings.Cut(v, "=")
			if !ok || file == "" {
				return nil, fmt.Errorf("%s %q: want NAME=FILE", f.flag, v)
			}
			i, known := idx[name]
			if !known {
				return nil, fmt.Errorf("%s %s: no --wan-target %s=HOST:PORT names that site", f.flag, name, name)
			}
			f.set(&out[i], file)
		}
	}
	return out, nil
}

// wanDataArgs are the data instances' WAN flags.
func wanDataArgs(cfg Config) []string {
	if cfg.Site == "" {
		return nil
	}
	names := make([]string, 0, len(cfg.WANTargets))
	for _, t := range cfg.WANTargets {
		names = append(names, t.Name)
	}
	return []string{"--wan-site", cfg.Site, "--wan-targets", strings.Join(names, ","),
		"--wan-outbox-max", strconv.Itoa(cfg.WANOutboxMax), "--wan-outbox-full", cfg.WANOutboxFull}
}

// startGateway runs the site's WAN gateway in this process until ctx ends: the sink on
// base+5 of WANBind or Bind (HTTPS with the grid's certificate and the operator token,
// plain with Insecure) and a delegator per target.
func startGateway(ctx context.Context, cfg Config, l Layout) (addr string, done <-chan error, err error) {
	host := cfg.Bind
	if cfg.WANBind != "" {
		host = cfg.WANBind
	}
	addr = net.JoinHostPort(host, strconv.Itoa(cfg.BasePort+offWAN))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("the WAN gateway's port %s: %w", addr, err)
	}
	var tc *tls.Config
	var tok *opauth.Source
	if cfg.tls.CA != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tls.Cert, cfg.tls.Key)
		if err != nil {
			ln.Close()
			return "", nil, fmt.Errorf("the WAN gateway's certificate: %w", err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.tokenFile != "" {
		if tok, err = opauth.FromFile(cfg.tokenFile); err != nil {
			ln.Close()
			return "", nil, fmt.Errorf("the WAN gateway's operator token: %w", err)
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	g := wan.NewGateway(wan.GatewayConfig{
		Site: cfg.Site, Manager: api.NewClient("http://"+l.API, hc), Token: tok, Listener: ln, TLS: tc,
		DataHTTP: hc, DataScheme: "http", Targets: cfg.WANTargets,
		Logger: slog.New(slog.NewTextHandler(cfg.Stderr, nil)).With("role", "wan-gateway", "site", cfg.Site),
	})
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx) }()
	return addr, errc, nil
}
