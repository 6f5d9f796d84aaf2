package table

import (
	"fmt"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// primaryIndex is the primary key: a lookup of points (=, IN) or of a short integer
// range (BETWEEN) reads those keys' hashes; any other range is not supported, so the
// engine scans and filters.
type primaryIndex struct {
	def *schema.Table
}

var _ sql.Index = (*primaryIndex)(nil)

func (i *primaryIndex) col() *sql.Column { return i.def.Schema.Schema[i.def.PK] }

func (i *primaryIndex) ID() string              { return "PRIMARY" }
func (i *primaryIndex) Database() string        { return DatabaseName }
func (i *primaryIndex) Table() string           { return i.def.Name }
func (i *primaryIndex) IsUnique() bool          { return true }
func (i *primaryIndex) IsSpatial() bool         { return false }
func (i *primaryIndex) IsFullText() bool        { return false }
func (i *primaryIndex) IsVector() bool          { return false }
func (i *primaryIndex) Comment() string         { return "" }
func (i *primaryIndex) IndexType() string       { return "HASH" }
func (i *primaryIndex) IsGenerated() bool       { return false }
func (i *primaryIndex) PrefixLengths() []uint16 { return nil }

func (i *primaryIndex) Expressions() []string {
	return []string{i.def.Name + "." + i.col().Name}
}

func (i *primaryIndex) ColumnExpressionTypes() []sql.ColumnExpressionType {
	return []sql.ColumnExpressionType{{Expression: i.Expressions()[0], Type: i.col().Type}}
}

// maxRangeKeys is how many keys an integer range may name and still be read by key
// (sysbench's BETWEEN of 100 ids); a wider range scans.
const maxRangeKeys = 1024

// CanSupport is true when every range names a few keys to read: one point (=, IN), or
// a bounded range of at most maxRangeKeys integers.
func (i *primaryIndex) CanSupport(ctx *sql.Context, ranges ...sql.Range) bool {
	n := 0
	for _, r := range ranges {
		mr, ok := r.(sql.MySQLRange)
		if !ok || len(mr) != 1 {
			return false
		}
		vals, ok := rangeValues(ctx, i.col().Type, mr[0])
		if !ok {
			return false
		}
		if n += len(vals); n > maxRangeKeys {
			return false
		}
	}
	return true
}

// rangeValues are the values r covers: its point, or every integer of a bounded range
// over an integer column of at most maxRangeKeys values.
func rangeValues(ctx *sql.Context, typ sql.Type, r sql.MySQLRangeColumnExpr) ([]any, bool) {
	if v, ok := point(r); ok {
		return []any{v}, true
	}
	if !types.IsInteger(typ) {
		return nil, false
	}
	lo, loIncl, ok1 := cut(ctx, r.LowerBound, true)
	hi, hiIncl, ok2 := cut(ctx, r.UpperBound, false)
	if !ok1 || !ok2 {
		return nil, false
	}
	if !loIncl {
		lo++
	}
	if !hiIncl {
		hi--
	}
	if hi < lo {
		return []any{}, true
	}
	if hi-lo >= maxRangeKeys {
		return nil, false
	}
	out := make([]any, 0, hi-lo+1)
	for v := lo; v <= hi; v++ {
		out = append(out, v)
	}
	return out, true
}

// cut is an integer bound's value and whether it is included: a lower bound Below{k}
// includes k, Above{k} excludes it; an upper bound Above{k} includes k, Below{k}
// excludes it. Unbounded or non-integer cuts are not supported.
func cut(ctx *sql.Context, c sql.MySQLRangeCut, lower bool) (int64, bool, bool) {
	var key any
	var incl bool
	switch c := c.(type) {
	case sql.Below:
		key, incl = c.Key, lower
	case sql.Above:
		key, incl = c.Key, !lower
	default:
		return 0, false, false
	}
	v, inRange, err := types.Int64.Convert(ctx, key)
	if err != nil || inRange != sql.InRange {
		return 0, false, false
	}
	n := v.(int64)
	// A fractional bound (id > 1.5) converted to an integer: keep it only when exact.
	if f, _, err := types.Float64.Convert(ctx, key); err != nil || f.(float64) != float64(n) {
		return 0, false, false
	}
	return n, incl, true
}

// CanSupportOrderBy is false: the keys have no order.
func (i *primaryIndex) CanSupportOrderBy(sql.Expression) bool { return false }

// point is the value of a range covering exactly one non-NULL value.
func point(r sql.MySQLRangeColumnExpr) (any, bool) {
	lo, ok1 := r.LowerBound.(sql.Below)
	hi, ok2 := r.UpperBound.(sql.Above)
	if !ok1 || !ok2 || lo.Key == nil || hi.Key == nil {
		return nil, false
	}
	return lo.Key, lo.Key == hi.Key || fmt.Sprint(lo.Key) == fmt.Sprint(hi.Key)
}

// lookupKeys are the hash names of the lookup's points, each converted to the key
// column's type; a point that does not convert names no row.
func lookupKeys(ctx *sql.Context, def *schema.Table, lookup sql.IndexLookup) ([]string, error) {
	ranges, ok := lookup.Ranges.(sql.MySQLRangeCollection)
	if !ok {
		return nil, fmt.Errorf("table %s: unsupported lookup %s", def.Name, lookup)
	}
	typ := def.Schema.Schema[def.PK].Type
	seen := map[string]bool{}
	var keys []string
	for _, r := range ranges {
		if len(r) != 1 {
			return nil, fmt.Errorf("table %s: lookup on %d columns, the primary key has one", def.Name, len(r))
		}
		vals, ok := rangeValues(ctx, typ, r[0])
		if !ok {
			return nil, fmt.Errorf("table %s: lookup range %s names no keys", def.Name, r[0])
		}
		for _, v := range vals {
			cv, inRange, err := typ.Convert(ctx, v)
			if err != nil || inRange != sql.InRange {
				continue // no row can have this key
			}
			k, err := def.Key(ctx, cv)
			if err != nil {
				return nil, err
			}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}
