// Package switchover runs insightctl's planned switch-overs through the release's manager:
// failover (a partition to its in-sync backup) and failback (back to the preferred
// primary, one partition or every one in turn). The partition is checked against the
// release's values before the manager is asked.
//
// It must not depend on cobra: the command copies its flags into Options.
package switchover

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// Operations.
const (
	Failover = "failover"
	Failback = "failback"
)

// Options are a switch-over's parameters.
type Options struct {
	// Op is Failover or Failback.
	Op      string
	Release string
	// Partition is the PARTITION argument; "": every partition (failback only).
	Partition  string
	ManagerURL string
	// Timeout bounds the whole exchange with the manager.
	Timeout time.Duration
}

// Validate checks the options without a cluster.
func (o Options) Validate() error {
	var problems []validate.Problem
	if o.Partition != "" {
		if _, err := o.partition(); err != nil {
			problems = append(problems, validate.Problem{Key: "PARTITION", Value: o.Partition, Message: "must be a partition number: 0, 1, ... (insightctl status lists them)"})
		}
	} else if o.Op != Failback {
		problems = append(problems, validate.Problem{Key: "PARTITION", Message: "failover needs the partition to switch over"})
	}
	problems = append(problems, manager.CheckURL(o.ManagerURL)...)
	if o.Timeout <= 0 {
		problems = append(problems, validate.Problem{Key: "--timeout", Value: o.Timeout.String(), Message: "must be positive, e.g. 30s"})
	}
	if len(problems) > 0 {
		return &validate.Error{Problems: problems}
	}
	return nil
}

// partition is the partition asked for; -1: every partition.
func (o Options) partition() (int, error) {
	if o.Partition == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(o.Partition)
	if err == nil && n < 0 {
		err = errors.New("negative")
	}
	return n, err
}

// Run asks the manager for the switch-over and prints its result (per -o).
func Run(ctx context.Context, d *deps.Deps, o Options) error {
	p, err := o.partition()
	if err != nil {
		return o.Validate()
	}
	rel, err := action.NewGet(d.Helm).Run(o.Release)
	if err != nil {
		return fmt.Errorf("release %s in namespace %s: %w", o.Release, d.Namespace, err)
	}
	shape, err := install.ReleaseShape(rel.Chart, rel.Config)
	if err != nil {
		return err
	}
	if p >= shape.Partitions {
		return &validate.Error{Problems: []validate.Problem{{Key: "PARTITION", Value: p,
			Message: fmt.Sprintf("release %s has %s", o.Release, partitionRange(shape.Partitions))}}}
	}
	if o.Op == Failover && !shape.HA {
		return exit.BadInputError(fmt.Errorf("release %s runs without pu.ha: partition %d has no backup to fail over to", o.Release, p))
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	client, err := d.Manager(ctx, o.Release, o.ManagerURL)
	if err != nil {
		return fmt.Errorf("%s: cannot reach the manager: %w", o.Op, err)
	}
	if p < 0 {
		return o.failbackAll(ctx, d, client)
	}
	call := client.Failover
	if o.Op == Failback {
		call = client.Failback
	}
	res, err := call(ctx, p)
	if err != nil {
		return o.explain(fmt.Sprintf("%s of partition %d", o.Op, p), err)
	}
	if done, err := d.IO.Print(res); done {
		return err
	}
	_, err = fmt.Fprintln(d.IO.Out, res.String())
	return err
}

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
func (o Options) explain(what string, err error) error {
	var ae *api.Error
	if errors.As(err, &ae) && strings.HasPrefix(ae.Message, "partition ") {
		what = o.Op // the manager's message names the partition
	}
	switch {
	case errors.As(err, &ae) && ae.BadRequest():
		return exit.BadInputError(fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, context.DeadlineExceeded):
		return exit.TimeoutError(fmt.Errorf("%s: no answer from the manager within --timeout %s", what, o.Timeout))
	case api.IsUnreachable(err) && o.ManagerURL == "":
		return fmt.Errorf("%s: %w\n%s", what, err, manager.Hint)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// failbackAll fails every partition in the manager's map back in turn, going on after a
// failure; it fails when any partition did.
func (o Options) failbackAll(ctx context.Context, d *deps.Deps, client *api.Client) error {
	var failed []string
	outcomes, err := client.FailbackAll(ctx, func(out api.Outcome, err error) {
		switch {
		case err != nil:
			failed = append(failed, strconv.Itoa(out.Partition))
			fmt.Fprintf(d.IO.ErrOut, "%v\n", o.explain(fmt.Sprintf("failback of partition %d", out.Partition), err))
		case !d.IO.Structured():
			fmt.Fprintln(d.IO.Out, out.String())
		}
	})
	if err != nil {
		return o.explain("failback", err)
	}
	if _, err := d.IO.Print(map[string]any{"partitions": outcomes}); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("failback: %d of %d partition(s) not handed back (partition %s); the others were", len(failed), len(outcomes), strings.Join(failed, ", "))
	}
	return nil
}
