package zeppelin

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
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
	sqlAddr string   // host:port of the MySQL protocol
	seeds   []string // the instances' RESP addresses
}

// freeBase returns a base port whose offsets `insight-grid local --sql` binds (etcd +0, +1,
// API +2, SQL +3, +4, instance k +10+k and +1010+k) are all free on 127.0.0.1, below the
// kernel's usual ephemeral range so that no outgoing connection takes one meanwhile.
func freeBase(partitions int) (int, error) {
	offsets := []int{0, 1, 2, 3, 4}
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
	var s stack
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
