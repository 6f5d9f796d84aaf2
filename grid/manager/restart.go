package manager

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
)

// The restart election. A partition with a backup whose record names no live process —
// the record's primary is not registered with the run the record names, and its backup
// cannot take over (not in sync, or not the process the record vouches for) — is what a
// whole release restarted in any order leaves, or a primary restarted while its backup was
// catching up. Every instance with a data directory registers what its disk held at start
// (cluster.DiskState: the epoch and sequence of its last record); the etcd leader's manager
// chooses the primary by that, not by the record:
//
//   - both instances registered with a disk: the one with the newest position (epoch,
//     then sequence) is promoted; on a tie the record's primary. An empty disk (no record,
//     no key) is never promoted: the record names a process that served the partition, so
//     nothing says it held no data.
//   - one instance registered: the manager waits up to --restart-quorum-wait from when it
//     first saw the partition so, then promotes that one only when its state is not
//     provably older than what the record says: it is the record's primary, or its
//     backup while the record has it in sync (a backup the record has out of sync missed
//     writes its primary acknowledged alone); its position is not behind the record's
//     Floor (the position the previous election promoted from); and its disk is not
//     empty. Otherwise the partition waits for the other instance, or for the operator's
//     reset (POST /v1/partitions/{id}/reset, insight-grid reset), which forces a choice.
//
// A fresh record (cluster.Record.Fresh: epoch 1, unclaimed) of a partition with a backup
// is elected on the same way when a registered instance's disk served
// (cluster.DiskState.Served): the manager's state was lost (a manager without persistence
// reinstalled or restarted, its etcd removed) while the instances kept their disks, and
// the record's preferred primary may hold the older copy. Such an instance does not claim
// the record by itself (repl.Node); the election promotes the newest disk. The record
// has no history to vouch for a lone instance: no run, no in-sync backup, no Floor. So
// after the wait the one registered is promoted when its disk is not empty, with a
// warning: the other instance, if its disk is newer (it was primary last), has its newer
// writes replaced when it syncs from the one promoted. A first deploy (every disk empty,
// or no data directory) is left alone, and its preferred primary claims the record at
// once as before: an empty disk cannot be told from a lost volume there, so an empty
// preferred primary that registers before the other instance's disk is seen claims too.
//
// The promotion is one compare-and-swap of the record, on its mod revision and on both
// registrations as read: {epoch: above the record's and the winner's, primary: the winner
// with its run, backup: the other instance, not in sync, floor: the winner's position}.
// The winner serves what its disk holds as a history of its own, so the other instance
// never continues from its own position: it always receives a full sync, journaled as a
// reset that replaces everything its older disk held.

// restartElection is the leader's loop and the partitions it has seen without a live
// copy, with when.
type restartElection struct {
	m    *Manager
	wait time.Duration
	waitNote

	mu    sync.Mutex
	since map[int]seen
}

// seen is when the loop first saw a partition without a live copy, and under which record.
type seen struct {
	at  time.Time
	rev int64
	why string // what it waited for when last logged
}

func newRestartElection(m *Manager, wait time.Duration) *restartElection {
	return &restartElection{m: m, wait: wait, since: map[int]seen{}}
}

// run elects primaries for the partitions that have none while this manager leads etcd.
func (r *restartElection) run(ctx context.Context) {
	r.m.leaderLoop(ctx, registry.StateChanges(ctx, r.m.cli), haActive, haIdle,
		&r.waitNote, "electing restarted partitions' primaries failed, retrying", r.step)
}

// election is what decide found for one partition.
type election struct {
	waited bool   // --restart-quorum-wait had passed
	needed bool   // the record names no live process that can serve
	winner string // the instance to promote; "" to wait
	why    string // what the partition waits for, or why the winner
	risk   string // what promoting the winner may lose, logged at Warn ("": nothing known)
}

