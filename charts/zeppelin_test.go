package charts_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/insightgrid/insight/charts"
)

// zeppelinPassword is the grid's password of addon-zeppelin-full: quotes, a backslash, and
// the characters sed's replacement treats specially, which the conf initContainer escapes.
const zeppelinPassword = `s3cr"e\t|&pw`

// zeppelinSets are the umbrella with Zeppelin and the SQL endpoints on: the defaults, and
// authentication with the Spark interpreter, persisted notebooks and an Ingress.
var zeppelinSets = []valueSet{
	{name: "addon-zeppelin", sets: []string{"zeppelin.enabled=true,sql.enabled=true"}},
	{name: "addon-zeppelin-full", sets: []string{"zeppelin.enabled=true,sql.enabled=true,global.auth.enabled=true," +
		"zeppelin.spark.enabled=true,zeppelin.notebook.persistence.enabled=true,zeppelin.ingress.enabled=true,zeppelin.ingress.host=zeppelin.example.com"}},
}

// zeppelinValues is s's values with zeppelinPassword as the grid's password when auth is
// on: --set would split it at "," and read a backslash as an escape, so it is set as it is.
func zeppelinValues(t *testing.T, s valueSet) map[string]any {
	t.Helper()
	vals := s.values(t)
	if boolValue(vals, "global", "auth", "enabled") {
		vals["global"].(map[string]any)["auth"].(map[string]any)["password"] = zeppelinPassword
	}
	return vals
}

func mustRenderZeppelin(t *testing.T, s valueSet) rendered {
	t.Helper()
	r, err := render(t, mustLoad(t, ""), zeppelinValues(t, s))
	if err != nil {
		t.Fatalf("%s: %v", s.name, err)
	}
	return r
}

// zeppelinObjects are the objects of a render that the Zeppelin chart makes.
type zeppelinObjects struct {
	deploy     *appsv1.Deployment
	svc        *corev1.Service
	cm         *corev1.ConfigMap
	sa         *corev1.ServiceAccount
	role       *rbacv1.Role
	binding    *rbacv1.RoleBinding
	pvc        *corev1.PersistentVolumeClaim
	ingress    *networkingv1.Ingress
	policies   map[string]*networkingv1.NetworkPolicy
	clusterRBA []string
}

func zeppelinOf(t *testing.T, manifest string) zeppelinObjects {
	t.Helper()
	z := zeppelinObjects{policies: map[string]*networkingv1.NetworkPolicy{}}
	for _, obj := range decode(t, manifest) {
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			z.clusterRBA = append(z.clusterRBA, "ClusterRole "+o.Name)
		case *rbacv1.ClusterRoleBinding:
			z.clusterRBA = append(z.clusterRBA, "ClusterRoleBinding "+o.Name)
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		if m.GetLabels()[labelName] != "insight-zeppelin" {
			continue
		}
		switch o := obj.(type) {
		case *appsv1.Deployment:
			z.deploy = o
		case *corev1.Service:
			z.svc = o
		case *corev1.ConfigMap:
			z.cm = o
		case *corev1.ServiceAccount:
			z.sa = o
		case *rbacv1.Role:
			z.role = o
		case *rbacv1.RoleBinding:
			z.binding = o
		case *corev1.PersistentVolumeClaim:
			z.pvc = o
		case *networkingv1.Ingress:
			z.ingress = o
		case *networkingv1.NetworkPolicy:
			z.policies[o.Name] = o
		default:
			t.Errorf("unexpected Zeppelin object %T %s", obj, m.GetName())
		}
	}
	if z.deploy == nil || z.svc == nil || z.cm == nil || z.sa == nil {
		t.Fatalf("Deployment %v, Service %v, ConfigMap %v, ServiceAccount %v: want all four", z.deploy != nil, z.svc != nil, z.cm != nil, z.sa != nil)
	}
	return z
}

