// Package install turns what the user asked for (a profile, friendly flags, -f files and
// --set) into a validated plan for the Insight chart, and runs Helm's install, upgrade
// and template actions on it. The cobra commands only copy flags into Parameters.
//
// It must not depend on cobra, on terminal handling or on a concrete Kubernetes client:
// the Helm action.Configuration it is given carries the cluster.
package install

import (
	"context"
	"fmt"
	"io"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/cli/validate"
)

// DefaultName is the release name when install is given none.
const DefaultName = "insight"

// Parameters is everything install, upgrade and template need to know.
type Parameters struct {
	// Name is the Helm release name.
	Name string
	// Namespace is where the release and its objects live.
	Namespace string
	// ChartDir overrides the chart embedded in the binary (a directory or .tgz).
	ChartDir string

	// Profile is a curated values profile (values/<name>.yaml), the lowest layer.
	Profile string
	// Partitions, HA, AntiAffinity, Memory, CPU and Enable are the friendly flags; nil or
	// empty means "not given", so they never override a profile by accident.
	Partitions *int
	HA         *bool
	// ManagerHA is manager.ha: three managers (an etcd cluster of 3) or one.
	ManagerHA    *bool
	AntiAffinity string
	Memory       string
	CPU          string
	Enable       []string
	// ValueFiles (-f), Set and SetString are Helm's own, applied last.
	ValueFiles []string
	Set        []string
	SetString  []string

	// APIVersions are extra API versions a render without a cluster takes as served, as
	// helm template --api-versions (e.g. the Prometheus Operator's for --enable prometheus).
	APIVersions []string

	// DryRun renders and checks without changing the cluster.
	DryRun bool
	// Wait waits until every pod is ready, up to Timeout.
	Wait    bool
	Timeout time.Duration
	// CreateNamespace creates Namespace if it does not exist.
	CreateNamespace bool
}

// Said reports whether the user gave any values at all; the wizard runs when not.
func (p *Parameters) Said() bool {
	return p.Profile != "" || p.Partitions != nil || p.HA != nil || p.ManagerHA != nil || p.AntiAffinity != "" ||
		p.Memory != "" || p.CPU != "" || len(p.Enable) > 0 || len(p.ValueFiles) > 0 || len(p.Set) > 0 || len(p.SetString) > 0
}

// Plan is a chart with validated values, ready for Helm.
type Plan struct {
	Chart *chart.Chart
	// Values are the user-supplied values, stored with the release.
	Values map[string]any
	// Full are Values coalesced with the chart's defaults: what the templates see.
	Full map[string]any
}

// LoadChart returns the chart from ChartDir, or the embedded one.
func (p *Parameters) LoadChart() (*chart.Chart, error) {
	ch, err := charts.Load(p.ChartDir)
	if err != nil {
		return nil, fmt.Errorf("load chart: %w", err)
	}
	return ch, nil
}

// Prepare loads the chart, composes the values over base (the release's current
// user-supplied values on upgrade, else nil) and validates them. Bad input comes back as
// a *validate.Error listing every problem; nothing has touched a cluster yet.
func (p *Parameters) Prepare(base map[string]any, stdin io.Reader) (*Plan, error) {
	ch, err := p.LoadChart()
	if err != nil {
		return nil, err
	}
	return p.PrepareChart(ch, base, stdin)
}

// PrepareChart is Prepare with an already loaded chart.
func (p *Parameters) PrepareChart(ch *chart.Chart, base map[string]any, stdin io.Reader) (*Plan, error) {
	vals, composeErr := p.UserValues(ch, base, stdin)
	var problems []validate.Problem
	if ve, ok := composeErr.(*validate.Error); ok {
		problems = ve.Problems
	} else if composeErr != nil {
		return nil, composeErr
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, vals); err != nil {
		return nil, fmt.Errorf("process chart dependencies: %w", err)
	}
	if err := validate.Values(ch, vals); err != nil {
		ve, ok := err.(*validate.Error)
		if !ok {
			return nil, err
		}
		problems = append(problems, ve.Problems...)
	}
	if len(problems) > 0 {
		return nil, &validate.Error{Problems: validate.Dedupe(problems)}
	}
	full, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("coalesce values: %w", err)
	}
	return &Plan{Chart: ch, Values: vals, Full: full}, nil
}

