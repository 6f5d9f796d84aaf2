package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/install"
	"github.com/insightgrid/insight/cli/internal/depstest"
	"github.com/insightgrid/insight/grid/api"
)

// dataPod is instance i of partition p at 10.0.p.i.
func dataPod(p, i int) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("demo-insight-pu-%d-%d", p, i), Namespace: "default", Labels: map[string]string{
			"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "pu",
			"insight.dev/partition": fmt.Sprint(p), "apps.kubernetes.io/pod-index": fmt.Sprint(i)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pu", Image: "insight/insight-grid:0.1.0", Args: []string{"data"},
			Env: []corev1.EnvVar{{Name: "INSIGHT_REQUIREPASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "demo-insight-auth"}, Key: "password"}}}},
			Ports: []corev1.ContainerPort{{Name: "resp", ContainerPort: 6379}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.0.%d.%d", p, i)},
	}
}

// fakeCluster plays a release of two ha partitions and the check's Job: its pod runs once
// created, prints the started document, and ends with result when told to.
type fakeCluster struct {
	mu       sync.Mutex
	pods     []corev1.Pod
	created  *Workload
	started  bool // the started document is in the log
	ended    bool
	result   *api.CheckReport
	deleted  []string // pods deleted
	removed  []string // Jobs removed
	failJob  string
	createFn func() error
	// onDelete runs when a pod is deleted (the Job ends then in the tests).
	onDelete func(f *fakeCluster)
}

func newFake() *fakeCluster {
	return &fakeCluster{pods: []corev1.Pod{dataPod(0, 0), dataPod(0, 1), dataPod(1, 0), dataPod(1, 1)}, started: true}
}

func slots() []api.SlotRange {
	return []api.SlotRange{{From: 0, To: 8191, Nodes: []string{"10.0.0.0:6379", "10.0.0.1:6379"}},
		{From: 8192, To: 16383, Nodes: []string{"10.0.1.0:6379", "10.0.1.1:6379"}}}
}

func (f *fakeCluster) DataPods(context.Context) ([]corev1.Pod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]corev1.Pod(nil), f.pods...), nil
}

func (f *fakeCluster) Create(_ context.Context, w *Workload) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createFn != nil {
		if err := f.createFn(); err != nil {
			return err
		}
	}
	f.created = w
	return nil
}

func (f *fakeCluster) Job(_ context.Context, name string) (JobState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.created == nil || f.created.Job.Name != name {
		return JobState{}, errors.New("not found")
	}
	phase := corev1.PodRunning
	if f.ended {
		phase = corev1.PodSucceeded
	}
	return JobState{Failed: f.failJob, Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name + "-x"}, Status: corev1.PodStatus{Phase: phase}}}, nil
}

func (f *fakeCluster) Logs(context.Context, string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	b.WriteString("insight-grid check: writing\n")
	if f.started {
		j, _ := json.Marshal(api.CheckReport{SchemaVersion: api.CheckSchema, Kind: api.CheckStarted, Slots: slots()})
		b.Write(append(j, '\n'))
	}
	if f.ended && f.result != nil {
		j, _ := json.Marshal(f.result)
		b.Write(append(j, '\n'))
	}
	return []byte(b.String()), nil
}

func (f *fakeCluster) DeletePod(_ context.Context, name string) error {
	f.mu.Lock()
	f.deleted = append(f.deleted, name)
	on := f.onDelete
	f.mu.Unlock()
	if on != nil {
		on(f)
	}
	return nil
}

func (f *fakeCluster) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, name)
	return nil
}

func (f *fakeCluster) end(r *api.CheckReport) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.result, f.ended = r, true
}

func result(acked, lost int64) *api.CheckReport {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &api.CheckReport{SchemaVersion: api.CheckSchema, Kind: api.CheckResult, Slots: slots(), Started: t0, Ended: t0.Add(30 * time.Second),
		Writers: 4, Rate: 200, Attempted: acked + 3, Acknowledged: acked, Failed: 3, Lost: lost,
		LongestGapMicros: 812000, GapStart: t0.Add(10 * time.Second), P50Micros: 900, P99Micros: 4100, MaxMicros: 812000}
	for i := range lost {
		r.LostKeys = append(r.LostKeys, fmt.Sprintf("insight-check:x:0:%d", i))
	}
	return r
}

func options(disrupt string) Options {
	return Options{Release: "demo", Disrupt: disrupt, Duration: 30 * time.Millisecond, Rate: 200, Writers: 4, Timeout: 5 * time.Second}
}

