// Package diff runs insightctl diff: what an upgrade or a scale would change in a release's
// manifests, shown per object as unified diffs of their YAML (the layout of the helm-diff
// plugin), with the values of Secrets masked. The new manifests are rendered as the
// previewed command renders them, with the very functions that compose its values, and
// with Helm's server-side dry run, so that templates that look up live objects render as
// they would on the real upgrade. Nothing in the cluster changes.
//
// It must not depend on cobra: the command copies the previewed command's flags into that
// command's own parameters and calls Upgrade or Scale with the dependency set.
package diff

import (
	"context"
	"fmt"
	"io"

	"helm.sh/helm/v3/pkg/release"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/scale"
)

// Options are diff's own flags.
type Options struct {
	// ExitCode ends with exit.Changes when the release would change.
	ExitCode bool
}

// Report is what diff prints with -o json|yaml.
type Report struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Revision is the deployed revision the changes are shown against.
	Revision int `json:"revision"`
	// Command is the previewed command: upgrade or scale.
	Command string   `json:"command"`
	Changed bool     `json:"changed"`
	Changes []Change `json:"changes"`
}

// Upgrade shows what insightctl upgrade with p would change.
func Upgrade(ctx context.Context, d *deps.Deps, p *install.Parameters, o Options) error {
	ch, err := p.LoadChart()
	if err != nil {
		return err
	}
	rel, plan, err := install.UpgradePlan(d.Helm, p, ch, d.IO.In)
	if err != nil {
		return err
	}
	return show(ctx, d, "upgrade", p, rel, plan, true, o)
}

// Scale shows what insightctl scale with so would change in the release's manifests. The
// checks scale runs first (preflight, health gate, pu.ha) are not run.
func Scale(ctx context.Context, d *deps.Deps, so *scale.Options, o Options) error {
	rel, plan, shrink, err := scale.Plan(d, so)
	if err != nil {
		return err
	}
	// Before a scale-in upgrades the release, it drains the partitions that go and marks
	// their StatefulSets; the chart looks them up and refuses to delete unmarked ones. A
	// rendering against the live cluster would be refused, so a scale-in is rendered
	// without lookup, as a client-side dry run.
	return show(ctx, d, "scale", &so.Parameters, rel, plan, !shrink, o)
}

// show renders plan as the upgrade would, compares it with the release's manifest and
// prints the changes.
func show(ctx context.Context, d *deps.Deps, command string, p *install.Parameters, rel *release.Release, plan *install.Plan, live bool, o Options) error {
	next, err := install.PreviewUpgrade(ctx, d.Helm, p, plan, live)
	if err != nil {
		return fmt.Errorf("render the %s of %s: %w", command, p.Name, err)
	}
	changes, err := Compare(rel.Manifest, next.Manifest, rel.Namespace, Labels{From: fmt.Sprintf("revision %d", rel.Version), To: command})
	if err != nil {
		return err
	}
	r := Report{Name: rel.Name, Namespace: rel.Namespace, Revision: rel.Version, Command: command, Changed: len(changes) > 0, Changes: changes}
	if done, err := d.IO.Print(r); done {
		if err != nil {
			return err
		}
	} else if err := Write(d.IO.Out, changes); err != nil {
		return fmt.Errorf("write the diff: %w", err)
	}
	if len(changes) > 0 {
		fmt.Fprintf(d.IO.ErrOut, "%s of %s would change %s (against revision %d)\n", command, rel.Name, count(changes), rel.Version)
	}
	if o.ExitCode && len(changes) > 0 {
		return exit.ChangesFound()
	}
	return nil
}

// count says how many objects change, e.g. "2 objects: 1 changed, 1 added".
func count(changes []Change) string {
	n := map[string]int{}
	for _, c := range changes {
		n[c.Change]++
	}
	noun := "objects"
	if len(changes) == 1 {
		noun = "object"
	}
	s := fmt.Sprintf("%d %s:", len(changes), noun)
	sep := " "
	for _, k := range []string{Changed, Added, Removed} {
		if n[k] > 0 {
			s += fmt.Sprintf("%s%d %s", sep, n[k], k)
			sep = ", "
		}
	}
	return s
}

// Write prints the changes as text: a header per object, then its unified diff.
func Write(w io.Writer, changes []Change) error {
	for i, c := range changes {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintf(w, "%s has %s:\n%s", c.Header(), verb(c.Change), c.Diff); err != nil {
			return err
		}
	}
	return nil
}

func verb(change string) string {
	if change == Changed {
		return "changed"
	}
	return "been " + change
}
