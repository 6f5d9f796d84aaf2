package repl

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/insightgrid/insight/grid/slots"
)

// chunkSize is the size of one block of the redo ring. Records are appended to the
// newest chunk; the oldest chunks are dropped when the ring is over its size.
const chunkSize = 1 << 20

// chunk is a block of consecutive op frames. Bytes below len(buf) never change, so a
// reader may use them without the lock once it has seen them.
type chunk struct {
	first uint64 // seq of the first frame
	buf   []byte
	next  *chunk // set when the chunk is sealed
}

// Log is the redo ring of a partition: every change the store journals gets the next
// sequence number and the current epoch, is framed as it goes on the wire, and is kept
// until the ring exceeds its size. A backup that reconnects continues from its last
// sequence when the ring still holds it; otherwise it needs a snapshot.
//
// Record runs under the store's slot lock; it also remembers, per slot, the last sequence
// that changed it, which is what a read of that slot must wait for.
type Log struct {
	mu      sync.Mutex
	epoch   uint64
	head    uint64
	chunks  []*chunk
	size    int
	max     int
	retain  bool          // a backup has attached: keep up to max bytes, not just the newest chunk
	wake    chan struct{} // a token when new records arrive
	headA   atomic.Uint64
	slotSeq [slots.Count]atomic.Uint64
	disk    Disk // nil: none; set before the first record
}

// NewLog returns an empty ring holding about max bytes.
func NewLog(max int) *Log {
	l := &Log{max: max, wake: make(chan struct{}, 1)}
	l.chunks = []*chunk{{first: 1, buf: make([]byte, 0, chunkSize)}}
	return l
}

// opHeader is the frame header of an op: length, type, seq, epoch.
const opHeader = 4 + 1 + 8 + 8

// Record implements store.Journal.
func (l *Log) Record(slot int, op []byte) {
	l.mu.Lock()
	l.head++
	seq := l.head
	c := l.chunks[len(l.chunks)-1]
	n := opHeader + len(op)
	switch {
	case len(c.buf)+n <= cap(c.buf) || len(c.buf) == 0:
	case !l.retain && len(l.chunks) == 1 && cap(c.buf) == chunkSize && n <= chunkSize:
		// No backup has attached, so no cursor has ever been handed out (Attach retains
		// before it asks for one, and nothing un-retains): nobody reads this chunk, and it
		// starts over in place. A write without a backup then allocates nothing, and the
		// ring still holds the newest records for a backup that attaches later.
		c.first, c.buf, l.size = seq, c.buf[:0], 0
	default:
		nc := &chunk{first: seq, buf: make([]byte, 0, max(chunkSize, n))}
		c.next = nc
		l.chunks = append(l.chunks, nc)
		c = nc
		for (l.size > l.max || !l.retain) && len(l.chunks) > 1 {
			l.size -= len(l.chunks[0].buf)
			l.chunks[0] = nil
			l.chunks = l.chunks[1:]
		}
	}
	b := binary.BigEndian.AppendUint32(c.buf, uint32(n-4))
	b = append(b, frameOp)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, l.epoch)
	c.buf = append(b, op...)
	if l.disk != nil {
		l.disk.Append(l.epoch, seq, op) // under l.mu: in sequence order
	}
	l.size += n
	l.slotSeq[slot].Store(seq)
	l.headA.Store(seq)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Retain makes the ring keep up to its size from now on. Until a backup has attached, only
// the newest chunk is kept: a backup that has never been fed continues from a snapshot
// anyway, and a partition without a backup should not hold its size in memory.
func (l *Log) Retain() {
	l.mu.Lock()
	l.retain = true
	l.mu.Unlock()
}

// Head is the last sequence number given out.
func (l *Log) Head() uint64 { return l.headA.Load() }

// SlotSeq is the last sequence number that changed slot.
func (l *Log) SlotSeq(slot int) uint64 { return l.slotSeq[slot].Load() }

// Epoch is the epoch stamped on new records.
func (l *Log) Epoch() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch
}

// Restart empties the ring and continues numbering after seq in epoch: a backup that
// becomes primary, or an instance that loaded a snapshot, starts here.
func (l *Log) Restart(epoch, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch, l.head, l.size = epoch, seq, 0
	l.chunks = []*chunk{{first: seq + 1, buf: make([]byte, 0, chunkSize)}}
	l.headA.Store(seq)
}

// SetEpoch stamps later records with epoch, keeping the ring.
func (l *Log) SetEpoch(epoch uint64) {
	l.mu.Lock()
	l.epoch = epoch
	l.mu.Unlock()
}

// Oldest is the first sequence number the ring still holds.
func (l *Log) Oldest() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.chunks[0].first
}

// cursor reads the ring from a position onwards.
type cursor struct {
	c    *chunk
	off  int
	next uint64 // seq of the frame at off
}

// cursorAfter returns a cursor at the frame following seq, or false when the ring no
// longer (or not yet) holds it.
func (l *Log) cursorAfter(seq uint64) (cursor, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq > l.head {
		return cursor{}, false
	}
	for _, c := range l.chunks {
		if seq+1 < c.first {
			return cursor{}, false
		}
		if c.next != nil && seq+1 >= c.next.first {
			continue
		}
		cur := cursor{c: c, next: c.first}
		for cur.next <= seq {
			cur.off += 4 + int(binary.BigEndian.Uint32(c.buf[cur.off:]))
			cur.next++
		}
		return cur, true
	}
	return cursor{}, false
}

// read returns the frames from the cursor to the head, as slices of the ring (not to be
// modified), and advances the cursor past them.
func (l *Log) read(cur *cursor, out [][]byte) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		end := len(cur.c.buf)
		if end > cur.off {
			out = append(out, cur.c.buf[cur.off:end])
			cur.off = end
		}
		if cur.c.next == nil {
			break
		}
		cur.c, cur.off = cur.c.next, 0
	}
	cur.next = l.head + 1
	return out
}
