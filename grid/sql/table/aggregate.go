package table

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/redis/go-redis/v9"
	"github.com/shopspring/decimal"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// scanAggCount is SCANAGG's COUNT: keys aggregated per call on a primary.
const scanAggCount = 4096

// Aggregate is a GROUP BY of a whole table that the grid's primaries compute: each
// aggregates its own hashes (SCANAGG, one call per few thousand keys: per group, the
// hashes and the count, sum, minimum and maximum of each numeric column in canonical
// form), and the endpoint merges the groups. A hash whose values SCANAGG does not read as
// canonical numbers ("+5", "1e3", a value past the column's digits, text) is read and
// converted here as a scan reads it, with the same warnings for values that do not
// convert (read as NULL). Its answers are the engine's GROUP BY's (PushDownAggregates
// lists what it covers): DECIMAL sums exact and averages DECIMAL with 4 more decimals,
// integer sums and averages DOUBLE.
type Aggregate struct {
	t       *Table
	gb      *plan.GroupBy // the plan it replaces: its schema and column ids
	group   []int         // the GROUP BY columns' ordinals
	numbers []aggNumber   // the numeric columns aggregated
	outs    []aggOutput   // per selected expression
}

// aggNumber is a numeric column aggregated, with SCANAGG's rule for its canonical text.
type aggNumber struct {
	col       int
	intDigits int
	scale     int
	unsigned  bool
	integer   bool // an integer column (else DECIMAL)
}

type aggOp int

const (
	opGroup aggOp = iota // a GROUP BY column's value
	opRows               // COUNT(*)
	opCount
	opSum
	opAvg
	opMin
	opMax
)

// aggOutput is how a selected expression is computed: arg is the GROUP BY column's
// position (opGroup) or the numeric column's (the others but opRows).
type aggOutput struct {
	op  aggOp
	arg int
}

var (
	_ sql.ExecSourceRel = (*Aggregate)(nil)
	_ sql.Projector     = (*Aggregate)(nil)
)

// Resolved implements sql.Node.
func (a *Aggregate) Resolved() bool { return true }

// IsReadOnly implements sql.Node.
func (a *Aggregate) IsReadOnly() bool { return true }

// Schema implements sql.Node: the GROUP BY's.
func (a *Aggregate) Schema() sql.Schema { return a.gb.Schema() }

// ProjectedExprs implements sql.Projector: the GROUP BY's, whose column ids the nodes
// above refer to.
func (a *Aggregate) ProjectedExprs() []sql.Expression { return a.gb.SelectedExprs }

// Children implements sql.Node: none, the table is read by the primaries.
func (a *Aggregate) Children() []sql.Node { return nil }

// WithChildren implements sql.Node.
func (a *Aggregate) WithChildren(children ...sql.Node) (sql.Node, error) {
	if len(children) != 0 {
		return nil, sql.ErrInvalidChildrenNumber.New(a, len(children), 0)
	}
	return a, nil
}

// String implements sql.Node: what EXPLAIN shows.
func (a *Aggregate) String() string {
	p := sql.NewTreePrinter()
	_ = p.WriteNode("GridAggregate(SCANAGG on every primary)")
	sel := make([]string, len(a.gb.SelectedExprs))
	for i, e := range a.gb.SelectedExprs {
		sel[i] = e.String()
	}
	group := make([]string, len(a.group))
	for i, c := range a.group {
		group[i] = a.t.def.Schema.Schema[c].Name
	}
	_ = p.WriteChildren("select: "+strings.Join(sel, ", "), "group: "+strings.Join(group, ", "), "table: "+a.t.def.Name)
	return p.String()
}

// DebugString implements sql.DebugStringer.
func (a *Aggregate) DebugString() string { return a.String() }

// RowIter implements sql.ExecSourceRel: the groups, computed when first read.
func (a *Aggregate) RowIter(*sql.Context, sql.Row) (sql.RowIter, error) {
	return &aggIter{a: a}, nil
}

// aggGroup is one group's aggregates.
type aggGroup struct {
	vals []any // the GROUP BY columns' values
	rows int64
	nums []aggValue
}

// aggValue is one numeric column's aggregate over a group: its non-NULL values' count,
// exact sum, minimum and maximum.
type aggValue struct {
	count         int64
	sum, min, max decimal.Decimal
}

