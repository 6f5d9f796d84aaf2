package progress

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/insightgrid/insight/cli/internal/grid"
)

// Finding is why one pod is not ready.
type Finding struct {
	Pod    string `json:"pod"`
	State  string `json:"state"`
	Reason string `json:"reason"`
	// Detail is the scheduler's, kubelet's or probe's own message.
	Detail string `json:"detail,omitempty"`
	// Log holds the last lines of a crashing container's previous run.
	Log string `json:"log,omitempty"`
}

// LogLines is how much of a crashing container's log a finding carries.
const LogLines = 10

// Diagnose explains every pod of the release that is not ready.
func Diagnose(ctx context.Context, src Source) ([]Finding, error) {
	pods, err := src.Pods(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var out []Finding
	for i := range pods {
		p := &pods[i]
		st := grid.State(p)
		if st == grid.StateReady {
			continue
		}
		f := Finding{Pod: p.Name, State: string(st)}
		if err := explain(ctx, src, p, &f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func explain(ctx context.Context, src Source, p *corev1.Pod, f *Finding) error {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull":
				f.Reason = "image pull error (" + cs.Image + ")"
				f.Detail = w.Message
				return nil
			case "CrashLoopBackOff", "RunContainerError", "CreateContainerConfigError", "CreateContainerError":
				f.Reason = w.Reason + " in container " + cs.Name
				f.Detail = w.Message
				if t := cs.LastTerminationState.Terminated; t != nil {
					f.Detail = strings.TrimSpace(fmt.Sprintf("%s exit code %d %s", f.Detail, t.ExitCode, t.Reason))
				}
				if cs.RestartCount > 0 {
					log, err := src.Logs(ctx, p.Name, cs.Name, true, LogLines)
					if err == nil {
						f.Log = strings.TrimRight(log, "\n")
					}
				}
				return nil
			}
		}
	}
	events, err := src.Events(ctx, p.Name)
	if err != nil {
		return fmt.Errorf("events of %s: %w", p.Name, err)
	}
	sort.SliceStable(events, func(i, j int) bool { return eventTime(&events[i]).Before(eventTime(&events[j])) })
	latest := func(reason string) *corev1.Event {
		for i := len(events) - 1; i >= 0; i-- {
			if events[i].Reason == reason {
				return &events[i]
			}
		}
		return nil
	}
	switch grid.State(p) {
	case grid.StatePending:
		f.Reason = "not scheduled"
		if e := latest("FailedScheduling"); e != nil {
			f.Detail = e.Message
		}
	case grid.StateFailed:
		f.Reason = "failed: " + p.Status.Reason
		f.Detail = p.Status.Message
	default:
		f.Reason = "not ready"
		if e := latest("Unhealthy"); e != nil {
			f.Detail = e.Message
		} else if e := latest("FailedMount"); e != nil {
			f.Reason, f.Detail = "volume not mounted", e.Message
		}
	}
	return nil
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

// WriteDiagnosis prints findings for a human.
func WriteDiagnosis(w io.Writer, findings []Finding) {
	if len(findings) == 0 {
		fmt.Fprintln(w, "every pod is ready")
		return
	}
	fmt.Fprintf(w, "%d pod(s) not ready:\n", len(findings))
	for _, f := range findings {
		fmt.Fprintf(w, "  %s (%s): %s\n", f.Pod, f.State, f.Reason)
		if f.Detail != "" {
			fmt.Fprintf(w, "    %s\n", f.Detail)
		}
		if f.Log != "" {
			fmt.Fprintf(w, "    last log lines:\n")
			for _, l := range strings.Split(f.Log, "\n") {
				fmt.Fprintf(w, "      | %s\n", l)
			}
		}
	}
}
