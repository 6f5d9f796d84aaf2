package server

import (
	"strconv"
	"strings"

	"github.com/insightgrid/insight/grid/store"
)

// Errors of OBJECT IDLETIME and OBJECT FREQ under the other kind of policy, Redis's words.
const (
	errIdleUnderLFU = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
	errFreqNoLFU    = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
)

// cmdObjectIdletime is OBJECT IDLETIME key: seconds since the key's last access.
func cmdObjectIdletime(c *conn, args [][]byte) {
	secs, ok := c.s.store.ObjectIdleTime(args[2])
	switch {
	case !ok:
		c.wr.Null()
	case c.s.store.EvictionPolicy().LFU():
		c.wr.Error(errIdleUnderLFU)
	default:
		c.wr.Int(secs)
	}
}

// cmdObjectFreq is OBJECT FREQ key: the key's LFU counter.
func cmdObjectFreq(c *conn, args [][]byte) {
	freq, ok := c.s.store.ObjectFreq(args[2])
	switch {
	case !ok:
		c.wr.Null()
	case !c.s.store.EvictionPolicy().LFU():
		c.wr.Error(errFreqNoLFU)
	default:
		c.wr.Int(freq)
	}
}

// evictionParams are the eviction parameters CONFIG GET reports.
func evictionParams(st *store.Store) [][2]string {
	return [][2]string{
		{"maxmemory-policy", st.EvictionPolicy().String()},
		{"maxmemory-samples", strconv.FormatInt(st.MaxMemorySamples(), 10)},
		{"lfu-log-factor", strconv.FormatInt(st.LFULogFactor(), 10)},
		{"lfu-decay-time", strconv.FormatInt(st.LFUDecayTime(), 10)},
	}
}

// evictionParam checks CONFIG SET of an eviction parameter: known is false for another
// parameter; otherwise apply sets it, or why says, in Redis's words, why val is refused.
func evictionParam(st *store.Store, name, val string) (apply func(), why string, known bool) {
	switch name {
	case "maxmemory-policy":
		p, ok := store.ParsePolicy(val)
		if !ok {
			return nil, "argument(s) must be one of the following: " + strings.Join(store.PolicyNames(), ", "), true
		}
		return func() { st.SetPolicy(p) }, "", true
	case "maxmemory-samples", "lfu-log-factor", "lfu-decay-time":
		lo := int64(0)
		if name == "maxmemory-samples" {
			lo = 1
		}
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return nil, "argument couldn't be parsed into an integer", true
		}
		if n < lo || n > 2147483647 {
			return nil, "argument must be between " + strconv.FormatInt(lo, 10) + " and 2147483647 inclusive", true
		}
		set := map[string]func(int64){"maxmemory-samples": st.SetMaxMemorySamples,
			"lfu-log-factor": st.SetLFULogFactor, "lfu-decay-time": st.SetLFUDecayTime}[name]
		return func() { set(n) }, "", true
	}
	return nil, "", false
}
