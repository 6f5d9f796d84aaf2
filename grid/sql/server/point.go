package server

import (
	"context"

	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/go-mysql-server/sql/transform"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"

	"github.com/insightgrid/insight/grid/sql/table"
)

// pointRead answers a prepared point select of plain columns (`SELECT c FROM t WHERE id
// = ?`) without the engine: the row's HMGET at its primary (table.Point), converted by
// the declared types, sent with the result's column definitions as the engine sent them
// on the statement's first execution. It bypasses the engine's binding, analysis,
// execution goroutines and process list; what the engine does around a SELECT's result
// that a client can see is done here too: the session's warnings (cleared by the
// caller, one per value that does not convert), ROW_COUNT() -1 and FOUND_ROWS(). The
// caller uses it only while the plan it was made from is valid (the definitions'
// version, the session's database, no SET since).
type pointRead struct {
	read   *table.Point
	sch    sql.Schema       // the result's columns, as the plan has them
	fields []*querypb.Field // the result's column definitions as the engine sent them; nil: not yet
}

// newPointRead is the pointRead of an analyzed plan, or nil when the statement is not a
// point select of plain columns or the plan is more than a projection of columns over
// its key lookup ita.
func newPointRead(node sql.Node, ita *plan.IndexedTableAccess, shape keyShape) *pointRead {
	if !shape.point || ita == nil || len(shape.vars) != 1 {
		return nil
	}
	ok := true
	transform.Inspect(node, func(n sql.Node) bool {
		switch n := n.(type) {
		case nil, *plan.IndexedTableAccess: // Inspect ends each node's children with nil
		case *plan.Project:
			for _, e := range n.Projections {
				if _, col := e.(*expression.GetField); !col {
					ok = false
				}
			}
		default:
			ok = false
		}
		return ok
	})
	if !ok {
		return nil
	}
	sch := node.Schema()
	read, ok := table.NewPoint(ita.UnderlyingTable(), sch)
	if !ok {
		return nil
	}
	return &pointRead{read: read, sch: sch}
}

// answer reads the row of key and sends it (or no row) to callback.
func (pr *pointRead) answer(ctx context.Context, sess sql.Session, key any, callback func(*sqltypes.Result) error) error {
	sctx := sql.NewContext(ctx, sql.WithSession(sess))
	row, err := pr.read.Read(sctx, key)
	if err != nil {
		return sql.CastSQLError(err)
	}
	res := &sqltypes.Result{Fields: pr.fields}
	if row != nil {
		vals, err := gms.RowToSQL(sctx, pr.sch, row, nil, nil)
		if err != nil {
			return sql.CastSQLError(err)
		}
		res.Rows = [][]sqltypes.Value{vals}
		res.RowsAffected = 1
	}
	sess.SetLastQueryInfoInt(sql.RowCount, -1)
	sess.SetLastQueryInfoInt(sql.FoundRows, int64(len(res.Rows)))
	return callback(res)
}
