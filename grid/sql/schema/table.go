package schema

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/expression"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// Reserved keys: the table definitions, the AUTO_INCREMENT counters and the views, one
// hash each, field = table name; and the definitions' version, a counter every CREATE and
// DROP of a table or view increments after writing, which endpoints read to know when
// their cached definitions are stale. Like every key they are replicated, persisted and
// migrated with the data. Table names starting with ReservedPrefix are refused.
const (
	ReservedPrefix = "_insight"
	TablesKey      = "_insight:sql:tables"
	AutoIncKey     = "_insight:sql:autoinc"
	ViewsKey       = "_insight:sql:views"
	VersionKey     = "_insight:sql:version"
)

// EmptyRowField is the one field of the hash of a row whose non-key columns are all
// NULL: a hash cannot be empty, and a column name cannot be empty.
const EmptyRowField = ""

// Table is one table's definition.
type Table struct {
	Name    string
	Schema  sql.PrimaryKeySchema
	PK      int // ordinal of the primary key column: the key part of the row's hash name
	Comment string
}

// stored is a table's definition as the grid holds it (JSON).
type stored struct {
	Columns []storedColumn `json:"columns"`
	Comment string         `json:"comment,omitempty"`
}

type storedColumn struct {
	Name          string  `json:"name"`
	Type          string  `json:"type"` // as MySQL prints it, e.g. varchar(20)
	Nullable      bool    `json:"nullable"`
	PrimaryKey    bool    `json:"primaryKey,omitempty"`
	AutoIncrement bool    `json:"autoIncrement,omitempty"`
	Default       *string `json:"default,omitempty"` // the literal default's text (Encode)
	Comment       string  `json:"comment,omitempty"`
}

// CheckName refuses a table name the layout cannot hold: empty, with a colon (the
// separator of <table>:<key>), or reserved.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("table name is empty")
	case strings.Contains(name, ":"):
		return fmt.Errorf("table name %q: a colon separates the table from the key in row names <table>:<key>; use a name without one", name)
	case strings.HasPrefix(strings.ToLower(name), ReservedPrefix):
		return fmt.Errorf("table name %q: names starting with %s are reserved for the grid's own keys", name, ReservedPrefix)
	}
	return nil
}

// New checks a CREATE TABLE's definition and makes the table: one primary key column
// (the key part of <table>:<key>), literal defaults only, no spatial types.
func New(ctx *sql.Context, name string, s sql.PrimaryKeySchema, comment string) (*Table, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if len(s.PkOrdinals) != 1 {
		return nil, fmt.Errorf("table %s: the primary key must be exactly one column (the key part of each row's hash name %s:<key>), got %d", name, name, len(s.PkOrdinals))
	}
	for _, c := range s.Schema {
		if types.IsGeometry(c.Type) {
			return nil, fmt.Errorf("table %s, column %s: type %s is not supported (a row's hash holds text)", name, c.Name, c.Type)
		}
		if c.Default != nil && !c.Default.IsLiteral() {
			return nil, fmt.Errorf("table %s, column %s: only literal defaults are supported, got %s", name, c.Name, c.Default)
		}
		if c.Generated != nil || c.OnUpdate != nil {
			return nil, fmt.Errorf("table %s, column %s: generated columns and ON UPDATE are not supported", name, c.Name)
		}
	}
	t := &Table{Name: name, Schema: s, PK: s.PkOrdinals[0], Comment: comment}
	for i := range t.Schema.Schema {
		c := *t.Schema.Schema[i]
		c.Source = name
		t.Schema.Schema[i] = &c
	}
	return t, nil
}

// Marshal is the definition's JSON as stored in the field Name of TablesKey.
func (t *Table) Marshal(ctx *sql.Context) (string, error) {
	st := stored{Comment: t.Comment}
	for _, c := range t.Schema.Schema {
		sc := storedColumn{Name: c.Name, Type: c.Type.String(), Nullable: c.Nullable, PrimaryKey: c.PrimaryKey, AutoIncrement: c.AutoIncrement, Comment: c.Comment}
		if c.Default != nil {
			v, err := c.Default.Eval(ctx, nil)
			if err != nil {
				return "", fmt.Errorf("column %s: evaluating its default: %w", c.Name, err)
			}
			if v != nil {
				text, err := Encode(ctx, c.Type, v)
				if err != nil {
					return "", fmt.Errorf("column %s: %w", c.Name, err)
				}
				sc.Default = &text
			}
		}
		st.Columns = append(st.Columns, sc)
	}
	b, err := json.Marshal(st)
	return string(b), err
}

// Unmarshal is table name's definition from its stored JSON.
func Unmarshal(name, raw string) (*Table, error) {
	var st stored
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, fmt.Errorf("table %s: reading its definition in %s: %w", name, TablesKey, err)
	}
	ctx := emptyContext()
	var s sql.Schema
	for _, sc := range st.Columns {
		typ, err := ParseType(sc.Type)
		if err != nil {
			return nil, fmt.Errorf("table %s, column %s: %w", name, sc.Name, err)
		}
		c := &sql.Column{Name: sc.Name, Type: typ, Nullable: sc.Nullable, PrimaryKey: sc.PrimaryKey, AutoIncrement: sc.AutoIncrement, Comment: sc.Comment, Source: name}
		if sc.Default != nil {
			v, err := Decode(ctx, typ, *sc.Default)
			if err != nil {
				return nil, fmt.Errorf("table %s, column %s: default %q: %w", name, sc.Name, *sc.Default, err)
			}
			def, err := sql.NewColumnDefaultValue(expression.NewLiteral(v, typ), typ, true, false, sc.Nullable)
			if err != nil {
				return nil, fmt.Errorf("table %s, column %s: default %q: %w", name, sc.Name, *sc.Default, err)
			}
			c.Default = def
		}
		s = append(s, c)
	}
	t, err := New(ctx, name, sql.NewPrimaryKeySchema(s, pkOrdinals(s)...), st.Comment)
	if err != nil {
		return nil, fmt.Errorf("the definition stored in %s: %w", TablesKey, err)
	}
	return t, nil
}

func pkOrdinals(s sql.Schema) []int {
	var out []int
	for i, c := range s {
		if c.PrimaryKey {
			out = append(out, i)
		}
	}
	return out
}

// ParseType is the type MySQL prints as s (e.g. "varchar(20) COLLATE utf8mb4_0900_bin").
func ParseType(s string) (sql.Type, error) {
	stmt, err := sqlparser.Parse("CREATE TABLE t (c " + s + ")")
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	ddl, ok := stmt.(*sqlparser.DDL)
	if !ok || ddl.TableSpec == nil || len(ddl.TableSpec.Columns) != 1 {
		return nil, fmt.Errorf("type %q: not a column type", s)
	}
	typ, err := types.ColumnTypeToType(&ddl.TableSpec.Columns[0].Type)
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	return typ, nil
}

// KeyPrefix is the prefix of every row's hash name: "<table>:".
func (t *Table) KeyPrefix() string { return t.Name + ":" }

// Key is the hash name of the row whose primary key is v (of the key column's type).
func (t *Table) Key(ctx *sql.Context, v any) (string, error) {
	text, err := Encode(ctx, t.Schema.Schema[t.PK].Type, v)
	if err != nil {
		return "", err
	}
	return t.KeyPrefix() + text, nil
}

// ScanPattern is the SCAN MATCH pattern of the table's rows, glob characters of the
// name escaped.
func (t *Table) ScanPattern() string {
	var b strings.Builder
	for _, r := range t.Name {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String() + ":*"
}
