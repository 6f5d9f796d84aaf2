package table

import (
	"testing"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
)

// TestRangeValues checks which primary-key ranges become keys to read: a point, and a
// bounded integer range with its bounds included or not, up to maxRangeKeys values;
// open, fractional or wide ranges are left to a scan.
func TestRangeValues(t *testing.T) {
	ctx := sql.NewEmptyContext()
	tests := []struct {
		name string
		typ  sql.Type
		r    sql.MySQLRangeColumnExpr
		want []any // nil: not supported
	}{
		{"point", types.Int32, sql.ClosedRangeColumnExpr(int64(7), int64(7), types.Int32), []any{int64(7)}},
		{"string point", types.Text, sql.ClosedRangeColumnExpr("a", "a", types.Text), []any{"a"}},
		{"closed", types.Int32, sql.ClosedRangeColumnExpr(int64(2), int64(4), types.Int32), []any{int64(2), int64(3), int64(4)}},
		{"open", types.Int32, sql.OpenRangeColumnExpr(int64(2), int64(4), types.Int32), []any{int64(3)}},
		{"empty", types.Int32, sql.OpenRangeColumnExpr(int64(2), int64(3), types.Int32), []any{}},
		{"string range", types.Text, sql.ClosedRangeColumnExpr("a", "c", types.Text), nil},
		{"fractional bound", types.Int32, sql.ClosedRangeColumnExpr(1.5, int64(3), types.Float64), nil},
		{"unbounded", types.Int32, sql.GreaterThanRangeColumnExpr(int64(2), types.Int32), nil},
		{"too wide", types.Int32, sql.ClosedRangeColumnExpr(int64(0), int64(maxRangeKeys), types.Int32), nil},
		{"widest", types.Int32, sql.ClosedRangeColumnExpr(int64(1), int64(maxRangeKeys), types.Int32), make([]any, maxRangeKeys)},
	}
	for _, tt := range tests {
		got, ok := rangeValues(ctx, tt.typ, tt.r)
		switch {
		case tt.want == nil && ok:
			t.Errorf("%s: read as keys %v, want a scan", tt.name, got)
		case tt.want != nil && !ok:
			t.Errorf("%s: left to a scan, want keys %v", tt.name, tt.want)
		case tt.name == "widest":
			if len(got) != maxRangeKeys || got[0] != int64(1) || got[maxRangeKeys-1] != int64(maxRangeKeys) {
				t.Errorf("%s: %d keys from %v to %v", tt.name, len(got), got[0], got[len(got)-1])
			}
		case tt.want != nil && !equalAny(got, tt.want):
			t.Errorf("%s: keys %v, want %v", tt.name, got, tt.want)
		}
	}
}

func equalAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
