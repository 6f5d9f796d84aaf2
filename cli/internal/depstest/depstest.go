// Package depstest builds the dependency set of insightctl's workflows for tests: Helm's
// configuration over in-memory release storage, a fake Kubernetes clientset, captured
// output and a frozen clock.
//
// It is for tests only and must not depend on cobra.
package depstest

import (
	"bytes"
	"io"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/cli/deps"
)

// Frozen is the tests' clock.
var Frozen = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// World is a dependency set with what the workflow printed.
type World struct {
	*deps.Deps
	Out, ErrOut *bytes.Buffer
	KubeFake    *fake.Clientset
}

// New is a dependency set in namespace default, holding the deployed release name with
// values (the embedded chart) and the objects. It has no Manager: set one.
func New(t *testing.T, name string, values map[string]any, objects ...runtime.Object) *World {
	t.Helper()
	ch, err := charts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	store := storage.Init(driver.NewMemory())
	if err := store.Create(&release.Release{Name: name, Namespace: "default", Version: 1, Chart: ch, Config: values,
		Info: &release.Info{Status: release.StatusDeployed}}); err != nil {
		t.Fatal(err)
	}
	w := &World{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}, KubeFake: fake.NewSimpleClientset(objects...)}
	w.Deps = &deps.Deps{
		Helm: &action.Configuration{Releases: store, KubeClient: &kubefake.PrintingKubeClient{Out: io.Discard},
			Capabilities: chartutil.DefaultCapabilities, Log: func(string, ...any) {}},
		Kube: w.KubeFake, Namespace: "default",
		IO:  deps.IO{In: &bytes.Buffer{}, Out: w.Out, ErrOut: w.ErrOut, Output: "table"},
		Now: func() time.Time { return Frozen }, PollInterval: time.Millisecond,
	}
	return w
}
