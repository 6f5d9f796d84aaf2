package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Client calls one manager's REST API.
type Client struct {
	// Base is the URL the API's paths are appended to, without a trailing slash.
	Base string
	// HTTP sends the requests; nil: http.DefaultClient.
	HTTP *http.Client
	// Via says how the manager is reached, for messages ("http://10.0.0.7:8090", "the API
	// server's proxy to service demo-insight-manager").
	Via string
	// Token gives the operator token sent in TokenHeader on every request that changes
	// the grid (not on GETs); nil: none is sent.
	Token func() (string, error)
}

// TokenHeader is the header the operator token travels in: the manager and the data
// instances also accept Authorization: Bearer, which the Kubernetes API server's
// service proxy does not pass on.
const TokenHeader = "X-Insight-Token"

// NewClient is a client of the manager at base, a URL ParseURL accepted.
func NewClient(base string, hc *http.Client) *Client {
	base = strings.TrimRight(base, "/")
	return &Client{Base: base, HTTP: hc, Via: base}
}

// ParseURL checks a manager URL given by a user and returns it without a trailing slash;
// a bare host:port means http://host:port.
func ParseURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("want the manager's REST API URL, http://host:port (e.g. http://10.0.0.7:8090)")
	}
	return strings.TrimRight(s, "/"), nil
}

// Error is the manager's answer to a request it refused, from the error envelope, with
// the HTTP status.
type Error struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// BadRequest reports whether the manager refused the request itself (a bad or unknown
// partition), not the state of the grid.
func (e *Error) BadRequest() bool {
	return e.Status == http.StatusBadRequest || e.Status == http.StatusNotFound
}

