package install

import (
	"context"
	"fmt"
	"slices"

	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/preflight"
)

// Preflight renders plan, checks that the cluster can run it and prints every check on
// ErrOut; it fails with *preflight.Error when one does not pass. upgrade says the release
// runs already (its own pods count as placed).
func Preflight(ctx context.Context, d *deps.Deps, p *Parameters, plan *Plan, upgrade bool) error {
	rel, err := preflightRender(p, plan)
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

// preflightRender renders plan for the preflight with the add-ons' CRD kinds counted as
// served, so that their objects are in the manifest and the api-kinds check asks the
// cluster for them and names what is missing; rendered with the client's default
// capabilities, the add-on's chart would refuse before the cluster is asked.
func preflightRender(p *Parameters, plan *Plan) (*release.Release, error) {
	pp := *p
	pp.APIVersions = append(slices.Clone(p.APIVersions), charts.AddOnAPIs()...)
	return Render(&pp, plan, nil)
}
