package persist

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// rotate closes the current journal (synced by flush) and continues in a new one, then
// writes a snapshot of the store beside it in the background. Every record in the old
// journal was appended before at, after its change was made in the store, so the
// snapshot, which reads each slot later, holds it; a change the snapshot misses is
// appended later, to the new journal. Replaying the new journal over the snapshot may
// apply a change the snapshot already holds again, which is harmless: operations state
// results (store.Journal), as a backup's full sync relies on too.
func (j *Journal) rotate(ctx context.Context, at position) error {
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("closing the journal %s: %w", journalName(j.gen), err)
	}
	gen := j.gen + 1
	if err := j.openJournal(gen, false); err != nil {
		return err
	}
	j.rewriting.Store(true)
	j.snapshots.Add(1)
	go func() {
		defer j.snapshots.Done()
		defer j.rewriting.Store(false)
		j.snapshot(ctx, gen, at)
	}()
	return nil
}

// snapshot writes generation gen's snapshot of the store as of at, then removes the
// older journals and snapshots, which it replaces. Each slot is copied under its read
// lock into a buffer and written after the lock is let go: a writer waits for one slot's
// copy at most.
func (j *Journal) snapshot(ctx context.Context, gen uint64, at position) {
	start := time.Now()
	name := filepath.Join(j.cfg.Dir, snapshotName(gen))
	var size int64
	var keys uint64
	err := writeDurably(j.fs, name, func(w io.Writer) error {
		cw := &countWriter{w: w}
		n, err := writeSnapshot(ctx, cw, j.cfg.Store, j.cfg.Meta, at)
		keys, size = n, cw.n
		return err
	})
	if err != nil {
		msg := err.Error()
		j.lastErr.Store(&msg)
		j.log.Warn("snapshot failed; the journal keeps growing until the next one", "dir", j.cfg.Dir, "err", err)
		return
	}
	j.lastErr.Store(nil)
	j.snapBytes.Store(size)
	j.rewrites.Add(1)
	if err := j.removeBefore(gen); err != nil {
		j.log.Warn("removing the files the snapshot replaces", "dir", j.cfg.Dir, "err", err)
	}
	j.log.Info("snapshot written", "file", snapshotName(gen), "keys", keys, "bytes", size, "epoch", at.epoch, "offset", at.seq, "took", time.Since(start).Round(time.Millisecond).String())
}

// removeBefore removes the journals and snapshots older than gen.
func (j *Journal) removeBefore(gen uint64) error {
	names, err := j.fs.List(j.cfg.Dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		g, ok := parseGen(name, "journal-", ".aof")
		if !ok {
			g, ok = parseGen(name, "snapshot-", ".snap")
		}
		if ok && g < gen {
			if err := j.fs.Remove(filepath.Join(j.cfg.Dir, name)); err != nil {
				return err
			}
		}
	}
	return j.fs.SyncDir(j.cfg.Dir)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
