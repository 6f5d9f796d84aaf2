package backup

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/internal/httpjson"
	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// Paths of a data instance's HTTP port (and PathFunctions). All are POSTs, so the operator token guards
// them: a snapshot carries every key of the partition.
const (
	PathSnapshot = "/v1/backup/snapshot"
	PathRestore  = "/v1/backup/restore"
)

// Replication is the part of the partition's replication node the handlers use.
type Replication interface {
	Status() cluster.InstanceStatus
	Admit() (redirect, errReply string)
	Barrier(write bool, slot int) uint64
	Wait(seq uint64) bool
}

// Instance serves one data instance's snapshot and restore.
type Instance struct {
	Partition int
	Store     *store.Store
	Repl      Replication
	// View is the instance's routing view now (nil: none yet).
	View func() *cluster.View
	// Functions loads restored function libraries (nil: refused).
	Functions Functions
}

// Register adds the handlers to mux.
func (in *Instance) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathSnapshot, in.snapshot)
	mux.HandleFunc("POST "+PathRestore, in.restore)
	mux.HandleFunc("POST "+PathFunctions, in.functions)
}

// serving checks that this instance is its partition's serving primary.
func (in *Instance) serving(w http.ResponseWriter, what string) (cluster.InstanceStatus, bool) {
	st := in.Repl.Status()
	if st.Role != cluster.RolePrimary || !st.Serving {
		httpjson.Error(w, http.StatusConflict, api.CodeConflict,
			"%s of partition %d: this instance is not its serving primary (role %q): ask the primary (GET /v1/partitions/%d on the manager names it)",
			what, in.Partition, st.Role, in.Partition)
		return st, false
	}
	return st, true
}

// snapshot streams the partition's snapshot: the head at the replication position when
// it started, one record per key, each slot copied at one point under its lock (so every
// transaction, which cluster mode keeps in one slot, is in it whole or not at all), and
// trailers with the position when it ended and the key count.
func (in *Instance) snapshot(w http.ResponseWriter, r *http.Request) {
	st, ok := in.serving(w, "snapshot")
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Trailer", api.TrailerKeys+", "+api.TrailerSeqEnd)
	h.Set(api.HeaderEpoch, strconv.FormatInt(st.Epoch, 10))
	h.Set(api.HeaderSeq, strconv.FormatUint(st.Offset, 10))
	w.WriteHeader(http.StatusOK)
	keys, err := persist.WriteSnapshot(r.Context(), w, in.Store, uint64(st.Epoch), st.Offset)
	if err != nil {
		return // no trailers: the client sees a stream cut short
	}
	end := in.Repl.Status()
	if end.Epoch != st.Epoch || end.Role != cluster.RolePrimary {
		return // the partition changed hands meanwhile: refused by the missing trailers
	}
	h.Set(api.TrailerKeys, strconv.FormatUint(keys, 10))
	h.Set(api.TrailerSeqEnd, strconv.FormatUint(end.Offset, 10))
}

// RestoreAnswer is the answer to a restore batch.
type RestoreAnswer struct {
	Keys uint64 `json:"keys"`
}

// restore writes a batch of keys (a snapshot stream) into this partition's slots and
// answers once the backup has them. A key whose slot this partition does not own, or
// whose slot is moving, stops the batch: the manager routes by a map that changed.
func (in *Instance) restore(w http.ResponseWriter, r *http.Request) {
	if _, ok := in.serving(w, "restore"); !ok {
		return
	}
	if redirect, errReply := in.Repl.Admit(); redirect != "" || errReply != "" {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "restore into partition %d: not admitted now (%s%s): retry", in.Partition, redirect, errReply)
		return
	}
	v := in.View()
	if v == nil {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable, "restore into partition %d: no partition map here yet: retry", in.Partition)
		return
	}
	var n uint64
	last := -1
	_, err := persist.ReadSnapshot(http.MaxBytesReader(w, r.Body, 1<<31), func(op []byte) error {
		key, isKey, err := store.OpKey(op)
		if err != nil {
			return err
		}
		if !isKey {
			return nil // function libraries: never sent by the manager, restored by PathFunctions
		}
		slot := slots.Of(key)
		if o := v.Owner(slot); o == nil || o.ID != in.Partition || v.Move(slot) != nil {
			return &misrouted{slot: slot, partition: in.Partition}
		}
		if err := in.Store.Restore(slot, op); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		n++
		last = slot
		return nil
	})
	var mr *misrouted
	switch {
	case errors.As(err, &mr):
		httpjson.Error(w, http.StatusConflict, api.CodeConflict, "restore: %v", err)
		return
	case err != nil:
		httpjson.Error(w, http.StatusBadRequest, api.CodeBadRequest, "restore into partition %d after %d keys: %v", in.Partition, n, err)
		return
	}
	// As a write's reply: once everything journaled so far is acknowledged by the backup
	// (and on the volume).
	if last >= 0 && !in.Repl.Wait(in.Repl.Barrier(true, last)) {
		httpjson.Error(w, http.StatusServiceUnavailable, api.CodeUnavailable,
			"restore into partition %d: the instance stopped serving before its backup acknowledged the %d keys: send the batch again", in.Partition, n)
		return
	}
	httpjson.Write(w, http.StatusOK, RestoreAnswer{Keys: n})
}

type misrouted struct{ slot, partition int }

func (e *misrouted) Error() string {
	return fmt.Sprintf("slot %d is not partition %d's now (or is moving): the partition map changed; restore again", e.slot, e.partition)
}