// TestZeppelinGolden compares the umbrella's render with Zeppelin on with
// testdata/<name>.yaml, and checks that the embedded chart renders as the checkout does.
func TestZeppelinGolden(t *testing.T) {
	for _, s := range zeppelinSets {
		t.Run(s.name, func(t *testing.T) {
			r := mustRenderZeppelin(t, s)
			golden(t, s.name+".yaml", []byte(r.manifest+"---\n# NOTES.txt\n"+r.notes+"\n"))
			fromDir, err := render(t, mustLoad(t, charts.Umbrella), zeppelinValues(t, s))
			if err != nil {
				t.Fatal(err)
			}
			if fromDir != r {
				t.Errorf("embedded and checkout renders differ:\n%s", firstDiff([]byte(fromDir.manifest+fromDir.notes), []byte(r.manifest+r.notes)))
			}
		})
	}
}

// TestZeppelinOffByDefault checks that no profile deploys Zeppelin unless asked.
func TestZeppelinOffByDefault(t *testing.T) {
	for _, s := range allSets(t) {
		for _, obj := range decode(t, mustRender(t, s).manifest) {
			m, err := meta.Accessor(obj)
			if err != nil {
				t.Fatal(err)
			}
			if m.GetLabels()[labelName] == "insight-zeppelin" {
				t.Errorf("%s renders %T %s without zeppelin.enabled=true", s.name, obj, m.GetName())
			}
		}
	}
}

