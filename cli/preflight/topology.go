package preflight

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// simNode is a node the grid's pods may land on, with what is left of it.
type simNode struct {
	name   string
	labels map[string]string
	cpu    int64 // millicores free
	mem    int64 // bytes free
}

type podReq struct{ cpu, mem int64 }

func requestsOf(rl corev1.ResourceList) podReq {
	return podReq{cpu: rl.Cpu().MilliValue(), mem: rl.Memory().Value()}
}

func (n *simNode) fits(r podReq) bool { return n.cpu >= r.cpu && n.mem >= r.mem }

func (n *simNode) take(r podReq) { n.cpu -= r.cpu; n.mem -= r.mem }

// eligible returns the nodes the grid's pods can be scheduled on, and for the others
// why not, counted by reason.
func eligible(nodes []corev1.Node, req Requirements) ([]corev1.Node, map[string]int) {
	var out []corev1.Node
	excluded := map[string]int{}
nodes:
	for _, n := range nodes {
		if n.Spec.Unschedulable {
			excluded["cordoned"]++
			continue
		}
		if !nodeReady(n) {
			excluded["not Ready"]++
			continue
		}
		for k, v := range req.NodeSelector {
			if n.Labels[k] != v {
				excluded["not matching the nodeSelector"]++
				continue nodes
			}
		}
		for i := range n.Spec.Taints {
			t := &n.Spec.Taints[i]
			if t.Effect == corev1.TaintEffectPreferNoSchedule || tolerated(t, req.Tolerations) {
				continue
			}
			excluded["tainted "+t.Key]++
			continue nodes
		}
		out = append(out, n)
	}
	return out, excluded
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func tolerated(t *corev1.Taint, tolerations []corev1.Toleration) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(t) {
			return true
		}
	}
	return false
}

// simulate places the managers, then every partition's primary, then every backup, each
// on the eligible node with the most free memory that fits its requests and, under
// anti-affinity, is in a topology domain its partition does not use yet. A node without
// the topology label does not constrain placement, as with the scheduler.
func simulate(nodes []corev1.Node, pods []corev1.Pod, req Requirements) (placed, blockedByTopology, blockedByResources, managersPending int) {
	sim := make([]*simNode, 0, len(nodes))
	byName := map[string]*simNode{}
	for _, n := range nodes {
		s := &simNode{name: n.Name, labels: n.Labels,
			cpu: n.Status.Allocatable.Cpu().MilliValue(), mem: n.Status.Allocatable.Memory().Value()}
		sim = append(sim, s)
		byName[n.Name] = s
	}
	for _, p := range pods {
		s := byName[p.Spec.NodeName]
		if s == nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if req.Release != "" && p.Namespace == req.Namespace && p.Labels["app.kubernetes.io/instance"] == req.Release {
			continue
		}
		for _, c := range p.Spec.Containers {
			s.take(requestsOf(c.Resources.Requests))
		}
	}
	best := func(ok func(*simNode) bool) *simNode {
		var b *simNode
		for _, s := range sim {
			if ok(s) && (b == nil || s.mem > b.mem || (s.mem == b.mem && s.name < b.name)) {
				b = s
			}
		}
		return b
	}

	mreq := requestsOf(req.ManagerRequests)
	for i := 0; i < req.Managers; i++ {
		if s := best(func(s *simNode) bool { return s.fits(mreq) }); s != nil {
			s.take(mreq)
		} else {
			managersPending++
		}
	}

	dreq := requestsOf(req.PodRequests)
	instances := 1
	if req.HA {
		instances = 2
	}
	used := make([]map[string]bool, req.Partitions)
	for p := range used {
		used[p] = map[string]bool{}
	}
	for inst := 0; inst < instances; inst++ {
		for p := 0; p < req.Partitions; p++ {
			allowed := func(s *simNode) bool {
				if req.AntiAffinityTopology == "" {
					return true
				}
				d, ok := s.labels[req.AntiAffinityTopology]
				return !ok || !used[p][d]
			}
			s := best(func(s *simNode) bool { return s.fits(dreq) && allowed(s) })
			if s == nil {
				if best(func(s *simNode) bool { return s.fits(dreq) }) != nil {
					blockedByTopology++
				} else {
					blockedByResources++
				}
				continue
			}
			s.take(dreq)
			if d, ok := s.labels[req.AntiAffinityTopology]; ok && req.AntiAffinityTopology != "" {
				used[p][d] = true
			}
			placed++
		}
	}
	return placed, blockedByTopology, blockedByResources, managersPending
}

