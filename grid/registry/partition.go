package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/insightgrid/insight/grid/cluster"
)

// ErrNoMap is the answer before the partition map is written.
var ErrNoMap = errors.New("the partition map is not written yet")

// NotFoundError is a partition the map does not have.
type NotFoundError struct{ Partition, Partitions int }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("partition %d not found: the grid has %d partitions (0-%d)", e.Partition, e.Partitions, e.Partitions-1)
}

// Registration is an instance's registration and the mod revision of its key.
type Registration struct {
	cluster.Instance
	ModRevision int64
}

// PartitionState is one partition's record and registrations, read in one transaction.
type PartitionState struct {
	ID         int
	Partitions int // in the partition map
	HA         bool
	Record     cluster.Record
	RecordRev  int64            // mod revision of the record's key; 0 when it is absent
	Instances  [2]*Registration // by instance number; nil when not registered
	revisions  [2]int64         // mod revisions of the registration keys (0: absent)
	byID       map[string]*Registration
}

// Instance returns the registration of the instance named id, or nil.
func (ps *PartitionState) Instance(id string) *Registration { return ps.byID[id] }

// RegistrationsUnchanged are the comparisons that hold while both registration keys are
// as this state read them, for CASRecord.
func (ps *PartitionState) RegistrationsUnchanged() []clientv3.Cmp {
	var cmps []clientv3.Cmp
	for i := range 2 {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(cluster.InstanceKey(ps.ID, i)), "=", ps.revisions[i]))
	}
	return cmps
}

// LoadPartition reads partition p's record and both registrations consistently. It fails
// with ErrNoMap before the map exists and with *NotFoundError for a partition the map does
// not have.
func LoadPartition(ctx context.Context, kv clientv3.KV, p int) (*PartitionState, error) {
	resp, err := kv.Txn(ctx).Then(
		clientv3.OpGet(cluster.MapKey),
		clientv3.OpGet(cluster.PartitionKey(p)),
		clientv3.OpGet(cluster.InstanceKey(p, 0)),
		clientv3.OpGet(cluster.InstanceKey(p, 1)),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("reading partition %d: %w", p, err)
	}
	get := func(i int) ([]byte, int64) {
		kvs := resp.Responses[i].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return nil, 0
		}
		return kvs[0].Value, kvs[0].ModRevision
	}
	raw, _ := get(0)
	if raw == nil {
		return nil, ErrNoMap
	}
	var pm cluster.PartitionMap
	if err := json.Unmarshal(raw, &pm); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", cluster.MapKey, err)
	}
	if p >= len(pm.Partitions) {
		return nil, &NotFoundError{Partition: p, Partitions: len(pm.Partitions)}
	}
	ps := &PartitionState{ID: p, Partitions: len(pm.Partitions), HA: pm.HA, byID: map[string]*Registration{}}
	raw, ps.RecordRev = get(1)
	if raw == nil {
		ps.Record = cluster.InitialRecord(p, pm.HA)
	} else if err := json.Unmarshal(raw, &ps.Record); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", cluster.PartitionKey(p), err)
	}
	for i := range 2 {
		raw, rev := get(2 + i)
		ps.revisions[i] = rev
		if raw == nil {
			continue
		}
		r := &Registration{ModRevision: rev}
		if err := json.Unmarshal(raw, &r.Instance); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", cluster.InstanceKey(p, i), err)
		}
		ps.Instances[i], ps.byID[r.ID] = r, r
	}
	return ps, nil
}
