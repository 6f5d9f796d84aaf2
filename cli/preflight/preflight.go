// Package preflight checks, before install or upgrade changes anything, that the cluster
// can run what was asked: a supported Kubernetes version; enough schedulable nodes and
// distinct topology domains for partitions × (1 + ha) under the requested anti-affinity,
// with room for the pods' requests (it predicts exactly how many pods would stay Pending
// and says what to change); a StorageClass when persistence is on; and the API kinds
// (CRDs) the rendered add-ons use.
//
// It reads the cluster only through the narrow Cluster interface and must not depend on
// Helm, on cobra or on the chart's templates.
package preflight

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/insightgrid/insight/cli/exit"
)

// Cluster is what the checks read. kube.go implements it with client-go; tests use a
// hand-written fake.
type Cluster interface {
	// ServerVersion returns the API server's git version, e.g. "v1.34.4".
	ServerVersion(ctx context.Context) (string, error)
	Nodes(ctx context.Context) ([]corev1.Node, error)
	// Pods returns the pods of every namespace; their requests occupy the nodes.
	Pods(ctx context.Context) ([]corev1.Pod, error)
	StorageClasses(ctx context.Context) ([]storagev1.StorageClass, error)
	// Serves reports whether the API server serves kind in apiVersion (group/version).
	Serves(ctx context.Context, apiVersion, kind string) (bool, error)
}

// DefaultKubeVersionRange is used when the chart states no kubeVersion.
const DefaultKubeVersionRange = ">= 1.28.0-0, < 1.36.0-0"

// Well-known topology keys.
const (
	TopologyZone     = "topology.kubernetes.io/zone"
	TopologyHostname = "kubernetes.io/hostname"
)

// Requirements is what the release needs from the cluster, derived from its values.
type Requirements struct {
	// KubeVersionRange is a semver constraint on the server version.
	KubeVersionRange string
	// Partitions is the number of partitions; each has 1 + (HA ? 1 : 0) data pods.
	Partitions int
	HA         bool
	// AntiAffinityTopology is the node label a partition's primary and backup must differ
	// in (required anti-affinity); "" means none.
	AntiAffinityTopology string
	// PodRequests are each data pod's resource requests.
	PodRequests corev1.ResourceList
	// Managers is the number of manager pods, ManagerRequests their requests.
	Managers        int
	ManagerRequests corev1.ResourceList
	// Tolerations and NodeSelector restrict the nodes the grid's pods may use.
	Tolerations  []corev1.Toleration
	NodeSelector map[string]string
	// Persistence asks for PersistentVolumeClaims of StorageClass ("" = the default class).
	Persistence  bool
	StorageClass string
	// Kinds are the apiVersion/kind pairs the rendered manifests use.
	Kinds []Kind
	// Namespace and Release identify the release's own pods, whose usage an upgrade
	// replaces rather than adds to.
	Namespace, Release string
}

// Kind is an API type used by the manifests.
type Kind struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Check is the outcome of one check.
type Check struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Message states what was found; Fix, when not OK, what to change.
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Result is every check's outcome.
type Result struct {
	Checks []Check `json:"checks"`
	// Pending is the number of pods the topology check predicts would stay Pending.
	Pending int `json:"pending"`
}

// Failed reports whether any check failed.
func (r *Result) Failed() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return true
		}
	}
	return false
}

// Error is returned by Run when a check failed; it carries the result.
type Error struct{ Result *Result }

// ExitCode is the documented exit code of this error (exit.Preflight).
func (e *Error) ExitCode() int { return exit.Preflight }

func (e *Error) Error() string {
	var failed []string
	for _, c := range e.Result.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	return "preflight failed: " + strings.Join(failed, ", ") + " (use --skip-preflight to bypass)"
}

