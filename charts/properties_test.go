package charts_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelPartition = "insight.dev/partition"
)

// selectorKeys are the only labels a selector or an immutable template may use: none of
// them changes when the chart or app version does.
var selectorKeys = map[string]bool{labelName: true, labelInstance: true, labelComponent: true, labelPartition: true}

var recommendedLabels = []string{labelName, labelInstance, labelComponent, "app.kubernetes.io/version", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by", "helm.sh/chart"}

// TestRenderedObjects decodes every object of every profile and contract render into
// its typed struct and checks the properties the charts promise.
func TestRenderedObjects(t *testing.T) {
	for _, s := range allSets(t) {
		t.Run(s.name, func(t *testing.T) {
			vals := s.values(t)
			objs := decode(t, mustRender(t, s).manifest)
			puCount := 0
			for _, obj := range objs {
				checkObject(t, obj)
				if sts, ok := obj.(*appsv1.StatefulSet); ok && sts.Labels[labelComponent] == "pu" {
					puCount++
					checkPU(t, sts, vals)
				}
			}
			if want := intValue(t, vals, 1, "pu", "partitions"); puCount != want {
				t.Errorf("%d PU StatefulSets, want pu.partitions=%d", puCount, want)
			}
		})
	}
}

func checkObject(t *testing.T, obj runtime.Object) {
	t.Helper()
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		where := "StatefulSet " + o.Name
		checkLabels(t, where, o.Labels)
		checkSelector(t, where, o.Spec.Selector.MatchLabels)
		for k, v := range o.Spec.Selector.MatchLabels {
			if o.Spec.Template.Labels[k] != v {
				t.Errorf("%s: pod template lacks selector label %s=%s", where, k, v)
			}
		}
		checkLabels(t, where+" pod template", o.Spec.Template.Labels)
		for _, vct := range o.Spec.VolumeClaimTemplates {
			checkSelector(t, where+" volumeClaimTemplate "+vct.Name, vct.Labels)
		}
		checkPod(t, where, o.Spec.Template.Spec, gridProbes)
	case *appsv1.Deployment:
		where := "Deployment " + o.Name
		checkLabels(t, where, o.Labels)
		checkSelector(t, where, o.Spec.Selector.MatchLabels)
		for k, v := range o.Spec.Selector.MatchLabels {
			if o.Spec.Template.Labels[k] != v {
				t.Errorf("%s: pod template lacks selector label %s=%s", where, k, v)
			}
		}
		checkLabels(t, where+" pod template", o.Spec.Template.Labels)
		probes := sqlProbes
		if o.Labels[labelComponent] == "wan-gateway" {
			probes = gatewayProbes
		}
		checkPod(t, where, o.Spec.Template.Spec, probes)
	case *corev1.Service:
		checkLabels(t, "Service "+o.Name, o.Labels)
		checkSelector(t, "Service "+o.Name, o.Spec.Selector)
	case *policyv1.PodDisruptionBudget:
		checkLabels(t, "PodDisruptionBudget "+o.Name, o.Labels)
		checkSelector(t, "PodDisruptionBudget "+o.Name, o.Spec.Selector.MatchLabels)
		if o.Spec.MaxUnavailable == nil || o.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("PodDisruptionBudget %s: maxUnavailable %v, want 1", o.Name, o.Spec.MaxUnavailable)
		}
	case *corev1.ServiceAccount:
		checkLabels(t, "ServiceAccount "+o.Name, o.Labels)
		if o.AutomountServiceAccountToken == nil || *o.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s mounts its token", o.Name)
		}
	case *networkingv1.NetworkPolicy:
		checkLabels(t, "NetworkPolicy "+o.Name, o.Labels)
		checkSelector(t, "NetworkPolicy "+o.Name, o.Spec.PodSelector.MatchLabels)
	case *corev1.ConfigMap:
		checkLabels(t, "ConfigMap "+o.Name, o.Labels)
	case *corev1.Secret:
		checkLabels(t, "Secret "+o.Name, o.Labels)
	case *rbacv1.Role:
		checkLabels(t, "Role "+o.Name, o.Labels)
	case *rbacv1.RoleBinding:
		checkLabels(t, "RoleBinding "+o.Name, o.Labels)
	default:
		t.Errorf("unexpected object %T", obj)
	}
}

