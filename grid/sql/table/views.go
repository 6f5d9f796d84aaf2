package table

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// Views are stored like tables: one field per view of the hash schema.ViewsKey, its
// value the JSON of the view's definition.

var _ sql.ViewDatabase = (*Database)(nil)

type storedView struct {
	Text    string `json:"text"`
	Create  string `json:"create"`
	SQLMode string `json:"sqlMode,omitempty"`
}

// CreateView implements sql.ViewDatabase.
func (d *Database) CreateView(ctx *sql.Context, name, selectStatement, createViewStmt string) error {
	if err := schema.CheckName(name); err != nil {
		return err
	}
	b, err := json.Marshal(storedView{Text: selectStatement, Create: createViewStmt, SQLMode: sql.LoadSqlMode(ctx).String()})
	if err != nil {
		return err
	}
	set, err := d.rdb.HSetNX(ctx, schema.ViewsKey, strings.ToLower(name), string(b)).Result()
	if err != nil {
		return fmt.Errorf("writing view %s's definition to the grid: %w", name, err)
	}
	if !set {
		return sql.ErrExistingView.New(DatabaseName, name)
	}
	return d.cat.changed(ctx, "view "+name)
}

// DropView implements sql.ViewDatabase.
func (d *Database) DropView(ctx *sql.Context, name string) error {
	n, err := d.rdb.HDel(ctx, schema.ViewsKey, strings.ToLower(name)).Result()
	if err != nil {
		return fmt.Errorf("deleting view %s's definition: %w", name, err)
	}
	if n == 0 {
		return sql.ErrViewDoesNotExist.New(DatabaseName, name)
	}
	return d.cat.changed(ctx, "the drop of view "+name)
}

// GetViewDefinition implements sql.ViewDatabase.
func (d *Database) GetViewDefinition(ctx *sql.Context, name string) (sql.ViewDefinition, bool, error) {
	cat, err := d.cat.get(ctx)
	if err != nil {
		return sql.ViewDefinition{}, false, err
	}
	raw, ok := cat.views[strings.ToLower(name)]
	if !ok {
		return sql.ViewDefinition{}, false, nil
	}
	v, err := viewDefinition(strings.ToLower(name), raw)
	return v, err == nil, err
}

// AllViews implements sql.ViewDatabase.
func (d *Database) AllViews(ctx *sql.Context) ([]sql.ViewDefinition, error) {
	cat, err := d.cat.get(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]sql.ViewDefinition, 0, len(cat.views))
	for name, raw := range cat.views {
		v, err := viewDefinition(name, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func viewDefinition(name, raw string) (sql.ViewDefinition, error) {
	var sv storedView
	if err := json.Unmarshal([]byte(raw), &sv); err != nil {
		return sql.ViewDefinition{}, fmt.Errorf("view %s: reading its definition in %s: %w", name, schema.ViewsKey, err)
	}
	return sql.ViewDefinition{Name: name, TextDefinition: sv.Text, CreateViewStatement: sv.Create, SqlMode: sv.SQLMode}, nil
}
