package cmd

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/check"
)

func newCheckCmd(r *root) *cobra.Command {
	var o check.Options
	c := &cobra.Command{
		Use:   "check [NAME]",
		Short: "Write to the grid from inside the cluster, optionally through a failover, and report lost writes and the write gap",
		Long: `Run a short-lived Job in the release's namespace with the insight-grid image ('insight-grid
check'): cluster-aware clients write unique keys at --rate writes per second for --duration,
record every acknowledged write, then read every one back. The Job has no Kubernetes rights
and no manager credential; it only writes and verifies.

With --disrupt, insightctl disrupts the grid a third into the writing, with your own
credentials: 'switchover' asks the manager for a planned failover of --partition (as
'insightctl failover' does), 'kill-primary' deletes the pod that serves as the partition's
primary (as 'kubectl delete pod' does). A release without pu.ha has no backups: a
disruption is refused unless --force.

The report: acknowledged, failed (outcome unknown, never counted as lost) and lost writes,
the longest interval without an acknowledged write, p50/p99/max write latency and the
partition map the writers saw at the end, as a table or -o json|yaml. The Job and its
ServiceAccount are deleted afterwards, also on failure or Ctrl-C. Exit code 1 when an
acknowledged write was lost (or could not be read back).`,
		Example: `  insightctl check demo
  insightctl check demo --disrupt kill-primary -o json
  insightctl check demo --disrupt switchover --partition 1 --duration 1m --rate 500
  insightctl check demo --disrupt switchover --manager-url http://10.0.3.7:8090   # from the pod network`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			o.Release = nameArg(args)
			if err := o.Validate(); err != nil {
				return err
			}
			return check.Run(c.Context(), r.deps(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Disrupt, "disrupt", check.None, "what to do to the grid while it is written to: "+strings.Join(check.Disruptions, "|"))
	f.IntVar(&o.Partition, "partition", 0, "the partition --disrupt acts on")
	f.BoolVar(&o.Force, "force", false, "disrupt a release without pu.ha (its partitions have no backup: they become unavailable and may lose data)")
	f.DurationVar(&o.Duration, "duration", 30*time.Second, "how long to write")
	f.IntVar(&o.Rate, "rate", 200, "writes per second, all writers together")
	f.IntVar(&o.Writers, "writers", 4, "concurrent writers")
	f.DurationVar(&o.Timeout, "timeout", 0, "how long the whole check may take (default: --duration + 3m)")
	_ = c.RegisterFlagCompletionFunc("disrupt", cobra.FixedCompletions(check.Disruptions, cobra.ShellCompDirectiveNoFileComp))
	addManagerFlags(c, nil, &o.ManagerURL)
	return c
}