// Run performs every check and returns the result, with an *Error if any check failed.
// Errors reading the cluster are returned as they are.
func Run(ctx context.Context, c Cluster, req Requirements) (*Result, error) {
	res := &Result{}
	ver, err := checkVersion(ctx, c, req)
	if err != nil {
		return nil, err
	}
	res.Checks = append(res.Checks, ver)

	nodes, err := c.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := c.Pods(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	topo, resources, pending := checkTopology(nodes, pods, req)
	res.Checks = append(res.Checks, topo, resources)
	res.Pending = pending

	if req.Persistence {
		sc, err := checkStorage(ctx, c, req)
		if err != nil {
			return nil, err
		}
		res.Checks = append(res.Checks, sc)
	}
	if len(req.Kinds) > 0 {
		k, err := checkKinds(ctx, c, req.Kinds)
		if err != nil {
			return nil, err
		}
		res.Checks = append(res.Checks, k)
	}
	if res.Failed() {
		return res, &Error{Result: res}
	}
	return res, nil
}

func checkVersion(ctx context.Context, c Cluster, req Requirements) (Check, error) {
	check := Check{Name: "kubernetes-version"}
	rng := req.KubeVersionRange
	if rng == "" {
		rng = DefaultKubeVersionRange
	}
	gitVersion, err := c.ServerVersion(ctx)
	if err != nil {
		return check, fmt.Errorf("read server version: %w", err)
	}
	cons, err := semver.NewConstraint(rng)
	if err != nil {
		return check, fmt.Errorf("supported Kubernetes range %q: %w", rng, err)
	}
	v, err := semver.NewVersion(gitVersion)
	if err != nil {
		check.Message = fmt.Sprintf("server version %q is not a semantic version", gitVersion)
		check.Fix = "check that the API server was built with version information"
		return check, nil
	}
	if !cons.Check(v) {
		check.Message = fmt.Sprintf("Kubernetes %s is outside the supported range %s", gitVersion, rng)
		check.Fix = "use a cluster within the supported range"
		return check, nil
	}
	check.OK = true
	check.Message = fmt.Sprintf("Kubernetes %s is within %s", gitVersion, rng)
	return check, nil
}

func checkStorage(ctx context.Context, c Cluster, req Requirements) (Check, error) {
	check := Check{Name: "storage-class"}
	classes, err := c.StorageClasses(ctx)
	if err != nil {
		return check, fmt.Errorf("list storage classes: %w", err)
	}
	var names, defaults []string
	for _, sc := range classes {
		names = append(names, sc.Name)
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" ||
			sc.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true" {
			defaults = append(defaults, sc.Name)
		}
	}
	sort.Strings(names)
	if req.StorageClass != "" {
		for _, n := range names {
			if n == req.StorageClass {
				check.OK = true
				check.Message = fmt.Sprintf("StorageClass %s exists", n)
				return check, nil
			}
		}
		check.Message = fmt.Sprintf("StorageClass %q does not exist (have: %s)", req.StorageClass, listOrNone(names))
		check.Fix = "set persistence.storageClass to an existing class, or create it"
		return check, nil
	}
	if len(defaults) == 0 {
		check.Message = fmt.Sprintf("persistence is on but the cluster has no default StorageClass (have: %s); the claims would stay Pending", listOrNone(names))
		check.Fix = "mark a StorageClass as default, set persistence.storageClass, or turn persistence off"
		return check, nil
	}
	check.OK = true
	check.Message = fmt.Sprintf("default StorageClass %s", defaults[0])
	return check, nil
}

// addOnGroups names the chart, and its switch, behind each API group the add-ons need
// from CRDs, so that a missing kind says which add-on to install the CRDs for or disable.
var addOnGroups = map[string]string{
	"monitoring.coreos.com": "insight-prometheus, prometheus.enabled",
	"security.istio.io":     "insight-istio, istio.enabled",
	"networking.istio.io":   "insight-istio, istio.enabled",
}

func checkKinds(ctx context.Context, c Cluster, kinds []Kind) (Check, error) {
	check := Check{Name: "api-kinds"}
	var missing []string
	for _, k := range kinds {
		ok, err := c.Serves(ctx, k.APIVersion, k.Kind)
		if err != nil {
			return check, fmt.Errorf("discover %s %s: %w", k.APIVersion, k.Kind, err)
		}
		if !ok {
			what := k.APIVersion
			if chart, ok := addOnGroups[strings.Split(k.APIVersion, "/")[0]]; ok {
				what += ", for " + chart
			}
			missing = append(missing, k.Kind+" ("+what+")")
		}
	}
	if len(missing) > 0 {
		check.Message = "the cluster does not serve " + strings.Join(missing, ", ") + ", used by the enabled add-ons"
		check.Fix = "install the CRDs of those add-ons (e.g. Istio, Prometheus Operator) first, or disable the add-on"
		return check, nil
	}
	check.OK = true
	check.Message = fmt.Sprintf("all %d API kinds used are served", len(kinds))
	return check, nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// quantityString prints a quantity the way users write it.
func quantityString(q resource.Quantity) string { return q.String() }
