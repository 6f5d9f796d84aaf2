package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

func TestEvictionOverTheWire(t *testing.T) {
	s, dial := startServer(t, Config{MaxMemory: 1 << 20, Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"), "+OK\r\n")
	c.expect(encodeCmd("CONFIG", "GET", "maxmemory-policy"), "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lru\r\n")
	value := strings.Repeat("x", 1000)
	keys := servedKeys(3000)
	for _, k := range keys { // 3 MB of values into 1 MiB
		c.expect(encodeCmd("SET", k, value), "+OK\r\n")
	}
	// The slots' index tables grow outside the check a write makes, as with noeviction.
	if used, m := s.store.UsedMemory(), s.store.MaxMemory(); used > m+m/100 {
		t.Errorf("used memory %d past maxmemory %d", used, m)
	}
	ev := s.store.EvictedKeys()
	if ev < 1000 || s.store.Keys()+ev != 3000 {
		t.Fatalf("%d keys, %d evicted", s.store.Keys(), ev)
	}
	if info := s.Info("stats"); !strings.Contains(info, fmt.Sprintf("evicted_keys:%d\r\n", ev)) {
		t.Fatalf("INFO stats: %s", info)
	}
	if info := s.Info("memory"); !strings.Contains(info, "maxmemory_policy:allkeys-lru\r\n") {
		t.Fatalf("INFO memory: %s", info)
	}
	// The newest key is there.
	c.expect(encodeCmd("EXISTS", keys[2999]), ":1\r\n")
	c.expect(encodeCmd("CONFIG", "SET", "maxmemory-policy", "volatile-lru"), "+OK\r\n")
	c.expect(encodeCmd("SET", keys[0], value+"more"), "-OOM command not allowed when used memory > 'maxmemory'.\r\n")
	c.expect(encodeCmd("CONFIG", "SET", "maxmemory-policy", "bogus"),
		"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction\r\n")
	// CONFIG SET changes nothing unless every pair is valid.
	c.expect(encodeCmd("CONFIG", "SET", "maxmemory-policy", "allkeys-random", "maxmemory-samples", "0"),
		"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 2147483647 inclusive\r\n")
	c.expect(encodeCmd("CONFIG", "GET", "maxmemory-policy"), "*2\r\n$16\r\nmaxmemory-policy\r\n$12\r\nvolatile-lru\r\n")
}

// servedKeys returns n keys spread over the slots the test view serves (the first half).
func servedKeys(n int) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		if k := fmt.Sprintf("k:%d", i); slots.Of([]byte(k)) < slots.Count/2 {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestObjectIdletimeAndFreqReplies(t *testing.T) {
	_, dial := startServer(t, Config{Replication: Standalone{}})
	c := dial()
	c.expect(encodeCmd("SET", "{k}"+"k", "v"), "+OK\r\n")
	c.expect(encodeCmd("OBJECT", "IDLETIME", "{k}"+"k"), ":0\r\n")
	c.expect(encodeCmd("OBJECT", "IDLETIME", "{k}"+"nokey"), "$-1\r\n")
	c.expect(encodeCmd("OBJECT", "FREQ", "{k}"+"k"), "-"+errFreqNoLFU+"\r\n")
	c.expect(encodeCmd("OBJECT", "FREQ"), "-ERR wrong number of arguments for 'object|freq' command\r\n")
	c.expect(encodeCmd("OBJECT", "FOO"), "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n")
	c.expect(encodeCmd("OBJECT"), "-ERR wrong number of arguments for 'object' command\r\n")
	c.expect(encodeCmd("CONFIG", "SET", "maxmemory-policy", "volatile-lfu"), "+OK\r\n")
	c.expect(encodeCmd("OBJECT", "IDLETIME", "{k}"+"k"), "-"+errIdleUnderLFU+"\r\n")
	c.expect(encodeCmd("SET", "{k}"+"n", "v"), "+OK\r\n")
	c.expect(encodeCmd("OBJECT", "FREQ", "{k}"+"n"), ":5\r\n")
	c.expect(encodeCmd("GET", "{k}"+"n"), "$1\r\nv\r\n")
	c.expect(encodeCmd("OBJECT", "FREQ", "{k}"+"n"), ":6\r\n")
	c.expect(encodeCmd("OBJECT", "FREQ", "{k}"+"nokey"), "$-1\r\n")
}

func TestEvictedKeysMetric(t *testing.T) {
	st := store.New(1 << 20)
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Replication: Standalone{}, ProtoMaxBulkLen: 1 << 20}, st, reg); err != nil {
		t.Fatal(err)
	}
	st.SetPolicy(store.PolicyAllKeysRandom)
	val := make([]byte, 500)
	for i := range 200 {
		if _, err := st.Set(nil, fmt.Appendf(nil, "k:%d", i), val, store.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st.SetMaxMemory(st.UsedMemory())
	for i := range 200 {
		if _, err := st.Set(nil, fmt.Appendf(nil, "n:%d", i), val, store.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "insight_grid_evicted_keys_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got == 0 || int64(got) != st.EvictedKeys() {
				t.Fatalf("insight_grid_evicted_keys_total %v, store %d", got, st.EvictedKeys())
			}
			return
		}
	}
	t.Fatal("no insight_grid_evicted_keys_total")
}
