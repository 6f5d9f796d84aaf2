package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/remotecommand"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate/csr"
	utilexec "k8s.io/utils/exec"

	"github.com/insightgrid/insight/e2e/nodeagent/crilog"
	"github.com/insightgrid/insight/e2e/nodeagent/kubeletapi"
	"github.com/insightgrid/insight/e2e/nodeagent/sandbox"
)

// certTimeout bounds getting a node's serving certificate signed.
const certTimeout = time.Minute

// startKubeletAPI gets each node a serving certificate and serves its kubelet API on the
// node's address at the daemonEndpoints port until ctx is done.
func (a *Agent) startKubeletAPI(ctx context.Context) error {
	authz := kubeletapi.NewSubjectAccessReviews(a.cs.AuthorizationV1().SubjectAccessReviews())
	for _, n := range a.nodes {
		cert, err := a.servingCert(ctx, n)
		if err != nil {
			return err
		}
		srv, err := kubeletapi.Listen(kubeletapi.Config{
			Node: n.name, Addr: net.JoinHostPort(n.ip, strconv.Itoa(a.cfg.KubeletPort)),
			Cert: cert, ClientCAs: a.cfg.ClientCAs, Authz: authz, Host: &nodeHost{a: a, n: n},
			Log: a.log.With("node", n.name),
		})
		if err != nil {
			return err
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := srv.Serve(ctx); err != nil {
				a.log.Error("kubelet API stopped", "node", n.name, "err", err)
			}
		}()
		a.log.Info("kubelet API serving", "node", n.name, "addr", srv.Addr().String())
	}
	return nil
}

// servingCert gets the node a serving certificate the way a kubelet with serverTLSBootstrap
// does: a CertificateSigningRequest for the kubernetes.io/kubelet-serving signer, which the
// controller-manager signs with the cluster CA. Nobody approves those automatically, so the
// agent (with admin credentials) approves its own.
func (a *Agent) servingCert(ctx context.Context, n *node) (tls.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, certTimeout)
	defer cancel()
	fail := func(err error) (tls.Certificate, error) {
		return tls.Certificate{}, fmt.Errorf("serving certificate of node %s: %w", n.name, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fail(err)
	}
	csrPEM, err := certutil.MakeCSR(key, &pkix.Name{CommonName: "system:node:" + n.name, Organization: []string{"system:nodes"}},
		[]string{n.name}, []net.IP{net.ParseIP(n.ip)})
	if err != nil {
		return fail(err)
	}
	usages := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth}
	name, uid, err := csr.RequestCertificateWithContext(ctx, a.cs, csrPEM, "", certificatesv1.KubeletServingSignerName, nil, usages, key)
	if err != nil {
		return fail(err)
	}
	csrs := a.cs.CertificatesV1().CertificateSigningRequests()
	req, err := csrs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fail(err)
	}
	req.Status.Conditions = append(req.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue,
		Reason: "InsightNodeAgentApproved", Message: "the insight test node agent approves its nodes' serving certificates",
	})
	if _, err := csrs.UpdateApproval(ctx, name, req, metav1.UpdateOptions{}); err != nil {
		return fail(fmt.Errorf("approve %s: %w", name, err))
	}
	certPEM, err := csr.WaitForCertificate(ctx, a.cs, name, uid)
	if err != nil {
		return fail(fmt.Errorf("waiting for %s to be signed (is kube-controller-manager running with --cluster-signing-cert-file?): %w", name, err))
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fail(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if err != nil {
		return fail(err)
	}
	return cert, nil
}

// containerID names one run of a container; logPath is where that run's log is.
func containerID(uid types.UID, container string, restart int32) string {
	return fmt.Sprintf("insight://%s-%s-%d", uid, container, restart)
}

// podLogDir holds a pod's container logs (as /var/log/pods does for a kubelet): kept after
// the pod's processes end, removed with the pod.
func (a *Agent) podLogDir(ns, name string, uid types.UID) string {
	return filepath.Join(a.cfg.StateDir, "logs", "pods", fmt.Sprintf("%s_%s_%s", ns, name, uid))
}

func (a *Agent) logPath(ns, name string, uid types.UID, container string, restart int32) string {
	return filepath.Join(a.podLogDir(ns, name, uid), container, fmt.Sprintf("%d.log", restart))
}

func (a *Agent) setLogActive(path string, active bool) {
	a.logsMu.Lock()
	defer a.logsMu.Unlock()
	if active {
		a.activeLogs[path] = true
	} else {
		delete(a.activeLogs, path)
	}
}

func (a *Agent) logActive(path string) bool {
	a.logsMu.Lock()
	defer a.logsMu.Unlock()
	return a.activeLogs[path]
}

func (a *Agent) worker(uid types.UID) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.workers[uid]
}

