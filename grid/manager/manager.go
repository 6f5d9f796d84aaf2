// Package manager is the grid's control plane: an embedded etcd member (one of 1 or 3,
// statically configured the way a StatefulSet names its pods) holding the partition map,
// the partition records and the instance registry, plus the REST manager API served from
// that state. It must not depend on the data path (store, server): it learns about data
// instances only from etcd and from their HTTP status endpoints.
package manager

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"

	"github.com/insightgrid/insight/grid/internal/metricsport"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/wan"
)

// Config is a manager member's configuration.
type Config struct {
	Name           string // etcd member name, unique in the cluster
	DataDir        string // etcd's data lives in DataDir/etcd
	Bind           string // address every listener binds
	AdvertiseHost  string // host peers and clients reach this member at
	ClientPort     int
	PeerPort       int
	HTTPPort       int
	MetricsPort    int    // plain HTTP, GET /metrics only; 0: none
	InitialCluster string // name=http://host:peerPort,...; empty: this member alone
	// ClusterState is ClusterStateNew (the members of InitialCluster bootstrap together)
	// or ClusterStateExisting (a member without data joins the cluster at Join).
	ClusterState string
	// Join are the etcd client addresses (host:port) of the running members.
	Join       []string
	Partitions int
	HA         bool
	// Heartbeat and Election are etcd's raft timings. Small values suit loopback; across
	// nodes keep etcd's defaults (100ms, 1s) or more.
	Heartbeat, Election time.Duration
	// AutoFailback hands a partition back to its preferred primary once that instance has
	// been the in-sync backup for FailbackDelay (done by the etcd leader's manager only).
	AutoFailback  bool
	FailbackDelay time.Duration
	// RestartQuorumWait is how long the restart election waits for both instances of a
	// partition left without a live primary to register before it decides on the one
	// that did (see restart.go).
	RestartQuorumWait time.Duration
	// RepartitionRate is the bytes per second each source partition copies during a
	// re-partitioning whose request names no rate; 0: as fast as it can.
	RepartitionRate int64
	// UI serves the web UI under /ui/ on the API port; UIReadOnly hides its actions and
	// refuses them.
	UI, UIReadOnly bool
	// DataPassword is the data instances' --requirepass, which the key browser's
	// connections AUTH with ("": none).
	DataPassword string
	// WANSite names the grid as a WAN site ("": not one): the overview then carries the
	// replication state its primaries report (wan.go).
	WANSite string
	Version string
	Logger  *slog.Logger

	// OperatorToken guards the API's mutating endpoints and is presented to the data
	// instances' POST /v1/handover; nil: neither guarded nor presented.
	OperatorToken *opauth.Source

	// TLS is the certificate, key and CA (nil: no TLS); with HTTPTLS the API is served
	// over TLS (client certificates verified when given) and the data instances' HTTP
	// ports are called over TLS, presenting the certificate.
	TLS     *tlsconf.Source
	HTTPTLS bool
	// EtcdTLS, with TLS, runs etcd's client and peer traffic over mutual TLS (https URLs,
	// a client certificate signed by the CA required).
	EtcdTLS bool
}

// etcdTLS tells whether etcd's client and peer URLs are https.
func (c *Config) etcdTLS() bool { return c.TLS != nil && c.EtcdTLS }

// etcdScheme is the scheme of etcd's URLs: https with etcd TLS, else http.
func (c *Config) etcdScheme() string {
	if c.etcdTLS() {
		return "https"
	}
	return "http"
}

// etcdClientTLS is the TLS of this member's etcd clients (joining, removing members):
// nil without etcd TLS.
func (c *Config) etcdClientTLS() *tls.Config {
	if !c.etcdTLS() {
		return nil
	}
	return c.TLS.InternalClientConfig()
}

// httpTLS tells whether the HTTP ports (the API, the data instances') speak TLS.
func (c *Config) httpTLS() bool { return c.TLS != nil && c.HTTPTLS }