// TestZeppelinServer checks the server's objects: one replica replaced with Recreate, the
// restricted pod with a read-only root and a volume for every directory Zeppelin writes,
// the ZEPPELIN_* environment (the pod's IP as address, the Kubernetes launcher, the
// Service it calls back), the driver copied from the Spark image, the Service's http and
// rpc ports on the pod's own, the namespaced RBAC, the notebook claim and the Ingress.
func TestZeppelinServer(t *testing.T) {
	for _, s := range zeppelinSets {
		t.Run(s.name, func(t *testing.T) {
			vals := zeppelinValues(t, s)
			z := zeppelinOf(t, mustRenderZeppelin(t, s).manifest)
			d := z.deploy
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("replicas %v, strategy %s: want 1 and Recreate", d.Spec.Replicas, d.Spec.Strategy.Type)
			}
			pod := d.Spec.Template.Spec
			if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
				t.Error("the server does not mount its token: the launcher cannot call the API")
			}
			if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 1000 || psc.FSGroup == nil || *psc.FSGroup != 1000 {
				t.Errorf("pod securityContext %+v, want non-root uid 1000, fsGroup 1000", psc)
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range pod.Volumes {
				volumes[v.Name] = v
			}
			for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("container %s: securityContext %+v, want a read-only root, no escalation, ALL dropped", c.Name, sc)
				}
				for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
					if _, ok := c.Resources.Limits[r]; !ok {
						t.Errorf("container %s has no %s limit", c.Name, r)
					}
					if _, ok := c.Resources.Requests[r]; !ok {
						t.Errorf("container %s has no %s request", c.Name, r)
					}
				}
			}
			if len(pod.Containers) != 1 || len(pod.InitContainers) != 2 {
				t.Fatalf("%d containers, %d initContainers: want the server, conf and jdbc-driver", len(pod.Containers), len(pod.InitContainers))
			}
			c := pod.Containers[0]
			if c.Image != "docker.io/apache/zeppelin:0.12.0" {
				t.Errorf("image %s, want docker.io/apache/zeppelin:0.12.0", c.Image)
			}
			mounts := map[string]string{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = m.Name
			}
			for _, dir := range []string{"conf", "logs", "run", "notebook", "local-repo", "webapps"} {
				path := "/opt/zeppelin/" + dir
				name, ok := mounts[path]
				if !ok {
					t.Errorf("nothing mounted on %s: Zeppelin writes there under a read-only root", path)
					continue
				}
				v := volumes[name]
				wantClaim := dir == "notebook" && boolValue(vals, "zeppelin", "notebook", "persistence", "enabled")
				switch {
				case wantClaim && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "demo-insight-zeppelin-notebook"):
					t.Errorf("%s: volume %+v, want the claim demo-insight-zeppelin-notebook", path, v.VolumeSource)
				case !wantClaim && v.EmptyDir == nil:
					t.Errorf("%s: volume %+v, want an emptyDir", path, v.VolumeSource)
				}
				if e := env(c, "ZEPPELIN_"+map[string]string{"conf": "CONF_DIR", "logs": "LOG_DIR", "run": "PID_DIR", "notebook": "NOTEBOOK_DIR", "local-repo": "INTERPRETER_LOCALREPO", "webapps": "WAR_TEMPDIR"}[dir]); e == nil || e.Value != path {
					t.Errorf("the environment does not point Zeppelin's %s directory at %s: %+v", dir, path, e)
				}
			}
			if name := mounts["/opt/zeppelin/k8s/interpreter"]; volumes[name].ConfigMap == nil || len(volumes[name].ConfigMap.Items) != 1 || volumes[name].ConfigMap.Items[0].Key != "100-interpreter-spec.yaml" {
				t.Errorf("k8s/interpreter: volume %+v, want only the ConfigMap's 100-interpreter-spec.yaml (the launcher applies every file there)", volumes[name])
			}
			if e := env(c, "ZEPPELIN_ADDR"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
				t.Errorf("ZEPPELIN_ADDR %+v, want the pod's IP", e)
			}
			for name, want := range map[string]string{
				"ZEPPELIN_HOME": "/opt/zeppelin", "ZEPPELIN_PORT": "8080", "ZEPPELIN_RUN_MODE": "k8s",
				"ZEPPELIN_SERVER_RPC_PORTRANGE": "12320:12320", "ZEPPELIN_K8S_CONTAINER_IMAGE": "docker.io/apache/zeppelin:0.12.0",
				"ZEPPELIN_K8S_SERVICE_NAME":         "demo-insight-zeppelin",
				"ZEPPELIN_INTP_CLASSPATH_OVERRIDES": "/opt/insight/jdbc/mariadb-java-client-3.5.11.jar",
			} {
				if e := env(c, name); e == nil || e.Value != want {
					t.Errorf("%s %+v, want %q", name, e, want)
				}
			}
			if e := env(c, "POD_UID"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.uid" {
				t.Errorf("POD_UID %+v, want the pod's UID (the interpreter pods' owner)", e)
			}
			driver := pod.InitContainers[1]
			if driver.Image != "ghcr.io/insightgrid/insight-spark:0.1.0" || !slices.Equal(driver.Command, []string{"cp", "/opt/spark/jars/mariadb-java-client-3.5.11.jar", "/opt/insight/jdbc/"}) {
				t.Errorf("jdbc-driver: image %s command %q, want the Spark image's Connector/J copied to /opt/insight/jdbc/", driver.Image, driver.Command)
			}
			conf := pod.InitContainers[0]
			pass := env(conf, "INSIGHT_PASSWORD")
			if boolValue(vals, "global", "auth", "enabled") {
				if pass == nil || pass.ValueFrom == nil || pass.ValueFrom.SecretKeyRef == nil || pass.ValueFrom.SecretKeyRef.Name != "demo-insight-auth" {
					t.Errorf("conf: INSIGHT_PASSWORD %+v, want the Secret demo-insight-auth", pass)
				}
			} else if pass != nil {
				t.Errorf("conf: INSIGHT_PASSWORD %+v without global.auth.enabled", pass)
			}
			for _, data := range z.cm.Data {
				if strings.Contains(data, zeppelinPassword) {
					t.Error("the ConfigMap holds the grid's password")
				}
			}

			ports := map[string]corev1.ServicePort{}
			for _, p := range z.svc.Spec.Ports {
				ports[p.Name] = p
			}
			cports := map[string]int32{}
			for _, p := range c.Ports {
				cports[p.Name] = p.ContainerPort
			}
			for name, want := range map[string]int32{"http": 8080, "rpc": 12320} {
				if p := ports[name]; p.Port != want || p.TargetPort.String() != name || cports[name] != want {
					t.Errorf("Service port %s %+v, container port %d: want %d on the pod's port %s", name, p, cports[name], want, name)
				}
			}

			if len(z.clusterRBA) > 0 {
				t.Errorf("cluster-wide RBAC: %v", z.clusterRBA)
			}
			if z.role == nil || z.binding == nil {
				t.Fatal("no Role or RoleBinding for the launcher")
			}
			if len(z.role.Rules) != 1 || !slices.Equal(z.role.Rules[0].Resources, []string{"pods", "services", "configmaps"}) ||
				!slices.Equal(z.role.Rules[0].Verbs, []string{"create", "get", "update", "patch", "list", "delete", "watch"}) || !slices.Equal(z.role.Rules[0].APIGroups, []string{""}) {
				t.Errorf("Role rules %+v, want pods, services and configmaps of the core group, and nothing else", z.role.Rules)
			}
			if z.binding.RoleRef.Name != z.role.Name || len(z.binding.Subjects) != 1 || z.binding.Subjects[0].Name != pod.ServiceAccountName || z.binding.Subjects[0].Namespace != namespace {
				t.Errorf("RoleBinding %+v, want the Role bound to the server's ServiceAccount %s", z.binding, pod.ServiceAccountName)
			}

			persist := boolValue(vals, "zeppelin", "notebook", "persistence", "enabled")
			if (z.pvc != nil) != persist {
				t.Errorf("notebook claim rendered %v with persistence %v", z.pvc != nil, persist)
			}
			if z.pvc != nil && z.pvc.Annotations["helm.sh/resource-policy"] != "keep" {
				t.Error("the notebook claim is not kept on uninstall")
			}
			wantIngress := boolValue(vals, "zeppelin", "ingress", "enabled")
			if (z.ingress != nil) != wantIngress {
				t.Errorf("Ingress rendered %v with ingress.enabled %v", z.ingress != nil, wantIngress)
			}
			if z.ingress != nil {
				r := z.ingress.Spec.Rules[0]
				if r.Host != "zeppelin.example.com" || r.HTTP.Paths[0].Backend.Service.Name != z.svc.Name || r.HTTP.Paths[0].Backend.Service.Port.Name != "http" {
					t.Errorf("Ingress rule %+v, want zeppelin.example.com to the Service's http port", r)
				}
			}
		})
	}
}

