// Package data runs one partition instance: the keyspace, the RESP server, the HTTP
// probes and admin endpoints, the metrics port, and the control-plane loop that registers the instance in etcd and
// turns every change of the cluster state into a new routing view for the server. The
// etcd client is used only here, off the per-command path.
package data

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/insightgrid/insight/grid/backup"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/internal/metricsport"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/memlimit"
	"github.com/insightgrid/insight/grid/migrate"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/repl"
	"github.com/insightgrid/insight/grid/server"
	"github.com/insightgrid/insight/grid/store"
	"github.com/insightgrid/insight/grid/wan"
)

// memorySampleInterval is how often the runtime's memory is recorded against maxmemory
// and the runtime's soft limit adjusted to what the data leaves, while memory grows (the
// watcher samples less often while it stays put).
const memorySampleInterval = 20 * time.Millisecond

// Config is a data instance's configuration.
type Config struct {
	Partition, Instance int
	EtcdEndpoints       []string
	Bind                string
	AdvertiseHost       string
	NodeName, Zone      string // where the instance runs, registered for the manager's topology view; "": not known
	Port, HTTPPort      int
	MetricsPort         int // plain HTTP, GET /metrics only; 0: none
	RequirePass         string
	ACLFile             string // --aclfile: ACL users written to etcd at start and when it changes
	MaxMemory           int64  // 0: no limit
	MaxMemoryCeiling    int64  // the most maxmemory may be (what the memory limit leaves); 0: none
	MaxMemoryPolicy     store.Policy
	ProtoMaxBulkLen     int64
	QueryBufferBudget   int64 // what large commands' read buffers may hold together; 0: no bound
	LeaseTTL            time.Duration
	ReplTimeout         time.Duration // how long a primary waits for its backup before going on alone
	ReplBacklog         int64         // bytes of the redo ring a reconnecting backup continues from
	Pprof               bool          // serve /debug/pprof/ on the HTTP port
	Version             string
	Logger              *slog.Logger

	// NotifyKeyspaceEvents is notify-keyspace-events at start ("": no keyspace notifications).
	NotifyKeyspaceEvents string

	// OperatorToken guards the HTTP port's mutating endpoints (POST /v1/handover); nil:
	// open.
	OperatorToken *opauth.Source

	// TLS is the certificate, key and CA (nil: no TLS). With it the internal links
	// (replication, SLOTIMPORT, pub/sub forwarding) run over mutual TLS on ReplPort, the
	// RESP TLS port TLSPort is served when given, and the HTTP port over TLS when HTTPTLS.
	TLS *tlsconf.Source
	// TLSPort is RESP over TLS (0: none); with it Port may be 0 (no plain RESP).
	TLSPort int
	// TLSAuthClients is what TLSPort asks of a client's certificate.
	TLSAuthClients tlsconf.ClientAuth
	// ReplPort is the internal links' port, mutual TLS (required with TLS).
	ReplPort int
	// HTTPTLS serves the HTTP port over TLS (client certificates verified when given).
	HTTPTLS bool
	// EtcdTLS dials the managers' etcd over mutual TLS.
	EtcdTLS bool

	// DataDir keeps the partition on the instance's volume: a journal of every change
	// and snapshots compacting it, loaded at start (package persist). Empty: the data
	// lives only in memory.
	DataDir string
	// AppendFsync is when the journal is fsynced (Redis's appendfsync).
	AppendFsync persist.Fsync
	// RewritePercentage and RewriteMinSize trigger a snapshot (Redis's
	// auto-aof-rewrite-percentage and auto-aof-rewrite-min-size).
	RewritePercentage int
	RewriteMinSize    int64

	// WAN turns WAN replication on (nil: off): the instance keeps per-key conflict
	// metadata and its partition's outbox, and serves /v1/wan/* to the site's gateway.
	// With DataDir the metadata and the targets' watermarks are journaled and
	// snapshotted with the data, so the outbox survives a restart. Its Store is set by Run.
	WAN *wan.Config
	// TieringDir keeps the values of cold keys on the instance's volume once used memory
	// passes MaxMemory (package tier), instead of refusing writes or evicting. Empty: off.
	// A cache, not durability: emptied at start, rebuilt from the journal.
	TieringDir string
	// TieringMaxDisk bounds the bytes of keys and values on disk: past it, writes that
	// need room get -OOM. 0: no bound.
	TieringMaxDisk int64
}

