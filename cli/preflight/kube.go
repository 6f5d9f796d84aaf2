package preflight

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KubeCluster implements Cluster with client-go.
type KubeCluster struct{ Client kubernetes.Interface }

// ServerVersion implements Cluster.
func (k KubeCluster) ServerVersion(context.Context) (string, error) {
	v, err := k.Client.Discovery().ServerVersion()
	if err != nil {
		return "", err
	}
	return v.GitVersion, nil
}

// Nodes implements Cluster.
func (k KubeCluster) Nodes(ctx context.Context) ([]corev1.Node, error) {
	l, err := k.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Pods implements Cluster.
func (k KubeCluster) Pods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := k.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase!=Succeeded,status.phase!=Failed"})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// StorageClasses implements Cluster.
func (k KubeCluster) StorageClasses(ctx context.Context) ([]storagev1.StorageClass, error) {
	l, err := k.Client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Serves implements Cluster.
func (k KubeCluster) Serves(_ context.Context, apiVersion, kind string) (bool, error) {
	l, err := k.Client.Discovery().ServerResourcesForGroupVersion(apiVersion)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("discovery of %s: %w", apiVersion, err)
	}
	for _, r := range l.APIResources {
		if r.Kind == kind {
			return true, nil
		}
	}
	return false, nil
}
