package install

import (
	"context"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/internal/grid"
)

// UninstallOptions are uninstall's parameters.
type UninstallOptions struct {
	Name string
	// DeleteData deletes the release's PersistentVolumeClaims too; they stay otherwise, so
	// that an install with the same name finds its data again.
	DeleteData bool
	Wait       bool
	Timeout    time.Duration
}

// Uninstall removes the release, then keeps or deletes its data volumes (the
// StatefulSets' PersistentVolumeClaims, which are not part of the release), saying which.
func Uninstall(ctx context.Context, d *deps.Deps, o UninstallOptions) error {
	a := action.NewUninstall(d.Helm)
	a.Wait, a.Timeout = o.Wait, o.Timeout
	res, err := a.Run(o.Name)
	if err != nil {
		return fmt.Errorf("uninstall %s: %w", o.Name, err)
	}
	out := d.IO.Out
	if res != nil && res.Info != "" {
		fmt.Fprintln(out, res.Info)
	}
	fmt.Fprintf(out, "release %q uninstalled\n", o.Name)
	pvcs := d.Kube.CoreV1().PersistentVolumeClaims(d.Namespace)
	list, err := pvcs.List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(o.Name)})
	if err != nil {
		return fmt.Errorf("list the data volumes of %s: %w", o.Name, err)
	}
	if !o.DeleteData {
		if len(list.Items) > 0 {
			fmt.Fprintf(out, "kept %d data volume(s) (PersistentVolumeClaims labelled %s); delete them with --delete-data\n", len(list.Items), grid.Selector(o.Name))
		}
		return nil
	}
	for _, pvc := range list.Items {
		if err := pvcs.Delete(ctx, pvc.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete data volume %s: %w", pvc.Name, err)
		}
		fmt.Fprintf(out, "deleted data volume %s\n", pvc.Name)
	}
	return nil
}
