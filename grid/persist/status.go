package persist

import "github.com/insightgrid/insight/grid/cluster"

// Status reports the journal for /v1/status.
func (j *Journal) Status() *cluster.PersistenceStatus {
	j.mu.Lock()
	epoch, synced := j.epoch, j.synced
	j.mu.Unlock()
	r := j.recovery
	st := &cluster.PersistenceStatus{
		Appendfsync: j.cfg.Fsync.String(), SyncedOffset: synced, Epoch: epoch,
		JournalBytes: j.journalLen.Load(), SnapshotBytes: j.snapBytes.Load(), Snapshots: j.rewrites.Load(),
		SnapshotInProgress: j.rewriting.Load(), Fsyncs: j.fsyncs.Load(),
		LoadedKeys: r.Keys, LoadedRecords: r.Records, LoadMillis: r.Took.Milliseconds(),
		Cut: r.Cut, CutBytes: r.CutBytes, CutRecords: r.CutRecords, Discarded: r.Discarded,
	}
	if e := j.lastErr.Load(); e != nil {
		st.SnapshotError = *e
	}
	return st
}
