package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/config"
	"github.com/insightgrid/insight/grid/manager"
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

--manager also reads INSIGHT_MANAGER; --partition and --yes are never read from the
environment. Exit codes: 0 done, 1 failed, 2 bad input.

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

// managerURL checks --manager and returns it without a trailing slash; a bare host:port
// means http://host:port.
func managerURL(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("--manager is required: the manager's REST API, e.g. http://127.0.0.1:7002 (insight-grid local prints it) or http://<release>-insight-manager:8090")
	}
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", fmt.Errorf("--manager %q: want the manager's REST API URL, http://host:port", raw)
	}
	return strings.TrimRight(s, "/"), nil
}

// adminCmd is one admin command's parsed flags.
type adminCmd struct {
	name      string
	manager   string
	partition partitionFlag
	yes       bool
	primary   string
	parts     int    // repartition --partitions
	wait      bool   // repartition --wait
	rate      string // repartition --rate
	output    outputFlag
	timeout   time.Duration
	hc        *http.Client
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
		fs.StringVar(&c.rate, "rate", "", "bytes per second each source partition copies at most, e.g. 2mb (0: no limit; default: the manager's --repartition-rate); given again for the re-partitioning in progress, it changes its rate")
	}
	fs.DurationVar(&c.timeout, "timeout", timeout, "how long to wait for the manager's answer (repartition: for the whole re-partitioning)")
	if name == "reset" {
		fs.BoolVar(&c.yes, "yes", false, "confirm the reset and the loss of writes it accepts")
		fs.StringVar(&c.primary, "primary", "", "instance to serve from, pP-iI (default: the preferred primary); name the surviving copy to keep its data")
	}
	// Data pods set INSIGHT_PARTITION: a role's environment must not pick the partition.
	env := func(k string) string {
		if k == config.EnvName("manager") {
			return getenv(k)
		}
		return ""
	}
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
	c.hc = &http.Client{Timeout: c.timeout}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	switch {
	case name == "repartition":
		return c.repartition(ctx)
	case name == "failback" && !c.partition.set:
		return c.failbackAll(ctx)
	case name == "reset":
		q := url.Values{"confirm": {strconv.Itoa(c.partition.n)}}
		if c.primary != "" {
			q.Set("primary", c.primary)
		}
		return c.one(ctx, fmt.Sprintf("/v1/partitions/%d/reset?%s", c.partition.n, q.Encode()))
	default:
		return c.one(ctx, fmt.Sprintf("/v1/partitions/%d/%s", c.partition.n, name))
	}
}

