package framework

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Result is what a command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// Run runs a command with the cluster's kubeconfig in its environment, bounded by timeout.
func (c *Cluster) Run(t *testing.T, timeout time.Duration, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errOut.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %s\nstdout: %s\nstderr: %s", name, args, timeout, res.Stdout, res.Stderr)
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s: %v", name, err)
		}
		res.ExitCode = ee.ExitCode()
	}
	return res
}

// Helm runs the real helm binary built by e2e/cluster/build.sh, with its own config and cache
// directories under the test's temporary directory.
func (c *Cluster) Helm(t *testing.T, args ...string) Result {
	t.Helper()
	if c.ToolsBin == "" {
		t.Fatal("INSIGHT_TOOLS_BIN is not set: run the e2e tests through make e2e")
	}
	home := t.TempDir()
	for _, kv := range [][2]string{{"HELM_CACHE_HOME", "cache"}, {"HELM_CONFIG_HOME", "config"}, {"HELM_DATA_HOME", "data"}} {
		t.Setenv(kv[0], filepath.Join(home, kv[1]))
	}
	return c.Run(t, 5*time.Minute, filepath.Join(c.ToolsBin, "helm"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
}
