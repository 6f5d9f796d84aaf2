package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/config"
	"github.com/insightgrid/insight/grid/internal/opauth"
	"github.com/insightgrid/insight/grid/internal/tlsconf"
)

// The admin commands call a manager's REST API: failover (planned switch-over to the
// in-sync backup), failback (back to the preferred primary) and reset (accept the loss
// of a partition's acknowledged writes). Exit codes: 0 done, 1 failed, 2 bad input.

const adminUsage = `Usage:
  insight-grid failover --manager URL --partition N [-o text|json]
      planned switch-over of partition N to its in-sync backup
  insight-grid failback --manager URL [--partition N] [-o text|json]
      hand partition N (default: every partition) back to its preferred primary
  insight-grid reset --manager URL --partition N --yes [--primary pN-iI] [-o text|json]
      partition N has no copy left that holds all its data: make its preferred primary
      (or --primary) serve again, accepting that the writes only the lost copies held are gone
  insight-grid repartition --manager URL --partitions N [--rate 2mb] [--wait=false] [--timeout 10m] [-o text|json]
      spread the slots over N partitions while the grid serves (the new partitions'
      instances must be started; those past N can be stopped once it is done), and follow
      the progress until it is done

Every command presents the grid's operator token from --operator-token-file (or
INSIGHT_OPERATOR_TOKEN_FILE, or the token itself in INSIGHT_OPERATOR_TOKEN; insight-grid
local prints the file). --manager also reads INSIGHT_MANAGER; --partition and --yes are
never read from the environment. Exit codes: 0 done, 1 failed, 2 bad input.

`

// instanceName is what --primary accepts.
var instanceName = regexp.MustCompile(`^p[0-9]+-i[01]$`)

// partitionFlag is --partition: a partition number, or unset.
type partitionFlag struct {
	n   int
	set bool
}

func (p *partitionFlag) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.Itoa(p.n)
}

func (p *partitionFlag) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 {
		return errors.New("want a partition number, 0 or more")
	}
	p.n, p.set = n, true
	return nil
}

// outputFlag is -o: text or json.
type outputFlag string

func (o *outputFlag) String() string { return string(*o) }

func (o *outputFlag) Set(s string) error {
	if s != "text" && s != "json" {
		return errors.New("want text or json")
	}
	*o = outputFlag(s)
	return nil
}

// adminCmd is one admin command's parsed flags.
type adminCmd struct {
	name      string
	manager   string
	partition partitionFlag
	yes       bool
	primary   string
	parts     int       // repartition --partitions
	wait      bool      // repartition --wait
	rate      *api.Rate // repartition --rate
	output    outputFlag
	timeout   time.Duration
	client    *api.Client
	stdout    io.Writer
	stderr    io.Writer
}

func runAdmin(ctx context.Context, name string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	c := adminCmd{name: name, output: "text", stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, adminUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.manager, "manager", "", "the manager's REST API URL, http://host:port")
	fs.Var(&c.partition, "partition", "partition number (0-based)")
	fs.Var(&c.output, "o", "output: text (one line per partition) or json")
	fs.Var(&c.output, "output", "same as -o")
	timeout := 30 * time.Second
	if name == "repartition" {
		timeout = 10 * time.Minute
		fs.IntVar(&c.parts, "partitions", 0, "the number of partitions to spread the slots over")
		fs.BoolVar(&c.wait, "wait", true, "follow the progress until the grid has the partitions")
		fs.Func("rate", "bytes per second each source partition copies at most, e.g. 2mb (0: no limit; default: the manager's --repartition-rate); given again for the re-partitioning in progress, it changes its rate", func(v string) error {
			r, err := api.ParseRate(v)
			c.rate = &r
			return err
		})
	}
	fs.DurationVar(&c.timeout, "timeout", timeout, "how long to wait for the manager's answer (repartition: for the whole re-partitioning)")
	if name == "reset" {
		fs.BoolVar(&c.yes, "yes", false, "confirm the reset and the loss of writes it accepts")
		fs.StringVar(&c.primary, "primary", "", "instance to serve from, pP-iI (default: the preferred primary); name the surviving copy to keep its data")
	}
	// Data pods set INSIGHT_PARTITION: a role's environment must not pick the partition.
	env := func(k string) string {
		switch k {
		case config.EnvName("manager"), config.EnvName(opauth.FlagFile), opauth.EnvToken,
			config.EnvName(tlsconf.FlagCert), config.EnvName(tlsconf.FlagKey), config.EnvName(tlsconf.FlagCA):
			return getenv(k)
		}
		return ""
	}
	token := tokenFlag(fs, "file holding the grid's operator token, presented to the manager (X-Insight-Token)", env)
	tlsSrc := tlsFlags(fs, "to the manager when it asks for one (an https:// --manager needs at least --"+tlsconf.FlagCA+")")
	if err := config.Parse(fs, args, env); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "insight-grid %s: %v\n", name, err)
		return 2
	}
	if err := c.check(); err != nil {
		fmt.Fprintf(stderr, "insight-grid %s: %v\n", name, err)
		return 2
	}
	src, err := token()
	if err != nil {
		fmt.Fprintf(stderr, "insight-grid %s: %v\n", name, err)
		return 2
	}
	hc := &http.Client{Timeout: c.timeout}
	ts, err := tlsSrc()
	if err != nil {
		fmt.Fprintf(stderr, "insight-grid %s: %v\n", name, err)
		return 2
	}
	if ts != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = ts.ClientConfig()
		hc.Transport = tr
	}
	c.client = api.NewClient(c.manager, hc)
	if src != nil {
		c.client.Token = src.Token
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p := c.partition.n
	switch {
	case name == "repartition":
		return c.repartition(ctx)
	case name == "failback" && !c.partition.set:
		return c.failbackAll(ctx)
	case name == "reset":
		r, err := c.client.Reset(ctx, p, c.primary)
		return c.one(p, r, err)
	case name == "failover":
		r, err := c.client.Failover(ctx, p)
		return c.one(p, r, err)
	default:
		r, err := c.client.Failback(ctx, p)
		return c.one(p, r, err)
	}
}

