package repl

import (
	"fmt"
	"testing"

	"github.com/insightgrid/insight/grid/store"
)

// BenchmarkJournaledSet is a client SET's cost in the store and the replication journal
// of a primary (no backup attached), the data path every write takes: with WAN
// replication off it must cost what it did before WAN existed.
func BenchmarkJournaledSet(b *testing.B) {
	benchJournaledSet(b, Config{})
}

func benchJournaledSet(b *testing.B, cfg Config) {
	if cfg.Store == nil {
		cfg.Store = store.New(1 << 20)
	}
	st := cfg.Store
	New(cfg, "bench")
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:%d", i)
	}
	val := make([]byte, 64)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := st.Set(nil, keys[i%len(keys)], val, store.SetOptions{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