func TestKillPrimaryReportsNothingLost(t *testing.T) {
	w := depstest.New(t, "demo", nil)
	w.IO.Output = "json"
	f := newFake()
	f.onDelete = func(f *fakeCluster) { f.end(result(5987, 0)) }
	if err := Check(context.Background(), w.Deps, options(KillPrimary), f, nil); err != nil {
		t.Fatalf("%v\n%s", err, w.ErrOut)
	}
	if len(f.deleted) != 1 || f.deleted[0] != "demo-insight-pu-0-0" {
		t.Errorf("pods deleted %v, want the primary of partition 0", f.deleted)
	}
	if len(f.removed) != 1 || f.removed[0] != f.created.Job.Name {
		t.Errorf("Jobs removed %v, want %s", f.removed, f.created.Job.Name)
	}
	var r Report
	if err := json.Unmarshal(w.Out.Bytes(), &r); err != nil {
		t.Fatalf("%v\n%s", err, w.Out)
	}
	if r.SchemaVersion != SchemaVersion || r.Writes.Acknowledged != 5987 || r.Writes.Lost != 0 || r.Writes.LongestGapMs != 812 ||
		r.Writes.GapAfterSeconds != 10 || r.Writes.P99Ms != 4.1 || r.Disruption == nil || r.Disruption.Pod != "demo-insight-pu-0-0" {
		t.Errorf("report %+v", r)
	}
	if len(r.Partitions) != 2 || r.Partitions[1].ID != 1 || r.Partitions[1].Primary != "demo-insight-pu-1-0 (10.0.1.0:6379)" ||
		strings.Join(r.Partitions[1].Backups, ",") != "demo-insight-pu-1-1 (10.0.1.1:6379)" {
		t.Errorf("partition map %+v", r.Partitions)
	}
}

func TestLostWritesFailWithTheReport(t *testing.T) {
	w := depstest.New(t, "demo", nil)
	f := newFake()
	f.end(result(100, 2))
	err := Check(context.Background(), w.Deps, options(None), f, nil)
	if err == nil || exit.Code(err) != exit.Failure || !strings.Contains(err.Error(), "2 of 100 acknowledged writes lost (first: insight-check:x:0:0, insight-check:x:0:1)") {
		t.Fatalf("error %v (exit %d), want 2 of 100 lost, exit 1", err, exit.Code(err))
	}
	for _, want := range []string{"Disruption: none", "lost writes              2         (first: insight-check:x:0:0 insight-check:x:0:1)", "longest write gap        812.0 ms  (from +10.0s)",
		"PARTITION  SLOTS       PRIMARY                              BACKUP", "0          0-8191      demo-insight-pu-0-0 (10.0.0.0:6379)"} {
		if !strings.Contains(w.Out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, w.Out)
		}
	}
	if len(f.removed) != 1 || len(f.deleted) != 0 {
		t.Errorf("removed %v deleted %v", f.removed, f.deleted)
	}
}

func TestSwitchoverThroughTheManager(t *testing.T) {
	w := depstest.New(t, "demo", nil)
	f := newFake()
	o := options(Switchover)
	o.Partition = 1
	var asked []int
	failover := func(_ context.Context, p int) (*api.SwitchResult, error) {
		asked = append(asked, p)
		f.end(result(10, 0))
		return &api.SwitchResult{Partition: p, From: "p1-i0", To: "p1-i1", Epoch: 3, PauseMicros: 1200}, nil
	}
	if err := Check(context.Background(), w.Deps, o, f, failover); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != 1 || len(f.deleted) != 0 {
		t.Errorf("failovers %v, pods deleted %v", asked, f.deleted)
	}
	if !strings.Contains(w.Out.String(), "Disruption: switchover at +") || !strings.Contains(w.Out.String(), "partition 1: p1-i0 -> p1-i1, epoch 3, write pause 1.20 ms") {
		t.Errorf("table:\n%s", w.Out)
	}
}

