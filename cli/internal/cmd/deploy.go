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
	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/scale"
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
	// managerURL is upgrade's --manager-url, for a change of pu.ha or manager.ha.
	managerURL string
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
	c, o := upgradeCommand(r)
	addManagerFlags(c, nil, &o.managerURL)
	return c
}

// upgradeCommand is the upgrade command and its options, which diff upgrade shares.
func upgradeCommand(r *root) (*cobra.Command, *deployOptions) {
	o := &deployOptions{r: r, upgrade: true}
	c := &cobra.Command{
		Use:   "upgrade [NAME]",
		Short: "Upgrade a release to this chart and new values, keeping the values it has",
		Long: `Upgrade the release to the chart in this insightctl (or --chart-dir).

The release's user-supplied values are kept and the new values layered on top; the new
chart's defaults apply to everything the user never set (Helm's reset-then-reuse, not
--reuse-values, which would keep the old chart's defaults forever).

When the new values turn pu.ha (--ha) or manager.ha on or off, that change is made first,
online, as 'insightctl scale --ha' or 'scale --manager-ha' makes it (with its progress),
and the rest of the upgrade after it.`,
		Example: `  insightctl upgrade --memory 2Gi
  insightctl upgrade demo --set pu.partitions=4
  insightctl upgrade demo --ha --anti-affinity=zone`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: o.runE,
	}
	addDeployFlags(c, o)
	return c, o
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
			return exit.BadInputError(fmt.Errorf("cannot ask for the values (%s); say what to install with flags: --profile %s, "+
				"or --partitions N --ha --anti-affinity=zone|hostname --memory 1Gi --enable ADDON, or -f values.yaml / --set key=value",
				why, strings.Join(values.Names(), "|")))
		}
		if err := o.runWizard(stdio, ch); err != nil {
			return err
		}
	}

	if o.upgrade {
		if err := scale.BeforeUpgrade(ctx, r.deps(), p, ch, o.managerURL, o.skipPreflight); err != nil {
			return err
		}
	}
	return install.Deploy(ctx, r.deps(), p, ch, install.DeployOptions{Upgrade: o.upgrade, SkipPreflight: o.skipPreflight, SaveValues: o.saveValues})
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
