package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/cli/submit"
)

const sparkPiJar = "local:///opt/insight/examples/insight-examples.jar"

// rendered caches sparkConfigMap's renders by their extra flags.
var (
	renderedMu sync.Mutex
	rendered   = map[string]*corev1.ConfigMap{}
)

// sparkConfigMap is the ConfigMap the chart renders for release demo with Spark on, as
// 'insightctl template' prints it (with the uid a cluster would give it).
func sparkConfigMap(t *testing.T, extra string) *corev1.ConfigMap {
	t.Helper()
	renderedMu.Lock()
	defer renderedMu.Unlock()
	if cm, ok := rendered[extra]; ok {
		return cm.DeepCopy()
	}
	r := runCmd(t, cluster{}, "template demo -n default --enable spark "+extra)
	if r.code != 0 {
		t.Fatalf("template: %s", r)
	}
	for _, doc := range releaseutil.SplitManifests(r.out) {
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(doc), &cm); err == nil && cm.Kind == "ConfigMap" && cm.Name == "demo-insight-spark" {
			cm.UID = types.UID("spark-configmap-uid")
			rendered[extra] = &cm
			return cm.DeepCopy()
		}
	}
	t.Fatalf("template renders no ConfigMap demo-insight-spark:\n%s", r.out)
	return nil
}

// sparkCluster is release demo with Spark on (or off), its Spark ConfigMap, and pods.
func sparkCluster(t *testing.T, enabled bool, objects ...runtime.Object) cluster {
	t.Helper()
	vals := map[string]any{"spark": map[string]any{"enabled": enabled}}
	objs := append([]runtime.Object{}, objects...)
	if enabled {
		objs = append(objs, sparkConfigMap(t, ""))
	}
	return cluster{objects: objs, releases: []*release.Release{deployedRelease("demo", 1, vals, release.StatusDeployed)}}
}

// driverSteps makes each read of a job's driver pod return the next status of steps (the
// last one then stays), and keeps executors[i] executor pods of the job while at step i:
// the test moves the pod through its life as a kubelet would.
func driverSteps(pod string, steps []corev1.PodStatus, executors []int) func(*Env) {
	return func(e *Env) {
		e.PollInterval = time.Millisecond
		connect := e.Connect
		e.Connect = func(g *GlobalFlags) (*Clients, error) {
			c, err := connect(g)
			if err != nil {
				return nil, err
			}
			kube := c.Kube.(*fake.Clientset)
			var mu sync.Mutex
			step := 0
			kube.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if get, ok := a.(k8stesting.GetAction); !ok || get.GetName() != pod || a.GetSubresource() != "" {
					return false, nil, nil
				}
				mu.Lock()
				defer mu.Unlock()
				obj, err := kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), a.GetNamespace(), pod)
				if err != nil {
					return true, nil, err
				}
				p := obj.(*corev1.Pod).DeepCopy()
				i := min(step, len(steps)-1)
				step++
				p.Status = steps[i]
				job := p.Labels[submit.LabelApp]
				for n := 1; n <= executors[i]; n++ {
					exec := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-exec-%d", job, n), Namespace: p.Namespace,
						Labels: map[string]string{submit.LabelApp: job, submit.LabelRole: "executor", "app.kubernetes.io/instance": "demo"}},
						Status: corev1.PodStatus{Phase: corev1.PodRunning}}
					_ = kube.Tracker().Add(exec) // already there from an earlier step: kept
				}
				return true, p, nil
			})
			return c, nil
		}
	}
}

func unschedulable() corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient memory."}}}
}

func driverState(phase corev1.PodPhase, state corev1.ContainerState) corev1.PodStatus {
	return corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{Name: submit.DriverContainer, State: state}}}
}

func running() corev1.PodStatus {
	return driverState(corev1.PodRunning, corev1.ContainerState{Running: &corev1.ContainerStateRunning{}})
}

func exited(code int32) corev1.PodStatus {
	phase := corev1.PodSucceeded
	if code != 0 {
		phase = corev1.PodFailed
	}
	return driverState(phase, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: map[bool]string{true: "Completed", false: "Error"}[code == 0]}})
}

// driverPod is the job's driver pod as created.
func driverPod(t *testing.T, r result, job string) *corev1.Pod {
	t.Helper()
	obj, err := r.kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), "default", job+"-driver")
	if err != nil {
		t.Fatalf("driver pod %s-driver: %v\n%s", job, err, r)
	}
	return obj.(*corev1.Pod)
}

