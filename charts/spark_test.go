package charts_test

import (
	"bufio"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/charts"
)

// sparkSets are the umbrella with Spark on: the defaults next to the SQL endpoints, and the
// HA profile with authentication, dynamic allocation, executors kept apart and extra conf.
var sparkSets = []valueSet{
	{name: "addon-spark", sets: []string{"spark.enabled=true,sql.enabled=true"}},
	{name: "addon-spark-ha", profile: "ha", sets: []string{"spark.enabled=true,sql.enabled=true,spark.dynamicAllocation.enabled=true,spark.dynamicAllocation.maxExecutors=6," +
		"spark.executor.instances=0,spark.executor.memory=2g,spark.antiAffinity.enabled=true,spark.conf.spark\\.sql\\.shuffle\\.partitions=64," +
		"global.auth.enabled=true,global.auth.password=secret"}},
}

// TestSparkGolden compares the umbrella's render with Spark on with testdata/<name>.yaml,
// and checks that the embedded chart renders as the checkout does.
func TestSparkGolden(t *testing.T) {
	for _, s := range sparkSets {
		t.Run(s.name, func(t *testing.T) {
			r := mustRender(t, s)
			golden(t, s.name+".yaml", []byte(r.manifest+"---\n# NOTES.txt\n"+r.notes+"\n"))
			fromDir, err := render(t, mustLoad(t, charts.Umbrella), s.values(t))
			if err != nil {
				t.Fatal(err)
			}
			if fromDir != r {
				t.Errorf("embedded and checkout renders differ:\n%s", firstDiff([]byte(fromDir.manifest+fromDir.notes), []byte(r.manifest+r.notes)))
			}
		})
	}
}

// TestSparkOffByDefault checks that no profile renders a Spark object unless asked.
func TestSparkOffByDefault(t *testing.T) {
	for _, s := range allSets(t) {
		for _, obj := range decode(t, mustRender(t, s).manifest) {
			m, err := meta.Accessor(obj)
			if err != nil {
				t.Fatal(err)
			}
			if m.GetLabels()[labelComponent] == "spark" {
				t.Errorf("%s renders %T %s without spark.enabled=true", s.name, obj, m.GetName())
			}
		}
	}
}

// sparkObjects are the Spark objects of a render.
type sparkObjects struct {
	sa       *corev1.ServiceAccount
	role     *rbacv1.Role
	binding  *rbacv1.RoleBinding
	conf     *corev1.ConfigMap
	policy   *networkingv1.NetworkPolicy
	defaults map[string]string
	driver   *corev1.Pod
	executor *corev1.Pod
	names    []string
}

func sparkRender(t *testing.T, s valueSet) sparkObjects {
	t.Helper()
	var o sparkObjects
	for _, obj := range decode(t, mustRender(t, s).manifest) {
		checkObject(t, obj)
		m, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		if m.GetLabels()[labelComponent] != "spark" {
			continue
		}
		o.names = append(o.names, m.GetName())
		switch x := obj.(type) {
		case *corev1.ServiceAccount:
			o.sa = x
		case *rbacv1.Role:
			o.role = x
		case *rbacv1.RoleBinding:
			o.binding = x
		case *corev1.ConfigMap:
			o.conf = x
		case *networkingv1.NetworkPolicy:
			o.policy = x
		default:
			t.Errorf("unexpected Spark object %T %s", obj, m.GetName())
		}
	}
	if o.sa == nil || o.role == nil || o.binding == nil || o.conf == nil || o.policy == nil {
		t.Fatalf("%s: want a ServiceAccount, Role, RoleBinding, ConfigMap and NetworkPolicy demo-insight-spark, got %v", s.name, o.names)
	}
	o.defaults = parseSparkDefaults(t, o.conf.Data["spark-defaults.conf"])
	o.driver = parsePod(t, "driver-pod-template.yaml", o.conf.Data["driver-pod-template.yaml"])
	o.executor = parsePod(t, "executor-pod-template.yaml", o.conf.Data["executor-pod-template.yaml"])
	return o
}

// parseSparkDefaults reads spark-defaults.conf as Spark's properties loader does for the
// lines the chart writes: "key value", # comments.
func parseSparkDefaults(t *testing.T, text string) map[string]string {
	t.Helper()
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("spark-defaults.conf line %q has no value", line)
		}
		if _, dup := out[k]; dup {
			t.Errorf("spark-defaults.conf sets %s twice", k)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out
}

func parsePod(t *testing.T, name, text string) *corev1.Pod {
	t.Helper()
	var p corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(text), &p); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, text)
	}
	if p.Kind != "Pod" || p.APIVersion != "v1" {
		t.Errorf("%s: %s/%s, want v1/Pod", name, p.APIVersion, p.Kind)
	}
	return &p
}

