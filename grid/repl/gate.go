package repl

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
)

// Admit is asked before a command on this instance's partition runs. It returns the
// address to redirect the client to (MOVED), or an error reply (TRYAGAIN: go-redis and
// other cluster clients retry it), or neither when the command may run. While a handover
// pauses commands it waits, up to one second.
func (n *Node) Admit() (redirect, errReply string) {
	for {
		g := n.g.Load()
		if g.paused != nil {
			select {
			case <-g.paused:
				continue
			case <-time.After(time.Second):
				return "", fmt.Sprintf("TRYAGAIN partition %d: a handover is in progress", n.cfg.Partition)
			}
		}
		if !g.serving {
			if g.redirect != "" {
				return g.redirect, ""
			}
			return "", fmt.Sprintf("TRYAGAIN partition %d has no serving primary: %s", n.cfg.Partition, g.why)
		}
		now := mono()
		if now < g.from {
			return "", fmt.Sprintf("TRYAGAIN partition %d: taking over, waiting %s for the old primary's lease to end", n.cfg.Partition, time.Duration(g.from-now).Round(time.Millisecond))
		}
		if g.sync && now > n.ackStamp.Load()+n.serveLease() {
			return "", fmt.Sprintf("TRYAGAIN partition %d: the backup stopped acknowledging; recording it out of sync", n.cfg.Partition)
		}
		return "", ""
	}
}

// Barrier is the replication sequence the reply to a command must wait for: after a
// write, everything journaled so far; after a read of slot, the last change of that slot
// (a read must not show what the backup does not have yet). Zero when nothing to wait for.
// A write that ends after this node stopped serving (a handover drained before a long
// command, a script, recorded its changes) gets a sequence Wait refuses: its reply must
// not be sent, the new primary does not have it.
//
// With a Disk, the sequence is also what must be Written on this instance's volume
// first: after a write everything journaled so far, after a read the last change of its
// slot, as Redis sends no reply before it wrote (with appendfsync always, fsynced) the
// AOF of the writes made before it.
func (n *Node) Barrier(write bool, slot int) uint64 {
	seq := n.replBarrier(write, slot)
	if d := n.cfg.Disk; d != nil {
		head := n.rlog.Head()
		if !write && slot >= 0 {
			head = min(head, n.rlog.SlotSeq(slot))
		}
		if head > d.Written() {
			seq = max(seq, head)
		}
	}
	return seq
}

// replBarrier is Barrier for the backup alone.
func (n *Node) replBarrier(write bool, slot int) uint64 {
	if g := n.g.Load(); !g.sync {
		if write && !g.serving {
			return max(n.rlog.Head(), n.acked.Load()+1)
		}
		return 0
	}
	var seq uint64
	if write || slot < 0 {
		seq = n.rlog.Head()
	} else {
		seq = n.rlog.SlotSeq(slot)
	}
	if seq <= n.acked.Load() {
		return 0
	}
	return seq
}

// Wait blocks until the backup acknowledged seq, or the primary acknowledges alone after
// recording the backup out of sync. It returns false when this instance stopped serving
// meanwhile: the replies that waited must not be sent.
//
// With a Disk it first waits until seq is Written there (a sequence past the ring's
// head, given to a write that ended after this node stopped serving, is refused below
// without waiting).
func (n *Node) Wait(seq uint64) bool {
	if d := n.cfg.Disk; d != nil && seq <= n.rlog.Head() && !d.Wait(seq) {
		return false
	}
	for {
		if n.acked.Load() >= seq {
			return true
		}
		bcast := n.waiters.bcast.Load()
		g := n.g.Load()
		if !g.sync {
			return g.serving
		}
		if mono() > n.ackStamp.Load()+2*n.serveLease() {
			return false // neither acknowledged nor recorded out of sync: etcd is unreachable
		}
		w := n.waiters.add(seq, &n.acked, bcast)
		if w == nil {
			continue
		}
		<-w.ch // sent by the acknowledgement of seq, a change of gate, or a tick of the control loop
		n.waiters.done(w)
	}
}

// Status is the instance's replication state for /v1/status and INFO.
func (n *Node) Status() cluster.InstanceStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	g := n.g.Load()
	st := cluster.InstanceStatus{
		Partition: n.cfg.Partition, Instance: n.cfg.Instance, ID: n.id, PID: os.Getpid(), Run: n.run,
		Role: n.role, Epoch: n.rec.Epoch, Why: g.why,
	}
	switch n.role {
	case rolePrimary:
		st.Serving = g.serving && mono() >= g.from
		st.Offset, st.AckedOffset = n.rlog.Head(), n.acked.Load()
		st.InSync = n.rec.InSync
		if n.rec.Backup != "" {
			st.LagOps = st.Offset - min(st.AckedOffset, st.Offset)
		}
		st.Ready = st.Serving
		if !st.Ready && st.Why == "" {
			st.Why = "taking over as primary"
		}
	case roleBackup:
		st.InSync = n.rec.InSync && n.rec.BackupRun == n.run
		if n.fol != nil {
			st.Offset = n.fol.applied.Load()
		} else {
			st.Offset = n.pos
		}
		st.Ready = st.InSync
	}
	if !n.haveRec {
		st.Why = "no partition record received yet"
	}
	return st
}

// Role is this instance's role now ("primary", "backup" or "").
func (n *Node) Role() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.role
}

// Promotions is how many times this node took over its partition from a failed primary
// (automatic failovers); planned handovers are not counted.
func (n *Node) Promotions() uint64 { return n.promotions.Load() }

// Stop prepares a graceful exit: a primary hands over to its in-sync backup (recording
// itself out of sync), a backup tells its primary it is leaving.
func (n *Node) Stop(ctx context.Context) {
	n.mu.Lock()
	role, rec := n.role, n.rec
	fol := n.fol
	n.mu.Unlock()
	switch {
	case role == rolePrimary && rec.InSync && rec.Backup != "":
		if res, err := n.Handover(ctx, rec.Backup, rec.Epoch, true); err != nil {
			n.log.Warn("handover before stopping failed", "partition", n.cfg.Partition, "err", err)
		} else {
			n.log.Info("handed over before stopping", "partition", n.cfg.Partition, "to", res.To, "epoch", res.Epoch)
		}
	case role == roleBackup && fol != nil:
		fol.sayBye()
	}
}
