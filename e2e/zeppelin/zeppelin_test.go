package zeppelin

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/e2e/clients"
)

// interpreterClasspath returns the repository's root and the directory of the JDBC
// interpreter's jars; it skips t without java or the jars (ci/clients.sh installs them),
// except in CI, where it fails.
func interpreterClasspath(t *testing.T) (repo, lib string) {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := clients.Java(t, repo, "zeppelin", "the classpath of Zeppelin's JDBC interpreter")
	return repo, filepath.Join(dir, "lib")
}

// paragraph is one paragraph's result as ZeppelinJdbcPath prints it.
type paragraph struct {
	status string   // SUCCESS or ERROR
	lines  []string // the interpreter's output
}

// run is one run of ZeppelinJdbcPath.java: the interpreter setting's values and the paragraphs.
type run struct {
	sqlAddr           string
	maxCount, maxRows int    // common.max_count, zeppelin.jdbc.maxRows
	testOnBorrow      bool   // default.testOnBorrow
	onPause           func() // called at each "pause" paragraph, before the program goes on
	paragraphs        []string
}

// runParagraphs runs ZeppelinJdbcPath.java and returns the results of r's paragraphs, less
// the pauses.
func runParagraphs(ctx context.Context, t *testing.T, repo, lib string, r run) []paragraph {
	t.Helper()
	args := append([]string{"-cp", filepath.Join(lib, "*"), filepath.Join(repo, "e2e/clients/zeppelin/ZeppelinJdbcPath.java"),
		r.sqlAddr, password, fmt.Sprint(r.maxCount), fmt.Sprint(r.maxRows), fmt.Sprint(r.testOnBorrow)}, r.paragraphs...)
	cmd := exec.CommandContext(ctx, "java", args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting ZeppelinJdbcPath: %v", err)
	}
	var res []paragraph
	var cur *paragraph
	var all []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		all = append(all, line)
		switch {
		case line == "=== paused":
			r.onPause()
			if _, err := io.WriteString(stdin, "go on\n"); err != nil {
				t.Fatalf("resuming ZeppelinJdbcPath: %v", err)
			}
		case line == "=== end" && cur != nil:
			res = append(res, *cur)
			cur = nil
		case cur == nil && strings.HasPrefix(line, "=== "):
			f := strings.Fields(line)
			cur = &paragraph{status: f[len(f)-1]}
		case cur != nil:
			cur.lines = append(cur.lines, line)
		default:
			t.Errorf("ZeppelinJdbcPath printed %q outside a paragraph", line)
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ZeppelinJdbcPath: %v\n%s\n%s", err, strings.Join(all, "\n"), stderr.Bytes())
	}
	want := 0
	for _, p := range r.paragraphs {
		if p != "pause" {
			want++
		}
	}
	if len(res) != want {
		t.Fatalf("ZeppelinJdbcPath printed %d paragraphs, want %d:\n%s\n%s", len(res), want, strings.Join(all, "\n"), stderr.Bytes())
	}
	return res
}

