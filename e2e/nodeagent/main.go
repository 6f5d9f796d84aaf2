// Command nodeagent is a TEST-ONLY node agent for the local e2e cluster. It registers a few
// nodes and runs the pods the real scheduler binds to them as local processes, so the grid
// runs under the real scheduler and StatefulSet controller on a machine with no container
// runtime. It is not a kubelet and not a container runtime: never use it outside tests.
//
// What it does, like a kubelet: node registration, Lease and Ready heartbeats; pods with init
// and regular containers, images from local archives (--image), env including the downward API,
// volumes (emptyDir, PVC, configMap, secret, downwardAPI, projected, hostPath), probes,
// restart policies with CrashLoopBackOff, graceful deletion with preStop hooks; a dynamic
// provisioner for the default StorageClass insight-local; a cluster-wide /etc/hosts in place
// of DNS built from pods with hostname+subdomain and from Services' EndpointSlices.
//
// Where it deviates:
//   - No network namespaces: every pod shares the host network. Each pod gets its own loopback
//     address 127.1.<node>.<n> and the agent injects INSIGHT_BIND=<podIP>; processes must bind
//     only that address. Service ClusterIPs do not route (no kube-proxy): use the Service
//     names, which /etc/hosts maps to the ready endpoint pod IPs (headless-style).
//   - No cgroups: resource limits are reported to the pod (downward API) but not enforced.
//   - The kubelet API serves only what kubectl logs, exec and port-forward need
//     (/containerLogs, /exec, /portForward; no attach, stats, metrics or checkpoint). Each node
//     serves it on its own address at --kubelet-port with a serving certificate it gets signed
//     through a kubelet-serving CertificateSigningRequest that it approves itself. Exec runs in
//     a fresh sandbox over the container's files (not in the container's own namespace).
//     A plain copy of each container's output is also at
//     <state-dir>/logs/<namespace>_<pod>_<container>.log (every run and earlier pods appended).
//   - ConfigMap/Secret volumes are written once at pod start, not updated.
//   - On start it adopts nothing: pods an earlier run left on its nodes are deleted (when a
//     controller owns them, so it recreates them) or marked Failed (bare pods).
//   - It needs root (mount namespaces, chroot, setuid) and exits at start otherwise.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/insightgrid/insight/e2e/nodeagent/agent"
	"github.com/insightgrid/insight/e2e/nodeagent/image"
	"github.com/insightgrid/insight/e2e/nodeagent/sandbox"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	if len(os.Args) > 1 && os.Args[1] == sandbox.SubCommand {
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: nodeagent exec-container SPEC.json")
			os.Exit(2)
		}
		err := sandbox.Exec(os.Args[2])
		// Only reached when the container could not be started; 127 like a shell's "not found".
		fmt.Fprintf(os.Stderr, "nodeagent exec-container: %v\n", err)
		os.Exit(127)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "nodeagent: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	home, _ := os.UserHomeDir()
	cacheDir := filepath.Join(home, ".cache", "insight", "cluster")
	var images stringList
	kubeconfig := flag.String("kubeconfig", filepath.Join(cacheDir, "kubeconfig"), "kubeconfig of the cluster (admin credentials)")
	stateDir := flag.String("state-dir", filepath.Join(cacheDir, "nodeagent"), "directory for pod root filesystems, volumes, logs and the hosts file")
	nodes := flag.Int("nodes", 3, "number of nodes to register (insight-node-0..N-1, zones zone-a/b/c round-robin)")
	nodeOffset := flag.Int("node-offset", 0, "index of the first node (names insight-node-<i>, addresses 127.1.<i>.0/24); for a second agent on one cluster")
	taint := flag.String("node-taint", "", "taint KEY=VALUE:EFFECT for every node (optional)")
	provision := flag.Bool("provisioner", true, "create the insight-local StorageClass and provision its volumes (one agent per cluster)")
	flag.Var(&images, "image", "image archive (docker-archive tarball or OCI layout directory); repeatable")
	pidFile := flag.String("pid-file", "", "write the agent's PID here (optional)")
	cpu := flag.String("cpu", "8", "allocatable and capacity CPU of each node")
	memory := flag.String("memory", "16Gi", "allocatable and capacity memory of each node")
	ephemeral := flag.String("ephemeral-storage", "100Gi", "allocatable and capacity local ephemeral storage of each node")
	maxPods := flag.String("max-pods", "110", "allocatable and capacity pods of each node")
	backoffBase := flag.Duration("backoff-base", 10*time.Second, "first CrashLoopBackOff delay (kubelet: 10s); lower it for tests")
	backoffMax := flag.Duration("backoff-max", 5*time.Minute, "CrashLoopBackOff cap (kubelet: 5m)")
	shutdownGrace := flag.Duration("shutdown-grace", 5*time.Second, "how long pods get to stop when the agent is stopped")
	kubeletPort := flag.Int("kubelet-port", 10250, "port of each node's kubelet API on the node's address (the Node's daemonEndpoints)")
	clientCAFile := flag.String("client-ca-file", "", "CA bundle that verifies the kubelet API's callers (the API server's --kubelet-client-certificate); default: the kubeconfig's cluster CA")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (flags only)", flag.Args())
	}
	if os.Geteuid() != 0 {
		return errors.New("the node agent must run as root: it runs pods in mount namespaces with chroot and setuid (start the cluster with INSIGHT_NODE_AGENT=0 for fake nodes only)")
	}
	quantity := func(flagName, v string) (resource.Quantity, error) {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return q, fmt.Errorf("--%s=%q: not a Kubernetes quantity (e.g. 8, 500m, 16Gi): %w", flagName, v, err)
		}
		return q, nil
	}
	cpuQ, err := quantity("cpu", *cpu)
	if err != nil {
		return err
	}
	memQ, err := quantity("memory", *memory)
	if err != nil {
		return err
	}
	ephemeralQ, err := quantity("ephemeral-storage", *ephemeral)
	if err != nil {
		return err
	}
	podsQ, err := quantity("max-pods", *maxPods)
	if err != nil {
		return err
	}
	if *backoffBase <= 0 || *backoffMax < *backoffBase {
		return fmt.Errorf("--backoff-base=%s --backoff-max=%s: want 0 < base <= max", *backoffBase, *backoffMax)
	}
	var taints []corev1.Taint
	if *taint != "" {
		t, err := parseTaint(*taint)
		if err != nil {
			return err
		}
		taints = append(taints, t)
	}
	store, err := image.Load(images...)
	if err != nil {
		return err
	}
	defer store.Close()
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig=%s: %w", *kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "insight-nodeagent"
	u, err := url.Parse(cfg.Host)
	if err != nil {
		return fmt.Errorf("kubeconfig server %q: %w", cfg.Host, err)
	}
	apiPort := u.Port()
	if apiPort == "" {
		apiPort = "443"
	}
	clientCAs, err := loadClientCAs(*clientCAFile, cfg)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("--pid-file: %w", err)
		}
		defer os.Remove(*pidFile)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	a, err := agent.New(agent.Config{
		Client: cs, StateDir: *stateDir, Nodes: *nodes, NodeOffset: *nodeOffset, Taints: taints, Provision: *provision, Images: store,
		CPU: cpuQ, Memory: memQ, EphemeralStorage: ephemeralQ, MaxPods: podsQ, BackoffBase: *backoffBase, BackoffMax: *backoffMax,
		APIHost: u.Hostname(), APIPort: apiPort, ShutdownGrace: *shutdownGrace, Log: log,
		KubeletPort: *kubeletPort, ClientCAs: clientCAs,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return a.Run(ctx)
}

// loadClientCAs reads --client-ca-file, or else takes the cluster CA the kubeconfig trusts.
func loadClientCAs(file string, cfg *rest.Config) (*x509.CertPool, error) {
	what, data := "--client-ca-file="+file, []byte(nil)
	if file == "" {
		what = "the kubeconfig's certificate authority (set --client-ca-file)"
		data = cfg.CAData
		file = cfg.CAFile
	}
	if len(data) == 0 {
		if file == "" {
			return nil, fmt.Errorf("%s: none given", what)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		data = b
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", what)
	}
	return pool, nil
}

func parseTaint(v string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(v, ":")
	key, value, _ := strings.Cut(kv, "=")
	t := corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)}
	switch t.Effect {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		ok = false
	}
	if !ok || key == "" {
		return t, fmt.Errorf("--node-taint=%q: want KEY=VALUE:EFFECT with EFFECT NoSchedule, PreferNoSchedule or NoExecute", v)
	}
	return t, nil
}
