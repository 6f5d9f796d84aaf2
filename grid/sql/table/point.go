package table

import (
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
)

// Point reads some columns of one table's row by its primary key, outside the engine:
// the SQL endpoint's fast path for a prepared `SELECT <columns> FROM <table> WHERE <pk>
// = ?`. It reads and converts exactly as the engine's key lookup does (one HMGET of the
// needed fields at the owning primary, in the shared batches; a value that does not
// convert is NULL and a warning).
type Point struct {
	t      *Table   // projected on the statement's columns, in the statement's order
	fields []string // the hash fields those columns need
}

// NewPoint is the point read of the columns sch names, in that order, from tbl (the
// table under an analyzed plan's key lookup); false when tbl is not one of the grid's
// tables or a column of sch is not one of tbl's columns.
func NewPoint(tbl sql.Table, sch sql.Schema) (*Point, bool) {
	var t *Table
	switch tt := tbl.(type) {
	case *Table:
		t = tt
	case *IndexedTable:
		t = tt.Table
	default:
		return nil, false
	}
	cols := make([]int, len(sch))
	for i, c := range sch {
		cols[i] = t.def.Schema.IndexOfColName(c.Name)
		if cols[i] < 0 || !strings.EqualFold(c.Source, t.def.Name) || !c.Type.Equals(t.def.Schema.Schema[cols[i]].Type) {
			return nil, false
		}
	}
	pt := &Table{db: t.db, def: t.def, cols: cols}
	return &Point{t: pt, fields: pt.fetchFields()}, true
}

// Table is the name of the table p reads.
func (p *Point) Table() string { return p.t.def.Name }

// Read is the row whose primary key is key (converted to the key column's type; a key
// that does not convert names no row), or nil when there is none. Warnings go to ctx's
// session.
func (p *Point) Read(ctx *sql.Context, key any) (sql.Row, error) {
	def := p.t.def
	typ := def.Schema.Schema[def.PK].Type
	cv, inRange, err := typ.Convert(ctx, key)
	if err != nil || inRange != sql.InRange {
		return nil, nil //nolint:nilerr // no row can have this key, as for the engine's lookup
	}
	k, err := def.Key(ctx, cv)
	if err != nil {
		return nil, fmt.Errorf("table %s: the key %v: %w", def.Name, key, err)
	}
	rows, err := fetchRows(ctx, batchedCluster{p.t.rdb(), p.t.db.points}, []string{k}, p.fields)
	if err != nil {
		return nil, fmt.Errorf("table %s: reading the row %s: %w", def.Name, k, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return p.t.toRow(ctx, rows[0]), nil
}
