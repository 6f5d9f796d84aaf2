// Package agent is the test-only node agent's control loop: it registers nodes and keeps them
// alive like a kubelet, runs the pods the scheduler binds to them as sandboxed local processes
// (see package sandbox), reports their status and probes, provisions hostPath volumes for the
// insight-local StorageClass and keeps the cluster-wide /etc/hosts current.
//
// It exists only so the local e2e cluster can run real pods on a machine without a container
// runtime; it is no kubelet and must never be used outside tests.
package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/insightgrid/insight/e2e/nodeagent/image"
	"github.com/insightgrid/insight/e2e/nodeagent/ipam"
)

// Config is the agent's configuration; see the command's flags.
type Config struct {
	Client   kubernetes.Interface
	StateDir string
	Nodes    int
	// NodeOffset is the index of the first node: a second agent on the same cluster (the
	// agent's own tests) uses distinct node names and address blocks.
	NodeOffset int
	// Taints are put on the nodes at registration (none by default).
	Taints []corev1.Taint
	// Provision runs the insight-local provisioner; exactly one agent per cluster should.
	Provision bool
	Images    *image.Store
	CPU       resource.Quantity
	Memory    resource.Quantity
	// EphemeralStorage is reported for the scheduler only: the agent does not evict on it.
	EphemeralStorage resource.Quantity
	MaxPods          resource.Quantity
	BackoffBase      time.Duration // first CrashLoopBackOff delay (kubelet: 10s)
	BackoffMax       time.Duration // cap (kubelet: 5m)
	APIHost          string        // KUBERNETES_SERVICE_HOST for pods
	APIPort          string        // KUBERNETES_SERVICE_PORT for pods
	// ShutdownGrace caps how long stopping pods may take when the agent itself stops.
	ShutdownGrace time.Duration
	// KubeletPort is where each node serves the kubelet API on its own address (the Node's
	// daemonEndpoints.kubeletEndpoint); ClientCAs verify its callers' client certificates.
	KubeletPort int
	ClientCAs   *x509.CertPool
	Log         *slog.Logger
}

type node struct {
	name  string
	index int
	ip    string
	pool  *ipam.Pool
	rec   record.EventRecorder
}

// Agent runs the nodes. Create it with New, then call Run.
type Agent struct {
	cfg    Config
	cs     kubernetes.Interface
	log    *slog.Logger
	nodes  []*node
	byName map[string]*node

	podLister corelisters.PodLister
	pvcLister corelisters.PersistentVolumeClaimLister
	pvLister  corelisters.PersistentVolumeLister

	hostsFile, resolvFile string
	hostsDirty            chan struct{}

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	finished map[types.UID]bool // pods whose worker ran to completion
	stale    map[types.UID]bool // pods of an earlier agent run (adopt nothing)
	stopping bool
	wg       sync.WaitGroup

	logsMu     sync.Mutex
	activeLogs map[string]bool // log files of container runs still writing
}

// New validates cfg and prepares the state directory.
func New(cfg Config) (*Agent, error) {
	if cfg.KubeletPort < 1 || cfg.KubeletPort > 65535 {
		return nil, fmt.Errorf("--kubelet-port=%d: want a port in 1..65535", cfg.KubeletPort)
	}
	if cfg.ClientCAs == nil {
		return nil, errors.New("no client CA for the kubelet API: set --client-ca-file")
	}
	if cfg.Nodes < 1 || cfg.NodeOffset < 0 || cfg.NodeOffset+cfg.Nodes > 255 {
		return nil, fmt.Errorf("--nodes=%d --node-offset=%d: want at least one node and offset+nodes <= 255", cfg.Nodes, cfg.NodeOffset)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &Agent{
		cfg: cfg, cs: cfg.Client, log: cfg.Log, byName: map[string]*node{},
		hostsFile:  filepath.Join(cfg.StateDir, "etc", "hosts"),
		resolvFile: filepath.Join(cfg.StateDir, "etc", "resolv.conf"),
		hostsDirty: make(chan struct{}, 1),
		workers:    map[types.UID]*podWorker{}, finished: map[types.UID]bool{}, stale: map[types.UID]bool{},
		activeLogs: map[string]bool{},
	}
	for _, d := range []string{"etc", "pods", "volumes", "logs"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	if err := os.WriteFile(a.resolvFile, []byte("# no DNS server in the insight local cluster: names come from /etc/hosts\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write resolv.conf: %w", err)
	}
	bc := record.NewBroadcaster()
	bc.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	for i := cfg.NodeOffset; i < cfg.NodeOffset+cfg.Nodes; i++ {
		pool, err := ipam.NewPool(i)
		if err != nil {
			return nil, err
		}
		n := &node{name: NodeName(i), index: i, ip: ipam.NodeIP(i), pool: pool}
		n.rec = bc.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.name})
		a.nodes = append(a.nodes, n)
		a.byName[n.name] = n
	}
	return a, nil
}

