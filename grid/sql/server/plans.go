package server

import (
	"context"
	"strconv"
	"strings"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/sql/table"
)

// plans reuses the analyzed plan of a prepared SELECT that reads one table by its
// primary key with parameters (`WHERE id = ?`, `WHERE id BETWEEN ? AND ?`, `WHERE id IN
// (?, ...)`, integer parameters), the statements of sysbench's oltp_point_select and
// oltp_read_only: go-mysql-server binds and analyzes a prepared statement again on every
// execution, which costs more than reading the row. The first execution is planned as
// usual; the next ones take that plan with its key lookup rebuilt from the new
// parameters. A plan is kept per connection and statement, and used only while the
// definitions' version is the one it was made at (a CREATE or DROP on any endpoint makes
// it stale) and until the connection runs a SET. Every other statement is planned by
// the engine on each execution. A point select of plain columns (`SELECT c FROM t WHERE
// id = ?`) is answered without the engine from its second execution on: see pointRead.
type plans struct {
	engine   *sqle.Engine
	gh       *gms.Handler
	db       *table.Database
	sessions *sessions
	reused   prometheus.Counter
	points   prometheus.Counter // executions answered by a pointRead

	mu     sync.Mutex
	byConn map[uint32]map[string]*reused
}

// maxPlanMisses is how many executions of a statement of a reusable shape may be planned
// into something else than one key lookup (a range too wide to read by key, a key
// column that is not an integer) before the statement is left to the engine for good.
const maxPlanMisses = 3

// reused is one statement's plan, or its misses so far.
type reused struct {
	shape   keyShape
	misses  int                      // plans that were not one key lookup (maxPlanMisses: not of a reusable shape)
	version int64                    // of the definitions plan was made with
	db      string                   // the session's database plan was made in
	plan    sql.Node                 // nil: none yet
	ita     *plan.IndexedTableAccess // the key lookup in plan
	point   *pointRead               // non-nil: executions are answered without the engine
}

// keyShape is how a statement's parameters name keys.
type keyShape struct {
	op   string   // "=", "in" or "between"
	col  string   // the key column as written
	vars []string // the parameters' names (v1, v2, ...) in order
	// point: a point select of plain columns (op "=", no DISTINCT, GROUP BY, ORDER BY,
	// LIMIT, alias or aggregate), which a pointRead may answer.
	point bool
}

// execute runs prepare with a reused plan when it has a reusable shape; done is false
// when the engine has to plan it (the caller then runs it as usual).
func (p *plans) execute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) (done bool, err error) {
	query := sql.RemoveSpaceAndDelimiter(prepare.PrepareStmt, ';')
	p.mu.Lock()
	r, known := p.byConn[c.ConnectionID][query]
	p.mu.Unlock()
	if known && r.misses >= maxPlanMisses {
		return false, nil
	}
	var shape keyShape
	if known {
		shape = r.shape
	} else {
		stmt, ok := p.engine.PreparedDataCache.GetCachedStmt(c.ConnectionID, query)
		if !ok {
			return false, nil
		}
		if shape, ok = reusableShape(stmt); !ok {
			p.remember(c.ConnectionID, query, &reused{misses: maxPlanMisses})
			return false, nil
		}
	}
	keys, ok := shape.values(prepare.BindVars)
	if !ok {
		return false, nil // not integer parameters this time: the engine converts them
	}
	version, err := p.db.Version(ctx)
	if err != nil {
		return true, sql.CastSQLError(err)
	}
	sess := p.sessions.get(c.ConnectionID)
	if sess == nil {
		return false, nil
	}
	db := sess.GetCurrentDatabase()
	if known && r.plan != nil && r.version == version && r.db == db {
		p.sessions.clearWarnings(c.ConnectionID)
		if r.point != nil {
			p.reused.Inc()
			p.points.Inc()
			return true, r.point.answer(ctx, sess, keys[0], callback)
		}
		node, ok := r.rebind(readContext(), keys)
		if !ok {
			return false, nil // e.g. a range too wide to read by key: the engine scans
		}
		p.reused.Inc()
		return true, p.gh.ComExecuteBound(ctx, c, query, node, func(res *sqltypes.Result, _ bool) error { return callback(res) })
	}
	stmt, ok := p.engine.PreparedDataCache.GetCachedStmt(c.ConnectionID, query)
	if !ok {
		return false, nil
	}
	bound, _, err := p.gh.ComBind(ctx, c, query, stmt, prepare)
	if err != nil {
		return false, nil //nolint:nilerr // the engine runs it again and reports the error as it reports every statement's
	}
	node := bound.(sql.Node)
	next := &reused{shape: shape, misses: 1}
	if known {
		next.misses += r.misses
	}
	ita, ok := keyLookup(node, shape)
	if ok {
		next = &reused{shape: shape, version: version, db: db, plan: node, ita: ita}
	}
	p.remember(c.ConnectionID, query, next)
	pr := newPointRead(node, ita, shape)
	p.sessions.clearWarnings(c.ConnectionID)
	err = p.gh.ComExecuteBound(ctx, c, query, node, func(res *sqltypes.Result, _ bool) error {
		if pr != nil && pr.fields == nil && res != nil {
			pr.fields = res.Fields
		}
		return callback(res)
	})
	if err == nil && pr != nil && pr.fields != nil {
		next.point = pr // the connection's next execution; none runs meanwhile
	}
	return true, err
}

