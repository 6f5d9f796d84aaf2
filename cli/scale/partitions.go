package scale

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/repartition"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// PartitionsSummary is what scale --partitions prints at the end; -o json|yaml prints it
// as is.
type PartitionsSummary struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// From is the number of partitions the grid's map had when the command started.
	From       int   `json:"from"`
	Partitions int   `json:"partitions"`
	MapVersion int64 `json:"mapVersion"`
	// Changed is false when the grid and the release already had Partitions.
	Changed bool `json:"changed"`
	DryRun  bool `json:"dryRun"`
	// Steps are what this run did (or, with --dry-run, would do), in order.
	Steps    []string `json:"steps"`
	Duration float64  `json:"durationSeconds"`
}

// repartitionPlan is what is left to do, decided from the state found: the release's
// pu.partitions, the manager's map and the StatefulSets.
type repartitionPlan struct {
	growChart   bool // upgrade to pu.partitions=N before the manager moves slots
	request     bool // the map is not at N yet: ask the manager and follow it
	shrinkChart bool // mark the emptied partitions drained and upgrade to pu.partitions=N
	removed     bool // StatefulSets or pods of partitions N and above still exist
}

func (pl repartitionPlan) steps(n, values int) []string {
	var s []string
	if pl.growChart {
		s = append(s, fmt.Sprintf("upgrade the release to pu.partitions=%d: the new partitions' StatefulSets start", n))
	}
	if pl.request {
		s = append(s, fmt.Sprintf("ask the manager for %d partitions and follow it until every slot has moved", n))
	}
	if pl.shrinkChart {
		s = append(s, fmt.Sprintf("mark the StatefulSets of partitions %s drained and upgrade the release to pu.partitions=%d", partitionSpan(n, values), n))
	}
	if pl.shrinkChart || pl.removed {
		s = append(s, fmt.Sprintf("wait until the StatefulSets and pods of partitions %d and above are gone", n))
	}
	return s
}

func partitionSpan(from, to int) string {
	if to-from == 1 {
		return fmt.Sprint(from)
	}
	return fmt.Sprintf("%d-%d", from, to-1)
}