func (v *aggValue) add(count int64, sum, lo, hi decimal.Decimal) {
	if count == 0 {
		return
	}
	if v.count == 0 {
		v.sum, v.min, v.max = decimal.Zero, lo, hi
	} else {
		if lo.LessThan(v.min) {
			v.min = lo
		}
		if hi.GreaterThan(v.max) {
			v.max = hi
		}
	}
	v.sum = v.sum.Add(sum)
	v.count += count
}

// aggGroups is groups by key (groupKey of their values).
type aggGroups struct {
	byKey map[string]*aggGroup
	order []*aggGroup
}

func (g *aggGroups) get(vals []any, nums int) *aggGroup {
	k := groupKey(vals)
	if gr, ok := g.byKey[k]; ok {
		return gr
	}
	gr := &aggGroup{vals: vals, nums: make([]aggValue, nums)}
	if g.byKey == nil {
		g.byKey = map[string]*aggGroup{}
	}
	g.byKey[k] = gr
	g.order = append(g.order, gr)
	return gr
}

// merge adds other's groups to g.
func (g *aggGroups) merge(other *aggGroups) {
	for _, o := range other.order {
		gr := g.get(o.vals, len(o.nums))
		gr.rows += o.rows
		for i, v := range o.nums {
			gr.nums[i].add(v.count, v.sum, v.min, v.max)
		}
	}
}

// groupKey is a map key of group values (strings, byte strings, NULLs): each as a type
// mark, its length and its bytes.
func groupKey(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		switch v := v.(type) {
		case nil:
			b.WriteString("n;")
		case string:
			b.WriteString("s" + strconv.Itoa(len(v)) + ":" + v)
		case []byte:
			b.WriteString("b" + strconv.Itoa(len(v)) + ":" + string(v))
		}
	}
	return b.String()
}

// aggIter returns the groups' rows.
type aggIter struct {
	a    *Aggregate
	rows []sql.Row
	done bool
}

func (it *aggIter) Next(ctx *sql.Context) (sql.Row, error) {
	if !it.done {
		it.done = true
		rows, err := it.a.run(ctx)
		if err != nil {
			return nil, err
		}
		it.rows = rows
	}
	if len(it.rows) == 0 {
		return nil, io.EOF
	}
	r := it.rows[0]
	it.rows = it.rows[1:]
	return r, nil
}

func (it *aggIter) Close(*sql.Context) error { return nil }

// run aggregates the table on every primary at once and merges their groups.
func (a *Aggregate) run(ctx *sql.Context) ([]sql.Row, error) {
	t := a.t
	before, err := slotView(ctx, t.rdb())
	if err != nil {
		return nil, fmt.Errorf("table %s: reading the grid's partition map: %w", t.def.Name, err)
	}
	var (
		mu      sync.Mutex
		scanned []string
		all     aggGroups
		warns   []string
	)
	err = t.db.nodes.forEach(ctx, before, func(c context.Context, rc *redis.Client) error {
		groups, w, err := a.runPrimary(ctx, c, rc)
		mu.Lock()
		defer mu.Unlock()
		scanned = append(scanned, rc.Options().Addr)
		if err != nil {
			return err
		}
		all.merge(groups)
		warns = append(warns, w...)
		return nil
	})
	if err == nil {
		err = checkView(ctx, t.rdb(), before, scanned)
	}
	if err != nil {
		return nil, fmt.Errorf("table %s: aggregating: %w", t.def.Name, err)
	}
	for _, w := range warns {
		ctx.Warn(1366, "%s", w)
	}
	if len(all.order) == 0 && len(a.group) == 0 {
		// No GROUP BY: one row however few rows there are.
		all.get(nil, len(a.numbers))
	}
	out := make([]sql.Row, 0, len(all.order))
	for _, g := range all.order {
		row, err := a.row(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("table %s: aggregating: %w", t.def.Name, err)
		}
		out = append(out, row)
	}
	return out, nil
}

