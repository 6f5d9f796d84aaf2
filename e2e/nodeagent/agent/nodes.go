package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

const (
	// heartbeatEvery renews the Lease and the Ready condition well within the node monitor's
	// grace period (50s in 1.34), as a kubelet does every 10s.
	heartbeatEvery = 10 * time.Second
	leaseDuration  = 40
	zoneLabel      = "topology.kubernetes.io/zone"
)

var zones = []string{"zone-a", "zone-b", "zone-c"}

func (a *Agent) nodeObject(n *node) *corev1.Node {
	res := corev1.ResourceList{
		corev1.ResourceCPU: a.cfg.CPU, corev1.ResourceMemory: a.cfg.Memory, corev1.ResourcePods: a.cfg.MaxPods,
		corev1.ResourceEphemeralStorage: a.cfg.EphemeralStorage,
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.name,
			Labels: map[string]string{
				"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				zoneLabel: zones[n.index%len(zones)], "insight.dev/node-agent": "true",
			},
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: corev1.NodeSpec{Taints: a.cfg.Taints},
		Status: corev1.NodeStatus{
			Capacity: res, Allocatable: res,
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip}, {Type: corev1.NodeHostName, Address: n.name}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: "v1.34.4", OperatingSystem: "linux", Architecture: "amd64",
				OSImage: "insight test node agent", ContainerRuntimeVersion: "insight-nodeagent://0.1.0",
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.cfg.KubeletPort)}},
		},
	}
}

func conditions(now metav1.Time, since map[corev1.NodeConditionType]metav1.Time) []corev1.NodeCondition {
	mk := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		lt, ok := since[t]
		if !ok {
			lt = now
		}
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: lt}
	}
	return []corev1.NodeCondition{
		mk(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		mk(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		mk(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		mk(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "insight test node agent is posting ready status"),
	}
}

// registerNode creates the node or, when it exists from an earlier run, refreshes its labels
// and status.
func (a *Agent) registerNode(ctx context.Context, n *node) error {
	want := a.nodeObject(n)
	now := metav1.Now()
	want.Status.Conditions = conditions(now, nil)
	_, err := a.cs.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", n.name, err)
	}
	// Status (and, for a node of an earlier run, labels and taints) goes on top of the latest
	// object: the node lifecycle controller edits new nodes at once.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := a.cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		changed := false
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		for k, v := range want.Labels {
			if cur.Labels[k] != v {
				cur.Labels[k], changed = v, true
			}
		}
		for _, t := range want.Spec.Taints {
			if !slices.ContainsFunc(cur.Spec.Taints, func(o corev1.Taint) bool { return o.MatchTaint(&t) }) {
				cur.Spec.Taints, changed = append(cur.Spec.Taints, t), true
			}
		}
		if changed {
			if cur, err = a.cs.CoreV1().Nodes().Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		cur.Status = want.Status
		_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("node %s status: %w", n.name, err)
	}
	if err := a.renewLease(ctx, n); err != nil {
		// The heartbeat retries; the node status alone keeps the node Ready meanwhile.
		a.log.Warn("node lease", "node", n.name, "err", err)
	}
	return nil
}

func (a *Agent) heartbeat(ctx context.Context, n *node) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.renewLease(ctx, n); err != nil {
			a.log.Warn("renew node lease", "node", n.name, "err", err)
		}
		if err := a.postReady(ctx, n); err != nil {
			a.log.Warn("post node status", "node", n.name, "err", err)
		}
	}
}

func (a *Agent) postReady(ctx context.Context, n *node) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := a.cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		since := map[corev1.NodeConditionType]metav1.Time{}
		for _, c := range cur.Status.Conditions {
			// Keep the transition time unless the node controller marked it otherwise.
			if c.Type != corev1.NodeReady || c.Status == corev1.ConditionTrue {
				since[c.Type] = c.LastTransitionTime
			}
		}
		cur.Status.Conditions = conditions(metav1.Now(), since)
		_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

func (a *Agent) renewLease(ctx context.Context, n *node) error {
	leases := a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		nodeObj, err := a.cs.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", n.name, err)
		}
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: n.name, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: nodeObj.UID}},
			},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(n.name), LeaseDurationSeconds: ptr.To(int32(leaseDuration)), RenewTime: &now},
		}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create lease %s: %w", n.name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get lease %s: %w", n.name, err)
	}
	l.Spec.HolderIdentity = ptr.To(n.name)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDuration))
	l.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease %s: %w", n.name, err)
	}
	return nil
}