// TestSubmitCreatesDriverPod checks the driver pod submit creates from the chart's
// template: its name and labels, the release's Spark ConfigMap as owner, the template's
// identity and security kept, and spark-submit in client mode with the job's conf.
func TestSubmitCreatesDriverPod(t *testing.T) {
	r := runGolden(t, sparkCluster(t, true), "submit demo --class io.insightgrid.examples.SparkPi --jar "+sparkPiJar+
		" --executors 3 --executor-memory 2g --conf spark.sql.shuffle.partitions=64 --conf spark.eventLog.dir=$(HOME)/x --name pi --wait=false -- 100 $(SECRET)",
		"", 0, "submit-no-wait.golden")
	p := driverPod(t, r, "pi")
	if p.Labels[submit.LabelApp] != "pi" || p.Labels[submit.LabelRole] != "driver" || p.Labels["app.kubernetes.io/instance"] != "demo" ||
		p.Labels["app.kubernetes.io/component"] != "spark" || p.Labels["app.kubernetes.io/managed-by"] != "insightctl" {
		t.Errorf("driver labels %v", p.Labels)
	}
	if want := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "demo-insight-spark", UID: "spark-configmap-uid"}}; !slices.Equal(p.OwnerReferences, want) {
		t.Errorf("owner references %+v, want %+v", p.OwnerReferences, want)
	}
	if p.Spec.ServiceAccountName != "demo-insight-spark" || p.Spec.AutomountServiceAccountToken == nil || !*p.Spec.AutomountServiceAccountToken ||
		p.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("driver identity: serviceAccountName %q automount %v restartPolicy %q", p.Spec.ServiceAccountName, p.Spec.AutomountServiceAccountToken, p.Spec.RestartPolicy)
	}
	if sc := p.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 185 || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("driver pod securityContext %+v, want the template's", sc)
	}
	c := p.Spec.Containers[0]
	if c.Name != submit.DriverContainer || c.Image != "ghcr.io/insightgrid/insight-spark:0.1.0" || c.Command != nil {
		t.Errorf("container %s image %s command %q: want the template's image and its entrypoint", c.Name, c.Image, c.Command)
	}
	want := []string{"/opt/spark/bin/spark-submit",
		"--master", "k8s://https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)",
		"--deploy-mode", "client", "--name", "pi",
		"--conf", "spark.driver.host=$(SPARK_LOCAL_IP)",
		"--conf", "spark.driver.bindAddress=$(SPARK_LOCAL_IP)",
		"--conf", "spark.kubernetes.driver.pod.name=$(SPARK_DRIVER_POD_NAME)",
		"--conf", "spark.kubernetes.executor.podNamePrefix=pi",
		"--conf", "spark.kubernetes.executor.label.insight.io/spark-app=pi",
		"--conf", "spark.executor.instances=3",
		"--conf", "spark.executor.memory=2g",
		"--conf", "spark.sql.shuffle.partitions=64",
		"--conf", "spark.eventLog.dir=$$(HOME)/x",
		"--class", "io.insightgrid.examples.SparkPi", sparkPiJar,
		"100", "$$(SECRET)",
	}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args\n  %q\nwant\n  %q", c.Args, want)
	}
	mounted := false
	for _, v := range p.Spec.Volumes {
		mounted = mounted || (v.ConfigMap != nil && v.ConfigMap.Name == "demo-insight-spark")
	}
	if !mounted {
		t.Errorf("the Spark ConfigMap is not among the driver's volumes %+v", p.Spec.Volumes)
	}
}

// TestSubmitWithAuth checks that with global.auth the driver passes the grid's password,
// from the template's Secret variable, to the Redis connector and JDBC, never in clear.
func TestSubmitWithAuth(t *testing.T) {
	c := sparkCluster(t, true)
	c.objects = []runtime.Object{sparkConfigMap(t, "--set global.auth.enabled=true,global.auth.password=s3cret")}
	r := runCmd(t, c, "submit demo --class a.B --jar "+sparkPiJar+" --name auth --wait=false")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	args := strings.Join(driverPod(t, r, "auth").Spec.Containers[0].Args, " ")
	for _, want := range []string{"spark.redis.auth=$(INSIGHT_GRID_PASSWORD)", "spark.insight.sql.password=$(INSIGHT_GRID_PASSWORD)"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %s lack %s", args, want)
		}
	}
	if strings.Contains(args, "s3cret") {
		t.Errorf("args hold the password: %s", args)
	}
}

