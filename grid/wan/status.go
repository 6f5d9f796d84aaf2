package wan

import (
	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/wan/hlc"
)

// Status reports the tracker's state; a target's backlog is counted from the metadata.
func (t *Tracker) Status() api.WANInstanceStatus {
	t.mu.Lock()
	st := api.WANInstanceStatus{
		Site: t.cfg.Site, OutboxFull: string(t.cfg.Mode), OutboxMax: t.cfg.OutboxMax, Outbox: t.live, MetaKeys: t.keys,
		ClockHLC: t.clock.Last(), Unsupported: map[string]int64{},
	}
	for _, name := range t.cfg.Targets {
		tg := t.targets[name]
		ts := api.WANInstanceTarget{Site: name, AckedHLC: tg.acked, OutOfSync: tg.outOfSync, MarkedOutOfSync: tg.marked}
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
