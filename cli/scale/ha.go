package scale

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/repartition"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// HASummary is what scale --ha prints at the end; -o json|yaml prints it as is.
type HASummary struct {
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Revision   int    `json:"revision"`
	HA         bool   `json:"ha"`
	Partitions int    `json:"partitions"`
	// InSync counts the partitions whose backup is in sync at the end.
	InSync int `json:"inSync"`
	// Changed is false when the grid and the release already had HA.
	Changed  bool    `json:"changed"`
	DryRun   bool    `json:"dryRun"`
	Duration float64 `json:"durationSeconds"`
}

// checkHA validates --ha and what may come with it.
func (o *Options) checkHA() []validate.Problem {
	return o.checkOnline("--ha", "turning HA on or off restarts no pod",
		"--ha always follows the backups until they are in sync (on) or gone (off); interrupt it and run the same command again to resume")
}

// checkOnline validates flag, an online change (--ha, --manager-ha) that comes alone:
// restarts says why --force and --allow-data-loss do not apply, follows why --wait=false
// does not.
func (o *Options) checkOnline(flag, restarts, follows string) []validate.Problem {
	var problems []validate.Problem
	alone := "cannot be combined with " + flag + ": run one scale after the other"
	for _, f := range []struct{ key, value string }{{"--memory", o.Memory}, {"--cpu", o.CPU}, {"--rate", o.Rate}} {
		if f.value != "" {
			problems = append(problems, validate.Problem{Key: f.key, Value: f.value, Message: alone})
		}
	}
	if o.Partitions != nil {
		problems = append(problems, validate.Problem{Key: "--partitions", Value: *o.Partitions, Message: alone})
	}
	if o.HA != nil && flag != "--ha" {
		problems = append(problems, validate.Problem{Key: "--ha", Value: *o.HA, Message: alone})
	}
	for _, f := range []struct {
		key string
		set bool
	}{{"--force", o.Force}, {"--allow-data-loss", o.AllowDataLoss}} {
		if f.set {
			problems = append(problems, validate.Problem{Key: f.key, Value: true, Message: "applies to --memory/--cpu only: " + restarts})
		}
	}
	if !o.Wait {
		problems = append(problems, validate.Problem{Key: "--wait", Value: false, Message: follows})
	}
	return problems
}

// release loads the chart to upgrade to, the release as it is and its shape.
func (o *scaler) release() (*chart.Chart, *release.Release, install.Shape, error) {
	p := &o.Parameters
	ch, err := p.LoadChart()
	if err != nil {
		return nil, nil, install.Shape{}, err
	}
	rel, err := action.NewGet(o.d.Helm).Run(p.Name)
	if err != nil {
		return nil, nil, install.Shape{}, fmt.Errorf("release %s in namespace %s: %w", p.Name, p.Namespace, err)
	}
	shape, err := install.ReleaseShape(rel.Chart, rel.Config)
	return ch, rel, shape, err
}

// runHA turns HA on or off on a running release. On: the manager is told first (so the
// new pods become backups as they register), then the release is upgraded with
// pu.ha=true and the backups followed until in sync. Off: the manager drops every
// backup from the partition records first (partitions acknowledge alone, a failed-over
// one is handed back to ordinal 0), and only then is the release upgraded with
// pu.ha=false, which scales each StatefulSet to one pod.
func (o *scaler) runHA(ctx context.Context) error {
	p := &o.Parameters
	want := *o.HA
	start := o.d.Now()
	ch, rel, shape, err := o.release()
	if err != nil {
		return err
	}
	if shape.Partitions == 0 {
		return exit.BadInputError(fmt.Errorf("release %s runs no processing units (pu.enabled=false): there are no partitions to give a backup", p.Name))
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	client, err := o.d.Manager(ctx, p.Name, o.ManagerURL)
	if err != nil {
		return fmt.Errorf("scale %s: cannot reach the manager: %w", p.Name, err)
	}
	st, err := client.HA(ctx)
	if err != nil {
		return o.haFailed(ctx, "reading the HA progress", err)
	}
	sum := HASummary{Name: p.Name, Namespace: p.Namespace, Revision: rel.Version, HA: want, Partitions: st.Partitions, InSync: st.InSync,
		DryRun: p.DryRun, Changed: shape.HA != want || st.HA != want || !st.Done}
	w := o.d.IO.ErrOut
	fmt.Fprintf(w, "Turning HA %s for %s in namespace %s: the release's pu.ha is %v, the grid's %v (%s)\n",
		onOff(want), p.Name, p.Namespace, shape.HA, st.HA, st.Message)
	if !sum.Changed {
		fmt.Fprintf(w, "%s already runs with pu.ha=%v; nothing to do\n", p.Name, want)
		return o.printHA(sum, start)
	}
	var plan *install.Plan
	if shape.HA != want {
		plan, err = o.changedPlan(ctx, ch, rel, fmt.Sprintf("pu.ha=%v", want), func(up *install.Parameters) { up.HA = &want }, want)
		if err != nil {
			return err
		}
	}
	if p.DryRun {
		return o.printHA(sum, start)
	}
	kube := repartition.Kube{Client: o.d.Kube, Namespace: p.Namespace, Release: p.Name}
	if _, err := client.SetHA(ctx, want); err != nil {
		return o.haFailed(ctx, fmt.Sprintf("asking the manager to turn HA %s", onOff(want)), err)
	}
	if !want {
		fmt.Fprintf(w, "The manager drops every partition's backup; following it for up to %s:\n", p.Timeout)
		if _, err := o.followHA(ctx, client); err != nil {
			return err
		}
	}
	if plan != nil {
		if _, err := kube.MarkHA(ctx, want); err != nil {
			return o.haInterrupted(ctx, err)
		}
		up := *p
		up.HA, up.Wait = &want, false // the grid's progress is followed instead
		nrel, err := install.Upgrade(ctx, o.d.Helm, &up, plan)
		if err != nil {
			return o.haInterrupted(ctx, err)
		}
		sum.Revision = nrel.Version
		fmt.Fprintf(w, "Revision %d applied: pu.ha=%v\n", nrel.Version, want)
	}
	if want {
		fmt.Fprintf(w, "The backups start, catch up and get in sync; following them for up to %s:\n", p.Timeout)
		final, err := o.followHA(ctx, client)
		if err != nil {
			return err
		}
		sum.InSync = final.InSync
		return o.printHA(sum, start)
	}
	fmt.Fprintln(w, "Waiting until the backup pods are gone")
	for {
		left, err := kube.BackupPods(ctx)
		if err == nil && len(left) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return o.haInterrupted(ctx, fmt.Errorf("still there: %s: %w", strings.Join(left, ", "), ctx.Err()))
		case <-time.After(o.interval()):
		}
	}
	sum.InSync = 0
	return o.printHA(sum, start)
}

