// Package tier is the disk side of a data instance's tiered storage: an embedded LSM
// (cockroachdb/pebble) holding the values the store spilled out of RAM, under their keys.
//
// It is a cache, not durability: the journal and snapshots (grid/persist) stay the source
// of truth, so Open empties the directory and the LSM runs without its own write-ahead
// log; after a restart the store spills again as it replays the journal. Its memory is
// fixed: a block cache of CacheBytes and at most two memtables of MemTableBytes, on the Go
// heap, so the runtime's memory that counts against maxmemory includes them. The package
// must not depend on the store, the network or etcd.
package tier

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
)

// The fixed memory of a tier: what maxmemory must leave for it.
const (
	CacheBytes    = 8 << 20
	MemTableBytes = 4 << 20
	// Overhead is the most a tier's block cache and memtables hold.
	Overhead = CacheBytes + 2*MemTableBytes
)

// Tier is an open LSM in a directory of its own.
type Tier struct {
	db    *pebble.DB
	cache *pebble.Cache
	dir   string
}

// subdir is the tier's directory under the one the instance is given, so emptying it
// never touches the journal or snapshots next to it.
const subdir = "tier"

// Open empties dir/tier (a tier left by an earlier run holds nothing the journal lacks)
// and opens an LSM there.
func Open(dir string) (*Tier, error) {
	if dir == "" {
		return nil, errors.New("tiering: no directory given")
	}
	path := filepath.Join(dir, subdir)
	if err := os.RemoveAll(path); err != nil {
		return nil, fmt.Errorf("tiering: emptying %s: %w", path, err)
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("tiering: creating %s: %w", path, err)
	}
	cache := pebble.NewCache(CacheBytes)
	// Every read is a point lookup of a key that is there: a Bloom filter per table (10
	// bits a key, 1% false positives) spares the reads of the levels that do not hold it.
	levels := make([]pebble.LevelOptions, 7)
	for i := range levels {
		levels[i] = pebble.LevelOptions{FilterPolicy: bloom.FilterPolicy(10), FilterType: pebble.TableFilter}
	}
	opts := &pebble.Options{
		Levels:                      levels,
		Cache:                       cache,
		MemTableSize:                MemTableBytes,
		MemTableStopWritesThreshold: 2,
		DisableWAL:                  true,
		MaxOpenFiles:                256,
		Logger:                      quietLogger{},
	}
	db, err := pebble.Open(path, opts)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("tiering: opening the LSM in %s: %w", path, err)
	}
	return &Tier{db: db, cache: cache, dir: path}, nil
}

// Put stores val under key.
func (t *Tier) Put(key, val []byte) error {
	if err := t.db.Set(key, val, pebble.NoSync); err != nil {
		return fmt.Errorf("tiering: writing %d bytes: %w", len(val), err)
	}
	return nil
}

// Get appends the value under key to dst; a key not there is an error (the store only
// asks for keys it spilled).
func (t *Tier) Get(dst, key []byte) ([]byte, error) {
	v, closer, err := t.db.Get(key)
	if err != nil {
		return dst, fmt.Errorf("tiering: reading: %w", err)
	}
	dst = append(dst, v...)
	if err := closer.Close(); err != nil {
		return dst, fmt.Errorf("tiering: reading: %w", err)
	}
	return dst, nil
}

// Delete removes key.
func (t *Tier) Delete(key []byte) error {
	if err := t.db.Delete(key, pebble.NoSync); err != nil {
		return fmt.Errorf("tiering: deleting: %w", err)
	}
	return nil
}

// DiskBytes is what the LSM's files take on disk now.
func (t *Tier) DiskBytes() int64 { return int64(t.db.Metrics().DiskSpaceUsage()) }

// Close closes the LSM and removes its files.
func (t *Tier) Close() error {
	err := t.db.Close()
	t.cache.Unref()
	if rerr := os.RemoveAll(t.dir); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("tiering: closing: %w", err)
	}
	return nil
}

// quietLogger drops pebble's informational lines; its fatal errors still stop the process.
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("tiering: "+format, args...))
}
