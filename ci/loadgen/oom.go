package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// oomConfig is `loadgen oom`: the fill test. Clients write new keys (one SET in flight
// each) until the server answers -OOM, go on for --after, and meanwhile the process's
// VmRSS and its memory cgroup's usage are sampled; it reports how close to the limit the
// first -OOM came, how throughput held up on the way and whether the process died.
type oomConfig struct {
	addr      string
	clients   int
	valueSize int
	after     time.Duration
	maxDur    time.Duration
	pid       int
	cgroup    string
	limit     int64
	sample    time.Duration
	prefix    string
	timeout   time.Duration
}

func parseOOM(args []string, stderr io.Writer) (oomConfig, error) {
	var cfg oomConfig
	fs := newModeFlags("loadgen oom", stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6379", "server host:port")
	fs.IntVar(&cfg.clients, "clients", 50, "connections, each with one SET in flight")
	fs.IntVar(&cfg.valueSize, "value-size", 100, "value size in bytes")
	fs.DurationVar(&cfg.after, "after", 5*time.Second, "how long to keep writing after the first -OOM reply")
	fs.DurationVar(&cfg.maxDur, "max-duration", 2*time.Minute, "stop after this long even without -OOM")
	fs.IntVar(&cfg.pid, "pid", 0, "server process whose VmRSS is sampled and whose death ends the run (0: none)")
	fs.StringVar(&cfg.cgroup, "cgroup", "", "cgroup v1 memory directory the server runs in: usage sampled, failcnt and oom_kill reported")
	fs.Int64Var(&cfg.limit, "limit", 0, "memory limit in bytes the percentages are of (default: the cgroup's memory.limit_in_bytes)")
	fs.DurationVar(&cfg.sample, "sample", 20*time.Millisecond, "sampling interval")
	fs.StringVar(&cfg.prefix, "prefix", "fill", "key prefix")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Second, "dial, read and write timeout per operation")
	errs, err := parseMode(fs, args)
	if err != nil {
		return cfg, err
	}
	errs = append(errs, atLeast("--clients", cfg.clients, 1))
	errs = append(errs, atLeast("--value-size", cfg.valueSize, 1))
	errs = append(errs, notNegative("--after", cfg.after))
	errs = append(errs, positive("--max-duration", cfg.maxDur))
	errs = append(errs, positive("--sample", cfg.sample))
	errs = append(errs, positive("--timeout", cfg.timeout))
	if cfg.limit == 0 && cfg.cgroup != "" {
		l, err := readInt(filepath.Join(cfg.cgroup, "memory.limit_in_bytes"))
		if err != nil {
			errs = append(errs, fmt.Errorf("--cgroup %s: %w", cfg.cgroup, err))
		}
		cfg.limit = l
	}
	return cfg, errors.Join(errs...)
}

// oomResult is the JSON line of `loadgen oom`. Percentages are of Limit; -1 when unknown.
type oomResult struct {
	Mode             string  `json:"mode"`
	Addr             string  `json:"addr"`
	Clients          int     `json:"clients"`
	ValueSize        int     `json:"value_size"`
	Limit            int64   `json:"limit"`
	Seconds          float64 `json:"seconds"`
	Acked            int64   `json:"acked"`
	AckedBytes       int64   `json:"acked_bytes"`
	OOMReplies       int64   `json:"oom_replies"`
	OtherErrors      int64   `json:"other_errors"`
	FirstOtherError  string  `json:"first_other_error,omitempty"`
	FirstOOM         bool    `json:"first_oom"`
	FirstOOMAtS      float64 `json:"first_oom_at_s"`
	BytesAtFirstOOM  int64   `json:"bytes_at_first_oom"`
	KeysAtFirstOOM   int64   `json:"keys_at_first_oom"`
	UsedMemAtOOM     int64   `json:"used_memory_at_first_oom"`
	MaxMemory        int64   `json:"maxmemory"`
	RSSAtOOM         int64   `json:"rss_at_first_oom"`
	CgroupAtOOM      int64   `json:"cgroup_usage_at_first_oom"`
	UsedMemAtOOMPct  float64 `json:"used_memory_at_first_oom_pct"`
	RSSAtOOMPct      float64 `json:"rss_at_first_oom_pct"`
	MaxRSS           int64   `json:"max_rss"`
	MaxRSSPct        float64 `json:"max_rss_pct"`
	MaxRSSAnon       int64   `json:"max_rss_anon"`
	MaxCgroupPct     float64 `json:"max_cgroup_usage_pct"`
	MaxCgroupUsage   int64   `json:"max_cgroup_usage"`
	CgroupMaxUsage   int64   `json:"cgroup_max_usage_in_bytes"`
	Failcnt          int64   `json:"cgroup_failcnt"`
	OOMKill          int64   `json:"cgroup_oom_kill"`
	ProcessDied      bool    `json:"process_died"`
	DiedAtS          float64 `json:"died_at_s"`
	FirstTenthBps    float64 `json:"first_tenth_bytes_per_s"`
	LastTenthBps     float64 `json:"last_tenth_bytes_per_s"`
	LastOverFirst    float64 `json:"last_over_first"`
	ThroughputWindow string  `json:"throughput_window"`
}