// dataURL is the URL of path on a data instance's HTTP port at addr.
func (m *Manager) dataURL(addr, path string) string {
	if m.cfg.httpTLS() {
		return "https://" + addr + path
	}
	return "http://" + addr + path
}

// Validate checks the configuration without side effects.
func (c *Config) Validate() error {
	var errs []error
	for _, p := range []struct {
		flag string
		v    int
	}{{"--client-port", c.ClientPort}, {"--peer-port", c.PeerPort}, {"--http-port", c.HTTPPort}} {
		if p.v < 1 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s %d: must be between 1 and 65535", p.flag, p.v))
		}
	}
	if c.MetricsPort < 0 || c.MetricsPort > 65535 {
		errs = append(errs, fmt.Errorf("--metrics-port %d: must be between 0 (none) and 65535", c.MetricsPort))
	}
	errs = append(errs, metricsport.Distinct(c.MetricsPort, map[string]int{"--client-port": c.ClientPort, "--peer-port": c.PeerPort, "--http-port": c.HTTPPort})...)
	if c.TLS != nil && !c.TLS.HasCert() {
		errs = append(errs, fmt.Errorf("--%s and --%s are empty: a manager serves TLS, it needs its certificate and key", tlsconf.FlagCert, tlsconf.FlagKey))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("--name is empty: give this member a name unique in the manager cluster"))
	}
	if c.Partitions < 1 || c.Partitions > 16384 {
		errs = append(errs, fmt.Errorf("--partitions %d: must be between 1 and 16384", c.Partitions))
	}
	if c.Heartbeat < time.Millisecond || c.Election < 5*c.Heartbeat {
		errs = append(errs, fmt.Errorf("--etcd-heartbeat %s / --etcd-election %s: heartbeat must be at least 1ms and the election timeout at least 5 heartbeats", c.Heartbeat, c.Election))
	}
	if c.RepartitionRate < 0 {
		errs = append(errs, fmt.Errorf("--repartition-rate %d: must be 0 (no limit) or more", c.RepartitionRate))
	}
	if c.RestartQuorumWait < 0 {
		errs = append(errs, fmt.Errorf("--restart-quorum-wait %s: must be 0 or more", c.RestartQuorumWait))
	}
	if c.FailbackDelay < 0 {
		errs = append(errs, fmt.Errorf("--failback-delay %s: must be 0 or more", c.FailbackDelay))
	}
	if c.WANSite != "" {
		if err := wan.CheckSite(c.WANSite); err != nil {
			errs = append(errs, fmt.Errorf("--wan-site %w", err))
		}
	}
	if c.InitialCluster != "" {
		if _, err := c.initialCluster(); err != nil {
			errs = append(errs, err)
		}
	}
	switch c.ClusterState {
	case "", ClusterStateNew:
	case ClusterStateExisting:
		if len(c.Join) == 0 && strings.Contains(c.InitialCluster, ",") {
			errs = append(errs, errors.New("--initial-cluster-state existing needs --join: the etcd client addresses of the running managers a member without data asks to be added by"))
		}
	default:
		errs = append(errs, fmt.Errorf("--initial-cluster-state %q: want %s or %s", c.ClusterState, ClusterStateNew, ClusterStateExisting))
	}
	return errors.Join(errs...)
}

// initialCluster parses --initial-cluster and checks that it names this member.
func (c *Config) initialCluster() (string, error) {
	if c.InitialCluster == "" {
		return fmt.Sprintf("%s=%s://%s", c.Name, c.etcdScheme(), net.JoinHostPort(c.AdvertiseHost, strconv.Itoa(c.PeerPort))), nil
	}
	found := false
	for _, m := range strings.Split(c.InitialCluster, ",") {
		name, u, ok := strings.Cut(m, "=")
		if !ok || name == "" {
			return "", fmt.Errorf("--initial-cluster %q: entry %q is not name=%s://host:port", c.InitialCluster, m, c.etcdScheme())
		}
		if _, err := url.Parse(u); err != nil || !strings.HasPrefix(u, c.etcdScheme()+"://") {
			return "", fmt.Errorf("--initial-cluster %q: entry %q: the peer URL must be %s://host:port (https with TLS on etcd)", c.InitialCluster, m, c.etcdScheme())
		}
		found = found || name == c.Name
	}
	if !found {
		return "", fmt.Errorf("--initial-cluster %q does not list this member's --name %q", c.InitialCluster, c.Name)
	}
	return c.InitialCluster, nil
}

