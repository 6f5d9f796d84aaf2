// Package framework is the e2e harness: it connects to the project's local cluster
// (e2e/cluster), creates throw-away namespaces, waits on conditions and, when a test fails,
// dumps what a person would look at first: events, pod statuses and container logs.
//
// It is for tests only and must not be imported by the shipped binaries.
package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// EnvGate is the environment variable that turns the e2e tests on.
const EnvGate = "INSIGHT_E2E"

// Cluster is a connection to the local cluster plus the paths the tests need.
type Cluster struct {
	Kubeconfig string
	ToolsBin   string // kubectl, helm
	StateDir   string // the node agent's state (pod logs)
	Config     *rest.Config
	Client     kubernetes.Interface
}

// Enabled reports whether the e2e tests should run; TestMain uses it to skip cleanly.
func Enabled() bool { return os.Getenv(EnvGate) == "1" }

// Connect builds a Cluster from INSIGHT_KUBECONFIG (default: the path e2e/cluster/up.sh writes)
// and checks that the API server answers.
func Connect() (*Cluster, error) {
	cache := os.Getenv("INSIGHT_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("locating the cache directory: %w", err)
		}
		cache = filepath.Join(base, "insight")
	}
	c := &Cluster{
		Kubeconfig: envOr("INSIGHT_KUBECONFIG", filepath.Join(cache, "cluster", "kubeconfig")),
		ToolsBin:   os.Getenv("INSIGHT_TOOLS_BIN"),
		StateDir:   filepath.Join(cache, "cluster", "nodeagent"),
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s (is the cluster up? run make cluster-up): %w", c.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.Timeout = 30 * time.Second
	c.Config = cfg
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building the client: %w", err)
	}
	if _, err := c.Client.Discovery().ServerVersion(); err != nil {
		return nil, fmt.Errorf("the API server at %s does not answer (run make cluster-up): %w", cfg.Host, err)
	}
	return c, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Namespace creates a fresh namespace for one test, waits for its default ServiceAccount,
// registers a dump of its state on failure and deletes it at the end.
func (c *Cluster) Namespace(t *testing.T, prefix string) string {
	t.Helper()
	ctx := context.Background()
	name := prefix + "-" + rand.String(5)
	_, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"insight.dev/e2e": "true"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.Dump(t, name)
		}
		if err := c.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Logf("deleting namespace %s: %v", name, err)
		}
	})
	c.WaitFor(t, 30*time.Second, "default ServiceAccount in "+name, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return name
}

// WaitFor polls cond every 100ms until it returns true, fails the test on error or timeout.
func (c *Cluster) WaitFor(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := Poll(timeout, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// Poll calls cond every 100ms until it returns true or an error, or timeout passes.
func Poll(timeout time.Duration, cond func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case ok:
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("timed out after %s: %w", timeout, lastErr)
			}
			return fmt.Errorf("timed out after %s", timeout)
		case <-tick.C:
		}
	}
}

// Dump logs the namespace's events, pod statuses and the tail of every container log.
func (c *Cluster) Dump(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "==== state of namespace %s\n", ns)
	if evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
		b.WriteString("---- events\n")
		for _, e := range evs.Items {
			fmt.Fprintf(&b, "%s %s/%s %s: %s\n", e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		b.WriteString("---- pods\n")
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "%s phase=%s node=%s ip=%s\n", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP)
			for _, cond := range p.Status.Conditions {
				fmt.Fprintf(&b, "  condition %s=%s %s %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
			}
			for _, cs := range p.Status.ContainerStatuses {
				fmt.Fprintf(&b, "  container %s ready=%v restarts=%d state=%s\n", cs.Name, cs.Ready, cs.RestartCount, stateString(cs.State))
				b.WriteString(c.logTail(ns, p.Name, cs.Name, 30))
			}
		}
	}
	t.Log(b.String())
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting " + s.Waiting.Reason + " " + s.Waiting.Message
	case s.Terminated != nil:
		return fmt.Sprintf("terminated %s exit=%d", s.Terminated.Reason, s.Terminated.ExitCode)
	}
	return "unknown"
}

// logTail returns the last n lines of a container's log from the node agent's plain copy,
// which holds every run of the container, also of pods already gone.
func (c *Cluster) logTail(ns, pod, container string, n int) string {
	data, err := os.ReadFile(filepath.Join(c.StateDir, "logs", fmt.Sprintf("%s_%s_%s.log", ns, pod, container)))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    | " + strings.Join(lines, "\n    | ") + "\n"
}
