package persist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// maxPending bounds the records appended and not yet written: past it, appending waits
// for the writer (the disk is slower than the writes), as Redis delays writes while a
// slow fsync holds its AOF.
const maxPending = 64 << 20

// Journal is one instance's append-only journal and snapshots. Open loads what the
// directory holds into the store; Run writes, fsyncs and compacts until its context ends.
type Journal struct {
	cfg Config
	fs  FS
	log *slog.Logger

	mu   sync.Mutex
	room *sync.Cond // the writer took the pending records
	buf  []byte     // records appended, not yet written
	// spare is the writer's buffer of the last batch, handed back for reuse.
	spare []byte
	// appended and epoch are the numbering's position of the last record appended;
	// synced is that of the last record fsynced, and written that of the last record a
	// reply may be sent after (handed to the OS, fsynced too with always), in the
	// numbering of incarnation inc, which changes when the numbering starts over (a
	// full sync, a new primary's sequence): waiters of an older one are refused.
	appended, epoch, synced, written uint64
	writtenA                         atomic.Uint64 // written, read without the lock
	inc                              uint64
	loading                          bool // a full sync is being appended
	waiters                          []*waiter
	err                              error // the journal could not be written: nothing is durable any more
	kick                             chan struct{}

	// Owned by whoever holds wmu: the writer (Run), or a connection waiting for its
	// record that writes the pending records itself (Wait, everysec and no).
	wmu       sync.Mutex
	runCtx    context.Context // Run's; nil before Run and once it ended
	f         File
	gen       uint64
	size      int64 // bytes of the current journal file
	dirty     bool  // written since the last fsync
	snapshots sync.WaitGroup

	recovery   Recovery
	snapBytes  atomic.Int64 // size of the last snapshot
	journalLen atomic.Int64 // size of the current journal file
	rewrites   atomic.Int64 // snapshots written since start
	rewriting  atomic.Bool
	fsyncs     atomic.Int64
	lastErr    atomic.Pointer[string] // the last snapshot's failure
}

// errClosed refuses what comes after Run ended.
var errClosed = errors.New("the journal is closed")

type waiter struct {
	seq, inc uint64
	ch       chan bool
}

