package repl_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// dumpStore renders every key of a store as the operations that recreate it, sorted.
func dumpStore(st *store.Store) string {
	var ops []string
	for i := range slots.Count {
		st.DumpSlot(i, func(op []byte) { ops = append(ops, string(op)) })
	}
	slices.Sort(ops)
	return strings.Join(ops, "\n")
}

// TestEvictionsReachTheBackup fills a primary past maxmemory under allkeys-lru: each
// eviction is journaled as a deletion, so the backup holds exactly the primary's keys.
func TestEvictionsReachTheBackup(t *testing.T) {
	_, in := startPair(t)
	rdb := redis.NewClient(&redis.Options{Addr: in[0].addr, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	val := strings.Repeat("v", 200)
	for i := range 2000 {
		if err := rdb.Set(ctx, fmt.Sprintf("key:%d", i), val, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	used := strconv.FormatInt(in[0].store.UsedMemory(), 10)
	if err := rdb.ConfigSet(ctx, "maxmemory", used).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		if err := rdb.Set(ctx, fmt.Sprintf("new:%d", i), val, 0).Err(); err != nil {
			t.Fatalf("SET past maxmemory: %v", err)
		}
	}
	ev := in[0].store.EvictedKeys()
	if ev == 0 {
		t.Fatal("nothing evicted")
	}
	// Every reply waited for the backup's acknowledgement: it has every eviction.
	if p, b := in[0].store.Keys(), in[1].store.Keys(); p != b || dumpStore(in[0].store) != dumpStore(in[1].store) {
		t.Fatalf("after %d evictions the primary has %d keys, the backup %d, or other values", ev, p, b)
	}
}
