package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/cli/progress"
)

// DeployOptions say how install and upgrade deploy the parameters.
type DeployOptions struct {
	// Upgrade upgrades the release, keeping its values, instead of installing it.
	Upgrade       bool
	SkipPreflight bool
	// SaveValues is a file to write the composed values to ("": none).
	SaveValues string
}

// Deploy composes the values of p over chart ch (and, for an upgrade, over the values the
// release has), checks the cluster can run them, runs Helm while showing the pods'
// progress, and prints the release's summary (per -o) with its endpoints.
func Deploy(ctx context.Context, d *deps.Deps, p *Parameters, ch *chart.Chart, o DeployOptions) error {
	var plan *Plan
	var err error
	if o.Upgrade {
		// The one read before validation: the values the release already has.
		_, plan, err = UpgradePlan(d.Helm, p, ch, d.IO.In)
	} else {
		plan, err = p.PrepareChart(ch, nil, d.IO.In)
	}
	if err != nil {
		return err
	}
	if o.SaveValues != "" {
		if err := saveValues(o.SaveValues, plan.Values); err != nil {
			return err
		}
	}
	if !o.SkipPreflight {
		if err := Preflight(ctx, d, p, plan, o.Upgrade); err != nil {
			return err
		}
	}
	run := Install
	if o.Upgrade {
		run = Upgrade
	}
	if !p.Wait || p.DryRun {
		rel, err := run(ctx, d.Helm, p, plan)
		if err != nil {
			return err
		}
		return summary(ctx, d, p, rel)
	}
	src := progress.KubeSource{Client: d.Kube, Namespace: p.Namespace, Release: p.Name}
	fmt.Fprintf(d.IO.ErrOut, "Waiting up to %s for the pods of %s:\n", p.Timeout, p.Name)
	w := progress.Start(ctx, src, progress.Options{Out: d.IO.ErrOut, TTY: d.IO.Terminal, Now: d.Now, Interval: d.PollInterval})
	rel, err := run(ctx, d.Helm, p, plan)
	w.Stop()
	if err != nil {
		progress.Explain(ctx, src, d.IO.ErrOut)
		if IsTimeout(err) {
			return exit.TimeoutError(fmt.Errorf("%s: pods not ready within %s: %w", p.Name, p.Timeout, err))
		}
		return err
	}
	return summary(ctx, d, p, rel)
}

func saveValues(path string, vals map[string]any) error {
	b, err := yaml.Marshal(vals)
	if err != nil {
		return fmt.Errorf("encode values: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("--save-values: %w", err)
	}
	return nil
}

// IsTimeout reports whether a Helm action's error is a wait that ran out of time.
func IsTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out waiting") ||
		strings.Contains(err.Error(), "context deadline exceeded")
}

// Summary is what install and upgrade print with -o json|yaml, and the release part of
// other commands' output.
type Summary struct {
	Name         string    `json:"name"`
	Namespace    string    `json:"namespace"`
	Revision     int       `json:"revision"`
	Status       string    `json:"status"`
	Chart        string    `json:"chart"`
	ChartVersion string    `json:"chartVersion"`
	AppVersion   string    `json:"appVersion"`
	Updated      time.Time `json:"updated"`
	DryRun       bool      `json:"dryRun"`
	Endpoints    []string  `json:"endpoints"`
	Manifest     string    `json:"manifest,omitempty"`
}

func summary(ctx context.Context, d *deps.Deps, p *Parameters, rel *release.Release) error {
	s := Summarize(rel)
	s.DryRun = p.DryRun
	if p.DryRun {
		s.Manifest = rel.Manifest
	} else {
		s.Endpoints = endpoints(ctx, d, p)
	}
	if done, err := d.IO.Print(s); done {
		return err
	}
	out := d.IO.Out
	fmt.Fprintf(out, "NAME: %s\nNAMESPACE: %s\nSTATUS: %s\nREVISION: %d\nCHART: %s-%s\nAPP VERSION: %s\n",
		s.Name, s.Namespace, s.Status, s.Revision, s.Chart, s.ChartVersion, s.AppVersion)
	if p.DryRun {
		fmt.Fprintf(out, "DRY RUN: nothing was changed. The manifest:\n---\n%s", strings.TrimPrefix(rel.Manifest, "---\n"))
		return nil
	}
	if len(s.Endpoints) > 0 {
		fmt.Fprintln(out, "ENDPOINTS:")
		for _, e := range s.Endpoints {
			fmt.Fprintf(out, "  %s\n", e)
		}
	}
	fmt.Fprintf(out, "Next: insightctl status %s -n %s\n", s.Name, s.Namespace)
	return nil
}

// Summarize is the summary of rel.
func Summarize(rel *release.Release) Summary {
	s := Summary{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, Endpoints: []string{}}
	if rel.Info != nil {
		s.Status = rel.Info.Status.String()
		s.Updated = rel.Info.LastDeployed.Time
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		s.Chart, s.ChartVersion, s.AppVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	return s
}

// endpoints lists the release's services as host:port per named port.
func endpoints(ctx context.Context, d *deps.Deps, p *Parameters) []string {
	out := []string{}
	svcs, err := d.Kube.CoreV1().Services(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(p.Name)})
	if err != nil {
		return out
	}
	for _, s := range svcs.Items {
		// Headless services name pods for peers; clients start from the others.
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			continue
		}
		for _, port := range s.Spec.Ports {
			name := port.Name
			if name == "" {
				name = "port"
			}
			out = append(out, fmt.Sprintf("%s: %s.%s.svc:%d", name, s.Name, s.Namespace, port.Port))
		}
	}
	return out
}
