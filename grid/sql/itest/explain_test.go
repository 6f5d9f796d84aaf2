package itest

import (
	"database/sql"
	"os/exec"
	"strings"
	"testing"
)

// explainRow is one row of EXPLAIN, every column nullable as in MySQL.
type explainRow struct {
	id                                                     int64
	selectType                                             string
	table, partitions, typ, possibleKeys, key, keyLen, ref sql.NullString
	rows                                                   sql.NullInt64
	filtered                                               sql.NullFloat64
	extra                                                  sql.NullString
}

// query runs query, as a prepared statement (the binary protocol) when prepared.
func query(t *testing.T, query string, prepared bool) (*sql.Rows, error) {
	t.Helper()
	if !prepared {
		return env.db.QueryContext(ctx(t), query)
	}
	st, err := env.db.PrepareContext(ctx(t), query)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { st.Close() })
	return st.QueryContext(ctx(t))
}

// explain runs an EXPLAIN and scans its rows.
func explain(t *testing.T, q string, prepared bool) ([]explainRow, error) {
	t.Helper()
	rs, err := query(t, q, prepared)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []explainRow
	for rs.Next() {
		var r explainRow
		if err := rs.Scan(&r.id, &r.selectType, &r.table, &r.partitions, &r.typ, &r.possibleKeys, &r.key, &r.keyLen, &r.ref,
			&r.rows, &r.filtered, &r.extra); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// TestExplainTypedColumns checks EXPLAIN's row as MySQL types it: BIGINT UNSIGNED rows
// and DOUBLE filtered are NULL (or numbers), not the text "NULL" a client reading numbers
// fails on; in the text and the binary (prepared) protocol.
func TestExplainTypedColumns(t *testing.T) {
	mustExec(t, ctx(t), "CREATE TABLE IF NOT EXISTS ex_t (id INT PRIMARY KEY, v VARCHAR(10))", "REPLACE INTO ex_t VALUES (1, 'a'), (2, 'b')")
	for _, tt := range []struct {
		query    string
		prepared bool
	}{
		{"EXPLAIN SELECT * FROM ex_t WHERE id = 1", false},
		{"EXPLAIN SELECT * FROM ex_t", false},
		{"EXPLAIN SELECT * FROM ex_t WHERE id = 1", true},
	} {
		rows, err := explain(t, tt.query, tt.prepared)
		if err != nil || len(rows) != 1 {
			t.Errorf("%s %v: %+v, %v; want one row", tt.query, tt.prepared, rows, err)
			continue
		}
		r := rows[0]
		if r.id != 1 || r.selectType != "SELECT" || r.rows.Valid || r.filtered.Valid || r.table.Valid || r.key.Valid {
			t.Errorf("%s %v: %+v; want id 1, SELECT, NULL table, key, rows and filtered", tt.query, tt.prepared, r)
		}
	}
}

// TestExplainPlanOfOneRowLookup checks EXPLAIN PLAN of a SELECT by its primary key (a
// statement of at most one row, whose plan has several lines): the plan's lines, in the
// text and binary protocol and through the mariadb client.
func TestExplainPlanOfOneRowLookup(t *testing.T) {
	mustExec(t, ctx(t), "CREATE TABLE IF NOT EXISTS ex_p (id INT PRIMARY KEY, v VARCHAR(10))", "REPLACE INTO ex_p VALUES (1, 'a'), (2, 'b')")
	for _, tt := range []struct {
		query    string
		prepared bool
	}{
		{"EXPLAIN PLAN SELECT * FROM ex_p WHERE id = 1", false},
		{"explain plan select v from ex_p where id = 2;", false},
		{"/* plan */ EXPLAIN PLAN SELECT * FROM ex_p WHERE id = 1", true},
		{"EXPLAIN FORMAT=TREE SELECT * FROM ex_p WHERE id = 1", false},
	} {
		rs, err := query(t, tt.query, tt.prepared)
		if err != nil {
			t.Errorf("%s %v: %v", tt.query, tt.prepared, err)
			continue
		}
		var lines []string
		for rs.Next() {
			var l string
			if err := rs.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		if err := rs.Err(); err != nil {
			t.Errorf("%s %v: %v", tt.query, tt.prepared, err)
		}
		rs.Close()
		plan := strings.Join(lines, "\n")
		if len(lines) < 2 || !strings.Contains(plan, "ex_p") || !strings.Contains(plan, "IndexedTableAccess") {
			t.Errorf("%s %v: plan\n%s\nwant several lines naming ex_p and its IndexedTableAccess", tt.query, tt.prepared, plan)
		}
	}
	if _, err := env.db.ExecContext(ctx(t), "EXPLAIN PLAN SELECT * FROM no_such_table WHERE id = 1"); mysqlCode(err) != 1146 {
		t.Errorf("EXPLAIN PLAN of an unknown table: %v, want error 1146", err)
	}

	bin, err := exec.LookPath("mariadb")
	if err != nil {
		t.Skip("the mariadb client is not installed (ci/tools.sh installs mariadb-client)")
	}
	out, err := mariadb(t, bin, password, "EXPLAIN PLAN SELECT * FROM ex_p WHERE id = 1; EXPLAIN SELECT * FROM ex_p WHERE id = 1")
	if err != nil || !strings.Contains(out, "IndexedTableAccess(ex_p)") || !strings.Contains(out, "1\tSELECT\tNULL") {
		t.Errorf("mariadb: %v\n%s", err, out)
	}
}

// TestExplainWarnings checks that an EXPLAIN's warnings are its own: none left from the
// statement before, and go-mysql-server's note that its EXPLAIN row is a placeholder.
func TestExplainWarnings(t *testing.T) {
	c := ctx(t)
	mustExec(t, c, "CREATE TABLE IF NOT EXISTS ex_w (id INT PRIMARY KEY, n INT)")
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tt := range []struct {
		explain string
		want    int
	}{
		{"EXPLAIN PLAN SELECT * FROM ex_w WHERE id = 1", 0},
		{"EXPLAIN SELECT * FROM ex_w WHERE id = 1", 1},
	} {
		// CREATE INDEX is accepted with warning 1105: there are no secondary indexes.
		if _, err := conn.ExecContext(c, "CREATE INDEX ex_w_n ON ex_w (n)"); err != nil {
			t.Fatal(err)
		}
		if w := warnings(t, conn); len(w) == 0 {
			t.Fatalf("CREATE INDEX left no warning")
		}
		rs, err := conn.QueryContext(c, tt.explain)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
		}
		rs.Close()
		if w := warnings(t, conn); len(w) != tt.want || tt.want == 1 && !strings.Contains(w[0], "placeholder") {
			t.Errorf("warnings after %s: %v, want %d (the placeholder note)", tt.explain, w, tt.want)
		}
	}
}
