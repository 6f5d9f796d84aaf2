package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// Send delivers one batch (a snapshot stream) to partition p's primary and returns the
// keys it restored.
type Send func(ctx context.Context, p int, batch []byte) (uint64, error)

// Router restores a backup's snapshot by slot: every key goes to the partition that
// owns its slot in Owners, in batches of about BatchBytes.
type Router struct {
	// Owners is the partition owning each slot (cluster.PartitionMap.Owners).
	Owners     []int
	Send       Send
	BatchBytes int
}

// DefaultBatchBytes bounds one batch: one write of the target's journal and replication
// stream, as a SLOTIMPORT of a repartition.
const DefaultBatchBytes = 1 << 20

type batch struct {
	buf bytes.Buffer
	w   *persist.SnapshotWriter
	n   int
}

// Restore reads one snapshot from body and restores its keys. A damaged snapshot stops
// it at the damaged record, with the batches before it already written.
func (rt *Router) Restore(ctx context.Context, body io.Reader) (api.RestoreResult, error) {
	if len(rt.Owners) != slots.Count {
		return api.RestoreResult{}, fmt.Errorf("slot owners: %d, want %d", len(rt.Owners), slots.Count)
	}
	limit := rt.BatchBytes
	if limit <= 0 {
		limit = DefaultBatchBytes
	}
	res := api.RestoreResult{ByPartition: map[int]uint64{}}
	batches := map[int]*batch{}
	flush := func(p int) error {
		b := batches[p]
		if b == nil || b.n == 0 {
			return nil
		}
		if err := b.w.Close(); err != nil {
			return err
		}
		n, err := rt.Send(ctx, p, b.buf.Bytes())
		if err != nil {
			return fmt.Errorf("restoring %d keys into partition %d: %w", b.n, p, err)
		}
		res.Keys += n
		res.ByPartition[p] += n
		delete(batches, p)
		return nil
	}
	_, err := persist.ReadSnapshot(body, func(op []byte) error {
		key, isKey, err := store.OpKey(op)
		if err != nil {
			return err
		}
		if !isKey {
			return nil // the function libraries: every primary's (HeadLibraries, PathFunctions)
		}
		p := rt.Owners[slots.Of(key)]
		if p < 0 {
			return fmt.Errorf("slot %d of key %q has no partition in the map", slots.Of(key), key)
		}
		b := batches[p]
		if b == nil {
			b = &batch{}
			b.w = persist.NewSnapshotWriter(&b.buf, 0, 0)
			batches[p] = b
		}
		if err := b.w.Op(op); err != nil {
			return err
		}
		b.n++
		if b.buf.Len() >= limit {
			return flush(p)
		}
		return ctx.Err()
	})
	if err != nil {
		return res, err
	}
	for p := range batches {
		if err := flush(p); err != nil {
			return res, err
		}
	}
	return res, nil
}
