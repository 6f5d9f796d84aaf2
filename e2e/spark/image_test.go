package spark

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insightgrid/insight/e2e/framework"
	"github.com/insightgrid/insight/e2e/nodeagent/image"
	"github.com/insightgrid/insight/e2e/nodeagent/sandbox"
)

// sparkUID is the user the image runs as (its config's User).
const sparkUID = 185

// podHostname is the sandbox's host name.
const podHostname = "insight-spark-e2e"

// examplesJar is where the image ships the examples.
const examplesJar = "local:///opt/insight/examples/insight-examples.jar"

// sparkImage is the image unpacked once for every test of the package.
type sparkImage struct {
	rootfs string
	config *image.Image
}

// unpackImage finds bin/images/insight-spark-*.tar, loads it as the node agent does and
// unpacks it into a temporary directory; it skips the test when the gate is off, the image
// is not built or the sandbox cannot run (it needs root).
func unpackImage(t *testing.T) *sparkImage {
	t.Helper()
	if !framework.Enabled() {
		t.Skipf("set %s=1 to run the Spark image tests (ci/e2e.sh does)", framework.EnvGate)
	}
	tars, err := filepath.Glob("../../bin/images/insight-spark-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	var archive string
	for _, p := range tars {
		if !strings.HasSuffix(p, ".oci.tar") {
			archive = p
		}
	}
	if archive == "" {
		t.Skip("bin/images/insight-spark-*.tar not built: run make image-spark (ci/spark-image.sh)")
	}
	if os.Getuid() != 0 {
		t.Skip("the sandbox chroots and drops to uid 185: run as root")
	}
	store, err := image.Load(archive)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	refs := store.Refs()
	if len(refs) != 1 || !strings.HasPrefix(refs[0], "ghcr.io/insightgrid/insight-spark:") {
		t.Fatalf("%s holds %v, want one ghcr.io/insightgrid/insight-spark image", archive, refs)
	}
	img, err := store.Lookup(refs[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "rootfs")
	if err := img.Unpack(dir); err != nil {
		t.Fatal(err)
	}
	c := img.Config
	if strings.Join(c.Entrypoint, " ") != "/opt/entrypoint.sh" || c.User != "185:185" || c.WorkingDir != "/opt/spark/work-dir" {
		t.Fatalf("image config entrypoint %v, user %q, workdir %q: want /opt/entrypoint.sh, 185:185, /opt/spark/work-dir (Spark's image contract)",
			c.Entrypoint, c.User, c.WorkingDir)
	}
	// The node agent's unpack leaves every file root's; Spark's work dir is the image user's.
	if err := os.Chown(filepath.Join(dir, "opt/spark/work-dir"), sparkUID, sparkUID); err != nil {
		t.Fatal(err)
	}
	return &sparkImage{rootfs: dir, config: img}
}

// run runs the image's entrypoint with args in the sandbox, as the image's user with its
// environment plus env, and returns its combined output and exit code.
func (s *sparkImage) run(ctx context.Context, t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	return s.runAs(ctx, t, sparkUID, env, args...)
}

// runAs is run as uid (group uid); it kills the process group when ctx ends.
func (s *sparkImage) runAs(ctx context.Context, t *testing.T, uid uint32, env []string, args ...string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	// As the node agent gives a pod: its own host name, resolvable through /etc/hosts
	// (Spark resolves the local host name at start).
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost\n127.0.0.1\t"+podHostname+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "spec.json")
	err := sandbox.WriteSpec(spec, &sandbox.Spec{
		Rootfs:     s.rootfs,
		Hostname:   podHostname,
		HostsFile:  hosts,
		WorkingDir: s.config.Config.WorkingDir,
		UID:        uid,
		GID:        uid,
		Argv:       append(append([]string{}, s.config.Config.Entrypoint...), args...),
		Env:        append(append([]string{}, s.config.Config.Env...), env...),
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := sandbox.Command(spec, &out, &out)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
		t.Fatalf("%v did not end in time: %v (killed: %v); output:\n%s", args, ctx.Err(), err, tail(out.String()))
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &exit):
		return out.String(), exit.ExitCode()
	default:
		t.Fatalf("%v: %v", args, err)
		return "", 0
	}
}

// tail returns the last lines of a job's output, where Spark's error is.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// withTimeout is a context bounding one Spark job.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