func (p *plans) remember(conn uint32, query string, r *reused) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byConn == nil {
		p.byConn = map[uint32]map[string]*reused{}
	}
	if p.byConn[conn] == nil {
		p.byConn[conn] = map[string]*reused{}
	}
	p.byConn[conn][query] = r
}

// forget drops a connection's plans (it closed, or ran a SET that may change how its
// statements plan).
func (p *plans) forget(conn uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byConn, conn)
}

// values are the statement's integer parameters in order; false when one is not an
// integer.
func (s keyShape) values(binds map[string]*querypb.BindVariable) ([]any, bool) {
	out := make([]any, len(s.vars))
	for i, name := range s.vars {
		bv, ok := binds[name]
		if !ok {
			return nil, false
		}
		v, err := sqltypes.BindVariableToValue(bv)
		if err != nil || !v.IsIntegral() {
			return nil, false
		}
		if v.IsSigned() {
			n, err := strconv.ParseInt(v.ToString(), 10, 64)
			if err != nil {
				return nil, false
			}
			out[i] = n
		} else {
			n, err := strconv.ParseUint(v.ToString(), 10, 64)
			if err != nil {
				return nil, false
			}
			out[i] = n
		}
	}
	return out, true
}

// rebind is r's plan with its key lookup made of keys; false when the index cannot
// serve them.
func (r *reused) rebind(ctx *sql.Context, keys []any) (sql.Node, bool) {
	idx := r.ita.Index()
	typ := idx.ColumnExpressionTypes()[0].Type
	var ranges sql.MySQLRangeCollection
	switch r.shape.op {
	case "between":
		ranges = sql.MySQLRangeCollection{{sql.MySQLRangeColumnExpr{LowerBound: sql.Below{Key: keys[0]}, UpperBound: sql.Above{Key: keys[1]}, Typ: typ}}}
	default:
		for _, k := range keys {
			ranges = append(ranges, sql.MySQLRange{sql.MySQLRangeColumnExpr{LowerBound: sql.Below{Key: k}, UpperBound: sql.Above{Key: k}, Typ: typ}})
		}
	}
	lookup := sql.IndexLookup{Index: idx, Ranges: ranges, IsPointLookup: r.shape.op == "=" && len(keys) == 1}
	ita, err := plan.NewStaticIndexedAccessForTableNode(ctx, r.ita.TableNode, lookup)
	if err != nil {
		return nil, false
	}
	node, _, err := transform.Node(r.plan, func(n sql.Node) (sql.Node, transform.TreeIdentity, error) {
		if n == sql.Node(r.ita) {
			return ita, transform.NewTree, nil
		}
		return n, transform.SameTree, nil
	})
	return node, err == nil
}

// keyLookup is the one static key lookup of an analyzed plan that reads nothing else,
// filters nothing (the lookup is the whole WHERE) and looks up the column the statement
// names.
func keyLookup(node sql.Node, shape keyShape) (*plan.IndexedTableAccess, bool) {
	var ita *plan.IndexedTableAccess
	ok := true
	transform.Inspect(node, func(n sql.Node) bool {
		switch n := n.(type) {
		case *plan.IndexedTableAccess:
			if ita != nil || !n.IsStatic() {
				ok = false
			}
			ita = n
		case *plan.ResolvedTable, *plan.Filter, *plan.TableAlias, sql.Table:
			ok = false
		}
		return ok
	})
	if !ok || ita == nil {
		return nil, false
	}
	if _, ours := ita.UnderlyingTable().(*table.IndexedTable); !ours {
		if _, ours := ita.UnderlyingTable().(*table.Table); !ours {
			return nil, false
		}
	}
	exprs := ita.Index().Expressions()
	if len(exprs) != 1 || !strings.EqualFold(exprs[0][strings.LastIndexByte(exprs[0], '.')+1:], shape.col) {
		return nil, false
	}
	if !types.IsInteger(ita.Index().ColumnExpressionTypes()[0].Type) {
		return nil, false
	}
	return ita, true
}

// aggregates are the functions a reusable statement may call: they depend on its rows
// only.
var aggregates = map[string]bool{"count": true, "sum": true, "avg": true, "min": true, "max": true}