// checkTopology returns the topology check, the resources check and the predicted
// number of Pending pods.
func checkTopology(all []corev1.Node, pods []corev1.Pod, req Requirements) (Check, Check, int) {
	topo := Check{Name: "topology"}
	res := Check{Name: "resources"}
	nodes, excluded := eligible(all, req)
	instances := 1
	if req.HA {
		instances = 2
	}
	dataPods := req.Partitions * instances
	shape := fmt.Sprintf("%d partition(s) × %d instance(s) = %d data pod(s)", req.Partitions, instances, dataPods)
	if req.Managers > 0 {
		shape += fmt.Sprintf(" + %d manager(s)", req.Managers)
	}
	_, byTopo, byRes, mgrPending := simulate(nodes, pods, req)
	pending := byTopo + byRes + mgrPending

	zones := domains(nodes, TopologyZone)
	hosts := domains(nodes, TopologyHostname)
	where := fmt.Sprintf("%d schedulable node(s) in %d zone(s)", len(nodes), len(zones))
	if len(zones) > 0 {
		where += " (" + strings.Join(zones, ", ") + ")"
	}
	if len(excluded) > 0 {
		where += "; not usable: " + describeExcluded(excluded)
	}

	if len(nodes) == 0 && pending > 0 {
		topo.Message = fmt.Sprintf("no schedulable node for the grid's %d pod(s): all %d would stay Pending; %s", dataPods+req.Managers, pending, where)
		topo.Fix = "add Ready nodes, uncordon some, or tolerate their taints (pu.tolerations, manager.tolerations) / match pu.nodeSelector"
		res.OK = true
		res.Message = "not checked: no schedulable node"
		return topo, res, pending
	}
	if byTopo == 0 {
		topo.OK = true
		topo.Message = shape + " fit the topology: " + where
		if req.AntiAffinityTopology != "" {
			topo.Message += ", anti-affinity on " + req.AntiAffinityTopology
		}
	} else {
		need := instances
		have := len(domains(nodes, req.AntiAffinityTopology))
		topo.Message = fmt.Sprintf("%d pod(s) would stay Pending: %s with required anti-affinity on %s need %d distinct %s values per partition, the schedulable nodes have %d; %s",
			byTopo, shape, req.AntiAffinityTopology, need, req.AntiAffinityTopology, have, where)
		var fixes []string
		if req.AntiAffinityTopology == TopologyZone && len(hosts) >= need {
			fixes = append(fixes, fmt.Sprintf("spread over nodes instead of zones with --anti-affinity=hostname (%d schedulable nodes)", len(hosts)))
		}
		if missing := need - have; missing > 0 {
			fixes = append(fixes, fmt.Sprintf("add schedulable nodes in %d more distinct %s", missing, req.AntiAffinityTopology))
		}
		fixes = append(fixes, "or drop the backups (--ha=false) or the anti-affinity (--anti-affinity=none), giving up failure isolation")
		topo.Fix = strings.Join(fixes, "; ")
	}

	total := func(r podReq, n int) podReq { return podReq{cpu: r.cpu * int64(n), mem: r.mem * int64(n)} }
	want := total(requestsOf(req.PodRequests), dataPods)
	mw := total(requestsOf(req.ManagerRequests), req.Managers)
	want.cpu += mw.cpu
	want.mem += mw.mem
	summary := fmt.Sprintf("requests %s memory, %s CPU in all", bytesString(want.mem), milliString(want.cpu))
	if byRes+mgrPending == 0 {
		res.OK = true
		res.Message = summary + "; they fit the nodes' free allocatable resources"
	} else {
		res.Message = fmt.Sprintf("%d pod(s) would stay Pending for lack of memory or CPU: each data pod requests %s memory, %s CPU; %s",
			byRes+mgrPending, bytesString(requestsOf(req.PodRequests).mem), milliString(requestsOf(req.PodRequests).cpu), summary)
		res.Fix = "lower --memory or pu.resources.requests, reduce --partitions, or add nodes with more allocatable memory/CPU"
	}
	return topo, res, pending
}

func domains(nodes []corev1.Node, key string) []string {
	if key == "" {
		return nil
	}
	set := map[string]bool{}
	for _, n := range nodes {
		if v, ok := n.Labels[key]; ok {
			set[v] = true
		}
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func describeExcluded(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return strings.Join(parts, ", ")
}

func bytesString(b int64) string {
	return quantityString(*resource.NewQuantity(b, resource.BinarySI))
}

func milliString(m int64) string {
	return quantityString(*resource.NewMilliQuantity(m, resource.DecimalSI))
}