// Install runs Helm's install of the plan. Waiting is left to the caller, which shows
// progress while it waits.
func Install(ctx context.Context, cfg *action.Configuration, p *Parameters, plan *Plan) (*release.Release, error) {
	a := action.NewInstall(cfg)
	a.ReleaseName = p.Name
	a.Namespace = p.Namespace
	a.CreateNamespace = p.CreateNamespace
	a.Timeout = p.Timeout
	a.Wait = p.Wait && !p.DryRun
	if p.DryRun {
		a.DryRun = true
		a.DryRunOption = "client"
	}
	rel, err := a.RunWithContext(ctx, plan.Chart, plan.Values)
	if err != nil {
		return rel, fmt.Errorf("install %s: %w", p.Name, err)
	}
	return rel, nil
}

// UpgradePlan reads release p.Name and composes p's values over the user-supplied values
// it has, against chart ch: the release as it is and the plan an upgrade applies to it.
func UpgradePlan(cfg *action.Configuration, p *Parameters, ch *chart.Chart, stdin io.Reader) (*release.Release, *Plan, error) {
	rel, err := action.NewGet(cfg).Run(p.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("release %s in namespace %s: %w", p.Name, p.Namespace, err)
	}
	plan, err := p.PrepareChart(ch, rel.Config, stdin)
	if err != nil {
		return rel, nil, err
	}
	return rel, plan, nil
}

// Upgrade runs Helm's upgrade of the plan. plan.Values already holds the release's
// previous user-supplied values under the new ones; Helm is told to take the new chart's
// defaults and reapply those (ResetThenReuseValues) — never --reuse-values, which would
// freeze the old chart's defaults into the release.
func Upgrade(ctx context.Context, cfg *action.Configuration, p *Parameters, plan *Plan) (*release.Release, error) {
	a := newUpgrade(cfg, p)
	a.Wait = p.Wait && !p.DryRun
	if p.DryRun {
		a.DryRun = true
		a.DryRunOption = "client"
	}
	return runUpgrade(ctx, a, p, plan)
}

// PreviewUpgrade renders the upgrade that Upgrade would run of the plan, without changing
// or storing anything. With live true it is Helm's server-side dry run: the templates'
// lookup sees the cluster's objects, so what the chart derives from them (a generated
// Secret kept across upgrades, the partitions already running) renders as the upgrade
// would render it; with live false lookup finds nothing, as in a client-side dry run.
func PreviewUpgrade(ctx context.Context, cfg *action.Configuration, p *Parameters, plan *Plan, live bool) (*release.Release, error) {
	a := newUpgrade(cfg, p)
	a.DryRun = true
	a.DryRunOption = "client"
	if live {
		a.DryRunOption = "server"
	}
	return runUpgrade(ctx, a, p, plan)
}

func newUpgrade(cfg *action.Configuration, p *Parameters) *action.Upgrade {
	a := action.NewUpgrade(cfg)
	a.Namespace = p.Namespace
	a.Timeout = p.Timeout
	a.ResetThenReuseValues = true
	return a
}

func runUpgrade(ctx context.Context, a *action.Upgrade, p *Parameters, plan *Plan) (*release.Release, error) {
	rel, err := a.RunWithContext(ctx, p.Name, plan.Chart, plan.Values)
	if err != nil {
		return rel, fmt.Errorf("upgrade %s: %w", p.Name, err)
	}
	return rel, nil
}

// Render renders the plan without a cluster, as `helm template` does, against kubeVersion
// (nil: Helm's default capabilities).
func Render(p *Parameters, plan *Plan, kubeVersion *chartutil.KubeVersion) (*release.Release, error) {
	a := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	a.ReleaseName = p.Name
	a.Namespace = p.Namespace
	a.DryRun = true
	a.DryRunOption = "client"
	a.ClientOnly = true
	a.Replace = true
	a.IncludeCRDs = true
	a.KubeVersion = kubeVersion
	a.APIVersions = p.APIVersions
	rel, err := a.Run(plan.Chart, plan.Values)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", p.Name, err)
	}
	return rel, nil
}
