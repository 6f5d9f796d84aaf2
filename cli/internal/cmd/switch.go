package cmd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"

	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// switchOptions are failover's and failback's options (Flags → Options → Validate → Run).
type switchOptions struct {
	r          *root
	op         string // failover or failback
	release    string
	managerURL string
	timeout    time.Duration
	// partition is the partition asked for; -1: every partition (failback only).
	partition int
}

func newSwitchCmd(r *root, op string) *cobra.Command {
	o := &switchOptions{r: r, op: op, partition: -1}
	c := &cobra.Command{}
	switch op {
	case "failover":
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
		if err := o.complete(args); err != nil {
			return err
		}
		return o.run(c.Context())
	}
	addManagerFlags(c, &o.release, &o.managerURL)
	c.Flags().DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait for the manager's answer")
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

// complete copies the arguments and validates everything without a cluster.
func (o *switchOptions) complete(args []string) error {
	var problems []validate.Problem
	if len(args) == 1 {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			problems = append(problems, validate.Problem{Key: "PARTITION", Value: args[0], Message: "must be a partition number: 0, 1, ... (insightctl status lists them)"})
		}
		o.partition = n
	}
	problems = append(problems, checkManagerURL(o.managerURL)...)
	if o.timeout <= 0 {
		problems = append(problems, validate.Problem{Key: "--timeout", Value: o.timeout.String(), Message: "must be positive, e.g. 30s"})
	}
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

func checkManagerURL(raw string) []validate.Problem {
	if raw == "" {
		return nil
	}
	if _, err := api.ParseURL(raw); err != nil {
		return []validate.Problem{{Key: "--manager-url", Value: raw, Message: err.Error()}}
	}
	return nil
}

// managerClient reaches the release's manager: at --manager-url only when given, else
// through the API server's service proxy (time-boxed), else a port-forward to a manager
// pod, which ends with ctx.
func (r *root) managerClient(ctx context.Context, managerURL, release string) (*api.Client, error) {
	c, _, err := r.env.Manager(r.clients, r.namespace(), release, managerURL).Reach(ctx)
	if api.IsUnreachable(err) {
		err = fmt.Errorf("%w\n%s", err, proxyHint)
	}
	return c, err
}

func (o *switchOptions) run(ctx context.Context) error {
	r := o.r
	rel, err := action.NewGet(r.clients.Helm).Run(o.release)
	if err != nil {
		return fmt.Errorf("release %s in namespace %s: %w", o.release, r.namespace(), err)
	}
	shape, err := install.ReleaseShape(rel.Chart, rel.Config)
	if err != nil {
		return err
	}
	if o.partition >= shape.Partitions {
		return &validate.Error{Problems: []validate.Problem{{Key: "PARTITION", Value: o.partition,
			Message: fmt.Sprintf("release %s has %s", o.release, partitionRange(shape.Partitions))}}}
	}
	if o.op == "failover" && !shape.HA {
		return &badInput{err: fmt.Errorf("release %s runs without pu.ha: partition %d has no backup to fail over to", o.release, o.partition)}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	client, err := r.managerClient(ctx, o.managerURL, o.release)
	if err != nil {
		return fmt.Errorf("%s: cannot reach the manager: %w", o.op, err)
	}
	if o.partition < 0 {
		return o.failbackAll(ctx, client)
	}
	call := client.Failover
	if o.op == "failback" {
		call = client.Failback
	}
	res, err := call(ctx, o.partition)
	if err != nil {
		return o.explain(fmt.Sprintf("%s of partition %d", o.op, o.partition), err)
	}
	if done, err := r.printStructured(r.env.Out, res); done {
		return err
	}
	_, err = fmt.Fprintln(r.env.Out, res.String())
	return err
}

// proxyHint follows a manager that neither the API server's service proxy nor a
// port-forward reached.
const proxyHint = "(where neither the API server's proxy nor a port-forward reaches the manager, pass --manager-url http://<manager pod IP>:8090 from a machine that reaches it)"

func partitionRange(n int) string {
	switch n {
	case 0:
		return "no partitions"
	case 1:
		return "1 partition: 0"
	}
	return fmt.Sprintf("%d partitions: 0-%d", n, n-1)
}

// explain maps a failed call (what: "failover of partition 0") to the documented exit
// codes: the manager refusing the partition itself is bad input, a deadline a timeout,
// anything else a failure.
func (o *switchOptions) explain(what string, err error) error {
	var ae *api.Error
	if errors.As(err, &ae) && strings.HasPrefix(ae.Message, "partition ") {
		what = o.op // the manager's message names the partition
	}
	switch {
	case errors.As(err, &ae) && ae.BadRequest():
		return &badInput{err: fmt.Errorf("%s: %w", what, err)}
	case errors.Is(err, context.DeadlineExceeded):
		return &timeoutError{err: fmt.Errorf("%s: no answer from the manager within --timeout %s", what, o.timeout)}
	case api.IsUnreachable(err) && o.managerURL == "":
		return fmt.Errorf("%s: %w\n%s", what, err, proxyHint)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// failbackAll fails every partition in the manager's map back in turn, going on after a
// failure; it fails when any partition did.
func (o *switchOptions) failbackAll(ctx context.Context, client *api.Client) error {
	r := o.r
	var failed []string
	outcomes, err := client.FailbackAll(ctx, func(out api.Outcome, err error) {
		switch {
		case err != nil:
			failed = append(failed, strconv.Itoa(out.Partition))
			fmt.Fprintf(r.env.ErrOut, "%v\n", o.explain(fmt.Sprintf("failback of partition %d", out.Partition), err))
		case r.flags.Output == "table":
			fmt.Fprintln(r.env.Out, out.String())
		}
	})
	if err != nil {
		return o.explain("failback", err)
	}
	if _, err := r.printStructured(r.env.Out, map[string]any{"partitions": outcomes}); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("failback: %d of %d partition(s) not handed back (partition %s); the others were", len(failed), len(outcomes), strings.Join(failed, ", "))
	}
	return nil
}
