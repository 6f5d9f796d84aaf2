package check

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/insightgrid/insight/cli/internal/grid"
)

// KubeCluster implements Cluster with client-go and the user's credentials.
type KubeCluster struct {
	Client    kubernetes.Interface
	Namespace string
	Release   string
}

// DataPods implements Cluster.
func (k KubeCluster) DataPods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(k.Release)})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for i := range l.Items {
		if grid.Classify(&l.Items[i]).Kind == grid.Data {
			out = append(out, l.Items[i])
		}
	}
	return out, nil
}

// Create implements Cluster.
func (k KubeCluster) Create(ctx context.Context, w *Workload) error {
	if _, err := k.Client.CoreV1().ServiceAccounts(k.Namespace).Create(ctx, w.ServiceAccount, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("ServiceAccount: %w", err)
	}
	if _, err := k.Client.BatchV1().Jobs(k.Namespace).Create(ctx, w.Job, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("Job: %w", err)
	}
	return nil
}

// Job implements Cluster.
func (k KubeCluster) Job(ctx context.Context, name string) (JobState, error) {
	var st JobState
	j, err := k.Client.BatchV1().Jobs(k.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return st, err
	}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			st.Failed = fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	l, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + name})
	if err != nil {
		return st, err
	}
	for i := range l.Items {
		if st.Pod == nil || l.Items[i].CreationTimestamp.After(st.Pod.CreationTimestamp.Time) {
			st.Pod = &l.Items[i]
		}
	}
	return st, nil
}

// Logs implements Cluster.
func (k KubeCluster) Logs(ctx context.Context, pod string) ([]byte, error) {
	return k.Client.CoreV1().Pods(k.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: "check"}).DoRaw(ctx)
}

// DeletePod implements Cluster.
func (k KubeCluster) DeletePod(ctx context.Context, name string) error {
	return k.Client.CoreV1().Pods(k.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
}

// Delete implements Cluster: the Job with its pods (in the foreground, so they are gone
// when it is), then the ServiceAccount.
func (k KubeCluster) Delete(ctx context.Context, name string) error {
	fg := metav1.DeletePropagationForeground
	err := k.Client.BatchV1().Jobs(k.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("Job: %w", err)
	}
	// Wait until the Job and its pod are gone, so that nothing of the check outlives it.
	for err == nil {
		if _, err = k.Client.BatchV1().Jobs(k.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			select {
			case <-ctx.Done():
				return fmt.Errorf("Job: still deleting: %w", ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("Job: %w", err)
	}
	err = k.Client.CoreV1().ServiceAccounts(k.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("ServiceAccount: %w", err)
	}
	return nil
}