func checkLabels(t *testing.T, where string, labels map[string]string) {
	t.Helper()
	for _, k := range recommendedLabels {
		if labels[k] == "" {
			t.Errorf("%s: missing label %s", where, k)
		}
	}
}

func checkSelector(t *testing.T, where string, selector map[string]string) {
	t.Helper()
	if selector[labelName] == "" || selector[labelInstance] == "" || selector[labelComponent] == "" {
		t.Errorf("%s: selector %v lacks name, instance or component", where, selector)
	}
	for k := range selector {
		if !selectorKeys[k] {
			t.Errorf("%s: selector uses %s, which may change on upgrade", where, k)
		}
	}
}

// probePaths are the HTTP paths a component's probes GET on its port (port, "http" when
// empty); an empty path means the component has no such probe.
type probePaths struct{ startup, liveness, readiness, port string }

var (
	// gridProbes: the managers and data pods serve /livez and /readyz.
	gridProbes = probePaths{startup: "/livez", liveness: "/livez", readiness: "/readyz"}
	// sqlProbes: insight-sql serves /healthz and /readyz, and starts at once (no startup probe).
	sqlProbes = probePaths{liveness: "/healthz", readiness: "/readyz"}
	// gatewayProbes: the WAN gateway serves /livez and /readyz on its sink's port.
	gatewayProbes = probePaths{liveness: "/livez", readiness: "/readyz", port: "https-wan"}
)

// checkPod checks the restricted Pod Security Standard, probes and resources.
func checkPod(t *testing.T, where string, pod corev1.PodSpec, probes probePaths) {
	t.Helper()
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: service account token mounted", where)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v is not restricted", where, psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", where, len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil ||
		fmt.Sprint(sc.Capabilities.Drop) != "[ALL]" || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: container securityContext %+v is not restricted", where, sc)
	}
	if c.Image != "ghcr.io/insightgrid/insight-grid:0.1.0" {
		t.Errorf("%s: image %s", where, c.Image)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, probes.liveness}, {"readiness", c.ReadinessProbe, probes.readiness}, {"startup", c.StartupProbe, probes.startup}} {
		if p.path == "" {
			if p.probe != nil {
				t.Errorf("%s: unexpected %s probe %+v", where, p.name, p.probe)
			}
			continue
		}
		port := probes.port
		if port == "" {
			port = "http"
		}
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.StrVal != port {
			t.Errorf("%s: %s probe %+v, want GET %s on port %s", where, p.name, p.probe, p.path, port)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() {
			t.Errorf("%s: %s request %s limit %s, want both", where, r, req.String(), lim.String())
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s above limit %s", where, r, req.String(), lim.String())
		}
	}
	gomemlimit := env(c, "GOMEMLIMIT")
	if gomemlimit == nil || gomemlimit.ValueFrom == nil || gomemlimit.ValueFrom.ResourceFieldRef == nil ||
		gomemlimit.ValueFrom.ResourceFieldRef.Resource != "limits.memory" || gomemlimit.ValueFrom.ResourceFieldRef.ContainerName != c.Name {
		t.Errorf("%s: GOMEMLIMIT %+v, want the memory limit from the downward API", where, gomemlimit)
	}
}