// UnreachableError is a request that got no answer from a manager: the connection failed,
// or a proxy in between could not reach one.
type UnreachableError struct {
	Via string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("manager unreachable via %s: %v", e.Via, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsUnreachable reports whether err means no manager answered.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}

// Live checks that a manager answers (GET /livez).
func (c *Client) Live(ctx context.Context) error {
	var out map[string]string
	return c.Do(ctx, http.MethodGet, PathLivez, nil, &out)
}

// Cluster returns the grid's shape, managers and etcd health.
func (c *Client) Cluster(ctx context.Context) (*Cluster, error) {
	var out Cluster
	if err := c.Do(ctx, http.MethodGet, PathCluster, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Partitions returns every partition with its record and instances.
func (c *Client) Partitions(ctx context.Context) ([]Partition, error) {
	var out Partitions
	if err := c.Do(ctx, http.MethodGet, PathPartitions, nil, &out); err != nil {
		return nil, err
	}
	return out.Partitions, nil
}

// Failover switches partition p over to its in-sync backup.
func (c *Client) Failover(ctx context.Context, p int) (*SwitchResult, error) {
	return c.switchOver(ctx, p, OpFailover)
}

// Failback hands partition p back to its preferred primary.
func (c *Client) Failback(ctx context.Context, p int) (*SwitchResult, error) {
	return c.switchOver(ctx, p, OpFailback)
}

func (c *Client) switchOver(ctx context.Context, p int, op string) (*SwitchResult, error) {
	var r SwitchResult
	if err := c.Do(ctx, http.MethodPost, PartitionPath(p, op), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Outcome is one partition's result of FailbackAll: the switch, or the refusal.
type Outcome struct {
	SwitchResult
	Error *Error `json:"error,omitempty"`
}

// FailbackAll fails every partition of the map back in turn, going on after a failure,
// and calls each with every partition's outcome and the error behind a failed one. It
// fails only when the partitions cannot be listed or ctx ends.
func (c *Client) FailbackAll(ctx context.Context, each func(Outcome, error)) ([]Outcome, error) {
	parts, err := c.Partitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the partitions: %w", err)
	}
	out := []Outcome{}
	for _, p := range parts {
		if ctx.Err() != nil { // the rest would fail at once
			return out, fmt.Errorf("failback of partition %d: %w", p.ID, ctx.Err())
		}
		o := Outcome{SwitchResult: SwitchResult{Partition: p.ID}}
		res, err := c.Failback(ctx, p.ID)
		if err != nil {
			if !errors.As(err, &o.Error) {
				o.Error = &Error{Code: CodeUnavailable, Message: err.Error()}
			}
		} else {
			o.SwitchResult = *res
		}
		out = append(out, o)
		if each != nil {
			each(o, err)
		}
	}
	return out, nil
}

// Reset makes partition p serve again from its preferred primary, or from primary when
// given, accepting the loss of the writes only a lost copy held.
func (c *Client) Reset(ctx context.Context, p int, primary string) (*ResetResult, error) {
	q := url.Values{"confirm": {strconv.Itoa(p)}}
	if primary != "" {
		q.Set("primary", primary)
	}
	var r ResetResult
	if err := c.Do(ctx, http.MethodPost, PartitionPath(p, OpReset)+"?"+q.Encode(), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Repartition returns the re-partitioning progress.
func (c *Client) Repartition(ctx context.Context) (*RepartitionStatus, error) {
	var r RepartitionStatus
	if err := c.Do(ctx, http.MethodGet, PathRepartition, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RequestRepartition asks for n partitions, each source copying at most rate bytes per
// second (nil: the manager's default). Asking again for the count in progress (or the
// count the grid has) changes nothing but the rate when one is given; another count in
// progress is a 409 *Error.
func (c *Client) RequestRepartition(ctx context.Context, n int, rate *Rate) (*RepartitionStatus, error) {
	var r RepartitionStatus
	if err := c.Do(ctx, http.MethodPost, PathRepartition, RepartitionRequest{Partitions: &n, Rate: rate}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// HA returns the grid's HA setting and how far the partitions are.
func (c *Client) HA(ctx context.Context) (*HAStatus, error) {
	var r HAStatus
	if err := c.Do(ctx, http.MethodGet, PathHA, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SetHA asks for a backup per partition (true) or none (false); the manager adds or
// removes the backups in the partition records and the answer is the progress so far.
func (c *Client) SetHA(ctx context.Context, ha bool) (*HAStatus, error) {
	var r HAStatus
	if err := c.Do(ctx, http.MethodPost, PathHA, HARequest{HA: &ha}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Managers returns the members of the managers' etcd cluster.
func (c *Client) Managers(ctx context.Context) (*Managers, error) {
	var r Managers
	if err := c.Do(ctx, http.MethodGet, PathManagers, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ShrinkManagers asks the managers to remove every member but the first n (by ordinal);
// a member that is already gone is not an error.
func (c *Client) ShrinkManagers(ctx context.Context, n int) (*Managers, error) {
	var r Managers
	if err := c.Do(ctx, http.MethodPost, PathManagers, ManagersRequest{Members: &n}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Do sends one request, with in as its JSON body (nil: none), and decodes a 2xx answer
// into out. A refusal comes back as *Error, no answer from a manager as
// *UnreachableError; a context that ends is returned wrapped.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode the request %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return fmt.Errorf("manager request %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != nil && method != http.MethodGet && method != http.MethodHead {
		t, err := c.Token()
		if err != nil {
			return fmt.Errorf("%s %s: the operator token: %w", method, path, err)
		}
		if t != "" {
			req.Header.Set(TokenHeader, t)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s via %s: %w", method, path, c.Via, ctx.Err())
		}
		return &UnreachableError{Via: c.Via, Err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s via %s: %w", method, path, c.Via, ctx.Err())
		}
		return &UnreachableError{Via: c.Via, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("%s %s via %s: the answer is not the manager's JSON: %w (%.200q)", method, path, c.Via, err, answer)
		}
		return nil
	}
	return answerError(c.Via, resp.StatusCode, answer)
}

// answerError tells the manager's own refusal (the error envelope) from a proxy in
// between failing to reach a manager (a Kubernetes Status document, a 502/503/504).
func answerError(via string, status int, body []byte) error {
	var e struct {
		ErrorBody
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Error.Message != "":
			return &Error{Status: status, Code: e.Error.Code, Message: e.Error.Message}
		case e.Kind == "Status":
			return &UnreachableError{Via: via, Err: fmt.Errorf("HTTP %d: %s", status, e.Message)}
		}
	}
	msg := string(bytes.TrimSpace(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout {
		return &UnreachableError{Via: via, Err: fmt.Errorf("HTTP %d: %s", status, msg)}
	}
	return &Error{Status: status, Code: http.StatusText(status), Message: msg}
}
