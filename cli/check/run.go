package check

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/validate"
	"github.com/insightgrid/insight/grid/api"
)

// Run checks the release: its values decide whether the disruption asked for is allowed,
// then Check runs against the cluster with the user's credentials.
func Run(ctx context.Context, d *deps.Deps, o Options) error {
	rel, err := action.NewGet(d.Helm).Run(o.Release)
	if err != nil {
		return fmt.Errorf("release %s in namespace %s: %w", o.Release, d.Namespace, err)
	}
	shape, err := install.ReleaseShape(rel.Chart, rel.Config)
	if err != nil {
		return err
	}
	if err := o.Allowed(shape); err != nil {
		return err
	}
	failover := func(ctx context.Context, p int) (*api.SwitchResult, error) {
		client, err := d.Manager(ctx, o.Release, o.ManagerURL)
		if err != nil {
			return nil, fmt.Errorf("cannot reach the manager: %w", err)
		}
		return client.Failover(ctx, p)
	}
	return Check(ctx, d, o, KubeCluster{Client: d.Kube, Namespace: d.Namespace, Release: o.Release}, failover)
}

// Allowed checks the options against the release's shape: the partition exists, and a
// disruption of a release without backups needs --force.
func (o Options) Allowed(shape install.Shape) error {
	if o.Disrupt == None {
		return nil
	}
	if o.Partition >= shape.Partitions {
		return &validate.Error{Problems: []validate.Problem{{Key: "--partition", Value: o.Partition,
			Message: fmt.Sprintf("release %s has %d partition(s): 0-%d", o.Release, shape.Partitions, shape.Partitions-1)}}}
	}
	if !shape.HA && !o.Force {
		return exit.BadInputError(fmt.Errorf("check --disrupt %s: release %s runs without pu.ha: partition %d has no backup, so the disruption "+
			"would make it unavailable and may lose its data; give --force to disrupt it anyway", o.Disrupt, o.Release, o.Partition))
	}
	return nil
}
