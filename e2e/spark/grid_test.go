package spark

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insightgrid/insight/e2e/gridbin"
)

// gridPassword is the local grid's password: the connector AUTHs with it and the SQL
// endpoint takes it as its user's password.
const gridPassword = "spark-e2e-secret"

// localGrid is an `insight-grid local --sql` started for the test.
type localGrid struct {
	seed string // host:port of a data instance
	sql  string // host:port of the MySQL endpoint
}

// startGrid builds insight-grid and insight-sql and starts a local grid of three
// partitions with its SQL endpoint, stopped when the test ends.
func startGrid(t *testing.T) *localGrid {
	t.Helper()
	bin, cleanup, err := gridbin.Build(gridbin.Grid, gridbin.SQL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	base, err := freeBase()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "grid.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "insight-grid"), "local", "--sql", "--partitions", "3",
		"--base-port", fmt.Sprint(base), "--requirepass", gridPassword, "--log-level", "warn", "--timeout", "90s")
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the local grid: %v", err)
	}
	stopped := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-stopped
		}
		logf.Close()
	})
	g := &localGrid{}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "seed "):
				g.seed = strings.TrimPrefix(line, "seed ")
			case strings.HasPrefix(line, "sql mysql://"):
				g.sql = strings.TrimPrefix(line, "sql mysql://")
			case line == "ready":
				ready <- nil
			}
		}
		ready <- errors.New("the local grid exited before it was ready")
		_ = cmd.Wait()
		close(stopped)
	}()
	select {
	case err := <-ready:
		if err != nil {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%v; its log:\n%s", err, b)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the local grid was not ready in 2m")
	}
	if g.seed == "" || g.sql == "" {
		t.Fatalf("the local grid printed seed %q and sql %q: want both", g.seed, g.sql)
	}
	return g
}

// gridOffsets are the ports `insight-grid local --sql` of three partitions listens on,
// relative to --base-port: manager +0..2 and metrics +9, SQL +3..4, RESP +10..12, HTTP
// +1010..1012, metrics +2010..2012 (and +5..8, which grid/itest keeps free too).
var gridOffsets = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1010, 1011, 1012, 2010, 2011, 2012}

// freeBase finds a base port below the ephemeral range whose grid ports are all free.
func freeBase() (int, error) {
	for base := 21000; base < 31000; base += 1100 {
		if allFree(base) {
			return base, nil
		}
	}
	return 0, errors.New("no free port range for the local grid between 21000 and 31000")
}

func allFree(base int) bool {
	for _, off := range gridOffsets {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
