package rollout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/internal/golden"
	"github.com/insightgrid/insight/grid/api"
)

const (
	oldRev = "demo-insight-pu-0-old"
	newRev = "demo-insight-pu-0-new"
)

// set is partition p's StatefulSet; observed false means the controller has not seen the
// latest generation yet.
func set(p, replicas int, observed bool) appsv1.StatefulSet {
	r := int32(replicas)
	s := appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("demo-insight-pu-%d", p), Generation: 2,
			Labels: map[string]string{"app.kubernetes.io/component": "pu", "insight.dev/partition": fmt.Sprint(p)}},
		Spec:   appsv1.StatefulSetSpec{Replicas: &r},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, CurrentRevision: oldRev, UpdateRevision: newRev},
	}
	if !observed {
		s.Status.ObservedGeneration, s.Status.UpdateRevision = 1, oldRev
	}
	return s
}

// pod is instance i of partition p at revision rev in state: ready, running, pending,
// terminating (a ready pod being deleted).
func pod(p, i int, rev, state string) corev1.Pod {
	po := corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("demo-insight-pu-%d-%d", p, i),
		Labels: map[string]string{"app.kubernetes.io/component": "pu", "insight.dev/partition": fmt.Sprint(p),
			"apps.kubernetes.io/pod-index": fmt.Sprint(i), "controller-revision-hash": rev},
	}}
	switch state {
	case "ready", "terminating":
		po.Spec.NodeName = "n"
		po.Status.Phase = corev1.PodRunning
		po.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if state == "terminating" {
			now := metav1.Now()
			po.DeletionTimestamp = &now
		}
	case "running":
		po.Spec.NodeName = "n"
		po.Status.Phase = corev1.PodRunning
	}
	return po
}

func record(p int, primary int, inSync bool) api.Partition {
	return api.Partition{ID: p, Epoch: 3, Primary: api.InstanceID(p, primary), Backup: api.InstanceID(p, 1-primary),
		InSync: inSync, PreferredPrimary: api.InstanceID(p, 0)}
}