func (c *Config) hostURL(host string, port int) url.URL {
	return url.URL{Scheme: c.etcdScheme(), Host: net.JoinHostPort(host, strconv.Itoa(port))}
}

// Manager is a running manager member.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	etcd *embed.Etcd
	cli  *clientv3.Client
	http *http.Server
	hc   *http.Client
	// handoverClient calls data instances' POST /v1/handover, which pauses writes and
	// drains the replication stream: it gets more time than the status polls of hc.
	handoverClient *http.Client
	// hasLeader and isLeader report etcd's leadership as the metrics show it: whether the
	// cluster has a leader (a quorum), and whether this member is it.
	hasLeader, isLeader func() bool
	metrics             *metrics
	repart              *repartitioner
	ha                  *haReconciler
	// eventsEvery is how often /v1/events sends the overview without a change in etcd;
	// eventsStop ends every stream when the API server shuts down (Shutdown waits for
	// the handlers, which would otherwise stream on).
	eventsEvery time.Duration
	eventsStop  chan struct{}
	// wan shares one reading of the primaries' WAN state among the overviews of a second.
	wan wanCache
}

// newManager wraps a started etcd member.
func newManager(cfg Config, e *embed.Etcd) *Manager {
	m := &Manager{cfg: cfg, log: cfg.Logger, etcd: e, cli: v3client.New(e.Server),
		hc:             &http.Client{Timeout: 500 * time.Millisecond},
		handoverClient: &http.Client{Timeout: handoverTimeout},
		hasLeader:      func() bool { return e.Server.Leader() != 0 },
		isLeader:       func() bool { return e.Server.Leader() == e.Server.MemberID() },
		metrics:        newMetrics(),
		eventsEvery:    eventsRefresh,
		eventsStop:     make(chan struct{}),
	}
	if cfg.TLS != nil {
		// For the https URLs: the data instances' HTTP ports (with --tls-http) and the
		// members' etcd /health (with --tls-etcd).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS.InternalClientConfig()
		m.hc.Transport, m.handoverClient.Transport = tr, tr
	}
	m.repart = &repartitioner{m: m}
	m.wan.fresh = wanFresh
	m.ha = &haReconciler{m: m}
	return m
}

