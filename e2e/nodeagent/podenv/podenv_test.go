package podenv

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type fakeSources struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
}

func (f fakeSources) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := f.cms[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f fakeSources) Secret(ns, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

var (
	yes = true
	src = fakeSources{
		cms: map[string]*corev1.ConfigMap{"ns1/cfg": {Data: map[string]string{"mode": "fast", "bad key": "x", "level": "3"}}},
		secrets: map[string]*corev1.Secret{
			"ns1/creds": {Data: map[string][]byte{"password": []byte("s3cret")}},
		},
	}
	pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "grid-0", Namespace: "ns1", UID: "u-1",
			Labels:      map[string]string{"app": "grid", "statefulset.kubernetes.io/pod-name": "grid-0"},
			Annotations: map[string]string{"a": "b"},
		},
		Spec: corev1.PodSpec{
			NodeName: "insight-node-1", ServiceAccountName: "sa",
			Containers: []corev1.Container{{Name: "grid"}, {
				Name: "side",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi"), corev1.ResourceCPU: resource.MustParse("1500m")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
				},
			}},
		},
	}
	ctx = Context{
		Pod: pod, PodIP: "127.1.1.2", HostIP: "127.1.1.1",
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi")},
		Base:        []corev1.EnvVar{{Name: "INSIGHT_BIND", Value: "127.1.1.2"}, {Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"}},
	}
)

func field(p string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
}

func res(container, r, divisor string) *corev1.EnvVarSource {
	s := &corev1.ResourceFieldSelector{ContainerName: container, Resource: r}
	if divisor != "" {
		s.Divisor = resource.MustParse(divisor)
	}
	return &corev1.EnvVarSource{ResourceFieldRef: s}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		c       corev1.Container
		want    []Var
		wantErr bool
	}{
		{
			name: "plain values and expansion of earlier vars",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "A", Value: "x"}, {Name: "B", Value: "$(A)-$(INSIGHT_BIND)-$(MISSING)-$$(A)"},
			}},
			want: []Var{{"INSIGHT_BIND", "127.1.1.2"}, {"KUBERNETES_SERVICE_HOST", "127.0.0.1"}, {"A", "x"}, {"B", "x-127.1.1.2-$(MISSING)-$(A)"}},
		},
		{
			name: "downward API fields",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "N", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "L", ValueFrom: field("metadata.labels['app']")},
				{Name: "AN", ValueFrom: field("metadata.annotations['a']")}, {Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "SA", ValueFrom: field("spec.serviceAccountName")}, {Name: "IP", ValueFrom: field("status.podIP")},
				{Name: "IPS", ValueFrom: field("status.podIPs")}, {Name: "HOST", ValueFrom: field("status.hostIP")},
				{Name: "KUBERNETES_SERVICE_HOST", Value: "override"},
			}},
			want: []Var{{"INSIGHT_BIND", "127.1.1.2"}, {"KUBERNETES_SERVICE_HOST", "override"},
				{"N", "grid-0"}, {"NS", "ns1"}, {"UID", "u-1"}, {"L", "grid"}, {"AN", "b"}, {"NODE", "insight-node-1"},
				{"SA", "sa"}, {"IP", "127.1.1.2"}, {"IPS", "127.1.1.2"}, {"HOST", "127.1.1.1"}},
		},
		{
			name: "resources with divisors and allocatable default",
			c: corev1.Container{Name: "grid", Env: []corev1.EnvVar{
				{Name: "MEM_LIMIT_MI", ValueFrom: res("", "limits.memory", "1Mi")},
				{Name: "CPU_LIMIT", ValueFrom: res("", "limits.cpu", "")},
				{Name: "SIDE_MEM", ValueFrom: res("side", "limits.memory", "1Mi")},
				{Name: "SIDE_CPU_M", ValueFrom: res("side", "limits.cpu", "1m")},
				{Name: "SIDE_CPU", ValueFrom: res("side", "limits.cpu", "1")},
				{Name: "SIDE_REQ_CPU", ValueFrom: res("side", "requests.cpu", "1")},
				{Name: "REQ_MEM", ValueFrom: res("", "requests.memory", "")},
			}},
			want: []Var{{"INSIGHT_BIND", "127.1.1.2"}, {"KUBERNETES_SERVICE_HOST", "127.0.0.1"},
				{"MEM_LIMIT_MI", "16384"}, {"CPU_LIMIT", "8"}, {"SIDE_MEM", "512"}, {"SIDE_CPU_M", "1500"},
				{"SIDE_CPU", "2"}, {"SIDE_REQ_CPU", "1"}, {"REQ_MEM", "0"}},
		},
		{
			name: "configmap and secret keys, optional honoured, envFrom with prefix",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: &yes}},
				},
				Env: []corev1.EnvVar{
					{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
					{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
					{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "absent", Optional: &yes}}},
					{Name: "OPT2", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k", Optional: &yes}}},
				},
			},
			want: []Var{{"INSIGHT_BIND", "127.1.1.2"}, {"KUBERNETES_SERVICE_HOST", "127.0.0.1"},
				{"CFG_level", "3"}, {"CFG_mode", "fast"}, {"MODE", "fast"}, {"PW", "s3cret"}},
		},
		{
			name: "missing required configmap key",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "absent"}}},
			}},
			wantErr: true,
		},
		{
			name:    "missing required secret",
			c:       corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			wantErr: true,
		},
		{
			name:    "unsupported field path",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.hostname")}}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(&tt.c, ctx, src)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want error, got %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "EMPTY": ""}
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "1"},
		{"x$(A)y$(A)", "x1y1"},
		{"$(EMPTY)z", "z"},
		{"$(B)", "$(B)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$1"},
		{"$(A", "$(A"},
		{"$A", "$A"},
		{"a$", "a$"},
		{"$()", "$()"},
	}
	for _, tt := range tests {
		if got := Expand(tt.in, vars); got != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestArgv(t *testing.T) {
	vars := []Var{{"PORT", "6379"}}
	ep, cmd := []string{"/bin/grid"}, []string{"serve", "--default"}
	tests := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/bin/grid", "serve", "--default"}},
		{"args replace cmd", nil, []string{"serve", "--port=$(PORT)"}, []string{"/bin/grid", "serve", "--port=6379"}},
		{"command drops image cmd", []string{"/bin/other"}, nil, []string{"/bin/other"}},
		{"command and args", []string{"/bin/sh", "-c"}, []string{"echo $(PORT) $$(PORT)"}, []string{"/bin/sh", "-c", "echo 6379 $(PORT)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Argv(&corev1.Container{Command: tt.command, Args: tt.args}, ep, cmd, vars)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q want %q", got, tt.want)
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	got := Environ([]string{"PATH=/bin", "A=image"}, []Var{{"A", "pod"}, {"B", "2"}})
	want := []string{"PATH=/bin", "A=pod", "B=2"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}