// check validates the flags together.
func (c *adminCmd) check() error {
	var errs []error
	if c.manager == "" {
		errs = append(errs, errors.New("--manager is required: the manager's REST API, e.g. http://127.0.0.1:7002 (insight-grid local prints it) or http://<release>-insight-manager:8090"))
	} else if u, err := api.ParseURL(c.manager); err != nil {
		errs = append(errs, fmt.Errorf("--manager %q: %w", c.manager, err))
	} else {
		c.manager = u
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be more than 0", c.timeout))
	}
	if c.name == "repartition" {
		if c.parts < 1 || c.parts > api.MaxPartitions {
			errs = append(errs, fmt.Errorf("--partitions %d: want a number of partitions between 1 and %d", c.parts, api.MaxPartitions))
		}
		if c.partition.set {
			errs = append(errs, errors.New("--partition: repartition changes every partition; use --partitions N for the count"))
		}
	} else if !c.partition.set && c.name != "failback" {
		errs = append(errs, fmt.Errorf("--partition is required: the partition to %s (0-based; GET /v1/partitions lists them)", c.name))
	}
	if c.primary != "" && !instanceName.MatchString(c.primary) {
		errs = append(errs, fmt.Errorf("--primary %q: want an instance name such as p0-i1", c.primary))
	}
	if c.name == "reset" && !c.yes {
		errs = append(errs, errors.New("--yes is required: reset makes the partition's preferred primary serve again and accepts that the writes only its lost copies held are gone"))
	}
	return errors.Join(errs...)
}

// one reports a command's answer on a single partition p: the result's line (or JSON),
// or why it failed.
func (c *adminCmd) one(p int, res fmt.Stringer, err error) int {
	if err != nil {
		if c.output == "json" {
			c.printJSON(errorBody(err))
		}
		fmt.Fprintf(c.stderr, "insight-grid %s: %s\n", c.name, partitionMessage(p, err))
		return 1
	}
	if c.output == "json" {
		c.printJSON(res)
	} else {
		fmt.Fprintln(c.stdout, res.String())
	}
	return 0
}

// partitionMessage is err's message, naming partition p unless the manager's does.
func partitionMessage(p int, err error) string {
	msg := err.Error()
	if prefix := fmt.Sprintf("partition %d", p); !strings.HasPrefix(msg, prefix+":") && !strings.HasPrefix(msg, prefix+" ") {
		msg = prefix + ": " + msg
	}
	return msg
}

// errorBody is err as the API's error envelope.
func errorBody(err error) api.ErrorBody {
	var ae *api.Error
	if errors.As(err, &ae) {
		return api.ErrorBody{Error: api.ErrorDetail{Code: ae.Code, Message: ae.Message}}
	}
	return api.ErrorBody{Error: api.ErrorDetail{Code: api.CodeUnavailable, Message: err.Error()}}
}

// failbackAll fails every partition back in turn, going on after a failure.
func (c *adminCmd) failbackAll(ctx context.Context) int {
	failed := false
	out, err := c.client.FailbackAll(ctx, func(o api.Outcome, err error) {
		switch {
		case err != nil:
			failed = true
			fmt.Fprintf(c.stderr, "insight-grid %s: %s\n", c.name, partitionMessage(o.Partition, err))
		case c.output == "text":
			fmt.Fprintln(c.stdout, o.String())
		}
	})
	if err != nil {
		fmt.Fprintf(c.stderr, "insight-grid %s: %v\n", c.name, err)
		return 1
	}
	if c.output == "json" {
		c.printJSON(map[string]any{"partitions": out})
	}
	if failed {
		return 1
	}
	return 0
}

// printJSON writes v indented on stdout.
func (c *adminCmd) printJSON(v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(c.stderr, "insight-grid %s: encoding the answer: %v\n", c.name, err)
		return
	}
	fmt.Fprintln(c.stdout, string(b))
}
