package server

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/insightgrid/insight/grid/store"
)

// configParam is a parameter CONFIG GET reports and, when set is not nil, CONFIG SET
// changes. set checks a value and returns what applies it, or Redis's reason for
// refusing it (after "CONFIG SET failed ... - ").
type configParam struct {
	name string
	get  func(s *Server) string
	set  func(s *Server, v string) (apply func(), why string)
}

// configState holds the values of the parameters the grid stores without acting on them
// itself (the clients' and tools' settings: hz, timeout...).
type configState struct {
	mu   sync.Mutex
	vals map[string]string
}

func (s *Server) confGet(name, def string) string {
	s.conf.mu.Lock()
	defer s.conf.mu.Unlock()
	if v, ok := s.conf.vals[name]; ok {
		return v
	}
	return def
}

func (s *Server) confSet(name, v string) {
	s.conf.mu.Lock()
	defer s.conf.mu.Unlock()
	if s.conf.vals == nil {
		s.conf.vals = map[string]string{}
	}
	s.conf.vals[name] = v
}

// fixed is a parameter CONFIG SET refuses as Redis refuses an immutable one.
func fixed(name, v string) configParam {
	return configParam{name: name, get: func(*Server) string { return v }}
}

// intParam is an integer parameter stored as given, within [lo, hi]; clamp, when set,
// changes what is stored (hz is kept within 1 and 500).
func intParam(name string, def, lo, hi int64, clamp func(int64) int64) configParam {
	d := strconv.FormatInt(def, 10)
	return configParam{name: name, get: func(s *Server) string { return s.confGet(name, d) },
		set: func(s *Server, v string) (func(), string) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, "argument couldn't be parsed into an integer"
			}
			if n < lo || n > hi {
				return nil, fmt.Sprintf("argument must be between %d and %d inclusive", lo, hi)
			}
			if clamp != nil {
				n = clamp(n)
			}
			return func() { s.confSet(name, strconv.FormatInt(n, 10)) }, ""
		}}
}

// boolParam is a yes/no parameter stored as given.
func boolParam(name, def string) configParam {
	return configParam{name: name, get: func(s *Server) string { return s.confGet(name, def) },
		set: func(s *Server, v string) (func(), string) {
			v = strings.ToLower(v)
			if v != "yes" && v != "no" {
				return nil, "argument must be 'yes' or 'no'"
			}
			return func() { s.confSet(name, v) }, ""
		}}
}

// encodingParam is a threshold of the store's encodings: the grid's value, fixed (the
// store's encodings are compiled in); setting it to that same value is accepted.
func encodingParam(name string, v int) configParam {
	cur := strconv.Itoa(v)
	return configParam{name: name, get: func(*Server) string { return cur },
		set: func(_ *Server, val string) (func(), string) {
			if strings.TrimSpace(val) == cur {
				return func() {}, ""
			}
			return nil, "the grid's value encodings use fixed thresholds (" + name + " " + cur + "); it cannot be changed"
		}}
}

// evictParam is an eviction parameter: the store applies it at once.
func evictParam(name string) configParam {
	return configParam{name: name,
		get: func(s *Server) string {
			for _, p := range evictionParams(s.store) {
				if p[0] == name {
					return p[1]
				}
			}
			return ""
		},
		set: func(s *Server, v string) (func(), string) {
			apply, why, _ := evictionParam(s.store, name, v)
			return apply, why
		}}
}

