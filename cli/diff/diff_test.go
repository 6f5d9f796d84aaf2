package diff

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/internal/depstest"
	"github.com/insightgrid/insight/cli/scale"
)

// The operator token and the TLS certificate come from existing Secrets: the fake Helm
// configuration has no API server for the chart's lookup, so a token or a CA the chart
// makes (kept by lookup on a real upgrade, charts/operatortoken_test.go, charts/tls_test.go)
// would differ at each render.
var deployed = map[string]any{
	"pu": map[string]any{"partitions": 2, "ha": true, "resources": map[string]any{"requests": map[string]any{"memory": "512Mi"}, "limits": map[string]any{"memory": "512Mi"}}},
	"global": map[string]any{"auth": map[string]any{"enabled": true, "password": "s3cret-old"},
		"operatorToken": map[string]any{"existingSecret": "demo-operator-token"},
		"tls":           map[string]any{"existingSecret": "demo-tls"}},
}

// world holds release demo, revision 1, deployed with the manifest its values render on
// an upgrade (the manager ConfigMap's clusterState is "new" only as first installed).
func world(t *testing.T) *depstest.World {
	t.Helper()
	return worldAs(t, `clusterState: "existing"`)
}

// worldAs is world with the manager ConfigMap's clusterState line as given.
func worldAs(t *testing.T, clusterState string) *depstest.World {
	t.Helper()
	w := depstest.New(t, "demo", deployed)
	p := &install.Parameters{Name: "demo", Namespace: "default"}
	plan, err := p.PrepareChart(mustChart(t, p), deployed, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := install.Render(p, plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := w.Helm.Releases.Get("demo", 1)
	if err != nil {
		t.Fatal(err)
	}
	rel.Manifest = strings.Replace(r.Manifest, `clusterState: "new"`, clusterState, 1)
	if err := w.Helm.Releases.Update(rel); err != nil {
		t.Fatal(err)
	}
	return w
}

func mustChart(t *testing.T, p *install.Parameters) *chart.Chart {
	t.Helper()
	ch, err := p.LoadChart()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func params(set ...string) *install.Parameters {
	return &install.Parameters{Name: "demo", Namespace: "default", Timeout: time.Minute, Set: set}
}

// unchanged checks that the release is still at revision 1, its only one.
func unchanged(t *testing.T, w *depstest.World) {
	t.Helper()
	h, err := w.Helm.Releases.History("demo")
	if err != nil || len(h) != 1 || h[0].Version != 1 {
		t.Fatalf("the release changed: %d revisions, %v", len(h), err)
	}
}

func TestUpgradeShowsTheChange(t *testing.T) {
	w := world(t)
	p := params()
	p.Memory = "1Gi"
	err := Upgrade(context.Background(), w.Deps, p, Options{ExitCode: true})
	if exit.Code(err) != exit.Changes || !exit.Quiet(err) {
		t.Fatalf("err %v (code %d), want the quiet changes outcome", err, exit.Code(err))
	}
	out := w.Out.String()
	for _, s := range []string{"default, demo-insight-pu-0, StatefulSet (apps) has changed:", "--- revision 1\n", "+++ upgrade\n",
		"-            memory: 512Mi\n", "+            memory: 1Gi\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("diff lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "Secret") {
		t.Errorf("a Secret shows as changed though no secret value changed:\n%s", out)
	}
	if !strings.Contains(w.ErrOut.String(), "upgrade of demo would change 2 objects: 2 changed") {
		t.Errorf("summary: %s", w.ErrOut.String())
	}
	unchanged(t, w)
}

// The first upgrade of a release changes one value nobody set: the managers' clusterState,
// "new" at install, "existing" after (members that join from then on join a running
// cluster).
func TestFirstUpgradeChangesClusterState(t *testing.T) {
	w := worldAs(t, `clusterState: "new"`)
	err := Upgrade(context.Background(), w.Deps, params(), Options{ExitCode: true})
	if exit.Code(err) != exit.Changes {
		t.Fatalf("err %v (code %d), want the changes outcome", err, exit.Code(err))
	}
	out := w.Out.String()
	for _, s := range []string{"default, demo-insight-manager, ConfigMap has changed:", "-  clusterState: new\n", "+  clusterState: existing\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("diff lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(w.ErrOut.String(), "would change 1 object") {
		t.Errorf("summary: %s", w.ErrOut.String())
	}
}

func TestUpgradeNoChange(t *testing.T) {
	w := world(t)
	if err := Upgrade(context.Background(), w.Deps, params(), Options{ExitCode: true}); err != nil {
		t.Fatalf("no change: %v", err)
	}
	if w.Out.Len() != 0 || w.ErrOut.Len() != 0 {
		t.Errorf("a diff without changes printed:\n%s%s", w.Out, w.ErrOut)
	}
	unchanged(t, w)
}

func TestUpgradeMasksTheChangedPassword(t *testing.T) {
	w := world(t)
	w.IO.Output = "json"
	if err := Upgrade(context.Background(), w.Deps, params("global.auth.password=s3cret-new"), Options{}); err != nil {
		t.Fatalf("without --exit-code: %v", err)
	}
	var r Report
	if err := json.Unmarshal(w.Out.Bytes(), &r); err != nil {
		t.Fatalf("-o json: %v\n%s", err, w.Out)
	}
	if !r.Changed || r.Revision != 1 || r.Command != "upgrade" {
		t.Errorf("report %+v", r)
	}
	var secret *Change
	for i, c := range r.Changes {
		if c.Kind == "Secret" {
			secret = &r.Changes[i]
		}
	}
	if secret == nil || !strings.Contains(secret.Diff, "+  password: '*** (after)'") {
		t.Fatalf("the changed password is not shown as a changed key: %+v", r.Changes)
	}
	for _, v := range []string{"s3cret", "czNjcmV0"} { // base64 of s3cret
		if strings.Contains(w.Out.String(), v) {
			t.Errorf("the output shows the password (%q)", v)
		}
	}
	unchanged(t, w)
}

func TestScaleShowsTheChange(t *testing.T) {
	w := world(t)
	n := 3
	so := &scale.Options{Parameters: *params(), Partitions: &n}
	so.Wait = true
	if err := so.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := Scale(context.Background(), w.Deps, so, Options{}); err != nil {
		t.Fatal(err)
	}
	if out := w.Out.String(); !strings.Contains(out, "default, demo-insight-pu-2, StatefulSet (apps) has been added:") {
		t.Errorf("scale --partitions 3 does not add partition 2:\n%s", out)
	}
	unchanged(t, w)
}

func TestScaleInRemovesPartitions(t *testing.T) {
	w := world(t)
	n := 1
	so := &scale.Options{Parameters: *params(), Partitions: &n}
	if err := Scale(context.Background(), w.Deps, so, Options{}); err != nil {
		t.Fatal(err)
	}
	if out := w.Out.String(); !strings.Contains(out, "default, demo-insight-pu-1, StatefulSet (apps) has been removed:") {
		t.Errorf("scale --partitions 1 does not remove partition 1:\n%s", out)
	}
	unchanged(t, w)
}

func TestUpgradeBadInputChangesNothing(t *testing.T) {
	w := world(t)
	err := Upgrade(context.Background(), w.Deps, params("pu.partitions=0"), Options{ExitCode: true})
	if exit.Code(err) != exit.BadInput {
		t.Fatalf("pu.partitions=0: %v (code %d), want bad input", err, exit.Code(err))
	}
	if w.Out.Len() != 0 {
		t.Errorf("printed a diff for bad input:\n%s", w.Out)
	}
	unchanged(t, w)
}
