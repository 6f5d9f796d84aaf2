package table

import (
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// Table is one table: its rows are the hashes <name>:<key>.
type Table struct {
	db   *Database
	def  *schema.Table
	cols []int // projected column ordinals; nil: every column
}

var (
	_ sql.Table                 = (*Table)(nil)
	_ sql.ProjectedTable        = (*Table)(nil)
	_ sql.IndexAddressableTable = (*Table)(nil)
	_ sql.PrimaryKeyTable       = (*Table)(nil)
	_ sql.InsertableTable       = (*Table)(nil)
	_ sql.UpdatableTable        = (*Table)(nil)
	_ sql.DeletableTable        = (*Table)(nil)
	_ sql.ReplaceableTable      = (*Table)(nil)
	_ sql.TruncateableTable     = (*Table)(nil)
	_ sql.IndexAlterableTable   = (*Table)(nil)
	_ sql.AutoIncrementTable    = (*Table)(nil)
)

func (t *Table) rdb() *redis.ClusterClient { return t.db.rdb }

// Name implements sql.Table.
func (t *Table) Name() string { return t.def.Name }

// String implements sql.Table.
func (t *Table) String() string { return t.def.Name }

// Comment implements sql.CommentedTable.
func (t *Table) Comment() string { return t.def.Comment }

// Collation implements sql.Table.
func (t *Table) Collation() sql.CollationID { return sql.Collation_Default }

// PrimaryKeySchema implements sql.PrimaryKeyTable.
func (t *Table) PrimaryKeySchema() sql.PrimaryKeySchema { return t.def.Schema }

// Schema implements sql.Table: the projected columns only, once projected.
func (t *Table) Schema() sql.Schema {
	if t.cols == nil {
		return t.def.Schema.Schema
	}
	out := make(sql.Schema, len(t.cols))
	for i, c := range t.cols {
		out[i] = t.def.Schema.Schema[c]
	}
	return out
}

// columns are the ordinals of the columns rows carry.
func (t *Table) columns() []int {
	if t.cols != nil {
		return t.cols
	}
	all := make([]int, len(t.def.Schema.Schema))
	for i := range all {
		all[i] = i
	}
	return all
}

// WithProjections implements sql.ProjectedTable.
func (t *Table) WithProjections(names []string) sql.Table {
	nt := *t
	nt.cols = make([]int, 0, len(names))
	for _, n := range names {
		if i := t.def.Schema.IndexOfColName(n); i >= 0 {
			nt.cols = append(nt.cols, i)
		}
	}
	return &nt
}

// Projections implements sql.ProjectedTable.
func (t *Table) Projections() []string {
	if t.cols == nil {
		return nil
	}
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = t.def.Schema.Schema[c].Name
	}
	return out
}

// Partitions implements sql.Table: one partition, the whole table, which PartitionRows
// scans on every primary at once (the engine reads partitions one after another).
func (t *Table) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return &partitionIter{parts: []sql.Partition{scanPartition{}}}, nil
}

// PartitionRows implements sql.Table.
func (t *Table) PartitionRows(ctx *sql.Context, p sql.Partition) (sql.RowIter, error) {
	switch p := p.(type) {
	case scanPartition:
		return t.scan(ctx)
	case keysPartition:
		return t.lookupKeys(ctx, p.keys)
	}
	return nil, fmt.Errorf("table %s: unknown partition %T", t.def.Name, p)
}

// GetIndexes implements sql.IndexAddressable: the primary key.
func (t *Table) GetIndexes(*sql.Context) ([]sql.Index, error) {
	return []sql.Index{&primaryIndex{def: t.def}}, nil
}

// IndexedAccess implements sql.IndexAddressable.
func (t *Table) IndexedAccess(_ *sql.Context, lookup sql.IndexLookup) sql.IndexedTable {
	return &IndexedTable{Table: t, lookup: lookup}
}

// PreciseMatch implements sql.IndexAddressable: a lookup returns exactly the rows of
// the keys it names.
func (t *Table) PreciseMatch() bool { return true }

// CreateIndex implements sql.IndexAlterableTable: accepted and ignored with a warning,
// so schemas written for MySQL (sysbench's CREATE INDEX k_1) load; filters on the
// columns still scan.
func (t *Table) CreateIndex(ctx *sql.Context, def sql.IndexDef) error {
	if def.IsPrimary() {
		return fmt.Errorf("table %s: the primary key is fixed when the table is created (it is the key part of %s<key>)", t.def.Name, t.def.KeyPrefix())
	}
	cols := make([]string, len(def.Columns))
	for i, c := range def.Columns {
		cols[i] = c.Name
	}
	ctx.Warn(1105, "index %s on %s(%s) accepted and ignored: the SQL endpoint has no secondary indexes, so filters on these columns scan the table", def.Name, t.def.Name, strings.Join(cols, ", "))
	return nil
}

// DropIndex implements sql.IndexAlterableTable: secondary indexes are never kept, so
// dropping one is accepted (with a warning) like creating it.
func (t *Table) DropIndex(ctx *sql.Context, name string) error {
	if strings.EqualFold(name, "PRIMARY") {
		return fmt.Errorf("table %s: the primary key cannot be dropped (it is the key part of %s<key>)", t.def.Name, t.def.KeyPrefix())
	}
	ctx.Warn(1105, "index %s on %s: nothing to drop, the SQL endpoint keeps no secondary indexes", name, t.def.Name)
	return nil
}

// RenameIndex implements sql.IndexAlterableTable.
func (t *Table) RenameIndex(ctx *sql.Context, from, to string) error {
	return t.DropIndex(ctx, from)
}

// IndexedTable is a table read through primary-key lookups.
type IndexedTable struct {
	*Table
	lookup sql.IndexLookup
}

var _ sql.IndexedTable = (*IndexedTable)(nil)

// WithProjections implements sql.ProjectedTable, keeping the lookup.
func (it *IndexedTable) WithProjections(names []string) sql.Table {
	return &IndexedTable{Table: it.Table.WithProjections(names).(*Table), lookup: it.lookup}
}

// LookupPartitions implements sql.IndexedTable: one partition with the keys of the
// lookup's points.
func (it *IndexedTable) LookupPartitions(ctx *sql.Context, lookup sql.IndexLookup) (sql.PartitionIter, error) {
	keys, err := lookupKeys(ctx, it.def, lookup)
	if err != nil {
		return nil, err
	}
	return &partitionIter{parts: []sql.Partition{keysPartition{keys: keys}}}, nil
}

// scanPartition is the whole table.
type scanPartition struct{}

func (scanPartition) Key() []byte { return []byte("scan") }

// keysPartition is the rows of some keys.
type keysPartition struct{ keys []string }

func (keysPartition) Key() []byte { return []byte("keys") }

type partitionIter struct {
	parts []sql.Partition
}

func (p *partitionIter) Next(*sql.Context) (sql.Partition, error) {
	if len(p.parts) == 0 {
		return nil, errEOF
	}
	next := p.parts[0]
	p.parts = p.parts[1:]
	return next, nil
}

func (p *partitionIter) Close(*sql.Context) error { return nil }
