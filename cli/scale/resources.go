package scale

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/progress"
	"github.com/insightgrid/insight/cli/rollout"
)

// Summary is what scale prints at the end; -o json|yaml prints it as is.
type Summary struct {
	RequestID string `json:"requestId"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	// Changed is false when the release already had these values (a resumed scale).
	Changed   bool              `json:"changed"`
	DryRun    bool              `json:"dryRun"`
	Waited    bool              `json:"waited"`
	Resources Resources         `json:"resources"`
	Rollout   *rollout.Snapshot `json:"rollout,omitempty"`
	Duration  float64           `json:"durationSeconds"`
}

type Resources struct {
	Requests map[string]string `json:"requests"`
	Limits   map[string]string `json:"limits"`
}

func (o *scaler) runResources(ctx context.Context) error {
	p := &o.Parameters
	start := o.d.Now()
	rel, plan, err := o.resourcesPlan()
	if err != nil {
		return err
	}
	curFull, err := chartutil.CoalesceValues(plan.Chart, rel.Config)
	if err != nil {
		return fmt.Errorf("coalesce the release's values: %w", err)
	}
	cur, next := install.ShapeOf(curFull), install.ShapeOf(plan.Full)
	if !cur.HA && !o.AllowDataLoss {
		return exit.BadInputError(fmt.Errorf("release %s runs without pu.ha: each partition has one instance, and restarting it loses the partition's data "+
			"(the grid keeps it in memory only); pass --allow-data-loss to scale anyway", p.Name))
	}

	w := o.d.IO.ErrOut
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
	sum := Summary{Name: p.Name, Namespace: p.Namespace, Revision: rel.Version, Changed: change, DryRun: p.DryRun,
		Resources: Resources{Requests: next.Requests, Limits: next.Limits}}
	if change {
		if !o.SkipPreflight {
			if err := install.Preflight(ctx, o.d, p, plan, true); err != nil {
				return err
			}
		}
		if !o.Force {
			if err := o.checkHealth(ctx, src); err != nil {
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
		nrel, err := install.Upgrade(ctx, o.d.Helm, &up, plan)
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
		Out: w, TTY: o.d.IO.Terminal, Now: o.d.Now, Interval: o.d.PollInterval,
		Header: "scale " + p.Name + ", request " + sum.RequestID, WaitFailback: next.AutoFailback,
	})
	sum.Waited = true
	sum.Rollout = &snap
	if err != nil {
		return o.failed(ctx, sum, snap, rel.Version, change, err)
	}
	return o.summary(sum, start)
}

// resourcesPlan is the release and the plan with the new resources: the release's values
// with --memory/--cpu over them, as insightctl upgrade composes them.
func (o *scaler) resourcesPlan() (*release.Release, *install.Plan, error) {
	ch, err := o.LoadChart()
	if err != nil {
		return nil, nil, err
	}
	return install.UpgradePlan(o.d.Helm, &o.Parameters, ch, o.d.IO.In)
}

// source reads the rollout: the release's StatefulSets and pods, and the manager's records
// when a manager can be reached (the view works without them).
func (o *scaler) source(ctx context.Context) rollout.KubeSource {
	p := &o.Parameters
	src := rollout.KubeSource{Client: o.d.Kube, Namespace: p.Namespace, Release: p.Name}
	src.View.Client, src.Err = o.d.Manager(ctx, p.Name, o.ManagerURL)
	src.Timeout = rollout.ManagerTimeout
	return src
}

// checkHealth refuses to start a rolling restart that could leave a partition without an
// in-sync copy.
func (o *scaler) checkHealth(ctx context.Context, src rollout.KubeSource) error {
	var obs rollout.Observation
	var err error
	if obs.StatefulSets, err = src.StatefulSets(ctx); err != nil {
		return fmt.Errorf("list the StatefulSets of %s: %w", o.Name, err)
	}
	if obs.Pods, err = src.Pods(ctx); err != nil {
		return fmt.Errorf("list the pods of %s: %w", o.Name, err)
	}
	obs.Records, obs.ManagerErr = src.Partitions(ctx)
	problems := rollout.Unhealthy(obs)
	if obs.ManagerErr != nil {
		fmt.Fprintf(o.d.IO.ErrOut, "note: %v; the backups' sync is judged by their readiness only\n", obs.ManagerErr)
	}
	if len(problems) == 0 {
		return nil
	}
	progress.Explain(ctx, progress.KubeSource{Client: o.d.Kube, Namespace: o.Namespace, Release: o.Name}, o.d.IO.ErrOut)
	return fmt.Errorf("not starting the rolling restart of %s: a restart now could leave a partition without an in-sync copy:\n  - %s\n"+
		"wait until 'insightctl status %s' shows every pod ready and in sync, or pass --force",
		o.Name, strings.Join(problems, "\n  - "), o.Name)
}

// failed explains a rollout that did not finish: which partitions are where, why the pods
// that are not ready are not, and how to resume or go back.
func (o *scaler) failed(ctx context.Context, sum Summary, snap rollout.Snapshot, before int, change bool, err error) error {
	w, p := o.d.IO.ErrOut, &o.Parameters
	for _, pr := range snap.Partitions {
		if !pr.Done {
			fmt.Fprintf(w, "  not done: %s\n", rollout.Line(pr))
		}
	}
	progress.Explain(ctx, progress.KubeSource{Client: o.d.Kube, Namespace: p.Namespace, Release: p.Name}, o.d.IO.ErrOut)
	back := fmt.Sprintf("insightctl rollback %s", p.Name)
	if change {
		back = fmt.Sprintf("insightctl rollback %s %d", p.Name, before)
	}
	fmt.Fprintf(w, "The rolling restart goes on in the cluster (request %s). To follow it again, run the same command:\n  %s\n"+
		"with the same values it changes nothing and only waits. To go back to the previous values: %s -n %s\n",
		sum.RequestID, o.followCommand(), back, p.Namespace)
	var stuck *rollout.StuckError
	switch {
	case errors.As(err, &stuck):
		return fmt.Errorf("scale %s: %w", p.Name, err)
	case errors.Is(err, context.DeadlineExceeded):
		return exit.TimeoutError(fmt.Errorf("scale %s: the rolling restart did not finish within %s (%d/%d partitions done)", p.Name, p.Timeout, snap.DoneCount(), len(snap.Partitions)))
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("scale %s: interrupted while following the rolling restart", p.Name)
	}
	return fmt.Errorf("scale %s: %w", p.Name, err)
}

// followCommand is the command line that follows this scale again.
func (o *scaler) followCommand() string {
	p := &o.Parameters
	var flags []string
	if p.Memory != "" {
		flags = append(flags, "--memory", p.Memory)
	}
	if p.CPU != "" {
		flags = append(flags, "--cpu", p.CPU)
	}
	cmd := o.resumeCommand(flags...)
	if o.AllowDataLoss {
		cmd += " --allow-data-loss"
	}
	return cmd
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

func (o *scaler) summary(s Summary, start time.Time) error {
	s.Duration = o.d.Now().Sub(start).Round(time.Millisecond).Seconds()
	if done, err := o.d.IO.Print(s); done {
		return err
	}
	out := o.d.IO.Out
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
