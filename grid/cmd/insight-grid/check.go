package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/check"
	"github.com/insightgrid/insight/grid/config"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// runCheck is the check role: a write test against the grid at --addrs. Exit codes: 0
// every acknowledged write read back, 1 writes lost or the check could not finish, 2 bad
// input.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := newFlagSet("check", stderr)
	cfg := check.Config{Out: stdout}
	var addrs string
	fs.StringVar(&addrs, "addrs", "", "instances to start from, host:port,... (one that answers is enough)")
	fs.StringVar(&cfg.Password, "requirepass", "", "password the instances require (prefer INSIGHT_REQUIREPASS)")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to write")
	fs.IntVar(&cfg.Rate, "rate", 200, "writes per second, all writers together")
	fs.IntVar(&cfg.Writers, "writers", 4, "concurrent clients")
	fs.StringVar(&cfg.Prefix, "prefix", "insight-check:", "prefix of every key written: <prefix><writer>:<n>")
	fs.DurationVar(&cfg.StartTimeout, "start-timeout", time.Minute, "how long to wait for the first acknowledged write")
	fs.DurationVar(&cfg.VerifyTimeout, "verify-timeout", time.Minute, "how long the read-back of every acknowledged key may take")
	tlsSrc := tlsFlags(fs, "to the instances when they ask for one; with --"+tlsconf.FlagCA+" the check speaks TLS to --addrs (their --tls-port)")
	if err := config.Parse(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "insight-grid check: %v\n", err)
		return 2
	}
	ts, err := tlsSrc()
	if err != nil {
		fmt.Fprintf(stderr, "insight-grid check: %v\n", err)
		return 2
	}
	if ts != nil {
		cfg.TLS = ts.ClientConfig()
	}
	for _, a := range strings.Split(addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.Addrs = append(cfg.Addrs, a)
		}
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "insight-grid check: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "insight-grid check: writing to %s for %s at %d writes/s\n", strings.Join(cfg.Addrs, ","), cfg.Duration, cfg.Rate)
	res, err := check.Run(ctx, cfg)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "insight-grid check: %v\n", err)
		return 1
	case res.Lost > 0:
		fmt.Fprintf(stderr, "insight-grid check: %d of %d acknowledged writes lost\n", res.Lost, res.Acknowledged)
		return 1
	}
	fmt.Fprintf(stderr, "insight-grid check: %d writes acknowledged, none lost, longest gap %s\n", res.Acknowledged, res.Gap())
	return 0
}
