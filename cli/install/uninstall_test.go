package install

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/internal/depstest"
)

// The release's data volumes stay unless asked; another release's are never touched.
func TestUninstallDataVolumes(t *testing.T) {
	for _, deleteData := range []bool{false, true} {
		pvc := func(name, instance string) *corev1.PersistentVolumeClaim {
			return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app.kubernetes.io/instance": instance}}}
		}
		w := depstest.New(t, "demo", nil, pvc("data-demo-insight-pu-0-0", "demo"), pvc("data-other-pu-0-0", "other"))
		if err := Uninstall(context.Background(), w.Deps, UninstallOptions{Name: "demo", DeleteData: deleteData, Timeout: time.Minute}); err != nil {
			t.Fatal(err)
		}
		left, err := w.Kube.CoreV1().PersistentVolumeClaims("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, said := 2, "kept 1 data volume(s)"
		if deleteData {
			want, said = 1, "deleted data volume data-demo-insight-pu-0-0"
		}
		if len(left.Items) != want || !strings.Contains(w.Out.String(), said) {
			t.Errorf("delete data %v: %d volumes left, printed %q; want %d and %q", deleteData, len(left.Items), w.Out.String(), want, said)
		}
	}
}
