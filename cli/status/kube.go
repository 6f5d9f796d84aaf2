package status

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/cli/manager"
)

// KubeCluster implements Cluster with client-go and the manager's client.
type KubeCluster struct {
	Client    kubernetes.Interface
	Namespace string
	Release   string
	// View reads the manager's partitions (Partitions).
	manager.View
}

// Pods implements Cluster.
func (k KubeCluster) Pods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(k.Release)})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Nodes implements Cluster.
func (k KubeCluster) Nodes(ctx context.Context) ([]corev1.Node, error) {
	l, err := k.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}
