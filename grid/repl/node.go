// Package repl makes a partition's two instances one fault-tolerant copy of its data:
// the primary streams every change to the backup and acknowledges a write to its client
// only once the backup applied it; roles change only by compare-and-swap of the
// partition's record in etcd, and every change of primary raises the epoch that fences
// the one before.
//
// Safety rests on three rules. A backup applies nothing from an older epoch, so a deposed
// primary never gets a write confirmed. A primary serves only while it holds a lease: the
// backup's acknowledgements while the record says the backup is in sync (the backup
// promotes itself only after that lease has run out), its etcd registration lease while it
// is alone. A process restarted with an empty memory never serves as primary of a
// partition that has served before: the record names the process (its run) that holds
// the data. A partition with a backup whose record names no live process (a whole
// release restarted), or whose record is new while an instance's disk holds its data
// (the manager's state lost), waits for the manager's restart election, which names the
// instance whose disk holds the newest position.
package repl

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/store"
	"github.com/insightgrid/insight/grid/wan"
)

// Coordinator writes partition records; registry.CASRecord over an etcd client in
// production.
type Coordinator interface {
	CASRecord(ctx context.Context, partition int, rev int64, rec cluster.Record) (int64, error)
}

// ErrConflict is what a Coordinator returns (wrapped) when the record changed since rev.
// The node then waits for the new record.
var ErrConflict = errors.New("record changed")

// Config is a node's configuration.
type Config struct {
	Partition, Instance int
	// ReplTimeout is how long a primary waits for its backup's acknowledgement before it
	// records the backup out of sync and goes on alone. The primary's serving lease on
	// the backup's acknowledgements is twice this; the backup takes over after hearing
	// nothing for that lease plus a margin.
	ReplTimeout time.Duration
	// BacklogBytes is the redo ring's size.
	BacklogBytes int
	// Password is sent with AUTH when connecting to the primary.
	Password string
	// TLS, when set, is the client side of the mutual TLS a backup dials its primary's
	// replication port (cluster.Instance.InternalAddress) with; nil: plain.
	TLS    *tls.Config
	Store  *store.Store
	Coord  Coordinator
	Logger *slog.Logger
	// Disk, when set, keeps this node's changes on the instance's volume (package
	// persist); RecoveredEpoch and RecoveredSeq are the position of what it loaded into
	// Store at start: where a backup asks its primary to continue from, and where a
	// primary's numbering continues.
	Disk Disk
	// WAN, when set (WAN replication on, without Disk), stamps every change of the
	// store with its conflict metadata, journaled after it in the same stream, so a
	// backup holds the metadata and the outbox of the data it holds.
	WAN            *wan.Tracker
	RecoveredEpoch int64
	RecoveredSeq   uint64
}

// Disk is a journal on the instance's volume (persist.Journal): it takes a primary's
// changes in sequence order (under the redo ring's lock), a backup's as it applies them,
// and the full syncs that replace a backup's data. Replies wait until what they depend
// on is Written there too.
type Disk interface {
	Append(epoch, seq uint64, op []byte)
	Reset()
	Load(op []byte)
	Loaded(epoch, seq uint64)
	// Written is the sequence up to which a reply may be sent: the changes are handed
	// to the OS, and fsynced when the policy says so (appendfsync always).
	Written() uint64
	// Wait blocks until seq is Written; false when it never will be in this numbering.
	Wait(seq uint64) bool
}

// Roles.
const (
	roleNone    = ""
	rolePrimary = cluster.RolePrimary
	roleBackup  = cluster.RoleBackup
)

// gate is what the data path reads, replaced as a whole on every change.
type gate struct {
	serving  bool
	from     int64         // mono time from which serving may start (a deposed primary's lease ran out)
	sync     bool          // acknowledge only what the backup applied
	redirect string        // address of the partition's primary when not serving
	why      string        // when not serving
	paused   chan struct{} // non-nil while a handover holds commands
}

