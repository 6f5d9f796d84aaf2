package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/insightgrid/insight/grid/api"
)

// ProxyTimeout bounds the attempt through the API server's service proxy, so that a
// NetworkPolicy or a proxy that cannot reach the pods never hangs a command before the
// port-forward is tried.
const ProxyTimeout = 3 * time.Second

// Way is one way to reach a manager: a client, and what ends the way (nil: nothing).
type Way func(ctx context.Context) (*api.Client, func(), error)

// Reacher reaches the manager of one release. The ways are tried in a fixed order: URL
// alone when given (the user's word wins outright); otherwise Proxy, time-boxed to
// ProxyTimeout and accepted only when a manager answers through it, then Forward.
type Reacher struct {
	// URL is --manager-url, checked by api.ParseURL; "" when not given.
	URL string
	// Proxy and Forward are the ways tried without URL; a nil one is skipped.
	Proxy   Way
	Forward Way
	// ProxyTimeout replaces ProxyTimeout when positive.
	ProxyTimeout time.Duration
	// Token gives the operator token every client Reach returns presents on changes;
	// nil: none.
	Token func() (string, error)
	// CA gives the release's CA, which an https URL's certificate must chain to; nil, or
	// a nil pool: the system's roots.
	CA CA
	// ServiceName gives the name of the managers' Service ("<svc>.<ns>.svc"), which the
	// release's certificate carries: an https URL at an IP address (a pod's; the
	// certificate names no pod address) must present a certificate for it. nil: the IP.
	ServiceName func(ctx context.Context) (string, error)
}

// Kube is a Reacher of the release's manager with the user's kube credentials: its
// service through the API server's proxy, then a port-forward to one of its pods. A
// release serving TLS is reached over HTTPS, trusting its CA (read from its Secret).
func Kube(kube kubernetes.Interface, cfg *rest.Config, namespace, release, url string) *Reacher {
	ca := SecretCA(kube, namespace, release)
	return &Reacher{
		URL: url,
		Proxy: func(ctx context.Context) (*api.Client, func(), error) {
			c, err := ServiceProxy(ctx, kube, cfg, namespace, release)
			return c, nil, err
		},
		Forward: func(ctx context.Context) (*api.Client, func(), error) {
			return PortForward(ctx, kube, cfg, namespace, release, ca)
		},
		Token: SecretToken(kube, namespace, release),
		CA:    ca,
		ServiceName: func(ctx context.Context) (string, error) {
			name, _, err := managerService(ctx, kube, namespace, release)
			return name + "." + namespace + ".svc", err
		},
	}
}

// Reach returns a client of the manager, presenting r.Token, and the function that
// releases it (a port-forward's; call it when done). Its error names every way tried and
// why each failed, as an *api.UnreachableError when no manager answered.
func (r *Reacher) Reach(ctx context.Context) (*api.Client, func(), error) {
	c, stop, err := r.reach(ctx)
	if c != nil && r.Token != nil {
		c.Token = r.Token
	}
	return c, stop, err
}

func (r *Reacher) reach(ctx context.Context) (*api.Client, func(), error) {
	if r.URL != "" {
		base, err := api.ParseURL(r.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("--manager-url %q: %w", r.URL, err)
		}
		hc := &http.Client{}
		if strings.HasPrefix(base, "https:") && r.CA != nil {
			pool, err := r.CA(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("--manager-url %q: %w", r.URL, err)
			}
			if pool != nil {
				name, err := r.urlServerName(ctx, base)
				if err != nil {
					return nil, nil, fmt.Errorf("--manager-url %q: %w", r.URL, err)
				}
				hc = HTTPSClient(pool, name)
			}
		}
		return api.NewClient(base, hc), func() {}, nil
	}
	var errs []error
	if r.Proxy != nil {
		c, err := r.tryProxy(ctx)
		if err == nil {
			return c, func() {}, nil
		}
		errs = append(errs, err)
	}
	if r.Forward != nil && ctx.Err() == nil {
		c, stop, err := r.Forward(ctx)
		if err == nil {
			if stop == nil {
				stop = func() {}
			}
			return c, stop, nil
		}
		errs = append(errs, fmt.Errorf("port-forward: %w", err))
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("no way to reach the manager: give --manager-url")
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return nil, nil, &api.UnreachableError{Via: "the API server", Err: errors.New(strings.Join(msgs, "; "))}
}

// urlServerName is the name the certificate at base must carry: the managers' Service's
// when base's host is an IP address and ServiceName is set, else "" (the host itself).
func (r *Reacher) urlServerName(ctx context.Context, base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", base, err)
	}
	if net.ParseIP(u.Hostname()) == nil || r.ServiceName == nil {
		return "", nil
	}
	return r.ServiceName(ctx)
}

// tryProxy builds the proxy's client and checks, within the time box, that a manager
// answers through it.
func (r *Reacher) tryProxy(ctx context.Context) (*api.Client, error) {
	limit := r.ProxyTimeout
	if limit <= 0 {
		limit = ProxyTimeout
	}
	pctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	c, stop, err := r.Proxy(pctx)
	if err != nil {
		return nil, fmt.Errorf("service proxy: %w", err)
	}
	if err := c.Live(pctx); err != nil {
		if stop != nil {
			stop()
		}
		if pctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("service proxy: no answer within %s", limit)
		}
		return nil, fmt.Errorf("service proxy: %w", err)
	}
	return c, nil
}

// View is what a command reads of the manager once it tried to reach it: the client, or
// why there is none.
type View struct {
	Client *api.Client
	Err    error
	// Timeout bounds each read when positive, so that a manager that stopped answering
	// slows no poll down.
	Timeout time.Duration
}

// Partitions returns the manager's partitions, or why they cannot be read.
func (v View) Partitions(ctx context.Context) ([]api.Partition, error) {
	if v.Client == nil {
		if v.Err == nil {
			return nil, errors.New("no manager client")
		}
		return nil, v.Err
	}
	if v.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.Timeout)
		defer cancel()
	}
	return v.Client.Partitions(ctx)
}
