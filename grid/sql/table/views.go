package table

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/redis/go-redis/v9"

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
	return nil
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
	return nil
}

// GetViewDefinition implements sql.ViewDatabase.
func (d *Database) GetViewDefinition(ctx *sql.Context, name string) (sql.ViewDefinition, bool, error) {
	raw, err := d.rdb.HGet(ctx, schema.ViewsKey, strings.ToLower(name)).Result()
	if errors.Is(err, redis.Nil) {
		return sql.ViewDefinition{}, false, nil
	}
	if err != nil {
		return sql.ViewDefinition{}, false, fmt.Errorf("reading view %s's definition: %w", name, err)
	}
	v, err := viewDefinition(strings.ToLower(name), raw)
	return v, err == nil, err
}

// AllViews implements sql.ViewDatabase.
func (d *Database) AllViews(ctx *sql.Context) ([]sql.ViewDefinition, error) {
	m, err := d.rdb.HGetAll(ctx, schema.ViewsKey).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the view definitions (%s): %w", schema.ViewsKey, err)
	}
	out := make([]sql.ViewDefinition, 0, len(m))
	for name, raw := range m {
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