// needsElection reports whether partition rec names no live process: its primary's
// recorded run is not registered and its backup cannot take over; or rec is fresh (the
// partition map new) while a registered instance's disk served. Other unclaimed records
// (a first deploy, an operator's reset) and a partition without a backup (its restarted
// instance takes it back by itself) are left alone.
func needsElection(rec cluster.Record, insts map[string]cluster.Instance) bool {
	if rec.Backup == "" {
		return false
	}
	if rec.PrimaryRun == "" {
		return freshWithData(rec, insts)
	}
	if p, ok := insts[rec.Primary]; ok && p.Run == rec.PrimaryRun {
		return false
	}
	b, ok := insts[rec.Backup]
	return !rec.InSync || !ok || b.Run != rec.BackupRun
}

// freshWithData reports whether rec is fresh and a registered instance of its partition
// has a disk that served.
func freshWithData(rec cluster.Record, insts map[string]cluster.Instance) bool {
	if !rec.Fresh() {
		return false
	}
	for _, id := range []string{rec.Primary, rec.Backup} {
		if in, ok := insts[id]; ok && in.Disk.Served() {
			return true
		}
	}
	return false
}

// decide applies the election's rule to partition rec; waited says --restart-quorum-wait
// has passed since the partition was first seen so.
func decide(rec cluster.Record, insts map[string]cluster.Instance, waited bool) election {
	if !needsElection(rec, insts) {
		return election{}
	}
	e := election{needed: true, waited: waited}
	var cands []cluster.Instance
	registered := 0
	for _, id := range []string{rec.Primary, rec.Backup} {
		in, ok := insts[id]
		if !ok {
			continue
		}
		registered++
		if in.Disk != nil {
			cands = append(cands, in)
		}
	}
	switch {
	case len(cands) == 0 && registered == 0:
		e.why = "no instance registered yet"
		return e
	case len(cands) == 0:
		e.why = "no registered instance has a data directory: only the operator's reset can accept the loss"
		return e
	case len(cands) == 2:
		w, o := cands[0], cands[1] // cands[0] is the record's primary
		if w.Disk.Less(o.Disk.Position) {
			w, o = o, w
		}
		if w.Disk.Empty() {
			e.why = "both instances' disks are empty: only the operator's reset can accept the loss"
			return e
		}
		e.winner = w.ID
		e.why = fmt.Sprintf("newest disk: %s at %s, %s at %s", w.ID, posString(w.Disk.Position), o.ID, posString(o.Disk.Position))
		return e
	case registered == 2:
		// One has no data directory: no point waiting for it.
	case !waited:
		e.why = fmt.Sprintf("%s registered, waiting for the other instance", cands[0].ID)
		return e
	}
	c := cands[0]
	fresh := rec.PrimaryRun == ""
	switch {
	case c.Disk.Empty():
		e.why = fmt.Sprintf("%s's disk is empty and the partition has served: waiting for the other instance, or the operator's reset", c.ID)
	case fresh:
		other := rec.Primary
		if other == c.ID {
			other = rec.Backup
		}
		e.winner = c.ID
		e.why = fmt.Sprintf("the only instance with a disk registered within the wait on a new partition record: %s at %s", c.ID, posString(c.Disk.Position))
		if _, ok := insts[other]; !ok {
			e.risk = fmt.Sprintf("the partition record is new, so nothing vouches for %s's disk: if %s's disk is newer (it was primary last), "+
				"the writes only it holds are replaced when it syncs from %s", c.ID, other, c.ID)
		}
	case c.ID == rec.Backup && !rec.InSync:
		e.why = fmt.Sprintf("%s alone, and the record has it out of sync (its primary acknowledged writes it may not hold): waiting for %s, or the operator's reset", c.ID, rec.Primary)
	case rec.Floor != nil && c.Disk.Less(*rec.Floor):
		e.why = fmt.Sprintf("%s alone, and its disk (%s) is behind what the partition held at the last election (%s): waiting for the other instance, or the operator's reset",
			c.ID, posString(c.Disk.Position), posString(*rec.Floor))
	default:
		e.winner = c.ID
		e.why = fmt.Sprintf("the only instance registered within the wait: %s at %s", c.ID, posString(c.Disk.Position))
	}
	return e
}

func posString(p cluster.Position) string { return fmt.Sprintf("epoch %d seq %d", p.Epoch, p.Seq) }

