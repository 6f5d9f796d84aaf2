// Package progress shows a release coming up while the CLI waits for it — a live
// per-partition view on a terminal, timestamped plain lines otherwise — and, when it does
// not come up in time, says which pods are not ready and why.
//
// It reads pods, events and logs only through the Source interface and must not depend
// on Helm or cobra.
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

// Source reads a release's pods, a pod's events and a container's log.
type Source interface {
	Pods(ctx context.Context) ([]corev1.Pod, error)
	Events(ctx context.Context, pod string) ([]corev1.Event, error)
	Logs(ctx context.Context, pod, container string, previous bool, lines int64) (string, error)
}

// Options say how to show progress.
type Options struct {
	Out io.Writer
	// TTY redraws one live view in place; otherwise a timestamped line per change.
	TTY bool
	// Now stamps the plain lines; tests freeze it.
	Now func() time.Time
	// Interval between polls.
	Interval time.Duration
}

// Snapshot is the grid's state at one moment.
type Snapshot struct {
	Partitions []Partition
	Managers   []grid.PodState
}

// Partition is one partition's instances, by instance number (0: preferred primary).
type Partition struct {
	ID        int
	Instances []grid.PodState
}

// Take classifies pods into a snapshot.
func Take(pods []corev1.Pod) Snapshot {
	var s Snapshot
	parts := map[int]map[int]grid.PodState{}
	for i := range pods {
		g := grid.Classify(&pods[i])
		switch g.Kind {
		case grid.Manager:
			s.Managers = append(s.Managers, grid.State(&pods[i]))
		case grid.Data:
			if parts[g.Partition] == nil {
				parts[g.Partition] = map[int]grid.PodState{}
			}
			parts[g.Partition][g.Instance] = grid.State(&pods[i])
		}
	}
	ids := make([]int, 0, len(parts))
	for id := range parts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		p := Partition{ID: id}
		n := 0
		for inst := range parts[id] {
			n = max(n, inst+1)
		}
		p.Instances = make([]grid.PodState, n)
		for inst := 0; inst < n; inst++ {
			st, ok := parts[id][inst]
			if !ok {
				st = "absent"
			}
			p.Instances[inst] = st
		}
		s.Partitions = append(s.Partitions, p)
	}
	return s
}

func instanceName(i int) string {
	if i == 0 {
		return "primary"
	}
	return "backup"
}

// Line is the snapshot on one line, for logs and CI.
func (s Snapshot) Line() string {
	var parts []string
	ready := 0
	for _, p := range s.Partitions {
		var inst []string
		all := len(p.Instances) > 0
		for i, st := range p.Instances {
			inst = append(inst, instanceName(i)+" "+string(st))
			all = all && st == grid.StateReady
		}
		if all {
			ready++
		}
		parts = append(parts, fmt.Sprintf("p%d[%s]", p.ID, strings.Join(inst, ", ")))
	}
	mReady := count(s.Managers, grid.StateReady)
	head := fmt.Sprintf("partitions %d/%d ready, managers %d/%d ready", ready, len(s.Partitions), mReady, len(s.Managers))
	if len(parts) == 0 {
		return head
	}
	return head + ": " + strings.Join(parts, " ")
}

// Table is the snapshot as the live view's lines.
func (s Snapshot) Table() []string {
	lines := []string{fmt.Sprintf("%-10s %-10s %-10s", "PARTITION", "PRIMARY", "BACKUP")}
	for _, p := range s.Partitions {
		cols := []string{"-", "-"}
		for i, st := range p.Instances {
			if i < 2 {
				cols[i] = string(st)
			}
		}
		lines = append(lines, fmt.Sprintf("%-10d %-10s %-10s", p.ID, cols[0], cols[1]))
	}
	lines = append(lines, fmt.Sprintf("managers: %d/%d ready", count(s.Managers, grid.StateReady), len(s.Managers)))
	return lines
}

func count(states []grid.PodState, want grid.PodState) int {
	n := 0
	for _, s := range states {
		if s == want {
			n++
		}
	}
	return n
}

// Watcher shows progress while something else waits.
type Watcher struct {
	src    Source
	o      Options
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	last   string
	drawn  int
}

// Start shows the current state at once, then every change until Stop. Errors reading
// pods are shown and retried: the wait itself belongs to the caller, this is the view.
func Start(ctx context.Context, src Source, o Options) *Watcher {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &Watcher{src: src, o: o, done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.render(ctx)
	go func() {
		defer close(w.done)
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case <-w.ctx.Done():
				return
			case <-t.C:
				w.render(w.ctx)
			}
		}
	}()
	return w
}

// Stop ends the view, showing the final state if it changed since the last one shown.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
	w.render(context.WithoutCancel(w.ctx))
}

func (w *Watcher) render(ctx context.Context) {
	pods, err := w.src.Pods(ctx)
	if ctx.Err() != nil {
		return
	}
	var line string
	var table []string
	if err != nil {
		line = "cannot read pods: " + err.Error()
		table = []string{line}
	} else {
		s := Take(pods)
		line, table = s.Line(), s.Table()
	}
	if line == w.last {
		return
	}
	w.last = line
	if w.o.TTY {
		if w.drawn > 0 {
			fmt.Fprintf(w.o.Out, "\x1b[%dA\x1b[J", w.drawn)
		}
		fmt.Fprintln(w.o.Out, strings.Join(table, "\n"))
		w.drawn = len(table)
		return
	}
	fmt.Fprintf(w.o.Out, "%s %s\n", w.o.Now().UTC().Format(time.RFC3339), line)
}
