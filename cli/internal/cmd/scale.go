package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/progress"
	"github.com/insightgrid/insight/cli/rollout"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// scaleOptions are scale's options (Flags → Options → Validate → Run).
type scaleOptions struct {
	r             *root
	p             install.Parameters
	partitions    int
	rate          string    // --rate, with --partitions
	rateBytes     *api.Rate // --rate parsed
	repartition   bool      // --partitions was given
	managerURL    string
	skipPreflight bool
	force         bool
	allowDataLoss bool
}

func newScaleCmd(r *root) *cobra.Command {
	o := &scaleOptions{r: r}
	c := &cobra.Command{
		Use:   "scale [NAME]",
		Short: "Change the data pods' memory and CPU (rolling restart), or the number of partitions (online re-partitioning)",
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
by the chart for this reason.`,
		Example: `  insightctl scale demo --memory 1Gi
  insightctl scale demo --memory 2Gi --cpu 1 --timeout 20m
  insightctl scale demo --memory 1Gi --manager-url http://10.0.3.7:8090   # from the pod network
  insightctl scale demo --partitions 4 --timeout 30m
  insightctl scale demo --partitions 6 --rate 8mb   # move slots faster than the default
  insightctl scale demo --partitions 2 -o json`,
		Args: argsBad(cobra.MaximumNArgs(1)),
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.complete(c, args); err != nil {
				return err
			}
			return o.run(c.Context())
		},
	}
	f := c.Flags()
	f.StringVar(&o.p.Memory, "memory", "", "memory of each data pod, request and limit (pu.resources), e.g. 1Gi")
	f.StringVar(&o.p.CPU, "cpu", "", "CPU of each data pod, request and limit (pu.resources), e.g. 500m")
	f.IntVar(&o.partitions, "partitions", 0, "re-partition the grid online to this many partitions (not with --memory/--cpu)")
	f.StringVar(&o.rate, "rate", "", "with --partitions: bytes per second each source partition copies at most, e.g. 4mb (0: no limit; default: the manager's, chart manager.repartitionRate); given while it runs, it changes the rate")
	f.DurationVar(&o.p.Timeout, "timeout", 10*time.Minute, "how long to follow the rolling restart or the re-partitioning")
	f.BoolVar(&o.p.Wait, "wait", true, "follow the rolling restart until every partition is done (--partitions always follows to the end)")
	f.BoolVar(&o.p.DryRun, "dry-run", false, "validate and run the checks, but change nothing")
	f.BoolVar(&o.skipPreflight, "skip-preflight", false, "do not check that the new requests fit the nodes")
	f.BoolVar(&o.force, "force", false, "start even when a data pod is not ready or a backup not in sync (a partition may lose its only in-sync copy)")
	f.BoolVar(&o.allowDataLoss, "allow-data-loss", false, "scale a release without pu.ha, whose partitions lose their data when their only instance restarts")
	f.StringVar(&o.p.ChartDir, "chart-dir", "", "use this chart directory or .tgz instead of the chart built into insightctl")
	addManagerFlags(c, nil, &o.managerURL)
	return c
}

// complete copies flags and arguments and validates them, without a cluster.
func (o *scaleOptions) complete(c *cobra.Command, args []string) error {
	p := &o.p
	p.Name = nameArg(args)
	p.Namespace = o.r.namespace()
	var problems []validate.Problem
	o.repartition = changed(c.Flags(), "partitions")
	if o.repartition {
		problems = append(problems, o.checkPartitionFlags(c)...)
	} else if changed(c.Flags(), "rate") {
		problems = append(problems, validate.Problem{Key: "--rate", Value: o.rate, Message: "applies to --partitions only: it bounds how fast slots move between partitions"})
	} else if p.Memory == "" && p.CPU == "" {
		problems = append(problems, validate.Problem{Key: "--memory", Message: "nothing to scale: give --memory and/or --cpu, e.g. --memory 1Gi, or --partitions"})
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
	problems = append(problems, checkManagerURL(o.managerURL)...)
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

func (o *scaleOptions) run(ctx context.Context) error {
	if o.repartition {
		return o.runPartitions(ctx)
	}
	return o.runResources(ctx)
}

// scaleSummary is what scale prints at the end; -o json|yaml prints it as is.
type scaleSummary struct {
	RequestID string `json:"requestId"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// Changed is false when the release already had these values (a resumed scale).
	Changed   bool              `json:"changed"`
	DryRun    bool              `json:"dryRun"`
	Waited    bool              `json:"waited"`
	Resources scaleResources    `json:"resources"`
	Rollout   *rollout.Snapshot `json:"rollout,omitempty"`
	Duration  float64           `json:"durationSeconds"`
}

type scaleResources struct {
	Requests map[string]string `json:"requests"`
	Limits   map[string]string `json:"limits"`
}

func (o *scaleOptions) runResources(ctx context.Context) error {
	r, p := o.r, &o.p
	start := r.env.Now()
	rel, err := action.NewGet(r.clients.Helm).Run(p.Name)
	if err != nil {
		return fmt.Errorf("release %s in namespace %s: %w", p.Name, p.Namespace, err)
	}
	ch, err := p.LoadChart()
	if err != nil {
		return err
	}
	plan, err := p.PrepareChart(ch, rel.Config, r.env.In)
	if err != nil {
		return err
	}
	curFull, err := chartutil.CoalesceValues(plan.Chart, rel.Config)
	if err != nil {
		return fmt.Errorf("coalesce the release's values: %w", err)
	}
	cur, next := install.ShapeOf(curFull), install.ShapeOf(plan.Full)
	if !cur.HA && !o.allowDataLoss {
		return &badInput{err: fmt.Errorf("release %s runs without pu.ha: each partition has one instance, and restarting it loses the partition's data "+
			"(the grid keeps it in memory only); pass --allow-data-loss to scale anyway", p.Name)}
	}

	w := r.env.ErrOut
	fmt.Fprintf(w, "Scaling %s in namespace %s: %s\n", p.Name, p.Namespace, resourceChange(cur, next))
	relVersion := ""
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		relVersion = rel.Chart.Metadata.Version
	}
	if v := plan.Chart.Metadata.Version; relVersion != v {
		fmt.Fprintf(w, "note: %s runs chart %s, this insightctl carries %s: the scale upgrades the chart too, as insightctl upgrade would (--chart-dir picks another)\n",
			p.Name, relVersion, v)
	}
	// Re-running with the values the release already has is how a scale is resumed: it
	// changes nothing and follows the rollout.
	change := !install.SameValues(plan.Values, rel.Config) || relVersion != plan.Chart.Metadata.Version ||
		rel.Info == nil || rel.Info.Status != release.StatusDeployed

	src := o.source(ctx)
	deploy := &deployOptions{r: r, upgrade: true, p: *p}
	sum := scaleSummary{Name: p.Name, Namespace: p.Namespace, Revision: rel.Version, Changed: change, DryRun: p.DryRun,
		Resources: scaleResources{Requests: next.Requests, Limits: next.Limits}}
	if change {
		if !o.skipPreflight {
			if err := deploy.preflight(ctx, plan); err != nil {
				return err
			}
		}
		if !o.force {
			if err := o.checkHealth(ctx, src, deploy); err != nil {
				return err
			}
		}
	}
	if p.DryRun {
		return o.summary(sum, start)
	}
	if change {
		up := *p
		up.Wait = false // the rollout is followed below, with its steps
		nrel, err := install.Upgrade(ctx, r.clients.Helm, &up, plan)
		if err != nil {
			return err
		}
		sum.Revision = nrel.Version
		sum.RequestID = requestID(p.Name, nrel.Version)
		fmt.Fprintf(w, "Request %s: revision %d applied; each partition restarts one pod at a time, backup first\n", sum.RequestID, nrel.Version)
	} else {
		sum.RequestID = requestID(p.Name, rel.Version)
		fmt.Fprintf(w, "Request %s: %s already has these values (revision %d); nothing changes, following its rollout\n", sum.RequestID, p.Name, rel.Version)
	}
	if !p.Wait {
		return o.summary(sum, start)
	}

	wctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	fmt.Fprintf(w, "Following the rolling restart for up to %s:\n", p.Timeout)
	snap, err := rollout.Watch(wctx, src, rollout.Options{
		Out: w, TTY: r.env.Terminal, Now: r.env.Now, Interval: r.env.PollInterval,
		Header: "scale " + p.Name + ", request " + sum.RequestID, WaitFailback: next.AutoFailback,
	})
	sum.Waited = true
	sum.Rollout = &snap
	if err != nil {
		return o.failed(ctx, deploy, sum, snap, rel.Version, change, err)
	}
	return o.summary(sum, start)
}

