package install

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/insightgrid/insight/charts"
	"github.com/insightgrid/insight/cli/deps"
)

// The release's data volumes stay unless asked; another release's are never touched.
func TestUninstallDataVolumes(t *testing.T) {
	for _, deleteData := range []bool{false, true} {
		ch, err := charts.Load("")
		if err != nil {
			t.Fatal(err)
		}
		store := storage.Init(driver.NewMemory())
		if err := store.Create(&release.Release{Name: "demo", Namespace: "default", Version: 1, Chart: ch, Info: &release.Info{Status: release.StatusDeployed}}); err != nil {
			t.Fatal(err)
		}
		pvc := func(name, instance string) *corev1.PersistentVolumeClaim {
			return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app.kubernetes.io/instance": instance}}}
		}
		kube := fake.NewSimpleClientset(pvc("data-demo-insight-pu-0-0", "demo"), pvc("data-other-pu-0-0", "other"))
		var out bytes.Buffer
		d := &deps.Deps{
			Helm: &action.Configuration{Releases: store, KubeClient: &kubefake.PrintingKubeClient{Out: io.Discard},
				Capabilities: chartutil.DefaultCapabilities, Log: func(string, ...any) {}},
			Kube: kube, Namespace: "default", IO: deps.IO{Out: &out, ErrOut: io.Discard}, Now: time.Now,
		}
		if err := Uninstall(context.Background(), d, UninstallOptions{Name: "demo", DeleteData: deleteData, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		left, err := kube.CoreV1().PersistentVolumeClaims("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, said := 2, "kept 1 data volume(s)"
		if deleteData {
			want, said = 1, "deleted data volume data-demo-insight-pu-0-0"
		}
		if len(left.Items) != want || !strings.Contains(out.String(), said) {
			t.Errorf("delete data %v: %d volumes left, printed %q; want %d and %q", deleteData, len(left.Items), out.String(), want, said)
		}
	}
}
