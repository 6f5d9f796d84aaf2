package itest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/ports"
	"github.com/insightgrid/insight/grid/local"
)

// status is GET /v1/status of the data instance whose HTTP port is port.
func status(t *testing.T, port int) (cluster.InstanceStatus, bool) {
	t.Helper()
	var st cluster.InstanceStatus
	code, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/v1/status", port))
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil {
		return st, false
	}
	return st, true
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFailoverDuringSelect kills the primary of a partition while a long SELECT scans the
// table (its rows paced by SLEEP): the SELECT returns either every row or an error, never
// a wrong count; once the backup has taken over, the table reads whole again.
func TestFailoverDuringSelect(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a grid of its own")
	}
	base, err := ports.FreeBase("127.0.0.1", local.PortOffsets(4), local.MaxBasePort)
	if err != nil {
		t.Fatal(err)
	}
	stop, sqlURL, logPath, err := startLocal(env.dir, base, "ha-grid.log", "--partitions", "2", "--ha",
		"--lease-ttl", "2s", "--repl-timeout", "1s", "--restart-delay", "300ms")
	t.Cleanup(func() {
		stop()
		if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(sqlURL, "mysql://"), time.Second); err == nil {
			conn.Close()
			t.Errorf("the SQL endpoint %s still listens after local stopped", sqlURL)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("grid log, last 6000 bytes:\n%s", b[max(0, len(b)-6000):])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	for k := range 4 {
		waitFor(t, 30*time.Second, fmt.Sprintf("instance %d ready and in sync", k), func() bool {
			st, ok := status(t, base+1010+k)
			return ok && st.Ready && (st.Role == "primary" || st.InSync)
		})
	}
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{fmt.Sprintf("127.0.0.1:%d", base+10)}, Password: password})
	defer rdb.Close()
	const n = 25000
	want := 0
	for start := 0; start < n; start += 1000 {
		if _, err := rdb.Pipelined(c, func(p redis.Pipeliner) error {
			for i := start; i < start+1000; i++ {
				p.HSet(c, fmt.Sprintf("fo:%d", i), "v", i)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		want += i
	}
	db, err := sql.Open("mysql", dsn(strings.TrimPrefix(sqlURL, "mysql://"), password))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(c, "CREATE TABLE fo (id INT PRIMARY KEY, v INT)"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		count, sum int
		err        error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		// 1ms per row (SLEEP has millisecond resolution; v*0 keeps it per row): the
		// engine drains slower than the primaries are scanned, so the scan of 25000 rows
		// still runs when the primary dies (its buffer holds 16 pages of 1000 keys).
		var sum float64 // the engine's SUM of integers is a DOUBLE
		r.err = db.QueryRowContext(c, "SELECT count(*), sum(v) FROM fo WHERE sleep(0.001 + v*0) = 0").Scan(&r.count, &sum)
		r.sum = int(sum)
		done <- r
	}()
	waitFor(t, 20*time.Second, "the SELECT in SHOW PROCESSLIST", func() bool {
		select {
		case r := <-done:
			t.Fatalf("the SELECT ended before the kill: count %d, sum %d, %v", r.count, r.sum, r.err)
		default:
		}
		got := false
		rs, err := db.QueryContext(c, "SHOW PROCESSLIST")
		if err != nil {
			return false
		}
		defer rs.Close()
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			_ = rs.Scan(ptrs...)
			for _, v := range vals {
				got = got || strings.Contains(v.String, "sleep(0.001 + v*0)")
			}
		}
		return got
	})
	st, ok := status(t, base+1010)
	if !ok || st.Role != "primary" {
		t.Fatalf("p0-i0 is not the primary: %+v", st)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed p0-i0 (pid %d) during the SELECT", st.PID)
	r := <-done
	switch {
	case r.err != nil:
		t.Logf("the SELECT failed, as it may: %v", r.err)
		if strings.Contains(r.err.Error(), "driver: bad connection") {
			t.Errorf("the SELECT's error does not say what happened: %v", r.err)
		}
	case r.count != n || r.sum != want:
		t.Errorf("the SELECT returned count %d, sum %d; want %d, %d (or an error)", r.count, r.sum, n, want)
	default:
		t.Logf("the SELECT returned every row")
	}
	waitFor(t, 60*time.Second, "the table whole again after the failover", func() bool {
		cctx, cancel := context.WithTimeout(c, 10*time.Second)
		defer cancel()
		var count, sum int
		err := db.QueryRowContext(cctx, "SELECT count(*), CAST(sum(v) AS SIGNED) FROM fo").Scan(&count, &sum)
		if err == nil && (count != n || sum != want) {
			t.Fatalf("after the failover: count %d, sum %d; want %d, %d", count, sum, n, want)
		}
		if err != nil {
			t.Logf("after the failover: %v", err)
		}
		return err == nil
	})
}
