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
		if len(c.WANPolicies) > 0 {
			errs = append(errs, fmt.Errorf("--wan-policy given without --site: policies are for WAN replication"))
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
	if rules, err := wan.ParseRules(c.WANPolicies); err != nil {
		errs = append(errs, err)
	} else if err := wan.CheckRules(rules); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, wan.CheckTargets(TargetFlags, c.Site, c.WANTargets, c.Insecure)...)
	return errs
}

// TargetFlags are local's flags describing the target sites (wan.ParseTargets).
var TargetFlags = wan.TargetFlags{Site: "--site", Target: "--wan-target", CA: "--wan-target-ca", TokenFile: "--wan-target-token-file"}

// wanDataArgs are the data instances' WAN flags.
func wanDataArgs(cfg Config) []string {
	if cfg.Site == "" {
		return nil
	}
	names := make([]string, 0, len(cfg.WANTargets))
	for _, t := range cfg.WANTargets {
		names = append(names, t.Name)
	}
	args := []string{"--wan-site", cfg.Site, "--wan-targets", strings.Join(names, ","),
		"--wan-outbox-max", strconv.Itoa(cfg.WANOutboxMax), "--wan-outbox-full", cfg.WANOutboxFull}
	for _, p := range cfg.WANPolicies {
		args = append(args, "--wan-policy", p)
	}
	return args
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
