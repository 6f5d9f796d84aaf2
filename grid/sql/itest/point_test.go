package itest

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// pointColumns are the columns of the table TestPreparedPointReads reads: one of each
// type family, with the text of a value each holds in row 1 and one that does not convert
// in row 3 (each NULL and a warning).
var pointColumns = []struct{ name, typ, good, bad string }{
	{"ti", "TINYINT", "-7", "300"},
	{"si", "SMALLINT UNSIGNED", "65000", "-1"},
	{"i", "INT NOT NULL", "123456", "twelve"},
	{"bi", "BIGINT", "-9007199254740993", "1.5"},
	{"ub", "BIGINT UNSIGNED", "18446744073709551615", "x"},
	{"f", "FLOAT", "1.5", "big"},
	{"d", "DOUBLE", "2.25e-7", "--1"},
	{"dc", "DECIMAL(10,2)", "12345.60", "12,5"},
	{"ch", "CHAR(4)", "abcd", ""},
	{"vc", "VARCHAR(20)", "héllo wörld", ""},
	{"tx", "TEXT", "a long text", ""},
	{"vb", "VARBINARY(8)", "\x00\x01bin", ""},
	{"bl", "BLOB", "blob\xffdata", ""},
	{"dt", "DATE", "2026-12-07", "2026-13-45"},
	{"dtm", "DATETIME", "2026-12-07 10:11:12", "yesterday"},
	{"dtm3", "DATETIME(3)", "2026-12-07 10:11:12.345", "noon"},
	{"ts", "TIMESTAMP", "2026-12-07 10:11:12", "later"},
	{"tm", "TIME", "10:11:12", "ten past"},
	{"yr", "YEAR", "2026", "year"},
	{"en", "ENUM('red','green')", "green", "blue"},
	{"bo", "BOOLEAN", "1", "maybe"},
}