// runPartitions re-partitions the grid to o.count(). Every step looks at the state
// first, so running the same command again resumes an interrupted run.
func (o *scaler) runPartitions(ctx context.Context) error {
	p := &o.Parameters
	n := o.count()
	start := o.d.Now()
	ch, rel, values, err := o.partitionsRelease()
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	client, err := o.d.Manager(ctx, p.Name, o.ManagerURL)
	if err != nil {
		return fmt.Errorf("scale %s: cannot reach the manager: %w", p.Name, err)
	}
	st, err := client.Repartition(ctx)
	if err != nil {
		return o.managerFailed(ctx, "reading the re-partitioning progress", err, false)
	}
	if st.Target != 0 && st.Target != n {
		return fmt.Errorf("scale %s: re-partitioning to %d partitions is in progress (%s, %d slots left); follow it to the end with\n  %s\nthen ask for %d",
			p.Name, st.Target, st.State, st.SlotsRemaining, o.resumeCommand(o.partitionsFlag(st.Target)), n)
	}
	kube := repartition.Kube{Client: o.d.Kube, Namespace: p.Namespace, Release: p.Name}
	left, err := kube.Remaining(ctx, n)
	if err != nil {
		return err
	}
	pl := repartitionPlan{
		growChart:   n > values,
		request:     !st.Idle() || st.Partitions != n,
		shrinkChart: values > n,
		removed:     len(left) > 0,
	}
	sum := PartitionsSummary{Name: p.Name, Namespace: p.Namespace, Revision: rel.Version, From: st.Partitions, Partitions: n,
		MapVersion: st.MapVersion, DryRun: p.DryRun, Steps: pl.steps(n, values)}
	sum.Changed = len(sum.Steps) > 0

	w := o.d.IO.ErrOut
	fmt.Fprintf(w, "Re-partitioning %s in namespace %s to %d partitions: the grid's map has %d, the release's pu.partitions is %d\n",
		p.Name, p.Namespace, n, st.Partitions, values)
	if !sum.Changed {
		fmt.Fprintf(w, "%s already runs %d partitions; nothing to do\n", p.Name, n)
		return o.printPartitions(sum, start)
	}
	for i, s := range sum.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s)
	}
	if rel.Chart != nil && rel.Chart.Metadata != nil && rel.Chart.Metadata.Version != ch.Metadata.Version && (pl.growChart || pl.shrinkChart) {
		fmt.Fprintf(w, "note: %s runs chart %s, this insightctl carries %s: the upgrade upgrades the chart too, as insightctl upgrade would (--chart-dir picks another)\n",
			p.Name, rel.Chart.Metadata.Version, ch.Metadata.Version)
	}
	// The values with pu.partitions=n, validated before anything changes.
	var plan *install.Plan
	if pl.growChart || pl.shrinkChart {
		plan, err = o.changedPlan(ctx, ch, rel, fmt.Sprintf("pu.partitions=%d", n), func(up *install.Parameters) { up.Partitions = &n }, pl.growChart)
		if err != nil {
			return err
		}
	}
	upgrade := func() error {
		up := *p
		up.Partitions, up.Wait = &n, false // the grid's progress is followed instead
		nrel, err := install.Upgrade(ctx, o.d.Helm, &up, plan)
		if err != nil {
			return o.interrupted(ctx, err)
		}
		sum.Revision = nrel.Version
		fmt.Fprintf(w, "Revision %d applied: pu.partitions=%d\n", nrel.Version, n)
		return nil
	}
	if p.DryRun {
		return o.printPartitions(sum, start)
	}

	// Partitions that keep slots must not carry the mark that lets an upgrade delete them
	// (left by a scale-in that was interrupted and then reversed).
	if names, err := kube.ClearDrained(ctx, n); err != nil {
		return o.interrupted(ctx, err)
	} else if len(names) > 0 {
		fmt.Fprintf(w, "Removed the drained mark from %s: these partitions stay\n", strings.Join(names, ", "))
	}
	if pl.growChart {
		if err := upgrade(); err != nil {
			return err
		}
	}
	if pl.request {
		if _, err := client.RequestRepartition(ctx, n, o.rate()); err != nil {
			return o.managerFailed(ctx, fmt.Sprintf("asking for %d partitions", n), err, pl.growChart)
		}
		fmt.Fprintf(w, "The manager re-partitions to %d partitions; following it for up to %s:\n", n, p.Timeout)
		final, err := repartition.Follow(ctx, client, n, repartition.Options{Out: w, TTY: o.d.IO.Terminal, Now: o.d.Now, Interval: o.d.PollInterval})
		if err != nil {
			return o.interrupted(ctx, fmt.Errorf("following the re-partitioning: %w", err))
		}
		sum.MapVersion = final.MapVersion
	}
	if pl.shrinkChart {
		names, err := kube.MarkDrained(ctx, n)
		if err != nil {
			return o.interrupted(ctx, err)
		}
		if len(names) > 0 {
			fmt.Fprintf(w, "Marked %s %s=true: the manager's map no longer has these partitions\n", strings.Join(names, ", "), repartition.DrainedAnnotation)
		}
		if err := upgrade(); err != nil {
			return err
		}
	}
	if pl.shrinkChart || pl.removed {
		fmt.Fprintf(w, "Waiting until the StatefulSets and pods of partitions %d and above are gone\n", n)
		if left, err := kube.WaitGone(ctx, n, o.d.PollInterval); err != nil {
			return o.interrupted(ctx, fmt.Errorf("still there: %s: %w", strings.Join(left, ", "), err))
		}
	}
	return o.printPartitions(sum, start)
}

