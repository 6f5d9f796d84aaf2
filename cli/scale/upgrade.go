package scale

import (
	"context"
	"fmt"
	"io"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/install"
)

// BeforeUpgrade makes, ahead of an upgrade of p whose values change pu.ha or manager.ha,
// the online change 'scale --ha' or 'scale --manager-ha' makes (with its progress), so
// that the upgrade then finds it applied: the chart refuses a plain upgrade that changes
// either. Only that value changes here; the upgrade applies the rest. Nothing happens
// when neither changes. managerURL and skipPreflight are the upgrade's --manager-url and
// --skip-preflight.
func BeforeUpgrade(ctx context.Context, d *deps.Deps, p *install.Parameters, ch *chart.Chart, managerURL string, skipPreflight bool) error {
	rel, plan, err := install.UpgradePlan(d.Helm, p, ch, d.IO.In)
	if err != nil {
		return err
	}
	cur, err := install.ReleaseShape(rel.Chart, rel.Config)
	if err != nil {
		return err
	}
	next, err := install.ReleaseShape(plan.Chart, plan.Values)
	if err != nil {
		return err
	}
	// Its own summary would come before the upgrade's: only the progress is shown.
	quiet := *d
	quiet.IO.Out = io.Discard
	base := install.Parameters{Name: p.Name, Namespace: p.Namespace, ChartDir: p.ChartDir, Timeout: p.Timeout, Wait: true, DryRun: p.DryRun}
	if cur.Partitions > 0 && next.Partitions > 0 && cur.HA != next.HA {
		fmt.Fprintf(d.IO.ErrOut, "pu.ha changes to %v: first turning HA %s online, as 'insightctl scale %s --ha=%v' does\n", next.HA, onOff(next.HA), p.Name, next.HA)
		ha := next.HA
		if err := Run(ctx, &quiet, &Options{Parameters: base, HA: &ha, ManagerURL: managerURL, SkipPreflight: skipPreflight}); err != nil {
			return err
		}
	}
	if cur.Managers > 0 && next.Managers > 0 && cur.Managers != next.Managers {
		ha := next.Managers == 3
		fmt.Fprintf(d.IO.ErrOut, "manager.ha changes to %v: first changing the managers online, as 'insightctl scale %s --manager-ha=%v' does\n", ha, p.Name, ha)
		if err := Run(ctx, &quiet, &Options{Parameters: base, ManagerHA: &ha, ManagerURL: managerURL, SkipPreflight: skipPreflight}); err != nil {
			return err
		}
	}
	return nil
}
