package itest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/local"
	"github.com/insightgrid/insight/grid/slots"
)

// haLocal is a grid of HA partitions started by `insight-grid local --ha`, which restarts
// a killed data instance as the kubelet restarts a container. Instance k (2P+I for pP-iI)
// listens for RESP on base+10+k and for HTTP on base+1010+k.
type haLocal struct {
	base int
	api  string // http://host:port of the manager
	log  string // the grid's combined output
	// token is the operator token every mutating request presents.
	token string
}

// startHALocal starts `insight-grid local --ha --partitions partitions` on ports free for
// growTo partitions and waits until it is ready and every partition has an in-sync backup.
// The grid stops when t ends; its log is printed if t failed.
func startHALocal(t *testing.T, partitions, growTo int) *haLocal {
	t.Helper()
	// A repl-timeout of 1s rather than 500ms: on a loaded machine a backup a little late
	// must not drop out of sync just before the kill (then no in-sync copy would be left).
	base, api, log, token := runLocal(t, partitions, 2*max(partitions, growTo),
		"--ha", "--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms")
	g := &haLocal{base: base, api: api, log: log, token: token}
	for p := range partitions {
		g.waitHealthy(t, p, 30*time.Second)
	}
	return g
}

// runLocal starts `insight-grid local --partitions partitions` with args on ports free for
// the given number of data instances and waits until it prints ready. It stops when t
// ends, printing the end of its log if t failed. It returns the base port, the manager's
// URL, the log's path and the operator token it printed the file of.
func runLocal(t *testing.T, partitions, instances int, args ...string) (base int, api, logPath, token string) {
	t.Helper()
	base, err := ports.FreeBase("127.0.0.1", local.PortOffsets(instances), local.MaxBasePort)
	if err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(t.TempDir(), "grid.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(grid.bin, append([]string{"local", "--partitions", fmt.Sprint(partitions),
		"--base-port", fmt.Sprint(base), "--log-level", "info", "--timeout", "60s"}, args...)...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting insight-grid local: %v", err)
	}
	exited := make(chan struct{})
	ready := make(chan string, 1)
	tokenFile := ""
	go func() {
		sc := bufio.NewScanner(out)
		manager := ""
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "manager "):
				manager = strings.TrimPrefix(line, "manager ")
			case strings.HasPrefix(line, "operator-token-file "):
				tokenFile = strings.TrimPrefix(line, "operator-token-file ")
			case line == "ready":
				ready <- manager
			}
		}
		close(ready)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("grid log, last 6000 bytes:\n%s", b[max(0, len(b)-6000):])
		}
	})
	select {
	case m, ok := <-ready:
		if !ok {
			t.Fatal("insight-grid local exited before it was ready")
		}
		return base, m, logPath, readToken(t, tokenFile)
	case <-time.After(70 * time.Second):
		t.Fatal("insight-grid local was not ready in 70s")
	}
	return 0, "", "", ""
}

// readToken is the operator token in the file insight-grid local printed ("" when it
// printed none: --insecure).
func readToken(t *testing.T, file string) string {
	t.Helper()
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("reading the operator token local printed: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// partition is the manager's view of partition p (an error if it did not answer).
func (g *haLocal) partition(p int) (api.Partition, error) {
	var pt api.Partition
	err := getInto(fmt.Sprintf("%s/v1/partitions/%d", g.api, p), &pt)
	return pt, err
}

// status is the /v1/status of instance name ("p0-i1").
func (g *haLocal) status(name string) (cluster.InstanceStatus, error) {
	var p, i int
	var st cluster.InstanceStatus
	if _, err := fmt.Sscanf(name, "p%d-i%d", &p, &i); err != nil {
		return st, fmt.Errorf("instance name %q: %w", name, err)
	}
	err := getInto(fmt.Sprintf("http://127.0.0.1:%d/v1/status", g.base+1010+2*p+i), &st)
	return st, err
}

// waitHealthy waits until partition p has a serving primary and a ready, in-sync backup.
func (g *haLocal) waitHealthy(t *testing.T, p int, d time.Duration) api.Partition {
	t.Helper()
	var pt api.Partition
	testutil.Eventually(t, d, fmt.Sprintf("partition %d with a primary and an in-sync backup", p), func() bool {
		var err error
		if pt, err = g.partition(p); err != nil || pt.Primary == "" || pt.Backup == "" || !pt.InSync {
			return false
		}
		pst, err1 := g.status(pt.Primary)
		bst, err2 := g.status(pt.Backup)
		return err1 == nil && err2 == nil && pst.Serving && bst.Ready && bst.InSync && bst.Role == "backup"
	})
	return pt
}

// killPrimary kills -9 the primary of partition p once the partition is healthy, and
// returns the partition as it was just before.
func (g *haLocal) killPrimary(t *testing.T, p int) api.Partition {
	t.Helper()
	before := g.waitHealthy(t, p, 30*time.Second)
	st, err := g.status(before.Primary)
	if err != nil || st.PID <= 0 {
		t.Fatalf("status of %s: %+v, %v", before.Primary, st, err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s (pid %d): %v", before.Primary, st.PID, err)
	}
	return before
}

// partitionOfSlot reads the partition map and returns slot → partition.
func (g *haLocal) partitionOfSlot(t *testing.T) []int {
	t.Helper()
	var list struct{ Partitions []api.Partition }
	if err := getInto(g.api+"/v1/partitions", &list); err != nil {
		t.Fatal(err)
	}
	owner := make([]int, slots.Count)
	for _, p := range list.Partitions {
		for _, r := range p.Slots {
			for s := r[0]; s <= r[1]; s++ {
				owner[s] = p.ID
			}
		}
	}
	return owner
}

// repartition asks the manager for n partitions, each source copying at most rate bytes
// per second (0: no limit).
func (g *haLocal) repartition(t *testing.T, n int, rate int64) {
	t.Helper()
	code, body := postToken(t, g.api+"/v1/repartition", g.token, fmt.Sprintf(`{"partitions": %d, "rate": %d}`, n, rate))
	if code != http.StatusAccepted {
		t.Fatalf("POST /v1/repartition %d: HTTP %d %s", n, code, body)
	}
}

// repartitioned reports whether the grid has n partitions and nothing moves.
func (g *haLocal) repartitioned(n int) bool {
	var st api.RepartitionStatus
	return getInto(g.api+"/v1/repartition", &st) == nil && st.Idle() && st.Partitions == n
}

// repartitionStatus is the manager's GET /v1/repartition.
func (g *haLocal) repartitionStatus() (api.RepartitionStatus, error) {
	var st api.RepartitionStatus
	err := getInto(g.api+"/v1/repartition", &st)
	return st, err
}

// getInto decodes the JSON answer of GET url into v.
func getInto(url string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New("GET " + url + ": " + resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
