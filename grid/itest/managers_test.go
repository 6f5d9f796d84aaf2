package itest

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

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// managers are three manager members with a static initial cluster, as a StatefulSet of 3
// would start them: member k has etcd client port base+3k, peer base+3k+1, API base+3k+2.
type managers struct {
	base  int
	dir   string
	procs []*exec.Cmd
}

func (m *managers) api(k int) string { return fmt.Sprintf("http://127.0.0.1:%d", m.base+3*k+2) }
func (m *managers) endpoints() string {
	var eps []string
	for k := range 3 {
		eps = append(eps, fmt.Sprintf("127.0.0.1:%d", m.base+3*k))
	}
	return strings.Join(eps, ",")
}

// startManagers starts the three members and waits until each is Ready.
func startManagers(t *testing.T, base, partitions int, ha bool) *managers {
	t.Helper()
	m := &managers{base: base, dir: t.TempDir()}
	for k := range 3 {
		m.procs = append(m.procs, m.start(t, k, filepath.Join(m.dir, fmt.Sprint(k)), m.initialCluster(3),
			"--partitions", fmt.Sprint(partitions), fmt.Sprintf("--ha=%v", ha)))
	}
	for k := range 3 {
		m.waitReady(t, k, 30*time.Second)
	}
	return m
}

// initialCluster is --initial-cluster for the first n members.
func (m *managers) initialCluster(n int) string {
	var initial []string
	for k := range n {
		initial = append(initial, fmt.Sprintf("m-%d=http://127.0.0.1:%d", k, m.base+3*k+1))
	}
	return strings.Join(initial, ",")
}

// start starts member k with its data in dir, stopped when the test ends.
func (m *managers) start(t *testing.T, k int, dir, initial string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"manager",
		"--name", fmt.Sprintf("m-%d", k), "--data-dir", dir,
		"--bind", "127.0.0.1", "--advertise-host", "127.0.0.1",
		"--client-port", fmt.Sprint(m.base + 3*k), "--peer-port", fmt.Sprint(m.base + 3*k + 1), "--http-port", fmt.Sprint(m.base + 3*k + 2),
		"--metrics-port", "0", // the members share the host: none takes the default port
		"--initial-cluster", initial, "--etcd-heartbeat", "20ms", "--etcd-election", "400ms", "--log-level", "info"}, extra...)
	return startProc(t, filepath.Join(m.dir, fmt.Sprintf("m-%d.log", k)), args)
}

// startProc starts insight-grid with args, its output appended to logPath, stopped when
// the test ends.
func startProc(t *testing.T, logPath string, args []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(grid.bin, args...)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcs([]*exec.Cmd{cmd}) })
	return cmd
}

