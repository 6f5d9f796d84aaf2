package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/insightgrid/insight/e2e/nodeagent/crilog"
	"github.com/insightgrid/insight/e2e/nodeagent/image"
	"github.com/insightgrid/insight/e2e/nodeagent/podenv"
	"github.com/insightgrid/insight/e2e/nodeagent/sandbox"
)

// resetBackoffAfter: a container that ran this long restarts without delay, like kubelet's
// backoff reset.
const resetBackoffAfter = 10 * time.Minute

// runContainer runs c until it may not be restarted or the pod stops. It reports whether
// the container's last run succeeded (exit 0).
func (w *podWorker) runContainer(c *corev1.Container, vols map[string]string) bool {
	policy := w.spec.RestartPolicy
	st := w.ctr(c.Name)
	isInit := st.init
	backoff := w.a.cfg.BackoffBase
	for {
		if w.isStopped() {
			return false
		}
		img, err := w.a.cfg.Images.Lookup(c.Image)
		if err != nil {
			reason := "ErrImageNeverPull"
			msg := fmt.Sprintf("Container image %q is not present in the node agent's image archives: %v", c.Image, err)
			w.setWaiting(st, reason, msg)
			w.event(corev1.EventTypeWarning, reason, "%s", msg)
			w.event(corev1.EventTypeWarning, "Failed", "Error: %s", reason)
			<-w.stop // archives are loaded once: nothing will change until the pod goes
			return false
		}
		spec, err := w.sandboxSpec(c, img, vols)
		if err != nil {
			w.setWaiting(st, "CreateContainerConfigError", err.Error())
			w.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
			if !w.sleep(backoff) {
				return false
			}
			backoff = min(2*backoff, w.a.cfg.BackoffMax)
			continue
		}
		code, ranFor, startErr := w.runOnce(c, st, spec)
		if startErr != nil {
			w.setWaiting(st, "RunContainerError", startErr.Error())
			w.event(corev1.EventTypeWarning, "Failed", "Error: %v", startErr)
		}
		if w.isStopped() {
			return false
		}
		restart := policy == corev1.RestartPolicyAlways || policy == corev1.RestartPolicyOnFailure && code != 0
		if isInit {
			if code == 0 && startErr == nil {
				return true
			}
			restart = policy != corev1.RestartPolicyNever
		}
		if !restart {
			return code == 0 && startErr == nil
		}
		if ranFor >= resetBackoffAfter {
			backoff = w.a.cfg.BackoffBase
		}
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", backoff, c.Name, w.name, w.ns, w.uid)
		w.mu.Lock()
		if st.status.State.Terminated != nil {
			st.status.LastTerminationState = corev1.ContainerState{Terminated: st.status.State.Terminated}
		}
		st.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}}
		w.mu.Unlock()
		w.markDirty()
		w.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, w.name)
		if !w.sleep(backoff) {
			return false
		}
		backoff = min(2*backoff, w.a.cfg.BackoffMax)
		w.mu.Lock()
		st.status.RestartCount++
		w.mu.Unlock()
	}
}

func (w *podWorker) ctr(name string) *ctr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ctrs[name]
}

func (w *podWorker) setWaiting(st *ctr, reason, msg string) {
	w.mu.Lock()
	st.status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	st.status.Ready = false
	w.mu.Unlock()
	w.markDirty()
}

// runOnce starts the container's process and waits for it to exit, probing it meanwhile.
func (w *podWorker) runOnce(c *corev1.Container, st *ctr, spec *sandbox.Spec) (code int, ranFor time.Duration, err error) {
	specPath := filepath.Join(w.dir, "specs", c.Name+".json")
	if err := sandbox.WriteSpec(specPath, spec); err != nil {
		return -1, 0, err
	}
	w.mu.Lock()
	run := st.status.RestartCount
	w.mu.Unlock()
	logs, err := w.openLogs(c.Name, run)
	if err != nil {
		return -1, 0, err
	}
	defer logs.close()
	cmd := sandbox.Command(specPath, logs.stdout, logs.stderr)
	if err := cmd.Start(); err != nil {
		return -1, 0, fmt.Errorf("start container: %w", err)
	}
	logs.started()
	pid := cmd.Process.Pid
	pidFile := filepath.Join(w.dir, "pids", c.Name)
	_ = os.WriteFile(pidFile, []byte(strconv.Itoa(pid)), 0o644)
	started := time.Now()
	w.mu.Lock()
	st.sbox = spec
	st.status.ContainerID = containerID(w.uid, c.Name, run)
	st.status.ImageID = st.status.Image
	st.status.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}
	st.status.Started = ptrBool(c.StartupProbe == nil)
	st.status.Ready = false
	w.mu.Unlock()
	w.markDirty()
	w.event(corev1.EventTypeNormal, "Started", "Started container %s", c.Name)

	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	probeCtx, stopProbes := context.WithCancel(context.Background())
	kill := make(chan string, 1)
	go w.probeLoop(probeCtx, c, st, kill)
	if h := c.Lifecycle; h != nil && h.PostStart != nil {
		if err := w.runHandler(probeCtx, c, st, h.PostStart, w.podGrace()); err != nil {
			w.event(corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
			kill <- "FailedPostStartHook"
		}
	}

	select {
	case <-exited:
	case <-w.stop:
		w.stopProcess(c, st, pid, exited, true)
	case why := <-kill:
		w.event(corev1.EventTypeNormal, "Killing", "Container %s %s, will be restarted", c.Name, why)
		w.stopProcess(c, st, pid, exited, false)
	}
	stopProbes()
	// A container's processes end with it (as with a PID namespace); this also ends its log.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	logs.wait()
	_ = os.Remove(pidFile)
	finished := time.Now()
	code = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	w.mu.Lock()
	st.status.Ready = false
	st.status.Started = ptrBool(false)
	st.status.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, StartedAt: metav1.NewTime(started), FinishedAt: metav1.NewTime(finished),
		ContainerID: st.status.ContainerID,
	}}
	w.mu.Unlock()
	w.markDirty()
	return code, finished.Sub(started), nil
}

