package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/config"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/wan"
)

// gatewayTargetFlags are the gateway role's flags describing the target sites.
var gatewayTargetFlags = wan.TargetFlags{Site: "--site", Target: "--target", CA: "--target-ca", TokenFile: "--target-token-file", ServerName: "--target-server-name"}

// runGateway runs a site's WAN gateway (docs/wan.md) until ctx ends: the sink other
// sites send their writes to, and a delegator per target site sending this site's.
func runGateway(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("gateway", stderr)
	var c common
	c.register(fs, "0.0.0.0")
	var site, managerURL string
	var port int
	var targets, cas, tokens, serverNames listFlag
	fs.StringVar(&site, "site", "", "this site's name (a-z, 0-9, '-'), the data instances' --wan-site (required)")
	fs.StringVar(&managerURL, "manager", "", "the site's manager API, e.g. https://<base>-manager:8090: the partition map and its primaries (required)")
	fs.IntVar(&port, "port", 7443, "port of the sink the other sites send to (HTTPS with the TLS files), with GET /v1/wan/status, /metrics, /livez and /readyz")
	fs.Var(&targets, "target", "a site to send this site's writes to, NAME=HOST:PORT of its gateway (repeatable)")
	fs.Var(&cas, "target-ca", "with --target, NAME=FILE: the PEM CA the site's gateway certificate is signed by; read at each connection (repeatable)")
	fs.Var(&tokens, "target-token-file", "with --target, NAME=FILE: the file holding the site's operator token; read at each connection (repeatable)")
	fs.Var(&serverNames, "target-server-name", "with --target, NAME=HOST: the name the site's certificate must carry when HOST:PORT is an address it does not name, e.g. a load balancer's IP (repeatable; default the host of --target)")
	token := tokenFlag(fs, "file holding this site's operator token: the other sites must present it to the sink, and the gateway presents it to the site's data instances", getenv)
	tlsSrc := tlsFlags(fs, "serving the sink over HTTPS, and calling the manager's API and the data instances' HTTP ports (the CA: theirs)")
	var tlsHTTP bool
	fs.BoolVar(&tlsHTTP, "tls-http", true, "with the TLS files, call the data instances' HTTP ports over TLS (as their --tls-http)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	log, err := c.logger(stderr, "wan-gateway")
	if err != nil {
		return err
	}
	tok, err := token()
	if err != nil {
		return err
	}
	src, err := tlsSrc()
	if err != nil {
		return err
	}
	ts, err := wan.ParseTargets(gatewayTargetFlags, targets, cas, tokens, serverNames)
	if err != nil {
		return err
	}
	var errs []error
	if site == "" {
		errs = append(errs, errors.New("--site is required: this site's name, as its data instances' --wan-site"))
	} else if err := wan.CheckSite(site); err != nil {
		errs = append(errs, fmt.Errorf("--site %w", err))
	}
	base, err := api.ParseURL(managerURL)
	switch {
	case managerURL == "":
		errs = append(errs, errors.New("--manager is required: the site's manager API, e.g. https://<base>-manager:8090"))
	case err != nil:
		errs = append(errs, fmt.Errorf("--manager: %w", err))
	case strings.HasPrefix(base, "https://") && src == nil:
		errs = append(errs, fmt.Errorf("--manager %s is https: give --%s, the CA its certificate is signed by", base, tlsconf.FlagCA))
	}
	if port < 1 || port > 65535 {
		errs = append(errs, fmt.Errorf("--port %d: want 1-65535", port))
	}
	if src != nil && !src.HasCert() {
		errs = append(errs, fmt.Errorf("--%s and --%s are empty: the gateway serves HTTPS with the TLS files, it needs its certificate and key", tlsconf.FlagCert, tlsconf.FlagKey))
	}
	errs = append(errs, wan.CheckTargets(gatewayTargetFlags, site, ts, src == nil && tok == nil)...)
	if err := errors.Join(errs...); err != nil {
		return err
	}

	hc := &http.Client{Timeout: 30 * time.Second}
	scheme := "http"
	cfg := wan.GatewayConfig{Site: site, Token: tok, Targets: ts, DataHTTP: hc, Logger: log.With("site", site)}
	if src != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// The site's own processes: the CA's signature, whatever address (pod IPs).
		tr.TLSClientConfig = src.InternalClientConfig()
		hc.Transport = tr
		cfg.TLS = src.ServerConfig(tlsconf.AuthOptional)
		if tlsHTTP {
			scheme = "https"
		}
	}
	cfg.DataScheme = scheme
	cfg.Manager = api.NewClient(base, hc)
	if tok != nil {
		cfg.Manager.Token = tok.Token
	}
	addr := net.JoinHostPort(c.bind, strconv.Itoa(port))
	if cfg.Listener, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("the sink's listener (--port %d): %w", port, err)
	}
	sites := make([]string, 0, len(ts))
	for _, t := range ts {
		sites = append(sites, t.Name+"="+t.Address)
	}
	if src == nil && tok == nil {
		log.Warn("the sink serves plain HTTP without the operator token: whoever reaches --port can write to this site; give the TLS files and --operator-token-file off a trusted network")
	}
	log.Info("WAN gateway started", "site", site, "listen", cfg.Listener.Addr().String(), "tls", src != nil, "manager", base, "dataScheme", scheme, "targets", sites)
	return wan.NewGateway(cfg).Run(ctx)
}