// waitReady waits until member k answers /readyz, failing with its log after limit.
func (m *managers) waitReady(t *testing.T, k int, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for !httpOK(m.api(k) + "/readyz") {
		if ctx.Err() != nil {
			b, _ := os.ReadFile(filepath.Join(m.dir, fmt.Sprintf("m-%d.log", k)))
			t.Fatalf("manager m-%d not ready in %s; its log:\n%s", k, limit, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopProcs sends SIGTERM to every process still running, and SIGKILL after 10s.
func stopProcs(procs []*exec.Cmd) {
	for _, p := range procs {
		if p.ProcessState == nil {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, p := range procs {
		if p.ProcessState != nil {
			continue
		}
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestThreeManagers checks that three members form one etcd cluster with a leader, that
// exactly one partition map is written, and that each member's API reports all three.
func TestThreeManagers(t *testing.T) {
	base, err := freeBase()
	if err != nil {
		t.Fatal(err)
	}
	m := startManagers(t, base, 4, false)
	saved := grid.api
	defer func() { grid.api = saved }()
	for k := range 3 {
		grid.api = m.api(k)
		var cl struct {
			Partitions int
			Managers   []struct {
				Name            string
				Leader, Healthy bool
			}
			Etcd struct{ Healthy, Quorum bool }
		}
		getJSON(t, "/v1/cluster", 200, &cl)
		leaders := 0
		for _, m := range cl.Managers {
			if !m.Healthy {
				t.Errorf("member m-%d reports %s unhealthy", k, m.Name)
			}
			if m.Leader {
				leaders++
			}
		}
		if len(cl.Managers) != 3 || leaders != 1 || cl.Partitions != 4 || !cl.Etcd.Quorum {
			t.Fatalf("/v1/cluster from m-%d = %+v", k, cl)
		}
	}
}

// dataProc starts partition 0's instance i against the managers' etcd, with extra flags.
func dataProc(t *testing.T, m *managers, i int, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"data", "--partition", "0", "--instance", fmt.Sprint(i),
		"--etcd-endpoints", m.endpoints(), "--bind", "127.0.0.1", "--advertise-host", "127.0.0.1",
		"--port", fmt.Sprint(m.base + 10 + i), "--http-port", fmt.Sprint(m.base + 1010 + i), "--metrics-port", "0", "--lease-ttl", "2s", "--log-level", "info"}, extra...)
	return startProc(t, filepath.Join(m.dir, fmt.Sprintf("p0-i%d.log", i)), args)
}

func status(m *managers, i int) (cluster.InstanceStatus, bool) {
	var st cluster.InstanceStatus
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/status", m.base+1010+i))
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestManagerQuorum: with three managers, losing one changes nothing (a primary that dies
// next is still replaced); losing the quorum leaves the partition serving in its current
// roles, but a primary that dies then is not replaced — the deliberate CP choice.
func TestManagerQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 managers and 2 data instances")
	}
	base, err := freeBase()
	if err != nil {
		t.Fatal(err)
	}
	m := startManagers(t, base, 1, true)
	inst := []*exec.Cmd{dataProc(t, m, 0), dataProc(t, m, 1)}
	testutil.Eventually(t, 20*time.Second, "p0-i0 primary and p0-i1 in sync", func() bool {
		a, _ := status(m, 0)
		b, _ := status(m, 1)
		return a.Serving && b.Ready && b.InSync
	})
	ctx := ctxT(t)
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", base+10)}, MaxRedirects: 8})
	defer rdb.Close()
	n := 0
	write := func(count int) error {
		for range count {
			if err := rdb.Set(ctx, fmt.Sprintf("q:%d", n), n, 0).Err(); err != nil {
				return err
			}
			n++
		}
		return nil
	}
	if err := write(50); err != nil {
		t.Fatal(err)
	}

	// Lose the etcd leader: nothing changes for the partition.
	leader := -1
	for k := range 3 {
		var cl struct {
			Managers []struct {
				Name   string
				Leader bool
			}
		}
		resp, err := http.Get(m.api(k) + "/v1/cluster")
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&cl)
			resp.Body.Close()
		}
		for _, mm := range cl.Managers {
			if mm.Leader {
				_, _ = fmt.Sscanf(mm.Name, "m-%d", &leader)
			}
		}
		if leader >= 0 {
			break
		}
	}
	if leader < 0 {
		t.Fatal("no manager reports an etcd leader")
	}
	kill9(t, m.procs[leader])
	if err := write(50); err != nil {
		t.Fatalf("write after losing one manager: %v", err)
	}
	// A primary that dies now is still replaced. It is restarted at once, as the kubelet
	// restarts a container: with an empty memory it must not serve, and it redirects the
	// clients that knew it to the new primary.
	kill9(t, inst[0])
	start := time.Now()
	inst[0] = dataProc(t, m, 0)
	testutil.Eventually(t, 15*time.Second, "p0-i1 to take over", func() bool { s, _ := status(m, 1); return s.Serving && s.Epoch == 2 })
	t.Logf("with 2 of 3 managers, the backup took over %s after kill -9 of the primary", time.Since(start).Round(time.Millisecond))
	testutil.Eventually(t, 15*time.Second, "writes on the new primary", func() bool { return write(1) == nil })
	t.Logf("writes resumed %s after kill -9 of the primary", time.Since(start).Round(time.Millisecond))
	for i := range n {
		if v, err := rdb.Get(ctx, fmt.Sprintf("q:%d", i)).Int(); err != nil || v != i {
			t.Fatalf("acknowledged write q:%d after failover: %d, %v", i, v, err)
		}
	}
	testutil.Eventually(t, 20*time.Second, "the restarted p0-i0 in sync", func() bool { s, _ := status(m, 0); return s.Ready && s.InSync })

	// Lose the quorum: the partition keeps serving in its current roles.
	for k := range 3 {
		if k != leader {
			kill9(t, m.procs[k])
			break
		}
	}
	for range 20 {
		if err := write(10); err != nil {
			t.Fatalf("write without etcd quorum: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, _ := status(m, 0); !s.InSync || s.Role != "backup" {
		t.Fatalf("backup without etcd quorum: %+v", s)
	}
	acked := n
	// The primary dies: with no quorum the record cannot change, so nobody takes over and
	// the partition refuses writes rather than split.
	kill9(t, inst[1])
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if s, ok := status(m, 0); ok && (s.Serving || s.Role != "backup") {
			t.Fatalf("the backup took over without an etcd quorum: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := rdb.Set(short, "q:after", 1, 0).Err(); err == nil {
		t.Fatal("a write was acknowledged with no primary and no quorum")
	}
	t.Logf("%d writes acknowledged; without quorum the partition refused writes after its primary died", acked)
}