func ptrBool(b bool) *bool { return &b }

// runLogs is one container run's log: the process writes into two pipes, whose lines go to
// the CRI-format log the kubelet API serves and to the plain per-container file.
type runLogs struct {
	a              *Agent
	path           string
	plain, cri     io.Closer
	stdout, stderr *os.File // the process's ends
	readers        []*os.File
	copied         chan struct{}
}

func (w *podWorker) openLogs(container string, run int32) (*runLogs, error) {
	l := &runLogs{a: w.a, path: w.a.logPath(w.ns, w.name, w.uid, container, run), copied: make(chan struct{})}
	if run >= 2 {
		// Keep the run before this one for --previous, as a kubelet keeps the last dead container.
		_ = os.Remove(w.a.logPath(w.ns, w.name, w.uid, container, run-2))
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return nil, fmt.Errorf("create container log dir: %w", err)
	}
	plainPath := filepath.Join(w.a.cfg.StateDir, "logs", fmt.Sprintf("%s_%s_%s.log", w.ns, w.name, container))
	plain, err := os.OpenFile(plainPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	l.plain = plain
	cri, err := crilog.Create(l.path, plain)
	if err != nil {
		l.close()
		return nil, err
	}
	l.cri = cri
	streams := []crilog.Stream{crilog.Stdout, crilog.Stderr}
	var ends [2]*os.File
	for i := range streams {
		r, wr, err := os.Pipe()
		if err != nil {
			l.close()
			return nil, fmt.Errorf("container log pipe: %w", err)
		}
		l.readers = append(l.readers, r)
		ends[i] = wr
	}
	l.stdout, l.stderr = ends[0], ends[1]
	w.a.setLogActive(l.path, true)
	go func() {
		defer close(l.copied)
		var wg sync.WaitGroup
		for i, s := range streams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cri.Copy(s, l.readers[i]); err != nil {
					w.a.log.Warn("container log", "pod", w.key(), "container", container, "err", err)
				}
			}()
		}
		wg.Wait()
	}()
	return l, nil
}

// started closes the agent's copies of the process's ends, so the log ends with the process.
func (l *runLogs) started() {
	_ = l.stdout.Close()
	_ = l.stderr.Close()
}

// wait lets the log take in what the run wrote; bounded, in case an escaped process still
// holds the pipes.
func (l *runLogs) wait() {
	select {
	case <-l.copied:
	case <-time.After(5 * time.Second):
		for _, r := range l.readers {
			_ = r.Close()
		}
		<-l.copied
	}
}

func (l *runLogs) close() {
	l.a.setLogActive(l.path, false)
	for _, f := range []*os.File{l.stdout, l.stderr} {
		if f != nil {
			_ = f.Close()
		}
	}
	if l.stdout != nil {
		l.wait()
	}
	for _, r := range l.readers {
		_ = r.Close()
	}
	for _, c := range []io.Closer{l.cri, l.plain} {
		if c != nil {
			_ = c.Close()
		}
	}
}