// partitionsRelease loads the chart, checks that it allows o.count() partitions, and reads
// the release and its pu.partitions.
func (o *scaler) partitionsRelease() (*chart.Chart, *release.Release, int, error) {
	p := &o.Parameters
	n := o.count()
	ch, err := p.LoadChart()
	if err != nil {
		return nil, nil, 0, err
	}
	if limit, err := install.PartitionsMaximum(ch); err != nil {
		return nil, nil, 0, err
	} else if limit > 0 && n > limit {
		return nil, nil, 0, &validate.Error{Problems: []validate.Problem{{Key: "--partitions", Value: n,
			Message: fmt.Sprintf("chart %s %s allows from 1 to %d partitions (pu.partitions in its values.schema.json)", ch.Name(), ch.Metadata.Version, limit)}}}
	}
	rel, err := action.NewGet(o.d.Helm).Run(p.Name)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("release %s in namespace %s: %w", p.Name, p.Namespace, err)
	}
	shape, err := install.ReleaseShape(rel.Chart, rel.Config)
	if err != nil {
		return nil, nil, 0, err
	}
	if shape.Partitions == 0 {
		return nil, nil, 0, exit.BadInputError(fmt.Errorf("release %s runs no processing units (pu.enabled=false): there are no partitions to scale", p.Name))
	}
	return ch, rel, shape.Partitions, nil
}

// changedPlan is the release's values with one setting changed (set changes it in a copy
// of the parameters; setting names it for errors), validated against the chart; when the
// change adds pods (preflight), the preflight checks run on it too unless skipped.
func (o *scaler) changedPlan(ctx context.Context, ch *chart.Chart, rel *release.Release, setting string,
	set func(*install.Parameters), preflight bool) (*install.Plan, error) {
	up := o.Parameters
	set(&up)
	plan, err := up.PrepareChart(ch, rel.Config, o.d.IO.In)
	if err != nil {
		return nil, fmt.Errorf("values with %s: %w", setting, err)
	}
	if preflight && !o.SkipPreflight {
		if err := install.Preflight(ctx, o.d, &o.Parameters, plan, true); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// managerFailed explains a manager request that failed; resume says whether this run
// changed something already, so that the same command must run again.
func (o *scaler) managerFailed(ctx context.Context, what string, err error, resume bool) error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return fmt.Errorf("scale %s: %s: %w\n(this grid does not offer online re-partitioning: upgrade it first with insightctl upgrade)", o.Name, what, err)
	case errors.As(err, &ae) && ae.BadRequest():
		return exit.BadInputError(fmt.Errorf("scale %s: %s: %w", o.Name, what, err))
	case api.IsUnreachable(err) && o.ManagerURL == "":
		err = fmt.Errorf("%w\n%s", err, manager.Hint)
	}
	if resume {
		return o.interrupted(ctx, fmt.Errorf("%s: %w", what, err))
	}
	if ctx.Err() != nil {
		return exit.TimeoutError(fmt.Errorf("scale %s: %s: no answer from the manager within --timeout %s", o.Name, what, o.Timeout))
	}
	return fmt.Errorf("scale %s: %s: %w", o.Name, what, err)
}

// interrupted says how to resume the re-partitioning after err.
func (o *scaler) interrupted(ctx context.Context, err error) error {
	return o.resumable(ctx, "The re-partitioning goes on in the grid. ", o.partitionsFlag(o.count()), err)
}

// partitionsFlag is the flag that re-partitions to n.
func (o *scaler) partitionsFlag(n int) string { return fmt.Sprintf("--partitions %d", n) }

func (o *scaler) printPartitions(s PartitionsSummary, start time.Time) error {
	s.Duration = o.d.Now().Sub(start).Round(time.Millisecond).Seconds()
	if s.Steps == nil {
		s.Steps = []string{}
	}
	if done, err := o.d.IO.Print(s); done {
		return err
	}
	out := o.d.IO.Out
	fmt.Fprintf(out, "NAME: %s\nNAMESPACE: %s\nREVISION: %d\n", s.Name, s.Namespace, s.Revision)
	switch {
	case !s.Changed:
		fmt.Fprintf(out, "PARTITIONS: %d (unchanged)\n", s.Partitions)
	case s.DryRun:
		fmt.Fprintf(out, "PARTITIONS: %d -> %d\nDRY RUN: nothing was changed; the checks passed\n", s.From, s.Partitions)
		return nil
	default:
		fmt.Fprintf(out, "PARTITIONS: %d -> %d (partition map version %d)\n", s.From, s.Partitions, s.MapVersion)
	}
	fmt.Fprintf(out, "DURATION: %s\n", time.Duration(s.Duration*float64(time.Second)).Round(time.Second))
	return nil
}
