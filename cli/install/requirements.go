package install

import (
	"encoding/json"
	"fmt"
	"sort"

	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/cli/preflight"
	"github.com/insightgrid/insight/cli/validate"
)

// Requirements derives what the release needs from the cluster from the plan's values
// (pu.partitions, pu.ha, pu.antiAffinity, pu/manager resources, tolerations,
// nodeSelector, persistence) and the API kinds in manifest (the rendered release).
func (pl *Plan) Requirements(p *Parameters, manifest string) (preflight.Requirements, error) {
	get := func(key string) any { v, _ := validate.Lookup(pl.Full, key); return v }
	req := preflight.Requirements{
		KubeVersionRange: pl.Chart.Metadata.KubeVersion,
		Partitions:       intOr(get("pu.partitions"), 1),
		HA:               get("pu.ha") == true,
		Managers:         1,
		Namespace:        p.Namespace,
		Release:          p.Name,
	}
	if get("pu.enabled") == false {
		req.Partitions = 0
	}
	if get("manager.ha") == true {
		req.Managers = 3
	}
	if get("manager.enabled") == false {
		req.Managers = 0
	}
	if get("pu.antiAffinity.enabled") == true {
		req.AntiAffinityTopology = preflight.TopologyHostname
		if t, ok := get("pu.antiAffinity.topology").(string); ok && t != "" {
			req.AntiAffinityTopology = t
		}
	}
	var err error
	if req.PodRequests, err = resourceList(get("pu.resources.requests")); err != nil {
		return req, fmt.Errorf("pu.resources.requests: %w", err)
	}
	if req.ManagerRequests, err = resourceList(get("manager.resources.requests")); err != nil {
		return req, fmt.Errorf("manager.resources.requests: %w", err)
	}
	if err := convert(get("pu.tolerations"), &req.Tolerations); err != nil {
		return req, fmt.Errorf("pu.tolerations: %w", err)
	}
	if err := convert(get("pu.nodeSelector"), &req.NodeSelector); err != nil {
		return req, fmt.Errorf("pu.nodeSelector: %w", err)
	}
	for _, comp := range []string{"pu", "manager"} {
		if get(comp+".enabled") == false || get(comp+".persistence.enabled") != true {
			continue
		}
		req.Persistence = true
		// The chart's order: the component's class, else global.storageClass, else the
		// cluster default; "-" means no class at all.
		for _, key := range []string{comp + ".persistence.storageClass", "global.storageClass"} {
			if sc, ok := get(key).(string); ok && sc != "" {
				if sc != "-" {
					req.StorageClass = sc
				}
				break
			}
		}
	}
	req.Kinds, err = Kinds(manifest)
	return req, err
}

// Kinds lists the distinct apiVersion/kind pairs of a rendered manifest.
func Kinds(manifest string) ([]preflight.Kind, error) {
	seen := map[preflight.Kind]bool{}
	for name, doc := range releaseutil.SplitManifests(manifest) {
		var k preflight.Kind
		if err := yaml.Unmarshal([]byte(doc), &k); err != nil {
			return nil, fmt.Errorf("rendered %s: %w", name, err)
		}
		if k.Kind != "" {
			seen[k] = true
		}
	}
	out := make([]preflight.Kind, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].APIVersion != out[j].APIVersion {
			return out[i].APIVersion < out[j].APIVersion
		}
		return out[i].Kind < out[j].Kind
	})
	return out, nil
}

func intOr(v any, def int) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return int(i)
		}
	}
	return def
}

func resourceList(v any) (corev1.ResourceList, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil
	}
	out := corev1.ResourceList{}
	for k, raw := range m {
		q, err := resource.ParseQuantity(fmt.Sprint(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a quantity", k, fmt.Sprint(raw))
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}

// convert round-trips a values subtree through JSON into a typed value.
func convert(v any, into any) error {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}