// TestSubmitPyFile checks that a --py file from this machine reaches the driver in a
// ConfigMap owned by the driver pod.
func TestSubmitPyFile(t *testing.T) {
	file := t.TempDir() + "/count_rows.py"
	if err := writeFile(file, "print('hello')\n"); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, sparkCluster(t, true), "submit demo --py "+file+" --wait=false -- a b")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	job := "count-rows-20250102-030405"
	p := driverPod(t, r, job)
	args := p.Spec.Containers[0].Args
	if got := args[len(args)-3:]; !slices.Equal(got, []string{"/opt/insight/job/count_rows.py", "a", "b"}) {
		t.Errorf("args end %q, want the shipped file and the job's arguments", got)
	}
	obj, err := r.kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("configmaps"), "default", job+"-py")
	if err != nil {
		t.Fatal(err)
	}
	cm := obj.(*corev1.ConfigMap)
	if cm.Data["count_rows.py"] != "print('hello')\n" {
		t.Errorf("ConfigMap data %v", cm.Data)
	}
	if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Kind != "Pod" || cm.OwnerReferences[0].Name != p.Name {
		t.Errorf("ConfigMap owners %+v, want the driver pod", cm.OwnerReferences)
	}
}

// TestSubmitFollows checks the followed outcomes: a driver that succeeds (exit 0), one that
// fails (its exit code, with the last log lines), one whose image cannot be pulled, and one
// that stays unscheduled past --timeout (exit 4, with the scheduler's reason).
func TestSubmitFollows(t *testing.T) {
	waiting := func(reason, msg string) corev1.PodStatus {
		return driverState(corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}})
	}
	for _, tt := range []struct {
		name      string
		steps     []corev1.PodStatus
		executors []int
		flags     string
		code      int
	}{
		{"succeeded", []corev1.PodStatus{unschedulable(), waiting("ContainerCreating", ""), running(), running(), exited(0)}, []int{0, 0, 0, 2, 2}, "", 0},
		{"failed", []corev1.PodStatus{running(), exited(3)}, []int{1, 1}, "", 3},
		{"image pull", []corev1.PodStatus{waiting("ErrImagePull", "not found"), waiting("ImagePullBackOff", "Back-off pulling image")}, []int{0, 0}, "", 1},
		{"pending past timeout", []corev1.PodStatus{unschedulable()}, []int{0}, " --timeout 20ms", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			golden := "submit-" + strings.ReplaceAll(tt.name, " ", "-") + ".golden"
			r := runGolden(t, sparkCluster(t, true), "submit demo --class io.insightgrid.examples.SparkPi --jar "+sparkPiJar+" --name pi"+tt.flags+" -- 10",
				"", tt.code, golden, driverSteps("pi-driver", tt.steps, tt.executors))
			driverPod(t, r, "pi")
		})
	}
}

// TestSubmitJSON checks that with -o json the summary alone is on standard output, the
// driver's log on standard error.
func TestSubmitJSON(t *testing.T) {
	r := runCmd(t, sparkCluster(t, true), "submit demo --class a.B --jar "+sparkPiJar+" --name pi -o json",
		driverSteps("pi-driver", []corev1.PodStatus{running(), exited(0)}, []int{2, 0}))
	var sum submit.Summary
	if err := json.Unmarshal([]byte(r.out), &sum); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, r)
	}
	if r.code != 0 || sum.Name != "pi" || sum.Phase != "Succeeded" || sum.ExitCode == nil || *sum.ExitCode != 0 || sum.Executors != 2 {
		t.Errorf("summary %+v\n%s", sum, r)
	}
	if !strings.Contains(r.err, "fake logs") {
		t.Errorf("the driver's log is not on standard error:\n%s", r)
	}
}

// TestSubmitStartTimeout checks that a driver still unscheduled after --start-timeout is
// reported with the scheduler's reason (exit code 4), long before --timeout.
func TestSubmitStartTimeout(t *testing.T) {
	var mu sync.Mutex
	clock := frozen
	tick := func(e *Env) {
		e.Now = func() time.Time { // each reading is a minute later
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Minute)
			return clock
		}
	}
	r := runCmd(t, sparkCluster(t, true), "submit demo --class a.B --jar "+sparkPiJar+" --name pi --start-timeout 3m",
		driverSteps("pi-driver", []corev1.PodStatus{unschedulable()}, []int{0}), tick)
	want := "job pi: its driver did not start within --start-timeout 3m0s: Pending, not scheduled: Unschedulable 0/3 nodes are available: 3 Insufficient memory."
	if r.code != 4 || !strings.Contains(r.err, want) {
		t.Errorf("exit code %d, want 4 with %q\n%s", r.code, want, r)
	}
}