// source reads the rollout: the release's StatefulSets and pods, and the manager's records
// when a manager can be reached (the view works without them).
func (o *scaleOptions) source(ctx context.Context) rollout.KubeSource {
	r, p := o.r, &o.p
	src := rollout.KubeSource{Client: r.clients.Kube, Namespace: p.Namespace, Release: p.Name}
	src.View.Client, src.Err = r.managerClient(ctx, o.managerURL, p.Name)
	src.Timeout = rollout.ManagerTimeout
	return src
}

// checkHealth refuses to start a rolling restart that could leave a partition without an
// in-sync copy.
func (o *scaleOptions) checkHealth(ctx context.Context, src rollout.KubeSource, deploy *deployOptions) error {
	var obs rollout.Observation
	var err error
	if obs.StatefulSets, err = src.StatefulSets(ctx); err != nil {
		return fmt.Errorf("list the StatefulSets of %s: %w", o.p.Name, err)
	}
	if obs.Pods, err = src.Pods(ctx); err != nil {
		return fmt.Errorf("list the pods of %s: %w", o.p.Name, err)
	}
	obs.Records, obs.ManagerErr = src.Partitions(ctx)
	problems := rollout.Unhealthy(obs)
	if obs.ManagerErr != nil {
		fmt.Fprintf(o.r.env.ErrOut, "note: %v; the backups' sync is judged by their readiness only\n", obs.ManagerErr)
	}
	if len(problems) == 0 {
		return nil
	}
	deploy.diagnose(ctx, progress.KubeSource{Client: o.r.clients.Kube, Namespace: o.p.Namespace, Release: o.p.Name})
	return fmt.Errorf("not starting the rolling restart of %s: a restart now could leave a partition without an in-sync copy:\n  - %s\n"+
		"wait until 'insightctl status %s' shows every pod ready and in sync, or pass --force",
		o.p.Name, strings.Join(problems, "\n  - "), o.p.Name)
}

