package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/testutil"
)

// maxHAPause bounds the longest interval without an acknowledged write while HA is turned
// on or off: the only pause is the primary's switch to synchronous mode (on) or the
// hand-back of a failed-over partition (off), both well under a second; the bound leaves
// room for a loaded machine.
const maxHAPause = 2 * time.Second

// haWriters write unique keys through a cluster client and keep every acknowledged one.
type haWriters struct {
	mu    sync.Mutex
	acked map[string]string
	times []time.Time // acknowledgement times, in order
	errs  int
	stop  context.CancelFunc
	done  sync.WaitGroup
}

func startHAWriters(rdb *redis.ClusterClient, n int) *haWriters {
	ctx, cancel := context.WithCancel(context.Background())
	w := &haWriters{acked: map[string]string{}, stop: cancel}
	for k := range n {
		w.done.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key, val := fmt.Sprintf("ha:%d:%d", k, i), fmt.Sprintf("v%d-%d", k, i)
				wctx, c := context.WithTimeout(ctx, 3*time.Second)
				err := rdb.Set(wctx, key, val, 0).Err()
				c()
				w.mu.Lock()
				if err == nil {
					w.acked[key] = val
					w.times = append(w.times, time.Now())
				} else if ctx.Err() == nil {
					w.errs++
				}
				w.mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	return w
}

// longestPause is the longest interval between acknowledgements that overlaps [from, to].
func (w *haWriters) longestPause(from, to time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var longest time.Duration
	prev := from
	for _, at := range w.times {
		if at.Before(from) {
			continue
		}
		longest = max(longest, at.Sub(prev))
		prev = at
		if at.After(to) {
			break
		}
	}
	return longest
}

func (w *haWriters) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

func getHA(t *testing.T, url string) api.HAStatus {
	t.Helper()
	var d api.HAStatus
	resp, err := http.Get(url + "/v1/ha")
	if err != nil {
		return d
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&d)
	return d
}

func postOK(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("POST %s %s: HTTP %d %s", url, body, resp.StatusCode, b.String())
	}
}

// TestHAOnlineUnderLoad turns HA on and off on a running partition while clients write:
// the backup started later catches up by snapshot (its redo ring is smaller than the
// data) and gets in sync; after a failover to it, turning HA off hands the partition back
// to instance 0 and drops the backup, which then stops. Every acknowledged write must read
// back, and writes may pause only briefly; the longest pauses are logged.
func TestHAOnlineUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 managers and 2 data instances")
	}
	base, err := freeBase()
	if err != nil {
		t.Fatal(err)
	}
	m := startManagers(t, base, 1, false)
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"m-0.log", "p0-i0.log", "p0-i1.log"} {
				b, _ := os.ReadFile(filepath.Join(m.dir, f))
				t.Logf("%s, last 3000 bytes:\n%s", f, b[max(0, len(b)-3000):])
			}
		}
	})
	dataProc(t, m, 0, "--repl-backlog-size", "1mb")
	testutil.Eventually(t, 20*time.Second, "p0-i0 serving alone", func() bool { s, _ := status(m, 0); return s.Serving })
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", base+10)}, MaxRedirects: 8})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// More data than the redo ring holds: the new backup needs a snapshot.
	pipe := rdb.Pipeline()
	pad := strings.Repeat("x", 100)
	for i := range 20000 {
		pipe.Set(ctx, fmt.Sprintf("pre:%d", i), pad, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("preloading: %v", err)
	}
	w := startHAWriters(rdb, 4)
	defer func() { w.stop(); w.done.Wait() }()
	testutil.Eventually(t, 10*time.Second, "writes acknowledged", func() bool { return w.count() > 100 })

	// On: the backup's pod starts, the manager names it the backup, it catches up.
	startOn := time.Now()
	backup := dataProc(t, m, 1, "--repl-backlog-size", "1mb")
	postOK(t, m.api(0)+"/v1/ha", `{"ha": true}`)
	testutil.Eventually(t, 60*time.Second, "the backup in sync", func() bool { return getHA(t, m.api(1)).Done })
	onTook := time.Since(startOn)
	// The record says in sync; the backup reports it once its watch delivered the record.
	testutil.Eventually(t, 10*time.Second, "p0-i1 ready as the in-sync backup", func() bool {
		s, _ := status(m, 1)
		return s.Ready && s.InSync && s.Role == "backup"
	})
	onPause := w.longestPause(startOn, time.Now())
	b, _ := os.ReadFile(filepath.Join(m.dir, "p0-i1.log"))
	if !bytes.Contains(b, []byte("snapshot")) {
		t.Errorf("the new backup did not catch up by snapshot; its log:\n%s", b)
	}

	// A failover makes p0-i1 the primary: turning HA off must hand the partition back first.
	postOK(t, m.api(0)+"/v1/partitions/0/failover", "")
	testutil.Eventually(t, 20*time.Second, "p0-i0 in sync after the failover", func() bool {
		s, _ := status(m, 0)
		return s.Role == "backup" && s.InSync
	})
	startOff := time.Now()
	postOK(t, m.api(2)+"/v1/ha", `{"ha": false}`)
	testutil.Eventually(t, 30*time.Second, "no backup left", func() bool { return getHA(t, m.api(0)).Done })
	offTook := time.Since(startOff)
	testutil.Eventually(t, 10*time.Second, "p0-i0 serving as the primary", func() bool {
		s, _ := status(m, 0)
		return s.Serving && s.Role == "primary"
	})
	// Only now does the backup's pod go (the StatefulSet scaled to 1).
	stopProcs([]*exec.Cmd{backup})
	afterStop := time.Now()
	n := w.count()
	testutil.Eventually(t, 10*time.Second, "writes after the backup stopped", func() bool { return w.count() > n+100 })
	offPause := w.longestPause(startOff, time.Now())
	stopPause := w.longestPause(afterStop, time.Now())
	w.stop()
	w.done.Wait()

	w.mu.Lock()
	acked, errs := w.acked, w.errs
	w.mu.Unlock()
	lost := 0
	for k, v := range acked {
		got, err := rdb.Get(ctx, k).Result()
		if err != nil || got != v {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged write %s=%s reads %q, %v", k, v, got, err)
			}
		}
	}
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n < 20000 {
		t.Errorf("DBSIZE after the toggles = %d, %v; want at least the 20000 preloaded keys", n, err)
	}
	t.Logf("HA on took %s, longest write pause %s; HA off (with hand-back) took %s, longest write pause %s; after the backup stopped %s; %d acknowledged writes, %d lost, %d failed",
		onTook.Round(time.Millisecond), onPause.Round(time.Millisecond), offTook.Round(time.Millisecond), offPause.Round(time.Millisecond),
		stopPause.Round(time.Millisecond), len(acked), lost, errs)
	for what, d := range map[string]time.Duration{"HA on": onPause, "HA off": offPause, "backup stop": stopPause} {
		if d > maxHAPause {
			t.Errorf("%s: no write acknowledged for %s (bound %s)", what, d.Round(time.Millisecond), maxHAPause)
		}
	}
}
