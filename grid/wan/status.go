package wan

import (
	"github.com/insightgrid/insight/grid/wan/hlc"
)

// TargetStatus is what a partition knows of one target site.
type TargetStatus struct {
	Site string `json:"site"`
	// AckedHLC is the newest local timestamp the site has applied everything up to.
	AckedHLC  uint64 `json:"ackedHLC"`
	AckedTime string `json:"ackedTime,omitempty"` // AckedHLC's wall time, RFC 3339
	// Backlog is how many keys written here the site has not acknowledged.
	Backlog int `json:"backlog"`
	// OutOfSync says the outbox no longer holds the site's changes: it is being
	// resynchronized from the key metadata. MarkedOutOfSync counts the times.
	OutOfSync       bool   `json:"outOfSync"`
	MarkedOutOfSync uint64 `json:"markedOutOfSync"`
}

// Status is a data instance's WAN state.
type Status struct {
	Site      string         `json:"site"`
	Mode      Mode           `json:"outboxFull"`
	OutboxMax int            `json:"outboxMax"`
	Outbox    int            `json:"outbox"`   // keys the outbox holds for the in-sync targets
	MetaKeys  int            `json:"metaKeys"` // keys with metadata (tombstones included)
	ClockHLC  uint64         `json:"clockHLC"`
	Targets   []TargetStatus `json:"targets"`
	// Unsupported counts local writes not replicated because the key's merge policy
	// cannot take them, by policy;
	// Flushes the flushes of slots (FLUSHALL, FLUSHDB), which are not replicated.
	Unsupported map[string]int64 `json:"unsupported"`
	Flushes     int64            `json:"flushes"`
	// Policies is the fingerprint of the conflict policies (--wan-policy; empty: none);
	// PolicyMismatches counts the batches refused because their site's differ.
	Policies         string `json:"policies,omitempty"`
	PolicyMismatches int64  `json:"policyMismatches"`
	// BlockedWrites counts write replies that waited for room in the outbox (block mode);
	// Applied and Stale the remote changes applied and those that lost to what the key
	// held (by its policy) or, merged, added nothing (delivered again).
	BlockedWrites int64 `json:"blockedWrites"`
	Applied       int64 `json:"applied"`
	Stale         int64 `json:"stale"`
}

// Status reports the tracker's state; a target's backlog is counted from the metadata.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	st := Status{
		Site: t.cfg.Site, Mode: t.cfg.Mode, OutboxMax: t.cfg.OutboxMax, Outbox: t.live, MetaKeys: t.keys,
		ClockHLC: t.clock.Last(), Unsupported: map[string]int64{},
	}
	for _, name := range t.cfg.Targets {
		tg := t.targets[name]
		ts := TargetStatus{Site: name, AckedHLC: tg.acked, OutOfSync: tg.outOfSync, MarkedOutOfSync: tg.marked}
		if tg.acked > 0 {
			ts.AckedTime = hlc.Time(tg.acked).UTC().Format("2006-01-02T15:04:05.000Z07:00")
		}
		for _, m := range t.meta {
			for _, e := range m {
				if e.site == 0 && e.hlc > tg.acked {
					ts.Backlog++
				}
			}
		}
		st.Targets = append(st.Targets, ts)
	}
	t.mu.Unlock()
	for k := range t.unsupported {
		if n := t.unsupported[k].Load(); n > 0 {
			st.Unsupported[PolicyKind(k).String()] = n
		}
	}
	st.Policies, st.PolicyMismatches = t.fp, t.mismatched.Load()
	st.Flushes, st.BlockedWrites = t.flushes.Load(), t.blocked.Load()
	st.Applied, st.Stale = t.applied.Load(), t.stale.Load()
	return st
}
