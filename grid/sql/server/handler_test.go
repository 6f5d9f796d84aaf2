package server

import (
	"errors"
	"testing"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
)

// TestIsSelect checks which statements max_execution_time bounds: SELECTs (and WITH),
// after comments and parentheses, as MySQL does; not writes.
func TestIsSelect(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": true, "  select * from t": true, "(SELECT 1) UNION (SELECT 2)": true,
		"/* hint */ SELECT 1": true, "WITH x AS (SELECT 1) SELECT * FROM x": true,
		"INSERT INTO t SELECT * FROM u": false, "UPDATE t SET a = 1": false, "SET max_execution_time = 5": false,
		"/* unterminated SELECT": false, "": false,
	} {
		if got := isSelect(q); got != want {
			t.Errorf("isSelect(%q) = %v, want %v", q, got, want)
		}
	}
}

// TestCounterCaps checks the row and byte caps: error 1104 naming the flag once passed.
func TestCounterCaps(t *testing.T) {
	row := []sqltypes.Value{sqltypes.NewVarChar("abcd")}
	res := &sqltypes.Result{Rows: [][]sqltypes.Value{row, row}}
	c := &counter{lim: limits{maxRows: 3}}
	if err := c.add(res); err != nil {
		t.Fatalf("2 rows under a cap of 3: %v", err)
	}
	var se *mysql.SQLError
	if err := c.add(res); !errors.As(err, &se) || se.Number() != mysql.ERTooBigSelect || c.exceeded == nil {
		t.Fatalf("4 rows past a cap of 3: %v", err)
	}
	b := &counter{lim: limits{maxBytes: 7}}
	if err := b.add(res); !errors.As(err, &se) || se.Message != "the result has more than 7 bytes (--max-result-bytes); narrow it with WHERE or LIMIT" {
		t.Fatalf("8 bytes past a cap of 7: %v", err)
	}
	if err := (&counter{}).add(res); err != nil {
		t.Fatalf("no caps: %v", err)
	}
}

// TestMySQLError checks the codes and SQLSTATEs given to the engine's errors.
func TestMySQLError(t *testing.T) {
	tests := []struct {
		in          error
		code        int
		state, text string
	}{
		{mysql.NewSQLError(1105, "HY000", "syntax error at position 6 near 'SELEC'"), 1064, "42000", "syntax error at position 6 near 'SELEC'"},
		{mysql.NewSQLError(1105, "HY000", `column "x" could not be found in any table in scope`), 1054, "42S22", `column "x" could not be found in any table in scope`},
		{mysql.NewSQLError(1105, "HY000", "table with name t already exists"), 1050, "42S01", "table with name t already exists"},
		{mysql.NewSQLError(1146, "HY000", "table not found: t"), 1146, "42S02", "table not found: t"},
		{mysql.NewSQLError(1062, "HY000", "duplicate primary key given: [1]"), 1062, "23000", "duplicate primary key given: [1]"},
		{mysql.NewSQLError(1105, "HY000", "something else"), 1105, "HY000", "something else"},
	}
	for _, tt := range tests {
		var se *mysql.SQLError
		if err := mysqlError(tt.in); !errors.As(err, &se) || se.Number() != tt.code || se.SQLState() != tt.state || se.Message != tt.text {
			t.Errorf("%v: got %v, want %d (%s) %s", tt.in, err, tt.code, tt.state, tt.text)
		}
	}
	if err := mysqlError(nil); err != nil {
		t.Errorf("nil: %v", err)
	}
}
