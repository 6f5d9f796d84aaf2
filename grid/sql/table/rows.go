package table

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"

	"github.com/insightgrid/insight/grid/sql/schema"
)

var errEOF = io.EOF

// rawRow is a row as the grid gives it: its hash name and the values (string or nil)
// of the fetched fields, in fetchFields order.
type rawRow struct {
	key  string
	vals []any
}

// fetchFields are the hash fields the projected columns need: every projected column
// but the key column, whose value is the hash name's suffix.
func (t *Table) fetchFields() []string {
	var out []string
	for _, c := range t.columns() {
		if c != t.def.PK {
			out = append(out, t.def.Schema.Schema[c].Name)
		}
	}
	return out
}

// toRow converts r by the declared types. A value that does not convert is NULL and a
// warning (SHOW WARNINGS), never an error hiding the other rows.
func (t *Table) toRow(ctx *sql.Context, r rawRow) sql.Row {
	row, warns := t.convert(ctx, t.columns(), r)
	for _, w := range warns {
		ctx.Warn(1366, "%s", w)
	}
	return row
}

// convert is toRow of the columns cols (t.columns()) with the warnings returned instead
// of given to the session, for the scanners, which convert their pages concurrently (a
// session takes warnings from one goroutine at a time).
func (t *Table) convert(ctx *sql.Context, cols []int, r rawRow) (sql.Row, []string) {
	row := make(sql.Row, len(cols))
	var warns []string
	j := 0
	for i, c := range cols {
		col := t.def.Schema.Schema[c]
		var text string
		if c == t.def.PK {
			text = strings.TrimPrefix(r.key, t.def.KeyPrefix())
		} else {
			v := r.vals[j]
			j++
			s, ok := v.(string)
			if !ok {
				continue // NULL: the field is absent
			}
			text = s
		}
		v, err := schema.Decode(ctx, col.Type, text)
		if err != nil {
			warns = append(warns, fmt.Sprintf("Incorrect %s value: '%s' for column '%s' in row %s: %s; read as NULL", schema.TypeName(col.Type), text, col.Name, r.key, shortErr(err)))
			continue
		}
		row[i] = v
	}
	return row, warns
}

// pureConversions is whether every column rows carry converts without the session
// (numbers, decimals, strings, binary strings: schema.Decode reads nothing of it), so
// the scanners may convert rows in their goroutines.
func (t *Table) pureConversions() bool {
	for _, c := range t.columns() {
		typ := t.def.Schema.Schema[c].Type
		if !types.IsInteger(typ) && !types.IsFloat(typ) && !types.IsDecimal(typ) && !types.IsTextOnly(typ) && !types.IsBinaryType(typ) {
			return false
		}
	}
	return true
}

func shortErr(err error) string {
	var ne interface{ Unwrap() error }
	if errors.As(err, &ne) && ne.Unwrap() != nil {
		return ne.Unwrap().Error()
	}
	return err.Error()
}

// sliceIter is rows already read.
type sliceIter struct {
	t    *Table
	rows []rawRow
}

func (s *sliceIter) Next(ctx *sql.Context) (sql.Row, error) {
	if len(s.rows) == 0 {
		return nil, io.EOF
	}
	r := s.rows[0]
	s.rows = s.rows[1:]
	return s.t.toRow(ctx, r), nil
}

func (s *sliceIter) Close(*sql.Context) error { return nil }