func TestDerive(t *testing.T) {
	noManager := errors.New("unreachable")
	tests := []struct {
		name     string
		replicas int
		observed bool
		pods     []corev1.Pod
		rec      *api.Partition // nil: the manager is unreachable
		noWait   bool
		step     Step
		pod      string
		done     bool
	}{
		{name: "change not observed yet", replicas: 2, pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, oldRev, "ready")}, step: StepWaiting},
		{name: "controller not started", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, oldRev, "ready")}, step: StepWaiting},
		{name: "backup stopping", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, oldRev, "terminating")},
			rec: ptr(record(0, 0, true)), step: StepRestartingBackup, pod: "demo-insight-pu-0-1"},
		{name: "backup gone", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "ready")}, step: StepRestartingBackup, pod: "demo-insight-pu-0-1"},
		{name: "backup catching up", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, newRev, "running")},
			rec: ptr(record(0, 0, false)), step: StepRestartingBackup, pod: "demo-insight-pu-0-1"},
		{name: "backup in sync", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, newRev, "ready")},
			rec: ptr(record(0, 0, true)), step: StepBackupInSync, pod: "demo-insight-pu-0-1"},
		{name: "primary handing over", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "terminating"), pod(0, 1, newRev, "ready")},
			rec: ptr(record(0, 0, true)), step: StepHandingOver, pod: "demo-insight-pu-0-0"},
		{name: "primary handing over, no manager", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "terminating"), pod(0, 1, newRev, "ready")},
			step: StepHandingOver, pod: "demo-insight-pu-0-0"},
		{name: "handed over, still stopping", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, oldRev, "terminating"), pod(0, 1, newRev, "ready")},
			rec: ptr(record(0, 1, false)), step: StepRestartingOldPrimary, pod: "demo-insight-pu-0-0"},
		{name: "old primary starting", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, newRev, "pending"), pod(0, 1, newRev, "ready")},
			rec: ptr(record(0, 1, false)), step: StepRestartingOldPrimary, pod: "demo-insight-pu-0-0"},
		{name: "back in sync, waiting for failback", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready")},
			rec: ptr(record(0, 1, true)), step: StepBackInSync},
		{name: "back in sync, auto failback off", replicas: 2, observed: true, noWait: true, pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready")},
			rec: ptr(record(0, 1, true)), step: StepBackInSync, done: true},
		{name: "failed back", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready")},
			rec: ptr(record(0, 0, true)), step: StepFailedBack, done: true},
		{name: "done, roles unknown", replicas: 2, observed: true, pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready")},
			step: StepDone, done: true},
		{name: "swapped roles: the backup instance serves and hands over first", replicas: 2, observed: true,
			pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, oldRev, "terminating")}, rec: ptr(record(0, 1, true)),
			step: StepHandingOver, pod: "demo-insight-pu-0-1"},
		{name: "no backup: restarting", replicas: 1, observed: true, pods: []corev1.Pod{pod(0, 0, newRev, "running")}, step: StepRestarting, pod: "demo-insight-pu-0-0"},
		{name: "no backup: done", replicas: 1, observed: true, pods: []corev1.Pod{pod(0, 0, newRev, "ready")}, rec: ptr(record(0, 0, false)), step: StepDone, done: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := Observation{StatefulSets: []appsv1.StatefulSet{set(0, tt.replicas, tt.observed)}, Pods: tt.pods, ManagerErr: noManager}
			if tt.rec != nil {
				obs.Records, obs.ManagerErr = []api.Partition{*tt.rec}, nil
			}
			tr := NewTracker(func() time.Time { return time.Unix(0, 0) }, !tt.noWait)
			tr.Observe(Observation{StatefulSets: []appsv1.StatefulSet{set(0, tt.replicas, false)}, Pods: tt.pods}) // a roll under way
			s := tr.Observe(obs)
			p := s.Partitions[0]
			if p.Step != tt.step || p.Pod != tt.pod || p.Done != tt.done || s.Done != tt.done {
				t.Errorf("got %s, done %v; want step %q pod %q done %v", Line(p), p.Done, tt.step, tt.pod, tt.done)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// The backup instance that served when the roll began is the old primary when it restarts.
func TestTrackerRemembersThePrimary(t *testing.T) {
	tr := NewTracker(nil, true)
	sts := []appsv1.StatefulSet{set(0, 2, true)}
	tr.Observe(Observation{StatefulSets: sts, Pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, oldRev, "ready")}, Records: []api.Partition{record(0, 1, true)}})
	s := tr.Observe(Observation{StatefulSets: sts, Pods: []corev1.Pod{pod(0, 0, oldRev, "ready")}, Records: []api.Partition{record(0, 0, false)}})
	if p := s.Partitions[0]; p.Step != StepRestartingOldPrimary || p.Pod != "demo-insight-pu-0-1" {
		t.Errorf("got %s", Line(p))
	}
}

