package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tlsSecretName is the Secret the chart makes for release demo (global.tls.enabled).
const tlsSecretName = "demo-insight-tls"

// releaseTLS reads release demo's certificate Secret in ns: the CA pool and the
// certificate with its key; ok false when the release has none (TLS off).
func releaseTLS(t *testing.T, ns string) (pool *x509.CertPool, cert tls.Certificate, data map[string][]byte, ok bool) {
	t.Helper()
	s, err := cluster.Client.CoreV1().Secrets(ns).Get(context.Background(), tlsSecretName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, tls.Certificate{}, nil, false
	}
	if err != nil {
		t.Fatalf("the release's TLS Secret: %v", err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data["ca.crt"]) {
		t.Fatalf("Secret %s/%s: ca.crt is not PEM", ns, tlsSecretName)
	}
	cert, err = tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"])
	if err != nil {
		t.Fatalf("Secret %s/%s: %v", ns, tlsSecretName, err)
	}
	return pool, cert, s.Data, true
}

// managerHTTP is a client of release demo's manager API at its pod address, as a caller
// outside the release sees it: with TLS it trusts the release's CA and expects the
// managers' Service name (the certificate names no pod address), presenting no
// certificate.
func managerHTTP(t *testing.T, ns string) *http.Client {
	t.Helper()
	pool, _, _, ok := releaseTLS(t, ns)
	if !ok {
		return http.DefaultClient
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "demo-insight-manager." + ns + ".svc"}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// podIP is the address of pod name in ns.
func podIP(t *testing.T, ns, name string) string {
	t.Helper()
	p, err := cluster.Client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || p.Status.PodIP == "" {
		t.Fatalf("pod %s: %v (IP %q)", name, err, p.Status.PodIP)
	}
	return p.Status.PodIP
}

// handshake dials addr over TLS trusting pool, presenting certs, and completes a request
// so that a refused client certificate (reported after the TLS 1.3 handshake) shows: the
// error, or nil when the server served it.
func handshake(addr, serverName string, pool *x509.CertPool, certs []tls.Certificate) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serverName, Certificates: certs})
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if len(b) > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("closed without an answer")
	}
	return err
}

// pingTLS sends PING over TLS to addr and returns the first line of the answer.
func pingTLS(addr, serverName string, pool *x509.CertPool, certs []tls.Certificate) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serverName, Certificates: certs})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

// A release installed with the defaults (and RESP over TLS on pu.tls.port) runs TLS inside: etcd and the replication port
// refuse a caller without the release's client certificate, the manager API speaks only
// HTTPS and refuses a change without the operator token, insightctl status and scale work
// through it, and an upgrade keeps the certificate.
func TestTLSInsideTheRelease(t *testing.T) {
	ns := cluster.Namespace(t, "tls")
	insightctlOK(t, "install", "demo", "-n", ns, "--profile", "ha", "--partitions", "1", "--set", "pu.tls.port=6390", "--timeout", "4m")
	pool, cert, before, ok := releaseTLS(t, ns)
	if !ok {
		t.Fatalf("no Secret %s/%s: the chart made no certificate", ns, tlsSecretName)
	}
	if s := status(t, ns); !s.ManagerReachable || len(s.Partitions) != 1 || s.Partitions[0].Primary == nil || !s.Partitions[0].Primary.Ready {
		t.Fatalf("insightctl status against the TLS release: %+v", s)
	}

	// The test process is outside the release, on the pod network (the node agent runs
	// pods on the host's network): the callers a NetworkPolicy would not stop.
	manager := podIP(t, ns, "demo-insight-manager-0")
	managerName := "demo-insight-manager-0.demo-insight-manager-headless." + ns + ".svc"
	etcd := net.JoinHostPort(manager, "2379")
	if err := handshake(etcd, managerName, pool, nil); err == nil {
		t.Error("etcd served a client without a certificate")
	} else {
		t.Logf("etcd without a client certificate: %v", err)
	}
	if err := handshake(etcd, managerName, pool, []tls.Certificate{cert}); err != nil {
		t.Errorf("etcd refused the release's own certificate: %v", err)
	}
	if resp, err := http.Get("http://" + etcd + "/health"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("health")) {
			t.Errorf("etcd answered plain HTTP: %s", body)
		}
	}
	pu := podIP(t, ns, "demo-insight-pu-0-0")
	if err := handshake(net.JoinHostPort(pu, "6380"), "", pool, nil); err == nil {
		t.Error("the replication port served a client without a certificate")
	}
	// RESP over TLS (pu.tls.port, client certificates required by default) beside plain RESP.
	if got, err := pingTLS(net.JoinHostPort(pu, "6390"), "demo-insight-pu."+ns+".svc", pool, []tls.Certificate{cert}); err != nil || got != "+PONG" {
		t.Errorf("PING over TLS with the release's certificate: %q, %v", got, err)
	}
	if got, err := pingTLS(net.JoinHostPort(pu, "6390"), "demo-insight-pu."+ns+".svc", pool, nil); err == nil && got == "+PONG" {
		t.Error("RESP over TLS served a client without a certificate (pu.tls.authClients=yes)")
	}

	// The API: HTTPS only, and no change without the operator token.
	api := fmt.Sprintf("https://%s:8090", manager)
	if resp, err := http.Get(strings.Replace(api, "https:", "http:", 1) + "/v1/partitions"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the manager API answered plain HTTP")
		}
	}
	refusedWithoutToken(t, ns, api)

	// A rolling scale: a helm upgrade, replication over the repl port while the pods
	// restart, the manager reached by insightctl over HTTPS.
	insightctlOK(t, "scale", "demo", "-n", ns, "--memory", "600Mi", "--timeout", "5m")
	_, _, after, _ := releaseTLS(t, ns)
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if !bytes.Equal(before[k], after[k]) {
			t.Errorf("the upgrade changed %s of Secret %s", k, tlsSecretName)
		}
	}
	if s := status(t, ns); !s.ManagerReachable || s.Release.Revision != 2 || s.Partitions[0].Primary == nil || !s.Partitions[0].Primary.Ready {
		t.Errorf("status after the scale: %+v", s)
	}

	// Switching TLS off by an upgrade is refused before anything changes.
	bad := insightctl(t, "upgrade", "demo", "-n", ns, "--set", "global.tls.enabled=false,pu.tls.port=0", "--timeout", "2m")
	if bad.ExitCode == 0 || !strings.Contains(bad.Stderr, "not rolling-safe") {
		t.Errorf("upgrade with global.tls.enabled=false: exit %d\n%s", bad.ExitCode, bad.Stderr)
	}
	if s := status(t, ns); s.Release.Revision != 2 {
		t.Errorf("revision after the refused upgrade %d, want 2", s.Release.Revision)
	}
}