// topologyName checks a node name or zone: empty, or at most limit printable characters
// without spaces (Kubernetes' node names have at most 253, label values 63).
func topologyName(v string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%d characters: must be at most %d", len(v), limit)
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return errors.New("must not hold spaces or control characters")
		}
	}
	return nil
}

// Validate checks the configuration without side effects.
func (c *Config) Validate() error {
	var errs []error
	if c.Partition < 0 || c.Partition > 16383 {
		errs = append(errs, fmt.Errorf("--partition %d: must be between 0 and 16383", c.Partition))
	}
	if c.Instance < 0 || c.Instance > 1 {
		errs = append(errs, fmt.Errorf("--instance %d: must be 0 (preferred primary) or 1 (backup)", c.Instance))
	}
	if len(c.EtcdEndpoints) == 0 {
		errs = append(errs, errors.New("--etcd-endpoints is empty: give the managers' etcd client addresses as host:port[,host:port]"))
	}
	for _, ep := range c.EtcdEndpoints {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			errs = append(errs, fmt.Errorf("--etcd-endpoints entry %q: want host:port", ep))
		}
	}
	for _, p := range []struct {
		flag string
		v    int
	}{{"--port", c.Port}, {"--http-port", c.HTTPPort}, {"--metrics-port", c.MetricsPort}, {"--tls-port", c.TLSPort}, {"--repl-port", c.ReplPort}} {
		if p.v < 0 || p.v > 65535 || p.v == 0 && p.flag == "--http-port" {
			errs = append(errs, fmt.Errorf("%s %d: must be between 1 and 65535", p.flag, p.v))
		}
	}
	errs = append(errs, metricsport.Distinct(c.MetricsPort, map[string]int{"--port": c.Port, "--http-port": c.HTTPPort, "--tls-port": c.TLSPort, "--repl-port": c.ReplPort})...)
	errs = append(errs, c.validateTLS()...)
	errs = append(errs, c.validateTiering()...)
	if c.ACLFile != "" {
		if _, err := os.Stat(c.ACLFile); err != nil {
			errs = append(errs, fmt.Errorf("--aclfile: %w (give a file of 'user <name> <rules>' lines, Redis's ACL file format)", err))
		}
	}
	if c.RewritePercentage < 0 {
		errs = append(errs, fmt.Errorf("--auto-aof-rewrite-percentage %d: must be 0 (no snapshots: the journal grows without bound) or positive", c.RewritePercentage))
	}
	if c.RewriteMinSize < 0 {
		errs = append(errs, fmt.Errorf("--auto-aof-rewrite-min-size %d: must not be negative", c.RewriteMinSize))
	}
	if err := topologyName(c.NodeName, 253); err != nil {
		errs = append(errs, fmt.Errorf("--node-name %q: %w", c.NodeName, err))
	}
	if err := topologyName(c.Zone, 63); err != nil {
		errs = append(errs, fmt.Errorf("--zone %q: %w", c.Zone, err))
	}
	if c.AdvertiseHost == "" {
		errs = append(errs, errors.New("--advertise-host is empty: give the address clients reach this instance at"))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("--lease-ttl %s: must be at least 1s", c.LeaseTTL))
	}
	if c.ReplTimeout < 50*time.Millisecond || c.ReplTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("--repl-timeout %s: must be between 50ms and 1m", c.ReplTimeout))
	}
	if c.ReplBacklog < 1<<20 || c.ReplBacklog > 1<<40 {
		errs = append(errs, fmt.Errorf("--repl-backlog-size %d: must be between 1mb and 1tb", c.ReplBacklog))
	}
	if c.MaxMemoryCeiling > 0 && (c.MaxMemory == 0 || c.MaxMemory > c.MaxMemoryCeiling) {
		errs = append(errs, fmt.Errorf("--maxmemory %d: must be between 1 and %d, what the memory limit leaves besides the runtime (0, no limit, only without a memory limit)", c.MaxMemory, c.MaxMemoryCeiling))
	}
	if c.ProtoMaxBulkLen < 1<<20 {
		errs = append(errs, fmt.Errorf("--proto-max-bulk-len %d: must be at least 1mb (1048576)", c.ProtoMaxBulkLen))
	}
	if c.WAN != nil {
		if err := c.WAN.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validateTLS checks the ports that depend on TLS.
func (c *Config) validateTLS() []error {
	var errs []error
	if c.TLS == nil {
		for _, p := range []struct {
			flag string
			v    int
		}{{"--tls-port", c.TLSPort}, {"--repl-port", c.ReplPort}} {
			if p.v != 0 {
				errs = append(errs, fmt.Errorf("%s %d needs TLS: give --%s, --%s and --%s", p.flag, p.v, tlsconf.FlagCert, tlsconf.FlagKey, tlsconf.FlagCA))
			}
		}
		if c.Port == 0 {
			errs = append(errs, errors.New("--port 0 (no plain RESP port) needs --tls-port: clients must reach the instance somewhere"))
		}
		return errs
	}
	if !c.TLS.HasCert() {
		errs = append(errs, fmt.Errorf("--%s and --%s are empty: a data instance serves TLS, it needs its certificate and key", tlsconf.FlagCert, tlsconf.FlagKey))
	}
	if c.ReplPort == 0 {
		errs = append(errs, errors.New("--repl-port is 0: with TLS the internal links (replication, SLOTIMPORT, pub/sub forwarding) need a port of their own, e.g. 6380"))
	}
	if c.Port == 0 && c.TLSPort == 0 {
		errs = append(errs, errors.New("--port 0 (no plain RESP port) needs --tls-port: clients must reach the instance somewhere"))
	}
	if _, err := tlsconf.ParseClientAuth(string(c.TLSAuthClients)); err != nil && c.TLSPort != 0 {
		errs = append(errs, fmt.Errorf("--tls-auth-clients %w", err))
	}
	return errs
}

// instance is the running state the HTTP endpoints read.
type instance struct {
	cfg   Config
	id    string
	srv   *server.Server
	store *store.Store
	node  *repl.Node
	mover *migrate.Mover
	disk  *persist.Journal // nil without --data-dir
	// loaded is what the data directory held at start (registered for the manager's
	// restart election); nil without --data-dir.
	loaded *cluster.DiskState
	wan    *wan.Tracker // nil without --wan-site

	mu         sync.Mutex
	registered bool
}

// status reports the instance's role and readiness: registered in etcd, and either the
// serving primary of its partition or its in-sync backup.
func (in *instance) status() cluster.InstanceStatus {
	in.mu.Lock()
	registered := in.registered
	in.mu.Unlock()
	st := in.node.Status()
	st.Keys, st.UsedMemoryBytes = in.store.Keys(), in.store.UsedMemory()
	if v := in.srv.View(); v != nil {
		st.MapVersion, st.RoutedSlots = v.Version, v.RoutedSlots()
	}
	st.Migration = in.mover.Status()
	if in.disk != nil {
		st.Persistence = in.disk.Status()
		st.Persistence.Loaded = in.loaded
	}
	if !registered {
		st.Ready, st.Why = false, "not registered in etcd"
	}
	if !st.Ready && st.Why == "" {
		st.Why = "not in sync with the primary yet"
	}
	return st
}

func (in *instance) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if st := in.status(); !st.Ready {
			http.Error(w, "not ready: "+st.Why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("POST /v1/handover", in.handover)
	in.wanRoutes(mux)
	(&backup.Instance{Partition: in.cfg.Partition, Store: in.store, Repl: in.node, View: in.srv.View, Functions: in.srv}).Register(mux)
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(in.status())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, metricsport.Moved("--metrics-port", in.cfg.MetricsPort), http.StatusNotFound)
	})
	if in.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Run serves the instance until ctx ends, then deregisters and closes every connection.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	in := &instance{cfg: cfg, id: cluster.InstanceID(cfg.Partition, cfg.Instance), store: store.New(cfg.ProtoMaxBulkLen)}
	run := repl.NewRun()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var etcdTLS *tls.Config
	if cfg.TLS != nil && cfg.EtcdTLS {
		etcdTLS = cfg.TLS.InternalClientConfig()
	}
	cli, err := clientv3.New(clientv3.Config{
		TLS:         etcdTLS,
		Endpoints:   cfg.EtcdEndpoints,
		DialTimeout: 5 * time.Second,
		// The managers' cluster can grow or shrink while the instance runs: follow its
		// voting members' client URLs rather than the addresses it started with.
		AutoSyncInterval: 30 * time.Second,
		Logger:           zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("etcd client for %v: %w", cfg.EtcdEndpoints, err)
	}
	defer cli.Close()
	var internalTLS *tls.Config // the client side of the internal links; nil: plain
	if cfg.TLS != nil {
		internalTLS = cfg.TLS.InternalClientConfig()
	}
	rcfg := repl.Config{
		Partition: cfg.Partition, Instance: cfg.Instance, ReplTimeout: cfg.ReplTimeout,
		BacklogBytes: int(cfg.ReplBacklog), Password: cfg.RequirePass, Store: in.store,
		Coord: etcdCoord{kv: cli}, Logger: log, TLS: internalTLS,
	}
	if cfg.TieringDir != "" {
		t, err := in.openTier(cfg)
		if err != nil {
			return err
		}
		defer func() {
			if err := in.closeTier(t); err != nil {
				log.Warn("closing tiered storage", "err", err)
			}
		}()
	}
	if cfg.WAN != nil {
		// Before the data directory is loaded: its WAN metadata is replayed into it.
		wc := *cfg.WAN
		wc.Store = in.store
		in.wan = wan.NewTracker(wc)
		rcfg.WAN = in.wan
		registerWANMetrics(reg, in.wan)
	}
	if cfg.DataDir != "" {
		// Loaded before anything is served or registered: the instance then registers
		// with its data, and the replication node continues from its position.
		rec, err := in.openDisk(cfg)
		if err != nil {
			return err
		}
		rcfg.Disk, rcfg.RecoveredEpoch, rcfg.RecoveredSeq = in.disk, int64(rec.Epoch), rec.Seq
		in.loaded = &cluster.DiskState{Position: cluster.Position{Epoch: int64(rec.Epoch), Seq: rec.Seq}, Keys: rec.Keys, Recovering: rec.SyncInterrupted}
		registerDiskMetrics(reg, in.disk)
	}
	in.node = repl.New(rcfg, run)
	registerReplMetrics(reg, in.node)
	var replication server.Replication = in.node
	if in.wan != nil {
		replication = wanReplication{Replication: in.node, t: in.wan}
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "insight_grid_ready", Help: "1 while this instance's readiness probe (/readyz) passes."},
		func() float64 { return b2f(in.status().Ready) }))
	srv, err := server.New(server.Config{
		RequirePass: cfg.RequirePass, MaxMemory: cfg.MaxMemory, MaxMemoryCeiling: cfg.MaxMemoryCeiling, ProtoMaxBulkLen: cfg.ProtoMaxBulkLen,
		MaxMemoryPolicy:   cfg.MaxMemoryPolicy,
		QueryBufferBudget: cfg.QueryBufferBudget,
		Partition:         cfg.Partition, Instance: cfg.Instance, Version: cfg.Version, Logger: log,
		Replication: replication, NotifyKeyspaceEvents: cfg.NotifyKeyspaceEvents,
		InternalPort: cfg.ReplPort != 0, InternalTLS: internalTLS,
	}, in.store, reg)
	if err != nil {
		return err
	}
	in.srv = srv
	var moverServer migrate.Server = srv
	if in.wan != nil {
		moverServer = wanMover{Server: srv, t: in.wan}
	}
	in.mover = migrate.New(migrate.Config{Partition: cfg.Partition, Store: in.store, Server: moverServer, Repl: in.node,
		Password: cfg.RequirePass, Logger: log, TLS: internalTLS})

	lns, err := listen(cfg)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: opauth.Guard(cfg.OperatorToken, log, in.routes()), ReadHeaderTimeout: 5 * time.Second}
	ms := metricsport.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	// The instance's own goroutines outlive ctx until the graceful handover is done.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	errc := make(chan error, 6) // one per port and the journal, so no sender blocks on a second error
	// The journal stops last, after every writer: its final flush and fsync then hold
	// every change made.
	diskDone := make(chan error, 1)
	diskCtx, diskCancel := context.WithCancel(context.Background())
	defer diskCancel()
	if in.disk != nil {
		go func() {
			err := in.disk.Run(diskCtx)
			diskDone <- err
			if err != nil && diskCtx.Err() == nil {
				errc <- fmt.Errorf("the journal in %s: %w", cfg.DataDir, err)
			}
		}()
	} else {
		diskDone <- nil
	}
	var wg sync.WaitGroup
	wg.Add(6)
	go func() { defer wg.Done(); in.store.RunExpiry(runCtx) }()
	go func() { defer wg.Done(); memlimit.Watch(runCtx, in.store, memorySampleInterval) }()
	go func() { defer wg.Done(); in.mover.Run(runCtx) }()
	go func() { defer wg.Done(); in.node.Run(runCtx) }()
	if in.wan != nil {
		wg.Add(1)
		go func() { defer wg.Done(); collectTombstones(runCtx, in.wan, time.Minute) }()
		// Writers held by a full outbox are let go when the instance stops.
		go func() { <-ctx.Done(); in.wan.Close() }()
	}
	startACL(runCtx, &wg, cli, srv, cfg.ACLFile, log)
	lns.serve(&wg, errc, srv, hs, ms)
	self := cluster.Instance{
		ID: in.id, Partition: cfg.Partition, Instance: cfg.Instance,
		HTTPAddress: net.JoinHostPort(cfg.AdvertiseHost, strconv.Itoa(cfg.HTTPPort)),
		Node:        cfg.NodeName, Zone: cfg.Zone, Version: cfg.Version, StartedAt: time.Now().UTC().Format(time.RFC3339), Run: run,
		Disk: in.loaded,
	}
	advertise(&self, cfg)
	// The replication node gets every state at once; the routing view is built from the
	// newest state by its own goroutine, so a burst of changes (many partitions failing
	// over, registrations coming back) costs one view, not one per change, in each of the
	// grid's instances.
	var newest atomic.Pointer[cluster.State]
	stateChanged := make(chan struct{}, 1)
	go func() {
		defer wg.Done()
		_ = registry.Watch(runCtx, cli, log, func(st *cluster.State) {
			in.node.SetState(st)
			newest.Store(st)
			select {
			case stateChanged <- struct{}{}:
			default:
			}
		})
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-stateChanged:
			}
			st := newest.Load()
			prev := srv.View()
			v, err := cluster.BuildViewAfter(st, in.id, prev)
			if err != nil {
				log.Warn("cluster state not usable yet", "err", err)
				continue
			}
			srv.SetView(v)
			in.mover.Poke()
			if prev == nil {
				log.Info("routing view received", "partitions", len(v.Partitions), "nodes", len(v.Nodes), "revision", st.Revision)
			}
		}
	}()
	regDone := make(chan struct{})
	go func() {
		defer close(regDone)
		registry.Register(runCtx, cli, self, cfg.LeaseTTL, log, func(ok bool) {
			in.mu.Lock()
			in.registered = ok
			in.mu.Unlock()
		})
	}()
	log.Info("data instance started", "resp", lns.addr(lns.resp), "tls", lns.addr(lns.tls), "repl", lns.addr(lns.repl),
		"http", lns.addr(lns.http), "metrics", lns.addr(lns.metrics), "httpTLS", cfg.HTTPTLS && cfg.TLS != nil, "advertise", self.Address, "etcd", cfg.EtcdEndpoints, "maxmemory", cfg.MaxMemory, "run", run)

	var runErr error
	select {
	case <-ctx.Done():
		// A primary hands its partition to the in-sync backup, a backup says goodbye,
		// before anything stops.
		hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
		in.node.Stop(hctx)
		hcancel()
	case runErr = <-errc:
	}
	cancel()
	<-regDone // deregistered first, so clients stop being sent here
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Close(sctx); err != nil {
		log.Warn("closing client connections", "err", err)
	}
	_ = hs.Shutdown(sctx)
	_ = ms.Shutdown(sctx)
	wg.Wait()
	diskCancel()
	if err := <-diskDone; err != nil && runErr == nil {
		runErr = fmt.Errorf("the journal in %s: %w", cfg.DataDir, err)
	}
	log.Info("data instance stopped")
	return runErr
}