// interpreterSettings decodes the ConfigMap's interpreter.json into setting -> property
// -> value.
func interpreterSettings(t *testing.T, data string) map[string]map[string]any {
	t.Helper()
	var doc struct {
		InterpreterSettings map[string]struct {
			Group      string `json:"group"`
			Properties map[string]struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"properties"`
		} `json:"interpreterSettings"`
		InterpreterRepositories []any `json:"interpreterRepositories"`
	}
	if err := json.Unmarshal([]byte(data), &doc); err != nil {
		t.Fatalf("interpreter.json: %v\n%s", err, data)
	}
	if len(doc.InterpreterRepositories) != 0 {
		t.Errorf("interpreter.json names repositories %v: nothing is to be fetched at run time", doc.InterpreterRepositories)
	}
	out := map[string]map[string]any{}
	for name, s := range doc.InterpreterSettings {
		if s.Group != name {
			t.Errorf("setting %s is of group %s", name, s.Group)
		}
		out[name] = map[string]any{}
		for k, p := range s.Properties {
			if p.Name != k {
				t.Errorf("setting %s: property %s named %s", name, k, p.Name)
			}
			out[name][k] = p.Value
		}
	}
	return out
}

// TestZeppelinInterpreterSettings checks interpreter.json: the JDBC interpreter on
// MariaDB Connector/J to the release's SQL Service, the password left for the conf
// initContainer, and with Spark the cluster's master, image and the grid.
func TestZeppelinInterpreterSettings(t *testing.T) {
	for _, s := range zeppelinSets {
		t.Run(s.name, func(t *testing.T) {
			vals := zeppelinValues(t, s)
			auth := boolValue(vals, "global", "auth", "enabled")
			settings := interpreterSettings(t, zeppelinOf(t, mustRenderZeppelin(t, s).manifest).cm.Data["interpreter.json"])
			wantPass := ""
			if auth {
				wantPass = "@INSIGHT_PASSWORD@"
			}
			for k, want := range map[string]any{
				"default.driver":       "org.mariadb.jdbc.Driver",
				"default.url":          "jdbc:mariadb://demo-insight-sql.insight.svc.cluster.local:3306/insight",
				"default.user":         "insight",
				"default.password":     wantPass,
				"default.testOnBorrow": "true",
				"common.max_count":     float64(1000),
			} {
				if got := settings["jdbc"][k]; got != want {
					t.Errorf("jdbc %s = %v, want %v", k, got, want)
				}
			}
			spark, ok := settings["spark"]
			if ok != boolValue(vals, "zeppelin", "spark", "enabled") {
				t.Fatalf("spark setting present %v with zeppelin.spark.enabled %v", ok, !ok)
			}
			if !ok {
				return
			}
			for k, want := range map[string]any{
				"spark.master":                     "k8s://https://kubernetes.default.svc",
				"spark.submit.deployMode":          "client",
				"spark.kubernetes.container.image": "ghcr.io/insightgrid/insight-spark:0.1.0",
				"spark.kubernetes.namespace":       namespace,
				"spark.redis.host":                 "demo-insight-pu.insight.svc.cluster.local",
				"spark.redis.port":                 "6379",
				"spark.redis.auth":                 "@INSIGHT_PASSWORD@",
				"SPARK_HOME":                       "/spark",
			} {
				if got := spark[k]; got != want {
					t.Errorf("spark %s = %v, want %v", k, got, want)
				}
			}
		})
	}
}

// TestZeppelinConfInitScript runs the conf initContainer's script with /bin/sh and sed on
// this machine, its paths moved into a temporary directory, and checks that the
// interpreter.json it writes is valid JSON holding the grid's password as it is.
func TestZeppelinConfInitScript(t *testing.T) {
	s := zeppelinSets[1]
	z := zeppelinOf(t, mustRenderZeppelin(t, s).manifest)
	conf := z.deploy.Spec.Template.Spec.InitContainers[0]
	if conf.Name != "conf" || len(conf.Command) != 3 || conf.Command[0] != "/bin/sh" {
		t.Fatalf("initContainer %s %q, want conf running a /bin/sh script", conf.Name, conf.Command)
	}
	dir := t.TempDir()
	for _, d := range []string{"image/conf", "conf", "settings"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "image/conf/zeppelin-site.xml.template"), []byte("<configuration/>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "settings/interpreter.json"), []byte(z.cm.Data["interpreter.json"]), 0o644); err != nil {
		t.Fatal(err)
	}
	script := strings.NewReplacer("/opt/zeppelin/conf", dir+"/image/conf", "/insight/conf", dir+"/conf", "/insight/settings", dir+"/settings").Replace(conf.Command[2])
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Env = append(os.Environ(), "INSIGHT_PASSWORD="+zeppelinPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the conf script: %v\n%s\n%s", err, out, script)
	}
	if _, err := os.Stat(filepath.Join(dir, "conf/zeppelin-site.xml.template")); err != nil {
		t.Errorf("the image's conf was not copied: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "conf/interpreter.json"))
	if err != nil {
		t.Fatal(err)
	}
	settings := interpreterSettings(t, string(data))
	if got := settings["jdbc"]["default.password"]; got != zeppelinPassword {
		t.Errorf("jdbc default.password %q, want %q", got, zeppelinPassword)
	}
	if got := settings["spark"]["spark.redis.auth"]; got != zeppelinPassword {
		t.Errorf("spark spark.redis.auth %q, want %q", got, zeppelinPassword)
	}
}

// jinjaVar is a jinjava expression of the interpreter spec.
var jinjaVar = regexp.MustCompile(`\{\{\s*([a-zA-Z0-9_.]+)\s*\}\}`)

// renderInterpreterSpec evaluates the spec template as K8sStandardInterpreterLauncher's
// jinjava does for one interpreter group, within what the template uses: "{% if %}" on
// the group's name or a variable being defined, "{% else %}", "{% endif %}", and the
// envs loop (given no envs); variables become their values.
func renderInterpreterSpec(t *testing.T, spec string, vars map[string]string) string {
	t.Helper()
	cond := regexp.MustCompile(`^\{% if (\S+) (?:== "([^"]*)"|is defined) %\}$`)
	var out []string
	var stack []bool // whether the current branch of each open if is taken
	loop := false
	taken := func() bool {
		for _, b := range stack {
			if !b {
				return false
			}
		}
		return !loop
	}
	for _, line := range strings.Split(spec, "\n") {
		tag := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(tag, "{% if "):
			m := cond.FindStringSubmatch(tag)
			if m == nil {
				t.Fatalf("unknown condition %q", tag)
			}
			v, defined := vars[m[1]]
			if strings.Contains(tag, "==") {
				stack = append(stack, v == m[2])
			} else {
				stack = append(stack, defined)
			}
		case tag == "{% else %}":
			stack[len(stack)-1] = !stack[len(stack)-1]
		case tag == "{% endif %}":
			stack = stack[:len(stack)-1]
		case strings.HasPrefix(tag, "{% for "):
			loop = true
		case tag == "{% endfor %}":
			loop = false
		case strings.HasPrefix(tag, "{%") || strings.HasPrefix(tag, "{#"):
			t.Fatalf("unknown tag %q", tag)
		case taken():
			out = append(out, jinjaVar.ReplaceAllStringFunc(line, func(s string) string {
				name := jinjaVar.FindStringSubmatch(s)[1]
				v, ok := vars[name]
				if !ok {
					t.Errorf("the spec uses %s, which the launcher does not set", name)
				}
				return v
			}))
		}
	}
	if len(stack) != 0 || loop {
		t.Fatal("unclosed if or for")
	}
	return strings.Join(out, "\n")
}

// launcherVars are the variables the launcher binds for an interpreter of group.
func launcherVars(group string) map[string]string {
	return map[string]string{
		"zeppelin.k8s.namespace":                   namespace,
		"zeppelin.k8s.interpreter.pod.name":        group + "-abcdef",
		"zeppelin.k8s.interpreter.group.id":        group + "-shared_process",
		"zeppelin.k8s.interpreter.setting.name":    group,
		"zeppelin.k8s.interpreter.group.name":      group,
		"zeppelin.k8s.interpreter.container.name":  group,
		"zeppelin.k8s.interpreter.container.image": "docker.io/apache/zeppelin:0.12.0",
		"zeppelin.k8s.interpreter.rpc.portRange":   "12321:12321",
		"zeppelin.k8s.server.rpc.service":          "demo-insight-zeppelin.insight.svc",
		"zeppelin.k8s.server.rpc.portRange":        "12320",
		"zeppelin.k8s.interpreter.localRepo":       "/opt/zeppelin/local-repo",
		"zeppelin.k8s.server.pod.name":             "demo-insight-zeppelin-7d9f-abcde",
		"zeppelin.k8s.server.uid":                  "0b5d4f2e-0000-4000-8000-000000000000",
	}
}

// zeppelinConfigMap is the Zeppelin ConfigMap of s's render, or nil without Zeppelin.
func zeppelinConfigMap(t *testing.T, s valueSet) *corev1.ConfigMap {
	t.Helper()
	for _, obj := range decode(t, mustRender(t, s).manifest) {
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Labels[labelName] == "insight-zeppelin" {
			return cm
		}
	}
	return nil
}

// interpreterPod renders the spec for group and decodes its Pod and Service strictly.
func interpreterPod(t *testing.T, cm *corev1.ConfigMap, group string) (*corev1.Pod, *corev1.Service) {
	t.Helper()
	spec := cm.Data["100-interpreter-spec.yaml"]
	if left := regexp.MustCompile(`@[A-Z_]+@`).FindAllString(spec, -1); len(left) > 0 {
		t.Fatalf("tokens left in the interpreter spec: %v", left)
	}
	var pod *corev1.Pod
	var svc *corev1.Service
	for _, obj := range decode(t, renderInterpreterSpec(t, spec, launcherVars(group))) {
		switch o := obj.(type) {
		case *corev1.Pod:
			pod = o
		case *corev1.Service:
			svc = o
		default:
			t.Errorf("the interpreter spec holds a %T: the launcher applies pods, services and configmaps", obj)
		}
	}
	if pod == nil || svc == nil {
		t.Fatalf("interpreter spec for %s: Pod %v, Service %v, want both", group, pod != nil, svc != nil)
	}
	return pod, svc
}

// TestZeppelinInterpreterSpec renders the interpreter pods' spec for the JDBC and Spark
// interpreters and checks the pods: the labels the NetworkPolicies select, the restricted
// contexts with a volume for every directory the interpreter writes, Connector/J copied
// in by an initContainer and on the classpath, the Spark home copied from the Spark image
// for Spark alone, the token mounted for Spark alone, and the Service selecting the pod.
func TestZeppelinInterpreterSpec(t *testing.T) {
	z := zeppelinOf(t, mustRenderZeppelin(t, zeppelinSets[1]).manifest)
	for _, group := range []string{"jdbc", "spark"} {
		t.Run(group, func(t *testing.T) {
			pod, svc := interpreterPod(t, z.cm, group)
			for k, v := range map[string]string{labelName: "insight-zeppelin", labelInstance: releaseName, labelComponent: "zeppelin-interpreter", "app": pod.Name} {
				if pod.Labels[k] != v {
					t.Errorf("pod label %s=%q, want %q", k, pod.Labels[k], v)
				}
			}
			for k, v := range z.policies["demo-insight-zeppelin-interpreter"].Spec.PodSelector.MatchLabels {
				if pod.Labels[k] != v {
					t.Errorf("pod label %s=%q: the interpreter pods' NetworkPolicy selects %s=%q", k, pod.Labels[k], k, v)
				}
			}
			if svc.Name != pod.Name || svc.Spec.Selector["app"] != pod.Name {
				t.Errorf("Service %s selects %v, want the pod %s", svc.Name, svc.Spec.Selector, pod.Name)
			}
			if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "Pod" {
				t.Errorf("owner references %+v, want the server's pod", pod.OwnerReferences)
			}
			spark := group == "spark"
			if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken != spark {
				t.Errorf("automountServiceAccountToken %v, want %v (only Spark's driver calls the API)", pod.Spec.AutomountServiceAccountToken, spark)
			}
			if pod.Spec.ServiceAccountName != z.deploy.Spec.Template.Spec.ServiceAccountName {
				t.Errorf("ServiceAccount %s, want the server's", pod.Spec.ServiceAccountName)
			}
			if psc := pod.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil {
				t.Errorf("pod securityContext %+v, want the restricted one", psc)
			}
			var inits []string
			for _, c := range pod.Spec.InitContainers {
				inits = append(inits, c.Name+"="+c.Image)
			}
			want := []string{"jdbc-driver=ghcr.io/insightgrid/insight-spark:0.1.0"}
			if spark {
				want = append(want, "spark-home=ghcr.io/insightgrid/insight-spark:0.1.0")
			}
			if !slices.Equal(inits, want) {
				t.Errorf("initContainers %v, want %v", inits, want)
			}
			volumes := map[string]bool{}
			for _, v := range pod.Spec.Volumes {
				volumes[v.Name] = v.EmptyDir != nil
			}
			for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
				if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("container %s: securityContext %+v, want the restricted one", c.Name, sc)
				}
				if c.Resources.Limits.Memory().IsZero() || c.Resources.Limits.StorageEphemeral().IsZero() || c.Resources.Requests.Cpu().IsZero() {
					t.Errorf("container %s: resources %+v, want requests and limits", c.Name, c.Resources)
				}
				for _, m := range c.VolumeMounts {
					if !volumes[m.Name] {
						t.Errorf("container %s mounts %s, which is not an emptyDir of the pod", c.Name, m.Name)
					}
				}
			}
			c := pod.Spec.Containers[0]
			if e := env(c, "ZEPPELIN_INTP_CLASSPATH_OVERRIDES"); e == nil || e.Value != "/opt/insight/jdbc/mariadb-java-client-3.5.11.jar" {
				t.Errorf("ZEPPELIN_INTP_CLASSPATH_OVERRIDES %+v, want the copied driver", e)
			}
			mounts := map[string]bool{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = true
			}
			for _, path := range []string{"/opt/insight/jdbc", "/tmp", "/opt/zeppelin/logs", "/opt/zeppelin/run", "/opt/zeppelin/local-repo"} {
				if !mounts[path] {
					t.Errorf("nothing mounted on %s", path)
				}
			}
			if mounts["/spark"] != spark {
				t.Errorf("/spark mounted %v, want %v", mounts["/spark"], spark)
			}
			if got := strings.Join(c.Args, " "); got != fmt.Sprintf("$(ZEPPELIN_HOME)/bin/interpreter.sh -d $(ZEPPELIN_HOME)/interpreter/%[1]s -r 12321:12321 -c demo-insight-zeppelin.insight.svc -p 12320 -i %[1]s-shared_process -l /opt/zeppelin/local-repo/%[1]s -g %[1]s", group) {
				t.Errorf("args %q", got)
			}
		})
	}
}

