package repartition

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/insightgrid/insight/cli/internal/grid"
)

// DrainedAnnotation on a partition's StatefulSet says the manager has moved every slot
// off the partition and removed it from the partition map: only then does the chart let
// an upgrade to fewer partitions delete it (charts/insight-pu, validatePartitionCount).
const DrainedAnnotation = "insight.io/drained"

// Kube is the release's data StatefulSets and pods.
type Kube struct {
	Client    kubernetes.Interface
	Namespace string
	Release   string
}

func (k Kube) selector() string {
	return grid.Selector(k.Release) + "," + grid.LabelComponent + "=pu"
}

// Partition is one partition's StatefulSet.
type Partition struct {
	ID      int
	Name    string
	Drained bool
}

// Partitions lists the release's partition StatefulSets by partition number.
func (k Kube) Partitions(ctx context.Context) ([]Partition, error) {
	l, err := k.Client.AppsV1().StatefulSets(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: k.selector()})
	if err != nil {
		return nil, fmt.Errorf("list the data StatefulSets of %s: %w", k.Release, err)
	}
	out := make([]Partition, 0, len(l.Items))
	for _, s := range l.Items {
		if id, ok := partitionOf(s.Labels); ok {
			out = append(out, Partition{ID: id, Name: s.Name, Drained: drained(&s)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func partitionOf(labels map[string]string) (int, bool) {
	id, err := strconv.Atoi(labels[grid.LabelPartition])
	return id, err == nil
}

func drained(s *appsv1.StatefulSet) bool { return s.Annotations[DrainedAnnotation] == "true" }

// MarkDrained annotates the StatefulSets of partitions from and above as drained. Call it
// only once the manager's map no longer has them.
func (k Kube) MarkDrained(ctx context.Context, from int) ([]string, error) {
	return k.annotate(ctx, func(p Partition) bool { return p.ID >= from && !p.Drained }, `{"metadata":{"annotations":{"`+DrainedAnnotation+`":"true"}}}`)
}

// ClearDrained removes the drained mark from the partitions below n, which keep (or get
// back) slots: a scale-in that was interrupted and then reversed must not leave a mark
// that lets a plain helm upgrade delete a partition holding data.
func (k Kube) ClearDrained(ctx context.Context, below int) ([]string, error) {
	return k.annotate(ctx, func(p Partition) bool { return p.ID < below && p.Drained }, `{"metadata":{"annotations":{"`+DrainedAnnotation+`":null}}}`)
}

func (k Kube) annotate(ctx context.Context, pick func(Partition) bool, patch string) ([]string, error) {
	parts, err := k.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range parts {
		if !pick(p) {
			continue
		}
		if _, err := k.Client.AppsV1().StatefulSets(k.Namespace).Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return names, fmt.Errorf("annotate StatefulSet %s: %w", p.Name, err)
		}
		names = append(names, p.Name)
	}
	return names, nil
}

// Remaining lists the StatefulSets and pods of partitions from and above that still
// exist (terminating ones included).
func (k Kube) Remaining(ctx context.Context, from int) ([]string, error) {
	parts, err := k.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, p := range parts {
		if p.ID >= from {
			left = append(left, "statefulset/"+p.Name)
		}
	}
	pods, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: k.selector()})
	if err != nil {
		return nil, fmt.Errorf("list the data pods of %s: %w", k.Release, err)
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for _, p := range pods.Items {
		if id, ok := partitionOf(p.Labels); ok && id >= from {
			left = append(left, "pod/"+p.Name)
		}
	}
	return left, nil
}

// WaitGone waits until the StatefulSets and pods of partitions from and above are gone,
// checking every interval; on ctx's end it returns what is left with ctx's error.
func (k Kube) WaitGone(ctx context.Context, from int, interval time.Duration) ([]string, error) {
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var left []string
	var lastErr error
	for {
		now, err := k.Remaining(ctx, from)
		switch {
		case err == nil && len(now) == 0:
			return nil, nil
		case err == nil:
			left = now
		case ctx.Err() == nil:
			lastErr = err // kept for the answer when the wait ends
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return left, fmt.Errorf("%w (last error listing them: %v)", ctx.Err(), lastErr)
			}
			return left, ctx.Err()
		case <-tick.C:
		}
	}
}

// HAAnnotation on a partition's StatefulSet names the pu.ha value insightctl scale --ha
// prepared the grid for (the manager added, or dropped, the backups): only then does the
// chart let an upgrade change pu.ha (charts/insight-pu, validateHAChange).
const HAAnnotation = "insight.io/ha"

// MarkHA annotates every partition's StatefulSet with HAAnnotation=ha.
func (k Kube) MarkHA(ctx context.Context, ha bool) ([]string, error) {
	return k.annotate(ctx, func(Partition) bool { return true }, fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, HAAnnotation, strconv.FormatBool(ha)))
}

// BackupPods lists the release's data pods of ordinal 1 and above that still exist
// (terminating ones included).
func (k Kube) BackupPods(ctx context.Context) ([]string, error) {
	pods, err := k.Client.CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{LabelSelector: k.selector()})
	if err != nil {
		return nil, fmt.Errorf("list the data pods of %s: %w", k.Release, err)
	}
	var left []string
	for _, p := range pods.Items {
		if i, err := strconv.Atoi(p.Labels["apps.kubernetes.io/pod-index"]); err == nil && i >= 1 {
			left = append(left, "pod/"+p.Name)
		}
	}
	sort.Strings(left)
	return left, nil
}
