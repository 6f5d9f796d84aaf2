package rollout

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/grid/api"
)

// Options say how to follow and show a rollout.
type Options struct {
	Out io.Writer
	// TTY redraws one live table in place; otherwise a timestamped line per change.
	TTY bool
	// Now stamps lines and measures elapsed time; tests freeze it.
	Now func() time.Time
	// Interval between polls (default 1s).
	Interval time.Duration
	// Header heads the live table, e.g. "scale demo, request demo-r4".
	Header string
	// WaitFailback: see NewTracker.
	WaitFailback bool
	// UnschedulableAfter is how long a pod may stay unschedulable before the rollout is
	// declared stuck (default 2m).
	UnschedulableAfter time.Duration
}

// Notifier is a Source that also tells when the pods may have changed, so that the short
// steps (a primary handing over takes a fraction of a second) are not missed between polls.
type Notifier interface {
	// Changes signals (coalesced) after every change until ctx ends.
	Changes(ctx context.Context) <-chan struct{}
}

// minGap spaces observations triggered by changes, which come in bursts.
const minGap = 100 * time.Millisecond

// StuckError says a pod will not come up without help.
type StuckError struct {
	Pod, Reason string
}

func (e *StuckError) Error() string {
	return fmt.Sprintf("pod %s does not come up: %s", e.Pod, e.Reason)
}

// Watch follows the rollout until every partition is done. It returns the last snapshot
// and a *StuckError when a pod fails to come up, or ctx's error when it ends first.
// Errors reading the cluster are shown and retried.
func Watch(ctx context.Context, src Source, o Options) (Snapshot, error) {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UnschedulableAfter <= 0 {
		o.UnschedulableAfter = 2 * time.Minute
	}
	v := &view{o: o, last: map[int]string{}}
	t := NewTracker(o.Now, o.WaitFailback)
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	var changes <-chan struct{}
	if n, ok := src.(Notifier); ok {
		changes = n.Changes(ctx)
	}
	var snap Snapshot
	for {
		obs, err := observe(ctx, src)
		if ctx.Err() != nil {
			return snap, ctx.Err()
		}
		if err != nil {
			v.problemLine("cannot read the cluster: " + err.Error())
		} else {
			snap = t.Observe(obs)
			v.show(snap)
			if snap.Done {
				return snap, nil
			}
			if s := Stuck(obs.Pods, o.Now(), o.UnschedulableAfter); s != nil {
				return snap, s
			}
		}
		select {
		case <-ctx.Done():
			return snap, ctx.Err()
		case <-tick.C:
		case <-changes:
			select {
			case <-ctx.Done():
				return snap, ctx.Err()
			case <-time.After(minGap):
			}
		}
	}
}

func observe(ctx context.Context, src Source) (Observation, error) {
	var o Observation
	var err error
	if o.StatefulSets, err = src.StatefulSets(ctx); err != nil {
		return o, fmt.Errorf("list StatefulSets: %w", err)
	}
	if o.Pods, err = src.Pods(ctx); err != nil {
		return o, fmt.Errorf("list pods: %w", err)
	}
	o.Records, o.ManagerErr = src.Partitions(ctx)
	if o.ManagerErr == nil && o.Records == nil {
		o.Records = []api.Partition{}
	}
	return o, nil
}

