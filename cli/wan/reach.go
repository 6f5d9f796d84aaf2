package wan

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/insightgrid/insight/cli/deps"
	"github.com/insightgrid/insight/cli/exit"
	"github.com/insightgrid/insight/cli/internal/grid"
	"github.com/insightgrid/insight/cli/manager"
	"github.com/insightgrid/insight/grid/api"
)

// gatewayServerName is the name insightctl expects in the certificate of a release's
// gateway reached through a port-forward: the release's certificate carries localhost
// for that (insight-common.tls.dnsNames), whichever Service names it also carries.
const gatewayServerName = "localhost"

// gateway is a client of one site's WAN gateway.
type gateway struct {
	c *api.Client
	o Options
	// what names the gateway in messages: "release demo's WAN gateway", or its URL.
	what string
}

// connect reaches the gateway of o and returns it with what ends the way (a
// port-forward's end).
func connect(ctx context.Context, d *deps.Deps, o Options) (*gateway, func(), error) {
	if !o.NeedsCluster() {
		c, err := direct(o)
		if err != nil {
			return nil, nil, err
		}
		return &gateway{c: c, o: o, what: "the WAN gateway at " + c.Base}, func() {}, nil
	}
	c, end, err := viaRelease(ctx, d, o.Release)
	if err != nil {
		return nil, nil, err
	}
	return &gateway{c: c, o: o, what: "the WAN gateway of release " + o.Release}, end, nil
}

// direct is a client of the gateway at --gateway, trusting --ca-file, presenting the
// token of --token-file; both files are read now, so that a wrong path is named before
// anything is asked.
func direct(o Options) (*api.Client, error) {
	hc := &http.Client{}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, exit.BadInputError(fmt.Errorf("--ca-file %s: %w", o.CAFile, err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, exit.BadInputError(fmt.Errorf("--ca-file %s: no PEM certificate in it (insight-grid local writes its CA to DATADIR/tls/ca.crt)", o.CAFile))
		}
		hc = manager.HTTPSClient(pool, "")
	}
	c := api.NewClient(strings.TrimRight(o.Gateway, "/"), hc)
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, exit.BadInputError(fmt.Errorf("--token-file %s: %w", o.TokenFile, err))
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, exit.BadInputError(fmt.Errorf("--token-file %s: the file is empty; want the site's operator token (insight-grid local writes it to DATADIR/operator-token)", o.TokenFile))
		}
		c.Token = func() (string, error) { return tok, nil }
	}
	return c, nil
}

// viaRelease is a client of the release's gateway through a port-forward to one of its
// pods, trusting the release's CA and presenting its operator token (read from the
// Secrets the release's managers mount, as every insightctl command does).
func viaRelease(ctx context.Context, d *deps.Deps, release string) (*api.Client, func(), error) {
	if d.Kube == nil || d.Forward == nil {
		return nil, nil, errors.New("no cluster connection to reach the WAN gateway through")
	}
	svc, err := gatewayService(ctx, d.Kube, d.Namespace, release)
	if err != nil {
		return nil, nil, err
	}
	if svc == nil {
		return nil, nil, noGateway(ctx, d, release)
	}
	pod, port, err := gatewayPod(ctx, d.Kube, svc)
	if err != nil {
		return nil, nil, err
	}
	pool, err := manager.SecretCA(d.Kube, d.Namespace, release)(ctx)
	if err != nil {
		return nil, nil, err
	}
	local, end, err := d.Forward(ctx, d.Namespace, pod, port)
	if err != nil {
		return nil, nil, fmt.Errorf("the WAN gateway of release %s is unreachable via a port-forward to pod %s: %w", release, pod, err)
	}
	scheme, hc := "http", &http.Client{}
	if pool != nil {
		scheme, hc = "https", manager.HTTPSClient(pool, gatewayServerName)
	}
	c := api.NewClient(scheme+"://127.0.0.1:"+strconv.Itoa(local), hc)
	c.Via = "a port-forward to pod " + pod + " (Service " + svc.Name + ")"
	c.Token = manager.SecretToken(d.Kube, d.Namespace, release)
	return c, end, nil
}

// gatewayService is the release's WAN gateway Service, nil when it has none.
func gatewayService(ctx context.Context, kube kubernetes.Interface, namespace, release string) (*corev1.Service, error) {
	l, err := kube.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{LabelSelector: grid.Selector(release)})
	if err != nil {
		return nil, fmt.Errorf("finding the WAN gateway Service of release %s in namespace %s: %w", release, namespace, err)
	}
	for i := range l.Items {
		s := &l.Items[i]
		if s.Labels[grid.LabelComponent] != grid.ComponentWANGateway && !strings.HasSuffix(s.Name, "-"+grid.ComponentWANGateway) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Port == grid.WANGatewayPort {
				return s, nil
			}
		}
	}
	return nil, nil
}