// reusableShape is the shape of a statement whose plan can be reused: a SELECT of one
// table (no alias, no join, no subquery, no variables, no function but aggregates, no
// parameter but in the WHERE), whose WHERE is exactly one key condition on parameters.
func reusableShape(stmt sqlparser.Statement) (keyShape, bool) {
	sel, ok := stmt.(*sqlparser.Select)
	if !ok || sel.With != nil || sel.Having != nil || len(sel.Window) > 0 || sel.Lock != "" || sel.Into != nil ||
		sel.QueryOpts.SQLCalcFoundRows || len(sel.From) != 1 || sel.Where == nil || sel.Where.Type != sqlparser.WhereStr {
		return keyShape{}, false
	}
	from, ok := sel.From[0].(*sqlparser.AliasedTableExpr)
	if !ok || !from.As.IsEmpty() || from.AsOf != nil || from.Hints != nil || len(from.Partitions) > 0 || from.Lateral {
		return keyShape{}, false
	}
	if _, ok := from.Expr.(sqlparser.TableName); !ok {
		return keyShape{}, false
	}
	shape, ok := whereShape(sel.Where.Expr)
	if !ok {
		return keyShape{}, false
	}
	for _, e := range sel.SelectExprs {
		switch e := e.(type) {
		case *sqlparser.StarExpr:
		case *sqlparser.AliasedExpr:
			if !plainOrAggregate(e.Expr) {
				return keyShape{}, false
			}
		default:
			return keyShape{}, false
		}
	}
	for _, e := range sel.GroupBy {
		if !plainColumn(e) {
			return keyShape{}, false
		}
	}
	for _, o := range sel.OrderBy {
		if !plainColumn(o.Expr) {
			return keyShape{}, false
		}
	}
	if sel.Limit != nil && (!intLiteral(sel.Limit.Rowcount) || (sel.Limit.Offset != nil && !intLiteral(sel.Limit.Offset))) {
		return keyShape{}, false
	}
	shape.point = shape.op == "=" && !sel.QueryOpts.Distinct && len(sel.GroupBy) == 0 && len(sel.OrderBy) == 0 &&
		sel.Limit == nil && plainColumns(sel.SelectExprs)
	return shape, true
}

// plainColumns is a select list of unaliased columns and unqualified stars only.
func plainColumns(exprs sqlparser.SelectExprs) bool {
	for _, e := range exprs {
		switch e := e.(type) {
		case *sqlparser.StarExpr:
			if !e.TableName.IsEmpty() {
				return false
			}
		case *sqlparser.AliasedExpr:
			if !e.As.IsEmpty() || !plainColumn(e.Expr) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// whereShape is the key condition: col = ?, ? = col, col IN (?, ...), col BETWEEN ? AND ?.
func whereShape(e sqlparser.Expr) (keyShape, bool) {
	switch e := e.(type) {
	case *sqlparser.ComparisonExpr:
		if e.Escape != nil {
			return keyShape{}, false
		}
		switch e.Operator {
		case sqlparser.EqualStr:
			l, r := e.Left, e.Right
			if _, ok := l.(*sqlparser.SQLVal); ok {
				l, r = r, l
			}
			col, ok1 := l.(*sqlparser.ColName)
			v, ok2 := param(r)
			if !ok1 || !ok2 || !plainColumn(col) {
				return keyShape{}, false
			}
			return keyShape{op: "=", col: col.Name.String(), vars: []string{v}}, true
		case sqlparser.InStr:
			col, ok1 := e.Left.(*sqlparser.ColName)
			tuple, ok2 := e.Right.(sqlparser.ValTuple)
			if !ok1 || !ok2 || !plainColumn(col) || len(tuple) == 0 {
				return keyShape{}, false
			}
			s := keyShape{op: "in", col: col.Name.String()}
			for _, x := range tuple {
				v, ok := param(x)
				if !ok {
					return keyShape{}, false
				}
				s.vars = append(s.vars, v)
			}
			return s, true
		}
	case *sqlparser.RangeCond:
		col, ok := e.Left.(*sqlparser.ColName)
		lo, ok1 := param(e.From)
		hi, ok2 := param(e.To)
		if e.Operator != sqlparser.BetweenStr || !ok || !ok1 || !ok2 || !plainColumn(col) {
			return keyShape{}, false
		}
		return keyShape{op: "between", col: col.Name.String(), vars: []string{lo, hi}}, true
	}
	return keyShape{}, false
}

// param is the name of a parameter (:v1 is v1).
func param(e sqlparser.Expr) (string, bool) {
	v, ok := e.(*sqlparser.SQLVal)
	if !ok || v.Type != sqlparser.ValArg {
		return "", false
	}
	return strings.TrimPrefix(string(v.Val), ":"), true
}

// plainColumn is an unqualified column, not a variable.
func plainColumn(e sqlparser.Expr) bool {
	c, ok := e.(*sqlparser.ColName)
	return ok && c.Qualifier.IsEmpty() && c.StoredProcVal == nil && !strings.HasPrefix(c.Name.String(), "@")
}

// plainOrAggregate is a column, or an aggregate of columns (or of *).
func plainOrAggregate(e sqlparser.Expr) bool {
	if plainColumn(e) {
		return true
	}
	f, ok := e.(*sqlparser.FuncExpr)
	if !ok || !f.Qualifier.IsEmpty() || f.Over != nil || !aggregates[f.Name.Lowered()] {
		return false
	}
	for _, a := range f.Exprs {
		switch a := a.(type) {
		case *sqlparser.StarExpr:
		case *sqlparser.AliasedExpr:
			if !plainColumn(a.Expr) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func intLiteral(e sqlparser.Expr) bool {
	v, ok := e.(*sqlparser.SQLVal)
	return ok && v.Type == sqlparser.IntVal
}