// runPrimary aggregates one primary's hashes: SCANAGG call after call, and the hashes it
// defers read and converted here. The warnings are the deferred rows' conversions'.
func (a *Aggregate) runPrimary(sctx *sql.Context, ctx context.Context, rc *redis.Client) (*aggGroups, []string, error) {
	t := a.t
	pt := a.projected()
	fields := pt.fetchFields()
	cols := pt.columns()
	args := []any{"SCANAGG", "0", "MATCH", t.def.ScanPattern(), "COUNT", scanAggCount, "GROUPBY", len(a.group)}
	for _, c := range a.group {
		args = append(args, t.def.Schema.Schema[c].Name)
	}
	args = append(args, "NUMBERS", len(a.numbers))
	for _, n := range a.numbers {
		sign := "SIGNED"
		if n.unsigned {
			sign = "UNSIGNED"
		}
		args = append(args, t.def.Schema.Schema[n.col].Name, n.intDigits, n.scale, sign)
	}
	groups := &aggGroups{}
	var warns []string
	for {
		reply, err := rc.Do(ctx, args...).Slice()
		if err != nil {
			if strings.HasPrefix(err.Error(), "MOVED") || strings.HasPrefix(err.Error(), "ASK") {
				return nil, nil, ErrMapChanged
			}
			return nil, nil, fmt.Errorf("SCANAGG on the primary %s (if it failed, run the statement again once its backup took over): %w", rc.Options().Addr, err)
		}
		next, deferred, err := a.mergeReply(groups, reply)
		if err != nil {
			return nil, nil, fmt.Errorf("SCANAGG on the primary %s: %w", rc.Options().Addr, err)
		}
		if len(deferred) > 0 {
			rows, err := fetchRows(ctx, rc, deferred, fields)
			if err != nil {
				if strings.HasPrefix(err.Error(), "MOVED") || strings.HasPrefix(err.Error(), "ASK") {
					return nil, nil, ErrMapChanged
				}
				return nil, nil, fmt.Errorf("reading rows on the primary %s (if it failed, run the statement again once its backup took over): %w", rc.Options().Addr, err)
			}
			for _, r := range rows {
				row, w := pt.convert(sctx, cols, r)
				warns = append(warns, w...)
				if err := a.addRow(groups, cols, row); err != nil {
					return nil, nil, err
				}
			}
		}
		if next == "0" {
			return groups, warns, nil
		}
		args[1] = next
	}
}

// projected is the table projected to the columns the aggregate reads.
func (a *Aggregate) projected() *Table {
	var names []string
	for _, c := range a.group {
		names = append(names, a.t.def.Schema.Schema[c].Name)
	}
	for _, n := range a.numbers {
		names = append(names, a.t.def.Schema.Schema[n.col].Name)
	}
	return a.t.WithProjections(names).(*Table)
}

// mergeReply adds a SCANAGG reply's groups to groups and returns its cursor and deferred
// hashes.
func (a *Aggregate) mergeReply(groups *aggGroups, reply []any) (next string, deferred []string, err error) {
	bad := func(what string, v any) error { return fmt.Errorf("unexpected reply: %s is %T %v", what, v, v) }
	if len(reply) != 3 {
		return "", nil, bad("the reply", reply)
	}
	next, ok := reply[0].(string)
	gs, ok2 := reply[1].([]any)
	ds, ok3 := reply[2].([]any)
	if !ok || !ok2 || !ok3 {
		return "", nil, bad("the reply", reply)
	}
	for _, g := range gs {
		parts, ok := g.([]any)
		if !ok || len(parts) != 3 {
			return "", nil, bad("a group", g)
		}
		vs, ok1 := parts[0].([]any)
		rows, ok2 := parts[1].(int64)
		nums, ok3 := parts[2].([]any)
		if !ok1 || !ok2 || !ok3 || len(vs) != len(a.group) || len(nums) != len(a.numbers) {
			return "", nil, bad("a group", g)
		}
		vals := make([]any, len(vs))
		for i, v := range vs {
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return "", nil, bad("a group value", v)
			}
			if vals[i], err = a.groupValue(i, s); err != nil {
				return "", nil, err
			}
		}
		gr := groups.get(vals, len(a.numbers))
		gr.rows += rows
		for i, n := range nums {
			q, ok := n.([]any)
			if !ok || len(q) != 4 {
				return "", nil, bad("a number's aggregate", n)
			}
			count, ok := q[0].(int64)
			if !ok {
				return "", nil, bad("a count", q[0])
			}
			if count == 0 {
				continue
			}
			var m [3]decimal.Decimal
			for j := range 3 {
				s, ok := q[1+j].(string)
				if !ok {
					return "", nil, bad("a sum, minimum or maximum", q[1+j])
				}
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return "", nil, bad("a sum, minimum or maximum", s)
				}
				m[j] = decimal.New(v, -int32(a.numbers[i].scale))
			}
			gr.nums[i].add(count, m[0], m[1], m[2])
		}
	}
	for _, d := range ds {
		k, ok := d.(string)
		if !ok {
			return "", nil, bad("a deferred hash", d)
		}
		deferred = append(deferred, k)
	}
	return next, deferred, nil
}

