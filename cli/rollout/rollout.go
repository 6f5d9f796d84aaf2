// Package rollout follows a rolling change of the grid's data pods and shows it per
// partition: which pod restarts, which step the partition is at, for how long.
//
// It orders nothing. The StatefulSet controller restarts each partition's pods from the
// highest ordinal down, and the grid makes that safe: a restarted instance is Ready only
// once in sync, a stopping primary hands its partition over to the in-sync backup, and the
// manager fails back to the preferred primary (ordinal 0). This package derives the steps
// from the StatefulSets' revisions, the pods' readiness and, when it can reach the
// manager, the partition records.
//
// It reads the cluster only through Source and must not depend on Helm or cobra.
package rollout

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/grid/api"
)

// Source reads what a rollout is followed by.
type Source interface {
	// StatefulSets returns the release's data StatefulSets, one per partition.
	StatefulSets(ctx context.Context) ([]appsv1.StatefulSet, error)
	// Pods returns the release's pods.
	Pods(ctx context.Context) ([]corev1.Pod, error)
	// Partitions returns the manager's partition records, or an error when no manager
	// answers.
	Partitions(ctx context.Context) ([]api.Partition, error)
}

// Step is where a partition is in its rolling restart.
type Step string

// The steps of a partition with a backup, in order, then those of a partition without.
const (
	// StepWaiting: the StatefulSet controller has not restarted anything of it yet.
	StepWaiting Step = "waiting"
	// StepRestartingBackup: the backup instance is stopping, starting or catching up.
	StepRestartingBackup Step = "restarting backup"
	// StepBackupInSync: the restarted backup is Ready (in sync); the primary is next.
	StepBackupInSync Step = "backup in sync"
	// StepHandingOver: the primary is stopping; on SIGTERM it hands over to the backup.
	StepHandingOver Step = "primary handing over"
	// StepRestartingOldPrimary: the instance that was primary is starting or catching up.
	StepRestartingOldPrimary Step = "restarting old primary"
	// StepBackInSync: every instance is restarted and Ready; the preferred primary still
	// serves as backup until the manager fails back.
	StepBackInSync Step = "back in sync"
	// StepFailedBack: every instance restarted, the preferred primary serves again.
	StepFailedBack Step = "failed back"
	// StepRestarting: the only instance of a partition without backup restarts.
	StepRestarting Step = "restarting"
	// StepDone: every instance restarted and Ready; roles not confirmed (no backup, or no
	// manager answered).
	StepDone Step = "done"
	// StepUpToDate: nothing had to restart.
	StepUpToDate Step = "up to date"
)

// Progress is one partition's state.
type Progress struct {
	ID   int  `json:"id"`
	Step Step `json:"step"`
	// Pod is the pod the step is about, "" when none.
	Pod  string `json:"pod,omitempty"`
	Done bool   `json:"done"`
	// Elapsed is the time since the partition's first restart began (until it was done).
	Elapsed        time.Duration `json:"-"`
	ElapsedSeconds float64       `json:"elapsedSeconds"`
	// Note adds what the step alone does not say.
	Note string `json:"note,omitempty"`
	// started tells Elapsed apart from "not started".
	started bool
}

// Snapshot is the rollout at one moment.
type Snapshot struct {
	Partitions       []Progress `json:"partitions"`
	ManagerReachable bool       `json:"managerReachable"`
	ManagerError     string     `json:"managerError,omitempty"`
	Done             bool       `json:"done"`
}

// DoneCount is how many partitions are done.
func (s Snapshot) DoneCount() int {
	n := 0
	for _, p := range s.Partitions {
		if p.Done {
			n++
		}
	}
	return n
}

// Observation is what one poll read.
type Observation struct {
	StatefulSets []appsv1.StatefulSet
	Pods         []corev1.Pod
	// Records are the manager's partition records; nil with ManagerErr when unreachable.
	Records    []api.Partition
	ManagerErr error
}

// Tracker derives snapshots from observations, keeping what one observation cannot
// tell: when each partition started and which pods served as primary.
type Tracker struct {
	now func() time.Time
	// waitFailback: a partition is done only once its preferred primary serves again
	// (the manager fails back by itself: manager.autoFailback).
	waitFailback bool
	parts        map[int]*track
}

type track struct {
	started, done time.Time
	seen          bool
	wasPrimary    map[string]bool
}

// NewTracker starts tracking. waitFailback makes a partition with a backup done only once
// the manager, when reachable, shows its preferred primary serving again.
func NewTracker(now func() time.Time, waitFailback bool) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{now: now, waitFailback: waitFailback, parts: map[int]*track{}}
}