// check validates the flags together.
func (c *adminCmd) check() error {
	var errs []error
	u, err := managerURL(c.manager)
	if err != nil {
		errs = append(errs, err)
	}
	c.manager = u
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be more than 0", c.timeout))
	}
	if c.name == "repartition" {
		if c.parts < 1 || c.parts > 16384 {
			errs = append(errs, fmt.Errorf("--partitions %d: want a number of partitions between 1 and 16384", c.parts))
		}
		if c.partition.set {
			errs = append(errs, errors.New("--partition: repartition changes every partition; use --partitions N for the count"))
		}
		if c.rate != "" {
			if _, err := config.ParseBytes(c.rate); err != nil {
				errs = append(errs, fmt.Errorf("--rate: %w", err))
			}
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

// call does method path on the manager (with a JSON body, when given) and returns the
// status and body.
func (c *adminCmd) call(ctx context.Context, method, path string, payload []byte) (int, []byte, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.manager+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("manager %s: %w", c.manager, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("manager %s: reading the answer: %w", c.manager, err)
	}
	return resp.StatusCode, body, nil
}

// expect calls the manager and returns the body when the answer has status want;
// otherwise it says why on stderr (what prefixes the API's message) and returns false.
func (c *adminCmd) expect(ctx context.Context, method, path string, payload []byte, want int, what string) ([]byte, bool) {
	status, body, err := c.call(ctx, method, path, payload)
	if err != nil {
		fmt.Fprintf(c.stderr, "insight-grid %s: %v\n", c.name, err)
		return nil, false
	}
	if status != want {
		fmt.Fprintf(c.stderr, "insight-grid %s: %s%s\n", c.name, what, apiErrorMessage(status, body))
		return nil, false
	}
	return body, true
}

// apiErrorMessage is the message of the API's error body, or the body itself.
func apiErrorMessage(status int, body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return fmt.Sprintf("%s (HTTP %d %s)", e.Error.Message, status, e.Error.Code)
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return fmt.Sprintf("HTTP %d: %s", status, msg)
}

// one runs the command on a single partition.
func (c *adminCmd) one(ctx context.Context, path string) int {
	status, body, err := c.call(ctx, http.MethodPost, path, nil)
	if err != nil {
		fmt.Fprintf(c.stderr, "insight-grid %s: %v\n", c.name, err)
		return 1
	}
	line, ok := c.describe(c.partition.n, status, body)
	if c.output == "json" {
		_, _ = c.stdout.Write(indentJSON(body))
	}
	if !ok {
		fmt.Fprintf(c.stderr, "insight-grid %s: %s\n", c.name, line)
		return 1
	}
	if c.output == "text" {
		fmt.Fprintln(c.stdout, line)
	}
	return 0
}

// describe turns an answer into its one-line form and reports whether it is a success.
func (c *adminCmd) describe(p, status int, body []byte) (string, bool) {
	if status != http.StatusOK {
		msg := apiErrorMessage(status, body)
		if prefix := fmt.Sprintf("partition %d", p); !strings.HasPrefix(msg, prefix+":") && !strings.HasPrefix(msg, prefix+" ") {
			msg = prefix + ": " + msg
		}
		return msg, false
	}
	if c.name == "reset" {
		var r manager.ResetResult
		if err := json.Unmarshal(body, &r); err != nil {
			return fmt.Sprintf("partition %d: reading the answer: %v", p, err), false
		}
		line := fmt.Sprintf("partition %d: reset, epoch %d, primary %s", r.Partition, r.Epoch, r.Primary)
		if r.Backup != "" {
			line += fmt.Sprintf(", backup %s (catching up)", r.Backup)
		}
		line += "; writes only the lost copies held are gone"
		if r.Warning != "" {
			line += "\nwarning: " + r.Warning
		}
		return line, true
	}
	var r manager.SwitchResult
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Sprintf("partition %d: reading the answer: %v", p, err), false
	}
	if r.Unchanged {
		return fmt.Sprintf("partition %d: %s is already the primary, epoch %d, unchanged", r.Partition, r.Primary, r.Epoch), true
	}
	return fmt.Sprintf("partition %d: %s -> %s, epoch %d, write pause %.2f ms", r.Partition, r.From, r.To, r.Epoch, float64(r.PauseMicros)/1000), true
}

// failbackAll fails every partition back in turn, going on after a failure.
func (c *adminCmd) failbackAll(ctx context.Context) int {
	body, ok := c.expect(ctx, http.MethodGet, "/v1/partitions", nil, http.StatusOK, "listing the partitions: ")
	if !ok {
		return 1
	}
	var list struct {
		Partitions []struct {
			ID int `json:"id"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		fmt.Fprintf(c.stderr, "insight-grid %s: reading the partition list: %v\n", c.name, err)
		return 1
	}
	code := 0
	results := []json.RawMessage{}
	for _, p := range list.Partitions {
		status, body, err := c.call(ctx, http.MethodPost, fmt.Sprintf("/v1/partitions/%d/failback", p.ID), nil)
		var line string
		ok := err == nil
		if err != nil {
			line = fmt.Sprintf("partition %d: %v", p.ID, err)
			body, _ = json.Marshal(map[string]any{"error": map[string]string{"code": "Unavailable", "message": err.Error()}})
		} else {
			line, ok = c.describe(p.ID, status, body)
		}
		if !ok {
			code = 1
			fmt.Fprintf(c.stderr, "insight-grid %s: %s\n", c.name, line)
			// Errors carry no partition number of their own.
			var e map[string]any
			if json.Unmarshal(body, &e) != nil {
				e = map[string]any{"error": map[string]string{"code": "Unknown", "message": line}}
			}
			e["partition"] = p.ID
			body, _ = json.Marshal(e)
		} else if c.output == "text" {
			fmt.Fprintln(c.stdout, line)
		}
		results = append(results, body)
	}
	if c.output == "json" {
		out, _ := json.Marshal(map[string]any{"partitions": results})
		_, _ = c.stdout.Write(indentJSON(out))
	}
	return code
}

// indentJSON indents a JSON document for the terminal; other bytes pass unchanged.
func indentJSON(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(b), "", "  "); err != nil {
		return b
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}