// promoted is the record that makes winner (registered as in) primary of partition rec.
func promoted(rec cluster.Record, in cluster.Instance) cluster.Record {
	next := rec
	next.Epoch = max(rec.Epoch, in.Disk.Epoch) + 1
	other := rec.Primary
	if other == in.ID {
		other = rec.Backup
	}
	next.Primary, next.PrimaryRun = in.ID, in.Run
	next.Backup, next.BackupRun, next.InSync = other, "", false
	floor := in.Disk.Position
	next.Floor = &floor
	return next
}

// step elects what it can and reports whether a partition still waits.
func (r *restartElection) step(ctx context.Context) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	st, err := registry.Load(rctx, r.m.cli)
	if err != nil {
		return true, err
	}
	if st.Map == nil {
		return false, nil
	}
	now := time.Now()
	var waits []string
	pending := false
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pm := range st.Map.Partitions {
		p := pm.ID
		rec, ok := st.Records[p]
		if !ok || !needsElection(rec, st.Instances) {
			delete(r.since, p)
			continue
		}
		pending = true
		s, ok := r.since[p]
		if !ok || s.rev != st.RecordRevisions[p] {
			s = seen{at: now, rev: st.RecordRevisions[p]}
			r.since[p] = s
			msg := "partition has no live primary and its backup cannot take over: electing the newest disk among its instances"
			if rec.PrimaryRun == "" {
				msg = "partition record is new (the manager's state was created anew) and its instances' disks hold data: electing the newest disk among its instances"
			}
			r.m.log.Warn(msg, "partition", p, "epoch", rec.Epoch, "primary", rec.Primary, "backup", rec.Backup, "wait", r.wait.String())
		}
		e := decide(rec, st.Instances, now.Sub(s.at) >= r.wait)
		if e.winner == "" {
			waits = append(waits, fmt.Sprintf("partition %d: %s", p, e.why))
			if e.why != s.why {
				s.why = e.why
				r.since[p] = s
				r.m.log.Info("restart election waiting", "partition", p, "for", e.why)
			}
			continue
		}
		if err := r.promote(rctx, p, e); err != nil {
			return true, err
		}
	}
	msg := strings.Join(waits, "; ")
	if len(waits) > 3 {
		msg = strings.Join(waits[:3], "; ") + fmt.Sprintf("; and %d partitions more", len(waits)-3)
	}
	r.setMessage(msg)
	return pending, nil
}

// promote CASes partition p's record to the election's winner, after reading the partition
// again in one transaction: the compare covers the record and both registrations, so a
// process that registered or left meanwhile makes the next step decide again.
func (r *restartElection) promote(ctx context.Context, p int, e election) error {
	ps, err := registry.LoadPartition(ctx, r.m.cli, p)
	if err != nil {
		return fmt.Errorf("partition %d: %w", p, err)
	}
	insts := map[string]cluster.Instance{}
	for _, reg := range ps.Instances {
		if reg != nil {
			insts[reg.ID] = reg.Instance
		}
	}
	// Decided again on what the compare covers: a change since the loop's read counts.
	if e = decide(ps.Record, insts, e.waited); e.winner == "" {
		return nil
	}
	in := insts[e.winner]
	next := promoted(ps.Record, in)
	_, err = registry.CASRecord(ctx, r.m.cli, p, ps.RecordRev, next, ps.RegistrationsUnchanged()...)
	switch {
	case errors.Is(err, registry.ErrConflict):
		return nil
	case err != nil:
		return fmt.Errorf("partition %d: %w", p, err)
	}
	r.m.log.Warn("restart election: promoted the newest disk; the other instance syncs from it in full",
		"partition", p, "epoch", next.Epoch, "primary", next.Primary, "backup", next.Backup, "why", e.why)
	if e.risk != "" {
		r.m.log.Warn("restart election: promoted an instance alone on a new partition record, which cannot tell whether the other instance's disk is newer",
			"partition", p, "primary", next.Primary, "risk", e.risk)
	}
	return nil
}

// apiRecord is rec as the API shows it.
func apiRecord(rec cluster.Record) api.Record {
	return api.Record{Epoch: rec.Epoch, Primary: rec.Primary, Backup: rec.Backup, InSync: rec.InSync,
		PreferredPrimary: rec.PreferredPrimary, PrimaryRun: rec.PrimaryRun, BackupRun: rec.BackupRun}
}
