// Package scale runs insightctl scale: a change of the data pods' memory and CPU, followed
// through the StatefulSets' rolling restart behind a health gate, and online
// re-partitioning, a state machine whose every step looks at the state first so that the
// same command resumes an interrupted run.
//
// It must not depend on cobra: the command copies its flags into Options, checks them with
// Validate and calls Run with the dependency set.
package scale

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// Options are scale's parameters. Parameters carries the release (Name, Namespace), the
// resources (Memory, CPU), ChartDir, Timeout, Wait and DryRun.
type Options struct {
	install.Parameters
	// Partitions is --partitions: re-partition to this many; nil: scale the resources.
	Partitions *int
	// HA is --ha: add a backup to every partition (true) or remove them (false); nil:
	// unchanged.
	HA *bool
	// ManagerHA is --manager-ha: grow the managers' etcd cluster to 3 members (true) or
	// shrink it to 1 (false); nil: unchanged.
	ManagerHA *bool
	// SparkExecutors is --spark-executors: spark.executor.instances, the executors of the
	// Spark jobs submitted from now on; nil: unchanged.
	SparkExecutors *int
	// Rate is --rate, with Partitions: bytes per second a source copies at most ("4mb").
	Rate          string
	ManagerURL    string
	SkipPreflight bool
	// Force starts a rolling restart even when a pod is not ready or a backup not in sync.
	Force bool
	// AllowDataLoss scales a release without pu.ha.
	AllowDataLoss bool
}

