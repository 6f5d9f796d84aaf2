// Package wan runs insightctl wan status and insightctl wan sync: it reaches one site's
// WAN gateway (docs/wan.md) — a release's, through a port-forward to a gateway pod that
// trusts the release's CA and presents its operator token as every insightctl command
// does, or one given by its URL, CA file and token file (insight-grid local --site) — and
// reads its status (GET /v1/wan/status) or starts a repair of a target site
// (POST /v1/wan/sync) and follows it.
//
// The gateway's JSON contract is grid/wan's GatewayStatus; insightctl may import no grid
// package but grid/api, so the fields it reads are declared here again, by their JSON
// names. It must not depend on cobra: the commands copy their flags into Options.
package wan

import (
	"encoding/json"
	"net/url"
	"time"

	"github.com/insightgrid/insight/cli/validate"
)

// Paths of the gateway's API (grid/wan).
const (
	PathStatus = "/v1/wan/status"
	PathSync   = "/v1/wan/sync"
)

// Options say which gateway to reach and for how long.
type Options struct {
	// Release is the release whose gateway to reach; "" with Gateway.
	Release string
	// Gateway is --gateway, the URL of a gateway reached directly (https://host:port),
	// with CAFile (--ca-file), the CA its certificate chains to (none: the system's
	// roots), and TokenFile (--token-file), the file holding its site's operator token.
	Gateway, CAFile, TokenFile string
	// Timeout bounds the whole command (--timeout).
	Timeout time.Duration
}

// SyncOptions are insightctl wan sync's parameters.
type SyncOptions struct {
	Options
	// Target is --target, the site to repair: one of the gateway's targets.
	Target string
	// Wait is --wait: follow the repair until it is done or failed, or Timeout.
	Wait bool
}

// Validate checks the options without a cluster or a file.
func (o Options) Validate() error {
	if p := o.problems(); len(p) > 0 {
		return &validate.Error{Problems: p}
	}
	return nil
}

func (o Options) problems() []validate.Problem {
	var problems []validate.Problem
	if o.Gateway != "" {
		if o.Release != "" {
			problems = append(problems, validate.Problem{Key: "RELEASE", Value: o.Release, Message: "give a release or --gateway, not both"})
		}
		u, err := url.Parse(o.Gateway)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || u.Port() == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			problems = append(problems, validate.Problem{Key: "--gateway", Value: o.Gateway,
				Message: "want the gateway's URL, https://HOST:PORT (insight-grid local --site prints it as wan-gateway: its base port + 5)"})
		case u.Scheme == "http" && o.CAFile != "":
			problems = append(problems, validate.Problem{Key: "--ca-file", Value: o.CAFile, Message: "has no use with an http:// --gateway: give https://"})
		}
	} else {
		for _, f := range []struct{ flag, v string }{{"--ca-file", o.CAFile}, {"--token-file", o.TokenFile}} {
			if f.v != "" {
				problems = append(problems, validate.Problem{Key: f.flag, Value: f.v,
					Message: "goes with --gateway (a release's CA and operator token are read from its Secrets)"})
			}
		}
	}
	if o.Timeout <= 0 {
		problems = append(problems, validate.Problem{Key: "--timeout", Value: o.Timeout.String(), Message: "must be positive, e.g. 30s"})
	}
	return problems
}

// NeedsCluster reports whether the gateway is a release's, reached through the cluster.
func (o Options) NeedsCluster() bool { return o.Gateway == "" }

// Validate checks the options without a cluster or a file.
func (o SyncOptions) Validate() error {
	problems := o.problems()
	if o.Target == "" {
		problems = append(problems, validate.Problem{Key: "--target",
			Message: "required: the site to repair, one of the gateway's target sites (insightctl wan status lists them)"})
	}
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

// Status is the gateway's status (grid/wan GatewayStatus), as far as insightctl reads it.
type Status struct {
	Site       string      `json:"site"`
	Targets    []Target    `json:"targets"`
	Partitions []Partition `json:"partitions"`
	Batches    int64       `json:"batchesSent"`
	Keys       int64       `json:"keysSent"`
	Bytes      int64       `json:"bytesSent"`
	Applied    int64       `json:"keysApplied"`
	Errors     int64       `json:"errors"`
	Repairs    []Repair    `json:"repairs"`

	// raw is the document as the gateway sent it: -o json|yaml print it whole.
	raw json.RawMessage
}

// Target is one target site over every partition (grid/wan TargetSummary).
type Target struct {
	Site    string `json:"site"`
	Address string `json:"address"`
	Backlog int    `json:"backlog"`
	// OldestAckedHLC is the oldest timestamp a partition has had acknowledged by the
	// site: 48 bits of wall-clock milliseconds, then a 16-bit counter; 0: never.
	OldestAckedHLC      uint64  `json:"oldestAckedHLC"`
	LagSeconds          float64 `json:"lagSeconds"`
	OutOfSyncPartitions []int   `json:"outOfSyncPartitions"`
}

// LastAck is the wall time of OldestAckedHLC; the zero time when the site has never
// acknowledged anything.
func (t Target) LastAck() time.Time {
	if t.OldestAckedHLC == 0 {
		return time.Time{}
	}
	return time.UnixMilli(int64(t.OldestAckedHLC >> 16)).UTC()
}

// Partition is one partition's status; insightctl shows only why it could not be read.
type Partition struct {
	Partition int    `json:"partition"`
	Error     string `json:"error,omitempty"`
}

// Repair is one repair of a target site (grid/wan RepairStatus).
type Repair struct {
	Target string `json:"target"`
	ID     int64  `json:"id"`
	// State is running, done or failed.
	State string `json:"state"`
	// Started and Finished are RFC 3339 times; Finished is empty while running.
	Started        string `json:"started"`
	Finished       string `json:"finished,omitempty"`
	SlotsCompared  int    `json:"slotsCompared"`
	SlotsDiffering int    `json:"slotsDiffering"`
	KeysSent       int64  `json:"keysSent"`
	Error          string `json:"error,omitempty"`
}

// Repair states.
const (
	StateRunning = "running"
	StateDone    = "done"
	StateFailed  = "failed"
)

// Started is the 202 answer to POST /v1/wan/sync.
type Started struct {
	Target string `json:"target"`
	ID     int64  `json:"id"`
	State  string `json:"state"`
}