// failed explains a rollout that did not finish: which partitions are where, why the pods
// that are not ready are not, and how to resume or go back.
func (o *scaleOptions) failed(ctx context.Context, deploy *deployOptions, sum scaleSummary, snap rollout.Snapshot, before int, change bool, err error) error {
	w, p := o.r.env.ErrOut, &o.p
	for _, pr := range snap.Partitions {
		if !pr.Done {
			fmt.Fprintf(w, "  not done: %s\n", rollout.Line(pr))
		}
	}
	deploy.diagnose(ctx, progress.KubeSource{Client: o.r.clients.Kube, Namespace: p.Namespace, Release: p.Name})
	back := fmt.Sprintf("insightctl rollback %s", p.Name)
	if change {
		back = fmt.Sprintf("insightctl rollback %s %d", p.Name, before)
	}
	fmt.Fprintf(w, "The rolling restart goes on in the cluster (request %s). To follow it again, run the same command:\n  %s\n"+
		"with the same values it changes nothing and only waits. To go back to the previous values: %s -n %s\n",
		sum.RequestID, o.resumeCommand(), back, p.Namespace)
	var stuck *rollout.StuckError
	switch {
	case errors.As(err, &stuck):
		return fmt.Errorf("scale %s: %w", p.Name, err)
	case errors.Is(err, context.DeadlineExceeded):
		return &timeoutError{err: fmt.Errorf("scale %s: the rolling restart did not finish within %s (%d/%d partitions done)", p.Name, p.Timeout, snap.DoneCount(), len(snap.Partitions))}
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("scale %s: interrupted while following the rolling restart", p.Name)
	}
	return fmt.Errorf("scale %s: %w", p.Name, err)
}

