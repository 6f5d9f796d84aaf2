package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/sql/table"
)

// NoFilesDir is secure_file_priv: a directory that does not exist, so no statement
// reaches the endpoint's files.
const NoFilesDir = "/nonexistent/insight-sql-has-no-files"

// Config is one SQL endpoint.
type Config struct {
	Listen         string   // MySQL protocol, host:port
	HTTPListen     string   // /healthz, /readyz, /metrics
	Grid           []string // seeds: host:port of grid data instances
	User           string   // the MySQL user
	Password       string   // the grid's password: AUTH to the grid, and the user's
	MaxResultRows  int64
	MaxResultBytes int64
	MaxExecution   time.Duration
	Pprof          bool // serve /debug/pprof/ on the HTTP port
	Version        string
	Logger         *slog.Logger
	// TLS, when set: with a certificate, MySQL clients may switch to TLS (they must
	// with RequireSecureTransport); with GridTLS, the grid is dialled over TLS, the CA
	// verifying the grid's certificates (Grid then names the grid's TLS ports).
	TLS                    *tlsconf.Source
	GridTLS                bool
	RequireSecureTransport bool
}

// Server is a running endpoint.
type Server struct {
	cfg      Config
	rdb      *redis.ClusterClient
	provider *table.Provider // its pools to the primaries close with the endpoint
	mysql    *gms.Server
	http     *http.Server
	httpLn   net.Listener
	metrics  *metrics
}

// New builds the endpoint and binds its listeners.
func New(cfg Config) (*Server, error) {
	opts := &redis.ClusterOptions{
		Addrs:    cfg.Grid,
		Password: cfg.Password,
		// Reads go to primaries only (no ReadOnly routing), and a query that runs into
		// a failover waits out the grid's takeover a few times.
		MaxRedirects: 8,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 30 * time.Second,
	}
	if cfg.TLS != nil && cfg.GridTLS {
		// The grid's TLS ports redirect a TLS client to TLS ports (MOVED, CLUSTER SLOTS),
		// at pod addresses no certificate names: the chain is verified, not the host, as
		// the grid's own links do.
		opts.TLSConfig = cfg.TLS.InternalClientConfig()
	}
	rdb := redis.NewClusterClient(opts)
	provider := table.NewProvider(rdb)
	// A GROUP BY of a whole table runs on the grid's primaries (table.Aggregate).
	engine := sqle.New(analyzer.NewBuilder(provider).AddPostValidationRule(table.AggregatePushdownID, table.PushDownAggregates).Build(), nil)
	// No statement reads or writes the endpoint's own files (LOAD_FILE, LOAD DATA INFILE
	// without LOCAL, SELECT ... INTO OUTFILE): they are confined to a directory that
	// does not exist. LOAD DATA LOCAL INFILE, which reads the client's file, still works.
	if err := sql.SystemVariables.AssignValues(map[string]any{"secure_file_priv": NoFilesDir}); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("confining file access: %w", err)
	}
	db := engine.Analyzer.Catalog.MySQLDb
	ed := db.Editor()
	db.AddSuperUser(ed, cfg.User, "%", cfg.Password)
	ed.Close()

	m := newMetrics()
	sess := &sessions{}
	builder := func(_ context.Context, conn *mysql.Conn, addr string) (sql.Session, error) {
		host, user := "", ""
		if u, ok := conn.UserData.(sql.MysqlConnectionUser); ok {
			host, user = u.Host, u.User
		}
		s := sql.NewBaseSessionWithClientServer(addr, sql.Client{Address: host, User: user, Capabilities: conn.Capabilities}, conn.ConnectionID)
		// A client that names no database gets the one there is.
		s.SetCurrentDatabase(table.DatabaseName)
		sess.add(conn.ConnectionID, s)
		return s, nil
	}
	lim := limits{maxRows: cfg.MaxResultRows, maxBytes: cfg.MaxResultBytes, maxExecution: cfg.MaxExecution}
	wrap := func(h mysql.Handler) (mysql.Handler, error) {
		wh := &handler{Handler: h, lim: lim, m: m, sessions: sess}
		if gh, ok := h.(*gms.Handler); ok {
			wh.plans = &plans{engine: engine, gh: gh, db: provider.DB(), sessions: sess, reused: m.reused, points: m.points}
			wh.explain = &explainer{gh: gh, sessions: sess}
		}
		return wh, nil
	}
	ln, err := listenClients(cfg.Listen)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	gc := gms.Config{Protocol: "tcp", Address: cfg.Listen, Listener: ln, Version: "8.0.33-insight-" + cfg.Version,
		ProtocolListenerFactory: secureTransportListener(cfg.RequireSecureTransport)}
	if cfg.TLS != nil && cfg.TLS.HasCert() {
		gc.TLSConfig = cfg.TLS.ServerConfig(tlsconf.AuthOptional)
	}
	ms, err := gms.NewServerWithHandler(gc,
		engine, sql.NewContext, builder, m, wrap)
	if err != nil {
		_ = ln.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	hl, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		_ = ms.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("--http-listen %s: %w", cfg.HTTPListen, err)
	}
	s := &Server{cfg: cfg, rdb: rdb, provider: provider, mysql: ms, httpLn: hl, metrics: m}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Addr is where the MySQL protocol listens.
func (s *Server) Addr() net.Addr { return s.mysql.Listener.Addr() }

// HTTPAddr is where the HTTP endpoints listen.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.mysql.Start() }()
	go func() { errc <- s.http.Serve(s.httpLn) }()
	s.cfg.Logger.Info("serving", "mysql", s.Addr().String(), "http", s.HTTPAddr().String(), "grid", s.cfg.Grid, "user", s.cfg.User,
		"tls", s.cfg.TLS != nil && s.cfg.TLS.HasCert(), "grid_tls", s.cfg.TLS != nil && s.cfg.GridTLS, "require_secure_transport", s.cfg.RequireSecureTransport)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(shut)
	_ = s.mysql.Close()
	if perr := s.provider.Close(); perr != nil {
		s.cfg.Logger.Warn("closing the connections to the grid's primaries", "err", perr)
	}
	_ = s.rdb.Close()
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// ready reports whether the grid answers and its partition map covers every slot.
func (s *Server) ready(ctx context.Context) error {
	ss, err := s.rdb.ClusterSlots(ctx).Result() //nolint:staticcheck // the grid serves CLUSTER SLOTS; it has no CLUSTER SHARDS
	if err != nil {
		return fmt.Errorf("the grid does not answer CLUSTER SLOTS: %w", err)
	}
	covered := 0
	for _, r := range ss {
		if len(r.Nodes) > 0 {
			covered += r.End - r.Start + 1
		}
	}
	if covered != slots.Count {
		return fmt.Errorf("the grid's partition map covers %d of %d slots", covered, slots.Count)
	}
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}
