package repl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/slots"
)

// feed is the stream from this primary to its attached backup.
type feed struct {
	n      *Node
	nc     net.Conn
	rd     *bufio.Reader
	id     string      // the backup's instance ID
	run    string      // the backup's process
	live   atomic.Bool // past the snapshot, streaming the ring
	once   sync.Once
	closed chan struct{}
	wmu    sync.Mutex    // serializes writes: the sender and a handover's 'p' frame
	acks   chan struct{} // a token when an acknowledgement arrives: the sender may send the next batch
}

func (f *feed) close() {
	f.once.Do(func() {
		close(f.closed)
		f.nc.Close()
	})
}

func (f *feed) alive() bool {
	select {
	case <-f.closed:
		return false
	default:
		return true
	}
}

func (f *feed) write(bufs net.Buffers) error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	_ = f.nc.SetWriteDeadline(time.Now().Add(2 * f.n.cfg.ReplTimeout))
	_, err := bufs.WriteTo(f.nc)
	return err
}

// Attach serves a backup's REPLSYNC <id> <run> <epoch> <seq> on nc (whose already
// buffered input is given) until the stream ends. It runs on the connection's goroutine
// and closes nc.
func (n *Node) Attach(nc net.Conn, buffered []byte, args [][]byte) {
	defer nc.Close()
	reply := func(s string) { _, _ = nc.Write([]byte(s + "\r\n")) }
	if len(args) != 5 {
		reply("-ERR wrong number of arguments for 'replsync' command")
		return
	}
	id, run := string(args[1]), string(args[2])
	epoch, err1 := strconv.ParseInt(string(args[3]), 10, 64)
	seq, err2 := strconv.ParseUint(string(args[4]), 10, 64)
	if err1 != nil || err2 != nil {
		reply("-ERR REPLSYNC wants <id> <run> <epoch> <seq> with integer epoch and seq")
		return
	}
	n.mu.Lock()
	rec := n.rec
	g := n.g.Load()
	if n.role != rolePrimary || !g.serving {
		n.mu.Unlock()
		reply(fmt.Sprintf("-NOTPRIMARY %s is not serving as primary of partition %d", n.id, n.cfg.Partition))
		return
	}
	if rec.Backup != id {
		n.mu.Unlock()
		reply(fmt.Sprintf("-ERR %s is not the backup of partition %d (the record names %q)", id, n.cfg.Partition, rec.Backup))
		return
	}
	if n.feed != nil {
		n.feed.close()
	}
	f := &feed{n: n, nc: nc, rd: bufio.NewReader(io.MultiReader(bytes.NewReader(buffered), nc)), id: id, run: run, closed: make(chan struct{}), acks: make(chan struct{}, 1)}
	n.feed = f
	n.rlog.Retain()
	var cur cursor
	ok := false
	if epoch == n.epoch || (epoch == n.baseEpoch && seq == n.base) {
		cur, ok = n.rlog.cursorAfter(seq)
	}
	full := !ok
	var s0 uint64
	if full {
		// Everything up to s0 is in the store now; later changes are in the ring.
		s0 = n.rlog.Head()
		cur, _ = n.rlog.cursorAfter(s0)
	}
	myEpoch := uint64(n.epoch)
	// What this backup has: its position when it continues, nothing until it acknowledges
	// the snapshot otherwise. A previous stream's acknowledgements say nothing about it.
	if full {
		n.acked.Store(0)
	} else {
		n.acked.Store(seq)
	}
	n.mu.Unlock()
	n.poke()

	defer f.close()
	go f.readAcks()
	if full {
		n.log.Info("backup attached, sending a snapshot", "partition", n.cfg.Partition, "backup", id, "from", fmt.Sprintf("%d/%d", epoch, seq), "snapshotAt", s0)
		reply(fmt.Sprintf("+FULLSYNC %d %d", myEpoch, s0))
		if err := f.sendSnapshot(myEpoch, s0); err != nil {
			n.log.Info("snapshot to the backup failed", "partition", n.cfg.Partition, "err", err)
			return
		}
	} else {
		n.log.Info("backup attached, continuing from the redo ring", "partition", n.cfg.Partition, "backup", id, "from", seq)
		reply(fmt.Sprintf("+CONTINUE %d %d", myEpoch, seq))
	}
	f.live.Store(true)
	n.poke()
	if err := f.stream(&cur); err != nil && f.alive() {
		n.log.Info("stream to the backup ended", "partition", n.cfg.Partition, "backup", id, "err", err)
	}
}

// snapshotChunk is how much of a snapshot the primary buffers before it writes: a slot
// holding most of the data (hash tags) is sent in pieces, not buffered whole.
const snapshotChunk = 256 << 10