// resumeCommand is the command line that follows this scale again.
func (o *scaleOptions) resumeCommand() string {
	p := &o.p
	parts := []string{"insightctl", "scale", p.Name, "-n", p.Namespace}
	if p.Memory != "" {
		parts = append(parts, "--memory", p.Memory)
	}
	if p.CPU != "" {
		parts = append(parts, "--cpu", p.CPU)
	}
	if p.ChartDir != "" {
		parts = append(parts, "--chart-dir", p.ChartDir)
	}
	if o.managerURL != "" {
		parts = append(parts, "--manager-url", o.managerURL)
	}
	if o.allowDataLoss {
		parts = append(parts, "--allow-data-loss")
	}
	return strings.Join(parts, " ")
}

func requestID(name string, revision int) string { return fmt.Sprintf("%s-r%d", name, revision) }

// resourceChange says what changes in pu.resources, e.g.
// "pu.resources: requests.memory 512Mi -> 1Gi, limits.memory 512Mi -> 1Gi".
func resourceChange(cur, next install.Shape) string {
	var parts []string
	for _, kind := range []string{"requests", "limits"} {
		a, b := cur.Requests, next.Requests
		if kind == "limits" {
			a, b = cur.Limits, next.Limits
		}
		for _, res := range []string{"memory", "cpu"} {
			if a[res] != b[res] {
				parts = append(parts, fmt.Sprintf("%s.%s %s -> %s", kind, res, orDash(a[res]), orDash(b[res])))
			}
		}
	}
	if len(parts) == 0 {
		return "pu.resources unchanged"
	}
	return "pu.resources: " + strings.Join(parts, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (o *scaleOptions) summary(s scaleSummary, start time.Time) error {
	r := o.r
	s.Duration = r.env.Now().Sub(start).Round(time.Millisecond).Seconds()
	if done, err := r.printStructured(r.env.Out, s); done {
		return err
	}
	out := r.env.Out
	fmt.Fprintf(out, "NAME: %s\nNAMESPACE: %s\n", s.Name, s.Namespace)
	if s.RequestID != "" {
		fmt.Fprintf(out, "REQUEST: %s\n", s.RequestID)
	}
	fmt.Fprintf(out, "REVISION: %d\nRESOURCES: requests %s, limits %s\n", s.Revision, quantityList(s.Resources.Requests), quantityList(s.Resources.Limits))
	switch {
	case s.DryRun:
		what := "the release already has these values"
		if s.Changed {
			what = "the checks passed"
		}
		fmt.Fprintf(out, "DRY RUN: nothing was changed; %s\n", what)
		return nil
	case !s.Waited:
		fmt.Fprintf(out, "Not waiting (--wait=false): follow it with insightctl scale %s -n %s and the same values, or insightctl status %s\n", s.Name, s.Namespace, s.Name)
		return nil
	}
	fmt.Fprintf(out, "DURATION: %s\n\n", (time.Duration(s.Duration * float64(time.Second))).Round(time.Second))
	rollout.WriteTable(out, *s.Rollout)
	if !s.Rollout.ManagerReachable {
		fmt.Fprintf(out, "\nEvery data pod runs the new resources and is Ready. The manager was unreachable, so the roles are not confirmed: check with insightctl status %s\n", s.Name)
		return nil
	}
	for _, pr := range s.Rollout.Partitions {
		if pr.Step != rollout.StepFailedBack && pr.Step != rollout.StepUpToDate {
			fmt.Fprintln(out, "\nEvery data pod runs the new resources and is Ready; see the notes for the partitions not on their preferred primary.")
			return nil
		}
	}
	fmt.Fprintln(out, "\nEvery data pod runs the new resources and is Ready, every partition served by its preferred primary.")
	return nil
}

func quantityList(m map[string]string) string {
	var parts []string
	for _, k := range []string{"memory", "cpu"} {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