// Run starts the member and serves until ctx ends, then stops gracefully.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	start := time.Now()
	initial, state := "", ClusterStateNew
	if cfg.joins() {
		log.Info("joining the running managers' etcd cluster as a learner", "name", cfg.Name, "join", cfg.Join)
		var err error
		if initial, err = join(ctx, cfg); err != nil {
			return err
		}
		state = ClusterStateExisting
	}
	e, err := startEtcd(cfg, initial, state)
	if err != nil {
		return err
	}
	defer e.Close()
	m := newManager(cfg, e)
	defer m.cli.Close()

	reg := prometheus.WrapRegistererWithPrefix("insight_manager_", prometheus.DefaultRegisterer)
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "is_leader", Help: "1 when this member leads the etcd cluster."},
		func() float64 { return b2f(m.isLeader()) })); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "has_leader", Help: "1 when the etcd cluster has a leader."},
		func() float64 { return b2f(m.hasLeader()) })); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ready", Help: "1 while this manager's readiness probe (/readyz) passes."},
		func() float64 { return b2f(m.notReady(context.Background()) == "") })); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := m.metrics.register(reg, m.hasLeader); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "repartition_stalled_seconds",
		Help: "Seconds the pending re-partitioning has gone without a new version of the partition map, on the leading manager; 0 when none is pending or on the other managers."},
		func() float64 { return m.repart.progress.stalled(time.Now()) })); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.HTTPPort)))
	if err != nil {
		return fmt.Errorf("manager API listener (--http-port %d): %w", cfg.HTTPPort, err)
	}
	if cfg.httpTLS() {
		ln = tls.NewListener(ln, cfg.TLS.ServerConfig(tlsconf.AuthOptional))
	}
	m.http = &http.Server{Handler: m.handler(), ReadHeaderTimeout: 5 * time.Second}
	m.http.RegisterOnShutdown(func() { close(m.eventsStop) })
	httpErr := make(chan error, 2)
	go func() { httpErr <- fmt.Errorf("manager API: %w", m.http.Serve(ln)) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = m.http.Shutdown(sctx)
	}()
	metricsAddr := ""
	if cfg.MetricsPort != 0 {
		mln, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.MetricsPort)))
		if err != nil {
			return fmt.Errorf("manager metrics listener (--metrics-port %d): %w", cfg.MetricsPort, err)
		}
		// etcd's metrics and the manager's share the default registry.
		ms := metricsport.NewServer(promhttp.Handler())
		go func() { httpErr <- fmt.Errorf("manager metrics port: %w", ms.Serve(mln)) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = ms.Shutdown(sctx)
		}()
		metricsAddr = mln.Addr().String()
	}
	log.Info("manager starting", "name", cfg.Name, "etcdClient", e.Config().AdvertiseClientUrls[0].String(),
		"etcdPeer", e.Config().AdvertisePeerUrls[0].String(), "initialCluster", e.Config().InitialCluster, "api", ln.Addr().String(), "apiTLS", cfg.httpTLS(),
		"metrics", metricsAddr)

	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fmt.Errorf("embedded etcd: %w", err)
	case <-e.Server.StopNotify():
		return errStopped
	case <-ctx.Done():
		return nil
	}
	log.Info("etcd ready", "name", cfg.Name, "after", time.Since(start).Round(time.Millisecond).String(),
		"leader", fmt.Sprintf("%x", uint64(e.Server.Leader())), "learner", e.Server.IsLearner())
	// A member removed while it was down learns so once its etcd runs, and etcd then
	// stops: promote and bootstrap, which retry until etcd answers, end with it.
	ectx, cancelEtcd := context.WithCancel(ctx)
	defer cancelEtcd()
	go func() {
		select {
		case <-e.Server.StopNotify():
			cancelEtcd()
		case <-ectx.Done():
		}
	}()
	m.promote(ectx)
	if err := m.bootstrap(ectx); err != nil {
		return err
	}
	select {
	case <-e.Server.StopNotify():
		return errStopped
	default:
	}
	// The loops stop before etcd closes (the deferred Close runs after this one).
	lctx, stopLoops := context.WithCancel(ctx)
	var loops sync.WaitGroup
	defer func() { stopLoops(); loops.Wait() }()
	loops.Go(func() { m.watchQuorum(lctx, quorumPoll) })
	loops.Go(func() { m.repart.run(lctx) })
	loops.Go(func() { m.ha.run(lctx) })
	loops.Go(func() { newRestartElection(m, cfg.RestartQuorumWait).run(lctx) })
	loops.Go(func() {
		fctx, cancel := context.WithTimeout(lctx, opTimeout)
		defer cancel()
		if err := m.applyFlag(fctx); err != nil {
			log.Warn("applying --partitions to the running grid failed", "err", err)
		}
		if err := m.applyHAFlag(fctx); err != nil {
			log.Warn("applying --ha to the running grid failed", "err", err)
		}
	})
	if cfg.AutoFailback {
		loops.Go(func() { newAutoFailback(m, cfg.FailbackDelay).run(lctx) })
	} else {
		log.Info("automatic failback is off (--auto-failback=false): use insight-grid failback to move partitions back to their preferred primaries")
	}
	select {
	case <-ctx.Done():
		log.Info("manager stopping", "name", cfg.Name)
		return nil
	case err := <-e.Err():
		return fmt.Errorf("embedded etcd: %w", err)
	case <-e.Server.StopNotify():
		return errStopped
	case err := <-httpErr:
		return err
	}
}

