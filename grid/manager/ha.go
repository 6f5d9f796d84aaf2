package manager

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
)

// HA on a running grid. The partition map's HA says whether every partition has a backup;
// the etcd leader's manager makes the partition records follow it, one compare-and-swap
// per partition, so any manager can pick up where another stopped:
//
//   - on: a partition without a backup gets the instance that is not its primary as its
//     backup once that instance is registered (its pod started: the StatefulSet went to 2
//     replicas). The backup catches up from the primary (redo ring or snapshot) and the
//     primary records it in sync, exactly as after a backup's restart; writes wait for
//     it only from that switch on.
//   - off: a partition whose primary is instance 0 drops its backup (the primary
//     acknowledges alone from then on, and the backup serves nothing). A partition whose
//     primary is instance 1, after a failover, is first handed back to instance 0, once
//     that is the in-sync backup: instance 1 is the pod that goes when the StatefulSet
//     scales to 1 replica, and it must go as a backup nobody waits for.
//
// The map's HA changes by POST /v1/ha (insightctl scale --ha does it before it scales the
// StatefulSets down) or when --ha changes (the chart's pu.ha): like --partitions, the flag
// is compared with the value the managers last applied, so a manager restarted with an
// unchanged flag does not undo an API request.

// Intervals of the loop: while partitions are on their way it looks often (one read of
// etcd), otherwise now and then, and whenever something under the prefix changes.
const (
	haActive = 100 * time.Millisecond
	haIdle   = 5 * time.Second
)

// haReconciler is the leader's loop and what it last found.
type haReconciler struct {
	m *Manager
	waitNote
}

// run makes the records follow the map's HA while this manager leads etcd, until ctx ends.
func (h *haReconciler) run(ctx context.Context) {
	h.m.leaderLoop(ctx, registry.StateChanges(ctx, h.m.cli), haActive, haIdle,
		&h.waitNote, "adding or removing backups failed, retrying", h.step)
}

// backupOf is the instance of partition p that is not primary.
func backupOf(p int, primary string) string {
	if primary == cluster.InstanceID(p, 0) {
		return cluster.InstanceID(p, 1)
	}
	return cluster.InstanceID(p, 0)
}

// step makes every change it can towards the map's HA and reports whether a partition
// is not there yet.
func (h *haReconciler) step(ctx context.Context) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	st, err := registry.Load(rctx, h.m.cli)
	if err != nil {
		return true, err
	}
	if st.Map == nil {
		return false, nil
	}
	var waits []string
	pending := false
	for _, pm := range st.Map.Partitions {
		p := pm.ID
		rec, ok := st.Records[p]
		if !ok {
			continue // re-partitioning writes it
		}
		rev := st.RecordRevisions[p]
		switch {
		case st.Map.HA && rec.Backup == "":
			pending = true
			b := backupOf(p, rec.Primary)
			if _, ok := st.Instances[b]; !ok {
				waits = append(waits, fmt.Sprintf("partition %d: waiting for %s to start and register", p, b))
				continue
			}
			next := rec
			next.Backup, next.BackupRun, next.InSync = b, "", false
			if err := h.cas(rctx, p, rev, next, "backup added: it catches up with the primary, which records it in sync"); err != nil {
				return true, err
			}
		case st.Map.HA && !rec.InSync:
			pending = true
			waits = append(waits, fmt.Sprintf("partition %d: backup %s is catching up with primary %s", p, rec.Backup, rec.Primary))
		case !st.Map.HA && rec.Backup != "":
			pending = true
			keep := cluster.InstanceID(p, 0)
			if rec.Primary == keep {
				next := rec
				next.Backup, next.BackupRun, next.InSync = "", "", false
				if err := h.cas(rctx, p, rev, next, "backup removed: the primary acknowledges alone"); err != nil {
					return true, err
				}
				continue
			}
			if rec.Backup != keep || !rec.InSync {
				waits = append(waits, fmt.Sprintf("partition %d: its primary is %s, whose pod goes without HA; waiting for %s to be its in-sync backup to hand the partition back to it",
					p, rec.Primary, keep))
				continue
			}
			if err := h.handBack(ctx, p, keep); err != nil {
				return true, err
			}
		}
	}
	msg := strings.Join(waits, "; ")
	if len(waits) > 3 {
		msg = strings.Join(waits[:3], "; ") + fmt.Sprintf("; and %d partitions more", len(waits)-3)
	}
	h.setMessage(msg)
	return pending, nil
}