// groupValue is the value of the i-th GROUP BY column whose stored text is s. A string
// that is not UTF-8 fails the statement as the engine's grouping does.
func (a *Aggregate) groupValue(i int, s string) (any, error) {
	typ := a.t.def.Schema.Schema[a.group[i]].Type
	if types.IsTextOnly(typ) && !utf8.ValidString(s) {
		return nil, sql.ErrCollationMalformedString.New("hashing")
	}
	v, err := schema.Decode(nil, typ, s)
	if err != nil {
		return nil, fmt.Errorf("group value %q: %w", s, err)
	}
	return v, nil
}

// addRow adds a converted row of the projected columns cols to its group.
func (a *Aggregate) addRow(groups *aggGroups, cols []int, row sql.Row) error {
	at := func(c int) any {
		for i, pc := range cols {
			if pc == c {
				return row[i]
			}
		}
		return nil
	}
	vals := make([]any, len(a.group))
	for i, c := range a.group {
		vals[i] = at(c)
		if s, ok := vals[i].(string); ok && !utf8.ValidString(s) {
			return sql.ErrCollationMalformedString.New("hashing")
		}
	}
	gr := groups.get(vals, len(a.numbers))
	gr.rows++
	for i, n := range a.numbers {
		v := at(n.col)
		if v == nil {
			continue
		}
		d, err := toDecimal(v)
		if err != nil {
			return fmt.Errorf("column %s: %w", a.t.def.Schema.Schema[n.col].Name, err)
		}
		gr.nums[i].add(1, d, d, d)
	}
	return nil
}

// toDecimal is an integer or DECIMAL column's value as a decimal.
func toDecimal(v any) (decimal.Decimal, error) {
	switch v := v.(type) {
	case decimal.Decimal:
		return v, nil
	case int8:
		return decimal.NewFromInt(int64(v)), nil
	case int16:
		return decimal.NewFromInt(int64(v)), nil
	case int32:
		return decimal.NewFromInt(int64(v)), nil
	case int64:
		return decimal.NewFromInt(v), nil
	case uint8:
		return decimal.NewFromUint64(uint64(v)), nil
	case uint16:
		return decimal.NewFromUint64(uint64(v)), nil
	case uint32:
		return decimal.NewFromUint64(uint64(v)), nil
	case uint64:
		return decimal.NewFromUint64(v), nil
	}
	return decimal.Decimal{}, fmt.Errorf("unexpected value %T %v", v, v)
}

// row is a group's row: the selected expressions' values as the engine's GROUP BY gives
// them (its aggregation buffers' types and rounding).
func (a *Aggregate) row(ctx *sql.Context, g *aggGroup) (sql.Row, error) {
	row := make(sql.Row, len(a.outs))
	for i, o := range a.outs {
		if o.op == opGroup {
			row[i] = g.vals[o.arg]
			continue
		}
		if o.op == opRows {
			row[i] = g.rows
			continue
		}
		n, v := a.numbers[o.arg], g.nums[o.arg]
		if o.op == opCount {
			row[i] = v.count
			continue
		}
		if v.count == 0 {
			continue // NULL: no value
		}
		switch o.op {
		case opSum:
			if n.integer {
				row[i] = v.sum.InexactFloat64()
			} else {
				row[i] = decimal.NewFromInt(0).Add(v.sum)
			}
		case opAvg:
			if n.integer {
				row[i] = v.sum.InexactFloat64() / float64(v.count)
			} else {
				s := decimal.NewFromInt(0).Add(v.sum)
				row[i] = s.DivRound(decimal.NewFromInt(v.count), -s.Exponent()+4)
			}
		case opMin, opMax:
			d := v.min
			if o.op == opMax {
				d = v.max
			}
			if !n.integer {
				row[i] = d
				continue
			}
			typed, err := schema.Decode(ctx, a.t.def.Schema.Schema[n.col].Type, d.String())
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", a.t.def.Schema.Schema[n.col].Name, err)
			}
			row[i] = typed
		}
	}
	return row, nil
}