// Validate checks the options without a cluster, reporting every problem at once.
func (o *Options) Validate() error {
	p := &o.Parameters
	var problems []validate.Problem
	switch {
	case o.SparkExecutors != nil:
		problems = append(problems, o.checkSpark()...)
	case o.ManagerHA != nil:
		problems = append(problems, o.checkManagerHA()...)
	case o.HA != nil:
		problems = append(problems, o.checkHA()...)
	case o.Partitions != nil:
		problems = append(problems, o.checkPartitions()...)
	case o.Rate != "":
		problems = append(problems, validate.Problem{Key: "--rate", Value: o.Rate, Message: "applies to --partitions only: it bounds how fast slots move between partitions"})
	case p.Memory == "" && p.CPU == "":
		problems = append(problems, validate.Problem{Key: "--memory", Message: "nothing to scale: give --memory and/or --cpu, e.g. --memory 1Gi, or --partitions, --ha, --manager-ha or --spark-executors"})
	}
	if p.Memory != "" {
		if prob, ok := install.CheckQuantity("--memory", p.Memory); !ok {
			problems = append(problems, prob)
		}
	}
	if p.CPU != "" {
		if prob, ok := install.CheckQuantity("--cpu", p.CPU); !ok {
			problems = append(problems, prob)
		}
	}
	if p.Timeout <= 0 {
		problems = append(problems, validate.Problem{Key: "--timeout", Value: p.Timeout.String(), Message: "must be positive, e.g. 10m"})
	}
	problems = append(problems, manager.CheckURL(o.ManagerURL)...)
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

// checkPartitions validates --partitions and what may come with it.
func (o *Options) checkPartitions() []validate.Problem {
	var problems []validate.Problem
	if n := *o.Partitions; n < 1 || n > api.MaxPartitions {
		problems = append(problems, validate.Problem{Key: "--partitions", Value: n,
			Message: fmt.Sprintf("must be a number of partitions from 1 to %d", api.MaxPartitions)})
	}
	for _, f := range []struct{ key, value string }{{"--memory", o.Memory}, {"--cpu", o.CPU}} {
		if f.value != "" {
			problems = append(problems, validate.Problem{Key: f.key, Value: f.value,
				Message: "cannot be combined with --partitions: re-partitioning moves slots without restarting pods, a resource change restarts every pod; run one scale after the other"})
		}
	}
	for _, f := range []struct {
		key string
		set bool
	}{{"--force", o.Force}, {"--allow-data-loss", o.AllowDataLoss}} {
		if f.set {
			problems = append(problems, validate.Problem{Key: f.key, Value: true,
				Message: "applies to --memory/--cpu only: re-partitioning restarts no pod, and the manager moves slots only into partitions whose primary serves and whose backup is in sync"})
		}
	}
	if o.Rate != "" {
		if _, err := api.ParseRate(o.Rate); err != nil {
			problems = append(problems, validate.Problem{Key: "--rate", Value: o.Rate,
				Message: "want bytes per second, e.g. 4mb, 512kb or 8Mi (0: no limit)"})
		}
	}
	if !o.Wait {
		problems = append(problems, validate.Problem{Key: "--wait", Value: false,
			Message: "--partitions always follows the re-partitioning, whose last steps wait for it; interrupt it and run the same command again to resume"})
	}
	return problems
}

// count is the number of partitions asked for.
func (o *Options) count() int { return *o.Partitions }

// rate is --rate as the request carries it; nil: the manager's default.
func (o *Options) rate() *api.Rate {
	if o.Rate == "" {
		return nil
	}
	r, err := api.ParseRate(o.Rate)
	if err != nil {
		return nil // Validate refused it
	}
	return &r
}

// Run scales the release: its resources, or its number of partitions.
func Run(ctx context.Context, d *deps.Deps, o *Options) error {
	s := &scaler{Options: o, d: d}
	if o.SparkExecutors != nil {
		return s.runSpark(ctx)
	}
	if o.ManagerHA != nil {
		return s.runManagers(ctx)
	}
	if o.HA != nil {
		return s.runHA(ctx)
	}
	if o.Partitions != nil {
		return s.runPartitions(ctx)
	}
	return s.runResources(ctx)
}

// Plan is what Run would apply to the release, computed as Run computes it but without
// the checks against the grid and the nodes: the release as it is and the plan of its new
// values. Shrink says the partitions would be fewer: Run first drains the partitions that
// go and marks their StatefulSets, which the chart checks on the upgrade.
func Plan(d *deps.Deps, o *Options) (rel *release.Release, plan *install.Plan, shrink bool, err error) {
	s := &scaler{Options: o, d: d}
	if o.HA != nil {
		return nil, nil, false, exit.BadInputError(fmt.Errorf("--ha: diff cannot preview it (the manager changes the partition records before and after the upgrade); run 'insightctl scale %s --ha=%t --dry-run' to check it", o.Name, *o.HA))
	}
	if o.SparkExecutors != nil {
		ch, rel, _, err := s.release()
		if err != nil {
			return nil, nil, false, err
		}
		setting := fmt.Sprintf("spark.executor.instances=%d", *o.SparkExecutors)
		plan, err = s.changedPlan(context.Background(), ch, rel, setting, func(up *install.Parameters) { up.Set = append(up.Set, setting) }, false)
		return rel, plan, false, err
	}
	if o.ManagerHA != nil {
		return nil, nil, false, exit.BadInputError(fmt.Errorf("--manager-ha: diff cannot preview it (the managers' etcd membership changes before the upgrade); run 'insightctl scale %s --manager-ha=%t --dry-run' to check it", o.Name, *o.ManagerHA))
	}
	if o.Partitions == nil {
		rel, plan, err = s.resourcesPlan()
		return rel, plan, false, err
	}
	ch, rel, values, err := s.partitionsRelease()
	if err != nil {
		return nil, nil, false, err
	}
	n := o.count()
	// No preflight: diff only previews the values.
	plan, err = s.changedPlan(context.Background(), ch, rel, fmt.Sprintf("pu.partitions=%d", n), func(up *install.Parameters) { up.Partitions = &n }, false)
	if err != nil {
		return nil, nil, false, err
	}
	return rel, plan, o.count() < values, nil
}

// scaler is one run: the options and the dependency set.
type scaler struct {
	*Options
	d *deps.Deps
}