// TestSparkRBAC checks that the drivers' identity is one namespaced Role on exactly what a
// driver manages, bound to the chart's ServiceAccount, which mounts no token by itself.
func TestSparkRBAC(t *testing.T) {
	for _, s := range sparkSets {
		t.Run(s.name, func(t *testing.T) {
			o := sparkRender(t, s)
			if len(o.role.Rules) != 1 {
				t.Fatalf("Role rules %+v, want one", o.role.Rules)
			}
			r := o.role.Rules[0]
			if !slices.Equal(r.APIGroups, []string{""}) || !slices.Equal(r.Resources, []string{"pods", "services", "configmaps", "persistentvolumeclaims"}) ||
				!slices.Equal(r.Verbs, []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}) {
				t.Errorf("Role rule %+v", r)
			}
			if o.role.Namespace != namespace || o.binding.Namespace != namespace {
				t.Errorf("Role in %q, RoleBinding in %q, want %q", o.role.Namespace, o.binding.Namespace, namespace)
			}
			if o.binding.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: o.role.Name}) {
				t.Errorf("RoleBinding roleRef %+v", o.binding.RoleRef)
			}
			want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: o.sa.Name, Namespace: namespace}}
			if !slices.Equal(o.binding.Subjects, want) {
				t.Errorf("RoleBinding subjects %+v, want %+v", o.binding.Subjects, want)
			}
		})
	}
}

// TestSparkDefaults checks spark-defaults.conf: the grid and SQL endpoints of the release,
// the image, namespace and identity, the executors, the fixed ports the NetworkPolicy
// names, dynamic allocation with shuffle tracking only when on, and spark.conf last.
func TestSparkDefaults(t *testing.T) {
	for _, s := range sparkSets {
		t.Run(s.name, func(t *testing.T) {
			vals := s.values(t)
			o := sparkRender(t, s)
			dyn := boolValue(vals, "spark", "dynamicAllocation", "enabled")
			want := map[string]string{
				"spark.kubernetes.container.image":                        "ghcr.io/insightgrid/insight-spark:0.1.0",
				"spark.kubernetes.container.image.pullPolicy":             "IfNotPresent",
				"spark.kubernetes.namespace":                              namespace,
				"spark.kubernetes.authenticate.driver.serviceAccountName": o.sa.Name,
				"spark.kubernetes.driver.podTemplateFile":                 "/opt/insight/spark-conf/driver-pod-template.yaml",
				"spark.kubernetes.executor.podTemplateFile":               "/opt/insight/spark-conf/executor-pod-template.yaml",
				"spark.redis.host":                                        "demo-insight-pu.insight.svc.cluster.local",
				"spark.redis.port":                                        "6379",
				"spark.insight.sql.url":                                   "jdbc:mariadb://demo-insight-sql.insight.svc.cluster.local:3306/insight",
				"spark.insight.sql.user":                                  "insight",
				"spark.executor.instances":                                stringValue(vals, "2", "spark", "executor", "instances"),
				"spark.executor.memory":                                   stringValue(vals, "1g", "spark", "executor", "memory"),
				"spark.executor.cores":                                    "1",
				"spark.driver.port":                                       "7078",
				"spark.driver.blockManager.port":                          "7079",
				"spark.blockManager.port":                                 "7079",
				"spark.dynamicAllocation.enabled":                         map[bool]string{false: "false", true: "true"}[dyn],
			}
			for k, v := range want {
				if o.defaults[k] != v {
					t.Errorf("%s = %q, want %q", k, o.defaults[k], v)
				}
			}
			if got := o.defaults["spark.dynamicAllocation.shuffleTracking.enabled"]; (got == "true") != dyn {
				t.Errorf("shuffleTracking %q with dynamic allocation %v: want it exactly when on", got, dyn)
			}
			if extra := stringValue(vals, "", "spark", "conf", "spark.sql.shuffle.partitions"); extra != "" && o.defaults["spark.sql.shuffle.partitions"] != extra {
				t.Errorf("spark.conf entry spark.sql.shuffle.partitions=%s not in spark-defaults.conf", extra)
			}
			for k := range o.defaults {
				if strings.Contains(strings.ToLower(k), "auth") && k != "spark.kubernetes.authenticate.driver.serviceAccountName" {
					t.Errorf("spark-defaults.conf holds %s: a ConfigMap must not hold the password", k)
				}
			}
		})
	}
}