func (w *podWorker) podGrace() time.Duration {
	if g := w.spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// stopProcess runs the preStop hook (when the pod stops), then SIGTERMs the process group and
// SIGKILLs it at the deadline: the pod's for a pod stop, terminationGracePeriod for a restart.
func (w *podWorker) stopProcess(c *corev1.Container, st *ctr, pid int, exited <-chan struct{}, podStop bool) {
	deadline := time.Now().Add(w.podGrace())
	if podStop {
		w.mu.Lock()
		deadline = w.deadline
		w.mu.Unlock()
		w.event(corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
	}
	if h := c.Lifecycle; podStop && h != nil && h.PreStop != nil && time.Until(deadline) > 0 {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		if err := w.runHandler(ctx, c, st, h.PreStop, time.Until(deadline)); err != nil {
			w.event(corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
		}
		cancel()
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			_ = syscall.Kill(-pid, syscall.SIGKILL) // stragglers in the group
			return
		case <-tick.C:
		}
		dl := deadline
		if podStop {
			w.mu.Lock()
			dl = w.deadline // may have been shortened (force delete)
			w.mu.Unlock()
		}
		if time.Now().After(dl) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// sandboxSpec computes the container's process, identity and mounts.
func (w *podWorker) sandboxSpec(c *corev1.Container, img *image.Image, vols map[string]string) (*sandbox.Spec, error) {
	ectx := w.envContext()
	pod := ectx.Pod
	vars, err := podenv.Resolve(c, ectx, w.a)
	if err != nil {
		return nil, err
	}
	rootfs := filepath.Join(w.dir, "rootfs", c.Name)
	done := rootfs + ".unpacked"
	if _, err := os.Stat(done); err != nil {
		_ = os.RemoveAll(rootfs)
		if err := img.Unpack(rootfs); err != nil {
			return nil, err
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return nil, fmt.Errorf("mark rootfs unpacked: %w", err)
		}
	}
	uid, gid, err := identity(pod, c, img)
	if err != nil {
		return nil, err
	}
	groups := []uint32{gid}
	if psc := pod.Spec.SecurityContext; psc != nil {
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
		if psc.FSGroup != nil {
			groups = append(groups, uint32(*psc.FSGroup))
		}
	}
	ms, err := mounts(c, vols, vars)
	if err != nil {
		return nil, err
	}
	hostname := pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
	}
	wd := c.WorkingDir
	if wd == "" {
		wd = img.Config.WorkingDir
	}
	argv := podenv.Argv(c, img.Config.Entrypoint, img.Config.Cmd, vars)
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %q has no command: set command in the pod or Entrypoint/Cmd in image %s", c.Name, c.Image)
	}
	return &sandbox.Spec{
		Rootfs: rootfs, ReadOnlyRoot: c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem,
		Hostname: truncateHostname(hostname), HostsFile: w.a.hostsFile, ResolvFile: w.a.resolvFile,
		Mounts: ms, WorkingDir: wd, UID: uid, GID: gid, Groups: groups,
		Argv: argv, Env: podenv.Environ(img.Config.Env, vars),
	}, nil
}

func truncateHostname(h string) string {
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// identity picks uid/gid like kubelet: container securityContext over pod securityContext over
// the image's USER; runAsNonRoot refuses uid 0.
func identity(pod *corev1.Pod, c *corev1.Container, img *image.Image) (uint32, uint32, error) {
	var uid, gid *int64
	var nonRoot *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid, nonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
	}
	if csc := c.SecurityContext; csc != nil {
		if csc.RunAsUser != nil {
			uid = csc.RunAsUser
		}
		if csc.RunAsGroup != nil {
			gid = csc.RunAsGroup
		}
		if csc.RunAsNonRoot != nil {
			nonRoot = csc.RunAsNonRoot
		}
	}
	var imgUID, imgGID int64
	if u := img.Config.User; u != "" {
		us, gs, hasG := strings.Cut(u, ":")
		n, err := strconv.ParseInt(us, 10, 32)
		if err != nil && uid == nil {
			return 0, 0, fmt.Errorf("image %s USER %q is not numeric: set securityContext.runAsUser", img.Ref, u)
		}
		imgUID = n
		if hasG {
			if g, err := strconv.ParseInt(gs, 10, 32); err == nil {
				imgGID = g
			}
		}
	}
	if uid == nil {
		uid = &imgUID
	}
	if gid == nil {
		gid = &imgGID
	}
	if nonRoot != nil && *nonRoot && *uid == 0 {
		return 0, 0, errors.New("container has runAsNonRoot and image will run as root")
	}
	return uint32(*uid), uint32(*gid), nil
}

// probeLoop runs the startup probe, then liveness and readiness, until ctx ends. A liveness or
// startup failure sends the reason on kill.
func (w *podWorker) probeLoop(ctx context.Context, c *corev1.Container, st *ctr, kill chan<- string) {
	start := time.Now()
	if p := c.StartupProbe; p != nil {
		if !w.probeUntil(ctx, c, st, "Startup", p, start, kill, true) {
			return
		}
	}
	w.mu.Lock()
	st.status.Started = ptrBool(true)
	if c.ReadinessProbe == nil {
		st.status.Ready = true
	}
	w.mu.Unlock()
	w.markDirty()
	if p := c.ReadinessProbe; p != nil {
		go w.probeUntil(ctx, c, st, "Readiness", p, start, kill, false)
	}
	if p := c.LivenessProbe; p != nil {
		w.probeUntil(ctx, c, st, "Liveness", p, start, kill, false)
	}
}

// probeUntil runs one probe at its period. Startup returns true on first success; readiness
// flips Ready; liveness and startup failures past the threshold ask for a kill.
func (w *podWorker) probeUntil(ctx context.Context, c *corev1.Container, st *ctr, kind string, p *corev1.Probe, start time.Time, kill chan<- string, once bool) bool {
	period := seconds(p.PeriodSeconds, 10)
	timeout := seconds(p.TimeoutSeconds, 1)
	failThreshold := int(max(p.FailureThreshold, 1))
	if p.FailureThreshold == 0 {
		failThreshold = 3
	}
	successThreshold := int(max(p.SuccessThreshold, 1))
	delay := time.Until(start.Add(time.Duration(p.InitialDelaySeconds) * time.Second))
	if delay > 0 && !sleepCtx(ctx, delay) {
		return false
	}
	fails, oks := 0, 0
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := w.runHandler(pctx, c, st, &corev1.LifecycleHandler{Exec: p.Exec, HTTPGet: p.HTTPGet, TCPSocket: p.TCPSocket}, timeout)
		if p.GRPC != nil {
			err = errors.New("grpc probes are not supported by the insight node agent")
		}
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			fails, oks = 0, oks+1
			if oks >= successThreshold {
				if once {
					return true
				}
				if kind == "Readiness" {
					w.setReady(st, true)
				}
			}
		} else {
			oks, fails = 0, fails+1
			w.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", kind, err)
			if fails >= failThreshold {
				switch kind {
				case "Readiness":
					w.setReady(st, false)
				default:
					select {
					case kill <- fmt.Sprintf("failed %s probe", strings.ToLower(kind)):
					default:
					}
					return false
				}
			}
		}
		if !sleepCtx(ctx, period) {
			return false
		}
	}
}