// Node is one instance's replication state machine.
type Node struct {
	cfg  Config
	id   string
	run  string
	log  *slog.Logger
	rlog *Log

	g        atomic.Pointer[gate]
	acked    atomic.Uint64
	waiters  waiters
	ackStamp atomic.Int64 // mono time a heartbeat was sent that the backup has acknowledged
	// ackSent is the mono time this node, as a backup, last acknowledged its primary's
	// stream (any follower's): the deposed primary may serve until serveLease after it.
	ackSent atomic.Int64
	fence   atomic.Int64 // the newest epoch seen: frames of older ones are refused
	promo   atomic.Pointer[promotion]
	// promotions counts this node's takeovers of a failed primary (not planned
	// handovers, which every rolling update makes): insight_grid_promotions_total.
	promotions atomic.Uint64

	mu        sync.Mutex
	rec       cluster.Record
	rev       int64
	haveRec   bool
	insts     map[string]cluster.Instance
	role      string
	epoch     int64 // the epoch this node serves or follows
	served    int64 // last epoch logged as served
	feed      *feed
	fol       *follower
	base      uint64 // this primary's sequence started after base, which ended epoch baseEpoch
	baseEpoch int64
	pos       uint64 // where a follower starts: the last sequence applied here, of epoch posEpoch
	posEpoch  int64
	byeFrom   string      // run of a backup that said it is stopping
	syncing   atomic.Bool // going in sync: waiting for the backup to acknowledge syncHead (read by the ack reader)
	syncHead  uint64
	syncTill  int64 // mono deadline of going in sync
	casBusy   bool
	casFails  int   // writes of the record in a row that failed other than by a conflict
	casAfter  int64 // mono time before which the record is not written again (backoff)
	ownRev    int64 // revision of the record this node wrote last
	promoWait int64 // mono deadline for the old primary's 'p' frame after its handover record
	stopping  bool
	kick      chan struct{}
}

// promoGrace is how long a backup named primary by a handover record waits for the old
// primary's 'p' frame (sent right after its compare-and-swap) before it assumes the frame
// is lost and waits out the old primary's lease instead: the record usually arrives
// through the watch first, the frame a moment later.
const promoGrace = 100 * time.Millisecond

var start = time.Now()

// mono is the monotonic time since the process started, in nanoseconds.
func mono() int64 { return int64(time.Since(start)) }

// NewRun returns a random identifier for this process.
func NewRun() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// New returns a node for instance id of the partition, as process run. It journals the
// store's changes into its redo ring from now on.
func New(cfg Config, run string) *Node {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ReplTimeout <= 0 {
		cfg.ReplTimeout = 500 * time.Millisecond
	}
	if cfg.BacklogBytes <= 0 {
		cfg.BacklogBytes = 64 << 20
	}
	n := &Node{
		cfg: cfg, id: cluster.InstanceID(cfg.Partition, cfg.Instance), run: run, log: cfg.Logger,
		rlog: NewLog(cfg.BacklogBytes), kick: make(chan struct{}, 1),
	}
	n.rlog.disk = cfg.Disk
	n.pos, n.posEpoch = cfg.RecoveredSeq, cfg.RecoveredEpoch
	n.g.Store(&gate{why: "no partition record received yet"})
	cfg.Store.SetJournal(storeJournal{n})
	return n
}

// storeJournal is the store's journal: every change goes into the redo ring, and the
// deletions of the store's expiry cycle too, which runs only while this node serves as
// primary: its backup drops a key when the primary did, whatever the backup's clock
// says. A backup, and a primary while a handover holds commands (its backup has
// acknowledged everything already), expire nothing.
type storeJournal struct{ n *Node }

func (j storeJournal) Record(slot int, op []byte) {
	j.n.rlog.Record(slot, op)
	if w := j.n.cfg.WAN; w != nil {
		w.Record(slot, op, j.n.rlog.Record)
	}
}

func (j storeJournal) RecordExpiry(slot int, op []byte) {
	if j.ExpiresKeys() {
		j.Record(slot, op)
	}
}

// apply replays an operation of the primary's stream: the store's, or WAN metadata.
func (n *Node) apply(op []byte) error {
	if w := n.cfg.WAN; w != nil && wan.IsOp(op) {
		return w.ApplyOp(op)
	}
	return n.cfg.Store.Apply(op)
}

// RecordWAN journals a WAN operation (package wan) in the replication stream: the
// backup replays it with the data.
func (n *Node) RecordWAN(slot int, op []byte) { n.rlog.Record(slot, op) }

