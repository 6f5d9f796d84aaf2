package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// tlsVolume is the volume the chart mounts the release's certificate Secret as (tls.crt,
// tls.key, ca.crt), in the managers and the PUs.
const tlsVolume = "tls"

// caKey is the key of the CA certificate in that Secret.
const caKey = "ca.crt"

// CA gives the CA a release's managers serve their API with, or nil when they serve
// plain HTTP (global.tls.enabled=false, or no manager of the release in the namespace).
type CA func(ctx context.Context) (*x509.CertPool, error)

// SecretCA is the CA of a release, read with the user's kube credentials from the Secret
// its managers mount as the tls volume, once; a failed read is tried again on the next
// call. Only the CA is read: insightctl verifies the manager, it does not present the
// release's certificate (the operator token authorises it).
func SecretCA(kube kubernetes.Interface, namespace, release string) CA {
	var mu sync.Mutex
	var pool *x509.CertPool
	read := false
	return func(ctx context.Context) (*x509.CertPool, error) {
		mu.Lock()
		defer mu.Unlock()
		if read {
			return pool, nil
		}
		ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
		defer cancel()
		p, err := readCA(ctx, kube, namespace, release)
		if err != nil {
			return nil, err
		}
		pool, read = p, true
		return pool, nil
	}
}

// readCA finds the Secret the release's manager StatefulSet mounts as the tls volume and
// reads the CA in it.
func readCA(ctx context.Context, kube kubernetes.Interface, namespace, release string) (*x509.CertPool, error) {
	sets, err := kube.AppsV1().StatefulSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: managerSelector(release)})
	if err != nil {
		return nil, fmt.Errorf("finding the CA of release %s: listing its manager StatefulSet in namespace %s: %w", release, namespace, err)
	}
	if len(sets.Items) == 0 {
		return nil, nil
	}
	name, key := "", caKey
	for _, v := range sets.Items[0].Spec.Template.Spec.Volumes {
		if v.Name != tlsVolume || v.Secret == nil {
			continue
		}
		name = v.Secret.SecretName
		for _, it := range v.Secret.Items {
			if it.Path == caKey {
				key = it.Key
			}
		}
	}
	if name == "" {
		return nil, nil // the release runs without TLS
	}
	s, err := kube.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("release %s serves its manager API over TLS, signed by the CA in Secret %s/%s, which your credentials may not read: "+
			"ask for a Role granting get on secrets named %s in namespace %s: %w", release, namespace, name, name, namespace, err)
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("release %s serves its manager API over TLS, but Secret %s/%s, which its managers mount, does not exist: "+
			"recreate it (global.tls.existingSecret) or run helm upgrade to make a new one", release, namespace, name)
	case err != nil:
		return nil, fmt.Errorf("reading the CA of release %s from Secret %s/%s: %w", release, namespace, name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.Data[key]) {
		return nil, fmt.Errorf("the CA of release %s: Secret %s/%s has no PEM certificate under key %q", release, namespace, name, key)
	}
	return pool, nil
}

// HTTPSClient is an HTTP client that trusts pool alone and expects serverName in the
// server's certificate ("": the host dialled). Only the CA is trusted: insightctl
// verifies the grid's servers, the operator token authorises it.
func HTTPSClient(pool *x509.CertPool, serverName string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: serverName}
	return &http.Client{Transport: tr}
}

// podDNSName is the name a StatefulSet pod has under its headless Service
// ("<pod>.<service>.<namespace>.svc"), which the release's certificate carries; "" when
// the pod has no subdomain.
func podDNSName(p *corev1.Pod) string {
	if p.Spec.Subdomain == "" {
		return ""
	}
	return p.Name + "." + p.Spec.Subdomain + "." + p.Namespace + ".svc"
}