func TestCleansUpOnFailureAndCancel(t *testing.T) {
	t.Run("job failed", func(t *testing.T) {
		w := depstest.New(t, "demo", nil)
		f := newFake()
		f.started, f.failJob = false, "DeadlineExceeded: Job was active longer than specified deadline"
		err := Check(context.Background(), w.Deps, options(KillPrimary), f, nil)
		if err == nil || !strings.Contains(err.Error(), "DeadlineExceeded") || len(f.removed) != 1 || len(f.deleted) != 0 {
			t.Errorf("error %v, removed %v, deleted %v", err, f.removed, f.deleted)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		w := depstest.New(t, "demo", nil)
		f := newFake()
		f.started = false // never starts
		ctx, cancel := context.WithCancel(context.Background())
		// Ctrl-C once the Job exists, while the check waits for its writers.
		f.createFn = func() error { cancel(); return nil }
		err := Check(ctx, w.Deps, options(None), f, nil)
		if !errors.Is(err, context.Canceled) || len(f.removed) != 1 {
			t.Errorf("error %v, removed %v", err, f.removed)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		w := depstest.New(t, "demo", nil)
		f := newFake()
		f.started = false
		o := options(None)
		o.Timeout = 50 * time.Millisecond
		err := Check(context.Background(), w.Deps, o, f, nil)
		if exit.Code(err) != exit.Timeout || len(f.removed) != 1 {
			t.Errorf("error %v (exit %d), removed %v", err, exit.Code(err), f.removed)
		}
	})
	t.Run("create failed", func(t *testing.T) {
		w := depstest.New(t, "demo", nil)
		f := newFake()
		f.createFn = func() error { return errors.New("Job: forbidden") }
		err := Check(context.Background(), w.Deps, options(None), f, nil)
		if err == nil || !strings.Contains(err.Error(), "create the check's Job demo-insight-check-") || len(f.removed) != 1 {
			t.Errorf("error %v, removed %v", err, f.removed)
		}
	})
	t.Run("no result", func(t *testing.T) {
		w := depstest.New(t, "demo", nil)
		f := newFake()
		f.end(nil)
		err := Check(context.Background(), w.Deps, options(None), f, nil)
		if err == nil || !strings.Contains(err.Error(), "ended (Succeeded) without a result; its log ends:\ninsight-grid check: writing") || len(f.removed) != 1 {
			t.Errorf("error %v, removed %v", err, f.removed)
		}
	})
}

func TestWorkloadIsRestricted(t *testing.T) {
	wl, err := NewWorkload(options(None), "default", newFake().pods, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	j := wl.Job
	if j.Name != "demo-insight-check-abc123" || wl.ServiceAccount.Name != j.Name || j.Labels["app.kubernetes.io/instance"] != "" {
		t.Errorf("names/labels: job %s sa %s labels %v", j.Name, wl.ServiceAccount.Name, j.Labels)
	}
	if *j.Spec.BackoffLimit != 0 || j.Spec.ActiveDeadlineSeconds == nil || j.Spec.TTLSecondsAfterFinished == nil {
		t.Errorf("job limits: %+v", j.Spec)
	}
	ps := j.Spec.Template.Spec
	c := ps.Containers[0]
	sc := c.SecurityContext
	if ps.ServiceAccountName != j.Name || *ps.AutomountServiceAccountToken || ps.RestartPolicy != corev1.RestartPolicyNever ||
		!*ps.SecurityContext.RunAsNonRoot || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault ||
		!*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" || !*sc.RunAsNonRoot ||
		c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("pod not restricted: %+v\n%+v", ps, c)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if c.Image != "insight/insight-grid:0.1.0" || strings.Join(c.Args, " ") != "check" ||
		env["INSIGHT_ADDRS"].Value != "10.0.0.0:6379,10.0.0.1:6379,10.0.1.0:6379,10.0.1.1:6379" ||
		env["INSIGHT_DURATION"].Value != "30ms" || env["INSIGHT_PREFIX"].Value != "insight-check:abc123:" ||
		env["INSIGHT_REQUIREPASS"].ValueFrom.SecretKeyRef.Name != "demo-insight-auth" {
		t.Errorf("container: %s %v %+v", c.Image, c.Args, env)
	}
	if _, err := NewWorkload(options(None), "default", nil, "x"); err == nil || !strings.Contains(err.Error(), "release demo has no data pods in namespace default") {
		t.Errorf("no pods: %v", err)
	}
}

func TestValidateAndAllowed(t *testing.T) {
	o := options("explode")
	o.Duration, o.Rate, o.Writers, o.Partition, o.Timeout = time.Second, 0, 100, -1, time.Second
	err := o.Validate()
	for _, want := range []string{"--disrupt: must be one of none, switchover, kill-primary (given: explode)", "--partition", "--duration: must be 5s to 30m0s (given: 1s)",
		"--rate", "--writers", "--timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
	if exit.Code(err) != exit.BadInput {
		t.Errorf("exit %d, want 2", exit.Code(err))
	}
	o = options(KillPrimary)
	o.Duration = 30 * time.Second
	o.Timeout = 0
	if err := o.Validate(); err != nil {
		t.Errorf("valid options: %v", err)
	}
	err = o.Allowed(install.Shape{Partitions: 2})
	if exit.Code(err) != exit.BadInput || !strings.Contains(err.Error(), "runs without pu.ha") || !strings.Contains(err.Error(), "--force") {
		t.Errorf("non-ha without --force: %v", err)
	}
	o.Force = true
	if err := o.Allowed(install.Shape{Partitions: 2}); err != nil {
		t.Errorf("--force: %v", err)
	}
	o.Partition = 2
	if err := o.Allowed(install.Shape{Partitions: 2, HA: true}); err == nil || !strings.Contains(err.Error(), "release demo has 2 partition(s): 0-1") {
		t.Errorf("partition out of range: %v", err)
	}
	if err := options(None).Allowed(install.Shape{Partitions: 1}); err != nil {
		t.Errorf("no disruption of a non-ha release: %v", err)
	}
}
