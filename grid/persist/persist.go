// Package persist keeps a data instance's partition on its volume, as Redis's
// append-only file does: every change the instance makes or applies is appended to a
// journal (length, CRC-32C, epoch, sequence, operation), fsynced as --appendfsync says
// (always: a write's reply waits for it, one fsync for every record pending, a group
// commit; everysec: in the background every second; no: when the OS writes it back), and
// the journal is compacted by snapshots of the store written beside it (temporary file,
// fsync, rename), after which a new journal continues. At start the newest snapshot is
// loaded and the journals after it replayed, stopping at the first damaged or truncated
// record: the file is cut there, what was cut reported, and nothing after it loaded.
//
// A journal is fed by the replication node (package repl): a primary's changes in
// sequence order, a backup's applied stream and the full syncs that replace its data.
// The package depends on the store and the file system only, never on the network,
// etcd or the replication protocol.
package persist

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/insightgrid/insight/grid/store"
)

// Fsync is when the journal is fsynced, as Redis's appendfsync.
type Fsync int

// The policies.
const (
	FsyncEverysec Fsync = iota // in the background every second: up to about a second of writes lost with the machine
	FsyncAlways                // before a write is acknowledged: nothing acknowledged is lost
	FsyncNo                    // never by the instance: the OS writes the page cache back (about 30 s on Linux)
)

var fsyncNames = map[Fsync]string{FsyncAlways: "always", FsyncEverysec: "everysec", FsyncNo: "no"}

func (f Fsync) String() string { return fsyncNames[f] }

// ParseFsync parses always, everysec or no.
func ParseFsync(s string) (Fsync, error) {
	for f, name := range fsyncNames {
		if strings.EqualFold(s, name) {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%q: must be always, everysec or no", s)
}

// Config is a journal's configuration.
type Config struct {
	// Dir holds the journal and the snapshots of one instance.
	Dir string
	// FS is the file system (nil: the operating system's).
	FS    FS
	Fsync Fsync
	// RewritePercentage and RewriteMinSize trigger a snapshot, as Redis's
	// auto-aof-rewrite-percentage and auto-aof-rewrite-min-size: once the journal is at
	// least RewriteMinSize bytes and has grown to RewritePercentage % of the last
	// snapshot's size. A percentage of 0 takes no snapshots: the journal grows without
	// bound.
	RewritePercentage int
	RewriteMinSize    int64
	Store             *store.Store
	// Meta, when set, is state kept beside the store in the same journal: WAN
	// replication's per-key metadata and watermarks (package wan), whose operations
	// the replication node journals among the store's. Its operations are replayed into
	// it rather than the store, every snapshot holds its state after each slot's keys,
	// and the reset of a full sync empties it with the store.
	Meta   Meta
	Logger *slog.Logger

	// tick drives everysec's fsyncs; tests replace it (nil: a ticker every second).
	tick <-chan time.Time
}

// Meta is state journaled beside the store (Config.Meta).
type Meta interface {
	// Owns reports whether op is one of its operations, not the store's.
	Owns(op []byte) bool
	// ApplyOp replays one of its operations.
	ApplyOp(op []byte) error
	// DumpSlot calls fn with the operations that recreate its state of slot.
	DumpSlot(slot int, fn func(op []byte))
	// Replayed is told each change of the store a journal replays (not a snapshot's
	// keys), after the store applied it: the changes its own operations followed when
	// they were made.
	Replayed(op []byte)
	// Reset forgets everything.
	Reset()
}

// Validate checks the configuration without side effects; flags are named as the data
// role's.
func (c *Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("--data-dir is empty: give the directory the journal and snapshots are kept in")
	case c.Fsync != FsyncAlways && c.Fsync != FsyncEverysec && c.Fsync != FsyncNo:
		return fmt.Errorf("--appendfsync %d: must be always, everysec or no", c.Fsync)
	case c.RewritePercentage < 0:
		return fmt.Errorf("--auto-aof-rewrite-percentage %d: must be 0 (no snapshots) or positive", c.RewritePercentage)
	case c.RewriteMinSize < 0:
		return fmt.Errorf("--auto-aof-rewrite-min-size %d: must not be negative", c.RewriteMinSize)
	case c.Store == nil:
		return fmt.Errorf("persist: no store")
	}
	return nil
}
