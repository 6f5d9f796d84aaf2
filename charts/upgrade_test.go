package charts_test

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// immutable is what Kubernetes refuses to change on update, per object.
type immutable struct {
	selector any
	claims   []corev1.PersistentVolumeClaimSpec
	claimMD  []map[string]string
	service  string
	policy   appsv1.PodManagementPolicyType
}

func immutables(t *testing.T, objs []runtime.Object) map[string]immutable {
	t.Helper()
	out := map[string]immutable{}
	for _, obj := range objs {
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			im := immutable{selector: o.Spec.Selector.MatchLabels, service: o.Spec.ServiceName, policy: o.Spec.PodManagementPolicy}
			for _, c := range o.Spec.VolumeClaimTemplates {
				im.claims = append(im.claims, c.Spec)
				im.claimMD = append(im.claimMD, c.Labels)
			}
			out["StatefulSet/"+o.Name] = im
		case *appsv1.Deployment:
			out["Deployment/"+o.Name] = immutable{selector: o.Spec.Selector.MatchLabels}
		case *policyv1.PodDisruptionBudget:
			out["PodDisruptionBudget/"+o.Name] = immutable{selector: o.Spec.Selector.MatchLabels}
		case *corev1.Service:
			out["Service/"+o.Name] = immutable{selector: o.Spec.ClusterIP}
		}
	}
	return out
}

// TestUpgradeKeepsImmutableFields renders the release before and after the contract's
// upgrade (pu.resources.limits.memory=600Mi --reuse-values), and after a new chart and
// app version, and checks no immutable field changes.
func TestUpgradeKeepsImmutableFields(t *testing.T) {
	before := decode(t, mustRender(t, contract[1]).manifest)
	after := decode(t, mustRender(t, contract[2]).manifest)

	bumped := renderBumped(t, contract[2])

	want := immutables(t, before)
	for name, objs := range map[string][]runtime.Object{"memory upgrade": after, "version upgrade": bumped} {
		got := immutables(t, objs)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s changes immutable fields:\nbefore %+v\nafter  %+v", name, want, got)
		}
	}
	// And the upgrade does change what it was asked to.
	for _, obj := range after {
		if sts, ok := obj.(*appsv1.StatefulSet); ok && sts.Labels[labelComponent] == "pu" {
			if got := sts.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); got != "600Mi" {
				t.Errorf("%s: memory limit %s after the upgrade, want 600Mi", sts.Name, got)
			}
		}
	}
}

// renderBumped renders the embedded umbrella with a value set as chart and app version
// 0.2.0 (every subchart too), as the next release would.
func renderBumped(t *testing.T, s valueSet) []runtime.Object {
	t.Helper()
	return renderBumpedValues(t, s.values(t))
}

// renderBumpedValues is renderBumped with the values given.
func renderBumpedValues(t *testing.T, vals map[string]any) []runtime.Object {
	t.Helper()
	c := mustLoad(t, "")
	c.Metadata.Version, c.Metadata.AppVersion = "0.2.0", "0.2.0"
	for _, d := range c.Dependencies() {
		d.Metadata.Version, d.Metadata.AppVersion = "0.2.0", "0.2.0"
	}
	for _, d := range c.Metadata.Dependencies {
		d.Version = "0.2.0"
	}
	r, err := render(t, c, vals)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.manifest, `app.kubernetes.io/version: "0.2.0"`) {
		t.Fatal("the version bump did not reach the labels")
	}
	return decode(t, r.manifest)
}
