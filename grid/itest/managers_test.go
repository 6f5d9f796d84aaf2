package itest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestThreeManagers starts three manager members with a static initial cluster, as a
// StatefulSet of 3 would, and checks that they form one etcd cluster with a leader, that
// exactly one partition map is written, and that each member's API reports all three.
func TestThreeManagers(t *testing.T) {
	base, err := freeBase()
	if err != nil {
		t.Fatal(err)
	}
	// Member k: client base+3k, peer base+3k+1, API base+3k+2 (within freeBase's checked range
	// only for k=0; the others are checked by binding below).
	var initial []string
	for k := range 3 {
		initial = append(initial, fmt.Sprintf("m-%d=http://127.0.0.1:%d", k, base+3*k+1))
	}
	dir := t.TempDir()
	var procs []*exec.Cmd
	for k := range 3 {
		cmd := exec.Command(grid.bin, "manager",
			"--name", fmt.Sprintf("m-%d", k), "--data-dir", filepath.Join(dir, fmt.Sprint(k)),
			"--bind", "127.0.0.1", "--advertise-host", "127.0.0.1",
			"--client-port", fmt.Sprint(base+3*k), "--peer-port", fmt.Sprint(base+3*k+1), "--http-port", fmt.Sprint(base+3*k+2),
			"--initial-cluster", strings.Join(initial, ","), "--partitions", "4",
			"--etcd-heartbeat", "20ms", "--etcd-election", "400ms", "--log-level", "warn")
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("m-%d.log", k)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.Process.Kill()
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for k := range 3 {
		api := fmt.Sprintf("http://127.0.0.1:%d", base+3*k+2)
		for {
			resp, err := http.Get(api + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if ctx.Err() != nil {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("m-%d.log", k)))
				t.Fatalf("manager m-%d not ready in 30s; its log:\n%s", k, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	saved := grid.api
	defer func() { grid.api = saved }()
	for k := range 3 {
		grid.api = fmt.Sprintf("http://127.0.0.1:%d", base+3*k+2)
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
