package table

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/types"
	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/sql/schema"
)

// The AUTO_INCREMENT counter of a table is the field <table> of schema.AutoIncKey: the
// last value given out (or inserted explicitly), shared by every SQL replica.

// PeekNextAutoIncrementValue implements sql.AutoIncrementGetter.
func (t *Table) PeekNextAutoIncrementValue(ctx *sql.Context) (uint64, error) {
	v, err := t.rdb().HGet(ctx, schema.AutoIncKey, t.def.Name).Uint64()
	if errors.Is(err, redis.Nil) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("table %s: reading its AUTO_INCREMENT counter: %w", t.def.Name, err)
	}
	return v + 1, nil
}

// GetNextAutoIncrementValue implements sql.AutoIncrementTable: with no value given,
// the next one (HINCRBY); with one, the counter moves up to it if it is past the
// counter, so later generated values do not collide with it.
func (t *Table) GetNextAutoIncrementValue(ctx *sql.Context, given any) (uint64, error) {
	if given == nil {
		v, err := t.rdb().HIncrBy(ctx, schema.AutoIncKey, t.def.Name, 1).Result()
		if err != nil {
			return 0, fmt.Errorf("table %s: advancing its AUTO_INCREMENT counter: %w", t.def.Name, err)
		}
		return uint64(v), nil
	}
	cv, _, err := types.Uint64.Convert(ctx, given)
	if err != nil {
		return 0, fmt.Errorf("table %s: AUTO_INCREMENT value %v: %w", t.def.Name, given, err)
	}
	v := cv.(uint64)
	return v, t.raiseCounter(ctx, v)
}

// raiseCounter sets the counter to v when it is below v (WATCH, then MULTI/EXEC, retried
// when another replica changed it in between).
func (t *Table) raiseCounter(ctx *sql.Context, v uint64) error {
	for range 20 {
		err := t.rdb().Watch(ctx, func(tx *redis.Tx) error {
			cur, err := tx.HGet(ctx, schema.AutoIncKey, t.def.Name).Uint64()
			if err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if cur >= v {
				return nil
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.HSet(ctx, schema.AutoIncKey, t.def.Name, strconv.FormatUint(v, 10))
				return nil
			})
			return err
		}, schema.AutoIncKey)
		if !errors.Is(err, redis.TxFailedErr) {
			if err != nil {
				return fmt.Errorf("table %s: raising its AUTO_INCREMENT counter to %d: %w", t.def.Name, v, err)
			}
			return nil
		}
	}
	return fmt.Errorf("table %s: raising its AUTO_INCREMENT counter to %d: too many concurrent changes", t.def.Name, v)
}

// AutoIncrementSetter implements sql.AutoIncrementTable (ALTER TABLE ... AUTO_INCREMENT).
func (t *Table) AutoIncrementSetter(*sql.Context) sql.AutoIncrementSetter {
	return &autoIncSetter{t: t}
}

type autoIncSetter struct{ t *Table }

// SetAutoIncrementValue makes v the next value given out.
func (s *autoIncSetter) SetAutoIncrementValue(ctx *sql.Context, v uint64) error {
	if v == 0 {
		v = 1
	}
	if err := s.t.rdb().HSet(ctx, schema.AutoIncKey, s.t.def.Name, strconv.FormatUint(v-1, 10)).Err(); err != nil {
		return fmt.Errorf("table %s: setting its AUTO_INCREMENT counter: %w", s.t.def.Name, err)
	}
	return nil
}

// AcquireAutoIncrementLock implements sql.AutoIncrementSetter: HINCRBY is atomic, no
// lock is needed.
func (s *autoIncSetter) AcquireAutoIncrementLock(*sql.Context) (func(), error) {
	return func() {}, nil
}

func (s *autoIncSetter) Close(*sql.Context) error { return nil }
