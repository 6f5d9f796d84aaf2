package manager

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// tlsManagerSet is the manager StatefulSet of release demo mounting the CA of secret as
// the chart does (the key ca.crt as the file ca.crt); secret "" mounts none.
func tlsManagerSet(secret string) *appsv1.StatefulSet {
	s := managerSet("", "")
	if secret != "" {
		s.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "tmp"}, {Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: secret, Items: []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}, {Key: "ca.crt", Path: "ca.crt"}}}}}}
	}
	return s
}

// tlsServer is a manager serving HTTPS with httptest's certificate (a CA of its own, for
// 127.0.0.1 and example.com), and that certificate in PEM.
func tlsServer(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"partitions":[{"id":0,"epoch":1,"primary":"p0-i0"}]}`))
	}))
	t.Cleanup(s.Close)
	return s, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

func caSecret(name string, pemCA []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "insight"}, Data: map[string][]byte{"ca.crt": pemCA, "tls.crt": []byte("x"), "tls.key": []byte("y")}}
}

func TestSecretCAReadsTheSecretTheManagersMountOnce(t *testing.T) {
	s, pemCA := tlsServer(t)
	kube := fake.NewClientset(tlsManagerSet("demo-insight-tls"), caSecret("demo-insight-tls", pemCA))
	ca := SecretCA(kube, "insight", "demo")
	for range 2 {
		pool, err := ca(context.Background())
		if err != nil || pool == nil {
			t.Fatalf("CA %v, %v", pool, err)
		}
		if _, err := HTTPSClient(pool, "example.com").Get(s.URL); err != nil {
			t.Fatalf("the read CA does not verify the manager: %v", err)
		}
	}
	if n := secretGets(kube); n != 1 {
		t.Fatalf("%d Secret reads, want 1", n)
	}
}

func TestSecretCAOfAReleaseWithoutTLS(t *testing.T) {
	for name, kube := range map[string]*fake.Clientset{"no tls volume": fake.NewClientset(tlsManagerSet("")), "no manager": fake.NewClientset()} {
		pool, err := SecretCA(kube, "insight", "demo")(context.Background())
		if err != nil || pool != nil {
			t.Errorf("%s: CA %v, %v; want none, no error", name, pool, err)
		}
	}
}

func TestSecretCAExplainsWhatIsMissing(t *testing.T) {
	forbidden := fake.NewClientset(tlsManagerSet("demo-insight-tls"))
	forbidden.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "demo-insight-tls", errors.New("RBAC"))
	})
	for _, c := range []struct {
		name string
		kube *fake.Clientset
		want []string
	}{
		{"forbidden", forbidden, []string{"Secret insight/demo-insight-tls", "may not read", "get on secrets named demo-insight-tls"}},
		{"deleted", fake.NewClientset(tlsManagerSet("demo-insight-tls")), []string{"Secret insight/demo-insight-tls", "does not exist", "global.tls.existingSecret"}},
		{"not PEM", fake.NewClientset(tlsManagerSet("s"), caSecret("s", []byte("junk"))), []string{"Secret insight/s", `no PEM certificate under key "ca.crt"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ca := SecretCA(c.kube, "insight", "demo")
			_, err := ca(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// The port-forward's client trusts the release's CA alone and checks the name the
// release's certificate carries for the pod.
func TestHTTPSClientVerifiesTheCAAndTheName(t *testing.T) {
	s, pemCA := tlsServer(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	if _, err := HTTPSClient(pool, "example.com").Get(s.URL); err != nil {
		t.Fatalf("the name in the certificate: %v", err)
	}
	if _, err := HTTPSClient(pool, "demo-insight-manager-0.other.insight.svc").Get(s.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a name the certificate lacks: %v, want a certificate error", err)
	}
	if _, err := HTTPSClient(x509.NewCertPool(), "example.com").Get(s.URL); err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("another CA: %v, want unknown authority", err)
	}
}

func TestPodDNSName(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "demo-insight-manager-0", Namespace: "grid"}, Spec: corev1.PodSpec{Subdomain: "demo-insight-manager-headless"}}
	if got := podDNSName(p); got != "demo-insight-manager-0.demo-insight-manager-headless.grid.svc" {
		t.Fatalf("podDNSName %q", got)
	}
	p.Spec.Subdomain = ""
	if got := podDNSName(p); got != "" {
		t.Fatalf("podDNSName without a subdomain %q, want \"\"", got)
	}
}

// The service proxy speaks https to a manager Service whose API port declares
// appProtocol https (the chart's, with TLS), http otherwise.
func TestServiceProxySchemeFollowsTheService(t *testing.T) {
	for _, c := range []struct{ appProtocol, scheme string }{{"https", "https"}, {"http", "http"}, {"", "http"}} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "demo-insight-manager", Namespace: "grid",
			Labels: map[string]string{"app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": "manager"}}}
		port := corev1.ServicePort{Port: 8090}
		if c.appProtocol != "" {
			port.AppProtocol = &c.appProtocol
		}
		svc.Spec.Ports = []corev1.ServicePort{port}
		s := fakeManager(t, "/api/v1/namespaces/grid/services/"+c.scheme+":demo-insight-manager:8090/proxy")
		cl, err := ServiceProxy(context.Background(), fake.NewClientset(svc), &rest.Config{Host: s.URL}, "grid", "demo")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Partitions(context.Background()); err != nil {
			t.Errorf("appProtocol %q: %v, want the %s: proxy path", c.appProtocol, err, c.scheme)
		}
	}
}

// An https --manager-url is verified against the release's CA.
func TestReachURLTrustsTheReleaseCA(t *testing.T) {
	s, pemCA := tlsServer(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	releaseCA := func(context.Context) (*x509.CertPool, error) { return pool, nil }
	named := func(n string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return n, nil }
	}
	for _, c := range []struct {
		name    string
		ca      CA
		service func(context.Context) (string, error)
		ok      bool
	}{
		{"release CA", releaseCA, nil, true},
		// At a pod's IP address the certificate must name the managers' Service.
		{"release CA, the Service's name", releaseCA, named("example.com"), true},
		{"release CA, a name it lacks", releaseCA, named("demo-insight-manager.other.svc"), false},
		{"no CA: system roots", nil, nil, false},
		{"release without TLS: system roots", func(context.Context) (*x509.CertPool, error) { return nil, nil }, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Reacher{URL: s.URL, CA: c.ca, ServiceName: c.service}
			cl, stop, err := r.Reach(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			_, err = cl.Partitions(context.Background())
			if c.ok != (err == nil) {
				t.Fatalf("partitions: %v, want success %v", err, c.ok)
			}
		})
	}
	r := Reacher{URL: s.URL, CA: func(context.Context) (*x509.CertPool, error) { return nil, errors.New("secret unreadable") }}
	if _, _, err := r.Reach(context.Background()); err == nil || !strings.Contains(err.Error(), "secret unreadable") {
		t.Fatalf("an unreadable CA: %v, want its error", err)
	}
}