// Observe derives the snapshot of one observation.
func (t *Tracker) Observe(o Observation) Snapshot {
	now := t.now()
	snap := Snapshot{ManagerReachable: o.ManagerErr == nil && o.Records != nil, Done: true}
	if o.ManagerErr != nil {
		snap.ManagerError = o.ManagerErr.Error()
	}
	records := map[int]*api.Partition{}
	if snap.ManagerReachable {
		for i := range o.Records {
			records[o.Records[i].ID] = &o.Records[i]
		}
	}
	sets := map[int]*appsv1.StatefulSet{}
	for i := range o.StatefulSets {
		s := &o.StatefulSets[i]
		id, err := strconv.Atoi(s.Labels[grid.LabelPartition])
		if err != nil {
			continue
		}
		sets[id] = s
	}
	pods := map[int]map[int]*corev1.Pod{}
	for i := range o.Pods {
		g := grid.Classify(&o.Pods[i])
		if g.Kind != grid.Data {
			continue
		}
		if pods[g.Partition] == nil {
			pods[g.Partition] = map[int]*corev1.Pod{}
		}
		pods[g.Partition][g.Instance] = &o.Pods[i]
	}
	ids := make([]int, 0, len(sets))
	for id := range sets {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		tr := t.parts[id]
		if tr == nil {
			tr = &track{wasPrimary: map[string]bool{}}
			t.parts[id] = tr
		}
		pr := t.derive(id, sets[id], pods[id], records[id], tr)
		first := !tr.seen
		tr.seen = true
		// A partition done at first sight had nothing to restart: it has no elapsed time.
		if pr.Step != StepWaiting && tr.started.IsZero() && (!first || !pr.Done) {
			tr.started = now
		}
		if pr.Done && tr.started.IsZero() && (pr.Step == StepFailedBack || pr.Step == StepDone) {
			pr.Step = StepUpToDate
		}
		switch {
		case pr.Done && tr.done.IsZero():
			tr.done = now
		case !pr.Done:
			tr.done = time.Time{}
		}
		if !tr.started.IsZero() {
			end := now
			if pr.Done {
				end = tr.done
			}
			pr.started = true
			pr.Elapsed = end.Sub(tr.started)
			pr.ElapsedSeconds = pr.Elapsed.Round(time.Millisecond).Seconds()
		}
		snap.Partitions = append(snap.Partitions, pr)
		snap.Done = snap.Done && pr.Done
	}
	return snap
}

// derive is one partition's step. The StatefulSet controller replaces, from the highest
// ordinal down, the first pod that is not both of the update revision and Ready, and
// waits for it; so that pod is the one the partition's step is about.
func (t *Tracker) derive(id int, sts *appsv1.StatefulSet, pods map[int]*corev1.Pod, rec *api.Partition, tr *track) Progress {
	pr := Progress{ID: id, Step: StepWaiting}
	if sts.Status.ObservedGeneration < sts.Generation {
		pr.Note = "the StatefulSet controller has not seen the change yet"
		return pr
	}
	replicas := 1
	if sts.Spec.Replicas != nil {
		replicas = int(*sts.Spec.Replicas)
	}
	isPrimary := func(i int) bool {
		if rec != nil {
			return rec.Primary == api.InstanceID(id, i)
		}
		return i == 0
	}
	terminating := func(p *corev1.Pod) bool { return p != nil && p.DeletionTimestamp != nil }
	ready := func(p *corev1.Pod) bool { return p != nil && !terminating(p) && grid.State(p) == grid.StateReady }
	updated := func(p *corev1.Pod) bool {
		return p != nil && !terminating(p) && p.Labels[appsv1.ControllerRevisionHashLabelKey] == sts.Status.UpdateRevision
	}
	for i := 0; i < replicas; i++ {
		if p := pods[i]; p != nil && !terminating(p) && isPrimary(i) {
			tr.wasPrimary[p.Name] = true
		}
	}
	target := -1
	for i := replicas - 1; i >= 0; i-- {
		if !updated(pods[i]) || !ready(pods[i]) {
			target = i
			break
		}
	}
	if target < 0 {
		return t.finished(pr, id, replicas, pods, rec)
	}
	tp := pods[target]
	name := podName(sts, target, tp)
	restarting := func() Progress {
		pr.Pod = name
		switch {
		case replicas == 1:
			pr.Step = StepRestarting
		case target == 0 || tr.wasPrimary[name]:
			// Ordinal 0 goes last: by then it serves, or served until its handover.
			pr.Step = StepRestartingOldPrimary
		default:
			pr.Step = StepRestartingBackup
		}
		switch {
		case terminating(tp):
			pr.Note = "stopping"
		case tp != nil:
			if st := grid.State(tp); st != grid.StateReady {
				pr.Note = string(st)
			}
		default:
			pr.Note = "absent"
		}
		return pr
	}
	switch {
	case tp != nil && !updated(tp) && ready(tp):
		// The controller has not reached it yet.
		if target == replicas-1 {
			return pr
		}
		pr.Step, pr.Pod = StepBackupInSync, podName(sts, target+1, pods[target+1])
		return pr
	case terminating(tp) && replicas > 1 && isPrimary(target):
		pr.Step, pr.Pod = StepHandingOver, name
		return pr
	}
	return restarting()
}

// finished is the step of a partition whose pods are all of the update revision and Ready.
func (t *Tracker) finished(pr Progress, id, replicas int, pods map[int]*corev1.Pod, rec *api.Partition) Progress {
	pr.Done = true
	switch {
	case replicas == 1:
		pr.Step = StepDone
	case rec == nil:
		pr.Step = StepDone
		pr.Note = "roles not confirmed: the manager is unreachable"
	case rec.Primary == rec.PreferredPrimary && rec.InSync:
		pr.Step = StepFailedBack
	case !t.waitFailback:
		pr.Step = StepBackInSync
		pr.Note = fmt.Sprintf("%s serves; manager.autoFailback is off: insightctl failback %d", rec.Primary, id)
	default:
		pr.Done = false
		pr.Step = StepBackInSync
		if rec.Primary != rec.PreferredPrimary {
			pr.Note = fmt.Sprintf("%s serves; the manager fails back to %s", rec.Primary, rec.PreferredPrimary)
		} else {
			pr.Note = "waiting for the backup to be recorded in sync"
		}
	}
	return pr
}

// podName is the name of ordinal i's pod, also when it does not exist right now.
func podName(sts *appsv1.StatefulSet, i int, p *corev1.Pod) string {
	if p != nil {
		return p.Name
	}
	return fmt.Sprintf("%s-%d", sts.Name, i)
}