func TestUpToDate(t *testing.T) {
	tr := NewTracker(nil, true)
	s := tr.Observe(Observation{StatefulSets: []appsv1.StatefulSet{set(0, 2, true)},
		Pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready")}, Records: []api.Partition{record(0, 0, true)}})
	if !s.Done || s.Partitions[0].Step != StepUpToDate || Line(s.Partitions[0]) != "partition 0: up to date" {
		t.Errorf("got %+v", s)
	}
}

// script is a Source that plays one observation per poll, then repeats the last.
type script struct {
	mu    sync.Mutex
	steps []Observation
	i     int
	clock *time.Time
}

func (s *script) StatefulSets(context.Context) ([]appsv1.StatefulSet, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.i++
	*s.clock = s.clock.Add(5 * time.Second)
	return s.steps[min(s.i-1, len(s.steps)-1)].StatefulSets, nil
}

func (s *script) Pods(context.Context) ([]corev1.Pod, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.steps[min(s.i-1, len(s.steps)-1)].Pods, nil
}

func (s *script) Partitions(context.Context) ([]api.Partition, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.steps[min(s.i-1, len(s.steps)-1)]
	return o.Records, o.ManagerErr
}

// A whole rolling restart of two partitions, partition 1 behind partition 0, as plain
// timestamped lines.
func TestWatchPlainLines(t *testing.T) {
	recs := func(p0, p1 int, s0, s1 bool) []api.Partition {
		return []api.Partition{record(0, p0, s0), record(1, p1, s1)}
	}
	both := func(p0a, p0b, p1a, p1b corev1.Pod) []corev1.Pod { return []corev1.Pod{p0a, p0b, p1a, p1b} }
	sts := []appsv1.StatefulSet{set(0, 2, true), set(1, 2, true)}
	sts1 := []appsv1.StatefulSet{set(0, 2, true), set(1, 2, false)}
	steps := []Observation{
		{StatefulSets: []appsv1.StatefulSet{set(0, 2, false), set(1, 2, false)}, Pods: both(pod(0, 0, oldRev, "ready"), pod(0, 1, oldRev, "ready"), pod(1, 0, oldRev, "ready"), pod(1, 1, oldRev, "ready")), ManagerErr: errors.New("connection refused")},
		{StatefulSets: sts1, Pods: both(pod(0, 0, oldRev, "ready"), pod(0, 1, oldRev, "terminating"), pod(1, 0, oldRev, "ready"), pod(1, 1, oldRev, "ready")), Records: recs(0, 0, true, true)},
		{StatefulSets: sts, Pods: both(pod(0, 0, oldRev, "ready"), pod(0, 1, newRev, "running"), pod(1, 0, oldRev, "ready"), pod(1, 1, oldRev, "terminating")), Records: recs(0, 0, false, true)},
		{StatefulSets: sts, Pods: both(pod(0, 0, oldRev, "ready"), pod(0, 1, newRev, "ready"), pod(1, 0, oldRev, "ready"), pod(1, 1, newRev, "ready")), Records: recs(0, 0, true, true)},
		{StatefulSets: sts, Pods: both(pod(0, 0, oldRev, "terminating"), pod(0, 1, newRev, "ready"), pod(1, 0, oldRev, "terminating"), pod(1, 1, newRev, "ready")), Records: recs(0, 0, true, true)},
		{StatefulSets: sts, Pods: both(pod(0, 0, newRev, "running"), pod(0, 1, newRev, "ready"), pod(1, 0, newRev, "pending"), pod(1, 1, newRev, "ready")), Records: recs(1, 1, false, false)},
		{StatefulSets: sts, Pods: both(pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready"), pod(1, 0, newRev, "ready"), pod(1, 1, newRev, "ready")), Records: recs(1, 1, true, true)},
		{StatefulSets: sts, Pods: both(pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready"), pod(1, 0, newRev, "ready"), pod(1, 1, newRev, "ready")), Records: recs(0, 1, true, true)},
		{StatefulSets: sts, Pods: both(pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready"), pod(1, 0, newRev, "ready"), pod(1, 1, newRev, "ready")), Records: recs(0, 0, true, true)},
	}
	clock := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	src := &script{steps: steps, clock: &clock}
	var b bytes.Buffer
	s, err := Watch(context.Background(), src, Options{Out: &b, Now: func() time.Time { return clock }, Interval: time.Millisecond, WaitFailback: true})
	if err != nil || !s.Done {
		t.Fatalf("watch: %v, %+v", err, s)
	}
	var tb bytes.Buffer
	WriteTable(&tb, s)
	golden.Assert(t, b.String()+"---\n"+tb.String(), "watch-plain.golden")
}

func TestWatchTimesOutAndStuck(t *testing.T) {
	clock := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	pending := pod(0, 1, newRev, "pending")
	pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/3 nodes are available: 3 Insufficient memory.", LastTransitionTime: metav1.NewTime(clock)}}
	src := &script{clock: &clock, steps: []Observation{{StatefulSets: []appsv1.StatefulSet{set(0, 2, true)},
		Pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pending}, ManagerErr: errors.New("down")}}}
	_, err := Watch(context.Background(), src, Options{Out: &bytes.Buffer{}, Now: func() time.Time { return clock }, Interval: time.Millisecond, UnschedulableAfter: 20 * time.Second})
	var se *StuckError
	if !errors.As(err, &se) || se.Pod != "demo-insight-pu-0-1" || !strings.Contains(se.Reason, "Insufficient memory") {
		t.Errorf("unschedulable: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	src.i = 0
	s, err := Watch(ctx, src, Options{Out: &bytes.Buffer{}, Now: func() time.Time { return clock }, Interval: time.Millisecond, UnschedulableAfter: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) || s.Done || s.Partitions[0].Step != StepRestartingBackup {
		t.Errorf("timeout: %v %+v", err, s)
	}
}

func TestStuck(t *testing.T) {
	now := time.Unix(1000, 0)
	waiting := func(reason string, restarts int32, last string) corev1.Pod {
		p := pod(0, 1, newRev, "running")
		cs := corev1.ContainerStatus{Name: "pu", RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
		if last != "" {
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: last, ExitCode: 137}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		return p
	}
	for _, tt := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"image", waiting("ImagePullBackOff", 0, ""), "ImagePullBackOff in container pu"},
		{"one crash", waiting("CrashLoopBackOff", 1, "Error"), ""},
		{"crash loop", waiting("CrashLoopBackOff", 2, "Error"), "crash-looping (restarted 2 times)"},
		{"oom", waiting("CrashLoopBackOff", 1, "OOMKilled"), "OOMKilled"},
		{"starting", pod(0, 1, newRev, "running"), ""},
		{"ready", pod(0, 1, newRev, "ready"), ""},
	} {
		s := Stuck([]corev1.Pod{tt.pod}, now, time.Minute)
		switch {
		case tt.want == "" && s != nil:
			t.Errorf("%s: stuck %v", tt.name, s)
		case tt.want != "" && (s == nil || !strings.Contains(s.Reason, tt.want)):
			t.Errorf("%s: got %v, want %q", tt.name, s, tt.want)
		}
	}
}

// notifying is a script that also signals changes, as a pod watch does.
type notifying struct {
	*script
	ch chan struct{}
}

func (n notifying) Changes(context.Context) <-chan struct{} { return n.ch }

// A change observed through the watch is shown at once, without waiting for the next poll.
func TestWatchFollowsChanges(t *testing.T) {
	clock := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	sts := []appsv1.StatefulSet{set(0, 2, true)}
	src := notifying{script: &script{clock: &clock, steps: []Observation{
		{StatefulSets: sts, Pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "running")}, Records: []api.Partition{record(0, 1, false)}},
		{StatefulSets: sts, Pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready")}, Records: []api.Partition{record(0, 0, true)}},
	}}, ch: make(chan struct{}, 1)}
	src.ch <- struct{}{}
	done := make(chan error, 1)
	go func() {
		_, err := Watch(context.Background(), src, Options{Out: &bytes.Buffer{}, Now: func() time.Time { return clock }, Interval: time.Hour})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the change did not wake the watch up")
	}
}

// On a terminal the table is redrawn in place; the manager's error is shown once, above it.
func TestWatchLiveTable(t *testing.T) {
	clock := time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	sts := []appsv1.StatefulSet{set(0, 2, true)}
	down := errors.New("manager unreachable via the API server's proxy to service demo-insight-manager: HTTP 503: no endpoints available")
	src := &script{clock: &clock, steps: []Observation{
		{StatefulSets: sts, Pods: []corev1.Pod{pod(0, 0, oldRev, "ready"), pod(0, 1, newRev, "running")}, ManagerErr: down},
		{StatefulSets: sts, Pods: []corev1.Pod{pod(0, 0, newRev, "running"), pod(0, 1, newRev, "ready")}, ManagerErr: down},
		{StatefulSets: sts, Pods: []corev1.Pod{pod(0, 0, newRev, "ready"), pod(0, 1, newRev, "ready")}, ManagerErr: down},
	}}
	var b bytes.Buffer
	if _, err := Watch(context.Background(), src, Options{Out: &b, TTY: true, Now: func() time.Time { return clock }, Interval: time.Millisecond, Header: "scale demo, request demo-r2"}); err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, strings.ReplaceAll(b.String(), "\x1b", "ESC"), "watch-tty.golden")
}
