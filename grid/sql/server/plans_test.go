package server

import (
	"slices"
	"testing"

	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// TestReusableShape checks which prepared statements get their plan reused: a SELECT of
// one table whose WHERE is one key condition on parameters (=, IN, BETWEEN) and whose
// other parts name columns and aggregates only; not joins, subqueries, other filters,
// functions, variables, parameters outside the WHERE, locks or writes.
func TestReusableShape(t *testing.T) {
	for q, want := range map[string]keyShape{
		"SELECT c FROM sbtest1 WHERE id=?":                                             {op: "=", col: "id", vars: []string{"v1"}},
		"SELECT c FROM sbtest1 WHERE ? = id":                                           {op: "=", col: "id", vars: []string{"v1"}},
		"SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?":                               {op: "between", col: "id", vars: []string{"v1", "v2"}},
		"SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?":                          {op: "between", col: "id", vars: []string{"v1", "v2"}},
		"SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c":                    {op: "between", col: "id", vars: []string{"v1", "v2"}},
		"SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c":           {op: "between", col: "id", vars: []string{"v1", "v2"}},
		"SELECT * FROM t WHERE id IN (?, ?, ?)":                                        {op: "in", col: "id", vars: []string{"v1", "v2", "v3"}},
		"SELECT count(*), max(v) FROM t WHERE id IN (?) GROUP BY v ORDER BY v LIMIT 5": {op: "in", col: "id", vars: []string{"v1"}},
	} {
		stmt, err := sqlparser.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got, ok := reusableShape(stmt)
		if !ok || got.op != want.op || got.col != want.col || !slices.Equal(got.vars, want.vars) {
			t.Errorf("%s: %+v %v, want %+v", q, got, ok, want)
		}
	}
	for _, q := range []string{
		"SELECT c FROM t WHERE id = 5",
		"SELECT c FROM t WHERE id = ? AND k = 3",
		"SELECT c FROM t WHERE id = ? OR id = ?",
		"SELECT c FROM t WHERE id > ?",
		"SELECT c FROM t WHERE t.id = ?",
		"SELECT c FROM t WHERE id = ? + 1",
		"SELECT c FROM t WHERE id = @x",
		"SELECT c FROM t x WHERE id = ?",
		"SELECT c FROM t, u WHERE id = ?",
		"SELECT c FROM t JOIN u ON t.a = u.a WHERE id = ?",
		"SELECT c, ? FROM t WHERE id = ?",
		"SELECT now() FROM t WHERE id = ?",
		"SELECT c + 1 FROM t WHERE id = ?",
		"SELECT c FROM t WHERE id = ? LIMIT ?",
		"SELECT c FROM t WHERE id = ? FOR UPDATE",
		"SELECT c FROM t WHERE id IN (SELECT id FROM u) AND id = ?",
		"SELECT (SELECT 1) FROM t WHERE id = ?",
		"SELECT c FROM t WHERE id = ? GROUP BY c HAVING count(*) > 1",
		"SELECT SQL_CALC_FOUND_ROWS c FROM t WHERE id = ?",
		"UPDATE t SET c = 1 WHERE id = ?",
		"DELETE FROM t WHERE id = ?",
		"SELECT c FROM t",
	} {
		stmt, err := sqlparser.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got, ok := reusableShape(stmt); ok {
			t.Errorf("%s: reusable as %+v, want not", q, got)
		}
	}
}

// TestPointShape checks which reusable statements the endpoint may answer without the
// engine: a point select (one key by =) of plain columns or *, nothing more.
func TestPointShape(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT c FROM sbtest1 WHERE id=?":         true,
		"SELECT * FROM t WHERE ? = id":             true,
		"SELECT id, c, id FROM t WHERE id = ?":     true,
		"SELECT c AS x FROM t WHERE id = ?":        false,
		"SELECT t.* FROM t WHERE id = ?":           false,
		"SELECT count(*) FROM t WHERE id = ?":      false,
		"SELECT DISTINCT c FROM t WHERE id = ?":    false,
		"SELECT c FROM t WHERE id = ? ORDER BY c":  false,
		"SELECT c FROM t WHERE id = ? LIMIT 1":     false,
		"SELECT c FROM t WHERE id = ? GROUP BY c":  false,
		"SELECT c FROM t WHERE id IN (?)":          false,
		"SELECT c FROM t WHERE id BETWEEN ? AND ?": false,
	} {
		stmt, err := sqlparser.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		got, ok := reusableShape(stmt)
		if !ok || got.point != want {
			t.Errorf("%s: %+v %v, want reusable with point %v", q, got, ok, want)
		}
	}
}

// TestKeyShapeValues checks the parameters a reused plan accepts: integers, signed or
// not, in the statement's order; any other type (text, decimal, NULL) or a missing one
// leaves the execution to the engine.
func TestKeyShapeValues(t *testing.T) {
	s := keyShape{op: "between", col: "id", vars: []string{"v1", "v2"}}
	got, ok := s.values(map[string]*querypb.BindVariable{
		"v2": {Type: sqltypes.Uint64, Value: []byte("18446744073709551615")},
		"v1": {Type: sqltypes.Int32, Value: []byte("-7")},
	})
	if !ok || len(got) != 2 || got[0] != int64(-7) || got[1] != uint64(18446744073709551615) {
		t.Errorf("integer parameters: %v %v", got, ok)
	}
	for name, binds := range map[string]map[string]*querypb.BindVariable{
		"text":    {"v1": {Type: sqltypes.VarChar, Value: []byte("7")}, "v2": {Type: sqltypes.Int64, Value: []byte("8")}},
		"decimal": {"v1": {Type: sqltypes.Decimal, Value: []byte("7.5")}, "v2": {Type: sqltypes.Int64, Value: []byte("8")}},
		"NULL":    {"v1": {Type: sqltypes.Null}, "v2": {Type: sqltypes.Int64, Value: []byte("8")}},
		"missing": {"v1": {Type: sqltypes.Int64, Value: []byte("7")}},
	} {
		if got, ok := s.values(binds); ok {
			t.Errorf("%s parameter: accepted as %v", name, got)
		}
	}
}

// TestFirstWord checks the word that tells a SET (which drops the connection's reused
// plans) and a SELECT: after comments and parentheses, in lower case.
func TestFirstWord(t *testing.T) {
	for q, want := range map[string]string{
		"SET sql_select_limit = 1": "set", " /* c */ set @@x=1": "set", "(SELECT 1)": "select",
		"SETTINGS": "settings", "": "", "/* open": "", "sELECT*FROM t": "select",
	} {
		if got := firstWord(q); got != want {
			t.Errorf("firstWord(%q) = %q, want %q", q, got, want)
		}
	}
}