// nodeHost is one node's side of the kubelet API.
type nodeHost struct {
	a *Agent
	n *node
}

func (h *nodeHost) Pod(namespace, name string) (*corev1.Pod, bool) {
	p, err := h.a.podLister.Pods(namespace).Get(name)
	if err != nil || p.Spec.NodeName != h.n.name {
		return nil, false
	}
	return p, true
}

// statuses returns the pod's container statuses: the agent's own while it runs the pod, the
// API's afterwards (as the kubelet falls back to the pod's status).
func (h *nodeHost) statuses(pod *corev1.Pod) []corev1.ContainerStatus {
	w := h.a.worker(pod.UID)
	if w == nil {
		return append(append([]corev1.ContainerStatus(nil), pod.Status.ContainerStatuses...), pod.Status.InitContainerStatuses...)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]corev1.ContainerStatus, 0, len(w.ctrs))
	for _, c := range w.ctrs {
		out = append(out, *c.status.DeepCopy())
	}
	return out
}

func (h *nodeHost) ContainerLogs(ctx context.Context, pod *corev1.Pod, container string, opts *corev1.PodLogOptions, stdout, stderr io.Writer) error {
	id, err := logContainerID(pod.Name, h.statuses(pod), container, opts.Previous)
	if err != nil {
		return err
	}
	prefix := containerID(pod.UID, container, 0)
	restart, err := strconv.ParseInt(strings.TrimPrefix(id, prefix[:len(prefix)-1]), 10, 32)
	if err != nil || !strings.HasPrefix(id, prefix[:len(prefix)-1]) {
		return fmt.Errorf("container %q in pod %q has ID %q, not one of this node agent's", container, pod.Name, id)
	}
	path := h.a.logPath(pod.Namespace, pod.Name, pod.UID, container, int32(restart))
	ro := crilog.Options{TailLines: -1, Timestamps: opts.Timestamps, Follow: opts.Follow}
	if opts.TailLines != nil {
		ro.TailLines = *opts.TailLines
	}
	if opts.LimitBytes != nil {
		ro.LimitBytes = *opts.LimitBytes
	}
	if opts.SinceSeconds != nil {
		ro.Since = time.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	if opts.SinceTime != nil {
		ro.Since = opts.SinceTime.Time
	}
	if stdout != nil {
		// Sends the response header before a follow waits for the first line.
		if _, err := stdout.Write(nil); err != nil {
			return err
		}
	}
	return crilog.Read(ctx, path, ro, stdout, stderr, func() bool { return h.a.logActive(path) })
}

// logContainerID picks the run whose log is asked for, with the kubelet's answers when there
// is none.
func logContainerID(podName string, statuses []corev1.ContainerStatus, container string, previous bool) (string, error) {
	var cs *corev1.ContainerStatus
	for i := range statuses {
		if statuses[i].Name == container {
			cs = &statuses[i]
		}
	}
	if cs == nil {
		return "", fmt.Errorf("container %q in pod %q is not available", container, podName)
	}
	last := cs.LastTerminationState.Terminated
	switch st := cs.State; {
	case previous:
		if last == nil || last.ContainerID == "" {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, podName)
		}
		return last.ContainerID, nil
	case st.Running != nil:
		return cs.ContainerID, nil
	case st.Terminated != nil:
		if st.Terminated.ContainerID != "" {
			return st.Terminated.ContainerID, nil
		}
		if last != nil && last.ContainerID != "" {
			return last.ContainerID, nil
		}
		return "", fmt.Errorf("container %q in pod %q is terminated", container, podName)
	case last != nil:
		if last.ContainerID == "" {
			return "", fmt.Errorf("container %q in pod %q is terminated", container, podName)
		}
		return last.ContainerID, nil
	case st.Waiting != nil:
		return "", fmt.Errorf("container %q in pod %q is waiting to start: %v", container, podName, st.Waiting.Reason)
	}
	return "", fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", container, podName)
}