// checkPU checks one partition's StatefulSet against the values.
func checkPU(t *testing.T, sts *appsv1.StatefulSet, vals map[string]any) {
	t.Helper()
	where := "StatefulSet " + sts.Name
	partition := sts.Labels[labelPartition]
	if !strings.HasSuffix(sts.Name, "-pu-"+partition) || sts.Spec.Selector.MatchLabels[labelPartition] != partition {
		t.Errorf("%s: partition label %q does not match the name and selector", where, partition)
	}
	ha := boolValue(vals, "pu", "ha")
	if want := map[bool]int32{false: 1, true: 2}[ha]; sts.Spec.Replicas == nil || *sts.Spec.Replicas != want {
		t.Errorf("%s: replicas %v, want %d (pu.ha=%v)", where, sts.Spec.Replicas, want, ha)
	}
	if sts.Spec.ServiceName != sts.Name+"-headless" || sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("%s: serviceName %q podManagementPolicy %q", where, sts.Spec.ServiceName, sts.Spec.PodManagementPolicy)
	}
	pod := sts.Spec.Template.Spec
	if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("%s: terminationGracePeriodSeconds %v, want >= 30 for the handover", where, g)
	}
	c := pod.Containers[0]
	if e := env(c, "INSIGHT_PARTITION"); e == nil || e.Value != partition {
		t.Errorf("%s: INSIGHT_PARTITION %+v, want %s", where, e, partition)
	}
	if e := env(c, "INSIGHT_INSTANCE"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
		t.Errorf("%s: INSIGHT_INSTANCE %+v, want the pod-index label", where, e)
	}
	if e := env(c, "INSIGHT_ADVERTISE_HOST"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("%s: INSIGHT_ADVERTISE_HOST %+v, want status.podIP", where, e)
	}
	// The node and zone come from the pod itself (downward API), never from reading the
	// Node object, which would need cluster-wide RBAC.
	for name, path := range map[string]string{"INSIGHT_NODE_NAME": "spec.nodeName", "INSIGHT_ZONE": "metadata.labels['topology.kubernetes.io/zone']"} {
		if e := env(c, name); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("%s: %s %+v, want the downward API's %s", where, name, e, path)
		}
	}
	if want := stringValue(vals, "512Mi", "pu", "resources", "limits", "memory"); !c.Resources.Limits.Memory().Equal(resource.MustParse(want)) {
		t.Errorf("%s: memory limit %s, want %s", where, c.Resources.Limits.Memory(), want)
	}

	anti := pod.Affinity.PodAntiAffinity
	if anti == nil {
		t.Fatalf("%s: no pod anti-affinity", where)
	}
	topology := stringValue(vals, "kubernetes.io/hostname", "pu", "antiAffinity", "topology")
	var term corev1.PodAffinityTerm
	if boolValue(vals, "pu", "antiAffinity", "enabled") {
		if len(anti.RequiredDuringSchedulingIgnoredDuringExecution) != 1 || len(anti.PreferredDuringSchedulingIgnoredDuringExecution) != 0 {
			t.Fatalf("%s: anti-affinity %+v, want one required term", where, anti)
		}
		term = anti.RequiredDuringSchedulingIgnoredDuringExecution[0]
	} else {
		if len(anti.PreferredDuringSchedulingIgnoredDuringExecution) != 1 || len(anti.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
			t.Fatalf("%s: anti-affinity %+v, want one preferred term", where, anti)
		}
		term = anti.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	}
	if term.TopologyKey != topology {
		t.Errorf("%s: anti-affinity topology %s, want %s", where, term.TopologyKey, topology)
	}
	if fmt.Sprint(term.LabelSelector.MatchLabels) != fmt.Sprint(sts.Spec.Selector.MatchLabels) {
		t.Errorf("%s: anti-affinity selects %v, want the partition's pods %v", where, term.LabelSelector.MatchLabels, sts.Spec.Selector.MatchLabels)
	}

	persistent := boolValue(vals, "pu", "persistence", "enabled")
	if persistent != (len(sts.Spec.VolumeClaimTemplates) == 1) {
		t.Errorf("%s: %d volumeClaimTemplates with pu.persistence.enabled=%v", where, len(sts.Spec.VolumeClaimTemplates), persistent)
	}
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("%s: PVC retention %+v, want Retain on delete", where, p)
	}
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func lookup(vals map[string]any, path ...string) (any, bool) {
	var cur any = vals
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func boolValue(vals map[string]any, path ...string) bool {
	v, _ := lookup(vals, path...)
	b, _ := v.(bool)
	return b
}

func stringValue(vals map[string]any, dflt string, path ...string) string {
	if v, ok := lookup(vals, path...); ok {
		return fmt.Sprint(v)
	}
	return dflt
}

func intValue(t *testing.T, vals map[string]any, dflt int, path ...string) int {
	t.Helper()
	v, ok := lookup(vals, path...)
	if !ok {
		return dflt
	}
	n, err := strconv.Atoi(fmt.Sprint(v))
	if err != nil {
		t.Fatalf("%s=%v: %v", strings.Join(path, "."), v, err)
	}
	return n
}
