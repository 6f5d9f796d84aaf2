package data

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/persist"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
	"github.com/insightgrid/insight/grid/wan"
)

// openDisk loads the instance's data directory into its store and keeps the journal
// for the replication node. With WAN replication on, the tracker's metadata is in the
// journal and the snapshots too (wanDisk); off, the metadata a former --wan-site left
// there is dropped.
func (in *instance) openDisk(cfg Config) (persist.Recovery, error) {
	log := cfg.Logger
	var meta persist.Meta = &wanDropped{}
	var wd *wanDisk
	if in.wan != nil {
		wd = newWANDisk(in.wan)
		meta = wd
	}
	j, rec, err := persist.Open(persist.Config{
		Dir: cfg.DataDir, Fsync: cfg.AppendFsync, RewritePercentage: cfg.RewritePercentage, RewriteMinSize: cfg.RewriteMinSize,
		Store: in.store, Meta: meta, Logger: log,
	})
	if err != nil {
		return rec, fmt.Errorf("--data-dir %s: %w", cfg.DataDir, err)
	}
	in.disk = j
	log.Info("data directory loaded", "dir", cfg.DataDir, "appendfsync", cfg.AppendFsync.String(), "snapshot", rec.Snapshot,
		"records", rec.Records, "keys", rec.Keys, "epoch", rec.Epoch, "offset", rec.Seq, "took", rec.Took.String())
	if wd != nil {
		if n := wd.stamp(); n > 0 {
			log.Warn("the journal's last changes of some keys were without their WAN stamps (the stop came between the two): stamped now, to be sent",
				"dir", cfg.DataDir, "keys", n)
		}
		in.wan.Restored()
		st := in.wan.Status()
		log.Info("WAN metadata loaded", "dir", cfg.DataDir, "metaKeys", st.MetaKeys, "outbox", st.Outbox, "clockHLC", st.ClockHLC)
	} else if d := meta.(*wanDropped); d.ops > 0 {
		log.Warn("the data directory holds WAN metadata of a former --wan-site; WAN replication is off: dropped (the next snapshot leaves it out)",
			"dir", cfg.DataDir, "operations", d.ops)
	}
	if rec.Cut != "" {
		log.Warn("the journal ended in a damaged or truncated record: cut there, nothing after it loaded",
			"dir", cfg.DataDir, "cut", rec.Cut, "bytes", rec.CutBytes, "records", rec.CutRecords)
	}
	if len(rec.Discarded) > 0 {
		log.Warn("not loaded from the data directory", "dir", cfg.DataDir, "discarded", strings.Join(rec.Discarded, "; "))
	}
	return rec, nil
}

// registerDiskMetrics exports the journal's state, read at each scrape.
func registerDiskMetrics(reg prometheus.Registerer, j *persist.Journal) {
	gauges := []struct {
		name, help string
		f          func() float64
	}{
		{"insight_grid_persist_synced_offset", "Replication sequence up to which the changes are fsynced in the journal.", func() float64 { return float64(j.Status().SyncedOffset) }},
		{"insight_grid_persist_journal_bytes", "Size of the journal written since the last snapshot.", func() float64 { return float64(j.Status().JournalBytes) }},
		{"insight_grid_persist_snapshot_bytes", "Size of the last snapshot.", func() float64 { return float64(j.Status().SnapshotBytes) }},
		{"insight_grid_persist_load_cut_bytes", "Bytes the start cut from a damaged or truncated journal tail.", func() float64 { return float64(j.Status().CutBytes) }},
		{"insight_grid_persist_load_cut_records", "Records the start cut from a damaged or truncated journal tail.", func() float64 { return float64(j.Status().CutRecords) }},
	}
	for _, g := range gauges {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help}, g.f))
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_persist_fsyncs_total", Help: "fsyncs of the journal."},
		func() float64 { return float64(j.Status().Fsyncs) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "insight_grid_persist_snapshots_total", Help: "Snapshots written since start (each compacts the journal)."},
		func() float64 { return float64(j.Status().Snapshots) }))
}

