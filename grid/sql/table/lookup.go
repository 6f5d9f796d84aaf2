package table

import (
	"context"
	"fmt"
	"strings"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/redis/go-redis/v9"
)

// lookupKeys reads the rows of keys, no scan: HMGET of the needed fields per key, in
// batches by owning primary shared with other statements' lookups (pointBatches).
func (t *Table) lookupKeys(ctx *sql.Context, keys []string) (sql.RowIter, error) {
	rows, err := fetchRows(ctx, batchedCluster{t.rdb(), t.db.points}, keys, t.fetchFields())
	if err != nil {
		return nil, fmt.Errorf("table %s: reading %d rows by primary key: %w", t.def.Name, len(keys), err)
	}
	return &sliceIter{t: t, rows: rows}, nil
}

// cmdable is a cluster client or one primary's client.
type cmdable interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
	HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd
}

// batchedCluster is the cluster client with its one-key HMGETs batched by pointBatches.
type batchedCluster struct {
	*redis.ClusterClient
	points *pointBatches
}

// HMGet implements cmdable.
func (b batchedCluster) HMGet(ctx context.Context, key string, fields ...string) *redis.SliceCmd {
	return b.points.hmget(ctx, key, fields)
}

// fetchRows reads the fields of keys through c. A key whose fields are all absent is
// checked with TYPE (a second round for those keys only), so a deleted row is left
// out while a row whose fetched columns are all NULL is kept. With no fields, every key
// is checked. A key holding another type than a hash is no row.
func fetchRows(ctx context.Context, c cmdable, keys, fields []string) ([]rawRow, error) {
	rows := make([]rawRow, len(keys))
	gone := map[int]bool{}
	var unsure []int
	if len(fields) == 0 {
		for i, k := range keys {
			rows[i] = rawRow{key: k}
			unsure = append(unsure, i)
		}
	} else {
		cmds := make([]*redis.SliceCmd, len(keys))
		if len(keys) == 1 {
			// A point lookup: the command alone, without the pipeline's per-node goroutines.
			cmds[0] = c.HMGet(ctx, keys[0], fields...)
		} else if bc, ok := c.(batchedCluster); ok {
			cmds = bc.points.hmgetAll(ctx, keys, fields)
		} else {
			_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i, k := range keys {
					cmds[i] = p.HMGet(ctx, k, fields...)
				}
				return nil
			})
		}
		for i, cmd := range cmds {
			rows[i] = rawRow{key: keys[i], vals: cmd.Val()}
			switch err := cmd.Err(); {
			case isWrongType(err):
				gone[i] = true
			case err != nil:
				return nil, err
			case allNil(rows[i].vals):
				unsure = append(unsure, i)
			}
		}
	}
	if len(unsure) > 0 {
		types := make([]*redis.StatusCmd, len(unsure))
		if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j, i := range unsure {
				types[j] = p.Type(ctx, keys[i])
			}
			return nil
		}); err != nil {
			return nil, err
		}
		for j, i := range unsure {
			if types[j].Val() != "hash" {
				gone[i] = true
			}
		}
	}
	if len(gone) == 0 {
		return rows, nil
	}
	kept := make([]rawRow, 0, len(rows)-len(gone))
	for i, r := range rows {
		if !gone[i] {
			kept = append(kept, r)
		}
	}
	return kept, nil
}

func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

func allNil(vals []any) bool {
	for _, v := range vals {
		if v != nil {
			return false
		}
	}
	return true
}
