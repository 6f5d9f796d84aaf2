package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/switchover"
)

func newSwitchCmd(r *root, op string) *cobra.Command {
	o := switchover.Options{Op: op}
	c := &cobra.Command{}
	switch op {
	case switchover.Failover:
		c.Use = "failover PARTITION"
		c.Short = "Switch a partition over to its in-sync backup (planned, through the manager)"
		c.Long = `Ask the grid's manager for a planned switch-over of PARTITION: its primary pauses writes,
lets the backup apply everything, and hands the partition over; the backup serves at once.
The write pause it cost is reported. The partition needs an in-sync backup (pu.ha).

The manager is reached through the API server's service proxy, else a port-forward to a
manager pod, or only at --manager-url when given.`
		c.Example = `  insightctl failover 0 --release demo
  insightctl failover 1 --release demo -o json
  insightctl failover 0 --manager-url http://10.0.3.7:8090   # from the pod network`
		c.Args = argsBad(cobra.ExactArgs(1))
	default:
		c.Use = "failback [PARTITION]"
		c.Short = "Hand partitions back to their preferred primaries (every partition unless one is named)"
		c.Long = `Ask the grid's manager to hand PARTITION (default: every partition, one after the other)
back to its preferred primary, instance 0 of its StatefulSet. A partition already served by
it is left unchanged. The manager does this by itself after a failover once the preferred
primary is in sync again (manager.autoFailback); this is the manual form.`
		c.Example = `  insightctl failback --release demo
  insightctl failback 0 --release demo`
		c.Args = argsBad(cobra.MaximumNArgs(1))
	}
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 1 {
			o.Partition = args[0]
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return switchover.Run(c.Context(), r.deps(), o)
	}
	addManagerFlags(c, &o.Release, &o.ManagerURL)
	c.Flags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "how long to wait for the manager's answer")
	return c
}

// addManagerFlags adds the flags of every command that talks to a release's manager: the
// release, when NAME is not an argument, and how to reach its manager.
func addManagerFlags(c *cobra.Command, release, managerURL *string) {
	if release != nil {
		c.Flags().StringVar(release, "release", install.DefaultName, "the release whose grid to act on")
	}
	c.Flags().StringVar(managerURL, "manager-url", "", "talk to the manager's REST API at this URL (http://host:8090) only; "+
		"default: through the API server's service proxy, else a port-forward to a manager pod")
}
