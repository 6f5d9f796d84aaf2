package server

import "testing"

// TestEvictionAgainstRedisServer compares CONFIG of the eviction parameters and OBJECT
// IDLETIME / FREQ, replies and errors, under LRU and LFU policies.
func TestEvictionAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	for _, args := range [][]string{
		{"CONFIG", "GET", "maxmemory-policy"},
		{"CONFIG", "GET", "maxmemory-samples"},
		{"CONFIG", "GET", "lfu-*"},
		{"CONFIG", "SET", "maxmemory-policy", "lru"},
		{"CONFIG", "SET", "maxmemory-samples", "0"},
		{"CONFIG", "SET", "maxmemory-samples", "x"},
		{"CONFIG", "SET", "lfu-log-factor", "-1"},
		{"CONFIG", "SET", "lfu-decay-time", "2147483648"},
		{"CONFIG", "SET", "maxmemory-samples", "10", "lfu-log-factor", "20", "lfu-decay-time", "5"},
		{"CONFIG", "GET", "maxmemory-samples"},
		{"CONFIG", "GET", "lfu-log-factor"},
		{"CONFIG", "GET", "lfu-decay-time"},
		{"CONFIG", "SET", "maxmemory-samples", "5", "lfu-log-factor", "10", "lfu-decay-time", "1"},
		{"SET", "{k}a", "v"},
		{"OBJECT", "IDLETIME", "{k}a"},
		{"OBJECT", "IDLETIME", "{k}missing"},
		{"OBJECT", "FREQ", "{k}a"},
		{"OBJECT", "FREQ", "{k}missing"},
		{"OBJECT", "FREQ"},
		{"OBJECT", "IDLETIME", "{k}a", "{k}b"},
		{"OBJECT", "NOSUCH", "{k}a"},
		{"CONFIG", "SET", "maxmemory-policy", "ALLKEYS-LFU"},
		{"CONFIG", "GET", "maxmemory-policy"},
		{"SET", "{k}b", "v"},
		{"OBJECT", "FREQ", "{k}b"},
		{"GET", "{k}b"}, // from the initial counter, the first access always counts
		{"OBJECT", "FREQ", "{k}b"},
		{"OBJECT", "FREQ", "{k}missing"},
		{"OBJECT", "IDLETIME", "{k}b"},
		{"OBJECT", "IDLETIME", "{k}missing"},
		{"CONFIG", "SET", "maxmemory-policy", "volatile-ttl"},
		{"OBJECT", "FREQ", "{k}b"},
		{"CONFIG", "SET", "maxmemory-policy", "noeviction"},
	} {
		class := exact
		if args[0] == "CONFIG" && args[1] == "GET" {
			class = multiset // Redis lists a pattern's matches in its dictionary's order
		}
		d.check(class, args...)
	}
}
