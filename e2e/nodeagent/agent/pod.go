package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/insightgrid/insight/e2e/nodeagent/podenv"
	"github.com/insightgrid/insight/e2e/nodeagent/sandbox"
)

// podWorker runs one pod from its binding until its processes are gone.
type podWorker struct {
	a    *Agent
	node *node
	uid  types.UID
	dir  string
	// Immutable copies: w.pod is replaced on updates.
	ns, name string
	spec     *corev1.PodSpec

	mu           sync.Mutex
	pod          *corev1.Pod
	ip           string
	startTime    *metav1.Time
	ctrs         map[string]*ctr
	initDone     bool
	sandboxReady bool
	phase        corev1.PodPhase // set once terminal
	stopped      bool
	deadline     time.Time // SIGKILL after this, once stopped
	deleteAfter  bool      // finish the API deletion when done
	execSeq      int

	stop  chan struct{}
	dirty chan struct{}
}

// ctr is one container's runtime state; guarded by podWorker.mu.
type ctr struct {
	spec   *corev1.Container
	init   bool
	status corev1.ContainerStatus
	sbox   *sandbox.Spec
}

func newPodWorker(a *Agent, n *node, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		a: a, node: n, uid: pod.UID, pod: pod.DeepCopy(),
		dir:  filepath.Join(a.cfg.StateDir, "pods", string(pod.UID)),
		ctrs: map[string]*ctr{}, stop: make(chan struct{}), dirty: make(chan struct{}, 1),
	}
	w.ns, w.name, w.spec = w.pod.Namespace, w.pod.Name, &w.pod.Spec
	add := func(c *corev1.Container, init bool) {
		w.ctrs[c.Name] = &ctr{spec: c, init: init, status: corev1.ContainerStatus{
			Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		}}
	}
	for i := range w.pod.Spec.InitContainers {
		add(&w.pod.Spec.InitContainers[i], true)
	}
	for i := range w.pod.Spec.Containers {
		add(&w.pod.Spec.Containers[i], false)
	}
	if init := len(w.pod.Spec.InitContainers); init > 0 {
		for _, c := range w.pod.Spec.Containers {
			w.ctrs[c.Name].status.State.Waiting.Reason = "PodInitializing"
		}
		w.ctrs[w.pod.Spec.InitContainers[0].Name].status.State.Waiting.Reason = "PodInitializing"
	}
	w.update(pod)
	return w
}

func (w *podWorker) key() string { return w.ns + "/" + w.name }

func (w *podWorker) podSnapshot() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

// update takes the latest pod object; a deletion timestamp starts graceful termination.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	// Replace, never mutate: readers hold the old pointer without the lock. The spec is
	// immutable for what the agent uses.
	np := *w.pod
	np.Labels, np.Annotations = pod.Labels, pod.Annotations
	np.DeletionTimestamp, np.DeletionGracePeriodSeconds = pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds
	w.pod = &np
	w.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		grace := int64(30)
		if pod.DeletionGracePeriodSeconds != nil {
			grace = *pod.DeletionGracePeriodSeconds
		} else if pod.Spec.TerminationGracePeriodSeconds != nil {
			grace = *pod.Spec.TerminationGracePeriodSeconds
		}
		w.terminate(time.Duration(grace)*time.Second, true)
	}
}

// terminate asks every container to stop within grace; a later call may only shorten it.
func (w *podWorker) terminate(grace time.Duration, deleteAfter bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	dl := time.Now().Add(grace)
	if deleteAfter {
		w.deleteAfter = true
	}
	if w.stopped {
		if dl.Before(w.deadline) {
			w.deadline = dl
		}
		return
	}
	w.stopped, w.deadline = true, dl
	close(w.stop)
}

func (w *podWorker) isStopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until the pod is stopped; it reports whether the pod is still running.
func (w *podWorker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.stop:
		return false
	case <-t.C:
		return true
	}
}

func (w *podWorker) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *podWorker) event(typ, reason, format string, args ...any) {
	w.node.rec.Eventf(w.podSnapshot(), typ, reason, format, args...)
}

func (w *podWorker) run() {
	pod := w.podSnapshot()
	log := w.a.log.With("pod", w.key(), "node", w.node.name)
	ip, err := w.node.pool.Allocate(string(w.uid))
	if err != nil {
		w.event(corev1.EventTypeWarning, "FailedCreatePodSandBox", "%v", err)
		log.Error("allocate pod IP", "err", err)
		<-w.stop
		w.finish()
		return
	}
	now := metav1.Now()
	w.mu.Lock()
	w.ip, w.startTime = ip, &now
	w.mu.Unlock()
	statusCtx, stopStatus := context.WithCancel(context.Background())
	statusDone := make(chan struct{})
	go func() { defer close(statusDone); w.statusLoop(statusCtx) }()
	defer func() {
		if !w.isStopped() || !w.deleteAfterSet() {
			w.markDirty()
			w.flushStatus()
		}
		stopStatus()
		<-statusDone
		w.finish()
	}()
	log.Info("starting pod", "ip", ip)
	for _, d := range []string{"pids", "specs", "rootfs", "volumes"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o755); err != nil {
			w.event(corev1.EventTypeWarning, "FailedCreatePodSandBox", "create pod dir: %v", err)
			<-w.stop
			return
		}
	}
	w.markDirty()

	vols, ok := w.waitVolumes()
	if !ok {
		return
	}
	w.mu.Lock()
	w.sandboxReady = true
	w.mu.Unlock()
	w.markDirty()

	for i := range pod.Spec.InitContainers {
		if !w.runContainer(&pod.Spec.InitContainers[i], vols) {
			return
		}
	}
	w.mu.Lock()
	w.initDone = true
	for _, c := range pod.Spec.Containers {
		w.ctrs[c.Name].status.State.Waiting.Reason = "ContainerCreating"
	}
	w.mu.Unlock()
	w.markDirty()

	var wg sync.WaitGroup
	results := make([]bool, len(pod.Spec.Containers))
	for i := range pod.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = w.runContainer(&pod.Spec.Containers[i], vols)
		}()
	}
	wg.Wait()
	if w.isStopped() {
		return
	}
	phase := corev1.PodSucceeded
	for _, ok := range results {
		if !ok {
			phase = corev1.PodFailed
		}
	}
	w.mu.Lock()
	w.phase = phase
	w.mu.Unlock()
	log.Info("pod completed", "phase", phase)
}