// running returns the container's sandbox spec while it runs.
func (h *nodeHost) running(uid types.UID, container string) (*podWorker, *sandbox.Spec, bool) {
	w := h.a.worker(uid)
	if w == nil {
		return nil, nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.ctrs[container]
	if st == nil || st.sbox == nil || st.status.State.Running == nil {
		return nil, nil, false
	}
	spec := *st.sbox
	return w, &spec, true
}

func (h *nodeHost) CanExec(pod *corev1.Pod, container string) error {
	if _, _, ok := h.running(pod.UID, container); !ok {
		return fmt.Errorf("container not found (%q)", container)
	}
	return nil
}

// ExecInContainer runs cmd in a fresh sandbox over the container's root filesystem, volumes,
// identity and environment (see execIn), wired to the client's streams.
func (h *nodeHost) ExecInContainer(ctx context.Context, name string, uid types.UID, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	w, spec, ok := h.running(uid, container)
	if !ok {
		return fmt.Errorf("container not found (%q)", container)
	}
	if len(cmd) == 0 {
		return errors.New("no command given (query parameter command)")
	}
	spec.Argv = cmd
	w.mu.Lock()
	w.execSeq++
	path := filepath.Join(w.dir, "specs", fmt.Sprintf("%s.exec-%d.json", container, w.execSeq))
	w.mu.Unlock()
	if err := sandbox.WriteSpec(path, spec); err != nil {
		return err
	}
	defer os.Remove(path)
	c := sandbox.Command(path, nil, nil)
	var ptmx *os.File
	if tty {
		attrs := c.SysProcAttr
		attrs.Setpgid = false // the new session is the new process group
		p, err := pty.StartWithAttrs(c, nil, attrs)
		if err != nil {
			return fmt.Errorf("start %q with a terminal: %w", strings.Join(cmd, " "), err)
		}
		ptmx = p
		defer ptmx.Close()
		go func() {
			for size := range resize {
				_ = pty.Setsize(ptmx, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
		}()
		if in != nil {
			go func() { _, _ = io.Copy(ptmx, in) }()
		}
	} else {
		if in != nil {
			c.Stdin = in
		}
		if out != nil {
			c.Stdout = out
		}
		if errw != nil {
			c.Stderr = errw
		}
		// Client streams may stay open after the command exits: do not wait on them long.
		c.WaitDelay = 2 * time.Second
		if err := c.Start(); err != nil {
			return fmt.Errorf("start %q: %w", strings.Join(cmd, " "), err)
		}
	}
	copied := make(chan struct{})
	if ptmx != nil && out != nil {
		go func() { defer close(copied); _, _ = io.Copy(out, ptmx) }()
	} else {
		close(copied)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		err = <-done
	case <-w.stop:
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) // what it left behind in its group
	if ptmx != nil {
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
	}
	return execResult(err)
}

// execResult turns the command's end into the kubelet's answer: an exit code is reported as
// such (a signal as 128+signal, like a shell), anything else as an error.
func execResult(err error) error {
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return utilexec.CodeExitError{Err: err, Code: 128 + int(ws.Signal())}
	}
	return utilexec.CodeExitError{Err: err, Code: ee.ExitCode()}
}

// PortForward splices stream to the pod's address at port (every pod binds its own address
// here, where a kubelet would dial localhost in the pod's network namespace).
func (h *nodeHost) PortForward(ctx context.Context, name string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	w := h.a.worker(uid)
	if w == nil {
		return fmt.Errorf("pod not found (%q)", name)
	}
	w.mu.Lock()
	ip := w.ip
	w.mu.Unlock()
	if ip == "" {
		return fmt.Errorf("pod %q has no address yet", name)
	}
	addr := net.JoinHostPort(ip, strconv.Itoa(int(port)))
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to connect to %s of pod %s: %w", addr, name, err)
	}
	defer conn.Close()
	go func() {
		_, _ = io.Copy(conn, stream)
		// The client is done sending: let the pod see the end and answer the rest.
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	if _, err := io.Copy(stream, conn); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("forwarding %s of pod %s: %w", addr, name, err)
	}
	return nil
}
