package zeppelin

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/insightgrid/insight/e2e/gridbin"
	"github.com/insightgrid/insight/grid/local"
)

// password is the grid's and the SQL endpoint's (--requirepass).
const password = "zeppelin-s3cret"

// stack is a running `insight-grid local --sql`.
type stack struct {
	dir     string   // where insight-grid and insight-sql are
	base    int      // the base port; base+5 and base+6 are free for another SQL endpoint
	sqlAddr string   // host:port of the MySQL protocol
	seeds   []string // the instances' RESP addresses
}

// freeBase returns a base port whose offsets `insight-grid local --sql` binds
// (local.PortOffsets), and +6 beside +5 for a test's own SQL endpoint, are all free on
// 127.0.0.1, below the kernel's usual ephemeral range so that no outgoing connection takes
// one meanwhile.
func freeBase(partitions int) (int, error) {
	offsets := append(local.PortOffsets(partitions), 6)
	for range 200 {
		base := 20000 + rand.IntN(10000)
		free := true
		for _, off := range offsets {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+off)))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free range of ports for insight-grid local --sql")
}

// shared is the stack the package's tests share: started by the first test that needs it,
// stopped by TestMain.
var shared struct {
	once sync.Once
	s    stack
	stop func(failed bool)
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop(code != 0)
	}
	os.Exit(code)
}

// sharedStack returns the package's stack, starting it on first use.
func sharedStack(t *testing.T) stack {
	t.Helper()
	shared.once.Do(func() { shared.s, shared.stop, shared.err = launchStack() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.s
}

// logTail is the last 6000 bytes of the file at path.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	return string(b[max(0, len(b)-6000):])
}

// launchStack builds insight-grid and insight-sql, starts `insight-grid local --sql` with 3
// partitions and waits for its sql and ready lines. stop ends it and removes its directory,
// printing the end of its log first if failed.
func launchStack() (s stack, stop func(failed bool), err error) {
	dir, cleanup, err := gridbin.Build(gridbin.Grid, gridbin.SQL)
	if err != nil {
		return s, nil, err
	}
	stop = func(bool) { cleanup() }
	const partitions = 3
	base, err := freeBase(partitions)
	if err != nil {
		return s, stop, err
	}
	logPath := filepath.Join(dir, "grid.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return s, stop, err
	}
	cmd := exec.Command(filepath.Join(dir, "insight-grid"), "local", "--sql", "--partitions", strconv.Itoa(partitions),
		"--base-port", strconv.Itoa(base), "--requirepass", password, "--log-level", "warn", "--timeout", "90s")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return s, stop, err
	}
	if err := cmd.Start(); err != nil {
		return s, stop, fmt.Errorf("starting insight-grid local --sql: %w", err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait()
		close(exited)
	}()
	stop = func(failed bool) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if failed {
			fmt.Fprintf(os.Stderr, "insight-grid local log, last 6000 bytes:\n%s\n", logTail(logPath))
		}
		cleanup()
	}
	s = stack{dir: dir, base: base}
	timeout := time.After(120 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return s, stop, fmt.Errorf("insight-grid local --sql exited before its ready line; log:\n%s", logTail(logPath))
			}
			if u, ok := strings.CutPrefix(line, "sql "); ok {
				s.sqlAddr = strings.TrimPrefix(u, "mysql://")
			}
			if seed, ok := strings.CutPrefix(line, "seed "); ok {
				s.seeds = append(s.seeds, seed)
			}
			if line == "ready" {
				if s.sqlAddr == "" || len(s.seeds) == 0 {
					return s, stop, fmt.Errorf("insight-grid local --sql printed ready without its sql and seed lines (sql %q, seeds %q)", s.sqlAddr, s.seeds)
				}
				go func() {
					for range lines {
					}
				}()
				return s, stop, nil
			}
		case <-timeout:
			return s, stop, fmt.Errorf("insight-grid local --sql not ready after 120s; log:\n%s", logTail(logPath))
		}
	}
}

// startSQL starts an SQL endpoint of its own (insight-sql serve) over the stack's grid on
// 127.0.0.1:base+5 (MySQL) and base+6 (HTTP) and waits for its /readyz; kill ends it with
// SIGKILL, as a node's failure or an OOM kill would, and waits for it.
func startSQL(t *testing.T, s stack) (addr string, kill func()) {
	t.Helper()
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.base+5))
	httpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.base+6))
	cmd := exec.Command(filepath.Join(s.dir, "insight-sql"), "serve", "--listen", addr, "--http-listen", httpAddr,
		"--grid", strings.Join(s.seeds, ","), "--log-level", "warn")
	cmd.Env = append(os.Environ(), "INSIGHT_REQUIREPASS="+password)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting insight-sql serve: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	kill = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(kill)
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := hc.Get("http://" + httpAddr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, kill
			}
		}
		select {
		case <-exited:
			t.Fatalf("insight-sql serve on %s exited before it was ready", addr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("insight-sql serve on %s not ready after 60s", addr)
		}
	}
}