// cas writes partition p's next record if it is still at rev; a record changed meanwhile
// is read again at the next step.
func (h *haReconciler) cas(ctx context.Context, p int, rev int64, next cluster.Record, what string) error {
	_, err := registry.CASRecord(ctx, h.m.cli, p, rev, next)
	switch {
	case errors.Is(err, registry.ErrConflict):
		return nil
	case err != nil:
		return fmt.Errorf("partition %d: %w", p, err)
	}
	h.m.log.Info(what, "partition", p, "epoch", next.Epoch, "primary", next.Primary, "backup", next.Backup)
	return nil
}

// handBack switches partition p over to its in-sync backup keep before the backup goes.
func (h *haReconciler) handBack(ctx context.Context, p int, keep string) error {
	ps, oe := h.m.loadForOp(ctx, p)
	if oe != nil {
		return oe
	}
	h.m.log.Info("HA off: handing the partition back to instance 0 before its backup goes", "partition", p, "from", ps.Record.Primary, "to", keep)
	res, oe := h.m.switchOver(ctx, ps, keep, "hand back")
	h.m.logSwitch("hand back", p, res, oe)
	if oe != nil {
		return oe
	}
	return nil
}

// status describes how far the partitions in st are towards the map's HA.
func (h *haReconciler) status(st *cluster.State) api.HAStatus {
	out := api.HAStatus{HA: st.Map.HA, Partitions: len(st.Map.Partitions)}
	for _, pm := range st.Map.Partitions {
		rec, ok := st.Records[pm.ID]
		if !ok || rec.Backup == "" {
			continue
		}
		out.WithBackup++
		if rec.InSync {
			out.InSync++
		}
	}
	switch {
	case out.HA && out.InSync == out.Partitions:
		out.Done, out.Message = true, fmt.Sprintf("HA: each of the %d partitions has its backup in sync", out.Partitions)
	case !out.HA && out.WithBackup == 0:
		out.Done, out.Message = true, fmt.Sprintf("no HA: none of the %d partitions has a backup", out.Partitions)
	case h.m.isLeader():
		out.Message = h.lastMessage()
	default:
		out.Message = "the manager leading etcd adds or removes the backups; it has the details"
	}
	return out
}

// setHA sets the partition map's HA; the loop then adds or removes the backups.
func (h *haReconciler) setHA(ctx context.Context, ha bool) (api.HAStatus, *opError) {
	for {
		st, err := registry.Load(ctx, h.m.cli)
		if err != nil {
			return api.HAStatus{}, unavailable("cluster state unavailable: %v", err)
		}
		if st.Map == nil {
			return api.HAStatus{}, unavailable("%v", errNoMap)
		}
		if st.Map.HA == ha {
			return h.status(st), nil
		}
		next := *st.Map
		next.HA = ha
		what := "HA on: every partition gets a backup"
		if !ha {
			what = "HA off: every partition drops its backup"
		}
		if _, err := h.m.repart.casMap(ctx, st, &next, nil); err != nil {
			return api.HAStatus{}, unavailable("%v", err)
		}
		h.m.log.Info("partition map changed", "version", next.Version, "what", what)
		if ctx.Err() != nil {
			return api.HAStatus{}, unavailable("%v", ctx.Err())
		}
		// Read back: the CAS may have lost to another change, in which case we look again.
	}
}

// applyHAFlag makes a changed --ha the map's HA: the value is compared with the one the
// managers last applied (kept in etcd; before any, with the map's), so a manager
// restarted with the same flags changes nothing, whatever POST /v1/ha set meanwhile.
func (m *Manager) applyHAFlag(ctx context.Context) error {
	flag := strconv.FormatBool(m.cfg.HA)
	prev, rev, err := registry.AppliedFlag(ctx, m.cli, cluster.ManagerHAKey)
	if err != nil {
		return err
	}
	if prev == flag {
		return nil
	}
	st, err := registry.Load(ctx, m.cli)
	if err != nil || st.Map == nil {
		return err
	}
	if st.Map.HA != m.cfg.HA {
		if _, oe := m.ha.setHA(ctx, m.cfg.HA); oe != nil {
			return fmt.Errorf("--ha changed to %s: %s", flag, oe.msg)
		}
		m.log.Info("--ha changed: the manager adds or removes the partitions' backups", "ha", m.cfg.HA)
	}
	// Another manager recording the same flag meanwhile makes the compare fail: nothing
	// to do then.
	if err := registry.SetAppliedFlag(ctx, m.cli, cluster.ManagerHAKey, flag, rev); err != nil && !errors.Is(err, registry.ErrConflict) {
		return err
	}
	return nil
}
