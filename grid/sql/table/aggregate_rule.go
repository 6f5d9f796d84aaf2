package table

import (
	"math"
	"strconv"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/analyzer"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/expression/function/aggregation"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/sqltypes"
)

// AggregatePushdownID is the analyzer rule id of PushDownAggregates, outside
// go-mysql-server's own ids.
const AggregatePushdownID analyzer.RuleId = 10000

// PushDownAggregates is an analyzer rule (post-validation, so the engine's validations
// see the GROUP BY as written) that replaces a GROUP BY read straight from a table (no
// WHERE, no join) by an Aggregate the grid's primaries compute, when every part of it can
// be: grouped by string columns of a binary collation (their stored text is their value
// and their identity), selecting those columns, COUNT(*), and COUNT, SUM, AVG, MIN or MAX
// of integer or DECIMAL columns of at most 18 digits (not the key column: it is not a
// field). Anything else is left to the engine.
func PushDownAggregates(_ *sql.Context, _ *analyzer.Analyzer, n sql.Node, _ *plan.Scope, _ analyzer.RuleSelector, _ *sql.QueryFlags) (sql.Node, transform.TreeIdentity, error) {
	return transform.Node(n, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		gb, ok := n.(*plan.GroupBy)
		if !ok {
			return n, transform.SameTree, nil
		}
		if agg := newAggregate(gb); agg != nil {
			return agg, transform.NewTree, nil
		}
		return n, transform.SameTree, nil
	})
}

// newAggregate is gb as an Aggregate, or nil when it cannot be one.
func newAggregate(gb *plan.GroupBy) *Aggregate {
	var rt *plan.ResolvedTable
	switch c := gb.Child.(type) {
	case *plan.ResolvedTable:
		rt = c
	case *plan.TableAlias:
		rt, _ = c.Child.(*plan.ResolvedTable)
	}
	if rt == nil {
		return nil
	}
	t, ok := rt.Table.(*Table)
	if !ok {
		return nil
	}
	a := &Aggregate{t: t, gb: gb}
	column := func(e sql.Expression) int {
		gf, ok := e.(*expression.GetField)
		if !ok {
			return -1
		}
		c := t.def.Schema.IndexOfColName(gf.Name())
		if c == t.def.PK {
			return -1
		}
		return c
	}
	for _, e := range gb.GroupByExprs {
		// The engine groups by the expression's type (the column's, with the table's
		// collation when the column names none).
		c := column(e)
		if c < 0 || !groupable(e.Type()) {
			return nil
		}
		a.group = append(a.group, c)
	}
	number := func(c int) int {
		for i, n := range a.numbers {
			if n.col == c {
				return i
			}
		}
		rule, ok := numberRule(t.def.Schema.Schema[c].Type)
		if !ok {
			return -1
		}
		rule.col = c
		a.numbers = append(a.numbers, rule)
		return len(a.numbers) - 1
	}
	for _, e := range gb.SelectedExprs {
		if al, ok := e.(*expression.Alias); ok {
			e = al.Child
		}
		out, ok := a.output(e, column, number)
		if !ok {
			return nil
		}
		a.outs = append(a.outs, out)
	}
	return a
}

// output is the Aggregate's computation of the selected expression e.
func (a *Aggregate) output(e sql.Expression, column func(sql.Expression) int, number func(int) int) (aggOutput, bool) {
	if gf, ok := e.(*expression.GetField); ok {
		c := column(gf)
		for i, g := range a.group {
			if g == c {
				return aggOutput{op: opGroup, arg: i}, true
			}
		}
		return aggOutput{}, false
	}
	var op aggOp
	var child sql.Expression
	switch f := e.(type) {
	case *aggregation.Count:
		switch c := f.Child.(type) {
		case *expression.Star:
			return aggOutput{op: opRows}, true
		case *expression.Literal:
			if c.Value() != nil {
				return aggOutput{op: opRows}, true
			}
			return aggOutput{}, false
		}
		op, child = opCount, f.Child
	case *aggregation.Sum:
		op, child = opSum, f.Child
	case *aggregation.Avg:
		op, child = opAvg, f.Child
	case *aggregation.Min:
		op, child = opMin, f.Child
	case *aggregation.Max:
		op, child = opMax, f.Child
	default:
		return aggOutput{}, false
	}
	if w, ok := e.(sql.WindowAdaptableExpression); ok && w.Window() != nil {
		return aggOutput{}, false
	}
	c := column(child)
	if c < 0 {
		return aggOutput{}, false
	}
	n := number(c)
	if n < 0 {
		return aggOutput{}, false
	}
	return aggOutput{op: op, arg: n}, true
}

// groupable is whether a column of typ groups by its stored text: strings of the default
// collation, utf8mb4_0900_bin (binary, no padding; a column that names no collation has
// it), and binary strings, whose value is the text as stored.
func groupable(typ sql.Type) bool {
	switch typ.Type() {
	case sqltypes.Binary, sqltypes.VarBinary, sqltypes.Blob:
		return true
	}
	st, ok := typ.(sql.StringType)
	if !ok || !types.IsTextOnly(typ) {
		return false
	}
	c := st.Collation()
	return c == sql.Collation_utf8mb4_0900_bin || c == sql.Collation_Unspecified
}

// numberRule is SCANAGG's rule for a column of typ: the integer digits and decimals a
// value may have to be the value schema.Decode reads it as, whatever its digits.
func numberRule(typ sql.Type) (aggNumber, bool) {
	if dt, ok := typ.(sql.DecimalType); ok && types.IsDecimal(typ) {
		p, s := int(dt.Precision()), int(dt.Scale())
		if p > 18 {
			return aggNumber{}, false
		}
		return aggNumber{intDigits: p - s, scale: s}, true
	}
	if !types.IsInteger(typ) {
		return aggNumber{}, false
	}
	var limit uint64
	switch typ.Type() {
	case sqltypes.Int8:
		limit = math.MaxInt8
	case sqltypes.Uint8:
		limit = math.MaxUint8
	case sqltypes.Int16:
		limit = math.MaxInt16
	case sqltypes.Uint16:
		limit = math.MaxUint16
	case sqltypes.Int24:
		limit = 1<<23 - 1
	case sqltypes.Uint24:
		limit = 1<<24 - 1
	case sqltypes.Int32:
		limit = math.MaxInt32
	case sqltypes.Uint32:
		limit = math.MaxUint32
	default:
		limit = math.MaxInt64
	}
	// Every value of one digit fewer than the limit is in range.
	digits := min(len(strconv.FormatUint(limit, 10))-1, 18)
	return aggNumber{intDigits: digits, unsigned: types.IsUnsigned(typ), integer: true}, true
}