// TestPreparedPointReads checks the endpoint's fast path for prepared point selects
// (`SELECT <columns> FROM <table> WHERE <pk> = ?` answered by one HMGET, without the
// engine) against the engine: each statement runs prepared afresh for every parameter
// (planned and run by the engine) and on a statement prepared once and already
// executed (the fast path), and the two must give the same column definitions, rows
// and warnings — every column type, present and absent keys, a row whose fields are all
// absent, values that do not convert, a key of another type than a hash, keys out of the
// key column's range and parameters of other types (which the engine converts) — then a
// statement run in another database, a dropped table and a table made again with other
// columns.
func TestPreparedPointReads(t *testing.T) {
	c := ctx(t)
	defs := []string{"id INT PRIMARY KEY"}
	names := []string{"id"}
	var good, bad []any
	for _, col := range pointColumns {
		defs = append(defs, col.name+" "+col.typ)
		names = append(names, col.name)
		good = append(good, col.name, col.good)
		if col.bad != "" {
			bad = append(bad, col.name, col.bad)
		}
	}
	mustExec(t, c, "CREATE TABLE fp ("+strings.Join(defs, ", ")+")")
	for key, fields := range map[string][]any{"fp:1": good, "fp:2": {"", ""}, "fp:3": bad, "fp:-5": good[:4]} {
		if err := env.rdb.HSet(c, key, fields...).Err(); err != nil {
			t.Fatalf("HSET %s: %v", key, err)
		}
	}
	if err := env.rdb.Set(c, "fp:6", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	conn, err := env.db.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The engine's answers come from connections of their own, one per execution: a
	// connection keeps its statements' plans by their text.
	fresh, err := sql.Open("mysql", dsn(env.sqlAddr, password))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	fresh.SetMaxIdleConns(0)
	afresh := func(q string, p any) (string, error) {
		conn, err := fresh.Conn(c)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return runPoint(c, conn, nil, q, p)
	}

	statements := []string{
		"SELECT * FROM fp WHERE id = ?",
		"SELECT " + strings.Join(names, ", ") + " FROM fp WHERE id = ?",
		"SELECT vc, id, i, vc FROM fp WHERE ? = id",
		"SELECT ID, Vc FROM FP WHERE Id = ?",
		"SELECT id FROM fp WHERE id = ?",
	}
	for _, col := range pointColumns {
		statements = append(statements, "SELECT "+col.name+" FROM fp WHERE id = ?")
	}
	params := []any{1, 2, 3, 4, -5, 6, -1, int64(1) << 40, uint64(1) << 63, "1", 1.0, "3", nil, 1}
	fastBefore := counter(t, "insight_sql_prepared_point_reads_total")
	fast := 0
	for _, q := range statements {
		warm, err := conn.PrepareContext(c, q)
		if err != nil {
			t.Fatalf("PREPARE %s: %v", q, err)
		}
		if _, err := runPoint(c, conn, warm, q, 1); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, p := range params {
			want, err := afresh(q, p)
			if err != nil {
				t.Fatalf("%s with %#v (prepared afresh): %v", q, p, err)
			}
			got, err := runPoint(c, conn, warm, q, p)
			if err != nil {
				t.Fatalf("%s with %#v (prepared once): %v", q, p, err)
			}
			if got != want {
				t.Errorf("%s with %#v: prepared once (the fast path) and prepared afresh (the engine) differ:\n once:  %s\n afresh: %s", q, p, got, want)
			}
			switch p.(type) {
			case int, int64, uint64:
				fast++
			}
		}
		warm.Close()
	}
	if n := counter(t, "insight_sql_prepared_point_reads_total") - fastBefore; n != fast {
		t.Errorf("insight_sql_prepared_point_reads_total grew by %d, want %d (the executions with integer parameters)", n, fast)
	}

	// The statement outlives its table: dropped, then made again with other columns.
	point, err := conn.PrepareContext(c, "SELECT vc, i FROM fp WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer point.Close()
	for range 2 {
		if _, err := runPoint(c, conn, point, "", 1); err != nil {
			t.Fatal(err)
		}
	}
	// Another database on the connection: the name fp is resolved there, as the engine
	// resolves it.
	if _, err := conn.ExecContext(c, "USE information_schema"); err != nil {
		t.Fatal(err)
	}
	if _, err := runPoint(c, conn, point, "", 1); mysqlCode(err) != 1146 {
		t.Errorf("the prepared point select in database information_schema: %v, want error 1146", err)
	}
	if _, err := conn.ExecContext(c, "USE insight"); err != nil {
		t.Fatal(err)
	}
	if got, err := runPoint(c, conn, point, "", 1); err != nil || !strings.Contains(got, `"héllo wörld"|"123456"`) {
		t.Errorf("the prepared point select back in database insight: %s %v", got, err)
	}
	mustExec(t, c, "DROP TABLE fp")
	if _, err := runPoint(c, conn, point, "", 1); mysqlCode(err) != 1146 {
		t.Errorf("the prepared point select after DROP TABLE: %v, want error 1146", err)
	}
	mustExec(t, c, "CREATE TABLE fp (id BIGINT PRIMARY KEY, i VARCHAR(5), vc DOUBLE)", "INSERT INTO fp VALUES (1, 'five', 0.5)")
	for range 2 {
		got, err := runPoint(c, conn, point, "", 1)
		if err != nil {
			t.Fatalf("the prepared point select after the table was made again: %v", err)
		}
		want, err := afresh("SELECT vc, i FROM fp WHERE id = ?", 1)
		if err != nil {
			t.Fatal(err)
		}
		if got != want || !strings.Contains(got, "vc DOUBLE") || !strings.Contains(got, `"0.5"|"five"`) {
			t.Errorf("the prepared point select after the table was made again:\n got  %s\n want %s (DOUBLE vc, the row 0.5|five)", got, want)
		}
	}
	mustExec(t, c, "DROP TABLE fp")
	_ = env.rdb.Del(c, "fp:6").Err()
}

// runPoint runs q with p on conn — on stmt when given, else prepared, run and closed —
// and describes its result: the columns (name, type, length, decimals,
// nullability, the driver's Go type), the rows, then SHOW WARNINGS.
func runPoint(c context.Context, conn *sql.Conn, stmt *sql.Stmt, q string, p any) (string, error) {
	var rs *sql.Rows
	var err error
	if stmt != nil {
		rs, err = stmt.QueryContext(c, p)
	} else {
		rs, err = conn.QueryContext(c, q, p) // no interpolation: prepared, run and closed
	}
	if err != nil {
		return "", err
	}
	defer rs.Close()
	var b strings.Builder
	cts, err := rs.ColumnTypes()
	if err != nil {
		return "", err
	}
	for _, ct := range cts {
		length, _ := ct.Length()
		prec, scale, _ := ct.DecimalSize()
		null, _ := ct.Nullable()
		fmt.Fprintf(&b, "[%s %s %d %d,%d %t %s]", ct.Name(), ct.DatabaseTypeName(), length, prec, scale, null, ct.ScanType())
	}
	for rs.Next() {
		vals := make([]sql.RawBytes, len(cts))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			return "", err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = "NULL"
			if v != nil {
				parts[i] = strconv.Quote(string(v))
			}
		}
		b.WriteString(" row " + strings.Join(parts, "|"))
	}
	if err := rs.Err(); err != nil {
		return "", err
	}
	rs.Close()
	ws, err := conn.QueryContext(c, "SHOW WARNINGS")
	if err != nil {
		return "", err
	}
	defer ws.Close()
	for ws.Next() {
		var level, msg string
		var code int
		if err := ws.Scan(&level, &code, &msg); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " warning %s %d %s", level, code, msg)
	}
	return b.String(), ws.Err()
}
