package cmd

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/scale"
)

func newScaleCmd(r *root) *cobra.Command {
	c, o, complete := scaleCommand(r)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := complete(c, args); err != nil {
			return err
		}
		return scale.Run(c.Context(), r.deps(), o)
	}
	return c
}

// scaleCommand is the scale command without its RunE, its options, and what copies the
// flags and arguments into them and validates them; diff scale shares them.
func scaleCommand(r *root) (*cobra.Command, *scale.Options, func(*cobra.Command, []string) error) {
	o := &scale.Options{}
	var partitions, sparkExecutors int
	var ha, managerHA bool
	complete := func(c *cobra.Command, args []string) error {
		o.Name, o.Namespace = nameArg(args), r.namespace()
		if changed(c.Flags(), "partitions") {
			o.Partitions = &partitions
		}
		if changed(c.Flags(), "ha") {
			o.HA = &ha
		}
		if changed(c.Flags(), "manager-ha") {
			o.ManagerHA = &managerHA
		}
		if changed(c.Flags(), "spark-executors") {
			o.SparkExecutors = &sparkExecutors
		}
		return o.Validate()
	}
	c := &cobra.Command{
		Use:   "scale [NAME]",
		Short: "Change the data pods' memory and CPU (rolling restart), the number of partitions (online re-partitioning), HA (backups added or removed online), the number of managers, or the Spark jobs' executors",
		Long: `With --memory and/or --cpu: change the memory and CPU of the grid's data pods (pu.resources requests and limits) by
upgrading the release as 'insightctl upgrade' does: its values are kept, only the resources
change. Each partition's StatefulSet then restarts one pod at a time, backup first; the grid
keeps the partition serving: a restarted instance is Ready only once in sync, a stopping
primary hands over to its backup, and the manager fails back to the preferred primary.
Partitions roll in parallel, each with one instance down at most.

The command shows each partition's step (restarting backup, backup in sync, primary handing
over, restarting old primary, back in sync, failed back) and prints a request id. If it is
interrupted, times out or a pod does not come up, the rollout goes on in the cluster: run
the same command again to follow it (with the same values it changes nothing), or
'insightctl rollback' to go back.

Before anything changes the values are validated, the preflight checks that the new
requests fit the nodes, and every data pod must be Ready and every backup in sync (--force
skips that). A release without pu.ha has one instance per partition, whose data a restart
loses: scale refuses it unless --allow-data-loss.

With --partitions N: change the number of partitions while the grid serves; no pod
restarts and no key is lost. More partitions: the release is upgraded with pu.partitions=N
(values kept), the new partitions' StatefulSets start, and the manager moves slots onto
them batch by batch. Fewer: the manager first moves every slot off partitions N and above
and removes them from its partition map; only then are their StatefulSets marked
insight.io/drained, the release upgraded with pu.partitions=N, and their pods removed.
The manager's progress (state, slots left, what it waits for, time elapsed) is shown live.
Each step checks the state first, so an interrupted or timed-out run resumes when run
again with the same --partitions. A plain 'helm upgrade' with fewer partitions is refused
by the chart for this reason.

With --ha=true|false: give every partition a backup, or remove them, while the grid
serves; no pod restarts and no write is lost. On: the manager is told first, the release
is upgraded with pu.ha=true (values kept), each partition's second pod starts, catches up
from its primary (snapshot or redo ring) and is shown until in sync; writes pause only for
the primary's switch to synchronous replication. Off: the manager first drops every
backup from the partition records (the primaries acknowledge alone; a partition failed
over to its second pod is handed back first), then the StatefulSets are marked
insight.io/ha=false and the release upgraded with pu.ha=false, and the command waits
until the backup pods are gone. A plain 'helm upgrade' that changes pu.ha is refused by
the chart for this reason.

With --manager-ha=true|false: grow the managers' etcd cluster from 1 member to 3, or
shrink it back, while the grid serves; no data pod restarts. On: the release is upgraded
with manager.ha=true; the two new managers join the running cluster as learners, one at a
time, and are promoted to voting members once in sync, which is shown until all three are
healthy voters. Off: the two members that go are first removed from etcd's membership
(one at a time, through the manager API), then the manager StatefulSet is marked
insight.io/etcd-members=1, the release upgraded with manager.ha=false, and the command
waits until their pods are gone. A plain 'helm upgrade' with manager.ha=true works too; one
with manager.ha=false is refused by the chart until the members have been removed.

With --spark-executors N: set spark.executor.instances, the executors each Spark job starts
with (insightctl submit --executors overrides it per job), by upgrading the release with
its values kept; no pod restarts, running jobs keep their executors. N is at least 1, or 0
when the release runs Spark with spark.dynamicAllocation.enabled (jobs then start with
none and grow as their stages need).`,
		Example: `  insightctl scale demo --memory 1Gi
  insightctl scale demo --memory 2Gi --cpu 1 --timeout 20m
  insightctl scale demo --memory 1Gi --manager-url http://10.0.3.7:8090   # from the pod network
  insightctl scale demo --partitions 4 --timeout 30m
  insightctl scale demo --partitions 6 --rate 8mb   # move slots faster than the default
  insightctl scale demo --partitions 2 -o json
  insightctl scale demo --ha=true
  insightctl scale demo --ha=false
  insightctl scale demo --manager-ha=true
  insightctl scale demo --spark-executors 4`,
		Args: argsBad(cobra.MaximumNArgs(1)),
	}
	f := c.Flags()
	f.StringVar(&o.Memory, "memory", "", "memory of each data pod, request and limit (pu.resources), e.g. 1Gi")
	f.StringVar(&o.CPU, "cpu", "", "CPU of each data pod, request and limit (pu.resources), e.g. 500m")
	f.IntVar(&partitions, "partitions", 0, "re-partition the grid online to this many partitions (not with --memory/--cpu)")
	f.BoolVar(&ha, "ha", false, "turn HA on (a backup per partition, pu.ha=true) or off online: --ha=true or --ha=false (not with --memory/--cpu/--partitions)")
	f.BoolVar(&managerHA, "manager-ha", false, "grow the managers' etcd cluster to 3 members (manager.ha=true) or shrink it to 1 online: --manager-ha=true or --manager-ha=false (alone)")
	f.IntVar(&sparkExecutors, "spark-executors", 0, "executors of the Spark jobs submitted from now on (spark.executor.instances; alone)")
	f.StringVar(&o.Rate, "rate", "", "with --partitions: bytes per second each source partition copies at most, e.g. 4mb (0: no limit; default: the manager's, chart manager.repartitionRate); given while it runs, it changes the rate")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long to follow the rolling restart or the re-partitioning")
	f.BoolVar(&o.Wait, "wait", true, "follow the rolling restart until every partition is done (--partitions always follows to the end)")
	f.BoolVar(&o.DryRun, "dry-run", false, "validate and run the checks, but change nothing")
	f.BoolVar(&o.SkipPreflight, "skip-preflight", false, "do not check that the new requests fit the nodes")
	f.BoolVar(&o.Force, "force", false, "start even when a data pod is not ready or a backup not in sync (a partition may lose its only in-sync copy)")
	f.BoolVar(&o.AllowDataLoss, "allow-data-loss", false, "scale a release without pu.ha, whose partitions lose their data when their only instance restarts")
	f.StringVar(&o.ChartDir, "chart-dir", "", "use this chart directory or .tgz instead of the chart built into insightctl")
	addManagerFlags(c, nil, &o.ManagerURL)
	return c, o, complete
}
