package server

import (
	"context"

	gms "github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// explainer runs EXPLAIN statements (EXPLAIN, EXPLAIN PLAN, EXPLAIN FORMAT=..., EXPLAIN
// ANALYZE; not DESCRIBE of a table) itself, where go-mysql-server v0.20.0 runs them
// wrongly:
//   - it plans the statement explained with the statement's flags, so a SELECT by one
//     primary key (`WHERE id = 1`: at most one row) makes the EXPLAIN's result "at most
//     one row" too, and EXPLAIN PLAN's lines (one row each) fail with error 1105 "result
//     max1Row iterator returned more than one row". Planned and bound here, as a prepared
//     statement is, the EXPLAIN runs with no such flag.
//   - its EXPLAIN row is a placeholder with the text "NULL" in the columns it does not
//     fill, the BIGINT UNSIGNED rows and DOUBLE filtered among them, which a client that
//     reads them as numbers (MariaDB Connector/J) fails on: those become SQL NULLs.
type explainer struct {
	gh       *gms.Handler
	sessions *sessions
}

// explain runs query when it is one EXPLAIN statement; done is false when it is not
// (the caller then runs it as usual).
func (e *explainer) explain(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData, callback mysql.ResultSpoolFn) (done bool, err error) {
	if e == nil {
		return false, nil
	}
	switch firstWord(query) {
	case "explain", "describe", "desc":
	default:
		return false, nil
	}
	stmt, rest, err := sqlparser.ParseOne(ctx, query)
	if err != nil || rest < len(query) && sql.RemoveSpaceAndDelimiter(query[rest:], ';') != "" {
		return false, nil //nolint:nilerr // not one statement: the engine runs it and reports its errors as usual
	}
	if _, ok := stmt.(*sqlparser.Explain); !ok {
		return false, nil
	}
	if prepare == nil {
		prepare = &mysql.PrepareData{}
	}
	// A bound statement's execution keeps the session's warnings; a statement's start
	// clears them, as the engine's own execution does.
	e.sessions.clearWarnings(c.ConnectionID)
	bound, _, err := e.gh.ComBind(ctx, c, query, stmt, prepare)
	if err != nil {
		return true, sql.CastSQLError(err)
	}
	return true, e.gh.ComExecuteBound(ctx, c, query, bound, func(res *sqltypes.Result, more bool) error {
		nullPlaceholders(res)
		return callback(res, more)
	})
}

// nullPlaceholders makes the text "NULL" a SQL NULL in the columns of an EXPLAIN row
// the engine leaves unfilled (table through filtered).
func nullPlaceholders(res *sqltypes.Result) {
	if res == nil || len(res.Fields) != len(plan.DescribeSchema) {
		return
	}
	for i, col := range plan.DescribeSchema {
		if res.Fields[i].Name != col.Name {
			return
		}
	}
	for _, row := range res.Rows {
		for i := 2; i <= 10 && i < len(row); i++ {
			if !row[i].IsNull() && row[i].ToString() == "NULL" {
				row[i] = sqltypes.NULL
			}
		}
	}
}