// TestSparkPodTemplates checks the driver and executor templates: restricted security as
// uid 185 with /tmp and the work dir on volumes, the release's Spark labels (which the
// NetworkPolicies select), the pod IP as SPARK_LOCAL_IP, a token only for the driver, the
// grid's password from its Secret, and the executors' anti-affinity.
func TestSparkPodTemplates(t *testing.T) {
	for _, s := range sparkSets {
		t.Run(s.name, func(t *testing.T) {
			vals := s.values(t)
			o := sparkRender(t, s)
			for _, p := range []struct {
				role  string
				pod   *corev1.Pod
				token bool
			}{{"driver", o.driver, true}, {"executor", o.executor, false}} {
				where := p.role + " pod template"
				spec := p.pod.Spec
				for k, v := range o.policy.Spec.PodSelector.MatchLabels {
					if p.pod.Labels[k] != v {
						t.Errorf("%s: label %s=%q, the NetworkPolicy selects %q", where, k, p.pod.Labels[k], v)
					}
				}
				if p.pod.Labels["spark-role"] != p.role {
					t.Errorf("%s: spark-role %q", where, p.pod.Labels["spark-role"])
				}
				if got := spec.AutomountServiceAccountToken != nil && *spec.AutomountServiceAccountToken; got != p.token {
					t.Errorf("%s: token mounted %v, want %v", where, got, p.token)
				}
				psc := spec.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 185 ||
					psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod securityContext %+v is not restricted as uid 185", where, psc)
				}
				if len(spec.Containers) != 1 {
					t.Fatalf("%s: %d containers, want 1", where, len(spec.Containers))
				}
				c := spec.Containers[0]
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil ||
					*sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("%s: container securityContext %+v is not restricted", where, sc)
				}
				mounts := map[string]string{}
				for _, m := range c.VolumeMounts {
					mounts[m.MountPath] = m.Name
				}
				volumes := map[string]corev1.Volume{}
				for _, v := range spec.Volumes {
					volumes[v.Name] = v
				}
				for _, dir := range []string{"/tmp", "/opt/spark/work-dir"} {
					if v, ok := volumes[mounts[dir]]; !ok || v.EmptyDir == nil {
						t.Errorf("%s: %s is not an emptyDir (mounts %v)", where, dir, mounts)
					}
				}
				ip := env(c, "SPARK_LOCAL_IP")
				if ip == nil || ip.ValueFrom == nil || ip.ValueFrom.FieldRef == nil || ip.ValueFrom.FieldRef.FieldPath != "status.podIP" {
					t.Errorf("%s: SPARK_LOCAL_IP %+v, want the pod IP", where, ip)
				}
			}
			d := o.driver.Spec
			if d.ServiceAccountName != o.sa.Name || d.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("driver: serviceAccountName %q restartPolicy %q", d.ServiceAccountName, d.RestartPolicy)
			}
			c := d.Containers[0]
			if c.Image != "ghcr.io/insightgrid/insight-spark:0.1.0" {
				t.Errorf("driver image %s", c.Image)
			}
			if v := env(c, "SPARK_CONF_DIR"); v == nil || v.Value != "/opt/insight/spark-conf" {
				t.Errorf("driver SPARK_CONF_DIR %+v", v)
			}
			conf := false
			for _, v := range d.Volumes {
				conf = conf || (v.ConfigMap != nil && v.ConfigMap.Name == o.conf.Name)
			}
			if !conf {
				t.Errorf("driver: ConfigMap %s not among the volumes %+v", o.conf.Name, d.Volumes)
			}
			pass := env(c, "INSIGHT_GRID_PASSWORD")
			if boolValue(vals, "global", "auth", "enabled") {
				if pass == nil || pass.ValueFrom == nil || pass.ValueFrom.SecretKeyRef == nil || pass.ValueFrom.SecretKeyRef.Name != "demo-insight-auth" {
					t.Errorf("driver INSIGHT_GRID_PASSWORD %+v, want the Secret demo-insight-auth", pass)
				}
			} else if pass != nil {
				t.Errorf("driver INSIGHT_GRID_PASSWORD %+v without global.auth.enabled", pass)
			}
			mem := c.Resources.Limits[corev1.ResourceMemory]
			if mem.String() != "1408Mi" { // 1g + max(384m, 10%)
				t.Errorf("driver memory limit %s, want 1408Mi", mem.String())
			}
			anti := o.executor.Spec.Affinity
			if anti == nil || anti.PodAntiAffinity == nil {
				t.Fatalf("executor: no anti-affinity")
			}
			hard := boolValue(vals, "spark", "antiAffinity", "enabled")
			terms := anti.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
			if (len(terms) == 1) != hard {
				t.Errorf("executor anti-affinity %+v, want a required term only with spark.antiAffinity.enabled=%v", anti.PodAntiAffinity, hard)
			}
			if hard && !maps.Equal(terms[0].LabelSelector.MatchLabels, map[string]string{labelName: "insight-spark", labelInstance: releaseName, labelComponent: "spark", "spark-role": "executor"}) {
				t.Errorf("executor anti-affinity selects %v", terms[0].LabelSelector.MatchLabels)
			}
		})
	}
}