// TestZeppelinJDBCPath runs a note's %jdbc paragraphs as Zeppelin's JDBC interpreter does
// against `insight-grid local --sql`: a SELECT over rows written by a Redis client in the
// spark-redis layout before and after CREATE TABLE and by SQL, a paragraph of two statements
// (an update count, then a table), the common.max_count truncation, the completer's
// DatabaseMetaData calls, and bad SQL and an unknown table ending as ERROR with the
// endpoint's MySQL error message. Skipped without java or the interpreter's classpath
// (ci/clients.sh installs it), except in CI.
func TestZeppelinJDBCPath(t *testing.T) {
	repo, lib := interpreterClasspath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := sharedStack(t)

	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: s.seeds, Password: password})
	defer rdb.Close()
	db, err := sql.Open("mysql", fmt.Sprintf("insight:%s@tcp(%s)/insight?timeout=10s&readTimeout=60s", password, s.sqlAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A Spark job's rows (spark-redis: key.column id), then the table attached to them, rows
	// inserted by SQL, and a row a Redis client writes afterwards with an age that is no INT.
	if err := rdb.HSet(ctx, "zp_people:1", "name", "ann", "age", "30").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.HSet(ctx, "zp_people:2", "name", "bob\tby", "age", "41").Err(); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE TABLE zp_people (id INT PRIMARY KEY, name VARCHAR(40), age INT)",
		"INSERT INTO zp_people VALUES (3, 'cy', NULL), (4, 'dee', 25)",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := rdb.HSet(ctx, "zp_people:5", "name", "eve", "age", "old").Err(); err != nil {
		t.Fatal(err)
	}

	got := runParagraphs(ctx, t, repo, lib, run{sqlAddr: s.sqlAddr, maxCount: 5, maxRows: 6, testOnBorrow: true, paragraphs: []string{
		"SELECT id, name, age AS years FROM zp_people ORDER BY id",
		"INSERT INTO zp_people (id, name, age) VALUES (6, 'fay', 52);\nSELECT count(*) AS n, max(age) AS oldest FROM zp_people -- the ages that convert",
		"SELECT id FROM zp_people ORDER BY id",
		"complete insight zp_people",
		"SELEC id FROM zp_people",
		"SELECT * FROM zp_nowhere",
	}})
	want := []paragraph{
		{"SUCCESS", []string{"%table id\tname\tyears", "1\tann\t30", "2\tbob by\t41", "3\tcy\tnull", "4\tdee\t25", "5\teve\tnull"}},
		{"SUCCESS", []string{"%text Query executed successfully. Affected rows : 1", "%table n\toldest", "6\t52"}},
		{"SUCCESS", []string{"%table id", "1", "2", "3", "4", "5", "truncated to 5 rows (common.max_count)"}},
	}
	for i, w := range want {
		if got[i].status != w.status || strings.Join(got[i].lines, "\n") != strings.Join(w.lines, "\n") {
			t.Errorf("paragraph %d: %s %q\nwant %s %q", i+1, got[i].status, got[i].lines, w.status, w.lines)
		}
	}
	complete := map[string]string{}
	for _, line := range got[3].lines {
		k, v, _ := strings.Cut(line, " ")
		complete[k] = v
	}
	if got[3].status != "SUCCESS" || complete["driver"] != "MariaDB Connector/J" || complete["tables"] != "zp_people" ||
		complete["columns"] != "age,id,name" || !strings.Contains(","+complete["catalogs"]+",", ",insight,") {
		t.Errorf("the completer's metadata: %s %q", got[3].status, got[3].lines)
	}
	for i, wantMsg := range map[int]string{4: "syntax error at position 6 near 'SELEC'", 5: "table not found: zp_nowhere"} {
		if p := got[i]; p.status != "ERROR" || len(p.lines) != 1 || !strings.Contains(p.lines[0], wantMsg) {
			t.Errorf("paragraph %d: %s %q, want ERROR with %q", i+1, p.status, p.lines, wantMsg)
		}
	}
	// The row the paragraph inserted is the hash a Redis client reads.
	if h, err := rdb.HGetAll(ctx, "zp_people:6").Result(); err != nil || h["name"] != "fay" || h["age"] != "52" {
		t.Errorf("HGETALL zp_people:6 after the paragraph's INSERT: %v, %v", h, err)
	}
}

// TestZeppelinJDBCPathEndpointRestart kills the SQL endpoint a note's connection pool holds
// a connection to and starts it again between two paragraphs: with default.testOnBorrow=true
// the pool's validation query (show databases) finds the dead connection and the next
// paragraph runs on a new one; with Zeppelin's default (false) that paragraph ends as ERROR
// on the dead connection, which the pool then drops, and the one after it succeeds.
func TestZeppelinJDBCPathEndpointRestart(t *testing.T) {
	repo, lib := interpreterClasspath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := sharedStack(t)
	db, err := sql.Open("mysql", fmt.Sprintf("insight:%s@tcp(%s)/insight?timeout=10s", password, s.sqlAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE TABLE zr_items (id INT PRIMARY KEY, name VARCHAR(10))"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO zr_items VALUES (1, 'one')"); err != nil {
		t.Fatal(err)
	}
	addr, kill := startSQL(t, s)
	restart := func() {
		kill()
		addr2, kill2 := startSQL(t, s)
		if addr2 != addr {
			t.Fatalf("the SQL endpoint came back on %s, not %s", addr2, addr)
		}
		kill = kill2
	}
	const q = "SELECT id, name FROM zr_items"
	table := []string{"%table id\tname", "1\tone"}

	got := runParagraphs(ctx, t, repo, lib, run{sqlAddr: addr, maxCount: 10, maxRows: 10, testOnBorrow: true, onPause: restart,
		paragraphs: []string{q, "pause", q}})
	for i, p := range got {
		if p.status != "SUCCESS" || strings.Join(p.lines, "\n") != strings.Join(table, "\n") {
			t.Errorf("testOnBorrow=true, paragraph %d: %s %q, want SUCCESS %q", i+1, p.status, p.lines, table)
		}
	}

	got = runParagraphs(ctx, t, repo, lib, run{sqlAddr: addr, maxCount: 10, maxRows: 10, testOnBorrow: false, onPause: restart,
		paragraphs: []string{q, "pause", q, q}})
	if got[0].status != "SUCCESS" || got[1].status != "ERROR" || got[2].status != "SUCCESS" {
		t.Errorf("testOnBorrow=false: %+v, want SUCCESS, ERROR on the dead connection, SUCCESS", got)
	}
	t.Logf("testOnBorrow=false, the paragraph on the dead connection: %q", got[1].lines)
}
