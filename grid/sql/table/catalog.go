package table

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// catalog is one version of the definitions: every table's and view's stored JSON, by
// name, as they were when the version counter (schema.VersionKey) had that value.
type catalog struct {
	version int64
	tables  map[string]string
	views   map[string]string // by lower-case name
}

// maxChecked bounds the statements remembered as checked; past it the memory starts
// over, and a statement still running checks the version again.
const maxChecked = 4096

// catalogCache keeps the definitions in the endpoint. A statement's first look at them
// reads the version counter (one GET, shared by the statements that arrive while another
// is in flight: sharedReads); the cached definitions serve it when the version is the one
// they were read at, else both hashes are read again (one pipeline). Every DDL
// increments the counter after writing, so a statement that starts after a DDL returned,
// on any endpoint, reads the counter's new value and the new definitions. Within one
// statement (one sql.Context pid) the version is read once.
type catalogCache struct {
	rdb   *redis.ClusterClient
	reads *sharedReads // of the version counter

	mu      sync.Mutex
	cur     *catalog            // the newest read; nil before the first and after a DDL here
	checked map[uint64]*catalog // by statement (sql.Context pid): the catalog it uses
}

// get is the catalog ctx's statement uses.
func (c *catalogCache) get(ctx *sql.Context) (*catalog, error) {
	pid := ctx.Pid()
	c.mu.Lock()
	if cat, ok := c.checked[pid]; ok && pid != 0 {
		c.mu.Unlock()
		return cat, nil
	}
	c.mu.Unlock()
	cat, err := c.validate(ctx)
	if err != nil {
		return nil, err
	}
	if pid != 0 {
		c.mu.Lock()
		if c.checked == nil || len(c.checked) >= maxChecked {
			c.checked = map[uint64]*catalog{}
		}
		c.checked[pid] = cat
		c.mu.Unlock()
	}
	return cat, nil
}

// validate reads the version counter and returns the cached catalog if it is that
// version's, else reads the definitions again.
func (c *catalogCache) validate(ctx context.Context) (*catalog, error) {
	v, err := c.reads.get(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	cur := c.cur
	c.mu.Unlock()
	if cur != nil && cur.version == v {
		return cur, nil
	}
	cat, err := c.load(ctx, v)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.cur == nil || c.cur.version <= v {
		c.cur = cat
	}
	c.mu.Unlock()
	return cat, nil
}

// version is the counter's value (0 when no DDL ever incremented it).
func (c *catalogCache) version(ctx context.Context) (int64, error) {
	v, err := c.rdb.Get(ctx, schema.VersionKey).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the definitions' version (%s) from the grid: %w", schema.VersionKey, err)
	}
	return v, nil
}

// load reads both definition hashes (one pipeline) as version v: the counter was read
// before them, so a DDL in between makes them newer than v, never older, and the next
// statement reads them again.
func (c *catalogCache) load(ctx context.Context, v int64) (*catalog, error) {
	var tables, views *redis.MapStringStringCmd
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		tables = p.HGetAll(ctx, schema.TablesKey)
		views = p.HGetAll(ctx, schema.ViewsKey)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the definitions (%s, %s) from the grid: %w", schema.TablesKey, schema.ViewsKey, err)
	}
	return &catalog{version: v, tables: tables.Val(), views: views.Val()}, nil
}

// changed records a DDL made here: it increments the version counter, so every
// endpoint's next statement reads the definitions again, and drops this endpoint's
// cache at once (the rest of the statement sees the change too).
func (c *catalogCache) changed(ctx context.Context, what string) error {
	c.mu.Lock()
	c.cur = nil
	c.checked = nil
	c.mu.Unlock()
	if err := c.rdb.Incr(ctx, schema.VersionKey).Err(); err != nil {
		return fmt.Errorf("%s is written, but incrementing the definitions' version (%s) failed, so other SQL endpoints may not see it until the next DDL: %w", what, schema.VersionKey, err)
	}
	return nil
}

// Version is the definitions' current version, read from the grid (one GET): a prepared
// statement's reused plan is valid while it is the version the plan was made at.
func (d *Database) Version(ctx context.Context) (int64, error) {
	cat, err := d.cat.validate(ctx)
	if err != nil {
		return 0, err
	}
	return cat.version, nil
}
