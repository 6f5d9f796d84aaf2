package charts_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/insightgrid/insight/charts"
)

// kubeScoreVersion is the kube-score ci/tools.sh builds (KUBE_SCORE_VERSION there;
// TestKubeScore checks they agree).
const kubeScoreVersion = "v1.20.0"

// kubeScoreExceptions are the kube-score checks whose CRITICAL findings are accepted, each
// with its reason, in the renders named (every render when none is). Everything else
// CRITICAL fails TestKubeScore.
var kubeScoreExceptions = []struct {
	check, reason string
	renders       []string
}{
	{check: "container-image-pull-policy", reason: "IfNotPresent by design: production pins the image by digest (global.image.digest), so a cached image is the image asked for, and Always would make every restart depend on the registry"},
	{check: "container-security-context-user-group-id", reason: "upstream image whose UID cannot change: Apache's Zeppelin image runs as uid 1000, the owner of its ZEPPELIN_HOME", renders: []string{"addon-zeppelin", "addon-zeppelin-full"}},
	{check: "networkpolicy-targets-pod", reason: "the policy of Zeppelin's interpreter pods, which Zeppelin's launcher creates at run time from the chart's spec (TestZeppelinInterpreterSpec checks their labels match)", renders: []string{"addon-zeppelin", "addon-zeppelin-full"}},
}

// kubeScoreArgs are kube-score's arguments for the render named, its exceptions ignored.
func kubeScoreArgs(render string) []string {
	args := []string{"score", "--output-format", "ci"}
	for _, e := range kubeScoreExceptions {
		if len(e.renders) == 0 || slices.Contains(e.renders, render) {
			args = append(args, "--ignore-test", e.check)
		}
	}
	return append(args, "-")
}

// kubeScoreBinary is $KUBE_SCORE, else the one ci/tools.sh caches under $INSIGHT_CACHE.
func kubeScoreBinary() string {
	if p := os.Getenv("KUBE_SCORE"); p != "" {
		return p
	}
	cache := os.Getenv("INSIGHT_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache", "insight")
	}
	return filepath.Join(cache, "tools", "kube-score-"+kubeScoreVersion, "kube-score")
}

// sparkPods are the Spark pods of a render as they run, for kube-score to score (and for
// the NetworkPolicy to select): the driver template with a name, and the executor template
// with the resources Spark adds to it (memory plus overhead, the cores as the CPU request and,
// with spark.kubernetes.executor.limit.cores, limit).
func sparkPods(t *testing.T, s valueSet) string {
	t.Helper()
	o := sparkRender(t, s)
	driver, executor := o.driver.DeepCopy(), o.executor.DeepCopy()
	driver.Name, driver.Namespace = "job-driver", namespace
	executor.Name, executor.Namespace = "job-exec-1", namespace
	c := &executor.Spec.Containers[0]
	c.Image, c.ImagePullPolicy = driver.Spec.Containers[0].Image, driver.Spec.Containers[0].ImagePullPolicy
	// Spark adds to the template's resources, keeping what it does not set (ephemeral-storage).
	mem := resource.MustParse("1408Mi")
	for _, l := range []*corev1.ResourceList{&c.Resources.Requests, &c.Resources.Limits} {
		if *l == nil {
			*l = corev1.ResourceList{}
		}
		(*l)[corev1.ResourceCPU], (*l)[corev1.ResourceMemory] = resource.MustParse("1"), mem
	}
	var out strings.Builder
	for _, p := range []*corev1.Pod{driver, executor} {
		data, err := yaml.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n---\n")
		out.Write(data)
	}
	return out.String()
}

// TestKubeScore runs `kube-score score` on every profile's and every add-on's render and
// fails on any CRITICAL finding outside kubeScoreExceptions.
func TestKubeScore(t *testing.T) {
	tools, err := os.ReadFile(filepath.Join("..", "ci", "tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(tools), "KUBE_SCORE_VERSION="+kubeScoreVersion+"\n") {
		t.Fatalf("ci/tools.sh does not build kube-score %s (kubeScoreVersion)", kubeScoreVersion)
	}
	bin := kubeScoreBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("kube-score is not built (%v; ci/tools.sh builds it): the renders are not scored", err)
	}
	renders := map[string]string{}
	for _, s := range append(append(allSets(t), sqlSets...), wanSets...) {
		renders[s.name] = mustRender(t, s).manifest
	}
	for _, s := range sparkSets {
		renders[s.name] = mustRender(t, s).manifest + sparkPods(t, s)
	}
	for _, s := range zeppelinSets {
		renders[s.name] = mustRenderZeppelin(t, s).manifest
	}
	for _, s := range prometheusSets {
		renders[s.name] = mustRenderPrometheus(t, s).manifest
	}
	for _, s := range istioSets {
		r, err := renderWithAPIs(t, mustLoad(t, ""), s.values(t), charts.IstioAPIs)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		renders[s.name] = r.manifest
	}
	for name, manifest := range renders {
		t.Run(name, func(t *testing.T) {
			args := kubeScoreArgs(name)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Stdin = strings.NewReader(manifest)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			// kube-score exits 1 when it finds anything CRITICAL: the lines decide.
			runErr := cmd.Run()
			critical := 0
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, "[CRITICAL]") {
					critical++
					t.Errorf("kube-score: %s", line)
				}
			}
			if runErr != nil && critical == 0 {
				t.Fatalf("kube-score %s: %v\n%s", strings.Join(args, " "), runErr, out.String())
			}
			if !strings.Contains(out.String(), "[OK]") {
				t.Fatalf("kube-score scored nothing:\n%s", out.String())
			}
		})
	}
}