func (w *podWorker) deleteAfterSet() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.deleteAfter
}

// waitVolumes prepares volumes, retrying while claims are unbound or sources missing.
func (w *podWorker) waitVolumes() (map[string]string, bool) {
	var last string
	for {
		vols, err := w.prepareVolumes(context.Background())
		if err == nil {
			return vols, true
		}
		if msg := err.Error(); msg != last {
			last = msg
			w.event(corev1.EventTypeWarning, "FailedMount", "%s", msg)
			w.setAllWaiting("ContainerCreating", msg)
		}
		delay := 5 * time.Second
		var nr errNotReady
		if errors.As(err, &nr) {
			delay = 500 * time.Millisecond
		}
		if !w.sleep(delay) {
			return nil, false
		}
	}
}

func (w *podWorker) setAllWaiting(reason, msg string) {
	w.mu.Lock()
	for _, c := range w.ctrs {
		if c.status.State.Waiting != nil {
			c.status.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		}
	}
	w.mu.Unlock()
	w.markDirty()
}

// finish releases the pod's address and directory and completes an API deletion.
func (w *podWorker) finish() {
	w.node.pool.Release(string(w.uid))
	if err := os.RemoveAll(w.dir); err != nil {
		w.a.log.Warn("remove pod dir", "dir", w.dir, "err", err)
	}
	w.mu.Lock()
	del, pod := w.deleteAfter, w.pod
	w.mu.Unlock()
	if del && !w.a.isStopping() {
		w.a.finalizeDelete(pod.Namespace, pod.Name, pod.UID)
		w.a.log.Info("pod deleted", "pod", w.key())
	}
}

func (a *Agent) isStopping() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopping
}

func (w *podWorker) envContext() podenv.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	base := []corev1.EnvVar{
		{Name: "INSIGHT_BIND", Value: w.ip},
		{Name: "KUBERNETES_SERVICE_HOST", Value: w.a.cfg.APIHost},
		{Name: "KUBERNETES_SERVICE_PORT", Value: w.a.cfg.APIPort},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: w.a.cfg.APIPort},
		{Name: "KUBERNETES_PORT", Value: "tcp://" + w.a.cfg.APIHost + ":" + w.a.cfg.APIPort},
	}
	return podenv.Context{
		Pod: w.pod, PodIP: w.ip, HostIP: w.node.ip, Base: base,
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: w.a.cfg.CPU, corev1.ResourceMemory: w.a.cfg.Memory},
	}
}

// statusLoop pushes the pod status after changes, coalescing bursts.
func (w *podWorker) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
		}
		for {
			err := w.pushStatus(ctx)
			if err == nil || ctx.Err() != nil {
				break
			}
			w.a.log.Warn("update pod status", "pod", w.key(), "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// flushStatus pushes the final status synchronously (best effort).
func (w *podWorker) flushStatus() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.pushStatus(ctx); err != nil {
		w.a.log.Warn("final pod status", "pod", w.key(), "err", err)
	}
}

func (w *podWorker) pushStatus(ctx context.Context) error {
	pods := w.a.cs.CoreV1().Pods(w.ns)
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := pods.Get(ctx, w.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.UID != w.uid {
			return nil
		}
		cur.Status = w.buildStatus(cur)
		_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return fmt.Errorf("pod status kept conflicting")
}

func (w *podWorker) buildStatus(cur *corev1.Pod) corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := corev1.PodStatus{
		QOSClass: cur.Status.QOSClass, StartTime: w.startTime,
		HostIP: w.node.ip, HostIPs: []corev1.HostIP{{IP: w.node.ip}},
	}
	if w.ip != "" {
		st.PodIP, st.PodIPs = w.ip, []corev1.PodIP{{IP: w.ip}}
	}
	allReady, anyStarted := true, false
	for _, c := range w.spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, w.ctrs[c.Name].status)
	}
	for _, c := range w.spec.Containers {
		cs := w.ctrs[c.Name].status
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
		anyStarted = anyStarted || cs.State.Running != nil || cs.State.Terminated != nil || cs.RestartCount > 0
	}
	switch {
	case w.phase != "":
		st.Phase = w.phase
	case anyStarted:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		allReady = false
	}
	initialized := w.initDone || len(w.spec.InitContainers) == 0 && w.sandboxReady
	cond := func(t corev1.PodConditionType, ok bool, reason string) {
		s := corev1.ConditionFalse
		if ok {
			s, reason = corev1.ConditionTrue, ""
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.Now()}
		for _, old := range cur.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		st.Conditions = append(st.Conditions, c)
	}
	cond(corev1.PodReadyToStartContainers, w.sandboxReady, "")
	cond(corev1.PodInitialized, initialized, "ContainersNotInitialized")
	cond(corev1.ContainersReady, allReady, "ContainersNotReady")
	cond(corev1.PodReady, allReady, "ContainersNotReady")
	for _, old := range cur.Status.Conditions {
		if old.Type == corev1.PodScheduled {
			st.Conditions = append(st.Conditions, old)
		}
	}
	return st
}
