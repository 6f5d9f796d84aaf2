// Package grid knows how the Insight chart names and labels the grid's pods: which pod
// is a manager, and which partition and instance a data pod serves. It is the one place
// to change when the chart's conventions change. It must not depend on a client.
package grid

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Labels the chart sets (app.kubernetes.io/*), and the Insight-specific ones.
const (
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartition = "insight.dev/partition"
	LabelPodIndex  = "insight.dev/instance"
	// LabelStatefulSetIndex is set by Kubernetes ≥ 1.28 on every StatefulSet pod.
	LabelStatefulSetIndex = "apps.kubernetes.io/pod-index"
	// ManagerHTTPPort is the manager's REST API port (docs/CONTRACTS.md).
	ManagerHTTPPort = 8090
	// WANGatewayPort is the port of the WAN gateway's Service, "<base>-wan-gateway"
	// (component wan-gateway, wanGateway.enabled): the gateway's HTTPS API.
	WANGatewayPort = 7443
	// ComponentWANGateway is the WAN gateway's component label.
	ComponentWANGateway = "wan-gateway"
)

// Selector selects every pod of a release.
func Selector(release string) string { return LabelInstance + "=" + release }

// Kind of grid pod.
type Kind int

// Kinds of pods.
const (
	Other Kind = iota
	Manager
	Data
)

// Pod is a pod with its place in the grid.
type Pod struct {
	Pod       *corev1.Pod
	Kind      Kind
	Partition int // data pods only
	Instance  int // data pods: 0 is the preferred primary
}

// Classify tells what a pod is. The component label decides when set; otherwise the
// insight-grid role argument (manager|data). Partition and instance come from labels, else
// from the --partition/--instance flags or INSIGHT_PARTITION/INSIGHT_INSTANCE (the
// contract between chart and grid), else the StatefulSet ordinal.
func Classify(p *corev1.Pod) Pod {
	out := Pod{Pod: p}
	role := ""
	var args []string
	var env []corev1.EnvVar
	for _, c := range p.Spec.Containers {
		args = append(args, c.Command...)
		args = append(args, c.Args...)
		env = append(env, c.Env...)
	}
	for _, a := range args {
		if a == "manager" || a == "data" {
			role = a
			break
		}
	}
	switch c := p.Labels[LabelComponent]; {
	case c == "manager" || (c == "" && role == "manager"):
		out.Kind = Manager
		return out
	case c == "pu" || c == "data" || (c == "" && role == "data"):
		out.Kind = Data
	default:
		return out
	}
	out.Partition = firstInt(p.Labels[LabelPartition], flag(args, "--partition"), envValue(env, "INSIGHT_PARTITION"))
	out.Instance = firstInt(p.Labels[LabelPodIndex], flag(args, "--instance"), envValue(env, "INSIGHT_INSTANCE"),
		p.Labels[LabelStatefulSetIndex], ordinal(p.Name))
	return out
}

func flag(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func ordinal(name string) string {
	if i := strings.LastIndexByte(name, '-'); i >= 0 {
		return name[i+1:]
	}
	return ""
}

func firstInt(candidates ...string) int {
	for _, c := range candidates {
		if n, err := strconv.Atoi(c); err == nil && n >= 0 {
			return n
		}
	}
	return 0
}

// PodState is a pod's progress toward serving.
type PodState string

// States, in order.
const (
	StatePending   PodState = "pending"
	StateScheduled PodState = "scheduled"
	StateRunning   PodState = "running"
	StateReady     PodState = "ready"
	StateFailed    PodState = "failed"
)

// State returns how far a pod has come.
func State(p *corev1.Pod) PodState {
	if p.Status.Phase == corev1.PodFailed {
		return StateFailed
	}
	ready, scheduled := false, p.Spec.NodeName != ""
	for _, c := range p.Status.Conditions {
		switch c.Type {
		case corev1.PodReady:
			ready = c.Status == corev1.ConditionTrue
		case corev1.PodScheduled:
			scheduled = scheduled || c.Status == corev1.ConditionTrue
		}
	}
	switch {
	case ready:
		return StateReady
	case p.Status.Phase == corev1.PodRunning:
		return StateRunning
	case scheduled:
		return StateScheduled
	}
	return StatePending
}

// Zone returns the zone label of a node, "" when it has none.
func Zone(n *corev1.Node) string {
	if n == nil {
		return ""
	}
	return n.Labels["topology.kubernetes.io/zone"]
}
