package itest

import (
	"database/sql"
	"testing"
)

// TestDefinitionsSeenByOtherEndpoint checks the endpoints' cache of the definitions: a
// CREATE or DROP of a table or view through one endpoint is seen by the next statement
// of another that has the old definitions cached, prepared statements included, and
// every DDL increments the grid's version counter.
func TestDefinitionsSeenByOtherEndpoint(t *testing.T) {
	c := ctx(t)
	addr, _ := sqlEndpoint(t)
	other, err := sql.Open("mysql", dsn(addr, password))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherRows := func(q string, args ...any) ([]string, error) {
		rs, err := other.QueryContext(c, q, args...)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		return scanAll(t, q, rs), nil
	}
	version := func() int64 {
		v, err := env.rdb.Get(c, "_insight:sql:version").Int64()
		if err != nil {
			t.Fatalf("GET _insight:sql:version: %v", err)
		}
		return v
	}

	mustExec(t, c, "CREATE TABLE dd (id INT PRIMARY KEY, v VARCHAR(10))", "INSERT INTO dd VALUES (1, 'one'), (2, 'two')")
	v0 := version()
	got, err := otherRows("SELECT id, v FROM dd ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "the table made through the first endpoint, read through the second", got, []string{"1|one", "2|two"})
	conn, err := other.Conn(c)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	point, err := conn.PrepareContext(c, "SELECT * FROM dd WHERE id = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer point.Close()
	pointRow := func(id int) []string {
		rs, err := point.QueryContext(c, id)
		if err != nil {
			t.Fatalf("prepared point select of %d: %v", id, err)
		}
		defer rs.Close()
		return scanAll(t, "prepared point select", rs)
	}
	equal(t, "prepared point select", pointRow(2), []string{"2|two"})
	equal(t, "prepared point select again", pointRow(1), []string{"1|one"})

	// Dropped and made again with other columns through the first endpoint.
	mustExec(t, c, "DROP TABLE dd", "CREATE TABLE dd (id INT PRIMARY KEY, n INT, w VARCHAR(10))",
		"INSERT INTO dd VALUES (1, 10, 'x'), (3, 30, 'z')")
	if v := version(); v != v0+2 {
		t.Errorf("version after DROP and CREATE: %d, want %d", v, v0+2)
	}
	got, err = otherRows("SELECT * FROM dd ORDER BY id")
	if err != nil {
		t.Fatalf("the second endpoint after the table was made again: %v", err)
	}
	equal(t, "the table made again, read through the second endpoint", got, []string{"1|10|x", "3|30|z"})
	equal(t, "the prepared point select after the table was made again", pointRow(3), []string{"3|30|z"})
	equal(t, "the prepared point select of a key gone", pointRow(2), nil)

	mustExec(t, c, "CREATE VIEW ddv AS SELECT id, n FROM dd WHERE n > 15")
	got, err = otherRows("SELECT * FROM ddv")
	if err != nil {
		t.Fatalf("a view made through the first endpoint, on the second: %v", err)
	}
	equal(t, "the view through the second endpoint", got, []string{"3|30"})
	mustExec(t, c, "DROP VIEW ddv", "DROP TABLE dd")
	if _, err := otherRows("SELECT * FROM ddv"); mysqlCode(err) != 1146 {
		t.Errorf("a view dropped through the first endpoint, on the second: %v, want error 1146", err)
	}
	if _, err := otherRows("SELECT * FROM dd"); mysqlCode(err) != 1146 {
		t.Errorf("a table dropped through the first endpoint, on the second: %v, want error 1146", err)
	}
	if rs, err := point.QueryContext(c, 1); err == nil {
		rs.Close()
		t.Errorf("the prepared point select of a dropped table succeeded, want an error")
	}
	if v := version(); v != v0+5 {
		t.Errorf("version after CREATE/DROP VIEW and DROP TABLE: %d, want %d", v, v0+5)
	}

	// Made through the second endpoint, seen by the first's next statement.
	if _, err := other.ExecContext(c, "CREATE TABLE dd2 (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	equal(t, "a table made through the second endpoint, on the first", rows(t, c, "SELECT count(*) FROM dd2"), []string{"0"})
	mustExec(t, c, "DROP TABLE dd2")
}