// sendSnapshot streams every key, slot by slot, in writes of about snapshotChunk bytes.
func (f *feed) sendSnapshot(epoch, s0 uint64) error {
	buf := appendFrame(nil, frameSnapBegin, epoch, s0)
	var werr error
	flush := func() {
		if werr == nil {
			werr = f.write(net.Buffers{buf})
		}
		buf = buf[:0]
	}
	for i := range slots.Count {
		f.n.cfg.Store.DumpSlot(i, func(op []byte) {
			if werr != nil {
				return
			}
			buf = appendSnapOp(buf, op)
			if len(buf) >= snapshotChunk {
				flush()
			}
		})
		if w := f.n.cfg.WAN; w != nil && werr == nil {
			w.DumpSlot(i, func(op []byte) { buf = appendSnapOp(buf, op) })
		}
		if i == slots.Count-1 {
			buf = appendFrame(buf, frameSnapEnd)
			flush()
		}
		if werr != nil {
			return werr
		}
		if !f.alive() {
			return errors.New("stream closed")
		}
	}
	return nil
}

// stream sends the ring from cur on, a heartbeat before every batch and at least five
// times per ReplTimeout.
//
// It is a group commit: one batch is in flight at a time. While the backup has not
// acknowledged everything sent, the changes journaled meanwhile wait in the ring, and its
// acknowledgement sends them all in one write, which the backup applies and acknowledges
// once. The more clients write, the more changes a batch carries, so the stream writes,
// the backup's reads and its acknowledgements per client write fall as the load rises,
// while a lone write goes out at once. A heartbeat is never held back: it carries
// whatever the ring has.
func (f *feed) stream(cur *cursor) error {
	n := f.n
	every := n.cfg.ReplTimeout / 5
	t := time.NewTimer(every)
	defer t.Stop()
	var frames [][]byte
	hb := make([]byte, 0, 32)
	sent := cur.next - 1 // the last sequence sent
	beat := true
	for {
		if cur.c.first < n.rlog.Oldest() && cur.next < n.rlog.Oldest() {
			return errors.New("the backup fell behind the redo ring; it will resynchronize")
		}
		idle := n.acked.Load() >= sent
		if beat || (idle && n.rlog.Head() > sent) {
			frames = n.rlog.read(cur, frames[:0])
			sent = cur.next - 1
			hb = appendFrame(hb[:0], frameHeartbeat, uint64(n.rlog.Epoch()), n.rlog.Head(), uint64(mono()))
			if err := f.write(append(net.Buffers{hb}, frames...)); err != nil {
				return err
			}
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
			t.Reset(every)
			idle = len(frames) == 0 && n.acked.Load() >= sent
		}
		beat = false
		// With a batch in flight new changes do not wake the sender: the acknowledgement
		// does, and takes them all.
		wake := n.rlog.wake
		if !idle {
			wake = nil
		}
		select {
		case <-f.closed:
			return nil
		case <-wake:
			// Let the other connections journal what they are about to: the first batch
			// after a pause then carries more than the one write that woke the sender.
			runtime.Gosched()
		case <-f.acks:
		case <-t.C:
			beat = true
		}
	}
}

// readAcks takes the backup's acknowledgements.
func (f *feed) readAcks() {
	n := f.n
	defer f.close()
	fr := frameReader{r: f.rd}
	for {
		typ, body, err := fr.next()
		if err != nil {
			return
		}
		switch typ {
		case frameAck:
			v, err := u64s(body, 2)
			if err != nil {
				return
			}
			applied, stamp := v[0], int64(v[1])
			if applied > n.rlog.Head() {
				n.log.Warn("backup acknowledged more than was sent", "partition", n.cfg.Partition, "applied", applied)
				return
			}
			for cur := n.acked.Load(); applied > cur && !n.acked.CompareAndSwap(cur, applied); cur = n.acked.Load() {
			}
			for cur := n.ackStamp.Load(); stamp > cur && !n.ackStamp.CompareAndSwap(cur, stamp); cur = n.ackStamp.Load() {
			}
			n.waiters.release(n.acked.Load())
			select {
			case f.acks <- struct{}{}:
			default:
			}
			if n.syncing.Load() {
				n.poke()
			}
		case frameBye:
			n.log.Info("backup is stopping", "partition", n.cfg.Partition, "backup", f.id)
			n.mu.Lock()
			n.byeFrom = f.run
			n.mu.Unlock()
			n.poke()
			return
		default:
			return
		}
	}
}

// HandoverResult is what a planned handover did.
type HandoverResult struct {
	Partition   int    `json:"partition"`
	From        string `json:"from"`
	To          string `json:"to"`
	Epoch       int64  `json:"epoch"`
	PauseMicros int64  `json:"pauseMicros"`
}

// ErrHandover is wrapped by handover refusals caused by the partition's state (HTTP 409).
var ErrHandover = errors.New("handover not possible")