// point is one sample: time since start and bytes acknowledged by then.
type point struct {
	t     time.Duration
	bytes int64
}

func oomFill(ctx context.Context, cfg oomConfig) (*oomResult, error) {
	conns := make([]*respConn, cfg.clients)
	for i := range conns {
		c, err := dialRESP(cfg.addr, cfg.timeout)
		if err != nil {
			closeAll(conns)
			return nil, err
		}
		conns[i] = c
	}
	defer closeAll(conns)
	var maxMemory int64
	if c, err := dialRESP(cfg.addr, cfg.timeout); err == nil {
		if info, err := c.do("INFO", "memory"); err == nil {
			maxMemory, _ = strconv.ParseInt(infoField(info, "maxmemory"), 10, 64)
		}
		_ = c.Close()
	}

	res := &oomResult{Mode: "oom", Addr: cfg.addr, Clients: cfg.clients, ValueSize: cfg.valueSize, Limit: cfg.limit, MaxMemory: maxMemory,
		RSSAtOOM: -1, CgroupAtOOM: -1, MaxRSS: -1, MaxRSSAnon: -1, MaxCgroupUsage: -1, CgroupMaxUsage: -1, Failcnt: -1, OOMKill: -1}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		ackedOps, ackedBytes, oomCount, otherErrs atomic.Int64
		mu                                        sync.Mutex
		firstOther                                string
		oomOnce                                   sync.Once
		oomSeen                                   = make(chan struct{})
		oomAt                                     time.Duration
		wg                                        sync.WaitGroup
	)
	start := time.Now()
	onOOM := func() {
		oomOnce.Do(func() {
			mu.Lock()
			oomAt = time.Since(start)
			res.BytesAtFirstOOM, res.KeysAtFirstOOM = ackedBytes.Load(), ackedOps.Load()
			mu.Unlock()
			close(oomSeen)
		})
	}
	for i, c := range conns {
		wg.Go(func() {
			key := make([]byte, 0, len(cfg.prefix)+24)
			value := make([]byte, cfg.valueSize)
			for seq := int64(0); ctx.Err() == nil; seq++ {
				key = strconv.AppendInt(append(strconv.AppendInt(append(append(key[:0], cfg.prefix...), ':'), int64(i), 10), ':'), seq, 10)
				fillValue(value, string(key))
				if c != nil {
					c.appendCmd([]byte("SET"), key, value)
				}
				var err error
				if c == nil {
					err = errors.New("not connected")
				} else if err = c.flush(); err == nil {
					_, err = c.readReply()
				}
				var er errReply
				switch {
				case err == nil:
					ackedOps.Add(1)
					ackedBytes.Add(int64(len(key) + len(value)))
				case errors.As(err, &er) && strings.HasPrefix(string(er), "OOM"):
					oomCount.Add(1)
					onOOM()
				default:
					otherErrs.Add(1)
					mu.Lock()
					if firstOther == "" {
						firstOther = err.Error()
					}
					mu.Unlock()
					if !errors.As(err, &er) { // the connection is gone: dial again, slowly
						if c != nil {
							_ = c.Close()
						}
						select {
						case <-ctx.Done():
							return
						case <-time.After(50 * time.Millisecond):
						}
						c, _ = dialRESP(cfg.addr, cfg.timeout)
						conns[i] = c
					}
				}
			}
		})
	}

	// The sampler: the timeline of acknowledged bytes, RSS and cgroup usage, and the end of
	// the run (--after past the first -OOM, the process gone, --max-duration).
	var timeline []point
	readRSS := func() (int64, int64) {
		if cfg.pid == 0 {
			return -1, -1
		}
		return procRSS(cfg.pid)
	}
	readCgroup := func() int64 {
		if cfg.cgroup == "" {
			return -1
		}
		v, err := readInt(filepath.Join(cfg.cgroup, "memory.usage_in_bytes"))
		if err != nil {
			return -1
		}
		return v
	}
	tick := time.NewTicker(cfg.sample)
	defer tick.Stop()
	var endAt time.Time
	usedAtOOM := make(chan int64, 1)
	for {
		now := time.Now()
		timeline = append(timeline, point{now.Sub(start), ackedBytes.Load()})
		rss, anon := readRSS()
		cg := readCgroup()
		res.MaxRSS, res.MaxRSSAnon, res.MaxCgroupUsage = max(res.MaxRSS, rss), max(res.MaxRSSAnon, anon), max(res.MaxCgroupUsage, cg)
		if cfg.pid != 0 && rss < 0 && !res.ProcessDied {
			res.ProcessDied, res.DiedAtS = true, round3(now.Sub(start).Seconds())
			break
		}
		select {
		case <-oomSeen:
			if endAt.IsZero() {
				endAt = now.Add(cfg.after)
				res.RSSAtOOM, res.CgroupAtOOM = rss, cg
				go func() { usedAtOOM <- usedMemory(cfg.addr, cfg.timeout) }()
			}
		default:
		}
		if (!endAt.IsZero() && now.After(endAt)) || now.Sub(start) > cfg.maxDur || ctx.Err() != nil {
			break
		}
		<-tick.C
	}
	stop()
	wg.Wait()
	end := time.Since(start)

	res.Seconds = round3(end.Seconds())
	res.Acked, res.AckedBytes, res.OOMReplies, res.OtherErrors = ackedOps.Load(), ackedBytes.Load(), oomCount.Load(), otherErrs.Load()
	res.FirstOtherError = firstOther
	mu.Lock()
	res.FirstOOM = oomAt > 0
	res.FirstOOMAtS = round3(oomAt.Seconds())
	mu.Unlock()
	if res.FirstOOM {
		select {
		case res.UsedMemAtOOM = <-usedAtOOM:
		case <-time.After(cfg.timeout):
			res.UsedMemAtOOM = -1
		}
	}
	if cfg.cgroup != "" {
		res.CgroupMaxUsage, _ = readInt(filepath.Join(cfg.cgroup, "memory.max_usage_in_bytes"))
		res.Failcnt, _ = readInt(filepath.Join(cfg.cgroup, "memory.failcnt"))
		res.OOMKill = oomKills(cfg.cgroup)
	}
	pct := func(v int64) float64 {
		if cfg.limit <= 0 || v < 0 {
			return -1
		}
		return math1(float64(v) * 100 / float64(cfg.limit))
	}
	res.UsedMemAtOOMPct, res.RSSAtOOMPct, res.MaxRSSPct = pct(res.UsedMemAtOOM), pct(res.RSSAtOOM), pct(res.MaxRSS)
	res.MaxCgroupPct = pct(max(res.MaxCgroupUsage, res.CgroupMaxUsage))

	// Throughput in the first and the last 10% of the bytes written before the first -OOM
	// (or, without one, before the end: the process died or the run timed out).
	total, totalAt := res.AckedBytes, end
	res.ThroughputWindow = "bytes acknowledged before the end of the run (no -OOM)"
	if res.FirstOOM {
		total, totalAt = res.BytesAtFirstOOM, oomAt
		res.ThroughputWindow = "bytes acknowledged before the first -OOM"
	} else if res.ProcessDied {
		res.ThroughputWindow = "bytes acknowledged before the process died (no -OOM)"
	}
	timeline = append(timeline, point{totalAt, total})
	if total > 0 {
		tenth := float64(total) / 10
		t10, t90 := crossing(timeline, tenth), crossing(timeline, float64(total)-tenth)
		t100 := crossing(timeline, float64(total))
		if t10 > 0 {
			res.FirstTenthBps = math1(tenth / t10.Seconds())
		}
		if d := t100 - t90; d > 0 {
			res.LastTenthBps = math1(tenth / d.Seconds())
		}
		if res.FirstTenthBps > 0 {
			res.LastOverFirst = round3(res.LastTenthBps / res.FirstTenthBps)
		}
	}
	return res, nil
}

