package kubeletapi

import (
	"bytes"
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
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/utils/exec"
)

// testPKI is a CA with a serving certificate for 127.0.0.1 and client certificates.
type testPKI struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	pool   *x509.CertPool
	serial int64
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, pool: pool, serial: 1}
}

func (p *testPKI) issue(t *testing.T, subject pkix.Name, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type fakeAuthz struct{ allow map[string]bool }

func (f fakeAuthz) Allowed(_ context.Context, u User, verb, node string) (bool, error) {
	if node != "node-a" {
		return false, fmt.Errorf("asked about node %q", node)
	}
	return f.allow[u.Name+" "+verb], nil
}

// fakeHost has one pod, ns/web with containers app and sidecar, whose app logs "line 1".
type fakeHost struct {
	mu        sync.Mutex
	gotOpts   *corev1.PodLogOptions
	gotStderr bool
	echoAddr  string
}

var webPod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-1"},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}}},
}

func (h *fakeHost) Pod(ns, name string) (*corev1.Pod, bool) {
	if ns == "ns" && name == "web" {
		return webPod, true
	}
	return nil, false
}

func (h *fakeHost) ContainerLogs(_ context.Context, _ *corev1.Pod, container string, opts *corev1.PodLogOptions, stdout, stderr io.Writer) error {
	h.mu.Lock()
	h.gotOpts, h.gotStderr = opts, stderr != nil
	h.mu.Unlock()
	if container == "sidecar" {
		return errors.New(`container "sidecar" in pod "web" is waiting to start: ContainerCreating`)
	}
	if stdout != nil {
		_, _ = io.WriteString(stdout, "line 1\n")
	}
	return nil
}

func (h *fakeHost) CanExec(_ *corev1.Pod, container string) error {
	if container != "app" {
		return fmt.Errorf("container not found (%q)", container)
	}
	return nil
}

func (h *fakeHost) ExecInContainer(_ context.Context, name string, uid types.UID, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	fmt.Fprintf(out, "%s %s %s %s\n", name, uid, container, strings.Join(cmd, " "))
	if in != nil {
		b, _ := io.ReadAll(in)
		fmt.Fprintf(errw, "stdin %q\n", b)
	}
	if len(cmd) > 0 && cmd[0] == "fail" {
		return utilexec.CodeExitError{Err: errors.New("exit status 3"), Code: 3}
	}
	return nil
}

