// Package data runs one partition instance: the keyspace, the RESP server, the HTTP
// probes and metrics, and the control-plane loop that registers the instance in etcd and
// turns every change of the cluster state into a new routing view for the server. The
// etcd client is used only here, off the per-command path.
package data

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/server"
	"github.com/insightgrid/insight/grid/store"
)

// Config is a data instance's configuration.
type Config struct {
	Partition, Instance int
	EtcdEndpoints       []string
	Bind                string
	AdvertiseHost       string
	Port, HTTPPort      int
	RequirePass         string
	MaxMemory           int64 // 0: no limit
	ProtoMaxBulkLen     int64
	LeaseTTL            time.Duration
	Pprof               bool // serve /debug/pprof/ on the HTTP port
	Version             string
	Logger              *slog.Logger
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
	}{{"--port", c.Port}, {"--http-port", c.HTTPPort}} {
		if p.v < 1 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s %d: must be between 1 and 65535", p.flag, p.v))
		}
	}
	if c.AdvertiseHost == "" {
		errs = append(errs, errors.New("--advertise-host is empty: give the address clients reach this instance at"))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("--lease-ttl %s: must be at least 1s", c.LeaseTTL))
	}
	if c.ProtoMaxBulkLen < 1<<20 {
		errs = append(errs, fmt.Errorf("--proto-max-bulk-len %d: must be at least 1mb (1048576)", c.ProtoMaxBulkLen))
	}
	return errors.Join(errs...)
}

// instance is the running state the HTTP endpoints read.
type instance struct {
	cfg   Config
	id    string
	srv   *server.Server
	store *store.Store

	mu         sync.Mutex
	registered bool
	why        string // why not ready, for /readyz
}

// status reports readiness: registered in etcd and placed in the partition map as this
// partition's primary, or as its backup (which, until replication exists, serves nothing
// but redirects).
func (in *instance) status() cluster.InstanceStatus {
	in.mu.Lock()
	registered := in.registered
	in.mu.Unlock()
	st := cluster.InstanceStatus{Keys: in.store.Keys(), UsedMemoryBytes: in.store.UsedMemory()}
	v := in.srv.View()
	switch {
	case !registered:
		in.setWhy("not registered in etcd")
	case v == nil:
		in.setWhy("no partition map received yet")
	case in.cfg.Partition >= len(v.Partitions):
		in.setWhy(fmt.Sprintf("partition %d is not in the partition map (%d partitions)", in.cfg.Partition, len(v.Partitions)))
	default:
		p := v.Partitions[in.cfg.Partition]
		switch in.id {
		case p.Record.Primary:
			st.Role, st.Ready = cluster.RolePrimary, true
		case p.Record.Backup:
			st.Role, st.Ready = cluster.RoleBackup, true
		default:
			in.setWhy(fmt.Sprintf("instance %s is neither primary (%s) nor backup (%q) of partition %d", in.id, p.Record.Primary, p.Record.Backup, p.ID))
		}
	}
	return st
}

func (in *instance) setWhy(s string) {
	in.mu.Lock()
	in.why = s
	in.mu.Unlock()
}

func (in *instance) routes(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if st := in.status(); !st.Ready {
			in.mu.Lock()
			why := in.why
			in.mu.Unlock()
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(in.status())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	role := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "insight_grid_role", Help: "1 for the role this instance has now (primary or backup), 0 otherwise.",
	}, []string{"role"})
	reg.MustRegister(role)
	srv, err := server.New(server.Config{
		RequirePass: cfg.RequirePass, MaxMemory: cfg.MaxMemory, ProtoMaxBulkLen: cfg.ProtoMaxBulkLen,
		Partition: cfg.Partition, Instance: cfg.Instance, Version: cfg.Version, Logger: log,
	}, in.store, reg)
	if err != nil {
		return err
	}
	in.srv = srv

	respLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("RESP listener (--port %d): %w", cfg.Port, err)
	}
	httpLn, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(cfg.HTTPPort)))
	if err != nil {
		respLn.Close()
		return fmt.Errorf("HTTP listener (--http-port %d): %w", cfg.HTTPPort, err)
	}
	hs := &http.Server{Handler: in.routes(reg), ReadHeaderTimeout: 5 * time.Second}

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.EtcdEndpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		respLn.Close()
		httpLn.Close()
		return fmt.Errorf("etcd client for %v: %w", cfg.EtcdEndpoints, err)
	}
	defer cli.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); in.store.RunExpiry(ctx) }()
	go func() {
		defer wg.Done()
		if err := srv.Serve(respLn); err != nil {
			errc <- fmt.Errorf("RESP server: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := hs.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("HTTP server: %w", err)
		}
	}()
	self := cluster.Instance{
		ID: in.id, Partition: cfg.Partition, Instance: cfg.Instance,
		Address:     net.JoinHostPort(cfg.AdvertiseHost, strconv.Itoa(cfg.Port)),
		HTTPAddress: net.JoinHostPort(cfg.AdvertiseHost, strconv.Itoa(cfg.HTTPPort)),
		Version:     cfg.Version, StartedAt: time.Now().UTC().Format(time.RFC3339),
	}
	go func() {
		defer wg.Done()
		_ = registry.Watch(ctx, cli, log, func(st *cluster.State) {
			v, err := cluster.BuildView(st, in.id)
			if err != nil {
				log.Warn("cluster state not usable yet", "err", err)
				return
			}
			prev := srv.View()
			srv.SetView(v)
			if n := v.SelfNode(); n != nil {
				for _, r := range []string{cluster.RolePrimary, cluster.RoleBackup} {
					val := 0.0
					if n.Role == r {
						val = 1
					}
					role.WithLabelValues(r).Set(val)
				}
			}
			if prev == nil {
				log.Info("routing view received", "partitions", len(v.Partitions), "nodes", len(v.Nodes), "revision", st.Revision)
			}
		})
	}()
	regDone := make(chan struct{})
	go func() {
		defer close(regDone)
		registry.Register(ctx, cli, self, cfg.LeaseTTL, log, func(ok bool) {
			in.mu.Lock()
			in.registered = ok
			in.mu.Unlock()
		})
	}()
	log.Info("data instance started", "resp", respLn.Addr().String(), "http", httpLn.Addr().String(),
		"advertise", self.Address, "etcd", cfg.EtcdEndpoints, "maxmemory", cfg.MaxMemory)

	var runErr error
	select {
	case <-ctx.Done():
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
	wg.Wait()
	log.Info("data instance stopped")
	return runErr
}
