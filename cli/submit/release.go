package submit

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/internal/grid"
)

// sparkSelector selects the release's Spark objects (its ConfigMap, and its jobs' pods).
func sparkSelector(release string) string {
	return grid.Selector(release) + "," + grid.LabelComponent + "=spark,app.kubernetes.io/name=insight-spark"
}

// sparkConfig checks that the release runs Spark and returns its Spark ConfigMap, which
// holds the driver pod template. Nothing is created before this succeeds.
func sparkConfig(ctx context.Context, d *deps.Deps, release string) (*corev1.ConfigMap, error) {
	rel, err := action.NewGet(d.Helm).Run(release)
	if err != nil {
		return nil, fmt.Errorf("release %s in namespace %s: %w", release, d.Namespace, err)
	}
	vals, err := chartutil.CoalesceValues(rel.Chart, rel.Config)
	if err != nil {
		return nil, fmt.Errorf("values of release %s: %w", release, err)
	}
	spark, _ := vals["spark"].(map[string]any)
	if enabled, _ := spark["enabled"].(bool); !enabled {
		return nil, exit.BadInputError(fmt.Errorf("release %s does not run Spark (spark.enabled=false): enable it with 'insightctl upgrade %s --enable spark', then submit again; nothing was created", release, release))
	}
	l, err := d.Kube.CoreV1().ConfigMaps(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sparkSelector(release)})
	if err != nil {
		return nil, fmt.Errorf("list the Spark ConfigMap of %s: %w", release, err)
	}
	for i := range l.Items {
		if _, ok := l.Items[i].Data["driver-pod-template.yaml"]; ok {
			return &l.Items[i], nil
		}
	}
	return nil, fmt.Errorf("release %s has spark.enabled=true but no Spark ConfigMap in namespace %s (selector %s): is the release deployed? ('insightctl status %s')",
		release, d.Namespace, sparkSelector(release), release)
}
