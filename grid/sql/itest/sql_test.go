package itest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/internal/ports"
)

// TestStatements runs the statements of the issue against tables over the grid:
// CREATE TABLE, a multi-row INSERT, SELECT with WHERE, JOIN, GROUP BY, ORDER BY, LIMIT
// and a subquery, UPDATE, DELETE, REPLACE, SHOW and DESCRIBE.
func TestStatements(t *testing.T) {
	c := ctx(t)
	mustExec(t, c,
		"CREATE TABLE st_people (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, age INT, city VARCHAR(20) DEFAULT 'Paris')",
		"CREATE TABLE st_orders (oid BIGINT PRIMARY KEY, pid INT, amount DECIMAL(10,2))",
		"INSERT INTO st_people VALUES (1,'ann',30,'Oslo'),(2,'bob',40,NULL),(3,'cy',NULL,'Rome'),(4,'dee',25,'Oslo')",
		"INSERT INTO st_people (id, name) VALUES (5,'eve')",
		"INSERT INTO st_orders VALUES (10,1,5.50),(11,1,4.50),(12,2,1.25),(13,4,7.00)",
	)
	equal(t, "WHERE, ORDER BY", rows(t, c, "SELECT id, name, age, city FROM st_people WHERE age >= 25 ORDER BY age DESC"),
		[]string{"2|bob|40|NULL", "1|ann|30|Oslo", "4|dee|25|Oslo"})
	equal(t, "the default", rows(t, c, "SELECT city FROM st_people WHERE id = 5"), []string{"Paris"})
	equal(t, "JOIN, GROUP BY, ORDER BY, LIMIT",
		rows(t, c, "SELECT p.name, count(*), CAST(sum(o.amount) AS DECIMAL(10,2)) FROM st_people p JOIN st_orders o ON o.pid = p.id GROUP BY p.name ORDER BY sum(o.amount) DESC LIMIT 2"),
		[]string{"ann|2|10.00", "dee|1|7.00"})
	equal(t, "subquery", rows(t, c, "SELECT name FROM st_people WHERE id IN (SELECT pid FROM st_orders WHERE amount > 5) ORDER BY name"),
		[]string{"ann", "dee"})
	equal(t, "GROUP BY with NULL", rows(t, c, "SELECT city, count(*) FROM st_people GROUP BY city ORDER BY city"),
		[]string{"NULL|1", "Oslo|2", "Paris|1", "Rome|1"})

	res, err := env.db.ExecContext(c, "UPDATE st_people SET age = age + 1, city = NULL WHERE city = 'Oslo'")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 2 {
		t.Errorf("UPDATE affected %d rows, want 2", n)
	}
	mustExec(t, c, "DELETE FROM st_people WHERE id = 3", "REPLACE INTO st_people VALUES (2,'bobby',41,'Nice'), (6,'fay',50,'Lima')")
	equal(t, "after UPDATE, DELETE, REPLACE", rows(t, c, "SELECT * FROM st_people ORDER BY id"),
		[]string{"1|ann|31|NULL", "2|bobby|41|Nice", "4|dee|26|NULL", "5|eve|NULL|Paris", "6|fay|50|Lima"})
	equal(t, "UPDATE of the primary key", func() []string {
		mustExec(t, c, "UPDATE st_people SET id = id + 100 WHERE id >= 5")
		return rows(t, c, "SELECT id FROM st_people ORDER BY id")
	}(), []string{"1", "2", "4", "105", "106"})

	equal(t, "SHOW TABLES", rows(t, c, "SHOW TABLES LIKE 'st\\_%'"), []string{"st_orders", "st_people"})
	equal(t, "DESCRIBE", rows(t, c, "DESCRIBE st_people"), []string{
		"id|int|NO|PRI|NULL|", "name|varchar(40)|NO||NULL|", "age|int|YES||NULL|", "city|varchar(20)|YES||'Paris'|"})
	if got := rows(t, c, "SHOW CREATE TABLE st_orders"); len(got) != 1 || !strings.Contains(got[0], "PRIMARY KEY (`oid`)") {
		t.Errorf("SHOW CREATE TABLE: %q", got)
	}
	equal(t, "information_schema.columns", rows(t, c,
		"SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'insight' AND table_name = 'st_orders' ORDER BY ordinal_position"),
		[]string{"oid|bigint", "pid|int", "amount|decimal"})
	mustExec(t, c, "DROP TABLE st_orders")
	if _, err := env.db.ExecContext(c, "SELECT * FROM st_orders"); mysqlCode(err) != 1146 {
		t.Errorf("SELECT from a dropped table: %v, want error 1146", err)
	}
	if n, err := env.rdb.Exists(c, "st_orders:10").Result(); err != nil || n != 0 {
		t.Errorf("DROP TABLE left the row st_orders:10 (exists %d, %v)", n, err)
	}
	mustExec(t, c, "TRUNCATE TABLE st_people")
	equal(t, "after TRUNCATE", rows(t, c, "SELECT count(*) FROM st_people"), []string{"0"})

	nodb, err := sql.Open("mysql", fmt.Sprintf("insight:%s@tcp(%s)/", password, env.sqlAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer nodb.Close()
	var db string
	var n int
	if err := nodb.QueryRowContext(c, "SELECT DATABASE(), count(*) FROM st_people").Scan(&db, &n); err != nil || db != "insight" {
		t.Errorf("a client naming no database: %q, %v; want insight", db, err)
	}
}

// TestSysbenchStatements runs what sysbench's prepare and oltp_read_only send:
// AUTO_INCREMENT, ENGINE=InnoDB, CREATE INDEX (accepted with a warning), BEGIN/COMMIT,
// BETWEEN ranges.
func TestSysbenchStatements(t *testing.T) {
	c := ctx(t)
	mustExec(t, c,
		"CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */",
		"INSERT INTO sbtest1(k, c, pad) VALUES(5, 'c1', 'p1'),(7, 'c2', 'p2'),(5, 'c3', 'p3')",
	)
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(c, "CREATE INDEX k_1 ON sbtest1(k)"); err != nil {
		t.Fatal(err)
	}
	if w := warnings(t, conn); len(w) != 1 || !strings.Contains(w[0], "1105|index k_1 on sbtest1(k) accepted and ignored") {
		t.Errorf("CREATE INDEX warnings: %q", w)
	}
	for _, s := range []string{"BEGIN", "SELECT c FROM sbtest1 WHERE id=2", "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 3",
		"SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 3 ORDER BY c", "COMMIT"} {
		if _, err := conn.ExecContext(c, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	equal(t, "AUTO_INCREMENT ids", rows(t, c, "SELECT id, k, c FROM sbtest1 ORDER BY id"), []string{"1|5|c1", "2|7|c2", "3|5|c3"})
	equal(t, "BETWEEN", rows(t, c, "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 2 AND 3"), []string{"12"})
	mustExec(t, c, "INSERT INTO sbtest1(id, k) VALUES (10, 1)", "INSERT INTO sbtest1(k) VALUES (2)")
	equal(t, "AUTO_INCREMENT after an explicit id", rows(t, c, "SELECT id FROM sbtest1 WHERE k = 2"), []string{"11"})
}

// warnings are SHOW WARNINGS on conn, "level|code|message".
func warnings(t *testing.T, conn *sql.Conn) []string {
	t.Helper()
	rs, err := conn.QueryContext(ctx(t), "SHOW WARNINGS")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	return scanAll(t, "SHOW WARNINGS", rs)
}

// TestPreparedStatements uses the binary protocol (server-side prepared statements, as
// JDBC drivers do) for writes and reads.
func TestPreparedStatements(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE ps_items (id VARCHAR(20) PRIMARY KEY, qty INT, price DOUBLE, at DATETIME)")
	ins, err := env.db.PrepareContext(c, "INSERT INTO ps_items VALUES (?, ?, ?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for i, id := range []string{"a", "b", "c"} {
		if _, err := ins.ExecContext(c, id, i+1, float64(i)+0.5, at); err != nil {
			t.Fatalf("prepared INSERT %s: %v", id, err)
		}
	}
	sel, err := env.db.PrepareContext(c, "SELECT id, qty, price, at FROM ps_items WHERE id = ? OR qty > ? ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	rs, err := sel.QueryContext(c, "a", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	equal(t, "prepared SELECT", scanAll(t, "prepared SELECT", rs),
		[]string{"a|1|0.5|2026-03-04 05:06:07", "c|3|2.5|2026-03-04 05:06:07"})
	if _, err := ins.ExecContext(c, "a", 9, 1.0, at); mysqlCode(err) != 1062 {
		t.Errorf("prepared INSERT of an existing key: %v, want error 1062", err)
	}
}

// TestRowsSharedWithRedis checks the layout: a hash written by a Redis client is a row,
// and a row inserted by SQL is the hash <table>:<key> with one field per non-key
// column (the key column is the name's suffix, NULL columns are absent).
func TestRowsSharedWithRedis(t *testing.T) {
	c := ctx(t)
	if err := env.rdb.HSet(c, "rs_person:7", "name", "John", "age", "30", "salary", "150.5").Err(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "CREATE TABLE rs_person (id INT PRIMARY KEY, name VARCHAR(40), age INT, salary DOUBLE)")
	equal(t, "a Redis client's hash", rows(t, c, "SELECT * FROM rs_person"), []string{"7|John|30|150.5"})
	mustExec(t, c, "INSERT INTO rs_person VALUES (8, 'Peter', 45, NULL)", "INSERT INTO rs_person (id) VALUES (9)")
	got, err := env.rdb.HGetAll(c, "rs_person:8").Result()
	if err != nil || len(got) != 2 || got["name"] != "Peter" || got["age"] != "45" {
		t.Errorf("HGETALL rs_person:8 = %v, %v; want name Peter, age 45 and nothing else", got, err)
	}
	equal(t, "a row of NULLs", rows(t, c, "SELECT * FROM rs_person WHERE id = 9"), []string{"9|NULL|NULL|NULL"})
	mustExec(t, c, "UPDATE rs_person SET name = 'Ida' WHERE id = 9")
	if got, err := env.rdb.HGetAll(c, "rs_person:9").Result(); err != nil || len(got) != 1 || got["name"] != "Ida" {
		t.Errorf("HGETALL rs_person:9 after UPDATE = %v, %v; want name Ida alone", got, err)
	}
	// A field the table does not declare stays through an UPDATE.
	if err := env.rdb.HSet(c, "rs_person:7", "nick", "Jo").Err(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "UPDATE rs_person SET age = 31 WHERE id = 7")
	if nick, err := env.rdb.HGet(c, "rs_person:7", "nick").Result(); err != nil || nick != "Jo" {
		t.Errorf("the undeclared field nick after UPDATE: %q, %v", nick, err)
	}
	// Another type under the table's prefix is no row.
	if err := env.rdb.Set(c, "rs_person:100", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	equal(t, "ids", rows(t, c, "SELECT id FROM rs_person ORDER BY id"), []string{"7", "8", "9"})
	equal(t, "lookup of a string key", rows(t, c, "SELECT id FROM rs_person WHERE id = 100"), nil)
}

// TestBadValueIsNullWithWarning checks that a field that does not convert to its
// column's type reads as NULL with warning 1366, the other rows and columns intact.
func TestBadValueIsNullWithWarning(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE bv (id INT PRIMARY KEY, n INT, d DATE, s VARCHAR(10))",
		"INSERT INTO bv VALUES (1, 10, '2026-01-02', 'ok')")
	if err := env.rdb.HSet(c, "bv:2", "n", "ten", "d", "2026-13-45", "s", "fine").Err(); err != nil {
		t.Fatal(err)
	}
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rs, err := conn.QueryContext(c, "SELECT * FROM bv ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, "SELECT", rs)
	rs.Close()
	equal(t, "rows", got, []string{"1|10|2026-01-02|ok", "2|NULL|NULL|fine"})
	w := warnings(t, conn)
	sort.Strings(w)
	if len(w) != 2 || !strings.HasPrefix(w[1], "Warning|1366|Incorrect integer value: 'ten' for column 'n' in row bv:2") ||
		!strings.HasPrefix(w[0], "Warning|1366|Incorrect date value: '2026-13-45' for column 'd' in row bv:2") {
		t.Errorf("SHOW WARNINGS: %q", w)
	}
}

// scans is the number of SCAN commands the grid's primaries have run (INFO
// commandstats).
func scans(t *testing.T) int {
	t.Helper()
	c := ctx(t)
	total := 0
	var mu sync.Mutex
	re := regexp.MustCompile(`cmdstat_scan:calls=(\d+)`)
	err := env.rdb.ForEachMaster(c, func(c2 context.Context, cl *redis.Client) error {
		info, err := cl.Info(c2, "commandstats").Result()
		if err != nil {
			return err
		}
		if m := re.FindStringSubmatch(info); m != nil {
			n, _ := strconv.Atoi(m[1])
			mu.Lock()
			total += n
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// TestPrimaryKeyPushdown checks that primary-key equality, IN and short integer ranges
// read the keys (no SCAN on any primary) while another filter scans.
func TestPrimaryKeyPushdown(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE pd (id INT PRIMARY KEY, v VARCHAR(10))",
		"INSERT INTO pd VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d')")
	before := scans(t)
	equal(t, "=", rows(t, c, "SELECT v FROM pd WHERE id = 2"), []string{"b"})
	equal(t, "IN", rows(t, c, "SELECT v FROM pd WHERE id IN (1, 4, 9) ORDER BY v"), []string{"a", "d"})
	equal(t, "BETWEEN", rows(t, c, "SELECT v FROM pd WHERE id BETWEEN 2 AND 3 ORDER BY v"), []string{"b", "c"})
	equal(t, "prepared =", func() []string {
		rs, err := env.db.QueryContext(c, "SELECT v FROM pd WHERE id = ?", 3)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		return scanAll(t, "prepared", rs)
	}(), []string{"c"})
	if after := scans(t); after != before {
		t.Errorf("primary-key lookups ran %d SCANs, want none", after-before)
	}
	equal(t, "a scan", rows(t, c, "SELECT id FROM pd WHERE v = 'c'"), []string{"3"})
	if after := scans(t); after < before+3 {
		t.Errorf("a filter on a non-key column ran %d SCANs, want one per primary at least", after-before)
	}
}

// mysqlCode is err's MySQL error number, or 0.
func mysqlCode(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// TestErrors checks MySQL's error codes: bad SQL, unknown table and column, a value of
// the wrong type, a duplicate key, a wrong password, a bad primary key; and that no
// statement reads or writes the endpoint's files.
func TestErrors(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE er (id INT PRIMARY KEY, n INT)", "INSERT INTO er VALUES (1, 1)")
	for _, tc := range []struct {
		stmt string
		code uint16
	}{
		{"SELEC 1", 1064},
		{"SELECT * FROM er WHERE", 1064},
		{"SELECT * FROM no_such_table", 1146},
		{"SELECT nope FROM er", 1054},
		{"INSERT INTO er VALUES (2, 'two')", 1366},
		{"INSERT INTO er VALUES (1, 5)", 1062},
		{"CREATE TABLE er (id INT PRIMARY KEY)", 1050},
	} {
		_, err := env.db.ExecContext(c, tc.stmt)
		if got := mysqlCode(err); got != tc.code {
			t.Errorf("%s: %v, want error %d", tc.stmt, err, tc.code)
		}
	}
	for _, stmt := range []string{
		"CREATE TABLE bad1 (a INT, b INT, PRIMARY KEY (a, b))",
		"CREATE TABLE bad2 (a INT)",
		"CREATE TABLE `bad:3` (a INT PRIMARY KEY)",
	} {
		if _, err := env.db.ExecContext(c, stmt); err == nil || !strings.Contains(err.Error(), "table") {
			t.Errorf("%s: %v, want an error naming the table's problem", stmt, err)
		}
	}
	equal(t, "LOAD_FILE of the endpoint's files", rows(t, c, "SELECT LOAD_FILE('/etc/hostname') IS NULL"), []string{"1"})
	out := filepath.Join(t.TempDir(), "out.txt")
	if _, err := env.db.ExecContext(c, "SELECT 1 INTO OUTFILE '"+out+"'"); err == nil {
		t.Errorf("SELECT ... INTO OUTFILE %s succeeded, want an error (secure_file_priv)", out)
	}
	bad, err := sql.Open("mysql", dsn(env.sqlAddr, "wrong"))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.PingContext(c); mysqlCode(err) != 1045 {
		t.Errorf("wrong password: %v, want error 1045", err)
	}
}

// sqlEndpoint starts another insight-sql serve on the grid with extra flags, stopped
// when t ends, and waits until its /readyz answers 200; it returns its MySQL and HTTP
// addresses.
func sqlEndpoint(t *testing.T, extra ...string) (string, string) {
	t.Helper()
	return startSQL(t, "/readyz", extra...)
}

// startSQL starts insight-sql serve on the grid (the last --grid in extra wins) and waits
// until its HTTP path answers 200.
func startSQL(t *testing.T, path string, extra ...string) (string, string) {
	t.Helper()
	base, err := ports.FreeBase("127.0.0.1", []int{0, 1}, 65000)
	if err != nil {
		t.Fatal(err)
	}
	addr, httpAddr := fmt.Sprintf("127.0.0.1:%d", base), fmt.Sprintf("127.0.0.1:%d", base+1)
	args := append([]string{"serve", "--listen", addr, "--http-listen", httpAddr, "--grid", strings.Join(env.seeds, ",")}, extra...)
	cmd := exec.Command(filepath.Join(env.dir, "insight-sql"), args...)
	cmd.Env = []string{"INSIGHT_REQUIREPASS=" + password}
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("insight-sql log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get(t, "http://"+httpAddr+path); code == http.StatusOK {
			return addr, httpAddr
		}
		select {
		case <-exited:
			t.Fatalf("insight-sql exited: %s", log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("insight-sql not ready after 30s: %s", log.String())
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestResultCapsAndEndpoints checks --max-result-rows (error 1104 past it, the rows up
// to it fine), the health endpoints and the metrics of a second endpoint.
func TestResultCapsAndEndpoints(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE cap (id INT PRIMARY KEY)", "INSERT INTO cap VALUES (1),(2),(3),(4),(5),(6)")
	addr, httpAddr := sqlEndpoint(t, "--max-result-rows", "5")
	db, err := sql.Open("mysql", dsn(addr, password))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.QueryContext(c, "SELECT id FROM cap")
	if err == nil {
		for rs.Next() {
		}
		err = rs.Err()
		rs.Close()
	}
	if mysqlCode(err) != 1104 || !strings.Contains(err.Error(), "--max-result-rows") {
		t.Errorf("6 rows past --max-result-rows 5: %v, want error 1104 naming the flag", err)
	}
	var n int
	if err := db.QueryRowContext(c, "SELECT count(*) FROM cap").Scan(&n); err != nil || n != 6 {
		t.Errorf("count(*) under the cap: %d, %v", n, err)
	}
	if code, body := get(t, "http://"+httpAddr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	code, body := get(t, "http://"+httpAddr+"/metrics")
	for _, want := range []string{`insight_sql_queries_total{result="1104"} 1`, `insight_sql_queries_total{result="ok"}`,
		"insight_sql_query_duration_seconds_bucket", "insight_sql_rows_returned_total"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q:\n%s", code, want, body)
		}
	}
}

// TestReadyzWithoutGrid checks the probes of an endpoint whose grid does not answer:
// alive (/healthz 200), not ready (/readyz 503 with the reason).
func TestReadyzWithoutGrid(t *testing.T) {
	base, err := ports.FreeBase("127.0.0.1", []int{0}, 65000)
	if err != nil {
		t.Fatal(err)
	}
	_, httpAddr := startSQL(t, "/healthz", "--grid", fmt.Sprintf("127.0.0.1:%d", base))
	code, body := get(t, "http://"+httpAddr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not ready: the grid does not answer CLUSTER SLOTS") {
		t.Errorf("/readyz without a grid: %d %q, want 503 and the reason", code, body)
	}
}

// TestMaxExecutionTime checks that the session's max_execution_time stops a SELECT that
// runs past it with error 3024.
func TestMaxExecutionTime(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE slow (id INT PRIMARY KEY)")
	var vals []string
	for i := range 200 {
		vals = append(vals, fmt.Sprintf("(%d)", i))
	}
	mustExec(t, c, "INSERT INTO slow VALUES "+strings.Join(vals, ","))
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(c, "SET max_execution_time = 1"); err != nil {
		t.Fatal(err)
	}
	// 200^3 = 8 million joined rows: far past 1ms.
	_, err = conn.ExecContext(c, "SELECT count(*) FROM slow a, slow b, slow c WHERE a.id + b.id + c.id > 0")
	if mysqlCode(err) != 3024 {
		t.Errorf("a SELECT past max_execution_time: %v, want error 3024", err)
	}
	if _, err := conn.ExecContext(c, "SET max_execution_time = 0"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(c, "SELECT count(*) FROM slow").Scan(&n); err != nil || n != 200 {
		t.Errorf("after resetting max_execution_time: %d, %v", n, err)
	}
}