func (h *fakeHost) PortForward(_ context.Context, _ string, _ types.UID, port int32, stream io.ReadWriteCloser) error {
	if port != 6379 {
		return fmt.Errorf("nothing listens on port %d", port)
	}
	conn, err := net.Dial("tcp", h.echoAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() { _, _ = io.Copy(conn, stream) }()
	_, err = io.Copy(stream, conn)
	return err
}

// serve starts the API for node-a with host and returns its base URL and the PKI.
func serve(t *testing.T, host Host, authz Authorizer) (string, *testPKI) {
	t.Helper()
	pki := newPKI(t)
	srv, err := Listen(Config{
		Node: "node-a", Addr: "127.0.0.1:0", Cert: pki.issue(t, pkix.Name{CommonName: "system:node:node-a"}, x509.ExtKeyUsageServerAuth),
		ClientCAs: pki.pool, Authz: authz, Host: host, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "https://" + srv.Addr().String(), pki
}

func tlsConfig(pki *testPKI, cert *tls.Certificate) *tls.Config {
	cfg := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

func get(t *testing.T, cfg *tls.Config, u string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthenticationAndAuthorization(t *testing.T) {
	base, pki := serve(t, &fakeHost{}, fakeAuthz{allow: map[string]bool{"kube-apiserver-kubelet-client get": true}})
	apiserver := pki.issue(t, pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth)
	someone := pki.issue(t, pkix.Name{CommonName: "someone"}, x509.ExtKeyUsageClientAuth)
	cases := []struct {
		name string
		cert *tls.Certificate
		code int
		body string
	}{
		{"no client certificate", nil, 401, "Unauthorized"},
		{"a user without nodes/proxy", &someone, 403, "Forbidden (user=someone, verb=get, resource=nodes, subresource(s)=[proxy])\n"},
		{"the API server", &apiserver, 200, "line 1\n"},
	}
	for _, c := range cases {
		code, body := get(t, tlsConfig(pki, c.cert), base+"/containerLogs/ns/web/app")
		if code != c.code || body != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.name, code, body, c.code, c.body)
		}
	}
	// A certificate of another CA fails the handshake.
	other := newPKI(t).issue(t, pkix.Name{CommonName: "kube-apiserver-kubelet-client"}, x509.ExtKeyUsageClientAuth)
	cfg := tlsConfig(pki, nil)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &other, nil }
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	if resp, err := c.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another CA got %s, want the handshake refused", resp.Status)
	}
}

func TestContainerLogsAnswers(t *testing.T) {
	host := &fakeHost{}
	base, pki := serve(t, host, fakeAuthz{allow: map[string]bool{"apiserver get": true}})
	cert := pki.issue(t, pkix.Name{CommonName: "apiserver"}, x509.ExtKeyUsageClientAuth)
	cases := []struct {
		path string
		code int
		body string
	}{
		{"/containerLogs/ns/web/app?follow=true&tailLines=5&timestamps=1&limitBytes=100&sinceSeconds=60", 200, "line 1\n"},
		{"/containerLogs/ns/nope/app", 404, `pod "nope" does not exist`},
		{"/containerLogs/other/web/app", 404, `pod "web" does not exist`},
		{"/containerLogs/ns/web/db", 404, `container "db" not found in pod "web"`},
		{"/containerLogs/ns/web/sidecar", 400, `container "sidecar" in pod "web" is waiting to start: ContainerCreating`},
		{"/containerLogs/ns/web/app?tailLines=-1", 422, `query parameter tailLines="-1": want an integer >= 0`},
		{"/containerLogs/ns/web/app?limitBytes=0", 422, `query parameter limitBytes="0": want an integer >= 1`},
		{"/containerLogs/ns/web/app?sinceTime=yesterday", 422, `query parameter sinceTime="yesterday": want an RFC 3339 time`},
		{"/containerLogs/ns/web/app?stream=both", 422, `query parameter stream="both": want Stdout, Stderr or All`},
		{"/containerLogs/ns/web", 404, "404 page not found\n"},
		{"/stats/summary", 404, "404 page not found\n"},
	}
	for _, c := range cases {
		code, body := get(t, tlsConfig(pki, &cert), base+c.path)
		if code != c.code || !strings.HasPrefix(body, c.body) {
			t.Errorf("GET %s: %d %q, want %d %q", c.path, code, body, c.code, c.body)
		}
	}
	code, _ := get(t, tlsConfig(pki, &cert), base+"/containerLogs/ns/web/app?stream=Stdout")
	host.mu.Lock()
	defer host.mu.Unlock()
	if code != 200 || host.gotStderr {
		t.Errorf("stream=Stdout: %d, stderr passed on %v; want 200 and stdout only", code, host.gotStderr)
	}
}

func TestParseLogOptions(t *testing.T) {
	i := func(n int64) *int64 { return &n }
	all, stdout := corev1.LogStreamAll, corev1.LogStreamStdout
	since := metav1.NewTime(time.Date(2026, 12, 5, 18, 0, 0, 0, time.UTC))
	cases := []struct {
		query string
		want  corev1.PodLogOptions
		err   string
	}{
		{"", corev1.PodLogOptions{Stream: &all}, ""},
		{"follow=true&previous=1&timestamps=false", corev1.PodLogOptions{Follow: true, Previous: true, Stream: &all}, ""},
		{"tail=7", corev1.PodLogOptions{TailLines: i(7), Stream: &all}, ""},
		{"tail=all", corev1.PodLogOptions{Stream: &all}, ""},
		{"tailLines=0&limitBytes=9&sinceSeconds=30", corev1.PodLogOptions{TailLines: i(0), LimitBytes: i(9), SinceSeconds: i(30), Stream: &all}, ""},
		{"sinceTime=2026-12-05T18:00:00Z&stream=Stdout", corev1.PodLogOptions{SinceTime: &since, Stream: &stdout}, ""},
		{"sinceSeconds=0", corev1.PodLogOptions{}, `sinceSeconds="0": want an integer >= 1`},
		{"sinceSeconds=5&sinceTime=2026-12-05T18:00:00Z", corev1.PodLogOptions{}, "sinceSeconds and sinceTime: give at most one"},
		{"stream=Stderr&tailLines=3", corev1.PodLogOptions{}, "tailLines needs stream=All"},
		{"tailLines=x", corev1.PodLogOptions{}, `tailLines="x"`},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		got, err := ParseLogOptions(q)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.query, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.query, err)
			continue
		}
		if fmt.Sprint(deref(got)) != fmt.Sprint(deref(&c.want)) {
			t.Errorf("%q:\n got %v\nwant %v", c.query, deref(got), deref(&c.want))
		}
	}
}