// noGateway says why the release has no gateway Service and what to set.
func noGateway(ctx context.Context, d *deps.Deps, release string) error {
	if d.Helm == nil {
		return fmt.Errorf("release %s in namespace %s has no WAN gateway Service (*-%s, port %d)", release, d.Namespace, grid.ComponentWANGateway, grid.WANGatewayPort)
	}
	get := action.NewGetValues(d.Helm)
	get.AllValues = true
	vals, err := get.Run(release)
	if err != nil {
		return fmt.Errorf("release %s in namespace %s: %w", release, d.Namespace, err)
	}
	gw, _ := vals["wanGateway"].(map[string]any)
	if on, _ := gw["enabled"].(bool); !on {
		return exit.BadInputError(fmt.Errorf("release %s has no WAN gateway: wanGateway.enabled is false; turn it on with "+
			"insightctl upgrade %s --set wanGateway.enabled=true (docs/wan.md), or reach a gateway directly with --gateway", release, release))
	}
	base := "<base>"
	if name, err := manager.ManagerService(ctx, d.Kube, d.Namespace, release); err == nil {
		base = strings.TrimSuffix(name, "-manager")
	}
	return fmt.Errorf("release %s has wanGateway.enabled=true but no Service %s-%s with port %d in namespace %s: "+
		"the upgrade that enables it may not be done (insightctl history %s)", release, base, grid.ComponentWANGateway, grid.WANGatewayPort, d.Namespace, release)
}

// gatewayPod picks the pod of svc to forward to, a ready one first, by name, and the
// container port its gateway port leads to.
func gatewayPod(ctx context.Context, kube kubernetes.Interface, svc *corev1.Service) (string, int, error) {
	if len(svc.Spec.Selector) == 0 {
		return "", 0, fmt.Errorf("the WAN gateway Service %s/%s selects no pods", svc.Namespace, svc.Name)
	}
	l, err := kube.CoreV1().Pods(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return "", 0, fmt.Errorf("finding the pods of the WAN gateway Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	pods := l.Items
	sort.SliceStable(pods, func(i, j int) bool {
		ri, rj := grid.State(&pods[i]) == grid.StateReady, grid.State(&pods[j]) == grid.StateReady
		if ri != rj {
			return ri
		}
		return pods[i].Name < pods[j].Name
	})
	var sp corev1.ServicePort
	for _, p := range svc.Spec.Ports {
		if p.Port == grid.WANGatewayPort {
			sp = p
		}
	}
	for i := range pods {
		if pods[i].Status.Phase == corev1.PodRunning {
			port, err := targetPort(&pods[i], sp)
			return pods[i].Name, port, err
		}
	}
	return "", 0, fmt.Errorf("the WAN gateway of Service %s/%s has no running pod (kubectl -n %s get pods -l %s)",
		svc.Namespace, svc.Name, svc.Namespace, labels.SelectorFromSet(svc.Spec.Selector))
}

// targetPort is the container port of pod that the Service port sp leads to.
func targetPort(pod *corev1.Pod, sp corev1.ServicePort) (int, error) {
	switch {
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPort.StrVal {
					return int(cp.ContainerPort), nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s has no container port named %q, the WAN gateway Service's target port", pod.Name, sp.TargetPort.StrVal)
	case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0:
		return int(sp.TargetPort.IntVal), nil
	}
	return int(sp.Port), nil
}

// explain makes an error of the gateway's a message that says which gateway, how it was
// reached and what to check; a deadline is --timeout's.
func (g *gateway) explain(err error) error {
	var ae *api.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return exit.TimeoutError(fmt.Errorf("%s: no answer within --timeout %s: %w", g.what, g.o.Timeout, err))
	case api.IsUnreachable(err):
		var u *api.UnreachableError
		errors.As(err, &u)
		if !g.o.NeedsCluster() { // g.what names the URL tried
			msg := fmt.Errorf("%s is unreachable: %w", g.what, u.Err)
			hint := "is the site running? insight-grid local --site prints its gateway as wan-gateway https://HOST:PORT (its base port + 5)"
			if strings.Contains(u.Err.Error(), "certificate") {
				hint = "give the site's CA with --ca-file (insight-grid local writes it to DATADIR/tls/ca.crt)"
			}
			return fmt.Errorf("%w\n(%s)", msg, hint)
		}
		return fmt.Errorf("%s is unreachable via %s: %w", g.what, u.Via, u.Err)
	case errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden):
		if g.o.NeedsCluster() {
			return fmt.Errorf("%s refused the release's operator token: %w", g.what, err)
		}
		return fmt.Errorf("%s refused the request: %w\n(give the site's operator token with --token-file; insight-grid local writes it to DATADIR/operator-token)", g.what, err)
	}
	return fmt.Errorf("%s: %w", g.what, err)
}
