package itest

import (
	"database/sql"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestPreparedPlanReuse checks prepared statements executed many times on one
// connection, whose plans the endpoint reuses (key lookups by =, IN and BETWEEN of
// integer parameters, with aggregates, DISTINCT and ORDER BY, as sysbench's
// oltp_read_only sends them): every execution answers for its own parameters, missing
// keys and empty or wide ranges included, values that do not convert warn on the
// execution that read them, and statements of other shapes are planned as usual.
func TestPreparedPlanReuse(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE pr (id INT PRIMARY KEY, k INT, c VARCHAR(20))")
	for i := 1; i <= 30; i++ {
		mustExec(t, c, fmt.Sprintf("INSERT INTO pr VALUES (%d, %d, 'c%02d')", i, i%4, i%7))
	}
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	query := func(stmt *sql.Stmt, what string, args ...any) []string {
		t.Helper()
		rs, err := stmt.QueryContext(c, args...)
		if err != nil {
			t.Fatalf("%s %v: %v", what, args, err)
		}
		defer rs.Close()
		return scanAll(t, what, rs)
	}
	prepare := func(q string) *sql.Stmt {
		t.Helper()
		s, err := conn.PrepareContext(c, q)
		if err != nil {
			t.Fatalf("PREPARE %s: %v", q, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}

	reusedBefore := counter(t, "insight_sql_prepared_plans_reused_total")
	point := prepare("SELECT c FROM pr WHERE id = ?")
	for _, id := range []int{5, 6, 31, 0, -1, 5, 30} {
		var want []string
		if id >= 1 && id <= 30 {
			want = []string{fmt.Sprintf("c%02d", id%7)}
		}
		equal(t, "point select of "+strconv.Itoa(id), query(point, "point select", id), want)
	}
	if n := counter(t, "insight_sql_prepared_plans_reused_total") - reusedBefore; n < 6 {
		t.Errorf("insight_sql_prepared_plans_reused_total grew by %d over 7 executions of a point select, want 6 at least", n)
	}
	// A parameter sent as text is converted by the engine, as MySQL converts it.
	equal(t, "point select of '7'", query(point, "point select", "7"), []string{"c00"})

	sum := prepare("SELECT SUM(k) FROM pr WHERE id BETWEEN ? AND ?")
	for _, r := range [][2]int{{1, 4}, {5, 8}, {28, 40}, {9, 2}, {1, 5000}, {3, 3}} {
		total := 0
		for i := max(r[0], 1); i <= min(r[1], 30); i++ {
			total += i % 4
		}
		want := []string{strconv.Itoa(total)}
		if r[0] > r[1] {
			want = []string{"NULL"}
		}
		equal(t, fmt.Sprintf("SUM over %d..%d", r[0], r[1]), query(sum, "SUM", r[0], r[1]), want)
	}

	// A first execution too wide to read by key is planned as a scan; the next ones,
	// narrow, get a plan of their own to reuse.
	count := prepare("SELECT count(*) FROM pr WHERE id BETWEEN ? AND ?")
	equal(t, "count over 1..5000", query(count, "count", 1, 5000), []string{"30"})
	equal(t, "count over 2..4", query(count, "count", 2, 4), []string{"3"})
	before := counter(t, "insight_sql_prepared_plans_reused_total")
	equal(t, "count over 10..12", query(count, "count", 10, 12), []string{"3"})
	equal(t, "count over 29..31", query(count, "count", 29, 31), []string{"2"})
	if n := counter(t, "insight_sql_prepared_plans_reused_total") - before; n != 2 {
		t.Errorf("insight_sql_prepared_plans_reused_total grew by %d over 2 narrow counts after a wide one, want 2", n)
	}

	distinct := prepare("SELECT DISTINCT c FROM pr WHERE id BETWEEN ? AND ? ORDER BY c")
	equal(t, "DISTINCT 1..8", query(distinct, "DISTINCT", 1, 8), []string{"c00", "c01", "c02", "c03", "c04", "c05", "c06"})
	equal(t, "DISTINCT 8..9", query(distinct, "DISTINCT", 8, 9), []string{"c01", "c02"})

	in := prepare("SELECT id, k FROM pr WHERE id IN (?, ?) ORDER BY id")
	equal(t, "IN (2, 3)", query(in, "IN", 2, 3), []string{"2|2", "3|3"})
	equal(t, "IN (29, 99)", query(in, "IN", 29, 99), []string{"29|1"})
	equal(t, "IN (4, 4)", query(in, "IN", 4, 4), []string{"4|0"})

	// Another shape: a filter besides the key, planned by the engine each time.
	filtered := prepare("SELECT id FROM pr WHERE id BETWEEN ? AND ? AND k = ? ORDER BY id")
	equal(t, "BETWEEN and k", query(filtered, "filtered", 1, 10, 2), []string{"2", "6", "10"})
	equal(t, "BETWEEN and k again", query(filtered, "filtered", 3, 12, 3), []string{"3", "7", "11"})

	// A value that does not convert: NULL and a warning on that execution only.
	if err := env.rdb.HSet(c, "pr:4", "k", "four").Err(); err != nil {
		t.Fatal(err)
	}
	kOf := prepare("SELECT k FROM pr WHERE id = ?")
	equal(t, "k of 3", query(kOf, "k", 3), []string{"3"})
	equal(t, "k of 4 (not an integer)", query(kOf, "k", 4), []string{"NULL"})
	if w := warnings(t, conn); len(w) != 1 || !strings.HasPrefix(w[0], "Warning|1366|Incorrect integer value: 'four' for column 'k' in row pr:4") {
		t.Errorf("SHOW WARNINGS after reading 'four' as an integer: %q", w)
	}
	equal(t, "k of 5", query(kOf, "k", 5), []string{"1"})
	if w := warnings(t, conn); len(w) != 0 {
		t.Errorf("SHOW WARNINGS after the next execution: %q, want none", w)
	}

	// A SET on the connection: the statements still answer (planned again).
	if _, err := conn.ExecContext(c, "SET sql_select_limit = 1"); err != nil {
		t.Fatal(err)
	}
	equal(t, "DISTINCT under sql_select_limit 1", query(distinct, "DISTINCT", 1, 8), []string{"c00"})
	if _, err := conn.ExecContext(c, "SET sql_select_limit = DEFAULT"); err != nil {
		t.Fatal(err)
	}
	equal(t, "DISTINCT after sql_select_limit DEFAULT", query(distinct, "DISTINCT", 8, 9), []string{"c01", "c02"})
	mustExec(t, c, "DROP TABLE pr")
}

// counter is the value of the shared endpoint's counter metric name.
func counter(t *testing.T, name string) int {
	t.Helper()
	code, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", env.base+4))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\d+)$`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("/metrics (%d) has no %s:\n%s", code, name, body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
