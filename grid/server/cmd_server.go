package server

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f, units := float64(n), "KMGTP"
	i := -1
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.2f%c", f, units[i])
}

// role is this instance's replication role: "master" for the partition primary, "slave"
// otherwise (Redis's INFO words).
func (s *Server) role() string {
	if s.cfg.Replication.Status().Role == "primary" {
		return "master"
	}
	return "slave"
}

type infoSection struct {
	name   string
	fields func(s *Server) [][2]string
}

// extraInfoSections are reported by name, "all" or "everything", not by default (as
// Redis leaves out commandstats).
var extraInfoSections = map[string]bool{"commandstats": true}

var infoSections = []infoSection{
	{"server", func(s *Server) [][2]string {
		up := int64(time.Since(s.started) / time.Second)
		return [][2]string{
			{"redis_version", redisVersion}, {"insight_version", s.cfg.Version},
			{"redis_mode", "cluster"}, {"os", runtime.GOOS + " " + runtime.GOARCH},
			{"arch_bits", strconv.Itoa(strconv.IntSize)}, {"go_version", runtime.Version()},
			{"process_id", strconv.Itoa(os.Getpid())},
			{"uptime_in_seconds", strconv.FormatInt(up, 10)}, {"uptime_in_days", strconv.FormatInt(up/86400, 10)},
		}
	}},
	{"clients", func(s *Server) [][2]string {
		return [][2]string{{"connected_clients", strconv.Itoa(s.Clients())},
			{"blocked_clients", strconv.FormatInt(s.blocked.n.Load(), 10)}}
	}},
	{"memory", func(s *Server) [][2]string {
		st := s.store
		used, data, rss := st.UsedMemory(), st.DataMemory(), residentBytes()
		frag := "0"
		if used > 0 && rss > 0 {
			frag = strconv.FormatFloat(float64(rss)/float64(used), 'f', 2, 64)
		}
		var bufUsed, bufTotal int64
		if s.budget != nil {
			bufUsed, bufTotal = s.budget.Used(), s.budget.Total()
		}
		return [][2]string{
			{"used_memory", strconv.FormatInt(used, 10)}, {"used_memory_human", humanBytes(used)},
			{"used_memory_rss", strconv.FormatInt(rss, 10)}, {"used_memory_rss_human", humanBytes(rss)},
			{"used_memory_dataset", strconv.FormatInt(st.DatasetBytes(), 10)},
			{"used_memory_data", strconv.FormatInt(data, 10)},
			{"used_memory_index", strconv.FormatInt(st.IndexBytes(), 10)},
			{"used_memory_runtime", strconv.FormatInt(used-data, 10)},
			{"maxmemory", strconv.FormatInt(st.MaxMemory(), 10)}, {"maxmemory_human", humanBytes(st.MaxMemory())},
			{"maxmemory_ceiling", strconv.FormatInt(s.cfg.MaxMemoryCeiling, 10)},
			{"maxmemory_policy", st.EvictionPolicy().String()},
			{"mem_fragmentation_ratio", frag},
			{"mem_large_query_buffers", strconv.FormatInt(bufUsed, 10)},
			{"mem_large_query_buffers_budget", strconv.FormatInt(bufTotal, 10)},
		}
	}},
	{"tiering", func(s *Server) [][2]string {
		t := s.store.Tiering()
		if !t.Enabled {
			return [][2]string{{"tiering_enabled", "0"}}
		}
		var avg int64
		if t.ColdReads > 0 {
			avg = t.ColdReadNs / t.ColdReads / 1000
		}
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		return [][2]string{{"tiering_enabled", "1"}, {"tiered_keys", i(t.Keys)},
			{"tiered_disk_bytes", i(t.DiskBytes)}, {"tiered_disk_bytes_human", humanBytes(t.DiskBytes)},
			{"tiering_max_disk", i(t.MaxDisk)}, {"tiered_spills", i(t.Spills)},
			{"tiered_cold_reads", i(t.ColdReads)}, {"tiered_cold_read_avg_usec", i(avg)},
			{"tiered_cold_read_max_usec", i(t.ColdReadMax / 1000)}, {"tiered_failures", i(t.Failures)}}
	}},
	{"persistence", func(*Server) [][2]string {
		return [][2]string{{"loading", "0"}, {"rdb_changes_since_last_save", "0"}, {"aof_enabled", "0"}}
	}},
	{"stats", func(s *Server) [][2]string {
		return append([][2]string{
			{"total_connections_received", strconv.FormatInt(s.connsTotal.Load(), 10)},
			{"total_commands_processed", strconv.FormatInt(s.cmdsTotal.Load(), 10)},
			{"expired_keys", strconv.FormatInt(s.store.ExpiredKeys(), 10)},
			{"evicted_keys", strconv.FormatInt(s.store.EvictedKeys(), 10)},
			{"rejected_oom_commands", strconv.FormatInt(s.oomRejected.Load(), 10)},
			{"total_error_replies", strconv.FormatInt(s.totalErrors(), 10)},
		}, s.pubsubInfo()...)
	}},
	{"replication", func(s *Server) [][2]string { return s.replicationInfo() }},
	{"cpu", func(*Server) [][2]string {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		secs := func(t syscall.Timeval) string {
			return strconv.FormatFloat(float64(t.Sec)+float64(t.Usec)/1e6, 'f', 6, 64)
		}
		return [][2]string{{"used_cpu_sys", secs(ru.Stime)}, {"used_cpu_user", secs(ru.Utime)}}
	}},
	{"commandstats", (*Server).commandStats},
	{"errorstats", (*Server).errorStatsInfo},
	{"cluster", func(*Server) [][2]string { return [][2]string{{"cluster_enabled", "1"}} }},
	{"insight", func(s *Server) [][2]string {
		out := [][2]string{{"partition", strconv.Itoa(s.cfg.Partition)}, {"instance", strconv.Itoa(s.cfg.Instance)}}
		if v := s.view.Load(); v != nil {
			for _, p := range v.Partitions {
				if p.ID == s.cfg.Partition {
					out = append(out, [2]string{"epoch", strconv.FormatInt(p.Record.Epoch, 10)})
				}
			}
		}
		return out
	}},
	{"keyspace", func(s *Server) [][2]string {
		keys := s.store.Keys()
		if keys == 0 {
			return nil
		}
		return [][2]string{{"db0", fmt.Sprintf("keys=%d,expires=%d,avg_ttl=%d", keys, s.store.VolatileKeys(), s.store.AvgTTL())}}
	}},
}

