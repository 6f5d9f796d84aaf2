package itest

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/internal/testutil"
	"github.com/insightgrid/insight/grid/local"
)

// stopSite stops the whole site s: SIGTERM to its local (every instance stops
// gracefully), or kill -9 of every data instance and of local, whose other children
// (the manager) go with it; it returns once every process is gone and every port free,
// keeping the log of this run beside the next one's.
func stopSite(t *testing.T, s *site, kill bool) {
	t.Helper()
	if kill {
		for name, pid := range s.pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 of %s's %s (pid %d): %v", s.name, name, pid, err)
			}
		}
		_ = s.cmd.Process.Kill()
	} else {
		s.signal(t, syscall.SIGTERM)
	}
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("site %s did not stop in 60s", s.name)
	}
	instances := s.partitions
	if s.ha {
		instances *= 2
	}
	testutil.Eventually(t, 30*time.Second, "site "+s.name+"'s processes gone and its ports free", func() bool {
		for _, pid := range s.pids {
			if running(pid) {
				return false
			}
		}
		for _, off := range local.PortOffsets(instances) {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.base+off)))
			if err != nil {
				return false
			}
			ln.Close()
		}
		return true
	})
	if err := os.Rename(s.log, s.log+".before-restart"); err != nil {
		t.Fatal(err)
	}
}

// running reports whether process pid runs (a zombie does not).
func running(pid int) bool {
	f := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	return len(f) > 0 && f[0] != "Z"
}

// TestARestartedSiteSendsEveryUnacknowledgedWrite: a site with --data-dir (appendfsync
// everysec, which loses nothing acknowledged to a kill -9: a reply waits until its
// change is handed to the OS) writes while the other site's gateway is stopped, and is
// stopped whole, gracefully or by kill -9 of every process, then started again on the
// same directory. Its outbox comes back from the journal with every unacknowledged
// write, and the other site receives them all; a key deleted before the stop is deleted
// there (the tombstone was kept); with a backup, both instances' journals hold it all
// and the whole-restart election serves from either; the restarted clock is not behind the stamps it issued
// before, so a new write of a key wins over the write before the restart.
func TestARestartedSiteSendsEveryUnacknowledgedWrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kill, ha bool
	}{{"sigterm", false, false}, {"kill-9", true, false}, {"kill-9 with a backup", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			sp := specs(t, "lisbon", "oslo")
			sp[0].args, sp[0].ha = []string{"--appendfsync", "everysec"}, tc.ha
			a, b := start(t, sp[0], sp), start(t, sp[1], sp)
			ctx := ctxFor(t, 5*time.Minute)

			for k, v := range map[string]string{"gone": "soon deleted", "x": "before"} {
				if err := a.rdb.Set(ctx, k, v, 0).Err(); err != nil {
					t.Fatalf("SET %s at lisbon: %v", k, err)
				}
			}
			testutil.Eventually(t, 60*time.Second, "oslo holding gone and x, and lisbon's backlog empty", func() bool {
				got, err := b.values(ctx, []string{"gone", "x"})
				st, serr := a.primaryStatus(0)
				return err == nil && got["gone"] == "soon deleted" && got["x"] == "before" && serr == nil && st.Targets[0].Backlog == 0
			})

			b.signal(t, syscall.SIGSTOP) // oslo's gateway stops: nothing is delivered
			const n = 300
			for i := range n {
				if err := a.rdb.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
					t.Fatalf("SET k:%d at lisbon: %v", i, err)
				}
			}
			if err := a.rdb.Del(ctx, "gone").Err(); err != nil {
				t.Fatalf("DEL gone at lisbon: %v", err)
			}
			var before api.WANInstanceStatus
			testutil.Eventually(t, 10*time.Second, fmt.Sprintf("lisbon's backlog of %d before the stop (the keys and the tombstone)", n+1), func() bool {
				var err error
				before, err = a.primaryStatus(0)
				return err == nil && len(before.Targets) == 1 && before.Targets[0].Backlog == n+1
			})

			stopSite(t, a, tc.kill)
			a = start(t, sp[0], sp)
			after, err := a.primaryStatus(0)
			if err != nil {
				t.Fatal(err)
			}
			if after.Targets[0].Backlog != n+1 || after.MetaKeys != before.MetaKeys || after.ClockHLC < before.ClockHLC {
				t.Fatalf("lisbon's WAN state after the restart: backlog %d, %d keys with metadata, clock %d; want %d, %d and at least %d",
					after.Targets[0].Backlog, after.MetaKeys, after.ClockHLC, n+1, before.MetaKeys, before.ClockHLC)
			}
			t.Logf("after the restart lisbon's outbox holds %d keys (%d with metadata), its clock at %d (%d before the stop)",
				after.Targets[0].Backlog, after.MetaKeys, after.ClockHLC, before.ClockHLC)

			b.signal(t, syscall.SIGCONT)
			testutil.Eventually(t, 90*time.Second, "oslo holding every key written at lisbon", func() bool {
				return b.holdsNumbered(ctx, n)
			})
			testutil.Eventually(t, 30*time.Second, "gone deleted at oslo and lisbon's backlog empty", func() bool {
				got, err := b.values(ctx, []string{"gone"})
				st, serr := a.primaryStatus(0)
				return err == nil && got["gone"] == "" && serr == nil && st.Targets[0].Backlog == 0
			})

			if err := a.rdb.Set(ctx, "x", "after", 0).Err(); err != nil {
				t.Fatalf("SET x at lisbon after the restart: %v", err)
			}
			testutil.Eventually(t, 60*time.Second, "oslo holding lisbon's write of x after the restart", func() bool {
				got, err := b.values(ctx, []string{"x"})
				return err == nil && got["x"] == "after"
			})
		})
	}
}
