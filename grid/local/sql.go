package local

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// startSQL starts `insight-sql serve` against the grid's data instances and waits until
// its /readyz answers 200 (the grid answers and routes every slot), it exits, or
// cfg.Timeout passes. The grid's password reaches it as INSIGHT_REQUIREPASS. With TLS on,
// it dials the grid's TLS ports and serves MySQL TLS with local's certificate, plain
// MySQL clients still welcome.
func startSQL(ctx context.Context, sp *spawner, cfg Config, l Layout) (*proc, error) {
	seeds := make([]string, len(l.Instances))
	for i, in := range l.Instances {
		seeds[i] = in.RESP
		if cfg.tls.CA != "" {
			seeds[i] = in.TLS
		}
	}
	args := []string{"serve", "--listen", l.SQL, "--http-listen", l.SQLHTTP,
		"--grid", strings.Join(seeds, ","), "--log-level", cfg.LogLevel, "--log-format", cfg.LogFormat}
	if cfg.tls.CA != "" {
		args = append(args, "--tls-cert-file", cfg.tls.Cert, "--tls-key-file", cfg.tls.Key, "--tls-ca-cert-file", cfg.tls.CA)
	}
	var env []string
	if cfg.RequirePass != "" {
		env = append(env, "INSIGHT_REQUIREPASS="+cfg.RequirePass)
	}
	p, err := startProc(sp, cfg.SQLExe, args, cfg.Stderr, env...)
	if err != nil {
		return nil, fmt.Errorf("starting the SQL endpoint: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !get(ctx, hc, "http://"+l.SQLHTTP+"/readyz", nil) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("the SQL endpoint (%s) exited before it was ready: %v", cfg.SQLExe, p.err)
		case <-ctx.Done():
			stopSQL(p, cfg.Stderr)
			return nil, fmt.Errorf("the SQL endpoint not ready after %s: %w", cfg.Timeout, ctx.Err())
		case <-tick.C:
		}
	}
	return p, nil
}

// stopSQL stops the SQL endpoint: SIGTERM, SIGKILL after 10s.
func stopSQL(p *proc, logw io.Writer) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		fmt.Fprintf(logw, "insight-grid local: the SQL endpoint (pid %d) did not stop in 10s, killing it\n", p.pid())
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
