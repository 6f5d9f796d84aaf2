package charts_test

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
)

// cluster answers the chart's lookups from fixed objects, as the API server would.
type cluster struct{ client dynamic.Interface }

func (c cluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, false, err
	}
	return c.client.Resource(gv.WithResource(strings.ToLower(kind) + "s")), true, nil
}

// installedPartitions are the data StatefulSets of an installed release of n partitions;
// those in drained carry insight.io/drained: "true".
func installedPartitions(n int, drained ...int) cluster {
	return installedPartitionsIn(namespace, n, drained...)
}

// installedPartitionsIn is installedPartitions with the StatefulSets in namespace ns.
func installedPartitionsIn(ns string, n int, drained ...int) cluster {
	var objs []runtime.Object
	for p := range n {
		var ann map[string]string
		for _, d := range drained {
			if d == p {
				ann = map[string]string{"insight.io/drained": "true"}
			}
		}
		objs = append(objs, statefulSet(ns, fmt.Sprintf("%s-insight-pu-%d", releaseName, p),
			map[string]string{"app.kubernetes.io/name": "insight-pu", "insight.dev/partition": fmt.Sprint(p)}, ann, -1))
	}
	return statefulSets(objs...)
}

// statefulSet is a StatefulSet of the release named name in ns with labels (besides the
// release's instance label) and annotations; replicas < 0 leaves spec.replicas unset.
func statefulSet(ns, name string, labels, annotations map[string]string, replicas int) *unstructured.Unstructured {
	s := &unstructured.Unstructured{}
	s.SetAPIVersion("apps/v1")
	s.SetKind("StatefulSet")
	s.SetNamespace(ns)
	s.SetName(name)
	l := map[string]string{"app.kubernetes.io/instance": releaseName}
	for k, v := range labels {
		l[k] = v
	}
	s.SetLabels(l)
	if annotations != nil {
		s.SetAnnotations(annotations)
	}
	if replicas >= 0 {
		_ = unstructured.SetNestedField(s.Object, int64(replicas), "spec", "replicas")
	}
	return s
}

// statefulSets is a cluster holding objs, all StatefulSets.
func statefulSets(objs ...runtime.Object) cluster {
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	return cluster{client: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "StatefulSetList"}, objs...)}
}

// An upgrade may add partitions; it may remove only partitions whose StatefulSets are
// marked drained, and a refusal names both counts and the command that drains.
func TestPartitionCountChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster cluster
		set     string
		refused []string // substrings of the refusal; nil: accepted
	}{
		{name: "same count", cluster: installedPartitions(3), set: "pu.partitions=3"},
		{name: "more partitions", cluster: installedPartitions(2), set: "pu.partitions=3"},
		{name: "fewer, nothing drained", cluster: installedPartitions(3), set: "pu.partitions=1", refused: []string{
			"pu.partitions=1 but release demo runs 3 partitions", "(demo-insight-pu-1, demo-insight-pu-2)",
			"insightctl scale demo -n insight --partitions 1", "keep pu.partitions=3"}},
		{name: "fewer, one of two drained", cluster: installedPartitions(3, 2), set: "pu.partitions=1", refused: []string{"(demo-insight-pu-1)"}},
		{name: "fewer, drained", cluster: installedPartitions(3, 2), set: "pu.partitions=2"},
		{name: "fewer, a kept partition marked", cluster: installedPartitions(3, 0, 2), set: "pu.partitions=2"},
		{name: "fewer, objects in another namespace", cluster: installedPartitionsIn("grid", 3), set: "pu.partitions=1,pu.namespaceOverride=grid", refused: []string{
			"pu.partitions=1 but release demo runs 3 partitions", "insightctl scale demo -n insight --partitions 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, "")
			vals := valueSet{sets: []string{tc.set}}.values(t)
			if err := chartutil.ProcessDependenciesWithMerge(c, vals); err != nil {
				t.Fatal(err)
			}
			top, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, IsUpgrade: true, Revision: 2}, chartutil.DefaultCapabilities)
			if err != nil {
				t.Fatal(err)
			}
			out, err := engine.RenderWithClientProvider(c, top, tc.cluster)
			if tc.refused == nil {
				if err != nil {
					t.Fatalf("--set %s refused: %v", tc.set, err)
				}
				if !strings.Contains(strings.Join(mapValues(out), "\n"), "kind: StatefulSet\nmetadata:\n  name: "+releaseName+"-insight-pu-0\n") {
					t.Errorf("--set %s rendered no data StatefulSet", tc.set)
				}
				return
			}
			if err == nil {
				t.Fatalf("--set %s accepted, want a refusal", tc.set)
			}
			for _, want := range tc.refused {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
