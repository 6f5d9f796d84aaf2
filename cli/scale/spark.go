package scale

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/validate"
)

// SparkSummary is what scale --spark-executors prints at the end; -o json|yaml prints it
// as is.
type SparkSummary struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
	From      int    `json:"from"`
	Executors int    `json:"executors"`
	// DynamicAllocation says the jobs grow and shrink from Executors themselves.
	DynamicAllocation bool    `json:"dynamicAllocation"`
	Changed           bool    `json:"changed"`
	DryRun            bool    `json:"dryRun"`
	Duration          float64 `json:"durationSeconds"`
}

// checkSpark validates --spark-executors and what may come with it. 0 passes here: only
// the release knows whether dynamic allocation allows it.
func (o *Options) checkSpark() []validate.Problem {
	var problems []validate.Problem
	if n := *o.SparkExecutors; n < 0 {
		problems = append(problems, validate.Problem{Key: "--spark-executors", Value: n,
			Message: "must be at least 1 (0 only with spark.dynamicAllocation.enabled)"})
	}
	alone := "cannot be combined with --spark-executors: run one scale after the other"
	for _, f := range []struct{ key, value string }{{"--memory", o.Memory}, {"--cpu", o.CPU}, {"--rate", o.Rate}} {
		if f.value != "" {
			problems = append(problems, validate.Problem{Key: f.key, Value: f.value, Message: alone})
		}
	}
	if o.Partitions != nil {
		problems = append(problems, validate.Problem{Key: "--partitions", Value: *o.Partitions, Message: alone})
	}
	if o.HA != nil {
		problems = append(problems, validate.Problem{Key: "--ha", Value: *o.HA, Message: alone})
	}
	if o.ManagerHA != nil {
		problems = append(problems, validate.Problem{Key: "--manager-ha", Value: *o.ManagerHA, Message: alone})
	}
	for _, f := range []struct {
		key string
		set bool
	}{{"--force", o.Force}, {"--allow-data-loss", o.AllowDataLoss}} {
		if f.set {
			problems = append(problems, validate.Problem{Key: f.key, Value: true,
				Message: "applies to --memory/--cpu only: --spark-executors restarts no pod, it changes the default of the jobs submitted next"})
		}
	}
	return problems
}

// runSpark sets spark.executor.instances, the executors of the jobs submitted from now on
// (running jobs keep theirs), by upgrading the release with its values kept.
func (o *scaler) runSpark(ctx context.Context) error {
	p := &o.Parameters
	n := *o.SparkExecutors
	start := o.d.Now()
	ch, rel, _, err := o.release()
	if err != nil {
		return err
	}
	full, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		return fmt.Errorf("values of release %s: %w", p.Name, err)
	}
	spark, _ := full["spark"].(map[string]any)
	if enabled, _ := spark["enabled"].(bool); !enabled {
		return exit.BadInputError(fmt.Errorf("release %s does not run Spark (spark.enabled=false): there are no Spark executors to scale; enable it with 'insightctl upgrade %s --enable spark'", p.Name, p.Name))
	}
	dynamic := false
	if da, ok := spark["dynamicAllocation"].(map[string]any); ok {
		dynamic, _ = da["enabled"].(bool)
	}
	if n == 0 && !dynamic {
		return &validate.Error{Problems: []validate.Problem{{Key: "--spark-executors", Value: 0,
			Message: fmt.Sprintf("release %s runs Spark without dynamic allocation, where a job needs at least 1 executor; give 1 or more, or set spark.dynamicAllocation.enabled=true first", p.Name)}}}
	}
	from := 0
	if ex, ok := spark["executor"].(map[string]any); ok {
		from, _ = strconv.Atoi(fmt.Sprint(ex["instances"]))
	}
	sum := SparkSummary{Name: p.Name, Namespace: p.Namespace, Revision: rel.Version, From: from, Executors: n,
		DynamicAllocation: dynamic, Changed: from != n, DryRun: p.DryRun}
	w := o.d.IO.ErrOut
	if !sum.Changed {
		fmt.Fprintf(w, "%s already gives Spark jobs %d executor%s (spark.executor.instances); nothing to do\n", p.Name, n, plural(n))
		return o.printSpark(sum, start)
	}
	setting := fmt.Sprintf("spark.executor.instances=%d", n)
	plan, err := o.changedPlan(ctx, ch, rel, setting, func(up *install.Parameters) { up.Set = append(up.Set, setting) }, false)
	if err != nil {
		return err
	}
	if p.DryRun {
		return o.printSpark(sum, start)
	}
	up := *p
	up.Set = append(up.Set, setting)
	up.Wait = false // no pod changes: the ConfigMap is what the next jobs read
	nrel, err := install.Upgrade(ctx, o.d.Helm, &up, plan)
	if err != nil {
		return err
	}
	sum.Revision = nrel.Version
	fmt.Fprintf(w, "Revision %d applied: %s; jobs submitted from now on start with %d executor%s, running jobs keep theirs\n", nrel.Version, setting, n, plural(n))
	return o.printSpark(sum, start)
}

func (o *scaler) printSpark(s SparkSummary, start time.Time) error {
	s.Duration = o.d.Now().Sub(start).Round(time.Millisecond).Seconds()
	if done, err := o.d.IO.Print(s); done {
		return err
	}
	out := o.d.IO.Out
	fmt.Fprintf(out, "NAME: %s\nNAMESPACE: %s\nREVISION: %d\n", s.Name, s.Namespace, s.Revision)
	what := "initial executors per job, dynamic allocation on"
	if !s.DynamicAllocation {
		what = "executors per job"
	}
	switch {
	case !s.Changed:
		fmt.Fprintf(out, "SPARK EXECUTORS: %d (unchanged; %s)\n", s.Executors, what)
	case s.DryRun:
		fmt.Fprintf(out, "SPARK EXECUTORS: %d -> %d (%s)\nDRY RUN: nothing was changed; the checks passed\n", s.From, s.Executors, what)
	default:
		fmt.Fprintf(out, "SPARK EXECUTORS: %d -> %d (%s)\n", s.From, s.Executors, what)
	}
	return nil
}