// wanDisk is WAN replication's metadata in the data directory (persist.Meta): the
// operations the tracker journals in the replication stream (RecordWAN) reach the
// journal with the store's, and are replayed into the tracker at start, which moves its
// clock past every timestamp replayed (ApplyOp observes them); snapshots hold DumpSlot.
//
// A change and its stamp are two records: a stop between them leaves the journal's last
// changes of some keys without their stamps. The replay notes each key a change touches
// with the stamp it held then (once a WAN operation showed the metadata was kept: not
// the changes made before WAN was on); a key whose stamp is the same at the end had its
// last change unstamped, and stamp gives it a new one, so it is sent.
type wanDisk struct {
	*wan.Tracker
	seen    bool                 // a WAN operation was replayed
	pending map[string]unstamped // keys changed since their stamp, as far as known
	changes int                  // replayed since pending was last swept
}

// unstamped is a key's stamp before a change replayed, and the change.
type unstamped struct {
	hlc    uint64
	had    bool
	change []byte
}

// sweepEvery bounds pending: the keys whose stamp followed their change are dropped
// every so many changes.
const sweepEvery = 4096

func newWANDisk(t *wan.Tracker) *wanDisk {
	return &wanDisk{Tracker: t, pending: map[string]unstamped{}}
}

func (d *wanDisk) Owns(op []byte) bool {
	if !wan.IsOp(op) {
		return false
	}
	d.seen = true
	return true
}

// ApplyOp replays a WAN operation; one that stamps a key clears the key's change the
// replay found before it (comparing timestamps would not do: a write that straddles a
// snapshot's cut has its stamp in the snapshot and again after its change).
func (d *wanDisk) ApplyOp(op []byte) error {
	if key, ok := wan.StampedKey(op); ok {
		delete(d.pending, string(key))
	}
	return d.Tracker.ApplyOp(op)
}

func (d *wanDisk) Replayed(op []byte) {
	if !d.seen {
		return
	}
	change := slices.Clone(op)
	store.OpKeys(op, func(key []byte) {
		h, had := d.Stamp(key)
		d.pending[string(key)] = unstamped{hlc: h, had: had, change: change}
	})
	if d.changes++; d.changes >= sweepEvery {
		d.sweep()
	}
}

// sweep drops the keys stamped since their change.
func (d *wanDisk) sweep() {
	d.changes = 0
	for k, u := range d.pending {
		if h, had := d.Stamp([]byte(k)); h != u.hlc || had != u.had {
			delete(d.pending, k)
		}
	}
}

func (d *wanDisk) Reset() {
	d.Tracker.Reset()
	clear(d.pending)
}

// stamp gives the keys whose last change the replay found unstamped a new local stamp
// (kept in memory: until the next snapshot holds it, the next start finds the same
// changes unstamped and stamps them again), and returns how many keys it stamped.
func (d *wanDisk) stamp() int {
	d.sweep()
	done := map[string]bool{}
	for k, u := range d.pending {
		if done[string(u.change)] {
			continue
		}
		done[string(u.change)] = true
		d.Record(slots.Of([]byte(k)), u.change, func(int, []byte) {})
	}
	n := len(d.pending)
	clear(d.pending)
	return n
}

// wanDropped is persist.Meta without WAN replication: it counts the WAN operations a
// former --wan-site left in the data directory and drops them.
type wanDropped struct{ ops int64 }

func (*wanDropped) Owns(op []byte) bool        { return wan.IsOp(op) }
func (d *wanDropped) ApplyOp([]byte) error     { d.ops++; return nil }
func (*wanDropped) DumpSlot(int, func([]byte)) {}
func (*wanDropped) Reset()                     {}
func (*wanDropped) Replayed([]byte)            {}
