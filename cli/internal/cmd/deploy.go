package cmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/AlecAivazis/survey/v2/terminal"
	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/cli/preflight"
	"github.com/insightgrid/insight/cli/progress"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/cli/wizard"
	"github.com/insightgrid/insight/values"
)

// deployOptions are install's and upgrade's options (Flags → Options → Validate → Run).
type deployOptions struct {
	r             *root
	upgrade       bool
	p             install.Parameters
	vf            valueFlags
	interactive   bool
	skipPreflight bool
	saveValues    string
}

func addDeployFlags(c *cobra.Command, o *deployOptions) {
	addValueFlags(c, &o.p, &o.vf)
	f := c.Flags()
	f.BoolVar(&o.p.DryRun, "dry-run", false, "validate, run the preflight and render, but change nothing")
	f.BoolVar(&o.p.Wait, "wait", true, "wait until every pod is ready, showing progress")
	f.DurationVar(&o.p.Timeout, "timeout", 5*time.Minute, "how long to wait for the pods")
	f.BoolVar(&o.skipPreflight, "skip-preflight", false, "do not check the cluster before installing")
	f.StringVar(&o.saveValues, "save-values", "", "write the composed values to this file (usable with -f)")
}

func newInstallCmd(r *root) *cobra.Command {
	o := &deployOptions{r: r}
	c := &cobra.Command{
		Use:   "install [NAME]",
		Short: "Install the grid (release NAME, default \"insight\")",
		Long: `Install the Insight suite as a Helm release.

Values are layered, the user's last word winning: --profile < --partitions/--ha/
--anti-affinity/--memory/--enable < -f files < --set < --set-string. They are validated
against the charts' schemas before the cluster is contacted; then the preflight checks the
cluster can run them, and the install waits for every pod, showing progress.

With no values given on a terminal, or with -i, a wizard asks for them.`,
		Example: `  insightctl install --profile dev
  insightctl install demo --partitions 3 --ha --anti-affinity=zone --memory 1Gi
  insightctl install demo -f my-values.yaml --set pu.partitions=4 --dry-run`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: o.runE,
	}
	addDeployFlags(c, o)
	c.Flags().BoolVarP(&o.interactive, "interactive", "i", false, "ask for the values with a wizard (needs a terminal)")
	c.Flags().BoolVar(&o.p.CreateNamespace, "create-namespace", false, "create the namespace if it does not exist")
	return c
}

func newUpgradeCmd(r *root) *cobra.Command {
	o := &deployOptions{r: r, upgrade: true}
	c := &cobra.Command{
		Use:   "upgrade [NAME]",
		Short: "Upgrade a release to this chart and new values, keeping the values it has",
		Long: `Upgrade the release to the chart in this insightctl (or --chart-dir).

The release's user-supplied values are kept and the new values layered on top; the new
chart's defaults apply to everything the user never set (Helm's reset-then-reuse, not
--reuse-values, which would keep the old chart's defaults forever).`,
		Example: `  insightctl upgrade --memory 2Gi
  insightctl upgrade demo --set pu.partitions=4`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: o.runE,
	}
	addDeployFlags(c, o)
	return c
}

// runE is install's and upgrade's RunE: complete, then run.
func (o *deployOptions) runE(c *cobra.Command, args []string) error {
	if err := o.complete(c, args); err != nil {
		return err
	}
	return o.run(c.Context())
}

// complete copies flags and arguments into the parameters.
func (o *deployOptions) complete(c *cobra.Command, args []string) error {
	o.p.Name = install.DefaultName
	if len(args) == 1 {
		o.p.Name = args[0]
	}
	o.p.Namespace = o.r.namespace()
	o.vf.apply(c.Flags(), &o.p)
	if o.p.Timeout <= 0 {
		return &validate.Error{Problems: []validate.Problem{{Key: "--timeout", Value: o.p.Timeout.String(), Message: "must be positive, e.g. 5m"}}}
	}
	return nil
}

// canPrompt tells whether a wizard may ask, and if not, why not.
func (o *deployOptions) canPrompt() (terminal.Stdio, string) {
	env := o.r.env
	if env.Getenv("CI") == "true" {
		return terminal.Stdio{}, "CI=true"
	}
	in, inOK := env.In.(terminal.FileReader)
	out, outOK := env.Out.(terminal.FileWriter)
	if !env.Terminal || !inOK || !outOK {
		return terminal.Stdio{}, "no terminal"
	}
	return terminal.Stdio{In: in, Out: out, Err: env.ErrOut}, ""
}

func (o *deployOptions) run(ctx context.Context) error {
	r, p := o.r, &o.p
	ch, err := p.LoadChart()
	if err != nil {
		return err
	}

	if !o.upgrade && (o.interactive || !p.Said()) {
		stdio, why := o.canPrompt()
		if why != "" {
			return &badInput{err: fmt.Errorf("cannot ask for the values (%s); say what to install with flags: --profile %s, "+
				"or --partitions N --ha --anti-affinity=zone|hostname --memory 1Gi --enable ADDON, or -f values.yaml / --set key=value",
				why, strings.Join(values.Names(), "|"))}
		}
		if err := o.runWizard(stdio, ch); err != nil {
			return err
		}
	}

	var base map[string]any
	if o.upgrade {
		// The one read before validation: the values the release already has.
		cur, err := action.NewGet(r.clients.Helm).Run(p.Name)
		if err != nil {
			return fmt.Errorf("release %s in namespace %s: %w", p.Name, p.Namespace, err)
		}
		base = cur.Config
	}
	plan, err := p.PrepareChart(ch, base, r.env.In)
	if err != nil {
		return err
	}
	if o.saveValues != "" {
		if err := saveValues(o.saveValues, plan.Values); err != nil {
			return err
		}
	}

	if !o.skipPreflight {
		if err := o.preflight(ctx, plan); err != nil {
			return err
		}
	}
	return o.deploy(ctx, plan)
}

