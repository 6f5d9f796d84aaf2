// Package manager reaches a release's grid manager from insightctl and returns a client
// of its REST API (package grid/api): through the Kubernetes API server's service proxy,
// so that no port-forward is needed, or at a URL the user gives.
//
// It must not depend on cobra, on Helm or on the grid's packages other than grid/api.
package manager

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/grid/api"
)

// managerSelector selects the release's manager Services and pods.
func managerSelector(release string) string {
	return grid.Selector(release) + "," + grid.LabelComponent + "=manager"
}

// ManagerService returns the name of the release's manager Service that serves the REST
// API, preferring the client-facing one over the headless peer Service.
func ManagerService(ctx context.Context, kube kubernetes.Interface, namespace, release string) (string, error) {
	name, _, err := managerService(ctx, kube, namespace, release)
	return name, err
}

// managerService is ManagerService with the scheme of its API port: "https" when the
// port's appProtocol says so (the chart's, with global.tls.enabled), else "http".
func managerService(ctx context.Context, kube kubernetes.Interface, namespace, release string) (name, scheme string, err error) {
	svcs, err := kube.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{LabelSelector: managerSelector(release)})
	if err != nil {
		return "", "", fmt.Errorf("find the manager service of %s: %w", release, err)
	}
	for _, s := range svcs.Items {
		for _, p := range s.Spec.Ports {
			if int(p.Port) == grid.ManagerHTTPPort && (name == "" || s.Spec.ClusterIP != corev1.ClusterIPNone) {
				name, scheme = s.Name, "http"
				if p.AppProtocol != nil && *p.AppProtocol == "https" {
					scheme = "https"
				}
			}
		}
	}
	if name == "" {
		return "", "", fmt.Errorf("release %s in namespace %s has no manager service with port %d", release, namespace, grid.ManagerHTTPPort)
	}
	return name, scheme, nil
}

// ServiceProxy is a client of the release's managers through the API server's service
// proxy (/api/v1/namespaces/NS/services/http:NAME:8090/proxy, https:NAME:8090 when the
// Service's port declares appProtocol https: the managers serve TLS), authenticated as the
// kubeconfig's user: it works from outside the cluster network. The API server refuses to
// proxy to loopback and link-local pod addresses; it does not verify the managers'
// certificate (the user trusts the API server, which reaches the pods).
func ServiceProxy(ctx context.Context, kube kubernetes.Interface, cfg *rest.Config, namespace, release string) (*api.Client, error) {
	if cfg == nil {
		return nil, errors.New("no API server connection to proxy through")
	}
	name, scheme, err := managerService(ctx, kube, namespace, release)
	if err != nil {
		return nil, err
	}
	server, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API server URL: %w", err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API server client: %w", err)
	}
	base := strings.TrimRight(server.String(), "/") + "/api/v1/namespaces/" + url.PathEscape(namespace) +
		"/services/" + url.PathEscape(scheme+":"+name+":"+strconv.Itoa(grid.ManagerHTTPPort)) + "/proxy"
	return &api.Client{Base: base, HTTP: hc, Via: "the API server's proxy to service " + name}, nil
}