func (w *podWorker) setReady(st *ctr, ready bool) {
	w.mu.Lock()
	changed := st.status.Ready != ready
	st.status.Ready = ready
	w.mu.Unlock()
	if changed {
		w.markDirty()
	}
}

func seconds(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// runHandler runs a probe or lifecycle handler against the container.
func (w *podWorker) runHandler(ctx context.Context, c *corev1.Container, st *ctr, h *corev1.LifecycleHandler, timeout time.Duration) error {
	w.mu.Lock()
	ip := w.ip
	w.mu.Unlock()
	switch {
	case h.Exec != nil:
		return w.execIn(ctx, st, h.Exec.Command, timeout)
	case h.HTTPGet != nil:
		g := h.HTTPGet
		port, err := resolvePort(g.Port, c)
		if err != nil {
			return err
		}
		host := g.Host
		if host == "" {
			host = ip
		}
		scheme := strings.ToLower(string(g.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		path := g.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
		if err != nil {
			return err
		}
		for _, hd := range g.HTTPHeaders {
			if strings.EqualFold(hd.Name, "Host") {
				req.Host = hd.Value
				continue
			}
			req.Header.Add(hd.Name, hd.Value)
		}
		req.Header.Set("User-Agent", "kube-probe/1.34")
		client := &http.Client{
			Timeout:       timeout,
			Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}, //nolint:gosec // probes skip verification like kubelet
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, c)
		if err != nil {
			return err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = ip
		}
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.Sleep != nil:
		sleepCtx(ctx, time.Duration(h.Sleep.Seconds)*time.Second)
		return nil
	}
	return errors.New("handler has no exec, httpGet, tcpSocket or sleep action")
}

func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found among container %s's ports", p.StrVal, c.Name)
}

// execIn runs command in a fresh sandbox over the container's rootfs and volumes: the same
// files the container sees (a new mount namespace, not the container's own).
func (w *podWorker) execIn(ctx context.Context, st *ctr, command []string, timeout time.Duration) error {
	w.mu.Lock()
	if st.sbox == nil {
		w.mu.Unlock()
		return errors.New("container not started")
	}
	spec := *st.sbox
	w.execSeq++
	seq := w.execSeq
	w.mu.Unlock()
	spec.Argv = command
	path := filepath.Join(w.dir, "specs", fmt.Sprintf("%s.exec-%d.json", st.spec.Name, seq))
	if err := sandbox.WriteSpec(path, &spec); err != nil {
		return err
	}
	defer os.Remove(path)
	var out bytes.Buffer
	cmd := sandbox.Command(path, &out, &out)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %v: %w", command, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("command %q: %v: %s", strings.Join(command, " "), err, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	case <-ctx.Done():
	case <-t.C:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	killed := <-done
	return fmt.Errorf("command %q timed out after %s (%v)", strings.Join(command, " "), timeout, killed)
}
