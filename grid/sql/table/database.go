package table

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// DatabaseName is the one database the endpoint serves.
const DatabaseName = "insight"

// versionReadTimeout bounds one read of the definitions' version counter.
const versionReadTimeout = 10 * time.Second

// Provider is the engine's sql.DatabaseProvider: the database DatabaseName.
type Provider struct {
	db *Database
}

// NewProvider serves the tables of the grid rdb reaches.
func NewProvider(rdb *redis.ClusterClient) *Provider {
	cat := &catalogCache{rdb: rdb}
	cat.reads = &sharedReads{read: cat.version, timeout: versionReadTimeout}
	return &Provider{db: &Database{rdb: rdb, nodes: &primaries{rdb: rdb}, points: &pointBatches{rdb: rdb}, cat: cat}}
}

var _ sql.DatabaseProvider = (*Provider)(nil)

// Close closes the connection pools to the grid's primaries; the cluster client is the
// caller's to close. Statements that visit every primary fail after it.
func (p *Provider) Close() error { return p.db.nodes.close() }

// Database implements sql.DatabaseProvider.
func (p *Provider) Database(_ *sql.Context, name string) (sql.Database, error) {
	if strings.EqualFold(name, DatabaseName) {
		return p.db, nil
	}
	return nil, sql.ErrDatabaseNotFound.New(name)
}

// HasDatabase implements sql.DatabaseProvider.
func (p *Provider) HasDatabase(_ *sql.Context, name string) bool {
	return strings.EqualFold(name, DatabaseName)
}

// AllDatabases implements sql.DatabaseProvider.
func (p *Provider) AllDatabases(*sql.Context) []sql.Database { return []sql.Database{p.db} }

// Database is the tables whose definitions the grid holds in schema.TablesKey.
type Database struct {
	rdb    *redis.ClusterClient
	nodes  *primaries
	points *pointBatches
	cat    *catalogCache

	mu     sync.Mutex
	parsed map[string]*schema.Table // by stored JSON: definitions parse once
}

var (
	_ sql.Database       = (*Database)(nil)
	_ sql.TableCreator   = (*Database)(nil)
	_ sql.TableDropper   = (*Database)(nil)
	_ sql.CommentedTable = (*Table)(nil)
)

// Name implements sql.Database.
func (d *Database) Name() string { return DatabaseName }

// DB is the one database: the endpoint's handler reads its definitions' version.
func (p *Provider) DB() *Database { return p.db }

// definitions are every table's stored JSON, by name, read from the grid (DDL checks
// what exists with them; statements use the cached catalog).
func (d *Database) definitions(ctx context.Context) (map[string]string, error) {
	m, err := d.rdb.HGetAll(ctx, schema.TablesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("reading the table definitions (%s) from the grid: %w", schema.TablesKey, err)
	}
	return m, nil
}

// lookup is the stored name and JSON of the table named name, whatever its case.
func lookup(defs map[string]string, name string) (string, string, bool) {
	if raw, ok := defs[name]; ok {
		return name, raw, true
	}
	for n, raw := range defs {
		if strings.EqualFold(n, name) {
			return n, raw, true
		}
	}
	return "", "", false
}

func (d *Database) parse(name, raw string) (*schema.Table, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.parsed[raw]; ok && t.Name == name {
		return t, nil
	}
	t, err := schema.Unmarshal(name, raw)
	if err != nil {
		return nil, err
	}
	if d.parsed == nil || len(d.parsed) > 4096 {
		d.parsed = map[string]*schema.Table{}
	}
	d.parsed[raw] = t
	return t, nil
}

// GetTableInsensitive implements sql.Database.
func (d *Database) GetTableInsensitive(ctx *sql.Context, name string) (sql.Table, bool, error) {
	cat, err := d.cat.get(ctx)
	if err != nil {
		return nil, false, err
	}
	n, raw, ok := lookup(cat.tables, name)
	if !ok {
		return nil, false, nil
	}
	def, err := d.parse(n, raw)
	if err != nil {
		return nil, false, err
	}
	return &Table{db: d, def: def}, true, nil
}

// GetTableNames implements sql.Database.
func (d *Database) GetTableNames(ctx *sql.Context) ([]string, error) {
	cat, err := d.cat.get(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cat.tables))
	for n := range cat.tables {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// CreateTable implements sql.TableCreator: the definition is written once (HSETNX), so
// of two replicas creating the same table one gets "table exists". Rows already in the
// grid under <name>:* become the table's rows.
func (d *Database) CreateTable(ctx *sql.Context, name string, s sql.PrimaryKeySchema, _ sql.CollationID, comment string) error {
	def, err := schema.New(ctx, name, s, comment)
	if err != nil {
		return err
	}
	raw, err := def.Marshal(ctx)
	if err != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	defs, err := d.definitions(ctx)
	if err != nil {
		return err
	}
	if _, _, ok := lookup(defs, name); ok {
		return sql.ErrTableAlreadyExists.New(name)
	}
	set, err := d.rdb.HSetNX(ctx, schema.TablesKey, name, raw).Result()
	if err != nil {
		return fmt.Errorf("writing table %s's definition to the grid: %w", name, err)
	}
	if !set {
		return sql.ErrTableAlreadyExists.New(name)
	}
	return d.cat.changed(ctx, "table "+name)
}

// DropTable implements sql.TableDropper: the definition, the AUTO_INCREMENT counter and
// every row (<name>:* on every primary) are deleted.
func (d *Database) DropTable(ctx *sql.Context, name string) error {
	defs, err := d.definitions(ctx)
	if err != nil {
		return err
	}
	n, raw, ok := lookup(defs, name)
	if !ok {
		return sql.ErrTableNotFound.New(name)
	}
	def, err := d.parse(n, raw)
	if err != nil {
		return err
	}
	if err := d.rdb.HDel(ctx, schema.TablesKey, n).Err(); err != nil {
		return fmt.Errorf("deleting table %s's definition: %w", n, err)
	}
	if err := d.cat.changed(ctx, "the drop of table "+n); err != nil {
		return err
	}
	if err := d.rdb.HDel(ctx, schema.AutoIncKey, n).Err(); err != nil {
		return fmt.Errorf("deleting table %s's AUTO_INCREMENT counter: %w", n, err)
	}
	_, err = deleteRows(ctx, d.rdb, d.nodes, def, true)
	return err
}

// deleteRows unlinks every key <table>:* on every primary (rows, or keys of other
// types under the prefix when all is set) and counts the rows.
func deleteRows(ctx context.Context, rdb *redis.ClusterClient, nodes *primaries, def *schema.Table, all bool) (int, error) {
	var mu sync.Mutex
	n := 0
	typ := "hash"
	if all {
		typ = ""
	}
	err := nodes.forEachNow(ctx, func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.ScanType(ctx, cursor, def.ScanPattern(), scanCount, typ).Result()
			if err != nil {
				return fmt.Errorf("scanning %s: %w", c.Options().Addr, err)
			}
			if len(keys) > 0 {
				if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range keys {
						p.Unlink(ctx, k)
					}
					return nil
				}); err != nil {
					return fmt.Errorf("deleting rows: %w", err)
				}
				mu.Lock()
				n += len(keys)
				mu.Unlock()
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
	if err != nil {
		return n, fmt.Errorf("deleting table %s's rows: %w", def.Name, err)
	}
	return n, nil
}
