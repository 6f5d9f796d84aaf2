package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/local"
)

// The fill test: a data instance in a real memory cgroup, with GOMEMLIMIT set from the
// limit as the chart sets it, written to by 50 clients until it answers -OOM, then hit by a
// burst of large values. It must refuse writes before the kernel has to step in.
const (
	fillCgroupRoot = "/sys/fs/cgroup/memory" // cgroup v1 memory controller
	fillClients    = 50
	fillValue      = 1 << 10
	burstValue     = 512 << 10
	fillPhase      = 40 * time.Second // writes of fillValue until the first -OOM, at most
	burstPhase     = 5 * time.Second  // writes of burstValue after the first -OOM
	oomBefore      = 0.95             // the first -OOM comes before this share of the limit
)

// TestFillStopsWithOOMBeforeTheMemoryLimit fills a data instance running in a memory cgroup
// of INSIGHT_FILL_LIMIT_MIB (default 128) MiB and checks that it answers -OOM before its
// cgroup's usage reaches 95% of the limit, that the usage never reaches the limit (failcnt
// 0), also under a burst of 512 KiB values after the first -OOM, and that the kernel never
// OOM-kills it. Runs as root with a writable cgroup v1 memory controller and skips itself
// elsewhere.
func TestFillStopsWithOOMBeforeTheMemoryLimit(t *testing.T) {
	needBinary(t)
	limitMiB := 128
	if v := os.Getenv("INSIGHT_FILL_LIMIT_MIB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 32 {
			t.Fatalf("INSIGHT_FILL_LIMIT_MIB=%q: want a whole number of MiB, at least 32", v)
		}
		limitMiB = n
	}
	limit := int64(limitMiB) << 20
	cg := memoryCgroup(t, limit)
	ctx := testCtx(t, 75*time.Second)

	addr, pid, exited := startDataInCgroup(ctx, t, cg, limit)
	t.Logf("data instance pid %d in %s (limit %d MiB, GOMEMLIMIT=%d), RESP %s", pid, cg, limitMiB, limit, addr)
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: fillClients + 2, DialTimeout: 2 * time.Second,
		ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, DisableIdentity: true, MaxRetries: -1})
	defer rdb.Close()

	var (
		acked, oomReplies, otherErrs atomic.Int64
		valueSize                    atomic.Int64
		firstOOM                     = make(chan struct{})
		oomOnce                      sync.Once
		firstErrMu                   sync.Mutex
		firstErr                     error
	)
	valueSize.Store(fillValue)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	for c := range fillClients {
		wg.Go(func() {
			for seq := 0; loadCtx.Err() == nil; seq++ {
				v := strings.Repeat("v", int(valueSize.Load()))
				err := rdb.Set(loadCtx, fmt.Sprintf("fill:%d:%d", c, seq), v, 0).Err()
				switch {
				case err == nil:
					acked.Add(1)
				case strings.HasPrefix(err.Error(), "OOM "):
					oomReplies.Add(1)
					oomOnce.Do(func() { close(firstOOM) })
				case loadCtx.Err() != nil:
					return
				default:
					otherErrs.Add(1)
					firstErrMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					firstErrMu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}

	// Sample the cgroup until the end of the burst phase, the process's death or the end
	// of the fill phase without a -OOM.
	var (
		maxUsage, usageAtOOM int64 = 0, -1
		usedAtOOM            int64 = -1
		died                 bool
		fillEnd              = time.After(fillPhase)
		burstEnd             <-chan time.Time
		tick                 = time.NewTicker(20 * time.Millisecond)
	)
	defer tick.Stop()
	oomSeen := firstOOM
sample:
	for {
		u, err := readCgroupInt(cg, "memory.usage_in_bytes")
		if err != nil {
			t.Fatal(err)
		}
		maxUsage = max(maxUsage, u)
		select {
		case <-exited:
			died = true
			break sample
		case <-oomSeen:
			oomSeen = nil
			usageAtOOM = u
			if info, err := rdb.InfoMap(ctx, "memory").Result(); err == nil {
				usedAtOOM, _ = strconv.ParseInt(info["Memory"]["used_memory"], 10, 64)
			}
			t.Logf("first -OOM after %d acknowledged writes: cgroup usage %.1f MiB (%.1f%% of the limit), used_memory %.1f MiB",
				acked.Load(), mib(u), pct(u, limit), mib(usedAtOOM))
			valueSize.Store(burstValue)
			burstEnd = time.After(burstPhase)
		case <-burstEnd:
			break sample
		case <-fillEnd:
			if burstEnd == nil {
				break sample
			}
		case <-ctx.Done():
			t.Fatal("the test's deadline passed while sampling")
		case <-tick.C:
		}
	}
	stopLoad()
	wg.Wait()
	failcnt, _ := readCgroupInt(cg, "memory.failcnt")
	kills := cgroupOOMKills(t, cg)
	firstErrMu.Lock()
	t.Logf("acknowledged %d writes, %d -OOM replies, %d other errors (first: %v); cgroup max usage %.1f MiB (%.1f%% of the limit), failcnt %d, oom_kill %d",
		acked.Load(), oomReplies.Load(), otherErrs.Load(), firstErr, mib(maxUsage), pct(maxUsage, limit), failcnt, kills)
	firstErrMu.Unlock()

	if died || kills > 0 {
		t.Errorf("the data instance was OOM-killed (oom_kill %d, process exited: %v) after %d acknowledged writes and %d -OOM replies: it must refuse writes with -OOM before the kernel kills it",
			kills, died, acked.Load(), oomReplies.Load())
	}
	if usageAtOOM < 0 {
		t.Errorf("no -OOM reply before the writes ended (the process died: %v; at most %s of writes; cgroup usage reached %.1f MiB of %d MiB)", died, fillPhase, mib(maxUsage), limitMiB)
	} else if float64(usageAtOOM) >= oomBefore*float64(limit) {
		t.Errorf("the first -OOM came at a cgroup usage of %.1f%% of the limit, want below %.0f%%", pct(usageAtOOM, limit), oomBefore*100)
	}
	if failcnt > 0 {
		t.Errorf("the cgroup's usage reached its limit %d times (memory.failcnt): the data instance's memory must stay below the limit, also under the burst of %d KiB values", failcnt, burstValue>>10)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func pct(v, of int64) float64 { return float64(v) * 100 / float64(of) }

// memoryCgroup creates a cgroup v1 memory child with the limit, removed when t ends
// (after the processes in it are gone); it skips t without root or a writable controller.
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the fill test needs root to create a memory cgroup")
	}
	if _, err := os.Stat(filepath.Join(fillCgroupRoot, "memory.limit_in_bytes")); err != nil {
		t.Skipf("the fill test needs a cgroup v1 memory controller at %s: %v", fillCgroupRoot, err)
	}
	dir := filepath.Join(fillCgroupRoot, fmt.Sprintf("insight-fill-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("the fill test needs a writable cgroup v1 memory controller at %s: %v", fillCgroupRoot, err)
	}
	// Registered before the grid's cleanups, so it runs after them: the cgroup is empty.
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := os.Remove(dir)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			if time.Now().After(deadline) {
				procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
				t.Errorf("removing the cgroup %s: %v (processes still in it: %q)", dir, err, procs)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatalf("setting the limit of %s: %v", dir, err)
	}
	return dir
}

func readCgroupInt(dir, file string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, fmt.Errorf("reading the cgroup: %w", err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s/%s: %w", dir, file, err)
	}
	return v, nil
}

// cgroupOOMKills is memory.oom_control's oom_kill: processes of the cgroup the kernel killed.
func cgroupOOMKills(t *testing.T, dir string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		t.Fatalf("reading the cgroup: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatalf("%s/memory.oom_control has no oom_kill line (kernel too old?):\n%s", dir, b)
	return 0
}

// startDataInCgroup starts `insight-grid local --partitions 1 --restart-delay 0`, then
// replaces its data instance by one started inside cg (pages charged before a process
// moves stay in its old cgroup): the first instance is stopped (it stays down and
// deregisters) and its command line is started again through a shell that joins cg first,
// with GOMEMLIMIT = limit as the chart sets it. It returns the instance's RESP address, pid
// and a channel closed when it exits; everything is stopped when t ends.
func startDataInCgroup(ctx context.Context, t *testing.T, cg string, limit int64) (addr string, pid int, exited <-chan struct{}) {
	t.Helper()
	base, err := ports.FreeBase("127.0.0.1", local.PortOffsets(1), local.MaxBasePort)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(artifactDir(t), "fill-grid.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			t.Logf("grid log (%s), last lines:\n%s", logPath, strings.Join(lines[max(0, len(lines)-30):], "\n"))
		}
	})
	local := exec.Command(bin, "local", "--partitions", "1", "--restart-delay", "0", "--base-port", strconv.Itoa(base),
		"--log-level", "warn", "--timeout", "60s")
	local.Env = withoutEnv(os.Environ(), "GOMEMLIMIT")
	local.Stderr = logf
	local.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := local.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := local.Start(); err != nil {
		t.Fatalf("starting insight-grid local: %v", err)
	}
	localDone := make(chan struct{})
	ready := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		pidLine := regexp.MustCompile(`^\s+p0-i0\s+pid (\d+)`)
		first := 0
		for sc.Scan() {
			if m := pidLine.FindStringSubmatch(sc.Text()); m != nil {
				first, _ = strconv.Atoi(m[1])
			}
			if sc.Text() == "ready" {
				ready <- first
			}
		}
		_ = local.Wait()
		close(localDone)
	}()
	t.Cleanup(func() {
		_ = local.Process.Signal(syscall.SIGTERM)
		select {
		case <-localDone:
		case <-time.After(30 * time.Second):
			_ = local.Process.Kill()
			<-localDone
		}
	})
	var first int
	select {
	case first = <-ready:
	case <-localDone:
		t.Fatalf("insight-grid local exited before it was ready (log %s)", logPath)
	case <-time.After(60 * time.Second):
		t.Fatal("insight-grid local was not ready in 60s")
	}
	if first == 0 {
		t.Fatal("insight-grid local printed no pid for p0-i0")
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", first))
	if err != nil {
		t.Fatalf("reading p0-i0's command line: %v", err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if err := syscall.Kill(first, syscall.SIGTERM); err != nil {
		t.Fatalf("stopping the first p0-i0 (pid %d): %v", first, err)
	}
	if err := waitFor(ctx, 15*time.Second, "the first p0-i0 to exit", func(context.Context) (bool, string) {
		return syscall.Kill(first, 0) != nil, "still running"
	}); err != nil {
		t.Fatal(err)
	}

	data := exec.Command("sh", append([]string{"-c", `echo $$ >"$0/cgroup.procs" && exec "$@"`, cg}, args...)...)
	data.Env = append(withoutEnv(os.Environ(), "GOMEMLIMIT"), "GOMEMLIMIT="+strconv.FormatInt(limit, 10))
	data.Stdout, data.Stderr = logf, logf
	data.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := data.Start(); err != nil {
		t.Fatalf("starting p0-i0 in %s: %v", cg, err)
	}
	done := make(chan struct{})
	go func() { _ = data.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = data.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = data.Process.Kill()
			<-done
		}
	})
	addr = fmt.Sprintf("127.0.0.1:%d", base+10)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1, DisableIdentity: true})
	defer rdb.Close()
	err = waitFor(ctx, 30*time.Second, "p0-i0 in the cgroup to accept writes", func(ctx context.Context) (bool, string) {
		select {
		case <-done:
			return false, "it exited"
		default:
		}
		if err := rdb.Set(ctx, "fill:probe", "1", 0).Err(); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	if err != nil {
		t.Fatalf("%v (log %s)", err, logPath)
	}
	if err := rdb.Del(ctx, "fill:probe").Err(); err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", data.Process.Pid))
	if err != nil || !strings.Contains(string(in), ":memory:/"+filepath.Base(cg)+"\n") {
		t.Fatalf("p0-i0 (pid %d) is not in %s: %s %v", data.Process.Pid, cg, in, err)
	}
	return addr, data.Process.Pid, done
}

// withoutEnv is env without the variable name.
func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
