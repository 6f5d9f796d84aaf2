package submit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
)

// tailLines is how many of the driver's last log lines a failure shows.
const tailLines = 20

// fatalWaiting are the container waiting reasons that end a job: the image cannot be pulled
// or the container cannot be made, and retrying will not change it without the user.
var fatalWaiting = map[string]string{
	"ImagePullBackOff":           "the image cannot be pulled",
	"InvalidImageName":           "the image name is not valid",
	"CreateContainerConfigError": "the container's configuration is wrong (a missing Secret or ConfigMap?)",
	"CreateContainerError":       "the container cannot be created",
}

// follower follows one job's driver pod.
type follower struct {
	d       *deps.Deps
	job     string
	release string
	pod     string
	timeout time.Duration
	// startTimeout bounds the time until the driver's container runs.
	startTimeout time.Duration
	// out is where the driver's log goes: standard output, or standard error when -o
	// json|yaml keeps standard output for the summary. out and errOut are locked
	// writers: the log is copied by its own goroutine.
	out, errOut io.Writer

	// last is the last state line printed; the line is printed again only when it changes.
	last string
	// logs streams the driver's log once its container runs; done closes when it ends.
	logs *logStream
}

// DriverError is a driver that ended with a non-zero exit code: insightctl exits with it.
type DriverError struct {
	Job    string
	Code   int32
	Reason string
	Tail   []string
}

func (e *DriverError) Error() string {
	msg := fmt.Sprintf("job %s failed: its driver exited with code %d", e.Job, e.Code)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if len(e.Tail) > 0 {
		msg += "; the last lines of its log:\n  " + strings.Join(e.Tail, "\n  ")
	}
	return msg
}

// ExitCode implements exit.Coder: the driver's own code.
func (e *DriverError) ExitCode() int { return int(e.Code) }

// follow polls the driver pod until it ends, printing its phase, the executors and what
// holds it, and streaming its log to Out once it runs.
func (f *follower) follow(ctx context.Context, sum *Summary) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	defer f.stopLogs()
	start := f.d.Now()
	interval := f.d.PollInterval
	if interval <= 0 {
		interval = time.Second
	}
	pods := f.d.Kube.CoreV1().Pods(f.d.Namespace)
	for {
		pod, err := pods.Get(ctx, f.pod, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return fmt.Errorf("job %s: %w", f.job, errDriverGone)
		case err != nil && ctx.Err() != nil:
			return f.timedOut(sum, nil)
		case err != nil:
			return fmt.Errorf("job %s: read driver pod %s: %w", f.job, f.pod, err)
		}
		sum.Phase = string(pod.Status.Phase)
		executors, err := f.executors(ctx)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if executors > sum.Executors {
			sum.Executors = executors
		}
		f.report(fmt.Sprintf("[%s] driver %s", f.d.Now().Sub(start).Round(time.Second), f.describe(pod, executors)))
		started := false
		if c := driverStatus(pod); c != nil && (c.State.Running != nil || c.State.Terminated != nil) {
			started = true
			if f.logs == nil {
				f.logs = streamLogs(ctx, f.d, f.pod, f.out, f.errOut)
			}
		}
		if !started && terminated(pod) == nil && f.d.Now().Sub(start) >= f.startTimeout {
			return exit.TimeoutError(fmt.Errorf("job %s: its driver did not start within --start-timeout %s: %s; the pod stays ('kubectl describe pod -n %s %s'), remove it with 'insightctl submit %s --delete %s'",
				f.job, f.startTimeout, f.describe(pod, 0), f.d.Namespace, f.pod, f.release, f.job))
		}
		if reason, msg, fatal := waitingFatal(pod); fatal {
			f.stopLogs()
			return fmt.Errorf("job %s: the driver cannot start: %s (%s: %s); the pod stays for inspection ('kubectl describe pod -n %s %s'), remove it with 'insightctl submit %s --delete %s'",
				f.job, fatalWaiting[reason], reason, msg, f.d.Namespace, f.pod, f.release, f.job)
		}
		if t := terminated(pod); t != nil {
			f.drainLogs(ctx)
			code := t.ExitCode
			sum.ExitCode = &code
			if code == 0 && pod.Status.Phase != corev1.PodFailed {
				fmt.Fprintf(f.errOut, "Job %s succeeded: the driver exited with code 0\n", f.job)
				return nil
			}
			if code == 0 { // a failed pod without a failed container (evicted)
				code = 1
			}
			return &DriverError{Job: f.job, Code: code, Reason: strings.TrimSpace(t.Reason + " " + t.Message), Tail: f.tail(ctx)}
		}
		select {
		case <-ctx.Done():
			return f.timedOut(sum, pod)
		case <-time.After(interval):
		}
	}
}

// report prints a state line when it changed.
func (f *follower) report(line string) {
	state := line[strings.Index(line, "]")+1:]
	if state == f.last {
		return
	}
	f.last = state
	fmt.Fprintln(f.errOut, line)
}