func (j storeJournal) ExpiresKeys() bool {
	g := j.n.g.Load()
	return g.serving && g.paused == nil
}

// Run is the node's control loop; it returns when ctx ends. It steps whenever something
// pokes it (a new record, an attached backup, an acknowledgement while going in sync, a
// refused reconnection) and on a timer: every ReplTimeout/10 while a state is on its way
// or writers wait, otherwise at the next deadline a step acts on (nextStep), so an idle
// instance wakes about once per ReplTimeout, not ten times.
func (n *Node) Run(ctx context.Context) {
	t := time.NewTimer(n.cfg.ReplTimeout / 10)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			n.mu.Lock()
			n.stopping = true
			if n.feed != nil {
				n.feed.close()
			}
			if n.fol != nil {
				n.fol.stop(true)
			}
			n.setGate(&gate{why: "stopping"}) // replies still waiting are dropped
			n.mu.Unlock()
			return
		case <-t.C:
			n.waiters.wakeAll() // waiters re-check their deadline
		case <-n.kick:
		}
		n.step(ctx)
		t.Reset(n.nextStep())
	}
}

// nextStep is how long the control loop may sleep when nothing pokes it. In the steady
// states it sleeps until the first moment a step could act: an in-sync primary until its
// backup's last acknowledgement is ReplTimeout old (it records the backup out of sync
// then), an in-sync backup until its primary has been silent for promoteAfter (it takes
// over then), a primary without a backup up to 2 x ReplTimeout (nothing to watch). The
// heartbeats every ReplTimeout/5 move those deadlines, so the loop checks them about once
// per ReplTimeout, exactly when they could pass (not up to a tick later as before); every other state (a claim,
// going in sync, a backup catching up, a failed record write, writers waiting) is
// stepped every ReplTimeout/10 as before.
func (n *Node) nextStep() time.Duration {
	tick := n.cfg.ReplTimeout / 10
	if n.waiters.any() {
		return tick
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.haveRec || n.stopping || n.casBusy || n.casFails > 0 || n.promoWait != 0 || n.promo.Load() != nil {
		return tick
	}
	rec, now := n.rec, mono()
	var until int64
	switch {
	case n.role == rolePrimary && rec.Primary == n.id && rec.PrimaryRun == n.run && rec.Epoch == n.epoch:
		switch {
		case rec.Backup == "":
			return 2 * n.cfg.ReplTimeout
		case !rec.InSync || n.syncing.Load() || n.byeFrom != "":
			return tick
		}
		until = n.ackStamp.Load() + int64(n.cfg.ReplTimeout)
	case n.role == roleBackup && rec.Backup == n.id && rec.InSync && rec.BackupRun == n.run && n.fol != nil:
		until = n.fol.lastRecv.Load() + n.promoteAfter()
	default:
		return tick
	}
	// A step acts once the deadline has strictly passed: 1 ms after it. Past it (the
	// record write failed or conflicted), every tick again.
	if d := time.Duration(until-now) + time.Millisecond; d > 0 {
		return min(d, 2*n.cfg.ReplTimeout)
	}
	return tick
}

func (n *Node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// serveLease is how long after a heartbeat the backup acknowledged a primary in sync
// may serve; promoteAfter is how long a backup waits after the last frame it received.
func (n *Node) serveLease() int64   { return int64(2 * n.cfg.ReplTimeout) }
func (n *Node) promoteAfter() int64 { return n.serveLease() + int64(n.cfg.ReplTimeout/2) }

// leaseEnd is when the primary this node acknowledged last stops serving (it is deposed,
// or dead): its lease runs serveLease after the heartbeat of the last acknowledgement, and
// that heartbeat was sent before the acknowledgement. Zero when this node never
// acknowledged anything.
func (n *Node) leaseEnd() int64 {
	if t := n.ackSent.Load(); t > 0 {
		return t + n.serveLease()
	}
	return 0
}

// SetState hands the node the cluster state read from etcd.
func (n *Node) SetState(st *cluster.State) {
	rec, ok := st.Records[n.cfg.Partition]
	if !ok {
		return
	}
	n.mu.Lock()
	if rev := st.RecordRevisions[n.cfg.Partition]; rev >= n.rev {
		n.rec, n.rev, n.haveRec = rec, rev, true
		n.raiseFence(rec.Epoch)
	}
	n.insts = st.Instances
	n.mu.Unlock()
	n.poke()
}

func (n *Node) raiseFence(epoch int64) {
	for {
		cur := n.fence.Load()
		if epoch <= cur || n.fence.CompareAndSwap(cur, epoch) {
			return
		}
	}
}

// setGate publishes what the data path does from now on.
func (n *Node) setGate(g *gate) {
	old := n.g.Swap(g)
	if old.paused != nil && old.paused != g.paused {
		close(old.paused)
	}
	// Writers waiting for acknowledgements re-check the mode.
	n.waiters.wakeAll()
}

// step applies the current record: it is the only place roles change.
func (n *Node) step(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.promo.Swap(nil); p != nil && p.rev > n.rev {
		n.rec, n.rev, n.haveRec = p.rec, p.rev, true
		n.raiseFence(p.rec.Epoch)
	}
	if !n.haveRec || n.stopping || n.casBusy {
		return
	}
	rec := n.rec
	if rec.Primary != n.id {
		n.promoWait = 0
	}
	switch {
	case rec.Primary == n.id:
		n.stepPrimary(ctx, rec)
	case rec.Backup == n.id:
		n.stepBackup(ctx, rec)
	default:
		n.becomeNone(fmt.Sprintf("instance %s is neither primary (%s) nor backup (%q) of partition %d", n.id, rec.Primary, rec.Backup, n.cfg.Partition))
	}
}

func (n *Node) becomeNone(why string) {
	if n.feed != nil {
		n.feed.close()
		n.feed = nil
	}
	if n.fol != nil {
		n.fol.stop(true)
		n.fol = nil
	}
	n.role = roleNone
	n.setGate(&gate{why: why, redirect: n.primaryAddr()})
}

// primaryAddr is the client address of the record's primary when it is registered.
func (n *Node) primaryAddr() string {
	if inst, ok := n.insts[n.rec.Primary]; ok && n.rec.Primary != n.id {
		return inst.Address
	}
	return ""
}

// primaryInternalAddr is the address a backup dials for the record's primary's
// replication stream when it is registered.
func (n *Node) primaryInternalAddr() string {
	if inst, ok := n.insts[n.rec.Primary]; ok && n.rec.Primary != n.id {
		return inst.InternalAddress()
	}
	return ""
}

// cas writes rec over the current record without holding n.mu during the call; on
// success the node already acts on the new record before the watch delivers it.
func (n *Node) cas(ctx context.Context, rec cluster.Record) bool {
	if mono() < n.casAfter {
		return false
	}
	rev := n.rev
	n.casBusy = true
	n.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 4*n.cfg.ReplTimeout)
	newRev, err := n.cfg.Coord.CASRecord(cctx, n.cfg.Partition, rev, rec)
	cancel()
	n.mu.Lock()
	n.casBusy = false
	if err != nil {
		if !errors.Is(err, ErrConflict) {
			// etcd is unreachable or overloaded (a write that timed out may still be
			// applied): every instance trying again at each tick of its control loop would
			// only add to its queue. Back off, doubling up to 2x ReplTimeout, with jitter.
			n.casFails++
			d := min(n.cfg.ReplTimeout/10<<min(n.casFails-1, 5), 2*n.cfg.ReplTimeout)
			d = d/2 + mrand.N(d/2+1)
			n.casAfter = mono() + int64(d)
			time.AfterFunc(d, n.poke)
			n.log.Warn("writing the partition record failed", "partition", n.cfg.Partition, "err", err, "retryIn", d.Round(time.Millisecond).String())
			return false
		}
		n.casFails = 0
		return false
	}
	n.casFails = 0
	n.ownRev = newRev
	if n.rev == rev { // the watch has not delivered anything newer yet
		n.rec, n.rev = rec, newRev
		n.raiseFence(rec.Epoch)
	}
	return true
}

// stepPrimary runs a primary: claim, lease, sync state of the backup.
func (n *Node) stepPrimary(ctx context.Context, rec cluster.Record) {
	switch rec.PrimaryRun {
	case n.run:
	case "":
		if why := n.claimWait(rec); why != "" {
			n.becomeNone(why)
			return
		}
		claim := rec
		claim.PrimaryRun, claim.BackupRun, claim.InSync = n.run, "", false
		n.log.Info("claiming the partition as primary", "partition", n.cfg.Partition, "epoch", rec.Epoch)
		n.cas(ctx, claim)
		return
	default:
		if self, ok := n.insts[n.id]; ok && self.Run == n.run && rec.Backup == "" {
			// Without a backup a restart keeps only what the instance's disk held (as a
			// Redis starts from its AOF, or empty without persistence). The registration
			// this process holds proves the old one is gone: start a new epoch.
			next := rec
			next.Epoch++
			next.PrimaryRun, next.BackupRun, next.InSync = n.run, "", false
			if n.cas(ctx, next) {
				if n.cfg.Disk != nil {
					n.log.Info("partition restarted from its data directory: it has no backup",
						"partition", n.cfg.Partition, "epoch", next.Epoch, "previousRun", rec.PrimaryRun, "keys", n.cfg.Store.Keys(), "offset", n.pos)
				} else {
					n.log.Warn("partition restarted empty: it has no backup, its data was lost with the previous process",
						"partition", n.cfg.Partition, "epoch", next.Epoch, "previousRun", rec.PrimaryRun)
				}
			}
			return
		}
		why := fmt.Sprintf("this process restarted without the partition's data (the record names run %s as primary, this is %s); ", rec.PrimaryRun, n.run)
		switch {
		case n.cfg.Disk != nil:
			// The manager's restart election decides: it promotes the newest disk among
			// the partition's instances when its backup cannot take over.
			why += "waiting for the in-sync backup to take over, or for the manager's restart election (the newest disk among the partition's instances becomes primary)"
		case rec.InSync:
			why += "waiting for the in-sync backup to take over"
		default:
			why += "no in-sync copy exists: refusing to serve rather than lose acknowledged writes (an operator may accept the loss with the manager's reset)"
		}
		n.becomeNone(why)
		return
	}
	if n.role != rolePrimary {
		// Made primary by a handover of the old primary (or by the operator): stop
		// following, continue the sequence after what was applied, and unless the old
		// primary said it stopped serving ('p' frame), wait out its lease on this node's
		// acknowledgements.
		var from int64
		if f := n.fol; f != nil {
			if f.promoted.Load() != rec.Epoch && n.rev != n.ownRev {
				// A record naming this process (its run, as the switch above made sure)
				// primary that another wrote: only the old primary's handover does that,
				// and it stopped serving before writing it. Its 'p'
				// frame says so; give it a moment to arrive rather than a whole lease.
				switch now := mono(); {
				case n.promoWait == 0:
					n.promoWait = now + int64(promoGrace)
					time.AfterFunc(promoGrace, n.poke)
					return
				case now < n.promoWait:
					return
				}
			}
			n.promoWait = 0
			f.stop(true)
			n.fol = nil
			if f.promoted.Load() != rec.Epoch {
				from = n.leaseEnd()
			}
			n.base, n.baseEpoch = f.applied.Load(), f.epoch.Load()
			n.rlog.Restart(uint64(rec.Epoch), n.base)
		} else if from = n.leaseEnd(); n.rlog.Head() == 0 && n.pos == 0 && n.cfg.Store.Keys() == 0 {
			// Claimed empty (a first deploy): the same state as any empty backup.
			n.base, n.baseEpoch = 0, 0
		} else {
			// Claimed with data of its own (after a reset): no backup's position is a point
			// of this history, every backup loads a snapshot.
			n.base, n.baseEpoch = 0, -1
			n.rlog.Restart(uint64(rec.Epoch), max(n.pos, n.rlog.Head()))
		}
		if rec.Backup != "" {
			// The old primary, now the backup, continues from where it was: keep the
			// history it will ask for from now on, not only from its reconnection.
			n.rlog.Retain()
		}
		n.role = rolePrimary
		n.epoch = rec.Epoch
		n.rlog.SetEpoch(uint64(rec.Epoch))
		n.acked.Store(n.rlog.Head())
		n.ackStamp.Store(mono())
		n.setGate(&gate{serving: true, from: from, sync: rec.InSync})
	}
	g := n.g.Load()
	if g.paused != nil {
		return // a handover is in progress
	}
	if n.epoch != rec.Epoch { // another CAS raised it (a reset while alive keeps this run)
		n.epoch = rec.Epoch
		n.rlog.SetEpoch(uint64(rec.Epoch))
	}
	if n.served != rec.Epoch && g.serving {
		n.served = rec.Epoch
		n.log.Info("serving as primary", "partition", n.cfg.Partition, "epoch", rec.Epoch, "inSync", rec.InSync)
	}
	if rec.Backup == "" {
		if g.sync {
			n.setGate(&gate{serving: true, from: g.from})
		}
		return
	}
	now := mono()
	switch {
	case rec.InSync:
		if !g.sync {
			n.setGate(&gate{serving: true, from: g.from, sync: true})
		}
		if n.byeFrom != "" && n.byeFrom == rec.BackupRun {
			n.goAlone(ctx, rec, "the backup is stopping")
			return
		}
		last := n.ackStamp.Load()
		if now-last > int64(n.cfg.ReplTimeout) {
			n.goAlone(ctx, rec, "no acknowledgement from the backup for "+time.Duration(now-last).Round(time.Millisecond).String())
		}
	case n.syncing.Load():
		if n.acked.Load() >= n.syncHead && n.feed != nil && n.feed.alive() {
			next := rec
			next.InSync, next.BackupRun = true, n.feed.run
			head := n.syncHead
			if n.cas(ctx, next) {
				n.syncing.Store(false)
				n.ackStamp.Store(mono())
				n.log.Info("backup in sync", "partition", n.cfg.Partition, "epoch", rec.Epoch, "backup", rec.Backup, "offset", head)
			}
			return
		}
		if now > n.syncTill {
			n.syncing.Store(false)
			n.setGate(&gate{serving: true, from: g.from})
		}
	default:
		if g.sync {
			n.setGate(&gate{serving: true, from: g.from})
		}
		f := n.feed
		if f != nil && f.alive() && f.live.Load() && n.rlog.Head()-n.acked.Load() < 1024 && now-n.ackStamp.Load() < int64(n.cfg.ReplTimeout)/2 {
			// Acknowledge nothing more without the backup, then record it in sync once it
			// has everything acknowledged so far.
			n.syncing.Store(true)
			n.syncHead = n.rlog.Head()
			n.syncTill = now + int64(n.cfg.ReplTimeout)
			n.ackStamp.Store(now)
			n.setGate(&gate{serving: true, from: g.from, sync: true})
		}
	}
}

// claimWait says why this instance must not claim the unclaimed record rec by itself (""
// when it may). A fresh record of a partition with a backup (the partition map just
// created) knows nothing of the instances' disks: when either instance registered a disk
// that served, the manager's restart election chooses the newest one, as after a whole
// restart, rather than the record's preferred primary with whatever its disk holds. An
// instance with a data directory waits until its own registration (what its disk held)
// is in the state, so the manager and it decide on the same registrations. Memory-only
// instances and the empty disks of a first deploy claim at once as before; so does the
// instance an operator's reset names (its record is not fresh).
func (n *Node) claimWait(rec cluster.Record) string {
	if rec.Backup == "" || !rec.Fresh() {
		return ""
	}
	if self, ok := n.insts[n.id]; n.cfg.Disk != nil && (!ok || self.Run != n.run) {
		return "waiting for this instance's registration (what its disk held) before claiming the partition"
	}
	for _, id := range []string{rec.Primary, rec.Backup} {
		if in, ok := n.insts[id]; ok && in.Disk.Served() {
			return fmt.Sprintf("the partition record is new (the manager's state was created anew) and %s's disk holds the partition's data: "+
				"waiting for the manager's restart election (the newest disk among the partition's instances becomes primary)", id)
		}
	}
	return ""
}

// goAlone records the backup out of sync, then serves alone.
func (n *Node) goAlone(ctx context.Context, rec cluster.Record, why string) {
	next := rec
	next.InSync, next.BackupRun = false, ""
	if !n.cas(ctx, next) {
		return
	}
	n.log.Warn("backup out of sync", "partition", n.cfg.Partition, "epoch", rec.Epoch, "backup", rec.Backup, "why", why)
	if n.feed != nil {
		// A stream silently cut (no RST) still looks alive; the backup reconnects and must
		// prove itself with fresh acknowledgements before it is waited for again.
		n.feed.close()
		n.feed = nil
	}
	g := n.g.Load()
	n.setGate(&gate{serving: g.serving, from: g.from})
}

// stepBackup runs a backup: follow the primary, take over when it is gone.
func (n *Node) stepBackup(ctx context.Context, rec cluster.Record) {
	if n.feed != nil {
		n.feed.close()
		n.feed = nil
	}
	if n.role != roleBackup {
		if n.role == rolePrimary {
			// Deposed: follow from what this node had; the new primary decides whether that
			// is a prefix of its history or a snapshot is needed.
			n.pos, n.posEpoch = n.rlog.Head(), n.epoch
		}
		n.role = roleBackup
		n.syncing.Store(false)
	}
	n.setGateIfChanged(&gate{why: n.backupWhy(rec), redirect: n.primaryAddr()})
	addr := n.primaryInternalAddr()
	inst, registered := n.insts[rec.Primary]
	if n.fol == nil || n.fol.addr != addr || n.fol.done() {
		if n.fol != nil {
			n.fol.stop(true)
		}
		n.fol = nil
		if registered && inst.Run == rec.PrimaryRun && rec.PrimaryRun != "" {
			n.fol = n.follow(ctx, addr)
		}
	}
	if !rec.InSync || rec.BackupRun != n.run {
		return
	}
	var silent bool
	var since time.Duration
	if n.fol != nil {
		last := n.fol.lastRecv.Load()
		silent = mono()-last > n.promoteAfter()
		since = time.Duration(mono() - last)
	}
	gone := !registered || inst.Run != rec.PrimaryRun
	refused := n.fol != nil && n.fol.refused.Load()
	if !gone && !silent && !refused {
		return
	}
	applied, appliedEpoch := n.pos, n.posEpoch
	if n.fol != nil {
		n.fol.stop(true) // nothing is applied or acknowledged after this
		applied, appliedEpoch = n.fol.applied.Load(), n.fol.epoch.Load()
		n.fol = nil
	}
	next := rec
	next.Epoch++
	next.Primary, next.PrimaryRun = n.id, n.run
	next.Backup, next.BackupRun, next.InSync = rec.Primary, "", false
	reason := "its registration is gone"
	switch {
	case gone:
	case refused:
		reason = "the stream ended and its address refuses connections after " + since.Round(time.Millisecond).String()
	default:
		reason = "nothing heard for " + since.Round(time.Millisecond).String()
	}
	if !n.cas(ctx, next) {
		return
	}
	n.promotions.Add(1)
	n.log.Warn("promoted", "partition", n.cfg.Partition, "epoch", next.Epoch, "oldPrimary", rec.Primary, "why", reason, "offset", applied,
		"servesIn", time.Duration(max(n.leaseEnd()-mono(), 0)).Round(time.Millisecond).String())
	n.rlog.Restart(uint64(next.Epoch), applied)
	n.rlog.Retain() // the old primary, back as the backup, may continue from the ring
	n.base, n.baseEpoch = applied, appliedEpoch
	n.epoch = next.Epoch
	n.role = rolePrimary
	n.acked.Store(applied)
	from := n.leaseEnd()
	n.setGate(&gate{serving: true, from: from})
	n.served = next.Epoch
	n.log.Info("serving as primary", "partition", n.cfg.Partition, "epoch", next.Epoch, "inSync", false)
}

func (n *Node) backupWhy(rec cluster.Record) string {
	switch {
	case rec.InSync && rec.BackupRun == n.run:
		return ""
	case n.fol == nil:
		return fmt.Sprintf("backup of partition %d: the primary %s is not reachable yet", n.cfg.Partition, rec.Primary)
	}
	return fmt.Sprintf("backup of partition %d: catching up with the primary %s", n.cfg.Partition, rec.Primary)
}

func (n *Node) setGateIfChanged(g *gate) {
	if old := n.g.Load(); old.why != g.why || old.redirect != g.redirect || old.serving != g.serving || old.sync != g.sync {
		n.setGate(g)
	}
}
