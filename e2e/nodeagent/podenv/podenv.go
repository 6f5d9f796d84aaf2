// Package podenv computes what a kubelet computes for a container before starting it: the
// environment (env, envFrom, downward API field and resource references, ConfigMap and Secret
// keys) and the argv from command/args with $(VAR) expansion, merged with the image config.
//
// It is part of the test-only node agent. It holds no state and does no I/O of its own: ConfigMaps
// and Secrets come through the Sources interface, so it stays testable without a cluster.
package podenv

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Sources reads the ConfigMaps and Secrets env vars refer to. A missing object must be
// reported with a Kubernetes NotFound error so optional references can be skipped.
type Sources interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
}

// Context is what the node knows about the pod beyond its spec.
type Context struct {
	Pod         *corev1.Pod
	PodIP       string
	HostIP      string
	Allocatable corev1.ResourceList // node allocatable: the default for unset limits
	// Base vars have the lowest precedence among the pod's own vars, like a kubelet's service
	// environment variables (KUBERNETES_SERVICE_HOST, and the agent's INSIGHT_BIND).
	Base []corev1.EnvVar
}

// Var is one resolved variable.
type Var struct{ Name, Value string }

// Resolve returns the container's variables in kubelet order (base vars, then envFrom, then
// env, later names overriding earlier ones), without the image's env.
func Resolve(c *corev1.Container, ctx Context, src Sources) ([]Var, error) {
	var out []Var
	idx := map[string]int{}
	set := func(k, v string) {
		if i, ok := idx[k]; ok {
			out[i].Value = v
			return
		}
		idx[k] = len(out)
		out = append(out, Var{k, v})
	}
	for _, b := range ctx.Base {
		set(b.Name, b.Value)
	}
	ns := ctx.Pod.Namespace
	for _, ef := range c.EnvFrom {
		var data map[string]string
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := src.ConfigMap(ns, ef.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(ef.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom configMapRef %q: %w", ef.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case ef.SecretRef != nil:
			s, err := src.Secret(ns, ef.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(ef.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom secretRef %q: %w", ef.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		for _, k := range sortedKeys(data) {
			name := ef.Prefix + k
			if !envName.MatchString(name) {
				// kubelet skips invalid names (and reports an event); so do we.
				continue
			}
			set(name, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			lookup := map[string]string{}
			for _, v := range out {
				lookup[v.Name] = v.Value
			}
			set(e.Name, Expand(e.Value, lookup))
			continue
		}
		v, ok, err := valueFrom(e, c, ctx, src)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	return out, nil
}

var envName = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)

func valueFrom(e corev1.EnvVar, c *corev1.Container, ctx Context, src Sources) (string, bool, error) {
	vf := e.ValueFrom
	ns := ctx.Pod.Namespace
	switch {
	case vf.FieldRef != nil:
		v, err := FieldValue(vf.FieldRef.FieldPath, ctx)
		return v, err == nil, err
	case vf.ResourceFieldRef != nil:
		v, err := ResourceValue(vf.ResourceFieldRef, c, ctx)
		return v, err == nil, err
	case vf.ConfigMapKeyRef != nil:
		r := vf.ConfigMapKeyRef
		cm, err := src.ConfigMap(ns, r.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configMapKeyRef %s/%s: %w", r.Name, r.Key, err)
		}
		v, ok := cm.Data[r.Key]
		if !ok {
			if isTrue(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configMapKeyRef: key %q not found in ConfigMap %s/%s", r.Key, ns, r.Name)
		}
		return v, true, nil
	case vf.SecretKeyRef != nil:
		r := vf.SecretKeyRef
		s, err := src.Secret(ns, r.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secretKeyRef %s/%s: %w", r.Name, r.Key, err)
		}
		v, ok := s.Data[r.Key]
		if !ok {
			if isTrue(r.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secretKeyRef: key %q not found in Secret %s/%s", r.Key, ns, r.Name)
		}
		return string(v), true, nil
	}
	return "", false, errors.New("valueFrom has no source (want fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef)")
}

var mapKey = regexp.MustCompile(`^metadata\.(labels|annotations)\['(.+)'\]$`)

// FieldValue resolves a downward-API fieldPath the way kubelet does for env vars and
// downwardAPI volumes.
func FieldValue(path string, ctx Context) (string, error) {
	p := ctx.Pod
	switch path {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "metadata.labels":
		return formatMap(p.Labels), nil
	case "metadata.annotations":
		return formatMap(p.Annotations), nil
	case "spec.nodeName":
		return p.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return ctx.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return ctx.HostIP, nil
	}
	if m := mapKey.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return p.Labels[m[2]], nil
		}
		return p.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("unsupported fieldRef.fieldPath %q (supported: metadata.name, metadata.namespace, metadata.uid, metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP(s), status.hostIP(s))", path)
}

func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return b.String()
}

// ResourceValue resolves a resourceFieldRef. Unset limits default to the node's allocatable,
// as kubelet does; the value is rounded up to a whole number of divisors.
func ResourceValue(r *corev1.ResourceFieldSelector, self *corev1.Container, ctx Context) (string, error) {
	c := self
	if r.ContainerName != "" && r.ContainerName != self.Name {
		c = nil
		for i := range ctx.Pod.Spec.Containers {
			if ctx.Pod.Spec.Containers[i].Name == r.ContainerName {
				c = &ctx.Pod.Spec.Containers[i]
			}
		}
		if c == nil {
			return "", fmt.Errorf("resourceFieldRef: container %q not found in the pod", r.ContainerName)
		}
	}
	kind, res, ok := strings.Cut(r.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported resourceFieldRef.resource %q (want limits.<r> or requests.<r>)", r.Resource)
	}
	name := corev1.ResourceName(res)
	var q resource.Quantity
	if kind == "limits" {
		var found bool
		if q, found = c.Resources.Limits[name]; !found {
			q = ctx.Allocatable[name]
		}
	} else {
		q = c.Resources.Requests[name]
	}
	divisor := r.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	switch name {
	case corev1.ResourceCPU:
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
		return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
	}
	return "", fmt.Errorf("unsupported resourceFieldRef.resource %q (want cpu, memory or ephemeral-storage)", r.Resource)
}

// Expand replaces $(VAR) with the variable's value; $$ escapes a dollar sign; references to
// undefined variables stay as written. These are the Kubernetes rules for env values,
// command and args.
func Expand(in string, vars map[string]string) string {
	var b strings.Builder
	checkpoint := 0
	for cur := 0; cur < len(in); cur++ {
		if in[cur] != '$' || cur+1 >= len(in) {
			continue
		}
		b.WriteString(in[checkpoint:cur])
		read, isVar, advance := readVar(in[cur+1:])
		if isVar {
			if v, ok := vars[read]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + read + ")")
			}
		} else {
			b.WriteString(read)
		}
		cur += advance
		checkpoint = cur + 1
	}
	return b.String() + in[checkpoint:]
}

func readVar(in string) (string, bool, int) {
	switch in[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(in); i++ {
			if in[i] == ')' {
				return in[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	}
	return "$" + in[:1], false, 1
}

// Argv returns the process argv: command overrides the image Entrypoint, args overrides the
// image Cmd (and an explicit command drops the image Cmd); $(VAR) in command and args expands
// from the container's variables.
func Argv(c *corev1.Container, imageEntrypoint, imageCmd []string, vars []Var) []string {
	m := map[string]string{}
	for _, v := range vars {
		m[v.Name] = v.Value
	}
	expand := func(in []string) []string {
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = Expand(s, m)
		}
		return out
	}
	switch {
	case len(c.Command) > 0:
		return append(expand(c.Command), expand(c.Args)...)
	case len(c.Args) > 0:
		return append(append([]string{}, imageEntrypoint...), expand(c.Args)...)
	}
	return append(append([]string{}, imageEntrypoint...), imageCmd...)
}

// Environ merges the image's env (lowest precedence) with the resolved vars into KEY=VALUE form.
func Environ(imageEnv []string, vars []Var) []string {
	var out []string
	idx := map[string]int{}
	add := func(k, v string) {
		if i, ok := idx[k]; ok {
			out[i] = k + "=" + v
			return
		}
		idx[k] = len(out)
		out = append(out, k+"="+v)
	}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		add(k, v)
	}
	for _, v := range vars {
		add(v.Name, v.Value)
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
