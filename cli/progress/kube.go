package progress

import (
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/insightgrid/insight/cli/internal/grid"
)

// KubeSource implements Source for one release with client-go.
type KubeSource struct {
	Client    kubernetes.Interface
	Namespace string
	Release   string
}

// Pods implements Source.
func (k KubeSource) Pods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(k.Release)})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Events implements Source.
func (k KubeSource) Events(ctx context.Context, pod string) ([]corev1.Event, error) {
	l, err := k.Client.CoreV1().Events(k.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + pod,
	})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Logs implements Source.
func (k KubeSource) Logs(ctx context.Context, pod, container string, previous bool, lines int64) (string, error) {
	rc, err := k.Client.CoreV1().Pods(k.Namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: &lines,
	}).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	return string(b), err
}
