package table

import (
	"context"
	"fmt"
	"sync"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// flushBatch is how many row writes go in one pipeline.
const flushBatch = 500

// txWorkers is how many rows needing MULTI/EXEC (two commands on one hash) are written
// at once.
const txWorkers = 16

// write is one row's change: the commands on its hash. One command is atomic by
// itself; more go in MULTI/EXEC, so every row changes as a whole.
type write struct {
	key  string
	del  bool              // DEL the hash
	set  map[string]string // HSET fields
	hdel []string          // HDEL fields
}

func (w write) commands() int {
	n := 0
	if w.del {
		n++
	}
	if len(w.set) > 0 {
		n++
	}
	if len(w.hdel) > 0 {
		n++
	}
	return n
}

func (w write) queue(ctx context.Context, p redis.Pipeliner) {
	if w.del {
		p.Del(ctx, w.key)
	}
	if len(w.set) > 0 {
		args := make([]any, 0, 2*len(w.set))
		for f, v := range w.set {
			args = append(args, f, v)
		}
		p.HSet(ctx, w.key, args...)
	}
	if len(w.hdel) > 0 {
		p.HDel(ctx, w.key, w.hdel...)
	}
}

// editor is INSERT, UPDATE, DELETE and REPLACE on one table. Changes are kept until the
// statement completes, then written: a statement that fails before its end writes
// nothing, and rows a statement writes are never read back by its own scan.
type editor struct {
	t       *Table
	replace bool
	writes  []write
	pending map[string]sql.Row // rows this statement wrote (nil: deleted), by key
}

var _ sql.TableEditor = (*editor)(nil)

func (t *Table) newEditor(replace bool) *editor {
	return &editor{t: t, replace: replace, pending: map[string]sql.Row{}}
}

// Inserter implements sql.InsertableTable.
func (t *Table) Inserter(*sql.Context) sql.RowInserter { return t.newEditor(false) }

// Replacer implements sql.ReplaceableTable.
func (t *Table) Replacer(*sql.Context) sql.RowReplacer { return t.newEditor(true) }

// Updater implements sql.UpdatableTable.
func (t *Table) Updater(*sql.Context) sql.RowUpdater { return t.newEditor(false) }

// Truncate implements sql.TruncateableTable (TRUNCATE, and DELETE without WHERE): every
// row's hash is deleted, primary by primary; the AUTO_INCREMENT counter stays.
func (t *Table) Truncate(ctx *sql.Context) (int, error) {
	return deleteRows(ctx, t.rdb(), t.db.nodes, t.def, false)
}

// Deleter implements sql.DeletableTable.
func (t *Table) Deleter(*sql.Context) sql.RowDeleter { return t.newEditor(false) }

func (e *editor) StatementBegin(*sql.Context) {
	e.writes, e.pending = nil, map[string]sql.Row{}
}

func (e *editor) DiscardChanges(*sql.Context, error) error {
	e.writes, e.pending = nil, map[string]sql.Row{}
	return nil
}

func (e *editor) StatementComplete(ctx *sql.Context) error { return e.flush(ctx) }

func (e *editor) Close(ctx *sql.Context) error { return e.flush(ctx) }

func (e *editor) key(ctx *sql.Context, row sql.Row) (string, error) {
	v := row[e.t.def.PK]
	if v == nil {
		return "", fmt.Errorf("table %s: the primary key %s cannot be NULL", e.t.def.Name, e.t.def.Schema.Schema[e.t.def.PK].Name)
	}
	return e.t.def.Key(ctx, v)
}

// existing is the row at key now: this statement's write if any, else the grid's.
func (e *editor) existing(ctx *sql.Context, key string) (sql.Row, error) {
	if row, ok := e.pending[key]; ok {
		return row, nil
	}
	full := &Table{db: e.t.db, def: e.t.def}
	rows, err := fetchRows(ctx, e.t.rdb(), []string{key}, full.fetchFields())
	if err != nil {
		return nil, fmt.Errorf("table %s: reading row %s: %w", e.t.def.Name, key, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return full.toRow(ctx, rows[0]), nil
}

// fields are row's non-key columns as hash fields: the non-NULL ones to set, the NULL
// ones to delete. A row whose non-key columns are all NULL is the one field
// schema.EmptyRowField.
func (e *editor) fields(ctx *sql.Context, row sql.Row) (map[string]string, []string, error) {
	set := map[string]string{}
	var null []string
	for i, col := range e.t.def.Schema.Schema {
		if i == e.t.def.PK {
			continue
		}
		if row[i] == nil {
			null = append(null, col.Name)
			continue
		}
		text, err := schema.Encode(ctx, col.Type, row[i])
		if err != nil {
			return nil, nil, fmt.Errorf("table %s, column %s: %w", e.t.def.Name, col.Name, err)
		}
		set[col.Name] = text
	}
	if len(set) == 0 {
		set[schema.EmptyRowField] = ""
	} else {
		null = append(null, schema.EmptyRowField)
	}
	return set, null, nil
}

// Insert implements sql.RowInserter. An existing key is ER_DUP_ENTRY (or, for REPLACE
// and INSERT ... ON DUPLICATE KEY UPDATE, the engine's cue to replace or update it).
func (e *editor) Insert(ctx *sql.Context, row sql.Row) error {
	key, err := e.key(ctx, row)
	if err != nil {
		return err
	}
	set, null, err := e.fields(ctx, row)
	if err != nil {
		return err
	}
	if e.replace {
		e.writes = append(e.writes, write{key: key, set: set, hdel: null})
		e.pending[key] = row
		return nil
	}
	old, err := e.existing(ctx, key)
	if err != nil {
		return err
	}
	if old != nil {
		return sql.NewUniqueKeyErr(fmt.Sprintf("[%v]", row[e.t.def.PK]), true, old)
	}
	// The row is absent: its fields alone are the whole hash.
	e.writes = append(e.writes, write{key: key, set: set})
	e.pending[key] = row
	return nil
}

// Update implements sql.RowUpdater: the changed fields only, so fields other clients
// keep in the hash stay; a new primary key moves the row to its new hash.
func (e *editor) Update(ctx *sql.Context, old, row sql.Row) error {
	oldKey, err := e.key(ctx, old)
	if err != nil {
		return err
	}
	key, err := e.key(ctx, row)
	if err != nil {
		return err
	}
	set, null, err := e.fields(ctx, row)
	if err != nil {
		return err
	}
	if key != oldKey {
		cur, err := e.existing(ctx, key)
		if err != nil {
			return err
		}
		if cur != nil {
			return sql.NewUniqueKeyErr(fmt.Sprintf("[%v]", row[e.t.def.PK]), true, cur)
		}
		e.writes = append(e.writes, write{key: oldKey, del: true}, write{key: key, set: set})
		e.pending[oldKey], e.pending[key] = nil, row
		return nil
	}
	changed := map[string]string{}
	var cleared []string
	cols := e.t.def.Schema.Schema
	for f, v := range set {
		if i := cols.IndexOfColName(f); i < 0 || !equalValues(ctx, cols[i].Type, old[i], row[i]) {
			changed[f] = v // or the empty-row field, when the new row's columns are all NULL
		}
	}
	for _, f := range null {
		if f == schema.EmptyRowField {
			if e.allNull(old) {
				cleared = append(cleared, f) // the old row was the empty-row field alone
			}
		} else if i := cols.IndexOfColName(f); i >= 0 && old[i] != nil {
			cleared = append(cleared, f)
		}
	}
	e.writes = append(e.writes, write{key: key, set: changed, hdel: cleared})
	e.pending[key] = row
	return nil
}

// allNull reports whether row's non-key columns are all NULL.
func (e *editor) allNull(row sql.Row) bool {
	for i, v := range row {
		if i != e.t.def.PK && v != nil {
			return false
		}
	}
	return true
}

func equalValues(ctx *sql.Context, typ sql.Type, a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	c, err := typ.Compare(ctx, a, b)
	return err == nil && c == 0
}

// Delete implements sql.RowDeleter.
func (e *editor) Delete(ctx *sql.Context, row sql.Row) error {
	key, err := e.key(ctx, row)
	if err != nil {
		return err
	}
	e.writes = append(e.writes, write{key: key, del: true})
	e.pending[key] = nil
	return nil
}

// flush writes the statement's changes in order: one-command writes pipelined (the
// cluster client sends each to its key's primary), the others each in MULTI/EXEC.
// Writes to one key keep their order: a batch is cut before a key seen in it again.
func (e *editor) flush(ctx *sql.Context) error {
	writes := e.writes
	e.writes, e.pending = nil, map[string]sql.Row{}
	for len(writes) > 0 {
		n, seen := 0, map[string]bool{}
		for n < len(writes) && n < flushBatch && !seen[writes[n].key] {
			seen[writes[n].key] = true
			n++
		}
		if err := e.writeBatch(ctx, writes[:n]); err != nil {
			return fmt.Errorf("table %s: writing rows: %w", e.t.def.Name, err)
		}
		writes = writes[n:]
	}
	return nil
}

// writeBatch writes rows of distinct keys.
func (e *editor) writeBatch(ctx context.Context, ws []write) error {
	var single, multi []write
	for _, w := range ws {
		if w.commands() > 1 {
			multi = append(multi, w)
		} else if w.commands() == 1 {
			single = append(single, w)
		}
	}
	if len(single) > 0 {
		if _, err := e.t.rdb().Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, w := range single {
				w.queue(ctx, p)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if len(multi) == 0 {
		return nil
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, txWorkers)
	for _, w := range multi {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, err := e.t.rdb().TxPipelined(ctx, func(p redis.Pipeliner) error {
				w.queue(ctx, p)
				return nil
			})
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("row %s: %w", w.key, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
