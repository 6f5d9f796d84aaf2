package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestLogContainerID(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	terminated := func(id string) *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{ContainerID: id}
	}
	cases := []struct {
		name     string
		status   corev1.ContainerStatus
		previous bool
		want     string
		err      string
	}{
		{name: "running", status: corev1.ContainerStatus{Name: "c", ContainerID: "insight://u-c-1", State: running}, want: "insight://u-c-1"},
		{name: "previous", previous: true, want: "insight://u-c-0",
			status: corev1.ContainerStatus{Name: "c", ContainerID: "insight://u-c-1", State: running, LastTerminationState: corev1.ContainerState{Terminated: terminated("insight://u-c-0")}}},
		{name: "no previous", previous: true, status: corev1.ContainerStatus{Name: "c", State: running},
			err: `previous terminated container "c" in pod "p" not found`},
		{name: "terminated", status: corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Terminated: terminated("insight://u-c-2")}}, want: "insight://u-c-2"},
		{name: "in back-off", want: "insight://u-c-3",
			status: corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, LastTerminationState: corev1.ContainerState{Terminated: terminated("insight://u-c-3")}}},
		{name: "waiting", status: corev1.ContainerStatus{Name: "c", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
			err: `container "c" in pod "p" is waiting to start: PodInitializing`},
		{name: "unknown", status: corev1.ContainerStatus{Name: "other"}, err: `container "c" in pod "p" is not available`},
	}
	for _, tc := range cases {
		got, err := logContainerID("p", []corev1.ContainerStatus{tc.status}, "c", tc.previous)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: %q, %v; want error %q", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}