// NodeName is the name of node index i.
func NodeName(i int) string { return "insight-node-" + strconv.Itoa(i) }

// Run registers the nodes and serves until ctx is done, then stops every pod's processes
// (leaving the API objects and nodes for the cluster-down script).
func (a *Agent) Run(ctx context.Context) error {
	a.killLeftovers()
	if a.cfg.Provision {
		if err := a.ensureStorageClass(ctx); err != nil {
			return err
		}
	}
	for _, n := range a.nodes {
		if err := a.registerNode(ctx, n); err != nil {
			return err
		}
	}
	if err := a.evictEarlierPods(ctx); err != nil {
		return err
	}
	hbCtx, stopHB := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHB()
	for _, n := range a.nodes {
		go a.heartbeat(hbCtx, n)
	}

	f := informers.NewSharedInformerFactory(a.cs, 10*time.Minute)
	podInf := f.Core().V1().Pods()
	a.podLister = podInf.Lister()
	a.pvcLister = f.Core().V1().PersistentVolumeClaims().Lister()
	a.pvLister = f.Core().V1().PersistentVolumes().Lister()
	svcInf := f.Core().V1().Services()
	esInf := f.Discovery().V1().EndpointSlices()
	markHosts := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.markHosts() },
		UpdateFunc: func(any, any) { a.markHosts() },
		DeleteFunc: func(any) { a.markHosts() },
	}
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), svcInf.Informer(), esInf.Informer()} {
		if _, err := inf.AddEventHandler(markHosts); err != nil {
			return fmt.Errorf("add hosts handler: %w", err)
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { a.onPod(o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { a.onPod(o.(*corev1.Pod)) },
		DeleteFunc: a.onPodDelete,
	}); err != nil {
		return fmt.Errorf("add pod handler: %w", err)
	}
	if a.cfg.Provision {
		if err := a.addProvisioner(ctx, f); err != nil {
			return err
		}
	}
	infCtx, stopInf := context.WithCancel(context.WithoutCancel(ctx))
	defer stopInf()
	f.Start(infCtx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer cache for %v did not sync", typ)
		}
	}
	// Serves until the agent is told to stop (Run waits for it before it returns).
	if err := a.startKubeletAPI(ctx); err != nil {
		return err
	}
	go a.hostsLoop(infCtx, svcInf.Lister(), esInf.Lister())
	a.markHosts()
	a.log.Info("node agent ready", "nodes", len(a.nodes), "stateDir", a.cfg.StateDir, "images", a.cfg.Images.Refs())

	<-ctx.Done()
	a.log.Info("stopping pods")
	a.mu.Lock()
	a.stopping = true
	for _, w := range a.workers {
		w.terminate(a.cfg.ShutdownGrace, false)
	}
	a.mu.Unlock()
	a.wg.Wait()
	a.log.Info("node agent stopped")
	return nil
}