// TestZeppelinBadValues checks that bad Zeppelin values are refused with the key as the
// user wrote it.
func TestZeppelinBadValues(t *testing.T) {
	tests := []struct {
		name, set string
		want      []string
	}{
		{"unknown run mode", "zeppelin.enabled=true,sql.enabled=true,zeppelin.runMode=yarn", []string{"/zeppelin/runMode", "value must be one of 'k8s', 'local'"}},
		{"misspelt key", "zeppelin.enabled=true,zeppelin.replicas=2", []string{"/zeppelin", "additional properties 'replicas' not allowed"}},
		{"driver path not a jar", "zeppelin.jdbcDriver.path=/opt/spark/jars", []string{"/zeppelin/jdbcDriver/path", "does not match pattern"}},
		{"JDBC URL not JDBC", "zeppelin.jdbc.url=mysql://x:3306/db", []string{"/zeppelin/jdbc/url", "does not match pattern"}},
		{"rows not a number", "zeppelin.jdbc.maxCount=0", []string{"/zeppelin/jdbc/maxCount", "minimum: got 0, want 1"}},
		{"interpreter memory not a quantity", "zeppelin.interpreter.memory=lots", []string{"/zeppelin/interpreter/memory", "'lots' does not match pattern"}},
		{"notebook size not a quantity", "zeppelin.notebook.persistence.size=big", []string{"/zeppelin/notebook/persistence/size", "'big' does not match pattern"}},
		{"rpc port out of range", "zeppelin.service.rpcPort=70000", []string{"/zeppelin/service/rpcPort", "maximum: got 70,000, want 65,535"}},
		{"no API server peer", "zeppelin.networkPolicy.apiServer=null", []string{"/zeppelin/networkPolicy/apiServer"}},
		{"request above limit", "zeppelin.enabled=true,sql.enabled=true,zeppelin.resources.requests.memory=4Gi", []string{"zeppelin.resources.requests.memory=4Gi is above zeppelin.resources.limits.memory=2Gi"}},
		{"JDBC without SQL endpoints", "zeppelin.enabled=true", []string{"zeppelin.enabled=true with sql.enabled=false"}},
		{"launcher without RBAC", "zeppelin.enabled=true,sql.enabled=true,zeppelin.rbac.create=false", []string{"zeppelin.runMode=k8s with zeppelin.rbac.create=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, mustLoad(t, ""), valueSet{sets: []string{tt.set}}.values(t))
			if err == nil {
				t.Fatalf("--set %s was accepted", tt.set)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("--set %s: error does not contain %q:\n%v", tt.set, want, err)
				}
			}
		})
	}
	// Standalone, the chart names its keys without the prefix.
	_, err := render(t, mustLoad(t, charts.Zeppelin), valueSet{sets: []string{"rbac.create=false"}}.values(t))
	if err == nil || !strings.Contains(err.Error(), "runMode=k8s with rbac.create=false") {
		t.Errorf("standalone rbac.create=false: error %v, want one naming runMode and rbac.create", err)
	}
}

