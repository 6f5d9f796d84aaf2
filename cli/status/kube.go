package status

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/insightgrid/insight/cli/gridapi"
	"github.com/insightgrid/insight/cli/internal/grid"
)

// KubeCluster implements Cluster with client-go. The manager is reached through the API
// server's service proxy, so status works from outside the cluster network.
type KubeCluster struct {
	Client    kubernetes.Interface
	Namespace string
	Release   string
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

// Manager implements Cluster.
func (k KubeCluster) Manager(ctx context.Context) (*ManagerPartitions, error) {
	name, err := gridapi.ManagerService(ctx, k.Client, k.Namespace, k.Release)
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(grid.ManagerHTTPPort)
	raw, err := k.Client.CoreV1().Services(k.Namespace).ProxyGet("http", name, port, "/v1/partitions", nil).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET /v1/partitions via service %s: %w", name, err)
	}
	var mp ManagerPartitions
	if err := json.Unmarshal(raw, &mp); err != nil {
		return nil, fmt.Errorf("decode /v1/partitions: %w", err)
	}
	return &mp, nil
}