// crossing is the time at which the timeline first reaches b bytes, interpolated
// linearly between the samples around it.
func crossing(tl []point, b float64) time.Duration {
	for i, p := range tl {
		if float64(p.bytes) < b {
			continue
		}
		if i == 0 {
			return p.t
		}
		q := tl[i-1]
		if p.bytes == q.bytes {
			return p.t
		}
		f := (b - float64(q.bytes)) / float64(p.bytes-q.bytes)
		return q.t + time.Duration(f*float64(p.t-q.t))
	}
	return tl[len(tl)-1].t
}

func closeAll(conns []*respConn) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// usedMemory is INFO memory's used_memory on a new connection; -1 when it cannot be read.
func usedMemory(addr string, timeout time.Duration) int64 {
	c, err := dialRESP(addr, timeout)
	if err != nil {
		return -1
	}
	defer c.Close()
	info, err := c.do("INFO", "memory")
	if err != nil {
		return -1
	}
	v, err := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// procRSS is the VmRSS of pid and its anonymous part (RssAnon: the heap and stacks, what
// the data costs; the rest is mostly the binary's mapped pages) in bytes; -1 when the
// process is gone or a zombie (which has no VmRSS line).
func procRSS(pid int) (rss, anon int64) {
	rss, anon = -1, -1
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return rss, anon
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "VmRSS:" && f[0] != "RssAnon:") {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		if f[0] == "VmRSS:" {
			rss = kb << 10
		} else {
			anon = kb << 10
		}
	}
	if rss < 0 {
		anon = -1
	}
	return rss, anon
}

// oomKills is the oom_kill counter of a cgroup v1 memory.oom_control; -1 when absent.
func oomKills(dir string) int64 {
	b, err := os.ReadFile(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return -1
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

func math1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }
