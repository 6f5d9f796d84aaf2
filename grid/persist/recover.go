package persist

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Recovery is what Open found on disk and loaded.
type Recovery struct {
	Snapshot   string        // the snapshot loaded ("" when none)
	Records    int64         // journal records replayed
	Epoch, Seq uint64        // the position the loaded state is at (0, 0: nothing numbered)
	Keys       int64         // keys in the store afterwards
	Took       time.Duration // loading and replaying
	// Cut, when a journal ended in a damaged or truncated record, says where and why;
	// CutBytes and CutRecords are what was cut from it (the records counted by their
	// lengths, so exact unless a length itself was damaged).
	Cut        string
	CutBytes   int64
	CutRecords int
	// Discarded names what was not loaded besides the cut: the journals after a cut one
	// (which would leave a gap), a full sync from the primary interrupted by the stop.
	Discarded []string
	// SyncInterrupted: the journal ended inside a full sync from the primary, so the
	// instance starts empty and must sync again.
	SyncInterrupted bool
}

// position is a point of the replication numbering.
type position struct{ epoch, seq uint64 }

func journalName(gen uint64) string  { return fmt.Sprintf("journal-%010d.aof", gen) }
func snapshotName(gen uint64) string { return fmt.Sprintf("snapshot-%010d.snap", gen) }

// parseGen returns the generation of a journal or snapshot file name.
func parseGen(name, prefix, suffix string) (uint64, bool) {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	var g uint64
	if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix), "%d", &g); err != nil || g == 0 {
		return 0, false
	}
	return g, true
}

// replayState is what the replay has reached.
type replayState struct {
	pos     position
	loading bool // between a reset and the end of a full sync
}

// recover loads the newest snapshot, replays the journals after it, removes what is
// obsolete and opens the journal to append to.
func (j *Journal) recover() (Recovery, error) {
	start := time.Now()
	fsys, dir := j.fs, j.cfg.Dir
	if err := fsys.MkdirAll(dir); err != nil {
		return Recovery{}, fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	names, err := fsys.List(dir)
	if err != nil {
		return Recovery{}, fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	var snaps, journals []uint64
	for _, name := range names {
		if strings.HasSuffix(name, ".tmp") { // a snapshot cut short by a stop
			if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
				return Recovery{}, fmt.Errorf("removing %s: %w", name, err)
			}
			continue
		}
		if g, ok := parseGen(name, "snapshot-", ".snap"); ok {
			snaps = append(snaps, g)
		} else if g, ok := parseGen(name, "journal-", ".aof"); ok {
			journals = append(journals, g)
		}
	}
	slices.Sort(snaps)
	slices.Sort(journals)
	var rec Recovery
	var st replayState
	var base uint64 // the generation of the snapshot loaded
	if len(snaps) > 0 {
		base = snaps[len(snaps)-1]
		rec.Snapshot = snapshotName(base)
		if st.pos, err = j.loadSnapshot(filepath.Join(dir, rec.Snapshot)); err != nil {
			return Recovery{}, err
		}
		if size, err := fsys.Size(filepath.Join(dir, rec.Snapshot)); err == nil {
			j.snapBytes.Store(size)
		}
	}
	var obsolete []string
	for _, g := range snaps[:max(len(snaps)-1, 0)] {
		obsolete = append(obsolete, snapshotName(g))
	}
	var live []uint64 // the journals replayed, in order
	for i, g := range journals {
		if g < base {
			obsolete = append(obsolete, journalName(g))
			continue
		}
		live = append(live, g)
		cut, err := j.replay(filepath.Join(dir, journalName(g)), &rec, &st)
		if err != nil {
			return Recovery{}, err
		}
		if cut {
			for _, later := range journals[i+1:] {
				rec.Discarded = append(rec.Discarded, journalName(later)+" (after the cut)")
				obsolete = append(obsolete, journalName(later))
			}
			break
		}
	}
	if st.loading {
		j.reset()
		st.pos = position{}
		rec.SyncInterrupted = true
		rec.Discarded = append(rec.Discarded, "a full sync from the primary the stop interrupted (the instance starts empty and syncs again)")
	}
	for _, name := range obsolete {
		if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
			return Recovery{}, fmt.Errorf("removing %s: %w", name, err)
		}
	}
	gen := max(base, 1)
	if len(live) > 0 {
		gen = live[len(live)-1]
	}
	if err := j.openJournal(gen, len(live) > 0); err != nil {
		return Recovery{}, err
	}
	rec.Epoch, rec.Seq = st.pos.epoch, st.pos.seq
	rec.Keys = j.cfg.Store.Keys()
	rec.Took = time.Since(start)
	j.appended, j.epoch, j.synced, j.written = st.pos.seq, st.pos.epoch, st.pos.seq, st.pos.seq
	j.writtenA.Store(st.pos.seq)
	return rec, nil
}

