package persist

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// WriteSnapshot writes a snapshot of st in the snapshot file format (magic, a head at
// epoch/seq, one record per key, the end record counting them) to w, and returns the
// number of keys. It is what the journal's own snapshots hold, for a backup of the
// instance (package backup). Each slot is copied under its read lock into a buffer and
// written after the lock is let go: a slow w never holds a writer longer than one slot's
// copy.
func WriteSnapshot(ctx context.Context, w io.Writer, st *store.Store, epoch, seq uint64) (keys uint64, err error) {
	return writeSnapshot(ctx, w, st, nil, position{epoch, seq})
}

// writeSnapshot is WriteSnapshot with meta's state (nil: none) after each slot's keys;
// the end record counts every record, the keys returned only the store's.
func writeSnapshot(ctx context.Context, w io.Writer, st *store.Store, meta Meta, at position) (keys uint64, err error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	_, _ = bw.WriteString(snapshotMagic)
	buf := appendRecord(nil, recSnapHead, nil, at.epoch, at.seq)
	var metas uint64
	for slot := range slots.Count {
		if err := ctx.Err(); err != nil {
			return keys, fmt.Errorf("stopped: %w", err)
		}
		st.DumpSlot(slot, func(op []byte) {
			buf = appendRecord(buf, recSnapOp, op)
			keys++
		})
		if meta != nil {
			meta.DumpSlot(slot, func(op []byte) {
				buf = appendRecord(buf, recSnapOp, op)
				metas++
			})
		}
		if _, err := bw.Write(buf); err != nil {
			return keys, err
		}
		if cap(buf) > 4<<20 {
			buf = nil
		}
		buf = buf[:0]
	}
	_, _ = bw.Write(appendRecord(buf, recSnapEnd, nil, keys+metas))
	return keys, bw.Flush()
}

// SnapshotWriter writes operations given one by one in the snapshot file format: a batch
// of keys on its way to the partition that restores them.
type SnapshotWriter struct {
	w    *bufio.Writer
	buf  []byte
	keys uint64
}

// NewSnapshotWriter starts a snapshot at epoch/seq on w.
func NewSnapshotWriter(w io.Writer, epoch, seq uint64) *SnapshotWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.WriteString(snapshotMagic)
	_, _ = bw.Write(appendRecord(nil, recSnapHead, nil, epoch, seq))
	return &SnapshotWriter{w: bw}
}

// Op writes one key's operation.
func (s *SnapshotWriter) Op(op []byte) error {
	s.buf = appendRecord(s.buf[:0], recSnapOp, op)
	s.keys++
	_, err := s.w.Write(s.buf)
	return err
}

// Close writes the end record and flushes; it does not close the underlying writer.
func (s *SnapshotWriter) Close() error {
	_, _ = s.w.Write(appendRecord(s.buf[:0], recSnapEnd, nil, s.keys))
	return s.w.Flush()
}

// SnapshotInfo is what a snapshot's head and end records say.
type SnapshotInfo struct {
	Epoch, Seq uint64
	Keys       uint64
}

// ReadSnapshot reads a snapshot from r, checking every record's CRC, and calls fn with
// each key's operation (valid only during the call). It fails at the first damaged or
// truncated record, a missing end record, or an end record whose count is not the number
// of records read; fn's error stops it.
func ReadSnapshot(r io.Reader, fn func(op []byte) error) (SnapshotInfo, error) {
	rd := newReader(r)
	if err := rd.magic(snapshotMagic); err != nil {
		if errors.Is(err, io.EOF) {
			return SnapshotInfo{}, errors.New("empty: not a snapshot")
		}
		return SnapshotInfo{}, err
	}
	head, err := rd.next()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("no head record: %w", err)
	}
	if head.typ != recSnapHead {
		return SnapshotInfo{}, fmt.Errorf("no head record: it starts with a record of type %q", head.typ)
	}
	info := SnapshotInfo{Epoch: head.epoch, Seq: head.seq}
	var n uint64
	for {
		rec, err := rd.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("no end record after %d keys: the snapshot is cut short", n)
			}
			return info, err
		}
		switch rec.typ {
		case recSnapOp:
			if err := fn(rec.op); err != nil {
				return info, err
			}
			n++
		case recSnapEnd:
			if rec.seq != n {
				return info, fmt.Errorf("the end record counts %d keys, the snapshot holds %d", rec.seq, n)
			}
			if _, err := rd.next(); !errors.Is(err, io.EOF) {
				return info, fmt.Errorf("bytes after the end record at byte %d", rd.off)
			}
			info.Keys = n
			return info, nil
		default:
			return info, fmt.Errorf("record type %q at byte %d in a snapshot", rec.typ, rd.off)
		}
	}
}