func (o *scaler) interval() time.Duration {
	if o.d.PollInterval > 0 {
		return o.d.PollInterval
	}
	return time.Second
}

// followHA polls the manager until the HA change is done, printing each new message.
func (o *scaler) followHA(ctx context.Context, client *api.Client) (*api.HAStatus, error) {
	w := o.d.IO.ErrOut
	start := o.d.Now()
	last := ""
	for {
		st, err := client.HA(ctx)
		switch {
		case err == nil:
			line := fmt.Sprintf("%d of %d partitions with a backup, %d in sync: %s", st.WithBackup, st.Partitions, st.InSync, st.Message)
			if line != last {
				fmt.Fprintf(w, "  [%s] %s\n", o.d.Now().Sub(start).Round(time.Second), line)
				last = line
			}
			if st.Done {
				return st, nil
			}
		case ctx.Err() == nil && !api.IsUnreachable(err):
			return nil, o.haFailed(ctx, "following the HA change", err)
		}
		select {
		case <-ctx.Done():
			return nil, o.haInterrupted(ctx, fmt.Errorf("following the HA change: %w", ctx.Err()))
		case <-time.After(o.interval()):
		}
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// resumeCommand is the scale command line with flags (e.g. "--ha=true"), which resumes
// the change they make.
func (o *scaler) resumeCommand(flags ...string) string {
	p := &o.Parameters
	parts := append([]string{"insightctl", "scale", p.Name, "-n", p.Namespace}, flags...)
	if p.ChartDir != "" {
		parts = append(parts, "--chart-dir", p.ChartDir)
	}
	if o.ManagerURL != "" {
		parts = append(parts, "--manager-url", o.ManagerURL)
	}
	return strings.Join(parts, " ")
}

// haFailed explains a manager request that failed.
func (o *scaler) haFailed(ctx context.Context, what string, err error) error {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Status == 404 {
		return fmt.Errorf("scale %s: %s: %w\n(this grid cannot turn HA on or off while it runs: upgrade it first with insightctl upgrade)", o.Name, what, err)
	}
	return o.haInterrupted(ctx, fmt.Errorf("%s: %w", what, err))
}

// haInterrupted says how to resume the HA change after err.
func (o *scaler) haInterrupted(ctx context.Context, err error) error {
	return o.resumable(ctx, "", fmt.Sprintf("--ha=%v", *o.HA), err)
}

// resumable says, after lead, how to resume the change flag after err; a deadline is a
// timeout (exit code 4).
func (o *scaler) resumable(ctx context.Context, lead, flag string, err error) error {
	fmt.Fprintf(o.d.IO.ErrOut, "%sTo resume, run the same command again (each step checks the state first):\n  %s\n", lead, o.resumeCommand(flag))
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return exit.TimeoutError(fmt.Errorf("scale %s %s: not done within --timeout %s: %w", o.Name, flag, o.Timeout, err))
	}
	return fmt.Errorf("scale %s %s: %w", o.Name, flag, err)
}

func (o *scaler) printHA(s HASummary, start time.Time) error {
	s.Duration = o.d.Now().Sub(start).Round(time.Millisecond).Seconds()
	if done, err := o.d.IO.Print(s); done {
		return err
	}
	out := o.d.IO.Out
	fmt.Fprintf(out, "NAME: %s\nNAMESPACE: %s\nREVISION: %d\n", s.Name, s.Namespace, s.Revision)
	switch {
	case !s.Changed:
		fmt.Fprintf(out, "HA: %v (unchanged)\n", s.HA)
	case s.DryRun:
		fmt.Fprintf(out, "HA: -> %v\nDRY RUN: nothing was changed; the checks passed\n", s.HA)
		return nil
	case s.HA:
		fmt.Fprintf(out, "HA: on (%d of %d partitions with their backup in sync)\n", s.InSync, s.Partitions)
	default:
		fmt.Fprintf(out, "HA: off (%d partitions, no backups)\n", s.Partitions)
	}
	fmt.Fprintf(out, "DURATION: %s\n", time.Duration(s.Duration*float64(time.Second)).Round(time.Second))
	return nil
}