// loadSnapshot applies a snapshot file to the store. A damaged snapshot stops the start:
// it was written whole and synced before it was named, so damage is the disk's, and the
// journals after it mean nothing without it.
func (j *Journal) loadSnapshot(path string) (position, error) {
	refuse := func(err error) (position, error) {
		return position{}, fmt.Errorf("snapshot %s is damaged (%w); the journal after it continues it, so neither can be loaded: move the directory's files aside to start empty (a backup then syncs from its primary)", path, err)
	}
	f, err := j.fs.Open(path)
	if err != nil {
		return position{}, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	rd := newReader(f)
	if err := rd.magic(snapshotMagic); err != nil {
		return refuse(err)
	}
	head, err := rd.next()
	if err != nil || head.typ != recSnapHead {
		return refuse(fmt.Errorf("no header record: %v", err))
	}
	var n uint64
	for {
		r, err := rd.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("no end record")
			}
			return refuse(err)
		}
		switch r.typ {
		case recSnapOp:
			if err := j.apply(r.op); err != nil {
				return refuse(fmt.Errorf("record at byte %d: the store refused it: %w", rd.off, err))
			}
			n++
		case recSnapEnd:
			if r.seq != n {
				return refuse(fmt.Errorf("the end record counts %d keys, the file holds %d", r.seq, n))
			}
			return position{head.epoch, head.seq}, nil
		default:
			return refuse(fmt.Errorf("record type %q in a snapshot", r.typ))
		}
	}
}

// replay applies a journal's records; at a damaged or truncated record it cuts the file
// there, records what was cut and reports cut.
func (j *Journal) replay(path string, rec *Recovery, st *replayState) (cut bool, err error) {
	f, err := j.fs.Open(path)
	if err != nil {
		return false, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	rd := newReader(f)
	err = rd.magic(journalMagic)
	for err == nil {
		var r record
		if r, err = rd.next(); err != nil {
			break
		}
		switch r.typ {
		case recOp, recLoad:
			if aerr := j.apply(r.op); aerr != nil {
				return false, fmt.Errorf("journal %s, record at byte %d: the store refused it (%w): it was written by an incompatible version, or the store has a bug; move the directory's files aside to start empty", path, rd.off, aerr)
			}
			if r.typ == recOp {
				st.pos = position{r.epoch, r.seq}
				if m := j.cfg.Meta; m != nil && !m.Owns(r.op) {
					m.Replayed(r.op)
				}
			}
		case recReset:
			j.reset()
			st.pos, st.loading = position{}, true
		case recLoaded:
			st.pos, st.loading = position{r.epoch, r.seq}, false
		default:
			err = &damage{off: rd.off, reason: fmt.Sprintf("record type %q in a journal", r.typ)}
			continue
		}
		rec.Records++
	}
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	var d *damage
	if !errors.As(err, &d) {
		return false, fmt.Errorf("journal %s: %w", path, err)
	}
	f.Close()
	bytes, frames, err := j.tail(path, d.off)
	if err != nil {
		return false, err
	}
	if err := j.fs.Truncate(path, d.off); err != nil {
		return false, fmt.Errorf("cutting %s at byte %d: %w", path, d.off, err)
	}
	rec.Cut = fmt.Sprintf("%s at byte %d: %s", filepath.Base(path), d.off, d.reason)
	rec.CutBytes, rec.CutRecords = bytes, frames
	return true, nil
}

// apply replays an operation: Config.Meta's, or the store's.
func (j *Journal) apply(op []byte) error {
	if m := j.cfg.Meta; m != nil && m.Owns(op) {
		return m.ApplyOp(op)
	}
	return j.cfg.Store.Apply(op)
}

// reset empties the store and Config.Meta.
func (j *Journal) reset() {
	j.cfg.Store.Reset()
	if m := j.cfg.Meta; m != nil {
		m.Reset()
	}
}

// tail measures what follows off in a file (countFrames).
func (j *Journal) tail(path string, off int64) (int64, int, error) {
	f, err := j.fs.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("opening %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.CopyN(io.Discard, f, off); err != nil {
		return 0, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	n, frames, err := countFrames(f)
	if err != nil {
		return 0, 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return n, frames, nil
}
