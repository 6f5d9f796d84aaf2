// Package kubeletapi serves, for the test node agent, the part of the kubelet's HTTPS API that
// the API server calls for kubectl logs, exec and port-forward: /containerLogs, /exec and
// /portForward on the node's daemonEndpoints port. Like a kubelet with x509 authentication and
// webhook authorization, it accepts only callers with a client certificate of the cluster's
// CA and asks the API server (SubjectAccessReview) whether that user may use nodes/proxy.
// Exec and port-forward use the kubelet's own streaming code (k8s.io/kubelet's CRI streaming
// packages: SPDY and WebSocket, portforward.k8s.io and the v1 to v4 channel protocols).
//
// It knows nothing of how pods run: the agent implements Host. It is for tests only.
package kubeletapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/kubelet/pkg/cri/streaming/portforward"
	remotecommandserver "k8s.io/kubelet/pkg/cri/streaming/remotecommand"
)

// Host is what the API needs from the node agent. Pods are named "<namespace>/<name>" in the
// streaming calls.
type Host interface {
	// Pod returns the pod of that name bound to this node.
	Pod(namespace, name string) (*corev1.Pod, bool)
	// ContainerLogs writes a container's log per opts; stdout or stderr is nil when that
	// stream was not asked for. Its error is the answer's text.
	ContainerLogs(ctx context.Context, pod *corev1.Pod, container string, opts *corev1.PodLogOptions, stdout, stderr io.Writer) error
	// CanExec says why a command cannot run in the container now (nil when it can).
	CanExec(pod *corev1.Pod, container string) error
	remotecommandserver.Executor
	portforward.PortForwarder
}

const (
	// streamIdleTimeout and streamCreationTimeout are the kubelet's defaults.
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommandconsts.DefaultStreamCreationTimeout
)

// Config is one node's API server.
type Config struct {
	Node      string // the node's name, for authorization
	Addr      string // host:port to listen on
	Cert      tls.Certificate
	ClientCAs *x509.CertPool
	Authz     Authorizer
	Host      Host
	Log       *slog.Logger
}

// Server is one node's kubelet API.
type Server struct {
	cfg Config
	srv *http.Server
	ln  net.Listener
}

// Listen binds cfg.Addr; Serve then answers on it.
func Listen(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kubelet API of %s: listen on %s: %w", cfg.Node, cfg.Addr, err)
	}
	s := &Server{cfg: cfg, ln: ln}
	s.srv = &http.Server{
		Handler: s.Handler(),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cfg.Cert},
			// Verified when given; a request without one is answered 401 like a kubelet's.
			ClientAuth: tls.VerifyClientCertIfGiven,
			ClientCAs:  cfg.ClientCAs,
		},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers until ctx is done.
func (s *Server) Serve(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			// Streams (follow, exec, port-forward) are long-lived: close, don't drain.
			_ = s.srv.Close()
		case <-done:
		}
	}()
	defer close(done)
	err := s.srv.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("kubelet API of %s: %w", s.cfg.Node, err)
}

// Handler is the API behind authentication and authorization.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", s.containerLogs)
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /exec/{ns}/{pod}/{container}", s.exec)
		mux.HandleFunc(m+" /exec/{ns}/{pod}/{uid}/{container}", s.exec)
		mux.HandleFunc(m+" /portForward/{ns}/{pod}", s.portForward)
		mux.HandleFunc(m+" /portForward/{ns}/{pod}/{uid}", s.portForward)
	}
	return s.authenticated(mux)
}

// writeText answers like go-restful's WriteError, which the kubelet uses: the text as is.
func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg))
}