// Stuck returns the first data pod that will not come up without help: an image that
// cannot be pulled, a container that cannot be created or keeps crashing, a failed pod, or
// one unschedulable for longer than unschedulableAfter. nil when there is none.
func Stuck(pods []corev1.Pod, now time.Time, unschedulableAfter time.Duration) *StuckError {
	sorted := append([]corev1.Pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i := range sorted {
		p := &sorted[i]
		if grid.Classify(p).Kind != grid.Data || p.DeletionTimestamp != nil || grid.State(p) == grid.StateReady {
			continue
		}
		if p.Status.Phase == corev1.PodFailed {
			return &StuckError{Pod: p.Name, Reason: strings.TrimSpace("failed " + p.Status.Reason + " " + p.Status.Message)}
		}
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == "OOMKilled" {
				return &StuckError{Pod: p.Name, Reason: fmt.Sprintf("container %s was OOMKilled (restarted %d time(s)); it needs more memory", cs.Name, cs.RestartCount)}
			}
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			switch w.Reason {
			case "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return &StuckError{Pod: p.Name, Reason: w.Reason + " in container " + cs.Name}
			case "CrashLoopBackOff":
				if cs.RestartCount >= 2 {
					return &StuckError{Pod: p.Name, Reason: fmt.Sprintf("container %s is crash-looping (restarted %d times)", cs.Name, cs.RestartCount)}
				}
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable &&
				!c.LastTransitionTime.IsZero() && now.Sub(c.LastTransitionTime.Time) >= unschedulableAfter {
				return &StuckError{Pod: p.Name, Reason: fmt.Sprintf("unschedulable for %s: %s", now.Sub(c.LastTransitionTime.Time).Round(time.Second), c.Message)}
			}
		}
	}
	return nil
}

// view shows snapshots: a live table on a terminal, else a line per change.
type view struct {
	o       Options
	last    map[int]string
	manager string
	problem string
	drawn   int
	table   string
}

func (v *view) stamp() string { return v.o.Now().UTC().Format(time.RFC3339) }

func (v *view) problemLine(msg string) {
	if msg == v.problem {
		return
	}
	v.problem = msg
	if !v.o.TTY {
		fmt.Fprintf(v.o.Out, "%s %s\n", v.stamp(), msg)
	}
}

func (v *view) show(s Snapshot) {
	v.problem = ""
	if v.o.TTY {
		v.redraw(s)
		return
	}
	m := "manager reachable: steps follow the partition records"
	if !s.ManagerReachable {
		m = unreachable(s.ManagerError) + "; steps follow the pods only, failback is not confirmed"
	}
	if m != v.manager {
		v.manager = m
		fmt.Fprintf(v.o.Out, "%s %s\n", v.stamp(), m)
	}
	for _, p := range s.Partitions {
		line := Line(p)
		key := string(p.Step) + "\x00" + p.Pod + "\x00" + p.Note
		if v.last[p.ID] == key {
			continue
		}
		v.last[p.ID] = key
		fmt.Fprintf(v.o.Out, "%s %s\n", v.stamp(), line)
	}
}

// Line is a partition's progress on one line.
func Line(p Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "partition %d: %s", p.ID, p.Step)
	// A note next to a pod is the pod's state ("pod x running").
	detail := strings.TrimSpace(p.Pod + " " + p.Note)
	if p.Pod != "" {
		detail = "pod " + detail
	}
	if detail != "" {
		fmt.Fprintf(&b, " (%s)", detail)
	}
	if p.started {
		fmt.Fprintf(&b, ", %s", p.Elapsed.Round(time.Second))
	}
	return b.String()
}

func (v *view) redraw(s Snapshot) {
	var b strings.Builder
	head := fmt.Sprintf("%d/%d partitions done", s.DoneCount(), len(s.Partitions))
	if v.o.Header != "" {
		head = v.o.Header + ": " + head
	}
	fmt.Fprintln(&b, head)
	WriteTable(&b, s)
	if !s.ManagerReachable {
		// The reason is shown once, above the live region: a long line would wrap and
		// throw the redraw off.
		if v.manager != s.ManagerError {
			v.manager = s.ManagerError
			v.clear()
			v.drawn, v.table = 0, ""
			fmt.Fprintln(v.o.Out, unreachable(s.ManagerError))
		}
		fmt.Fprintln(&b, "manager unreachable: steps follow the pods only")
	} else {
		v.manager = ""
	}
	out := b.String()
	if out == v.table {
		return
	}
	v.table = out
	v.clear()
	fmt.Fprint(v.o.Out, out)
	v.drawn = strings.Count(out, "\n")
}

// clear erases the live region drawn last.
func (v *view) clear() {
	if v.drawn > 0 {
		fmt.Fprintf(v.o.Out, "\x1b[%dA\x1b[J", v.drawn)
	}
}

// unreachable says why the manager's records are not read, once.
func unreachable(msg string) string {
	if strings.HasPrefix(msg, "manager unreachable") {
		return msg
	}
	return "manager unreachable: " + msg
}

// WriteTable prints the partitions' progress as a table.
func WriteTable(w io.Writer, s Snapshot) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tSTEP\tPOD\tELAPSED\tNOTE")
	for _, p := range s.Partitions {
		elapsed := "-"
		if p.started {
			elapsed = p.Elapsed.Round(time.Second).String()
		}
		pod, note := p.Pod, p.Note
		if pod == "" {
			pod = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", p.ID, p.Step, pod, elapsed, note)
	}
	_ = tw.Flush()
}
