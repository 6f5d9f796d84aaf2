package server

import (
	"testing"

	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

// TestNullPlaceholders checks that the text "NULL" of an EXPLAIN row's unfilled columns
// (table through filtered) becomes SQL NULL, real values and other results untouched.
func TestNullPlaceholders(t *testing.T) {
	fields := make([]*querypb.Field, len(plan.DescribeSchema))
	for i, c := range plan.DescribeSchema {
		fields[i] = &querypb.Field{Name: c.Name}
	}
	text := sqltypes.NewVarChar
	row := func() []sqltypes.Value {
		return []sqltypes.Value{sqltypes.NewUint64(1), text("SELECT"), text("NULL"), text("NULL"), text("ALL"), text("NULL"),
			text("NULL"), text("NULL"), text("NULL"), text("NULL"), text("NULL"), text("NULL")}
	}
	res := &sqltypes.Result{Fields: fields, Rows: [][]sqltypes.Value{row()}}
	nullPlaceholders(res)
	got := res.Rows[0]
	for i, want := range []string{"1", "SELECT", "", "", "ALL", "", "", "", "", "", "", "NULL"} {
		if want == "" && !got[i].IsNull() || want != "" && (got[i].IsNull() || got[i].ToString() != want) {
			t.Errorf("column %s: %v, want %q (empty: NULL)", fields[i].Name, got[i], want)
		}
	}

	other := &sqltypes.Result{Fields: []*querypb.Field{{Name: "v"}}, Rows: [][]sqltypes.Value{{text("NULL")}}}
	nullPlaceholders(other)
	if other.Rows[0][0].IsNull() {
		t.Errorf("a SELECT's text NULL became SQL NULL")
	}
	renamed := &sqltypes.Result{Fields: append([]*querypb.Field{{Name: "x"}}, fields[1:]...), Rows: [][]sqltypes.Value{row()}}
	nullPlaceholders(renamed)
	if renamed.Rows[0][2].IsNull() {
		t.Errorf("a result whose columns are not EXPLAIN's had its text NULL made SQL NULL")
	}
	nullPlaceholders(nil)
}
