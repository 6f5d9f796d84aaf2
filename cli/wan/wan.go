// Package wan runs insightctl wan status and insightctl wan sync: it reaches one site's
// WAN gateway (docs/wan.md) — a release's, through a port-forward to a gateway pod that
// trusts the release's CA and presents its operator token as every insightctl command
// does, or one given by its URL, CA file and token file (insight-grid local --site) — and
// reads its status (GET /v1/wan/status) or starts a repair of a target site
// (POST /v1/wan/sync) and follows it.
//
// The gateway's documents are grid/api's (WANGatewayStatus, WANRepair, WANRepairStarted),
// which the gateway serves. It must not depend on cobra: the commands copy their flags
// into Options.
package wan

import (
	"net/url"
	"time"

	"github.com/insightgrid/insight/cli/validate"
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