// configTable is every parameter CONFIG knows, aliases as entries of their own (CONFIG
// GET with a pattern reports both names, as Redis does).
func configTable() []configParam {
	const maxInt = math.MaxInt32
	hz := func(n int64) int64 { return min(max(n, 1), 500) }
	params := []configParam{
		fixed("appendonly", "no"), fixed("cluster-enabled", "yes"), fixed("databases", "1"),
		fixed("daemonize", "no"), fixed("appendfsync", "everysec"),
		{name: "proto-max-bulk-len", get: func(s *Server) string { return strconv.FormatInt(s.cfg.ProtoMaxBulkLen, 10) }},
		{name: "save", get: func(*Server) string { return "" }, set: func(_ *Server, v string) (func(), string) {
			if strings.TrimSpace(v) != "" {
				return nil, "the grid does not save snapshots to disk: its backup instance holds the copy (save stays \"\")"
			}
			return func() {}, ""
		}},
		{name: "maxmemory", get: func(s *Server) string { return strconv.FormatInt(s.store.MaxMemory(), 10) }, set: setMaxMemory},
		evictParam("maxmemory-policy"), evictParam("maxmemory-samples"),
		intParam("maxmemory-eviction-tenacity", 10, 0, 100, nil),
		intParam("maxmemory-clients", 0, 0, math.MaxInt64, nil),
		intParam("hz", 10, 0, maxInt, hz),
		intParam("timeout", 0, 0, maxInt, nil),
		intParam("tcp-keepalive", 300, 0, maxInt, nil),
		intParam("maxclients", 10000, 1, math.MaxUint32, nil),
		evictParam("lfu-log-factor"), evictParam("lfu-decay-time"),
		intParam("active-expire-effort", 1, 1, 10, nil),
		intParam("slowlog-log-slower-than", 10000, math.MinInt64, math.MaxInt64, nil),
		intParam("slowlog-max-len", 128, 0, math.MaxInt64, nil),
		intParam("latency-monitor-threshold", 0, 0, math.MaxInt64, nil),
		boolParam("lazyfree-lazy-eviction", "no"), boolParam("lazyfree-lazy-expire", "no"),
		boolParam("lazyfree-lazy-server-del", "no"), boolParam("lazyfree-lazy-user-del", "no"),
		boolParam("lazyfree-lazy-user-flush", "no"), boolParam("activedefrag", "no"),
		{name: "notify-keyspace-events", get: func(s *Server) string { return notifyClass(s.keyEvents.Load()).String() },
			set: func(s *Server, v string) (func(), string) {
				f, ok := parseNotifyClasses(v)
				if !ok {
					return nil, errNotifyClasses
				}
				return func() { s.setKeyEvents(f) }, ""
			}},
		{name: "client-output-buffer-limit", get: getOutputLimits, set: setOutputLimits},
	}
	for _, e := range []struct {
		name, alias string
		v           int
	}{
		{"hash-max-listpack-entries", "hash-max-ziplist-entries", store.HashMaxListpackEntries},
		{"hash-max-listpack-value", "hash-max-ziplist-value", store.HashMaxListpackValue},
		{"zset-max-listpack-entries", "zset-max-ziplist-entries", 128},
		{"zset-max-listpack-value", "zset-max-ziplist-value", 64},
		{"list-max-listpack-size", "list-max-ziplist-size", -2},
		{"set-max-intset-entries", "", store.SetMaxIntsetEntries},
		{"list-compress-depth", "", 0},
		{"stream-node-max-bytes", "", 4096},
		{"stream-node-max-entries", "", 100},
	} {
		params = append(params, encodingParam(e.name, e.v))
		if e.alias != "" {
			params = append(params, encodingParam(e.alias, e.v))
		}
	}
	return append(params, scriptConfigParams()...)
}

// setMaxMemory checks a new maxmemory against the ceiling the memory limit leaves.
func setMaxMemory(s *Server, v string) (func(), string) {
	n, ok := parseMemory(v)
	if !ok {
		return nil, "argument must be a memory value"
	}
	if ceil := s.cfg.MaxMemoryCeiling; ceil > 0 && (n == 0 || n > ceil) {
		return nil, fmt.Sprintf("%s is above the ceiling %d (%s: the memory limit less what the process needs besides the data)",
			v, ceil, humanBytes(ceil))
	}
	return func() { s.store.SetMaxMemory(n) }, ""
}

func findParam(name string) *configParam {
	for i := range configParams {
		if configParams[i].name == name {
			return &configParams[i]
		}
	}
	return nil
}

var configParams = configTable()

// cmdConfigGet reports the parameters matching any of the patterns (exact names match
// only themselves, as in Redis).
func cmdConfigGet(c *conn, args [][]byte) {
	var out [][2]string
	for _, p := range configParams {
		for _, pat := range args[2:] {
			if store.Match([]byte(strings.ToLower(string(pat))), []byte(p.name)) {
				out = append(out, [2]string{p.name, p.get(c.s)})
				break
			}
		}
	}
	c.wr.Map(len(out))
	for _, p := range out {
		c.wr.BulkString(p[0])
		c.wr.BulkString(p[1])
	}
}

// cmdConfigSet sets one or more parameters; like Redis, it changes nothing unless every
// pair is valid.
func cmdConfigSet(c *conn, args [][]byte) {
	if len(args)%2 != 0 {
		c.wr.Error("ERR wrong number of arguments for 'config|set' command")
		return
	}
	var applies []func()
	seen := map[string]bool{}
	for i := 2; i+1 < len(args); i += 2 {
		name := strings.ToLower(string(args[i]))
		p := findParam(name)
		if p == nil {
			c.wr.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + string(args[i]) + "'")
			return
		}
		failed := func(why string) {
			c.wr.Error("ERR CONFIG SET failed (possibly related to argument '" + string(args[i]) + "') - " + why)
		}
		if seen[name] {
			failed("duplicate parameter")
			return
		}
		seen[name] = true
		if p.set == nil {
			failed("can't set immutable config")
			return
		}
		apply, why := p.set(c.s, string(args[i+1]))
		if why != "" {
			failed(why)
			return
		}
		applies = append(applies, apply)
	}
	for _, apply := range applies {
		apply()
	}
	c.wr.OK()
}

// cmdConfigRewrite refuses: an instance's configuration comes from its chart.
func cmdConfigRewrite(c *conn, _ [][]byte) {
	c.wr.Error("ERR CONFIG REWRITE is not supported: the grid's configuration comes from its Helm chart (values.yaml); change it there and roll the pods")
}

// cmdConfigResetStat zeroes the statistics INFO reports: commands, connections, errors.
func cmdConfigResetStat(c *conn, _ [][]byte) {
	c.s.resetStats()
	c.wr.OK()
}
