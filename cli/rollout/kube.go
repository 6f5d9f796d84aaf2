package rollout

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/cli/manager"
)

// ManagerTimeout bounds one read of the manager's records, so that an unreachable manager
// slows no poll down.
const ManagerTimeout = 2 * time.Second

// KubeSource implements Source for one release with client-go and the manager's client.
type KubeSource struct {
	Client    kubernetes.Interface
	Namespace string
	Release   string
	// View reads the manager's records (Partitions); give it a Timeout (ManagerTimeout).
	manager.View
}

// StatefulSets implements Source.
func (k KubeSource) StatefulSets(ctx context.Context) ([]appsv1.StatefulSet, error) {
	l, err := k.Client.AppsV1().StatefulSets(k.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: grid.Selector(k.Release) + "," + grid.LabelComponent + "=pu",
	})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Pods implements Source.
func (k KubeSource) Pods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(k.Release)})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Changes implements Notifier with a watch on the release's pods, re-established when the
// API server ends it. Without a watch, Watch still polls.
func (k KubeSource) Changes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			w, err := k.Client.CoreV1().Pods(k.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: grid.Selector(k.Release)})
			if err == nil {
				forward(ctx, w.ResultChan(), out)
				w.Stop()
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return out
}

// forward signals out (coalesced) for every event until events closes or ctx ends.
func forward(ctx context.Context, events <-chan watch.Event, out chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				return
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}
}
