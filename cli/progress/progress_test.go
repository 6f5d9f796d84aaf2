package progress

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/internal/golden"
)

type fakeSource struct {
	calls  atomic.Int32
	pods   []corev1.Pod
	events map[string][]corev1.Event
	logs   map[string]string
}

func (f *fakeSource) Pods(context.Context) ([]corev1.Pod, error) {
	f.calls.Add(1)
	return f.pods, nil
}
func (f *fakeSource) Events(_ context.Context, pod string) ([]corev1.Event, error) {
	return f.events[pod], nil
}
func (f *fakeSource) Logs(_ context.Context, pod, _ string, _ bool, _ int64) (string, error) {
	return f.logs[pod], nil
}

func dataPod(name string, partition int, mods ...func(*corev1.Pod)) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/component": "pu"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "grid", Args: []string{"data", "--partition", string(rune('0' + partition))}}}},
	}
	for _, m := range mods {
		m(&p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Spec.NodeName = "n0"
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
}

func TestDiagnose(t *testing.T) {
	src := &fakeSource{
		pods: []corev1.Pod{
			dataPod("insight-pu-0-0", 0, ready),
			dataPod("insight-pu-0-1", 0),
			dataPod("insight-pu-1-0", 1, func(p *corev1.Pod) {
				p.Spec.NodeName = "n0"
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "grid", Image: "ghcr.io/x:bad",
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}}
			}),
			dataPod("insight-pu-1-1", 1, func(p *corev1.Pod) {
				p.Spec.NodeName = "n1"
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "grid", RestartCount: 3,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}}}
			}),
		},
		events: map[string][]corev1.Event{"insight-pu-0-1": {
			{Reason: "FailedScheduling", Message: "old", LastTimestamp: metav1.Unix(1, 0)},
			{Reason: "FailedScheduling", Message: "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.", LastTimestamp: metav1.Unix(2, 0)},
		}},
		logs: map[string]string{"insight-pu-1-1": "starting\nerror: --etcd-endpoints: no such host\n"},
	}
	got, err := Diagnose(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteDiagnosis(&b, got)
	golden.Assert(t, b.String(), "diagnosis.golden")
}

func TestWatcherPlainLines(t *testing.T) {
	src := &fakeSource{pods: []corev1.Pod{dataPod("insight-pu-0-0", 0, ready), dataPod("insight-pu-0-1", 0)}}
	var b bytes.Buffer
	w := Start(context.Background(), src, Options{Out: &b, Now: func() time.Time { return time.Unix(0, 0) }, Interval: time.Millisecond})
	for f := src; f.calls.Load() < 3; {
		runtime.Gosched() // let several polls of the unchanged state happen
	}
	w.Stop()
	want := "1970-01-01T00:00:00Z partitions 0/1 ready, managers 0/0 ready: p0[primary ready, backup pending]\n"
	if b.String() != want {
		t.Errorf("got %q, want %q (an unchanged state is shown once)", b.String(), want)
	}
}

func TestTable(t *testing.T) {
	s := Take([]corev1.Pod{dataPod("a-0", 0, ready), dataPod("a-1", 0), dataPod("b-0", 1, ready)})
	got := strings.Join(s.Table(), "\n")
	want := "PARTITION  PRIMARY    BACKUP    \n0          ready      pending   \n1          ready      -         \nmanagers: 0/0 ready"
	if got != want {
		t.Errorf("table:\n%q\nwant:\n%q", got, want)
	}
}