// describe is the driver's phase and what it waits for: the scheduler's reason while
// unscheduled, the container's waiting reason, the executors once running.
func (f *follower) describe(pod *corev1.Pod, executors int) string {
	s := string(pod.Status.Phase)
	if s == "" {
		s = "Pending"
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return s + ", not scheduled: " + strings.TrimSpace(c.Reason+" "+c.Message)
		}
	}
	if c := driverStatus(pod); c != nil && c.State.Waiting != nil {
		return s + ", " + strings.TrimSpace(c.State.Waiting.Reason+" "+c.State.Waiting.Message)
	}
	if pod.Status.Phase == corev1.PodRunning {
		return fmt.Sprintf("%s, %d executor%s", s, executors, plural(executors))
	}
	return s
}

// executors counts the job's executor pods that have not ended.
func (f *follower) executors(ctx context.Context) (int, error) {
	l, err := f.d.Kube.CoreV1().Pods(f.d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelApp + "=" + f.job + "," + LabelRole + "=executor"})
	if err != nil {
		return 0, fmt.Errorf("job %s: list its executors: %w", f.job, err)
	}
	n := 0
	for _, p := range l.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

// timedOut explains a job still going when --timeout ends: it goes on in the cluster.
func (f *follower) timedOut(sum *Summary, pod *corev1.Pod) error {
	f.stopLogs()
	state := sum.Phase
	if pod != nil {
		state = f.describe(pod, sum.Executors)
	}
	return exit.TimeoutError(fmt.Errorf("job %s: after --timeout %s its driver is still %s; the job goes on: follow it with 'kubectl logs -f -n %s %s', remove it with 'insightctl submit %s --delete %s'",
		f.job, f.timeout, state, f.d.Namespace, f.pod, f.release, f.job))
}

// tail is the driver's last log lines: those streamed, else read from the API.
func (f *follower) tail(ctx context.Context) []string {
	if f.logs != nil {
		if lines := f.logs.tail(); len(lines) > 0 {
			return lines
		}
	}
	n := int64(tailLines)
	raw, err := f.d.Kube.CoreV1().Pods(f.d.Namespace).GetLogs(f.pod, &corev1.PodLogOptions{Container: DriverContainer, TailLines: &n}).DoRaw(ctx)
	if err != nil {
		return nil
	}
	return lastLines(strings.Split(strings.TrimRight(string(raw), "\n"), "\n"), tailLines)
}

// drainLogs waits, a bounded time, for the log stream to deliver the driver's last lines.
func (f *follower) drainLogs(ctx context.Context) {
	if f.logs == nil {
		return
	}
	select {
	case <-f.logs.done:
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
	}
	f.logs.stop()
}

func (f *follower) stopLogs() {
	if f.logs != nil {
		f.logs.stop()
	}
}

// driverStatus is the driver container's status, nil before the kubelet reports it.
func driverStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == DriverContainer {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	if len(pod.Status.ContainerStatuses) == 1 {
		return &pod.Status.ContainerStatuses[0]
	}
	return nil
}

// terminated is the driver container's end, or nil while it has not ended. A pod that
// failed before its container ran (evicted, deleted node) ends with an empty state.
func terminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	if c := driverStatus(pod); c != nil && c.State.Terminated != nil {
		return c.State.Terminated
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		code := int32(0)
		if pod.Status.Phase == corev1.PodFailed {
			code = 1
		}
		return &corev1.ContainerStateTerminated{ExitCode: code, Reason: pod.Status.Reason, Message: pod.Status.Message}
	}
	return nil
}

// waitingFatal reports a waiting reason that ends the job.
func waitingFatal(pod *corev1.Pod) (reason, message string, fatal bool) {
	c := driverStatus(pod)
	if c == nil || c.State.Waiting == nil {
		return "", "", false
	}
	_, fatal = fatalWaiting[c.State.Waiting.Reason]
	return c.State.Waiting.Reason, c.State.Waiting.Message, fatal
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func lastLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// logStream copies the driver's log to Out as it comes, keeping the last lines.
type logStream struct {
	done   chan struct{}
	cancel context.CancelFunc
	mu     sync.Mutex
	lines  []string
}

// streamLogs follows the driver container's log through the API server's pods/log, which
// reads it from the kubelet (on the local cluster, the node agent's kubelet API).
func streamLogs(ctx context.Context, d *deps.Deps, pod string, out, errOut io.Writer) *logStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &logStream{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		rc, err := d.Kube.CoreV1().Pods(d.Namespace).GetLogs(pod, &corev1.PodLogOptions{Container: DriverContainer, Follow: true}).Stream(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				fmt.Fprintf(errOut, "(the driver's log cannot be streamed: %v)\n", err)
			}
			return
		}
		defer rc.Close()
		s.copy(rc, out)
	}()
	return s
}

func (s *logStream) copy(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(w, line)
		s.mu.Lock()
		s.lines = lastLines(append(s.lines, line), tailLines)
		s.mu.Unlock()
	}
}

func (s *logStream) tail() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func (s *logStream) stop() {
	s.cancel()
	<-s.done
}

// lockedWriter serializes the writes of the follower and of the log's goroutine, which may
// share one stream.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
