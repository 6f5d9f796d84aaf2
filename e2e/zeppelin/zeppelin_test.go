package zeppelin

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// clientsDir is where ci/clients.sh installed the classpath of Zeppelin's JDBC interpreter
// (MariaDB Connector/J, commons-dbcp2), or "".
func clientsDir(repo string) (string, error) {
	out, err := exec.Command("bash", filepath.Join(repo, "ci/clients.sh"), "--dirs").Output()
	if err != nil {
		return "", fmt.Errorf("ci/clients.sh --dirs: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if dir, ok := strings.CutPrefix(sc.Text(), "zeppelin="); ok && !strings.HasSuffix(dir, "(missing)") {
			return dir, nil
		}
	}
	return "", sc.Err()
}

// paragraph is one paragraph's result as ZeppelinJdbcPath prints it.
type paragraph struct {
	status string   // SUCCESS or ERROR
	lines  []string // the interpreter's output
}

// runParagraphs runs ZeppelinJdbcPath.java with the paragraphs and returns their results.
func runParagraphs(ctx context.Context, t *testing.T, repo, lib, sqlAddr string, maxCount, maxRows int, paragraphs ...string) []paragraph {
	t.Helper()
	args := append([]string{"-cp", filepath.Join(lib, "*"), filepath.Join(repo, "e2e/clients/zeppelin/ZeppelinJdbcPath.java"),
		sqlAddr, password, fmt.Sprint(maxCount), fmt.Sprint(maxRows)}, paragraphs...)
	cmd := exec.CommandContext(ctx, "java", args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ZeppelinJdbcPath: %v\n%s%s", err, out, stderr.Bytes())
	}
	var res []paragraph
	var cur *paragraph
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		switch {
		case line == "=== end":
			res = append(res, *cur)
			cur = nil
		case cur == nil && strings.HasPrefix(line, "=== "):
			f := strings.Fields(line)
			cur = &paragraph{status: f[len(f)-1]}
		case cur != nil:
			cur.lines = append(cur.lines, line)
		default:
			t.Fatalf("ZeppelinJdbcPath printed %q outside a paragraph:\n%s", line, out)
		}
	}
	if len(res) != len(paragraphs) {
		t.Fatalf("ZeppelinJdbcPath printed %d paragraphs, want %d:\n%s%s", len(res), len(paragraphs), out, stderr.Bytes())
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
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	skip := t.Skipf
	if os.Getenv("CI") == "true" {
		skip = t.Fatalf
	}
	if _, err := exec.LookPath("java"); err != nil {
		skip("java is not installed")
	}
	lib, err := clientsDir(repo)
	if err != nil {
		t.Fatal(err)
	}
	if lib == "" {
		skip("the classpath of Zeppelin's JDBC interpreter is not installed; run ci/clients.sh")
	}
	lib = filepath.Join(lib, "lib")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := startStack(t)

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

	const maxCount, maxRows = 5, 6
	got := runParagraphs(ctx, t, repo, lib, s.sqlAddr, maxCount, maxRows,
		"SELECT id, name, age AS years FROM zp_people ORDER BY id",
		"INSERT INTO zp_people (id, name, age) VALUES (6, 'fay', 52);\nSELECT count(*) AS n, max(age) AS oldest FROM zp_people -- the ages that convert",
		"SELECT id FROM zp_people ORDER BY id",
		"complete insight zp_people",
		"SELEC id FROM zp_people",
		"SELECT * FROM zp_nowhere",
	)
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
