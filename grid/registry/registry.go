// Package registry reads and writes the grid's cluster state in etcd with the layout of
// package cluster: the one-time partition map bootstrap, instance registration under a
// lease, and a watch that hands out a fresh State on every change. It is control-plane
// only: nothing here may be called per client command.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/insightgrid/insight/grid/cluster"
)

// Bootstrap writes the partition map of n partitions and the initial partition records,
// in one transaction that only succeeds while there is no map (the first deploy). It
// returns the map now in etcd and whether this call created it. A later call with another
// n leaves the existing map alone: changing the partition count is re-partitioning, not
// bootstrap.
func Bootstrap(ctx context.Context, kv clientv3.KV, n int, ha bool) (*cluster.PartitionMap, bool, error) {
	m, err := cluster.NewPartitionMap(n, ha)
	if err != nil {
		return nil, false, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, false, fmt.Errorf("encoding partition map: %w", err)
	}
	ops := []clientv3.Op{clientv3.OpPut(cluster.MapKey, string(b))}
	for p := range n {
		rb, err := json.Marshal(cluster.InitialRecord(p, ha))
		if err != nil {
			return nil, false, fmt.Errorf("encoding partition record: %w", err)
		}
		ops = append(ops, clientv3.OpPut(cluster.PartitionKey(p), string(rb)))
	}
	resp, err := kv.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(cluster.MapKey), "=", 0)).
		Then(ops...).
		Else(clientv3.OpGet(cluster.MapKey)).
		Commit()
	if err != nil {
		return nil, false, fmt.Errorf("writing partition map %s: %w", cluster.MapKey, err)
	}
	if resp.Succeeded {
		return m, true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, false, fmt.Errorf("partition map %s vanished during bootstrap", cluster.MapKey)
	}
	var existing cluster.PartitionMap
	if err := json.Unmarshal(kvs[0].Value, &existing); err != nil {
		return nil, false, fmt.Errorf("decoding partition map %s: %w", cluster.MapKey, err)
	}
	return &existing, false, nil
}

// Load reads the whole cluster state in one linearizable range read.
func Load(ctx context.Context, kv clientv3.KV) (*cluster.State, error) {
	resp, err := kv.Get(ctx, cluster.Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("reading cluster state under %s: %w", cluster.Prefix, err)
	}
	st := &cluster.State{
		Revision:  resp.Header.Revision,
		Records:   map[int]cluster.Record{},
		Instances: map[string]cluster.Instance{},

		RecordRevisions: map[int]int64{},
	}
	for _, item := range resp.Kvs {
		if err := put(st, string(item.Key), item.Value, item.ModRevision); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// put sets key to value, written at mod revision rev, in st (the map, a record or a
// registration; other keys are not part of the state).
func put(st *cluster.State, key string, value []byte, rev int64) error {
	switch {
	case key == cluster.MapKey:
		var m cluster.PartitionMap
		if err := json.Unmarshal(value, &m); err != nil {
			return fmt.Errorf("decoding %s: %w", key, err)
		}
		st.Map, st.MapRevision = &m, rev
	case strings.HasPrefix(key, cluster.PartitionsPrefix):
		p, err := partitionOf(key)
		if err != nil {
			return err
		}
		var r cluster.Record
		if err := json.Unmarshal(value, &r); err != nil {
			return fmt.Errorf("decoding %s: %w", key, err)
		}
		st.Records[p] = r
		st.RecordRevisions[p] = rev
	case strings.HasPrefix(key, cluster.InstancesPrefix):
		var in cluster.Instance
		if err := json.Unmarshal(value, &in); err != nil {
			return fmt.Errorf("decoding %s: %w", key, err)
		}
		st.Instances[in.ID] = in
	}
	return nil
}

// remove deletes key from st.
func remove(st *cluster.State, key string) error {
	switch {
	case key == cluster.MapKey:
		st.Map, st.MapRevision = nil, 0
	case strings.HasPrefix(key, cluster.PartitionsPrefix):
		p, err := partitionOf(key)
		if err != nil {
			return err
		}
		delete(st.Records, p)
		delete(st.RecordRevisions, p)
	case strings.HasPrefix(key, cluster.InstancesPrefix):
		var p, i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(key, cluster.InstancesPrefix), "%d/%d", &p, &i); err != nil {
			return fmt.Errorf("instance key %s: %w", key, err)
		}
		delete(st.Instances, cluster.InstanceID(p, i))
	}
	return nil
}

func partitionOf(key string) (int, error) {
	var p int
	if _, err := fmt.Sscanf(strings.TrimPrefix(key, cluster.PartitionsPrefix), "%d", &p); err != nil {
		return 0, fmt.Errorf("partition key %s: %w", key, err)
	}
	return p, nil
}

// apply returns st with the watch events applied, at revision rev; st is not modified
// (the callers of Watch keep the states they were given).
func apply(st *cluster.State, rev int64, events []*clientv3.Event) (*cluster.State, error) {
	next := &cluster.State{
		Revision: rev, Map: st.Map, MapRevision: st.MapRevision,
		Records: maps.Clone(st.Records), RecordRevisions: maps.Clone(st.RecordRevisions), Instances: maps.Clone(st.Instances),
	}
	for _, ev := range events {
		var err error
		if ev.Type == clientv3.EventTypeDelete {
			err = remove(next, string(ev.Kv.Key))
		} else {
			err = put(next, string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision)
		}
		if err != nil {
			return nil, err
		}
	}
	return next, nil
}

// Watch calls fn with the current state and again after every change, until ctx ends.
// Changes that arrive together are delivered as one state. Errors (etcd unreachable,
// compaction) are logged and retried; Watch returns only ctx's error.
func Watch(ctx context.Context, cli *clientv3.Client, log *slog.Logger, fn func(*cluster.State)) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		st, err := Load(ctx, cli)
		if err != nil {
			log.Warn("cluster state unavailable, retrying", "err", err, "retryIn", backoff)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		fn(st)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := cli.Watch(wctx, cluster.Prefix, clientv3.WithPrefix(), clientv3.WithRev(st.Revision+1))
		for wr := range ch {
			if err := wr.Err(); err != nil {
				log.Warn("cluster state watch interrupted, reloading", "err", err)
				break
			}
			if len(wr.Events) == 0 {
				continue
			}
			// The events, not a reload: every instance watches, and a failover of many
			// partitions at once would otherwise have each of them read the whole state
			// from etcd for every record that changes.
			next, err := apply(st, wr.Header.Revision, wr.Events)
			if err != nil {
				log.Warn("applying cluster state changes failed, reloading", "err", err)
				break
			}
			st = next
			fn(st)
		}
		cancel()
	}
	return ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ErrConflict is returned (wrapped, naming the key) by the compare-and-swap writes —
// CASRecord, CommitMap, SetAppliedFlag — when what they compare changed since it was read.
var ErrConflict = errors.New("changed concurrently")

// CASRecord replaces partition p's record with rec if its mod revision is still rev (0:
// the key is absent) and every extra comparison holds, and returns the new revision; it
// fails with ErrConflict when they do not.
func CASRecord(ctx context.Context, kv clientv3.KV, p int, rev int64, rec cluster.Record, extra ...clientv3.Cmp) (int64, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encoding partition record: %w", err)
	}
	key := cluster.PartitionKey(p)
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, extra...)
	resp, err := kv.Txn(ctx).
		If(cmps...).
		Then(clientv3.OpPut(key, string(b))).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("%s at revision %d: %w", key, rev, ErrConflict)
	}
	return resp.Header.Revision, nil
}