// Open loads the newest snapshot of cfg.Dir into cfg.Store, replays the journals after
// it (cutting a damaged tail) and opens the journal for appending. Call it before the
// store is shared; then Run.
func Open(cfg Config) (*Journal, Recovery, error) {
	if err := cfg.Validate(); err != nil {
		return nil, Recovery{}, err
	}
	if cfg.FS == nil {
		cfg.FS = OS{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	j := &Journal{cfg: cfg, fs: cfg.FS, log: cfg.Logger, kick: make(chan struct{}, 1)}
	j.room = sync.NewCond(&j.mu)
	rec, err := j.recover()
	if err != nil {
		return nil, Recovery{}, err
	}
	j.recovery = rec
	return j, rec, nil
}

// openJournal opens generation gen's journal for appending (exists: it was replayed),
// writing its header when it is new or empty, and syncs it: what was replayed is durable
// before anything is acknowledged after it.
func (j *Journal) openJournal(gen uint64, exists bool) error {
	path := filepath.Join(j.cfg.Dir, journalName(gen))
	var size int64
	if exists {
		var err error
		if size, err = j.fs.Size(path); err != nil {
			return fmt.Errorf("journal %s: %w", path, err)
		}
	}
	if size < magicLen { // new, or cut to nothing
		if err := writeDurably(j.fs, path, func(w io.Writer) error { _, err := w.Write([]byte(journalMagic)); return err }); err != nil {
			return err
		}
		size = magicLen
	}
	f, err := j.fs.Append(path)
	if err != nil {
		return fmt.Errorf("opening the journal %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing the journal %s: %w", path, err)
	}
	j.f, j.gen, j.size = f, gen, size
	j.journalLen.Store(size)
	return nil
}

// Append journals one change, numbered seq in epoch. Calls come in the order of the
// changes (a primary's under its ring's lock, a backup's as it applies them); a seq that
// does not follow the previous one starts a new numbering.
func (j *Journal) Append(epoch, seq uint64, op []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.waitRoom() {
		return
	}
	if seq != j.appended+1 {
		j.renumber(seq - 1)
	}
	j.add(recOp, op, epoch, seq)
	j.appended, j.epoch = seq, epoch
}

// Reset journals that the store was emptied for a full sync from the primary; Load
// journals its keys and Loaded its end. A journal that ends between Reset and Loaded
// loads empty.
func (j *Journal) Reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.waitRoom() {
		return
	}
	j.renumber(0)
	j.loading = true
	j.add(recReset, nil)
}

// Load journals one key of a full sync (after Reset).
func (j *Journal) Load(op []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.waitRoom() {
		j.add(recLoad, op)
	}
}

// Loaded journals the end of a full sync: the store is the primary's at seq of epoch.
func (j *Journal) Loaded(epoch, seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.waitRoom() {
		return
	}
	j.add(recLoaded, nil, epoch, seq)
	j.appended, j.epoch, j.loading = seq, epoch, false
}

// waitRoom waits while too much is pending; false when the journal failed. j.mu is held.
func (j *Journal) waitRoom() bool {
	for len(j.buf) >= maxPending && j.err == nil {
		j.room.Wait()
	}
	return j.err == nil
}

// add appends a record to the pending ones and wakes the writer. j.mu is held.
func (j *Journal) add(typ byte, op []byte, nums ...uint64) {
	wake := len(j.buf) == 0
	j.buf = appendRecord(j.buf, typ, op, nums...)
	if wake {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
}

// renumber starts a new numbering after seq: the waiters of the old one are refused.
func (j *Journal) renumber(seq uint64) {
	j.inc++
	j.appended, j.synced, j.written = seq, seq, seq
	j.writtenA.Store(seq)
	j.release()
}

// Written is the sequence up to which a reply may be sent: the records are handed to the
// OS (a kill -9 loses none of them), and with always fsynced (a power loss neither), as
// Redis writes its AOF buffer before it replies and fsyncs it first with always.
func (j *Journal) Written() uint64 { return j.writtenA.Load() }

// Wait blocks until the record numbered seq is Written. It returns false when it never
// will be in this numbering (it started over, the journal failed or stopped).
//
// With everysec and no, when no one is writing, the caller writes the pending records
// itself, for every connection waiting (a leader), saving the writer goroutine's wake-up
// before its reply. Otherwise, and always with always, it waits for the writer in
// progress or for Run, which every record appended to an empty buffer wakes: an fsync
// takes long enough for many writes to gather behind the one in progress, which the next
// fsync then serves together (measured: a leader fsyncing at once served fewer per fsync).
func (j *Journal) Wait(seq uint64) bool {
	if j.cfg.Fsync != FsyncAlways && j.writtenA.Load() < seq {
		j.lead()
	}
	j.mu.Lock()
	if j.written >= seq {
		j.mu.Unlock()
		return true
	}
	if j.err != nil {
		j.mu.Unlock()
		return false
	}
	w := &waiter{seq: seq, inc: j.inc, ch: make(chan bool, 1)}
	j.waiters = append(j.waiters, w)
	j.mu.Unlock()
	return <-w.ch
}

// release answers the waiters that written covers, or that can no longer be. j.mu is held.
func (j *Journal) release() {
	keep := j.waiters[:0]
	for _, w := range j.waiters {
		switch {
		case j.err != nil || w.inc != j.inc:
			w.ch <- false
		case w.seq <= j.written:
			w.ch <- true
		default:
			keep = append(keep, w)
		}
	}
	clear(j.waiters[len(keep):])
	j.waiters = keep
}

// lead writes the pending records unless someone is writing already or Run is not
// running. A failure stops the journal (Run returns it).
func (j *Journal) lead() {
	if !j.wmu.TryLock() {
		return
	}
	defer j.wmu.Unlock()
	if j.runCtx == nil {
		return
	}
	if err := j.flush(j.runCtx, false); err != nil {
		j.fail(err)
	}
}

// fail records that the journal cannot be written: waiters are refused, appends dropped,
// Run woken to return it.
func (j *Journal) fail(err error) {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
	}
	j.release()
	j.room.Broadcast()
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// lockedFlush is flush under wmu; it returns the journal's failure instead once there is
// one (a leader's).
func (j *Journal) lockedFlush(ctx context.Context, sync bool) error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	j.mu.Lock()
	err := j.err
	j.mu.Unlock()
	if err != nil {
		return err
	}
	return j.flush(ctx, sync)
}

// Run writes the appended records to the journal, fsyncs them as the policy says and
// takes snapshots, until ctx ends; then it writes and fsyncs what is pending and closes
// the journal. An error writing or syncing stops it: nothing written after that could be
// relied on (Redis exits likewise when its AOF cannot be written under always).
func (j *Journal) Run(ctx context.Context) error {
	tick := j.cfg.tick
	if tick == nil && j.cfg.Fsync == FsyncEverysec {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	defer j.snapshots.Wait()
	j.wmu.Lock()
	j.runCtx = ctx
	j.wmu.Unlock()
	for {
		var err error
		select {
		case <-ctx.Done():
			err = j.lockedFlush(ctx, true)
			j.wmu.Lock()
			if cerr := j.f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("closing the journal %s: %w", journalName(j.gen), cerr)
			}
			j.runCtx = nil
			j.wmu.Unlock()
			j.fail(errClosed)
			if err != nil {
				j.log.Error("the journal's last records could not be written", "dir", j.cfg.Dir, "err", err)
			}
			return err
		case <-j.kick:
			err = j.lockedFlush(ctx, j.cfg.Fsync == FsyncAlways)
		case <-tick:
			err = j.lockedFlush(ctx, true)
		}
		if err != nil {
			j.fail(err)
			j.log.Error("the journal cannot be written: nothing is durable any more", "dir", j.cfg.Dir, "err", err)
			return err
		}
	}
}

// flush writes the pending records, fsyncs them when sync says so, and starts a snapshot
// when the journal has grown enough. wmu is held.
func (j *Journal) flush(ctx context.Context, sync bool) error {
	j.mu.Lock()
	batch := j.buf
	j.buf, j.spare = j.spare[:0], nil
	last, inc := j.appended, j.inc
	at := position{j.epoch, j.appended}
	rotate := !j.loading && ctx.Err() == nil && j.wantSnapshot(int64(len(batch)))
	j.room.Broadcast()
	j.mu.Unlock()
	if len(batch) > 0 {
		if _, err := j.f.Write(batch); err != nil {
			return fmt.Errorf("writing %d bytes to the journal %s: %w", len(batch), journalName(j.gen), err)
		}
		j.size += int64(len(batch))
		j.journalLen.Store(j.size)
		j.dirty = true
	}
	synced := false
	if j.dirty && (sync || rotate) {
		if err := j.f.Sync(); err != nil {
			return fmt.Errorf("fsync of the journal %s: %w", journalName(j.gen), err)
		}
		j.fsyncs.Add(1)
		j.dirty, synced = false, true
	}
	j.mu.Lock()
	if cap(batch) <= 4<<20 {
		j.spare = batch[:0]
	}
	if inc == j.inc {
		if synced {
			j.synced = max(j.synced, last)
		}
		if (synced || j.cfg.Fsync != FsyncAlways) && last > j.written {
			j.written = last
			j.writtenA.Store(last)
			j.release()
		}
	}
	j.mu.Unlock()
	if rotate {
		return j.rotate(ctx, at)
	}
	return nil
}

// wantSnapshot reports whether the journal, with n more bytes, has grown enough for a
// snapshot (and none is being written).
func (j *Journal) wantSnapshot(n int64) bool {
	c := j.cfg
	if c.RewritePercentage == 0 || j.rewriting.Load() {
		return false
	}
	size := j.size + n - magicLen
	return size >= c.RewriteMinSize && size*100 >= j.snapBytes.Load()*int64(c.RewritePercentage) && size > 0
}
