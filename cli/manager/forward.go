package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/grid/api"
)

// ManagerPod returns the name of a manager pod of the release to forward to: a ready one
// first, by name.
func ManagerPod(ctx context.Context, kube kubernetes.Interface, namespace, release string) (string, error) {
	p, err := managerPod(ctx, kube, namespace, release)
	if err != nil {
		return "", err
	}
	return p.Name, nil
}

// managerPod is ManagerPod's pod.
func managerPod(ctx context.Context, kube kubernetes.Interface, namespace, release string) (*corev1.Pod, error) {
	l, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: managerSelector(release)})
	if err != nil {
		return nil, fmt.Errorf("find the manager pods of %s: %w", release, err)
	}
	pods := l.Items
	sort.SliceStable(pods, func(i, j int) bool {
		ri, rj := grid.State(&pods[i]) == grid.StateReady, grid.State(&pods[j]) == grid.StateReady
		if ri != rj {
			return ri
		}
		return pods[i].Name < pods[j].Name
	})
	for i := range pods {
		if pods[i].Status.Phase == corev1.PodRunning {
			return &pods[i], nil
		}
	}
	return nil, fmt.Errorf("release %s in namespace %s has no running manager pod", release, namespace)
}

// PortForward forwards a local port on 127.0.0.1 to the REST API port of one of the
// release's manager pods through the API server (kubectl port-forward's SPDY stream), and
// returns a client of it with the function that ends the forward; ctx's end ends it too.
// When ca gives a CA (the release runs TLS), the client speaks HTTPS, trusts that CA alone
// and expects the pod's name under its headless Service in the certificate.
func PortForward(ctx context.Context, kube kubernetes.Interface, cfg *rest.Config, namespace, release string, ca CA) (*api.Client, func(), error) {
	if cfg == nil {
		return nil, nil, errors.New("no API server connection to forward through")
	}
	p, err := managerPod(ctx, kube, namespace, release)
	if err != nil {
		return nil, nil, err
	}
	pod := p.Name
	scheme, hc := "http", &http.Client{}
	if ca != nil {
		pool, err := ca(ctx)
		if err != nil {
			return nil, nil, err
		}
		if pool != nil {
			scheme, hc = "https", HTTPSClient(pool, podDNSName(p))
		}
	}
	port, end, err := ForwardPort(ctx, cfg, namespace, pod, grid.ManagerHTTPPort)
	if err != nil {
		return nil, nil, err
	}
	c := api.NewClient(scheme+"://127.0.0.1:"+strconv.Itoa(port), hc)
	c.Via = "a port-forward to pod " + pod
	return c, end, nil
}

// ForwardPort forwards a free local port on 127.0.0.1 to port of pod in namespace
// through the API server (kubectl port-forward's SPDY stream) and returns the local port
// with the function that ends the forward; ctx's end ends it too.
func ForwardPort(ctx context.Context, cfg *rest.Config, namespace, pod string, port int) (int, func(), error) {
	if cfg == nil {
		return 0, nil, errors.New("no API server connection to forward through")
	}
	server, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		return 0, nil, fmt.Errorf("API server URL: %w", err)
	}
	target := *server
	target.Path = strings.TrimRight(server.Path, "/") + "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(pod) + "/portforward"
	transport, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return 0, nil, fmt.Errorf("port-forward transport: %w", err)
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, &target)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return 0, nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	var once sync.Once
	end := func() { once.Do(func() { close(stop) }) }
	select {
	case <-ready:
	case err := <-done:
		return 0, nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	case <-ctx.Done():
		end()
		return 0, nil, fmt.Errorf("port-forward to pod %s: %w", pod, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		end()
		return 0, nil, fmt.Errorf("port-forward to pod %s: no local port: %v", pod, err)
	}
	go func() {
		select {
		case <-ctx.Done():
			end()
		case <-stop:
		}
	}()
	return int(ports[0].Local), end, nil
}
