// Package gridapi is insightctl's client of the grid manager's REST API (docs/grid.md,
// "Manager"): the partition records, the planned switch-overs failover and failback, and
// online re-partitioning.
// It reaches a manager either through the Kubernetes API server's service proxy, so no
// port-forward is needed, or directly at a URL the user gives.
//
// It must not depend on cobra, on Helm or on the grid's own packages (importing them would
// pull etcd into insightctl): the JSON shapes are restated here from the contract in
// docs/CONTRACTS.md.
package gridapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Partition is one partition record with its instances (GET /v1/partitions).
type Partition struct {
	ID               int        `json:"id"`
	Epoch            int64      `json:"epoch"`
	Primary          string     `json:"primary"`
	Backup           string     `json:"backup"`
	InSync           bool       `json:"inSync"`
	PreferredPrimary string     `json:"preferredPrimary"`
	Instances        []Instance `json:"instances"`
}

// Instance is one registered instance of a partition.
type Instance struct {
	ID        string `json:"id"`
	Partition int    `json:"partition"`
	Instance  int    `json:"instance"`
	Role      string `json:"role"`
	Ready     bool   `json:"ready"`
}

// InstanceID is the grid's name of instance i of partition p ("p0-i1"): the names in a
// partition record.
func InstanceID(p, i int) string { return fmt.Sprintf("p%d-i%d", p, i) }

// SwitchResult is the answer to failover and failback: the handover
// ({partition, from, to, epoch, pauseMicros}), or for a failback with nothing to do
// {partition, unchanged: true, primary, epoch}.
type SwitchResult struct {
	Partition   int    `json:"partition"`
	From        string `json:"from,omitempty"`
	To          string `json:"to,omitempty"`
	Epoch       int64  `json:"epoch,omitempty"`
	PauseMicros int64  `json:"pauseMicros,omitempty"`
	Unchanged   bool   `json:"unchanged,omitempty"`
	Primary     string `json:"primary,omitempty"`
}

// String is the one-line form insight-grid prints too.
func (r SwitchResult) String() string {
	if r.Unchanged {
		return fmt.Sprintf("partition %d: %s is already the primary, epoch %d, unchanged", r.Partition, r.Primary, r.Epoch)
	}
	return fmt.Sprintf("partition %d: %s -> %s, epoch %d, write pause %.2f ms", r.Partition, r.From, r.To, r.Epoch, float64(r.PauseMicros)/1000)
}

// Repartition is the re-partitioning progress (GET /v1/repartition, and the answer to
// POST): the partitions in the map now, the count asked for (0: none) and how far the
// slots have moved.
type Repartition struct {
	Partitions int `json:"partitions"`
	Target     int `json:"target"`
	// State is idle, growing (waiting for the new partitions' instances), moving,
	// shrinking (the emptied partitions leave the map) or finishing.
	State          string `json:"state"`
	Message        string `json:"message"`
	MapVersion     int64  `json:"mapVersion"`
	SlotsRemaining int    `json:"slotsRemaining"`
	SlotsMoving    int    `json:"slotsMoving"`
	Moves          []Move `json:"moves"`
}

// Move is one batch of slots moving between two partitions.
type Move struct {
	Slots [][2]int `json:"slots"`
	From  int      `json:"from"`
	To    int      `json:"to"`
	State string   `json:"state"`
}

// Idle reports whether nothing is being re-partitioned.
func (r Repartition) Idle() bool { return r.State == "idle" && r.Target == 0 }

// Error is the manager's answer to a request it refused: {"error":{"code","message"}}
// with the HTTP status.
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
// or the API server's proxy could not reach one.
type UnreachableError struct {
	Via string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("manager unreachable via %s: %v", e.Via, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Client calls one manager's REST API.
type Client struct {
	// Base is the URL the API's paths are appended to, without a trailing slash.
	Base string
	// HTTP sends the requests; nil: http.DefaultClient.
	HTTP *http.Client
	// Via says how the manager is reached, for messages.
	Via string
}

// ParseURL checks a --manager-url value and returns it without a trailing slash; a bare
// host:port means http://host:port.
func ParseURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("want the manager's REST API as http://host:port (e.g. http://10.0.0.7:8090)")
	}
	return strings.TrimRight(s, "/"), nil
}

// Direct is a client of the manager at base (a URL ParseURL accepted).
func Direct(base string, hc *http.Client) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: hc, Via: base}
}

// Partitions returns every partition record.
func (c *Client) Partitions(ctx context.Context) ([]Partition, error) {
	var out struct {
		Partitions []Partition `json:"partitions"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/partitions", &out); err != nil {
		return nil, err
	}
	return out.Partitions, nil
}

// Failover switches partition p over to its in-sync backup.
func (c *Client) Failover(ctx context.Context, p int) (*SwitchResult, error) {
	return c.switchOver(ctx, p, "failover")
}

// Failback hands partition p back to its preferred primary.
func (c *Client) Failback(ctx context.Context, p int) (*SwitchResult, error) {
	return c.switchOver(ctx, p, "failback")
}

func (c *Client) switchOver(ctx context.Context, p int, op string) (*SwitchResult, error) {
	var r SwitchResult
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/partitions/%d/%s", p, op), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Repartition returns the re-partitioning progress.
func (c *Client) Repartition(ctx context.Context) (*Repartition, error) {
	var r Repartition
	if err := c.do(ctx, http.MethodGet, "/v1/repartition", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RequestRepartition asks for n partitions, each source copying at most rate bytes per
// second ("4mb"; empty: the manager's default). Asking again for the count in progress (or
// the count the grid has) changes nothing but the rate when one is given; another count
// in progress is a 409 *Error.
func (c *Client) RequestRepartition(ctx context.Context, n int, rate string) (*Repartition, error) {
	var r Repartition
	req := map[string]any{"partitions": n}
	if rate != "" {
		req["rate"] = rate
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode the re-partitioning request: %w", err)
	}
	if err := c.send(ctx, http.MethodPost, "/v1/repartition", body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// do sends one request and decodes a 2xx answer into out. A refusal comes back as *Error,
// no answer from a manager as *UnreachableError; a context that ends is returned as is.
func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.send(ctx, method, path, nil, out)
}

// send is do with a JSON request body (nil: none).
func (c *Client) send(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return fmt.Errorf("manager request %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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

// answerError tells the manager's own refusal from the API server's proxy failing to
// reach a manager (a Kubernetes Status document).
func answerError(via string, status int, body []byte) error {
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Error != nil && e.Error.Message != "":
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

// IsUnreachable reports whether err means no manager answered.
func IsUnreachable(err error) bool {
	var u *UnreachableError
	return errors.As(err, &u)
}
