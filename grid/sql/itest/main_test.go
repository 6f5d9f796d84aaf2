package itest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/e2e/gridbin"
	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/local"
)

const password = "s3cret"

// env is the grid and SQL endpoint every test shares.
var env struct {
	dir     string // where both binaries are
	base    int
	sqlAddr string // host:port of the MySQL protocol
	seeds   []string
	db      *sql.DB
	rdb     *redis.ClusterClient
}

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sql itest:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, cleanup, err := gridbin.Build(gridbin.Grid, gridbin.SQL)
	if err != nil {
		return 0, err
	}
	defer cleanup()
	env.dir = dir
	base, err := ports.FreeBase("127.0.0.1", local.PortOffsets(3), local.MaxBasePort)
	if err != nil {
		return 0, err
	}
	env.base = base
	stop, sqlURL, logPath, err := startLocal(dir, base, "grid.log", "--partitions", "3")
	defer stop()
	if err != nil {
		b, _ := os.ReadFile(logPath)
		return 0, fmt.Errorf("%w; log:\n%s", err, b[max(0, len(b)-6000):])
	}
	env.sqlAddr = strings.TrimPrefix(sqlURL, "mysql://")
	for k := range 3 {
		env.seeds = append(env.seeds, fmt.Sprintf("127.0.0.1:%d", base+10+k))
	}
	env.db, err = sql.Open("mysql", dsn(env.sqlAddr, password))
	if err != nil {
		return 0, err
	}
	defer env.db.Close()
	env.rdb = redis.NewClusterClient(&redis.ClusterOptions{Addrs: env.seeds, Password: password})
	defer env.rdb.Close()
	code := m.Run()
	if code != 0 {
		b, _ := os.ReadFile(logPath)
		fmt.Fprintf(os.Stderr, "grid log, last 6000 bytes:\n%s\n", b[max(0, len(b)-6000):])
	}
	return code, nil
}

func dsn(addr, pass string) string {
	return fmt.Sprintf("insight:%s@tcp(%s)/insight?timeout=10s&readTimeout=60s", pass, addr)
}

// startLocal starts `insight-grid local --sql` with args and waits for its sql and ready
// lines; its log is logName in dir.
func startLocal(dir string, base int, logName string, args ...string) (stop func(), sqlURL, logPath string, err error) {
	logPath = filepath.Join(dir, logName)
	logf, err := os.Create(logPath)
	if err != nil {
		return func() {}, "", logPath, err
	}
	cmd := exec.Command(filepath.Join(dir, "insight-grid"), append([]string{"local", "--sql",
		"--base-port", fmt.Sprint(base), "--requirepass", password, "--log-level", "warn", "--timeout", "90s"}, args...)...)
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return func() {}, "", logPath, err
	}
	if err := cmd.Start(); err != nil {
		return func() {}, "", logPath, fmt.Errorf("starting insight-grid local --sql: %w", err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_ = cmd.Wait()
		close(exited)
	}()
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	}
	timeout := time.After(120 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return stop, "", logPath, fmt.Errorf("insight-grid local --sql exited before ready")
			}
			if strings.HasPrefix(line, "sql ") {
				sqlURL = strings.TrimPrefix(line, "sql ")
			}
			if line == "ready" {
				if sqlURL == "" {
					return stop, "", logPath, fmt.Errorf("insight-grid local --sql printed ready without a sql line")
				}
				go func() {
					for range lines {
					}
				}()
				return stop, sqlURL, logPath, nil
			}
		case <-timeout:
			return stop, "", logPath, fmt.Errorf("insight-grid local --sql not ready after 120s")
		}
	}
}

// ctx is a bounded context for one test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// mustExec runs statements, failing t on the first error.
func mustExec(t *testing.T, c context.Context, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := env.db.ExecContext(c, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rows is the query's result as strings ("NULL" for NULL), one "a|b|c" per row.
func rows(t *testing.T, c context.Context, q string, args ...any) []string {
	t.Helper()
	rs, err := env.db.QueryContext(c, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	return scanAll(t, q, rs)
}

func scanAll(t *testing.T, q string, rs *sql.Rows) []string {
	t.Helper()
	cols, err := rs.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		parts := make([]string, len(cols))
		for i, v := range vals {
			parts[i] = "NULL"
			if v.Valid {
				parts[i] = v.String
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}
