// Command insight-grid is the Insight grid server: one static binary whose subcommands
// are its roles — manager (embedded etcd, partition map, REST API), data (one partition
// instance speaking the Redis Cluster protocol), local (a whole grid as processes on
// loopback), check (an in-cluster write test client) and version. Every flag can also come from INSIGHT_<FLAG_IN_UPPER_SNAKE>.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/insightgrid/insight/grid/config"
	"github.com/insightgrid/insight/grid/data"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/local"
	"github.com/insightgrid/insight/grid/manager"
	"github.com/insightgrid/insight/grid/memlimit"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/resp"
	"github.com/insightgrid/insight/grid/server"
	"github.com/insightgrid/insight/grid/store"
	"github.com/insightgrid/insight/grid/version"
)

const usage = `insight-grid %s — the Insight in-memory data grid server

Usage:
  insight-grid manager [flags]   embedded etcd member, partition map and REST manager API
  insight-grid data [flags]      one partition instance (Redis Cluster protocol)
  insight-grid local [flags]     a whole grid as processes on loopback, for development and tests
  insight-grid check [flags]     write unique keys for a while, read them back, print the figures as JSON
                                 (what insightctl check runs as a Job)
  insight-grid failover|failback|reset|repartition --manager URL ...
                                 switch partitions over, back to their preferred primaries, reset one, or
                                 change the number of partitions
  insight-grid version           print the version

Run "insight-grid <role> -h" for the flags of a role. Every flag --some-name can also be
set with the environment variable INSIGHT_SOME_NAME; a flag on the command line wins.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stderr, usage, version.Version)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, version.Version)
		return 0
	case "manager":
		err = runManager(ctx, args[1:], stderr, getenv)
	case "data":
		err = runData(ctx, args[1:], stderr, getenv)
	case "local":
		err = runLocal(ctx, args[1:], stdout, stderr, getenv)
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr, getenv)
	case "failover", "failback", "reset", "repartition":
		return runAdmin(ctx, args[0], args[1:], stdout, stderr, getenv)
	default:
		fmt.Fprintf(stderr, "insight-grid: unknown role %q: want manager, data, local, check or version (or the commands failover, failback, reset, repartition)\n", args[0])
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "insight-grid %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// common are the flags every role has.
type common struct {
	bind      string
	logLevel  string
	logFormat string
}

func (c *common) register(fs *flag.FlagSet, defaultBind string) {
	fs.StringVar(&c.bind, "bind", defaultBind, "host address every listener binds")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: json or text")
}

// tokenFlag registers --operator-token-file on fs, with what the token is for; the
// returned function gives the token's source once the flags are parsed.
func tokenFlag(fs *flag.FlagSet, what string, getenv func(string) string) func() (*opauth.Source, error) {
	file := fs.String(opauth.FlagFile, "", what+"; the file is read again when it changes (a rotated Secret). Without it, "+
		opauth.EnvToken+" gives the token; without either, nothing is guarded")
	return func() (*opauth.Source, error) { return opauth.Configured(*file, getenv) }
}

// tlsFlags registers --tls-cert-file, --tls-key-file and --tls-ca-cert-file on fs, with
// what TLS is for; the returned function gives the files' source once the flags are
// parsed (nil: no file named, TLS off).
func tlsFlags(fs *flag.FlagSet, what string) func() (*tlsconf.Source, error) {
	var f tlsconf.Files
	fs.StringVar(&f.Cert, tlsconf.FlagCert, "", "PEM certificate (chain) this process presents, "+what+"; the files are read again when they change (a rotated Secret)")
	fs.StringVar(&f.Key, tlsconf.FlagKey, "", "PEM private key of --"+tlsconf.FlagCert)
	fs.StringVar(&f.CA, tlsconf.FlagCA, "", "PEM CA certificate(s) the peers' certificates must be signed by")
	return func() (*tlsconf.Source, error) { return tlsconf.Load(f) }
}

func (c *common) logger(w io.Writer, role string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch c.logFormat {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want json or text", c.logFormat)
	}
	return slog.New(h).With("role", role), nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: insight-grid %s [flags]\n\nEvery flag --x-y also reads INSIGHT_X_Y.\n\n", name)
		fs.PrintDefaults()
	}
	return fs
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}

func runManager(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("manager", stderr)
	var c common
	c.register(fs, "0.0.0.0")
	cfg := manager.Config{Version: version.Version}
	fs.StringVar(&cfg.Name, "name", hostname(), "etcd member name, unique among the managers (the pod name)")
	fs.StringVar(&cfg.DataDir, "data-dir", "/data", "directory for etcd's data (kept in <data-dir>/etcd)")
	fs.StringVar(&cfg.AdvertiseHost, "advertise-host", hostname(), "host name or IP peers and clients reach this member at")
	fs.IntVar(&cfg.ClientPort, "client-port", 2379, "etcd client port (data instances connect here)")
	fs.IntVar(&cfg.PeerPort, "peer-port", 2380, "etcd peer port")
	fs.IntVar(&cfg.HTTPPort, "http-port", 8090, "REST manager API port (/v1/..., /livez, /readyz)")
	fs.IntVar(&cfg.MetricsPort, "metrics-port", 9122, "port of GET /metrics for Prometheus, plain HTTP whatever the TLS, serving nothing else (0: none)")
	fs.StringVar(&cfg.InitialCluster, "initial-cluster", "", "static etcd membership, name=http://host:2380,...; empty: this member alone")
	fs.StringVar(&cfg.ClusterState, "initial-cluster-state", manager.ClusterStateNew, "new: the members of --initial-cluster start a cluster together; existing: a member without data joins the running cluster at --join as a learner")
	var join string
	fs.StringVar(&join, "join", "", "etcd client addresses of the running managers, host:2379,...: where a member with --initial-cluster-state=existing and no data asks to be added")
	fs.IntVar(&cfg.Partitions, "partitions", 1, "partitions written to the partition map on first deploy")
	fs.BoolVar(&cfg.HA, "ha", false, "one backup instance per partition")
	fs.DurationVar(&cfg.Heartbeat, "etcd-heartbeat", 100*time.Millisecond, "etcd heartbeat interval")
	fs.DurationVar(&cfg.Election, "etcd-election", time.Second, "etcd election timeout")
	fs.BoolVar(&cfg.AutoFailback, "auto-failback", true, "hand each partition back to its preferred primary once that is the in-sync backup (the etcd leader's manager acts)")
	fs.DurationVar(&cfg.FailbackDelay, "failback-delay", 5*time.Second, "how long the preferred primary must stay the in-sync backup before the automatic failback")
	fs.DurationVar(&cfg.RestartQuorumWait, "restart-quorum-wait", 10*time.Second, "how long the restart election waits for both instances of a partition left without a live primary (a whole release restarted) to register before it decides on the one that did")
	fs.BoolVar(&cfg.UI, "ui", true, "serve the web UI under /ui/ on the API port (sign in with the login URL insight-grid local prints, or through insightctl ui)")
	fs.BoolVar(&cfg.UIReadOnly, "ui-read-only", false, "the web UI shows the grid but offers no action, and the API refuses every action coming from it")
	fs.StringVar(&cfg.WANSite, "wan-site", "", "the grid is this WAN replication site (the data instances' --wan-site): the overview and the web UI show the replication to the other sites that the partitions' primaries report (\"\": not a site)")
	fs.StringVar(&cfg.DataPassword, "requirepass", "", "the data instances' password, which the key browser (POST /v1/keys/scan, /v1/keys/get) authenticates with (prefer INSIGHT_REQUIREPASS)")
	rate := config.Bytes(manager.DefaultRepartitionRate)
	fs.Var(&rate, "repartition-rate", "bytes per second each source partition copies while re-partitioning, unless the request names a rate, e.g. 4mb (0: no limit)")
	token := tokenFlag(fs, "file holding the operator token every non-GET API request must present (X-Insight-Token or Authorization: Bearer), also presented to the data instances' /v1/handover", getenv)
	tlsSrc := tlsFlags(fs, "serving the API over TLS and calling the data instances' HTTP ports with it (with --tls-http)")
	fs.BoolVar(&cfg.HTTPTLS, "tls-http", true, "with the TLS files, serve the API over TLS and call the data instances' HTTP ports over TLS")
	fs.BoolVar(&cfg.EtcdTLS, "tls-etcd", true, "with the TLS files, run etcd's client and peer ports over mutual TLS (https URLs in --initial-cluster)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	var err error
	if cfg.OperatorToken, err = token(); err != nil {
		return err
	}
	if cfg.TLS, err = tlsSrc(); err != nil {
		return err
	}
	cfg.RepartitionRate = int64(rate)
	for _, ep := range strings.Split(join, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			cfg.Join = append(cfg.Join, ep)
		}
	}
	log, err := c.logger(stderr, "manager")
	if err != nil {
		return err
	}
	cfg.Bind, cfg.Logger = c.bind, log
	return manager.Run(ctx, cfg)
}

func runData(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("data", stderr)
	var c common
	c.register(fs, "0.0.0.0")
	cfg := data.Config{Version: version.Version}
	var endpoints string
	maxMemory := config.Bytes(-1)
	bulk := config.Bytes(resp.DefaultMaxBulkLen)
	fs.IntVar(&cfg.Partition, "partition", 0, "partition this instance serves (0-based)")
	fs.IntVar(&cfg.Instance, "instance", 0, "instance number in the partition: 0 is the preferred primary, 1 the backup")
	fs.StringVar(&endpoints, "etcd-endpoints", "", "managers' etcd client addresses, host:2379,... (control plane only)")
	fs.StringVar(&cfg.AdvertiseHost, "advertise-host", "", "host or IP clients reach this instance at (default: --bind unless 0.0.0.0, else the host name)")
	fs.StringVar(&cfg.NodeName, "node-name", "", "name of the node (Kubernetes node) this instance runs on, registered for the manager's topology view (empty: not known)")
	fs.StringVar(&cfg.Zone, "zone", "", "zone (topology.kubernetes.io/zone) of the node this instance runs on, registered for the manager's topology view (empty: not known)")
	fs.IntVar(&cfg.Port, "port", 6379, "RESP port")
	fs.IntVar(&cfg.HTTPPort, "http-port", 8080, "HTTP port for /livez, /readyz, /v1/status and POST /v1/handover")
	fs.IntVar(&cfg.MetricsPort, "metrics-port", 9121, "port of GET /metrics for Prometheus, plain HTTP whatever the TLS, serving nothing else (0: none)")
	fs.StringVar(&cfg.RequirePass, "requirepass", "", "password clients must AUTH with (prefer INSIGHT_REQUIREPASS)")
	fs.StringVar(&cfg.ACLFile, "aclfile", "", "ACL users in Redis's ACL file format ('user alice on >pass ~k:* +@read' lines), written to etcd for the whole grid at start and when the file changes; the default user stays --requirepass's")
	fs.Var(&maxMemory, "maxmemory", "used memory (data and runtime) past which writes are refused, e.g. 400mb (default: the memory limit, GOMEMLIMIT or the container's, less 24mb and 1/32 of it; 0: none, only without a limit)")
	fs.Func("maxmemory-policy", "which keys a write past maxmemory evicts, as Redis names the policies: noeviction (the default: the write gets -OOM), allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random or volatile-ttl",
		func(v string) error {
			p, ok := store.ParsePolicy(v)
			if !ok {
				return fmt.Errorf("must be one of %s", strings.Join(store.PolicyNames(), ", "))
			}
			cfg.MaxMemoryPolicy = p
			return nil
		})
	fs.Func("notify-keyspace-events", "keyspace notifications sent on this instance's pub/sub, as Redis's notify-keyspace-events: K and/or E, then the classes (g$lshzxetd or A for all, n new keys, m key misses); empty: none (CONFIG SET changes it until the restart)",
		func(v string) error {
			if err := server.ValidateNotifyKeyspaceEvents(v); err != nil {
				return err
			}
			cfg.NotifyKeyspaceEvents = v
			return nil
		})
	fs.Var(&bulk, "proto-max-bulk-len", "largest bulk string a client may send (default 512mb)")
	backlog := config.Bytes(-1)
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 2*time.Second, "time to live of the registration in etcd when the instance stops renewing it (a dead primary's backup takes over after it)")
	fs.DurationVar(&cfg.ReplTimeout, "repl-timeout", 500*time.Millisecond, "how long a primary waits for its backup's acknowledgement before recording it out of sync and going on alone; a silent primary is replaced after 2.5x this")
	fs.Var(&backlog, "repl-backlog-size", "redo ring a reconnecting backup continues from without a full snapshot (default 64mb, or 1/16 of a smaller memory limit)")
	fs.BoolVar(&cfg.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the HTTP port")
	token := tokenFlag(fs, "file holding the operator token every non-GET request to the HTTP port (POST /v1/handover) must present", getenv)
	tlsSrc := tlsFlags(fs, "serving --repl-port (mutual TLS), --tls-port and, with --tls-http, the HTTP port, and presented on the internal links to the other instances")
	fs.IntVar(&cfg.TLSPort, "tls-port", 0, "RESP over TLS port (0: none); with it --port 0 turns plain RESP off")
	parsedFlag(fs, "tls-auth-clients", &cfg.TLSAuthClients, tlsconf.AuthYes, tlsconf.ParseClientAuth,
		"what --tls-port asks of a client's certificate, as Redis's tls-auth-clients: yes (required, signed by the CA; the default), optional (verified when given) or no")
	fs.IntVar(&cfg.ReplPort, "repl-port", 0, "port of the internal links, mutual TLS (replication, SLOTIMPORT, pub/sub forwarding); required with the TLS files, e.g. 6380")
	fs.BoolVar(&cfg.HTTPTLS, "tls-http", true, "with the TLS files, serve the HTTP port over TLS (client certificates verified when given)")
	fs.BoolVar(&cfg.EtcdTLS, "tls-etcd", true, "with the TLS files, dial the managers' etcd over mutual TLS")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory keeping the partition on the instance's volume: a journal of every change and snapshots compacting it, loaded at start (empty: the data lives only in memory)")
	parsedFlag(fs, "appendfsync", &cfg.AppendFsync, persist.FsyncEverysec, persist.ParseFsync,
		"with --data-dir, when the journal is fsynced, as Redis's appendfsync: always (a write's reply waits for it), everysec (the default: in the background every second) or no (when the OS writes it back)")
	fs.IntVar(&cfg.RewritePercentage, "auto-aof-rewrite-percentage", 100, "with --data-dir, take a snapshot (compacting the journal) once the journal has grown to this percentage of the last snapshot's size, as Redis's; 0: never (the journal grows without bound)")
	rewriteMin := config.Bytes(64 << 20)
	fs.Var(&rewriteMin, "auto-aof-rewrite-min-size", "with --data-dir, the journal size below which no snapshot is taken, as Redis's")
	wanFlags := wanDataFlags(fs)
	fs.StringVar(&cfg.TieringDir, "tiering-dir", "", "tiered storage: directory on the instance's volume keeping the values of cold keys once used memory passes --maxmemory (the RAM budget), instead of refusing writes or evicting; keys, expiries and hot values stay in RAM, a read of a cold value costs one disk read. A cache, emptied at start: the journal (--data-dir) stays the source of truth (empty: off)")
	tieringMaxDisk := config.Bytes(0)
	fs.Var(&tieringMaxDisk, "tiering-max-disk", "with --tiering-dir, the most bytes of keys and values kept on disk, e.g. 10gb; past it, writes that need room get -OOM (0: no bound but the volume's)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	cfg.WAN = wanFlags.config()
	cfg.RewriteMinSize = int64(rewriteMin)
	cfg.TieringMaxDisk = int64(tieringMaxDisk)
	var err error
	if cfg.OperatorToken, err = token(); err != nil {
		return err
	}
	if cfg.TLS, err = tlsSrc(); err != nil {
		return err
	}
	log, err := c.logger(stderr, "data")
	if err != nil {
		return err
	}
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			cfg.EtcdEndpoints = append(cfg.EtcdEndpoints, ep)
		}
	}
	cfg.Bind, cfg.Logger, cfg.ProtoMaxBulkLen = c.bind, log.With("instance", fmt.Sprintf("p%d-i%d", cfg.Partition, cfg.Instance)), int64(bulk)
	if cfg.AdvertiseHost == "" {
		cfg.AdvertiseHost = c.bind
		if c.bind == "0.0.0.0" || c.bind == "::" || c.bind == "" {
			cfg.AdvertiseHost = hostname()
		}
	}
	// The data lives outside the Go heap: the limit bounds data and runtime together, and
	// the runtime's own soft limit follows what the data leaves (package memlimit).
	limit, source := memlimit.Limit()
	cfg.MaxMemory, cfg.MaxMemoryCeiling = int64(maxMemory), memlimit.DefaultMaxMemory(limit)
	if maxMemory < 0 {
		cfg.MaxMemory = cfg.MaxMemoryCeiling
	}
	cfg.QueryBufferBudget = memlimit.QueryBufferBudget(limit)
	cfg.ReplBacklog = int64(backlog)
	if backlog < 0 {
		cfg.ReplBacklog = memlimit.DefaultBacklog(limit)
	}
	log.Info("memory limits", "limit", limit, "source", source, "maxmemory", cfg.MaxMemory, "queryBufferBudget", cfg.QueryBufferBudget, "replBacklog", cfg.ReplBacklog)
	return data.Run(ctx, cfg)
}

func runLocal(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("local", stderr)
	var c common
	c.register(fs, "127.0.0.1")
	cfg := local.Config{Stdout: stdout, Stderr: stderr}
	fs.IntVar(&cfg.Partitions, "partitions", 3, "number of partitions")
	fs.BoolVar(&cfg.HA, "ha", false, "start a backup instance per partition too: every acknowledged write is replicated to it synchronously, and it takes over when the primary fails")
	fs.IntVar(&cfg.BasePort, "base-port", 7000, "first port: manager etcd client +0, peer +1, API +2, metrics +9; instance k RESP +10+k, RESP over TLS +510+k, HTTP +1010+k, replication (mutual TLS) +1510+k, metrics +2010+k")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory for the manager's etcd data and every data instance's journal and snapshots (in <data-dir>/instances/pP-iI), so a grid stopped and started again keeps its keys (default: a temporary directory removed on exit, the instances in memory only)")
	fs.StringVar(&cfg.AppendFsync, "appendfsync", "everysec", "with --data-dir, every data instance's --appendfsync: always, everysec or no")
	tieringRAM, tieringMaxDisk := config.Bytes(0), config.Bytes(0)
	fs.Var(&tieringRAM, "tiering-ram", "with --data-dir, turn tiered storage on: every data instance's --maxmemory (its RAM budget), the values of cold keys past it kept in <data-dir>/instances/pP-iI/tier (0: off)")
	fs.Var(&tieringMaxDisk, "tiering-max-disk", "with --tiering-ram, every data instance's --tiering-max-disk (0: no bound)")
	fs.StringVar(&cfg.RequirePass, "requirepass", "", "password every instance requires")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "how long to wait for the grid to become ready")
	fs.DurationVar(&cfg.RestartDelay, "restart-delay", time.Second, "how long after a data instance exits (crash, kill -9) it is started again, as a kubelet restarts a pod; 0: it stays dead. The manager is not restarted")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 2*time.Second, "every data instance's --lease-ttl: how long a crashed instance's etcd registration outlives it (the failure detector)")
	fs.DurationVar(&cfg.ReplTimeout, "repl-timeout", 500*time.Millisecond, "every data instance's --repl-timeout: how long a primary waits for its backup before marking it out of sync and acknowledging alone")
	fs.DurationVar(&cfg.RestartQuorumWait, "restart-quorum-wait", 0, "the manager's --restart-quorum-wait: how long its restart election waits for both instances of a partition without a live primary (0: the manager's default, 10s)")
	withSQL := fs.Bool("sql", false, "also start one SQL endpoint (insight-sql serve, found next to this binary or on PATH) on base+3 (MySQL) and base+4 (HTTP)")
	fs.BoolVar(&cfg.UIReadOnly, "ui-read-only", false, "the manager's web UI shows the grid but offers no action (the manager's --ui-read-only)")
	fs.BoolVar(&cfg.Insecure, "insecure", false, "run without the operator token and without TLS: every endpoint of the manager and the data instances open, etcd and the replication links in plain (for debugging); by default local writes a new token to <data-dir>/operator-token and a CA and certificate to <data-dir>/tls/, and prints their paths")
	var wanTargets, wanCAs, wanTokens listFlag
	fs.StringVar(&cfg.Site, "site", "", "name this grid as a WAN replication site (a-z, 0-9, '-'): its data instances keep per-key conflict metadata (and run in memory, whatever --data-dir) and this process runs the site's gateway on base+5 (docs/wan.md)")
	fs.Var(&wanTargets, "wan-target", "with --site, a site to replicate this site's writes to, NAME=HOST:PORT of its gateway (repeatable)")
	fs.Var(&wanCAs, "wan-target-ca", "with --wan-target, NAME=FILE: the PEM CA the site's gateway certificate is signed by (its local's ca-cert-file); read at each connection (repeatable)")
	fs.Var(&wanTokens, "wan-target-token-file", "with --wan-target, NAME=FILE: the file holding the site's operator token (its local's operator-token-file); read at each connection (repeatable)")
	fs.IntVar(&cfg.WANOutboxMax, "wan-outbox-max", 100000, "with --site, every data instance's --wan-outbox-max: the most keys a partition's outbox holds")
	fs.StringVar(&cfg.WANOutboxFull, "wan-outbox-full", "block", "with --site, every data instance's --wan-outbox-full: block or mark-out-of-sync")
	fs.StringVar(&cfg.WANBind, "wan-bind", "", "with --site, the IP address the gateway listens on (port base+5) for the other sites, when they reach it over a network rather than loopback; the grid's certificate names it too (\"\": --bind)")
	if err := config.Parse(fs, args, getenv); err != nil {
		return err
	}
	if _, err := c.logger(stderr, "local"); err != nil {
		return err
	}
	var err error
	if cfg.WANTargets, err = local.ParseWANTargets(wanTargets, wanCAs, wanTokens); err != nil {
		return err
	}
	cfg.TieringRAM, cfg.TieringMaxDisk = int64(tieringRAM), int64(tieringMaxDisk)
	cfg.Bind, cfg.LogLevel, cfg.LogFormat = c.bind, c.logLevel, c.logFormat
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary to start the grid's processes: %w", err)
	}
	cfg.Exe = exe
	if *withSQL {
		if cfg.SQLExe, err = findSQL(exe); err != nil {
			return err
		}
	}
	return local.Run(ctx, cfg)
}

// findSQL is the insight-sql binary next to exe, else on PATH.
func findSQL(exe string) (string, error) {
	next := filepath.Join(filepath.Dir(exe), "insight-sql")
	if fi, err := os.Stat(next); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return next, nil
	}
	onPath, err := exec.LookPath("insight-sql")
	if err != nil {
		return "", fmt.Errorf("--sql: insight-sql is neither next to %s nor on PATH; build it with go build -o %s ./grid/cmd/insight-sql", exe, next)
	}
	return onPath, nil
}

// parsedFlag defines the flag name on fs, parsed into *dst by parse, which names what is
// allowed when it refuses a value; *dst holds def until the flag is given.
func parsedFlag[T any](fs *flag.FlagSet, name string, dst *T, def T, parse func(string) (T, error), usage string) {
	*dst = def
	fs.Func(name, usage, func(v string) error {
		x, err := parse(v)
		if err != nil {
			return err
		}
		*dst = x
		return nil
	})
}
