package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"github.com/insightgrid/insight/e2e/nodeagent/hosts"
)

// hostsLoop rewrites the shared hosts file after pod, Service or EndpointSlice changes,
// coalescing bursts. Services with a selector map to their ready pods directly (EndpointSlices
// cannot hold the agent's loopback pod IPs); selectorless Services use their EndpointSlices.
func (a *Agent) hostsLoop(ctx context.Context, svcs corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.hostsDirty:
		}
		if err := a.writeHosts(svcs, slices); err != nil {
			a.log.Error("write hosts file", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *Agent) writeHosts(svcs corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister) error {
	pods, err := a.podLister.List(labels.Everything())
	if err != nil {
		return err
	}
	var hp []hosts.Pod
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		hp = append(hp, hosts.Pod{Namespace: p.Namespace, Hostname: p.Spec.Hostname, Subdomain: p.Spec.Subdomain, IP: p.Status.PodIP})
	}
	services, err := svcs.List(labels.Everything())
	if err != nil {
		return err
	}
	var hs []hosts.Service
	for _, s := range services {
		if s.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		svc := hosts.Service{Namespace: s.Namespace, Name: s.Name}
		if s.Namespace == corev1.NamespaceDefault && s.Name == "kubernetes" {
			// Its endpoint is the API server's loopback address, which EndpointSlices refuse.
			svc.IPs = []string{a.cfg.APIHost}
			hs = append(hs, svc)
			continue
		}
		if len(s.Spec.Selector) > 0 {
			// The API server rejects loopback addresses in EndpointSlices, so the agent
			// selects the endpoints itself, as the EndpointSlice controller would.
			sel := labels.SelectorFromSet(s.Spec.Selector)
			for _, p := range pods {
				if p.Namespace != s.Namespace || p.Status.PodIP == "" || p.DeletionTimestamp != nil ||
					p.Status.Phase != corev1.PodRunning || !sel.Matches(labels.Set(p.Labels)) {
					continue
				}
				if podReady(p) || s.Spec.PublishNotReadyAddresses {
					svc.IPs = append(svc.IPs, p.Status.PodIP)
				}
			}
			hs = append(hs, svc)
			continue
		}
		sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: s.Name})
		eps, err := slices.EndpointSlices(s.Namespace).List(sel)
		if err != nil {
			return err
		}
		for _, es := range eps {
			for _, ep := range es.Endpoints {
				ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
				if ready || s.Spec.PublishNotReadyAddresses {
					svc.IPs = append(svc.IPs, ep.Addresses...)
				}
			}
		}
		hs = append(hs, svc)
	}
	_, err = hosts.WriteInPlace(a.hostsFile, hosts.Render(hp, hs))
	return err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
