package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// kubectl logs, exec and port-forward of a grid pod on the local cluster, through the API
// server to the node agent's kubelet API as on a real cluster, and the kubelet API's answers
// to requests it must refuse.
func TestKubeletAPI(t *testing.T) {
	ns := cluster.Namespace(t, "kubelet")
	helmOK(t, "install", "demo", umbrellaChart, "-n", ns, "--wait", "--timeout", "3m", "--set", "pu.partitions=1")
	pod := readyGridPods(t, ns, 1)[0]
	const container = "pu"
	if pod.Spec.Containers[0].Name != container {
		t.Fatalf("the data pod's container is %q, want %q", pod.Spec.Containers[0].Name, container)
	}

	t.Run("logs", func(t *testing.T) {
		full := kubectlOK(t, "logs", "-n", ns, pod.Name, "-c", container)
		if !strings.Contains(full, `"msg":"serving as primary"`) {
			t.Fatalf("kubectl logs has no 'serving as primary' line:\n%s", full)
		}
		tail := kubectlOK(t, "logs", "-n", ns, pod.Name, "--tail=2")
		if n := strings.Count(tail, "\n"); n != 2 {
			t.Errorf("--tail=2 printed %d lines:\n%s", n, tail)
		}
		if after := kubectlOK(t, "logs", "-n", ns, pod.Name); !strings.Contains(after, tail) {
			t.Errorf("--tail=2 printed lines that are not the log's last ones:\n%s\nlog:\n%s", tail, after)
		}
		ts := kubectlOK(t, "logs", "-n", ns, pod.Name, "--tail=1", "--timestamps")
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \{"time"`).MatchString(ts) {
			t.Errorf("--timestamps printed %q", ts)
		}
		if lim := kubectlOK(t, "logs", "-n", ns, pod.Name, "--limit-bytes=16"); lim != full[:16] {
			t.Errorf("--limit-bytes=16 printed %q, want %q", lim, full[:16])
		}
		if since := kubectlOK(t, "logs", "-n", ns, pod.Name, "--since=1h"); !strings.Contains(since, `"msg":"serving as primary"`) {
			t.Errorf("--since=1h left out the start:\n%s", since)
		}
		// The kubelet's own answer, passed on by the API server.
		res := kubectl(t, "logs", "-n", ns, pod.Name, "--previous")
		want := fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod.Name)
		if res.exit == 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("logs --previous of a container that never restarted: exit %d, stderr %q, want %q", res.exit, res.stderr, want)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		port := portForward(t, ns, pod.Name, 6379)
		key := "kubelet-e2e-" + utilrand.String(6)
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"PING"}, "PONG"},
			{[]string{"SET", key, "forwarded"}, "OK"},
			{[]string{"GET", key}, "forwarded"},
		} {
			if got := redisCLI(t, append([]string{"-p", strconv.Itoa(port)}, c.args...)...); got != c.want {
				t.Errorf("redis-cli %s through the port-forward: %q, want %q", strings.Join(c.args, " "), got, c.want)
			}
		}
		// The write reached the pod itself.
		if got := redisCLI(t, "-h", pod.Status.PodIP, "GET", key); got != "forwarded" {
			t.Errorf("GET %s on the pod's address %s: %q, want the value set through the forward", key, pod.Status.PodIP, got)
		}
	})

	t.Run("exec", func(t *testing.T) {
		out := kubectlOK(t, "exec", "-n", ns, pod.Name, "-c", container, "--", "/insight-grid", "version")
		if !regexp.MustCompile(`^\d+\.\d+\.\d+\S*\n$`).MatchString(out) {
			t.Errorf("exec insight-grid version printed %q", out)
		}
		res := kubectl(t, "exec", "-n", ns, pod.Name, "--", "/insight-grid", "bogus")
		if res.exit != 2 || !strings.Contains(res.stderr, `unknown role "bogus"`) || !strings.Contains(res.stderr, "command terminated with exit code 2") {
			t.Errorf("exec of a failing command: exit %d, stderr %q; want its exit code 2 and its stderr", res.exit, res.stderr)
		}
	})

	t.Run("refused requests", func(t *testing.T) {
		node, err := cluster.Client.CoreV1().Nodes().Get(context.Background(), pod.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		base := kubeletURL(t, node)
		pki := filepath.Join(filepath.Dir(cluster.Kubeconfig), "pki")
		apiserver := kubeletClient(t, pki, "apiserver-kubelet-client")
		cases := []struct {
			name   string
			client *http.Client
			path   string
			code   int
			body   string
		}{
			{"unknown pod", apiserver, "/containerLogs/" + ns + "/no-such-pod/" + container, 404, `pod "no-such-pod" does not exist`},
			{"unknown container", apiserver, "/containerLogs/" + ns + "/" + pod.Name + "/nope", 404, fmt.Sprintf("container %q not found in pod %q", "nope", pod.Name)},
			{"unknown pod for port-forward", apiserver, "/portForward/" + ns + "/no-such-pod", 404, "pod does not exist"},
			{"no client certificate", kubeletClient(t, pki, ""), "/containerLogs/" + ns + "/" + pod.Name + "/" + container, 401, "Unauthorized"},
			{"a log that is there", apiserver, "/containerLogs/" + ns + "/" + pod.Name + "/" + container + "?tailLines=1", 200, `"role":"data"`},
		}
		for _, c := range cases {
			resp, err := c.client.Get(base + c.path)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(b), c.body) {
				t.Errorf("%s: %d %q, want %d with %q", c.name, resp.StatusCode, b, c.code, c.body)
			}
		}
		// A certificate the cluster CA did not sign is refused in the handshake (sent even
		// though the server asks for the cluster CA's).
		stranger := kubeletClient(t, pki, "")
		cert := selfSigned(t)
		stranger.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
		if resp, err := stranger.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("a self-signed client certificate got %s, want the handshake refused", resp.Status)
		}
	})

	// Last: it deletes the pod. -f prints lines as they come and ends with the container.
	t.Run("logs -f", func(t *testing.T) {
		before := kubectlOK(t, "logs", "-n", ns, pod.Name)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(cluster.ToolsBin, "kubectl"), "--kubeconfig", cluster.Kubeconfig,
			"logs", "-f", "-n", ns, pod.Name, "--tail=1")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		select {
		case l := <-lines:
			if !strings.Contains(before, l+"\n") {
				t.Errorf("logs -f --tail=1 started with %q, not a line of the log", l)
			}
		case <-ctx.Done():
			t.Fatal("logs -f printed nothing")
		}
		deleted := time.Now()
		if err := cluster.Client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var later []string
		for l := range lines {
			later = append(later, l)
		}
		err = cmd.Wait()
		if ctx.Err() != nil {
			t.Fatalf("logs -f did not end within 2m of the pod's deletion; printed %q", later)
		}
		if err != nil {
			t.Errorf("logs -f: %v\n%s", err, stderr.String())
		}
		if !strings.Contains(strings.Join(later, "\n"), `"msg":"data instance stopped"`) {
			t.Errorf("logs -f after the deletion printed %q, want the instance's last line", later)
		}
		t.Logf("logs -f ended %s after the pod's deletion, %d lines after the first", time.Since(deleted).Round(time.Millisecond), len(later))
	})
}

type kubectlResult struct {
	stdout, stderr string
	exit           int
}

func kubectl(t *testing.T, args ...string) kubectlResult {
	t.Helper()
	if cluster.ToolsBin == "" {
		t.Fatal("INSIGHT_TOOLS_BIN is not set: run the e2e tests through make e2e")
	}
	r := cluster.Run(t, time.Minute, filepath.Join(cluster.ToolsBin, "kubectl"), args...)
	return kubectlResult{stdout: r.Stdout, stderr: r.Stderr, exit: r.ExitCode}
}

func kubectlOK(t *testing.T, args ...string) string {
	t.Helper()
	r := kubectl(t, args...)
	if r.exit != 0 {
		t.Fatalf("kubectl %s: exit %d\n%s%s", strings.Join(args, " "), r.exit, r.stdout, r.stderr)
	}
	return r.stdout
}

func redisCLI(t *testing.T, args ...string) string {
	t.Helper()
	r := cluster.Run(t, 20*time.Second, "redis-cli", args...)
	if r.ExitCode != 0 {
		t.Fatalf("redis-cli %s: exit %d\n%s%s", strings.Join(args, " "), r.ExitCode, r.Stdout, r.Stderr)
	}
	return strings.TrimSpace(r.Stdout)
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)

// portForward runs kubectl port-forward to the pod's port on a free local port until the test
// ends, and returns the local port.
func portForward(t *testing.T, ns, pod string, port int) int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.ToolsBin, "kubectl"), "--kubeconfig", cluster.Kubeconfig,
		"port-forward", "-n", ns, "--address", "127.0.0.1", "pod/"+pod, ":"+strconv.Itoa(port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	found := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := forwarding.FindStringSubmatch(sc.Text()); m != nil {
				p, _ := strconv.Atoi(m[1])
				found <- p
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p := <-found:
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward printed no 'Forwarding from' line within 30s\n%s", stderr.String())
	}
	return 0
}

// kubeletURL is where the API server reaches the node's kubelet API: its InternalIP at the
// port its status publishes.
func kubeletURL(t *testing.T, node *corev1.Node) string {
	t.Helper()
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && port > 0 {
			return "https://" + net.JoinHostPort(a.Address, strconv.Itoa(int(port)))
		}
	}
	t.Fatalf("node %s publishes no InternalIP and kubelet port: %+v %+v", node.Name, node.Status.Addresses, node.Status.DaemonEndpoints)
	return ""
}

// kubeletClient trusts the cluster CA and presents the named certificate of the cluster's
// PKI ("" for none).
func kubeletClient(t *testing.T, pki, cert string) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no certificate in ca.crt")
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		c, err := tls.LoadX509KeyPair(filepath.Join(pki, cert+".crt"), filepath.Join(pki, cert+".key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stranger", Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