func deref(o *corev1.PodLogOptions) []any {
	v := func(p *int64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	var since, stream any
	if o.SinceTime != nil {
		since = o.SinceTime.UTC()
	}
	if o.Stream != nil {
		stream = *o.Stream
	}
	return []any{o.Follow, o.Previous, o.Timestamps, v(o.TailLines), v(o.LimitBytes), v(o.SinceSeconds), since, stream}
}

// restConfig is how client-go reaches the API with cert (as the API server's proxy does).
func restConfig(base string, pki *testPKI, cert tls.Certificate) *rest.Config {
	caPEM := pemOf(pki.ca)
	certPEM, keyPEM := pemPair(cert)
	return &rest.Config{Host: base, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM, CertData: certPEM, KeyData: keyPEM}}
}

func TestExecOverSPDY(t *testing.T) {
	base, pki := serve(t, &fakeHost{}, fakeAuthz{allow: map[string]bool{"apiserver create": true}})
	cfg := restConfig(base, pki, pki.issue(t, pkix.Name{CommonName: "apiserver"}, x509.ExtKeyUsageClientAuth))
	run := func(container string, cmd ...string) (string, string, error) {
		// The kubelet's names for the streams, which the API server sends.
		q := url.Values{"command": cmd, "input": {"1"}, "output": {"1"}, "error": {"1"}}
		u, _ := url.Parse(base + "/exec/ns/web/" + container + "?" + q.Encode())
		ex, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello"), Stdout: &out, Stderr: &errb})
		return out.String(), errb.String(), err
	}
	out, errOut, err := run("app", "echo", "hi")
	if err != nil || out != "ns/web uid-1 app echo hi\n" || errOut != "stdin \"hello\"\n" {
		t.Errorf("exec: out %q err %q: %v", out, errOut, err)
	}
	_, _, err = run("app", "fail")
	var ee utilexec.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("exec of a command exiting 3: %v, want its exit code", err)
	}
	_, _, err = run("db", "true")
	if err == nil || !strings.Contains(err.Error(), `container not found ("db")`) {
		t.Errorf("exec in an unknown container: %v", err)
	}
}

func TestPortForwardOverSPDY(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	base, pki := serve(t, &fakeHost{echoAddr: echo.Addr().String()}, fakeAuthz{allow: map[string]bool{"apiserver create": true}})
	cfg := restConfig(base, pki, pki.issue(t, pkix.Name{CommonName: "apiserver"}, x509.ExtKeyUsageClientAuth))
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base + "/portForward/ns/web")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	var pfOut bytes.Buffer
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:6379"}, stop, ready, &pfOut, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	defer func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("port-forward after stop: %v", err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("ports %v: %v", ports, err)
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "PING\r\n" {
		t.Fatalf("echo through the forward: %q %v", buf, err)
	}
}

func pemOf(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func pemPair(c tls.Certificate) (certPEM, keyPEM []byte) {
	der, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}