// runWizard fills the parameters from the wizard's answers. ch only tells the add-ons:
// each preview composes the values against a fresh chart.
func (o *deployOptions) runWizard(stdio terminal.Stdio, ch *chart.Chart) error {
	p := &o.p
	action := "install " + p.Name
	if p.DryRun {
		action += " (dry run)"
	}
	err := wizard.Run(stdio, p, wizard.Inputs{
		Profiles: values.Names(),
		AddOns:   install.AddOns(ch),
		Preview: func(p *install.Parameters) (string, error) {
			plan, err := p.Prepare(nil, o.r.env.In)
			if err != nil {
				return "", err
			}
			b, err := yaml.Marshal(plan.Values)
			return string(b), err
		},
		SaveValues: o.saveValues,
		Save:       func(path, y string) error { return os.WriteFile(path, []byte(y), 0o644) },
		Action:     action,
	})
	if errors.Is(err, terminal.InterruptErr) {
		return wizard.ErrAborted
	}
	// The wizard saved them already, with the preview it showed.
	o.saveValues = ""
	return err
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

func (o *deployOptions) preflight(ctx context.Context, plan *install.Plan) error {
	r, p := o.r, &o.p
	rel, err := install.Render(p, plan, nil)
	if err != nil {
		return err
	}
	req, err := plan.Requirements(p, rel.Manifest)
	if err != nil {
		return err
	}
	if !o.upgrade {
		req.Release = "" // nothing of ours runs yet
	}
	res, err := preflight.Run(ctx, preflight.KubeCluster{Client: r.clients.Kube}, req)
	if res == nil {
		return fmt.Errorf("preflight: %w", err)
	}
	w := r.env.ErrOut
	fmt.Fprintln(w, "Preflight:")
	for _, c := range res.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %-18s %s\n", mark, c.Name, c.Message)
		if c.Fix != "" {
			fmt.Fprintf(w, "       %-18s fix: %s\n", "", c.Fix)
		}
	}
	return err
}

// deploy runs Helm, showing the pods' progress while Helm waits for them.
func (o *deployOptions) deploy(ctx context.Context, plan *install.Plan) error {
	r, p := o.r, &o.p
	run := install.Install
	if o.upgrade {
		run = install.Upgrade
	}
	if !p.Wait || p.DryRun {
		rel, err := run(ctx, r.clients.Helm, p, plan)
		if err != nil {
			return err
		}
		return o.summary(ctx, rel)
	}
	src := progress.KubeSource{Client: r.clients.Kube, Namespace: p.Namespace, Release: p.Name}
	fmt.Fprintf(r.env.ErrOut, "Waiting up to %s for the pods of %s:\n", p.Timeout, p.Name)
	w := progress.Start(ctx, src, progress.Options{Out: r.env.ErrOut, TTY: r.env.Terminal, Now: r.env.Now, Interval: r.env.PollInterval})
	rel, err := run(ctx, r.clients.Helm, p, plan)
	w.Stop()
	if err != nil {
		if isTimeout(err) {
			o.diagnose(ctx, src)
			return &timeoutError{err: fmt.Errorf("%s: pods not ready within %s: %w", p.Name, p.Timeout, err)}
		}
		o.diagnose(ctx, src)
		return err
	}
	return o.summary(ctx, rel)
}

func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out waiting") ||
		strings.Contains(err.Error(), "context deadline exceeded")
}

func (o *deployOptions) diagnose(ctx context.Context, src progress.Source) {
	// The caller's deadline may be what ran out; the diagnosis gets its own.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	findings, err := progress.Diagnose(dctx, src)
	if err != nil {
		fmt.Fprintf(o.r.env.ErrOut, "cannot diagnose: %v\n", err)
		return
	}
	progress.WriteDiagnosis(o.r.env.ErrOut, findings)
}

// releaseSummary is what install and upgrade print with -o json|yaml.
type releaseSummary struct {
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

func (o *deployOptions) summary(ctx context.Context, rel *release.Release) error {
	r := o.r
	s := summarize(rel)
	s.DryRun = o.p.DryRun
	if o.p.DryRun {
		s.Manifest = rel.Manifest
	} else {
		s.Endpoints = o.endpoints(ctx)
	}
	if done, err := r.printStructured(r.env.Out, s); done {
		return err
	}
	out := r.env.Out
	fmt.Fprintf(out, "NAME: %s\nNAMESPACE: %s\nSTATUS: %s\nREVISION: %d\nCHART: %s-%s\nAPP VERSION: %s\n",
		s.Name, s.Namespace, s.Status, s.Revision, s.Chart, s.ChartVersion, s.AppVersion)
	if o.p.DryRun {
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

func summarize(rel *release.Release) releaseSummary {
	s := releaseSummary{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, Endpoints: []string{}}
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
func (o *deployOptions) endpoints(ctx context.Context) []string {
	out := []string{}
	svcs, err := o.r.clients.Kube.CoreV1().Services(o.p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(o.p.Name)})
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
