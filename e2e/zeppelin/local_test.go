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
	"syscall"
	"testing"
	"time"
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

// freeBase returns a base port whose offsets `insight-grid local --sql` binds (etcd +0, +1,
// API +2, SQL +3, +4, instance k +10+k and +1010+k), and +5, +6 for a test's own SQL
// endpoint, are all free on 127.0.0.1, below the kernel's usual ephemeral range so that no
// outgoing connection takes one meanwhile.
func freeBase(partitions int) (int, error) {
	offsets := []int{0, 1, 2, 3, 4, 5, 6}
	for k := range partitions {
		offsets = append(offsets, 10+k, 1010+k)
	}
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

// startStack builds insight-grid and insight-sql, starts `insight-grid local --sql` with 3
// partitions and waits for its sql and ready lines; it is stopped when t ends.
func startStack(t *testing.T) stack {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"insight-grid", "insight-sql"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/insightgrid/insight/grid/cmd/"+name)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", name, err, out)
		}
	}
	const partitions = 3
	base, err := freeBase(partitions)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "grid.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "insight-grid"), "local", "--sql", "--partitions", strconv.Itoa(partitions),
		"--base-port", strconv.Itoa(base), "--requirepass", password, "--log-level", "warn", "--timeout", "90s")
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting insight-grid local --sql: %v", err)
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
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("insight-grid local log, last 6000 bytes:\n%s", b[max(0, len(b)-6000):])
		}
	})
	s := stack{dir: dir, base: base}
	timeout := time.After(120 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("insight-grid local --sql exited before its ready line")
			}
			if u, ok := strings.CutPrefix(line, "sql "); ok {
				s.sqlAddr = strings.TrimPrefix(u, "mysql://")
			}
			if seed, ok := strings.CutPrefix(line, "seed "); ok {
				s.seeds = append(s.seeds, seed)
			}
			if line == "ready" {
				if s.sqlAddr == "" || len(s.seeds) == 0 {
					t.Fatalf("insight-grid local --sql printed ready without its sql and seed lines (sql %q, seeds %q)", s.sqlAddr, s.seeds)
				}
				go func() {
					for range lines {
					}
				}()
				return s
			}
		case <-timeout:
			t.Fatal("insight-grid local --sql not ready after 120s")
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