// ErrTaken is returned when another live process holds an instance's registration.
var ErrTaken = errors.New("instance already registered by another live process")

// register claims inst's key under a new lease of ttl; it fails with ErrTaken while
// another lease holds the key, so two processes never serve as one instance.
func register(ctx context.Context, cli *clientv3.Client, inst cluster.Instance, ttl time.Duration) (clientv3.LeaseID, error) {
	b, err := json.Marshal(inst)
	if err != nil {
		return 0, fmt.Errorf("encoding instance: %w", err)
	}
	lease, err := cli.Grant(ctx, int64(max(ttl/time.Second, 1)))
	if err != nil {
		return 0, fmt.Errorf("granting lease: %w", err)
	}
	key := cluster.InstanceKey(inst.Partition, inst.Instance)
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(b), clientv3.WithLease(lease.ID))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = ErrTaken
	}
	if err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_, _ = cli.Revoke(rctx, lease.ID)
		return 0, fmt.Errorf("registering %s at %s: %w", inst.ID, key, err)
	}
	return lease.ID, nil
}

// Register keeps inst registered until ctx ends, registering again whenever the lease is
// lost (etcd unreachable longer than ttl), and revokes the lease on the way out so the
// instance disappears at once on a clean stop. onChange reports each transition.
func Register(ctx context.Context, cli *clientv3.Client, inst cluster.Instance, ttl time.Duration, log *slog.Logger, onChange func(registered bool)) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		id, err := register(ctx, cli, inst, ttl)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("registration failed, retrying", "err", err, "retryIn", backoff)
			sleep(ctx, backoff)
			backoff = min(2*backoff, ttl)
			continue
		}
		backoff = 100 * time.Millisecond
		ka, err := cli.KeepAlive(ctx, id)
		if err != nil {
			log.Warn("lease keep-alive failed", "err", err)
			continue
		}
		log.Info("registered", "key", cluster.InstanceKey(inst.Partition, inst.Instance), "address", inst.Address, "lease", fmt.Sprintf("%x", int64(id)))
		onChange(true)
		for range ka {
		}
		onChange(false)
		if ctx.Err() != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_, err := cli.Revoke(rctx, id)
			cancel()
			log.Info("deregistered", "err", err)
			return
		}
		log.Warn("registration lease lost, registering again")
	}
}