// Handover makes the in-sync backup to primary: commands pause, the backup gets
// everything acknowledged, the record changes by CAS (epoch+1), and this node becomes the
// backup (stays in sync) or, when leaving, is recorded out of sync. epoch, when non-zero,
// must be the current epoch.
func (n *Node) Handover(ctx context.Context, to string, epoch int64, leaving bool) (HandoverResult, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rec := n.rec
	res := HandoverResult{Partition: n.cfg.Partition, From: n.id, To: to}
	g := n.g.Load()
	f := n.feed
	switch {
	case n.role != rolePrimary || !g.serving:
		return res, fmt.Errorf("%w: %s is not the serving primary of partition %d (the record names %s)", ErrHandover, n.id, n.cfg.Partition, rec.Primary)
	case epoch != 0 && epoch != rec.Epoch:
		return res, fmt.Errorf("%w: partition %d is at epoch %d, not %d", ErrHandover, n.cfg.Partition, rec.Epoch, epoch)
	case to == "" || to != rec.Backup:
		return res, fmt.Errorf("%w: %q is not the backup of partition %d (the record names %q)", ErrHandover, to, n.cfg.Partition, rec.Backup)
	case !rec.InSync || f == nil || !f.alive() || f.run != rec.BackupRun || g.paused != nil || n.casBusy:
		return res, fmt.Errorf("%w: the backup %s of partition %d is not in sync; wait until it is Ready", ErrHandover, to, n.cfg.Partition)
	}
	start := time.Now()
	paused := make(chan struct{})
	n.setGate(&gate{serving: true, sync: true, from: g.from, paused: paused})
	resume := func() { n.setGate(&gate{serving: true, sync: true, from: g.from}) }
	deadline := time.Now().Add(n.cfg.ReplTimeout)
	// The changes running commands hold back in units (a script, EXEC) are journaled
	// first: the drain must cover them.
	n.mu.Unlock()
	unitsDone := n.cfg.Store.WaitUnits(deadline)
	n.mu.Lock()
	if !unitsDone || n.rec.Epoch != rec.Epoch {
		resume()
		return res, fmt.Errorf("%w: a command running on partition %d still held its changes after %s", ErrHandover, n.cfg.Partition, n.cfg.ReplTimeout)
	}
	// Drain: everything admitted before the pause is acknowledged by the backup.
	head := n.rlog.Head()
	for n.acked.Load() < head {
		w := n.waiters.add(head, &n.acked, n.waiters.bcast.Load())
		if w == nil {
			continue // acknowledged meanwhile, or woken: look again
		}
		n.mu.Unlock()
		woken := true
		select {
		case <-w.ch:
		case <-time.After(time.Until(deadline)):
			woken = false
		case <-ctx.Done():
			woken = false
		}
		if woken {
			n.waiters.done(w)
		} else {
			n.waiters.cancel(w)
		}
		n.mu.Lock()
		if time.Now().After(deadline) || ctx.Err() != nil || n.rec.Epoch != rec.Epoch {
			resume()
			return res, fmt.Errorf("%w: the backup did not acknowledge offset %d within %s", ErrHandover, head, n.cfg.ReplTimeout)
		}
	}
	next := rec
	next.Epoch++
	next.Primary, next.PrimaryRun = to, f.run
	next.Backup, next.BackupRun, next.InSync = n.id, n.run, true
	if leaving {
		next.BackupRun, next.InSync = "", false
	}
	if !n.cas(ctx, next) {
		resume()
		return res, fmt.Errorf("handover of partition %d: the record could not be written (changed concurrently or etcd unreachable)", n.cfg.Partition)
	}
	// The new primary may serve at once: this node stopped serving before the CAS.
	rb, _ := json.Marshal(next)
	p := binary.BigEndian.AppendUint32(nil, uint32(1+16+len(rb)))
	p = append(p, framePromote)
	p = binary.BigEndian.AppendUint64(p, uint64(next.Epoch))
	p = binary.BigEndian.AppendUint64(p, uint64(n.rev))
	p = append(p, rb...)
	_ = f.write(net.Buffers{p})
	f.close()
	n.feed = nil
	n.role = roleBackup
	n.pos, n.posEpoch = n.rlog.Head(), n.epoch
	addr := ""
	if inst, ok := n.insts[to]; ok {
		addr = inst.Address
	}
	n.setGate(&gate{redirect: addr, why: "handed over to " + to})
	res.Epoch = next.Epoch
	res.PauseMicros = time.Since(start).Microseconds()
	n.log.Info("handover done", "partition", n.cfg.Partition, "from", n.id, "to", to, "epoch", next.Epoch, "pause", time.Since(start).String(), "leaving", leaving)
	return res, nil
}
