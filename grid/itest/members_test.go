package itest

import (
	"bytes"
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

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

func getManagers(url string) (api.Managers, bool) {
	d, err := (&api.Client{Base: url, Via: url}).Managers(context.Background())
	if err != nil {
		return api.Managers{}, false
	}
	return *d, true
}

// postStatus posts body to url and returns the HTTP status and the answer.
func postStatus(t *testing.T, url, body string) (int, string) {
	t.Helper()
	return postToken(t, url, "", body)
}

// postToken is postStatus presenting the operator token ("": none).
func postToken(t *testing.T, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(api.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// waitExit waits for cmd to end by itself and returns how it ended.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, what string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		// SIGQUIT makes the Go runtime write every goroutine's stack into the process's
		// log, which the test prints on failure: where it hangs.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case err := <-done:
			t.Fatalf("%s: still running after %s (stopped by SIGQUIT: %v; its goroutines are in its log)", what, limit, err)
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%s: still running after %s (killed: %v)", what, limit, <-done)
		}
		return nil
	}
}

// TestManagersGrowAndShrinkUnderLoad grows the managers' etcd cluster from 1 member to 3
// while a partition takes writes (each new member joins as a learner and is promoted
// once in sync, one at a time), shows that the 3 keep the control plane working when the
// first is killed, then shrinks back to 1 through POST /v1/managers sent to a member that
// goes itself. Every acknowledged write must read back; the longest write pause is logged.
func TestManagersGrowAndShrinkUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 managers and 2 data instances")
	}
	base, err := freeBase()
	if err != nil {
		t.Fatal(err)
	}
	m := &managers{base: base, dir: t.TempDir()}
	t.Cleanup(func() {
		if t.Failed() {
			for k := range 3 {
				b, _ := os.ReadFile(filepath.Join(m.dir, fmt.Sprintf("m-%d.log", k)))
				t.Logf("m-%d's log:\n%s", k, b)
			}
		}
	})
	dir := func(k int) string { return filepath.Join(m.dir, fmt.Sprint(k)) }
	m.procs = make([]*exec.Cmd, 3)
	m.procs[0] = m.start(t, 0, dir(0), m.initialCluster(1), "--partitions", "1", "--ha=true")
	m.waitReady(t, 0, 30*time.Second)
	dataProc(t, m, 0)
	dataProc(t, m, 1)
	testutil.Eventually(t, 20*time.Second, "p0-i0 primary and p0-i1 in sync", func() bool {
		a, _ := status(m, 0)
		b, _ := status(m, 1)
		return a.Serving && b.Ready && b.InSync
	})
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", base+10)}, MaxRedirects: 8})
	defer rdb.Close()
	w := startHAWriters(rdb, 4)
	defer w.stop()
	start := time.Now()

	// Grow: members 1 and 2 join one after the other, each a learner first.
	// Every member gets the grid's flags, as the chart gives them: a manager started with
	// another --ha than the one last applied would change the grid's.
	join := []string{"--partitions", "1", "--ha=true", "--initial-cluster-state", "existing", "--join", fmt.Sprintf("127.0.0.1:%d", base)}
	for k := 1; k <= 2; k++ {
		joined := time.Now()
		m.procs[k] = m.start(t, k, dir(k), m.initialCluster(3), join...)
		m.waitReady(t, k, 60*time.Second)
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("%d voting members", k+1), func() bool {
			d, ok := getManagers(m.api(0))
			return ok && d.Voters == k+1 && len(d.Members) == k+1
		})
		t.Logf("m-%d joined and was promoted in %s", k, time.Since(joined).Round(time.Millisecond))
	}
	d, _ := getManagers(m.api(2))
	for _, mem := range d.Members {
		if !mem.Healthy || mem.Learner {
			t.Fatalf("after growing, member %+v is not a healthy voter: %+v", mem, d)
		}
	}
	log0, _ := os.ReadFile(filepath.Join(m.dir, "m-1.log"))
	if !strings.Contains(string(log0), "promoted from learner") {
		t.Errorf("m-1 did not start as a learner; its log:\n%s", log0)
	}

	// Three members tolerate the loss of one: kill the first, and a planned switch-over
	// (a partition record change through etcd) still goes through.
	kill9(t, m.procs[0])
	testutil.Eventually(t, 15*time.Second, "a switch-over through m-1 without m-0", func() bool {
		code, body := postStatus(t, m.api(1)+api.PartitionPath(0, api.OpFailover), "")
		if code != http.StatusOK {
			t.Logf("switch-over through m-1: %d %s", code, body)
		}
		return code == http.StatusOK
	})
	m.procs[0] = m.start(t, 0, dir(0), m.initialCluster(1), "--partitions", "1", "--ha=true")
	m.waitReady(t, 0, 30*time.Second)
	testutil.Eventually(t, 15*time.Second, "3 healthy members again", func() bool {
		d, ok := getManagers(m.api(1))
		if !ok || d.Voters != 3 {
			return false
		}
		for _, mem := range d.Members {
			if !mem.Healthy {
				return false
			}
		}
		return true
	})

	// Bad requests change nothing.
	for _, c := range []struct {
		body string
		code int
		want string
	}{
		{`{"members": 0}`, 400, "members is 0"},
		{`{"members": 4}`, 409, "members are added by starting them"},
		{`{"count": 1}`, 400, "unknown field"},
	} {
		code, body := postStatus(t, m.api(1)+api.PathManagers, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("POST /v1/managers %s = %d %s; want %d containing %q", c.body, code, body, c.code, c.want)
		}
	}

	// Shrink to 1, asking m-1: it removes m-2, then itself; both stop.
	shrunk := time.Now()
	code, body := postStatus(t, m.api(1)+api.PathManagers, `{"members": 1}`)
	t.Logf("POST /v1/managers {\"members\": 1} to m-1: %d %s", code, body)
	for k := 1; k <= 2; k++ {
		err := waitExit(t, m.procs[k], 20*time.Second, fmt.Sprintf("removed member m-%d", k))
		if err == nil {
			t.Errorf("removed member m-%d exited with status 0; want the error that says it was removed", k)
		}
	}
	testutil.Eventually(t, 15*time.Second, "m-0 alone and ready", func() bool {
		d, ok := getManagers(m.api(0))
		return ok && d.Voters == 1 && len(d.Members) == 1 && httpOK(m.api(0)+"/readyz")
	})
	t.Logf("shrunk to 1 member in %s", time.Since(shrunk).Round(time.Millisecond))
	testutil.Eventually(t, 15*time.Second, "a switch-over through m-0 alone", func() bool {
		code, _ := postStatus(t, m.api(0)+api.PartitionPath(0, api.OpFailback), "")
		return code == http.StatusOK
	})
	// A removed member restarted with its old data stops with a clear error.
	again := m.start(t, 2, dir(2), m.initialCluster(3), join...)
	if err := waitExit(t, again, 30*time.Second, "m-2 restarted with the data of a removed member"); err == nil {
		t.Error("m-2 restarted with a removed member's data exited with status 0")
	}
	if b, _ := os.ReadFile(filepath.Join(m.dir, "m-2.log")); !strings.Contains(string(b), "removed from the managers' cluster") {
		t.Errorf("m-2's log does not say it was removed:\n%s", b)
	}

	end := time.Now()
	w.stop()
	w.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for k, v := range w.acked {
		if got, err := rdb.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("acknowledged write %s = %q: read %q, %v", k, v, got, err)
		}
	}
	t.Logf("%d acknowledged writes, 0 lost, %d errors; longest write pause %s over %s",
		len(w.acked), w.errs, w.longestPause(start, end).Round(time.Millisecond), end.Sub(start).Round(time.Millisecond))
}
