// Command insight-sql is the Insight grid's SQL endpoint: a stateless server speaking
// the MySQL wire protocol over the grid's hashes (package grid/sql). It is a binary of
// its own so the data-path binary insight-grid stays small. Subcommands: serve and
// version. Every flag can also come from INSIGHT_<FLAG_IN_UPPER_SNAKE>; the grid's
// password comes from INSIGHT_REQUIREPASS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/insightgrid/insight/grid/config"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
	"github.com/insightgrid/insight/grid/sql/server"
	"github.com/insightgrid/insight/grid/version"
)

const usage = `insight-sql %s — SQL over the Insight grid, on the MySQL wire protocol

Usage:
  insight-sql serve [flags]   serve the grid's tables to MySQL clients
  insight-sql version         print the version

Run "insight-sql serve -h" for its flags. Every flag --some-name can also be set with the
environment variable INSIGHT_SOME_NAME; a flag on the command line wins. The grid's
password (and the MySQL user's) is INSIGHT_REQUIREPASS.
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
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, version.Version)
		return 0
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := serve(ctx, args[1:], stderr, getenv)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "insight-sql serve: %v\n", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "insight-sql: unknown command %q: want serve or version\n", args[0])
		return 2
	}
}

// serveFlags are serve's settings.
type serveFlags struct {
	cfg       server.Config
	grid      string
	tls       tlsconf.Files
	logFormat string
	logLevel  string
}

func parseServe(args []string, stderr io.Writer, getenv func(string) string) (*serveFlags, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: insight-sql serve [flags]\n\nEvery flag --x-y also reads INSIGHT_X_Y; the password is INSIGHT_REQUIREPASS.\n\n")
		fs.PrintDefaults()
	}
	f := &serveFlags{}
	fs.StringVar(&f.cfg.Listen, "listen", ":3306", "host:port of the MySQL protocol")
	fs.StringVar(&f.grid, "grid", "", "comma-separated host:port of grid data instances (seeds of the Redis Cluster protocol)")
	fs.StringVar(&f.cfg.User, "user", "insight", "the MySQL user; its password is the grid's (INSIGHT_REQUIREPASS), empty without one")
	fs.StringVar(&f.cfg.HTTPListen, "http-listen", ":9104", "host:port of GET /healthz, /readyz and /metrics")
	fs.Int64Var(&f.cfg.MaxResultRows, "max-result-rows", 1000000, "rows a statement may return before it fails with error 1104 (0: no cap)")
	maxBytes := config.Bytes(256 << 20)
	fs.Var(&maxBytes, "max-result-bytes", "bytes of values a statement may return before it fails with error 1104, e.g. 256mb (0: no cap)")
	fs.DurationVar(&f.cfg.MaxExecution, "max-execution-time", 0, "longest a SELECT may run before it fails with error 3024 (0: none; the session variable max_execution_time, in ms, wins)")
	fs.StringVar(&f.tls.Cert, tlsconf.FlagCert, "", "PEM certificate (chain) MySQL clients may switch to TLS with; the files are read again when they change (a rotated Secret)")
	fs.StringVar(&f.tls.Key, tlsconf.FlagKey, "", "PEM private key of --"+tlsconf.FlagCert)
	fs.StringVar(&f.tls.CA, tlsconf.FlagCA, "", "PEM CA certificate(s) the grid's certificates (and MySQL clients' certificates, when they present one) must be signed by")
	fs.BoolVar(&f.cfg.GridTLS, "tls-grid", true, "with --"+tlsconf.FlagCA+": dial the grid over TLS (--grid names the grid's --tls-port addresses)")
	fs.BoolVar(&f.cfg.RequireSecureTransport, "require-secure-transport", false, "refuse MySQL clients that do not switch to TLS, with error 3159 (MySQL's require_secure_transport); needs --"+tlsconf.FlagCert)
	fs.BoolVar(&f.cfg.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the HTTP port")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: json or text")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if err := config.Parse(fs, args, getenv); err != nil {
		return nil, err
	}
	f.cfg.MaxResultBytes = int64(maxBytes)
	f.cfg.Password = getenv("INSIGHT_REQUIREPASS")
	var errs []error
	for _, a := range strings.Split(f.grid, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("--grid %q: %q is not host:port", f.grid, a))
			continue
		}
		f.cfg.Grid = append(f.cfg.Grid, a)
	}
	if len(f.cfg.Grid) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("--grid is required: the host:port of one or more grid data instances"))
	}
	for name, v := range map[string]string{"listen": f.cfg.Listen, "http-listen": f.cfg.HTTPListen} {
		if _, _, err := net.SplitHostPort(v); err != nil {
			errs = append(errs, fmt.Errorf("--%s %q: want host:port or :port", name, v))
		}
	}
	if f.cfg.User == "" {
		errs = append(errs, errors.New("--user is empty: name the MySQL user"))
	}
	if f.cfg.MaxResultRows < 0 {
		errs = append(errs, fmt.Errorf("--max-result-rows %d: must be 0 (no cap) or positive", f.cfg.MaxResultRows))
	}
	if f.cfg.MaxResultBytes < 0 {
		errs = append(errs, fmt.Errorf("--max-result-bytes %d: must be 0 (no cap) or positive", f.cfg.MaxResultBytes))
	}
	if f.cfg.MaxExecution < 0 || (f.cfg.MaxExecution > 0 && f.cfg.MaxExecution < time.Millisecond) {
		errs = append(errs, fmt.Errorf("--max-execution-time %s: must be 0 (none) or at least 1ms", f.cfg.MaxExecution))
	}
	src, err := tlsconf.Load(f.tls)
	if err != nil {
		errs = append(errs, err)
	}
	f.cfg.TLS = src
	if f.cfg.RequireSecureTransport && f.tls.Cert == "" {
		errs = append(errs, fmt.Errorf("--require-secure-transport needs --%s, --%s and --%s: the certificate MySQL clients switch to TLS with", tlsconf.FlagCert, tlsconf.FlagKey, tlsconf.FlagCA))
	}
	log, err := logger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		errs = append(errs, err)
	}
	f.cfg.Logger, f.cfg.Version = log, version.Version
	return f, errors.Join(errs...)
}

func logger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json", "text":
		server.EngineLogs(w, format, l)
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)).With("role", "sql"), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)).With("role", "sql"), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	f, err := parseServe(args, stderr, getenv)
	if err != nil {
		return err
	}
	s, err := server.New(f.cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}
