package repl

import (
	"testing"
	"time"

	"github.com/insightgrid/insight/grid/store"
	"github.com/insightgrid/insight/grid/wan"
)

// BenchmarkJournaledSetWAN is BenchmarkJournaledSet with WAN replication on: every write
// also stamps its key's metadata and queues it in the outbox.
func BenchmarkJournaledSetWAN(b *testing.B) {
	st := store.New(1 << 20)
	tr := wan.NewTracker(wan.Config{Site: "a", Targets: []string{"b"}, OutboxMax: 1 << 30, Mode: wan.ModeBlock, TombstoneTTL: time.Hour, Store: st})
	benchJournaledSet(b, Config{Store: st, WAN: tr})
}