// TestSubmitBadInput checks that bad input fails with exit code 2, names the flag, and
// creates nothing.
func TestSubmitBadInput(t *testing.T) {
	for _, tt := range []struct {
		name, cmd, want string
		spark           bool
	}{
		{"missing jar", "submit demo --class a.B", "--jar: missing", true},
		{"missing class", "submit demo --jar " + sparkPiJar, "--class: missing", true},
		{"jar and py", "submit demo --class a.B --jar " + sparkPiJar + " --py local:///x.py", "--py: cannot be combined with --jar", true},
		{"jar not in the image", "submit demo --class a.B --jar /tmp/x.jar", "--jar: want a .jar as local:///path", true},
		{"zero executors", "submit demo --class a.B --jar " + sparkPiJar + " --executors 0", "--executors: must be at least 1", true},
		{"bad conf", "submit demo --class a.B --jar " + sparkPiJar + " --conf spark.x", "--conf: want key=value", true},
		{"conf not spark", "submit demo --class a.B --jar " + sparkPiJar + " --conf foo=1", "--conf: the key must be a Spark property", true},
		{"conf submit sets", "submit demo --class a.B --jar " + sparkPiJar + " --conf spark.master=local", "--conf: set by insightctl submit", true},
		{"bad memory", "submit demo --class a.B --jar " + sparkPiJar + " --executor-memory 2Gi", "--executor-memory: want Spark's format", true},
		{"bad name", "submit demo --class a.B --jar " + sparkPiJar + " --name Pi_1", "--name: want lowercase letters", true},
		{"zero start timeout", "submit demo --class a.B --jar " + sparkPiJar + " --start-timeout 0s", "--start-timeout: must be positive", true},
		{"unknown flag", "submit demo --class a.B --jar " + sparkPiJar + " --executor 2", "unknown flag: --executor", true},
		{"two releases", "submit demo other --class a.B --jar " + sparkPiJar, "at most one RELEASE before '--'", true},
		{"list with job flags", "submit demo --list --class a.B", "--list: takes no job flags", true},
		{"release without Spark", "submit demo --class a.B --jar " + sparkPiJar, "release demo does not run Spark (spark.enabled=false)", false},
		{"delete unknown job", "submit demo --delete nope", "--delete nope: no such job", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, sparkCluster(t, tt.spark), tt.cmd)
			if r.code != 2 || !strings.Contains(r.err, tt.want) {
				t.Errorf("exit code %d, want 2 with %q\n%s", r.code, tt.want, r)
			}
			for _, a := range r.kube.Actions() {
				if a.GetVerb() == "create" || a.GetVerb() == "delete" || a.GetVerb() == "patch" {
					t.Errorf("bad input changed the cluster: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

// TestSubmitExistingName checks that a second job of the same name is refused.
func TestSubmitExistingName(t *testing.T) {
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pi-driver", Namespace: "default"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	r := runCmd(t, sparkCluster(t, true, old), "submit demo --class a.B --jar "+sparkPiJar+" --name pi")
	if r.code != 2 || !strings.Contains(r.err, "--name pi: a job of that name exists (driver pod pi-driver, Succeeded)") {
		t.Errorf("%s", r)
	}
}

// TestSubmitListAndDelete checks --list (jobs newest first, with their executors and exit
// codes) and --delete (the driver pod goes; its executors follow by garbage collection).
func TestSubmitListAndDelete(t *testing.T) {
	job := func(name, main string, age time.Duration, status corev1.PodStatus) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name + "-driver", Namespace: "default",
			CreationTimestamp: metav1.NewTime(frozen.Add(-age)),
			Labels: map[string]string{submit.LabelApp: name, submit.LabelRole: "driver", "app.kubernetes.io/instance": "demo",
				"app.kubernetes.io/component": "spark", "app.kubernetes.io/name": "insight-spark"},
			Annotations: map[string]string{submit.AnnotationMain: main}}, Status: status}
	}
	exec := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "etl-exec-1", Namespace: "default",
		Labels: map[string]string{submit.LabelApp: "etl", submit.LabelRole: "executor", "app.kubernetes.io/instance": "demo",
			"app.kubernetes.io/component": "spark", "app.kubernetes.io/name": "insight-spark"}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	c := sparkCluster(t, true, job("pi", "io.insightgrid.examples.SparkPi", time.Hour, exited(0)), job("etl", "com.example.Etl", time.Minute, running()),
		job("bad", "a.B", 2*time.Hour, exited(1)), exec)
	runGolden(t, c, "submit demo --list", "", 0, "submit-list.golden")
	runGolden(t, c, "submit demo --list -o json", "", 0, "submit-list-json.golden")
	r := runGolden(t, c, "submit demo --delete etl", "", 0, "submit-delete.golden")
	if _, err := r.kube.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), "default", "etl-driver"); err == nil {
		t.Error("the driver pod etl-driver is still there")
	}
}

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o600) }
