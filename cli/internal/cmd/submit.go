package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/submit"
)

func newSubmitCmd(r *root) *cobra.Command {
	o := &submit.Options{}
	c := &cobra.Command{
		Use:   "submit [RELEASE] (--class CLASS --jar local:///JAR | --py FILE) [-- ARGS...]",
		Short: "Run a Spark job next to the grid and follow it to its end; --list and --delete manage the jobs",
		Long: `Run a Spark job in the release's namespace with the defaults of its insight-spark chart
(spark.enabled; 'insightctl install --enable spark'). insightctl creates the job's driver pod
from the chart's driver template; spark-submit runs in it in client mode and creates the
executors from the executor template, as the chart's ServiceAccount. The executors belong to
the driver pod, and the driver pod to the release's Spark ConfigMap: deleting the job or
uninstalling the release removes them.

The command follows the driver: its phase, what holds it (the scheduler's reason while it
is not scheduled, an image that cannot be pulled), the executors started, and its log,
streamed to standard output. It exits with the driver's exit code; a driver that cannot
start (ImagePullBackOff, a bad container configuration) fails at once, and one still not
running after --start-timeout (unschedulable, a slow pull) exits 4 with the reason; the pod
is kept for inspection. Past --timeout the job goes on in the cluster and the command exits 4.
With -o json|yaml the driver's log goes to standard error, the summary to standard output.

--jar takes a jar in the Spark image (local:///path) or an http(s) URL; --py a Python file
on this machine (shipped to the driver in a ConfigMap), in the image (local:///path) or at
an http(s) URL. --conf adds Spark properties over the chart's spark-defaults.conf.

--list shows the release's jobs (phase, exit code, executors running); --delete NAME
removes one, running or ended (ended drivers stay until then, with their logs).`,
		Example: `  insightctl submit demo --class io.insightgrid.examples.SparkPi --jar local:///opt/insight/examples/insight-examples.jar -- 100
  insightctl submit demo --py ./wordcount.py --executors 4 --executor-memory 2g -- /data/in
  insightctl submit demo --class com.example.Etl --jar https://repo.example/etl.jar --conf spark.sql.shuffle.partitions=64 --name etl
  insightctl submit demo --list
  insightctl submit demo --delete etl`,
		Args: func(c *cobra.Command, args []string) error {
			positional := args
			if dash := c.ArgsLenAtDash(); dash >= 0 {
				positional = args[:dash]
			}
			if len(positional) > 1 {
				return exit.BadInputError(fmt.Errorf("submit takes at most one RELEASE before '--', got %q: the job's arguments go after '--'; usage: %s", positional, c.UseLine()))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			positional := args
			if dash := c.ArgsLenAtDash(); dash >= 0 {
				positional, o.Args = args[:dash], args[dash:]
			}
			o.Release, o.Namespace = nameArg(positional), r.namespace()
			o.ExecutorsSet = changed(c.Flags(), "executors")
			if err := o.Validate(); err != nil {
				return err
			}
			d := r.deps()
			switch {
			case o.List:
				return submit.List(c.Context(), d, o)
			case o.Delete != "":
				return submit.Delete(c.Context(), d, o)
			}
			return submit.Run(c.Context(), d, o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Class, "class", "", "main class of a --jar job, e.g. io.insightgrid.examples.SparkPi")
	f.StringVar(&o.Jar, "jar", "", "the job's jar: local:///path in the Spark image, or an http(s) URL")
	f.StringVar(&o.Py, "py", "", "the job's Python file: a file on this machine, local:///path in the image, or an http(s) URL")
	f.IntVar(&o.Executors, "executors", 0, "executors of this job (spark.executor.instances; default: the release's spark.executor.instances)")
	f.StringVar(&o.ExecutorMemory, "executor-memory", "", "memory of each executor JVM, Spark's format, e.g. 2g (default: the release's spark.executor.memory)")
	f.StringArrayVar(&o.Conf, "conf", nil, "a Spark property key=value for this job (repeatable)")
	f.StringVar(&o.Name, "name", "", "the job's name; its pods are named after it (default: the class or file and the time)")
	f.BoolVar(&o.Wait, "wait", true, "follow the job until its driver ends, streaming its log, and exit with its exit code")
	f.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "how long to follow the job; it goes on after")
	f.DurationVar(&o.StartTimeout, "start-timeout", 5*time.Minute, "how long the driver may take to start running (scheduling, image pull) before submit reports what holds it")
	f.BoolVar(&o.List, "list", false, "list the release's jobs")
	f.StringVar(&o.Delete, "delete", "", "delete the job NAME: its driver pod, and with it its executors")
	return c
}
