package install

import (
	"context"
	"fmt"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/preflight"
)

// Preflight renders plan, checks that the cluster can run it and prints every check on
// ErrOut; it fails with *preflight.Error when one does not pass. upgrade says the release
// runs already (its own pods count as placed).
func Preflight(ctx context.Context, d *deps.Deps, p *Parameters, plan *Plan, upgrade bool) error {
	rel, err := Render(p, plan, nil)
	if err != nil {
		return err
	}
	req, err := plan.Requirements(p, rel.Manifest)
	if err != nil {
		return err
	}
	if !upgrade {
		req.Release = "" // nothing of ours runs yet
	}
	res, err := preflight.Run(ctx, preflight.KubeCluster{Client: d.Kube}, req)
	if res == nil {
		return fmt.Errorf("preflight: %w", err)
	}
	preflight.Write(d.IO.ErrOut, res)
	return err
}
