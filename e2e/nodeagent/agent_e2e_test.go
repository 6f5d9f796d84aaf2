package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/insightgrid/insight/e2e/nodeagent/image/imagetest"
)

// TestAgentE2E starts a second agent on the running local cluster (nodes insight-node-20 and
// -21, tainted so nothing else lands there, no provisioner) and runs the test image on it.
// Gated by INSIGHT_E2E=1; uses $INSIGHT_KUBECONFIG (default ~/.cache/insight/cluster/kubeconfig).
func TestAgentE2E(t *testing.T) {
	if os.Getenv("INSIGHT_E2E") != "1" {
		t.Skip("set INSIGHT_E2E=1 to run against the local cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("the node agent needs root")
	}
	kubeconfig := os.Getenv("INSIGHT_KUBECONFIG")
	if kubeconfig == "" {
		home, _ := os.UserHomeDir()
		kubeconfig = filepath.Join(home, ".cache", "insight", "cluster", "kubeconfig")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", kubeconfig, err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	agentBin, err := imagetest.BuildBinary(".", dir, "nodeagent")
	if err != nil {
		t.Fatal(err)
	}
	app, err := imagetest.BuildBinary("./testdata/testapp", dir, "testapp")
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "testapp.tar")
	if err := imagetest.Write(imagetest.Spec{Ref: "example.test/nodeagent-testapp:1", Binary: app, Path: "/testapp"}, tarPath); err != nil {
		t.Fatal(err)
	}
	const taintKey = "insight.dev/nodeagent-test"
	nodes := []string{"insight-node-20", "insight-node-21"}
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(agentBin, "--kubeconfig", kubeconfig, "--state-dir", filepath.Join(dir, "state"),
		"--image", tarPath, "--nodes", "2", "--node-offset", "20", "--node-taint", taintKey+"=true:NoSchedule",
		"--provisioner=false", "--backoff-base", "200ms", "--backoff-max", "1s")
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- agent.Wait() }()
	var agentErr error
	alive := func() error {
		select {
		case agentErr = <-agentDone:
			agentDone <- agentErr
			return fmt.Errorf("the node agent exited: %v", agentErr)
		default:
			return nil
		}
	}
	ns := fmt.Sprintf("nodeagent-e2e-%d", time.Now().UnixNano()%1_000_000)
	t.Cleanup(func() {
		_ = agent.Process.Signal(syscall.SIGTERM)
		if err := <-agentDone; err != nil {
			t.Errorf("node agent exit: %v (want a clean exit on SIGTERM)", err)
		}
		bg := context.Background()
		_ = cs.CoreV1().Namespaces().Delete(bg, ns, metav1.DeleteOptions{})
		for _, n := range nodes {
			_ = cs.CoreV1().Nodes().Delete(bg, n, metav1.DeleteOptions{})
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("agent log:\n%s", b)
			logs, _ := filepath.Glob(filepath.Join(dir, "state", "logs", "*"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", filepath.Base(l), b)
			}
		}
	})
	for _, n := range nodes {
		waitFor(ctx, t, alive, "node "+n+" Ready", func() (bool, error) {
			node, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		})
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "marker")
	if err := os.Mkdir(marker, 0o777); err != nil || os.Chmod(marker, 0o777) != nil {
		t.Fatal("marker dir", err)
	}
	podSpec := func(name string, args []string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{
				Hostname: name, Subdomain: "sub",
				NodeSelector:                  map[string]string{"kubernetes.io/hostname": nodes[0]},
				Tolerations:                   []corev1.Toleration{{Key: taintKey, Operator: corev1.TolerationOpExists}},
				TerminationGracePeriodSeconds: ptr.To(int64(10)),
				SecurityContext:               &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsNonRoot: ptr.To(true)},
				Containers: []corev1.Container{{
					Name: "app", Image: "example.test/nodeagent-testapp:1", Args: args,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					Env: []corev1.EnvVar{
						{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
						{Name: "TERM_MARKER", Value: "/marker/" + name},
					},
					SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
					ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
						HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")},
					}},
					VolumeMounts: []corev1.VolumeMount{{Name: "marker", MountPath: "/marker"}},
				}},
				Volumes: []corev1.Volume{{Name: "marker", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: marker}}}},
			},
		}
	}

	start := time.Now()
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, podSpec("web", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	waitFor(ctx, t, alive, "pod web Ready", func() (bool, error) {
		pod, err = cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	t.Logf("pod Ready after %s", time.Since(start).Round(time.Millisecond))
	ip := pod.Status.PodIP
	if !strings.HasPrefix(ip, "127.1.20.") || pod.Status.HostIP != "127.1.20.1" {
		t.Fatalf("podIP %q hostIP %q, want 127.1.20.x and 127.1.20.1", ip, pod.Status.HostIP)
	}
	var info struct {
		Env          map[string]string `json:"env"`
		Hostname     string            `json:"hostname"`
		UID          int               `json:"uid"`
		Hosts        string            `json:"hosts"`
		RootWritable bool              `json:"rootWritable"`
	}
	fqdn := "web.sub." + ns + ".svc.cluster.local"
	waitFor(ctx, t, alive, "/info shows the pod in /etc/hosts", func() (bool, error) {
		resp, err := http.Get("http://" + ip + ":8080/info")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
			return false, err
		}
		return strings.Contains(info.Hosts, ip+"\t"+fqdn), nil
	})
	if info.Env["POD_NAME"] != "web" || info.Env["INSIGHT_BIND"] != ip || info.UID != 1000 || info.RootWritable || info.Hostname != "web" {
		t.Fatalf("sandbox view: %+v", info)
	}

	// Graceful deletion: SIGTERM reaches the process, then the agent removes the pod object.
	start = time.Now()
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, alive, "pod web gone", func() (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	t.Logf("pod gone %s after delete", time.Since(start).Round(time.Millisecond))
	if b, err := os.ReadFile(filepath.Join(marker, "web")); err != nil || string(b) != "terminated" {
		t.Fatalf("SIGTERM marker: %q %v", b, err)
	}

	// A crashing container restarts with back-off.
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, podSpec("crash", []string{"exit", "3"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, alive, "pod crash restarted twice", func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "crash", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false, err
		}
		s := p.Status.ContainerStatuses[0]
		return s.RestartCount >= 2 && s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode == 3, nil
	})
}

// waitFor polls cond until it holds; it fails at once when alive reports the agent gone.
func waitFor(ctx context.Context, t *testing.T, alive func() error, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	for {
		if err := alive(); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
