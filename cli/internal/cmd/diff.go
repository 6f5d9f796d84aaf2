package cmd

import (
	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/diff"
)

func newDiffCmd(r *root) *cobra.Command {
	c := &cobra.Command{
		Use:   "diff upgrade|scale [NAME] [FLAGS]",
		Short: "Show what an upgrade or a scale would change in a release's manifests, changing nothing",
		Long: `Show, as unified diffs per object, what 'insightctl upgrade' or 'insightctl scale' with the
same arguments and flags would change in the release's manifests: write the command as you
would run it, with 'diff' in front. The values are composed by the same code as the command's,
and the manifests rendered as Helm's server-side dry run renders them: templates that look
up live objects see them, so what the chart keeps across upgrades does not show as changing.
The values of Secrets are masked: a diff shows that a key changes, never a value.

Nothing in the cluster changes. Exit code 0 whether or not there are changes; with
--exit-code, 5 when there are. Flags that only say how the command runs (--wait, --timeout,
--dry-run, --skip-preflight, --force, ...) are accepted and change nothing in the diff.`,
		Example: `  insightctl diff upgrade demo --memory 2Gi
  insightctl diff upgrade demo -f values.yaml --exit-code
  insightctl diff scale demo --partitions 4 -o json`,
		Args: argsBad(cobra.NoArgs),
	}
	c.AddCommand(newDiffUpgradeCmd(r), newDiffScaleCmd(r))
	return c
}

// addExitCodeFlag adds diff's own flag to a previewed command's flags.
func addExitCodeFlag(c *cobra.Command, o *diff.Options) {
	c.Flags().BoolVar(&o.ExitCode, "exit-code", false, "exit with code 5 when the release would change (0 when not)")
}

func newDiffUpgradeCmd(r *root) *cobra.Command {
	c, o := upgradeCommand(r)
	var do diff.Options
	c.Short = "Show what 'insightctl upgrade' with these flags would change"
	c.Long = "Takes exactly the flags of 'insightctl upgrade' (see its help) and shows, as unified diffs per object,\nwhat that upgrade would change in the release's manifests. Nothing changes."
	c.Example = `  insightctl diff upgrade demo --memory 2Gi
  insightctl diff upgrade demo --set pu.partitions=4 --exit-code`
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := o.complete(c, args); err != nil {
			return err
		}
		return diff.Upgrade(c.Context(), r.deps(), &o.p, do)
	}
	addExitCodeFlag(c, &do)
	return c
}

func newDiffScaleCmd(r *root) *cobra.Command {
	c, o, complete := scaleCommand(r)
	var do diff.Options
	c.Short = "Show what 'insightctl scale' with these flags would change"
	c.Long = `Takes exactly the flags of 'insightctl scale' (see its help) and shows, as unified diffs per
object, what that scale would change in the release's manifests. Nothing changes; the
scale's checks (preflight, health gate, pu.ha) are not run. A scale-in (fewer partitions)
is rendered without looking up live objects: the scale drains the partitions that go
before it upgrades, which the chart checks by lookup.`
	c.Example = `  insightctl diff scale demo --memory 1Gi
  insightctl diff scale demo --partitions 4 --exit-code`
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := complete(c, args); err != nil {
			return err
		}
		return diff.Scale(c.Context(), r.deps(), o, do)
	}
	addExitCodeFlag(c, &do)
	return c
}