// registerReplMetrics exports the node's role, epoch, offsets and promotions, read at each
// scrape.
func registerReplMetrics(reg prometheus.Registerer, node *repl.Node) {
	for _, r := range []string{cluster.RolePrimary, cluster.RoleBackup} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "insight_grid_role", Help: "1 for the role this instance has now (primary or backup), 0 otherwise.",
			ConstLabels: prometheus.Labels{"role": r},
		}, func() float64 { return b2f(node.Role() == r) }))
	}
	gauges := []struct {
		name, help string
		f          func(cluster.InstanceStatus) float64
	}{
		{"insight_grid_epoch", "Epoch of the partition record this instance acts on.", func(s cluster.InstanceStatus) float64 { return float64(s.Epoch) }},
		{"insight_grid_repl_offset", "Last replication sequence produced (primary) or applied (backup) here.", func(s cluster.InstanceStatus) float64 { return float64(s.Offset) }},
		{"insight_grid_repl_acked_offset", "Last replication sequence the backup acknowledged to this primary.", func(s cluster.InstanceStatus) float64 { return float64(s.AckedOffset) }},
		{"insight_grid_repl_lag_ops", "Changes the backup has not acknowledged yet (primary).", func(s cluster.InstanceStatus) float64 { return float64(s.LagOps) }},
		{"insight_grid_repl_in_sync", "1 when the partition record says the backup is in sync.", func(s cluster.InstanceStatus) float64 { return b2f(s.InSync) }},
		{"insight_grid_serving", "1 while this instance serves its partition as primary.", func(s cluster.InstanceStatus) float64 { return b2f(s.Serving) }},
	}
	for _, g := range gauges {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help},
			func() float64 { return g.f(node.Status()) }))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_promotions_total",
		Help: "Times this instance took over its partition from a failed primary (automatic failover); planned handovers are not counted."},
		func() float64 { return float64(node.Promotions()) }))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// handover serves POST /v1/handover {"to": "p0-i1", "epoch": 3}: a planned switch-over of
// this primary's partition to its in-sync backup.
func (in *instance) handover(w http.ResponseWriter, r *http.Request) {
	var req struct {
		To    string `json:"to"`
		Epoch int64  `json:"epoch"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "request body: %v; want {\"to\": \"pP-iI\", \"epoch\": N}", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	res, err := in.node.Handover(ctx, req.To, req.Epoch, false)
	switch {
	case errors.Is(err, repl.ErrHandover):
		httpjson.Error(w, http.StatusConflict, "Conflict", "%v", err)
	case err != nil:
		httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "%v", err)
	default:
		httpjson.Write(w, http.StatusOK, res)
	}
}

// etcdCoord writes partition records in etcd for the replication node.
type etcdCoord struct{ kv clientv3.KV }

func (e etcdCoord) CASRecord(ctx context.Context, p int, rev int64, rec cluster.Record) (int64, error) {
	r, err := registry.CASRecord(ctx, e.kv, p, rev, rec)
	if errors.Is(err, registry.ErrConflict) {
		return 0, fmt.Errorf("%w: %w", repl.ErrConflict, err)
	}
	return r, err
}
