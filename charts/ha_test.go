package charts_test

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/runtime"
)

// installedHA are the data StatefulSets of an installed release of n partitions with
// replicas pods each, annotated insight.io/ha=mark unless mark is empty.
func installedHA(n, replicas int, mark string) cluster {
	return installedHAManagers(n, replicas, mark, 0, 0)
}

// installedHAManagers is installedHA with a manager StatefulSet of managers replicas (0:
// none) whose insight.io/etcd-members is members (0: not set).
func installedHAManagers(n, replicas int, mark string, managers, members int) cluster {
	var objs []runtime.Object
	if managers > 0 {
		var ann map[string]string
		if members > 0 {
			ann = map[string]string{"insight.io/etcd-members": fmt.Sprint(members)}
		}
		objs = append(objs, mountsTLS(statefulSet(namespace, releaseName+"-insight-manager",
			map[string]string{"app.kubernetes.io/name": "insight-manager"}, ann, managers)))
	}
	var ann map[string]string
	if mark != "" {
		ann = map[string]string{"insight.io/ha": mark}
	}
	for p := range n {
		objs = append(objs, statefulSet(namespace, fmt.Sprintf("%s-insight-pu-%d", releaseName, p),
			map[string]string{"app.kubernetes.io/name": "insight-pu", "insight.dev/partition": fmt.Sprint(p)}, ann, replicas))
	}
	return statefulSets(objs...)
}

// An upgrade may change pu.ha only on StatefulSets marked for the new value by insightctl
// scale --ha; a refusal names the command and the value to keep.
func TestHAChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster cluster
		set     string
		refused []string // substrings of the refusal; nil: accepted
	}{
		{name: "ha unchanged", cluster: installedHA(2, 2, ""), set: "pu.partitions=2,pu.ha=true"},
		{name: "no ha unchanged", cluster: installedHA(2, 1, ""), set: "pu.partitions=2"},
		{name: "on, unmarked", cluster: installedHA(2, 1, ""), set: "pu.partitions=2,pu.ha=true", refused: []string{
			"pu.ha=true but release demo runs without a backup per partition (demo-insight-pu-0, demo-insight-pu-1)",
			"insightctl scale demo -n insight --ha=true", "keep pu.ha=false"}},
		{name: "off, unmarked", cluster: installedHA(2, 2, ""), set: "pu.partitions=2", refused: []string{
			"pu.ha=false but release demo runs with a backup per partition", "stop backups that partitions still wait for",
			"insightctl scale demo -n insight --ha=false", "keep pu.ha=true"}},
		{name: "off, marked for on", cluster: installedHA(2, 2, "true"), set: "pu.partitions=2", refused: []string{"--ha=false"}},
		{name: "off, marked", cluster: installedHA(2, 2, "false"), set: "pu.partitions=2"},
		{name: "on, marked", cluster: installedHA(2, 1, "true"), set: "pu.partitions=2,pu.ha=true"},
		{name: "managers unchanged", cluster: installedHAManagers(2, 1, "", 3, 3), set: "pu.partitions=2,manager.ha=true,manager.persistence.enabled=true"},
		{name: "managers 1 to 3", cluster: installedHAManagers(2, 1, "", 1, 1), set: "pu.partitions=2,manager.ha=true,manager.persistence.enabled=true"},
		{name: "managers 3 to 1, members", cluster: installedHAManagers(2, 1, "", 3, 3), set: "pu.partitions=2", refused: []string{
			"manager.ha=false but release demo runs 3 managers (demo-insight-manager), all members of their etcd cluster",
			"insightctl scale demo -n insight --manager-ha=false", "keep manager.ha=true"}},
		{name: "managers 3 to 1, unannotated", cluster: installedHAManagers(2, 1, "", 3, 0), set: "pu.partitions=2", refused: []string{"--manager-ha=false"}},
		{name: "managers 3 to 1, members removed", cluster: installedHAManagers(2, 1, "", 3, 1), set: "pu.partitions=2"},
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
			_, err = engine.RenderWithClientProvider(c, top, tc.cluster)
			if tc.refused == nil {
				if err != nil {
					t.Fatalf("--set %s refused: %v", tc.set, err)
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