// Info renders the INFO text of the named sections ("default", "all" or names).
func (s *Server) Info(sections ...string) string {
	want := map[string]bool{}
	for _, sec := range sections {
		want[strings.ToLower(sec)] = true
	}
	all := want["all"] || want["everything"]
	def := len(want) == 0 || want["default"]
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec.name] && (!def || extraInfoSections[sec.name]) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		fmt.Fprintf(&b, "# %s\r\n", strings.ToUpper(sec.name[:1])+sec.name[1:])
		for _, f := range sec.fields(s) {
			fmt.Fprintf(&b, "%s:%s\r\n", f[0], f[1])
		}
	}
	return b.String()
}

func cmdInfo(c *conn, args [][]byte) {
	secs := make([]string, 0, len(args)-1)
	for _, a := range args[1:] {
		secs = append(secs, string(a))
	}
	c.wr.Verbatim(c.s.Info(secs...))
}

// parseMemory reads a memory value as Redis's memtoull does: a number with an optional
// unit b, k, kb, m, mb, g or gb (k = 1000, kb = 1024), case-insensitive.
func parseMemory(v string) (int64, bool) {
	v = strings.ToLower(v)
	mul := int64(1)
	for _, u := range []struct {
		suffix string
		mul    int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mul = strings.TrimSuffix(v, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mul {
		return 0, false
	}
	return n * mul, true
}

// residentBytes is the process's resident set size, 0 when /proc is not there.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

func cmdTime(c *conn, _ [][]byte) {
	now := time.Now()
	c.wr.Array(2)
	c.wr.BulkString(strconv.FormatInt(now.Unix(), 10))
	c.wr.BulkString(strconv.Itoa(now.Nanosecond() / 1000))
}

// replicationInfo is INFO's replication section in Redis's words, plus the grid's epoch
// and sync state.
func (s *Server) replicationInfo() [][2]string {
	st := s.cfg.Replication.Status()
	out := [][2]string{{"role", s.role()}}
	if st.Role == "primary" {
		n := "0"
		if st.InSync {
			n = "1"
		}
		out = append(out, [2]string{"connected_slaves", n}, [2]string{"master_repl_offset", strconv.FormatUint(st.Offset, 10)},
			[2]string{"slave_repl_offset_acked", strconv.FormatUint(st.AckedOffset, 10)})
	} else {
		host, port := "", ""
		if v := s.view.Load(); v != nil && s.cfg.Partition < len(v.Partitions) {
			if p := v.Partitions[s.cfg.Partition].Primary; p != nil && p.ID != v.Self {
				host, port = p.Host, strconv.Itoa(p.Port)
			}
		}
		link := "down"
		if st.InSync {
			link = "up"
		}
		out = append(out, [2]string{"master_host", host}, [2]string{"master_port", port},
			[2]string{"master_link_status", link}, [2]string{"slave_repl_offset", strconv.FormatUint(st.Offset, 10)})
	}
	return append(out, [2]string{"insight_epoch", strconv.FormatInt(st.Epoch, 10)},
		[2]string{"insight_in_sync", strconv.FormatBool(st.InSync)}, [2]string{"insight_lag_ops", strconv.FormatUint(st.LagOps, 10)},
		[2]string{"insight_serving", strconv.FormatBool(st.Serving)})
}

func cmdReplSync(c *conn, args [][]byte) {
	if !c.internalAllowed("REPLSYNC") {
		return
	}
	c.attach = make([][]byte, len(args))
	for i, a := range args {
		c.attach[i] = append([]byte(nil), a...)
	}
}
