package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/insightgrid/insight/grid/cluster"
)

// What only the managers read and write: the partition map after its bootstrap, the flags
// they last applied, and the watches that wake their loops.

// MapExists reports whether the partition map is written, without reading it.
func MapExists(ctx context.Context, kv clientv3.KV) (bool, error) {
	resp, err := kv.Get(ctx, cluster.MapKey, clientv3.WithCountOnly())
	if err != nil {
		return false, fmt.Errorf("reading the partition map: %w", err)
	}
	return resp.Count > 0, nil
}

// CommitMap replaces the partition map with next if the map's mod revision is still rev
// (0: the map is absent), and puts records (by partition) in the same transaction; it
// fails with ErrConflict, writing nothing, when the map changed since rev. next is written as given: its version and validity are the
// caller's.
func CommitMap(ctx context.Context, kv clientv3.KV, rev int64, next *cluster.PartitionMap, records map[int]cluster.Record) error {
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encoding partition map: %w", err)
	}
	ops := []clientv3.Op{clientv3.OpPut(cluster.MapKey, string(b))}
	ps := make([]int, 0, len(records))
	for p := range records {
		ps = append(ps, p)
	}
	sort.Ints(ps)
	for _, p := range ps {
		rb, err := json.Marshal(records[p])
		if err != nil {
			return fmt.Errorf("encoding partition record: %w", err)
		}
		ops = append(ops, clientv3.OpPut(cluster.PartitionKey(p), string(rb)))
	}
	resp, err := kv.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(cluster.MapKey), "=", rev)).
		Then(ops...).
		Commit()
	if err != nil {
		return fmt.Errorf("writing %s: %w", cluster.MapKey, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%s at revision %d: %w", cluster.MapKey, rev, ErrConflict)
	}
	return nil
}

// AppliedFlag reads key, where the managers keep the value of a flag as they last applied
// it (cluster.ManagerPartitionsKey, cluster.ManagerHAKey), and returns the value and the
// key's mod revision: "" and 0 before any manager applied it.
func AppliedFlag(ctx context.Context, kv clientv3.KV, key string) (string, int64, error) {
	resp, err := kv.Get(ctx, key)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, nil
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].ModRevision, nil
}

// SetAppliedFlag records value as the flag last applied at key if the key's mod revision
// is still rev (0: the key is absent), as AppliedFlag read it; it fails with ErrConflict
// when another manager recorded it meanwhile.
func SetAppliedFlag(ctx context.Context, kv clientv3.KV, key, value string, rev int64) error {
	resp, err := kv.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, value)).
		Commit()
	if err != nil {
		return fmt.Errorf("writing %s: %w", key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%s at revision %d: %w", key, rev, ErrConflict)
	}
	return nil
}

// MapChanges watches the partition map's key from now on, until ctx ends: a wake-up for
// loops that read the state again themselves.
func MapChanges(ctx context.Context, w clientv3.Watcher) clientv3.WatchChan {
	return w.Watch(ctx, cluster.MapKey)
}

// StateChanges watches every key of the cluster state from now on, until ctx ends: a
// wake-up for loops that read the state again themselves (Watch delivers the states).
func StateChanges(ctx context.Context, w clientv3.Watcher) clientv3.WatchChan {
	return w.Watch(ctx, cluster.Prefix, clientv3.WithPrefix())
}