func (a *Agent) onPod(pod *corev1.Pod) {
	n := a.byName[pod.Spec.NodeName]
	if n == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping || a.stale[pod.UID] {
		return
	}
	if w := a.workers[pod.UID]; w != nil {
		w.update(pod)
		return
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if a.finished[pod.UID] || terminal || pod.DeletionTimestamp != nil {
		if pod.DeletionTimestamp != nil {
			// Nothing runs for it (any more): finish the deletion like a kubelet.
			go a.finalizeDelete(pod.Namespace, pod.Name, pod.UID)
		}
		return
	}
	w := newPodWorker(a, n, pod)
	a.workers[pod.UID] = w
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.run()
		a.mu.Lock()
		delete(a.workers, pod.UID)
		a.finished[pod.UID] = true
		a.mu.Unlock()
	}()
}

func (a *Agent) onPodDelete(o any) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		tomb, ok := o.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.finished, pod.UID)
	delete(a.stale, pod.UID)
	// The pod is gone from the API, so are its logs (as a kubelet removes /var/log/pods/...).
	dir := a.podLogDir(pod.Namespace, pod.Name, pod.UID)
	go func() {
		if err := os.RemoveAll(dir); err != nil {
			a.log.Warn("remove pod logs", "dir", dir, "err", err)
		}
	}()
	if w := a.workers[pod.UID]; w != nil {
		// Force-deleted from the API: stop at once.
		w.terminate(0, false)
	}
}

// finalizeDelete removes the pod object for good, guarded by its UID so a recreated pod of
// the same name (a StatefulSet's) is never hit.
func (a *Agent) finalizeDelete(ns, name string, uid types.UID) {
	zero := int64(0)
	err := a.cs.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.log.Error("delete pod", "pod", ns+"/"+name, "err", err)
	}
}

// evictEarlierPods makes the pods an earlier agent run left on these nodes go away: pods of a
// controller are deleted (the controller recreates them), bare pods are marked Failed. The
// agent never adopts processes it did not start in this run.
func (a *Agent) evictEarlierPods(ctx context.Context) error {
	for _, n := range a.nodes {
		pods, err := a.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("spec.nodeName", n.name).String(),
		})
		if err != nil {
			return fmt.Errorf("list pods of %s: %w", n.name, err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			a.stale[p.UID] = true
			if metav1.GetControllerOf(p) != nil || p.DeletionTimestamp != nil {
				a.log.Info("removing pod of an earlier agent run", "pod", p.Namespace+"/"+p.Name)
				a.finalizeDelete(p.Namespace, p.Name, p.UID)
				continue
			}
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			a.log.Info("marking pod of an earlier agent run Failed", "pod", p.Namespace+"/"+p.Name)
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "NodeAgentRestarted"
			p.Status.Message = "the insight node agent restarted; it does not adopt processes of an earlier run"
			if _, err := a.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("mark pod %s/%s failed: %w", p.Namespace, p.Name, err)
			}
		}
	}
	return nil
}

// killLeftovers kills process groups an earlier (crashed) run recorded and clears its pod
// directories; PV data under volumes/ is kept.
func (a *Agent) killLeftovers() {
	root := filepath.Join(a.cfg.StateDir, "pods")
	pids, _ := filepath.Glob(filepath.Join(root, "*", "pids", "*"))
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(string(b)); err == nil && pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	if err := os.RemoveAll(filepath.Join(a.cfg.StateDir, "logs", "pods")); err != nil {
		a.log.Warn("remove logs of an earlier run", "err", err)
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			a.log.Warn("remove leftover pod dir", "dir", e.Name(), "err", err)
		}
	}
}

func (a *Agent) markHosts() {
	select {
	case a.hostsDirty <- struct{}{}:
	default:
	}
}

// ConfigMap reads from the API server directly (not a cache) so a pod created right after its
// ConfigMap sees it; it implements podenv.Sources.
func (a *Agent) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	return a.cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
}

// Secret reads from the API server directly; it implements podenv.Sources.
func (a *Agent) Secret(ns, name string) (*corev1.Secret, error) {
	return a.cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
}