// TestZeppelinLocalRunMode checks runMode=local: no RBAC and no token, no interpreter
// policy, and the server's own egress to the SQL endpoints.
func TestZeppelinLocalRunMode(t *testing.T) {
	z := zeppelinOf(t, mustRenderZeppelin(t, valueSet{name: "local", sets: []string{"zeppelin.enabled=true,sql.enabled=true,zeppelin.runMode=local"}}).manifest)
	if z.role != nil || z.binding != nil {
		t.Error("runMode=local renders RBAC")
	}
	if a := z.deploy.Spec.Template.Spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("runMode=local mounts the token")
	}
	if _, ok := z.policies["demo-insight-zeppelin-interpreter"]; ok {
		t.Error("runMode=local renders the interpreter pods' NetworkPolicy")
	}
}

// TestZeppelinUpgradeKeepsImmutableFields checks that the next chart and app version
// changes no immutable field of Zeppelin's objects (the Deployment's selector above all).
func TestZeppelinUpgradeKeepsImmutableFields(t *testing.T) {
	for _, s := range zeppelinSets {
		t.Run(s.name, func(t *testing.T) {
			want := immutables(t, decode(t, mustRenderZeppelin(t, s).manifest))
			if _, ok := want["Deployment/demo-insight-zeppelin"]; !ok {
				t.Fatal("no Deployment demo-insight-zeppelin")
			}
			if got := immutables(t, renderBumpedValues(t, zeppelinValues(t, s))); !reflect.DeepEqual(got, want) {
				t.Errorf("the version upgrade changes immutable fields:\nbefore %+v\nafter  %+v", want, got)
			}
		})
	}
}