// errStopped is a member's etcd that stopped by itself: it was removed from the cluster.
var errStopped = errors.New("embedded etcd stopped: this member was removed from the managers' cluster " +
	"(its data directory belongs to a removed member; a member added again must start with an empty one)")

// startEtcd starts the embedded etcd member of cfg, with initial and state when it
// joins a running cluster (else those of cfg); it is ready after ReadyNotify.
func startEtcd(cfg Config, initial, state string) (*embed.Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = filepath.Join(cfg.DataDir, "etcd")
	ec.ListenClientUrls = []url.URL{cfg.hostURL(cfg.Bind, cfg.ClientPort)}
	ec.AdvertiseClientUrls = []url.URL{cfg.hostURL(cfg.AdvertiseHost, cfg.ClientPort)}
	ec.ListenPeerUrls = []url.URL{cfg.hostURL(cfg.Bind, cfg.PeerPort)}
	ec.AdvertisePeerUrls = []url.URL{cfg.hostURL(cfg.AdvertiseHost, cfg.PeerPort)}
	if cfg.etcdTLS() {
		// Mutual TLS on both ports: only holders of a certificate the CA signed (the
		// release's managers and data instances) are served. etcd reads the certificate
		// and key again at each handshake, the CA once at start. Peers are not checked
		// against their address (SANs), as the grid's other internal links.
		f := cfg.TLS.Files()
		info := transport.TLSInfo{CertFile: f.Cert, KeyFile: f.Key, TrustedCAFile: f.CA, ClientCertAuth: true}
		ec.ClientTLSInfo = info
		info.SkipClientSANVerify = true
		ec.PeerTLSInfo = info
	}
	ec.InitialCluster, _ = cfg.initialCluster()
	ec.InitialClusterToken = "insight-grid"
	ec.ClusterState = embed.ClusterStateFlagNew // ignored once the data dir holds a member
	if initial != "" {
		ec.InitialCluster, ec.ClusterState = initial, state
	}
	ec.TickMs = uint(cfg.Heartbeat / time.Millisecond)
	ec.ElectionMs = uint(cfg.Election / time.Millisecond)
	ec.MaxTxnOps = 16384 + 16 // the bootstrap writes one record per partition in one transaction
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "10m"
	// NewConfig leaves these zero, which makes etcd log every request as slow.
	ec.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	ec.WarningApplyDuration = embed.DefaultWarningApplyDuration
	ec.LogLevel = "warn"
	ec.LogOutputs = []string{"stderr"}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd (data %s, peers %s): %w", ec.Dir, ec.InitialCluster, err)
	}
	return e, nil
}

// bootstrap writes the partition map on first deploy, retrying while etcd settles.
func (m *Manager) bootstrap(ctx context.Context) error {
	for {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		pm, created, err := registry.Bootstrap(bctx, m.cli, m.cfg.Partitions, m.cfg.HA)
		cancel()
		switch {
		case err == nil && created:
			m.log.Info("partition map created", "partitions", len(pm.Partitions), "ha", pm.HA)
			return nil
		case err == nil:
			if len(pm.Partitions) != m.cfg.Partitions || pm.HA != m.cfg.HA {
				m.log.Warn("partition map already exists and differs from the flags; the map is kept (a raised --partitions re-partitions it, a changed --ha adds or removes the backups)",
					"mapPartitions", len(pm.Partitions), "mapHA", pm.HA, "flagPartitions", m.cfg.Partitions, "flagHA", m.cfg.HA)
			}
			return nil
		case ctx.Err() != nil:
			return nil
		}
		m.log.Warn("writing the partition map failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