func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
			writeText(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
		leaf := r.TLS.VerifiedChains[0][0]
		u := User{Name: leaf.Subject.CommonName, Groups: leaf.Subject.Organization}
		verb := verbOf(r.Method)
		ok, err := s.cfg.Authz.Allowed(r.Context(), u, verb, s.cfg.Node)
		if err != nil {
			s.cfg.Log.Error("kubelet API authorization", "user", u.Name, "err", err)
			writeText(w, http.StatusInternalServerError, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=nodes, subresource=proxy)", u.Name, verb))
			return
		}
		if !ok {
			writeText(w, http.StatusForbidden, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=nodes, subresource(s)=[proxy])\n", u.Name, verb))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// verbOf maps an HTTP method to the authorization verb, as the kubelet does.
func verbOf(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return "get"
}

func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, podName, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	opts, err := ParseLogOptions(r.URL.Query())
	if err != nil {
		writeText(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	pod, ok := s.cfg.Host.Pod(ns, podName)
	if !ok {
		writeText(w, http.StatusNotFound, fmt.Sprintf("pod %q does not exist", podName))
		return
	}
	if containerSpec(pod, container) == nil {
		writeText(w, http.StatusNotFound, fmt.Sprintf("container %q not found in pod %q", container, podName))
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		writeText(w, http.StatusInternalServerError, "the response cannot be flushed: cannot show logs")
		return
	}
	fw := &flushWriter{w: w, f: fl}
	var stdout, stderr io.Writer = fw, fw
	switch *opts.Stream {
	case corev1.LogStreamStdout:
		stderr = nil
	case corev1.LogStreamStderr:
		stdout = nil
	}
	w.Header().Set("Transfer-Encoding", "chunked")
	if err := s.cfg.Host.ContainerLogs(r.Context(), pod, container, opts, stdout, stderr); err != nil {
		if fw.wrote {
			s.cfg.Log.Warn("container logs", "pod", ns+"/"+podName, "container", container, "err", err)
			return
		}
		writeText(w, http.StatusBadRequest, err.Error())
	}
}

// flushWriter sends every write at once, so kubectl logs -f sees lines as they come.
type flushWriter struct {
	w     http.ResponseWriter
	f     http.Flusher
	wrote bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.wrote = true
	n, err := f.w.Write(p)
	f.f.Flush()
	return n, err
}

// ParseLogOptions reads the query of a /containerLogs request: the parameters of the API's
// PodLogOptions (and the legacy "tail"), validated as the API server does.
func ParseLogOptions(q map[string][]string) (*corev1.PodLogOptions, error) {
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	// A query bool is false for "", "0", "f" and "false" (any case), true otherwise, as in
	// the API machinery's conversion.
	boolean := func(k string) bool {
		v, ok := get(k)
		if !ok {
			return false
		}
		switch strings.ToLower(v) {
		case "", "0", "f", "false":
			return false
		}
		return true
	}
	integer := func(k string, min int64) (*int64, error) {
		v, ok := get(k)
		if !ok {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return nil, fmt.Errorf("query parameter %s=%q: want an integer >= %d", k, v, min)
		}
		return &n, nil
	}
	o := &corev1.PodLogOptions{Follow: boolean("follow"), Previous: boolean("previous"), Timestamps: boolean("timestamps")}
	var err error
	if t, ok := get("tail"); ok && t != "all" {
		q = cloneWith(q, "tailLines", t)
	}
	if o.TailLines, err = integer("tailLines", 0); err != nil {
		return nil, err
	}
	if o.LimitBytes, err = integer("limitBytes", 1); err != nil {
		return nil, err
	}
	if o.SinceSeconds, err = integer("sinceSeconds", 1); err != nil {
		return nil, err
	}
	if v, ok := get("sinceTime"); ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("query parameter sinceTime=%q: want an RFC 3339 time (e.g. 2026-12-05T18:00:00Z)", v)
		}
		mt := metav1.NewTime(t)
		o.SinceTime = &mt
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		return nil, errors.New("query parameters sinceSeconds and sinceTime: give at most one")
	}
	stream := corev1.LogStreamAll
	if v, ok := get("stream"); ok {
		stream = v
	}
	switch stream {
	case corev1.LogStreamAll, corev1.LogStreamStdout, corev1.LogStreamStderr:
	default:
		return nil, fmt.Errorf("query parameter stream=%q: want %s, %s or %s", stream, corev1.LogStreamStdout, corev1.LogStreamStderr, corev1.LogStreamAll)
	}
	if stream != corev1.LogStreamAll && o.TailLines != nil {
		return nil, fmt.Errorf("query parameters stream=%s and tailLines: tailLines needs stream=%s", stream, corev1.LogStreamAll)
	}
	o.Stream = &stream
	return o, nil
}

func cloneWith(q map[string][]string, k, v string) map[string][]string {
	c := make(map[string][]string, len(q)+1)
	for key, vals := range q {
		c[key] = vals
	}
	c[k] = []string{v}
	return c
}

func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if c := &pod.Spec.EphemeralContainers[i]; c.Name == name {
			return (*corev1.Container)(&c.EphemeralContainerCommon)
		}
	}
	return nil
}

// streamPod finds the pod an exec or port-forward request names, by name and, when the
// path has one, by UID; it answers 404 as the kubelet does when there is none.
func (s *Server) streamPod(w http.ResponseWriter, r *http.Request, ns, name string) (*corev1.Pod, bool) {
	pod, ok := s.cfg.Host.Pod(ns, name)
	if !ok {
		writeText(w, http.StatusNotFound, "pod does not exist")
		return nil, false
	}
	if uid := r.PathValue("uid"); uid != "" && types.UID(uid) != pod.UID {
		writeText(w, http.StatusNotFound, "pod not found")
		return nil, false
	}
	return pod, true
}

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	ns, podName, container := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	streamOpts, err := remotecommandserver.NewOptions(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	pod, ok := s.streamPod(w, r, ns, podName)
	if !ok {
		return
	}
	if err := s.cfg.Host.CanExec(pod, container); err != nil {
		// The kubelet's streaming errors are a 500 with the text.
		writeText(w, http.StatusInternalServerError, err.Error())
		return
	}
	cmd := r.URL.Query()["command"]
	remotecommandserver.ServeExec(w, r, s.cfg.Host, ns+"/"+podName, pod.UID, container, cmd, streamOpts,
		streamIdleTimeout, streamCreationTimeout, remotecommandconsts.SupportedStreamingProtocols)
}

func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	ns, podName := r.PathValue("ns"), r.PathValue("pod")
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	pod, ok := s.streamPod(w, r, ns, podName)
	if !ok {
		return
	}
	portforward.ServePortForward(w, r, s.cfg.Host, ns+"/"+podName, pod.UID, opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}
