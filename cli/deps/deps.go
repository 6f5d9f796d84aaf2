// Package deps is the one set of collaborators every insightctl workflow runs with (Helm's
// configuration, the Kubernetes client, the manager client factory, the IO streams, the
// clock, the poll interval), the way helm's action.Configuration and cilium-cli's installer
// parameters are: the command line builds it once from the flags and the kubeconfig, tests
// build it with fakes.
//
// It must not depend on cobra, nor on any workflow package.
package deps

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/grid/api"
)

// Deps are a workflow's collaborators.
type Deps struct {
	Helm *action.Configuration
	Kube kubernetes.Interface
	// Namespace is the release's namespace: -n, else the kubeconfig context's.
	Namespace string
	// Manager reaches the manager of release: at url (--manager-url) only when given,
	// else as the cluster allows (docs/cli.md, "Reaching the manager"). What it opens ends
	// with ctx.
	Manager func(ctx context.Context, release, url string) (*api.Client, error)
	// Forward forwards a free port on 127.0.0.1 to port of pod in namespace through the
	// API server, as kubectl port-forward does, and returns the local port and what ends
	// the forward; ctx's end ends it too. nil without a cluster.
	Forward func(ctx context.Context, namespace, pod string, port int) (int, func(), error)
	IO      IO
	// Now is the clock; tests freeze it.
	Now func() time.Time
	// PollInterval is how often progress is refreshed.
	PollInterval time.Duration
}

// IO are the streams and how to write to them.
type IO struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// Terminal says whether In and Out are a terminal (prompts and live views).
	Terminal bool
	// Output is -o: table, json or yaml.
	Output string
}

// Structured reports whether -o asks for JSON or YAML instead of a table.
func (o IO) Structured() bool { return o.Output == "json" || o.Output == "yaml" }

// Print writes v to Out as JSON or YAML per -o; it reports false for -o table.
func (o IO) Print(v any) (bool, error) {
	switch o.Output {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, fmt.Errorf("encode JSON: %w", err)
		}
		_, err = fmt.Fprintln(o.Out, string(b))
		return true, err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, fmt.Errorf("encode YAML: %w", err)
		}
		_, err = o.Out.Write(b)
		return true, err
	}
	return false, nil
}
