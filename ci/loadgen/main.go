// Command loadgen is the write-load generator of the HA benchmark (ci/bench-ha.sh): N
// clients, each one goroutine with its own connection, send SETs for a duration or a
// request count and print one JSON line with the throughput and latency percentiles.
//
// With --wait-replicas 1 every operation is the pipeline `SET k v` + `WAIT 1 0` (the way a
// redis-server client asks for synchronous replication) and counts as acknowledged only when
// WAIT answers at least 1. With --track-gap it also reports the longest interval between two
// consecutive acknowledged writes (the failover write gap) and, with --acked-file, writes
// every acknowledged key to a file that `loadgen --verify FILE` reads back afterwards.
//
// Subcommands serve the other benchmarks: `loadgen fill` writes exactly N keys named
// PREFIX:000000000000 upwards in pipelined batches (ci/bench-memory.sh), or N members or
// entries into one sorted set or stream (ci/bench-types.sh); `loadgen oom` writes until the
// server answers -OOM while sampling the process's RSS and its memory cgroup
// (ci/bench-fill.sh); `loadgen probe` writes lightly to one slot per partition and reports
// how long after a fault (marked by SIGUSR1) each was writable again
// (ci/bench-failover-scale.sh); `loadgen stream` runs XADD producers and XREADGROUP+XACK
// consumers on one stream for a duration (ci/bench-types.sh); `loadgen tx` loops on
// MULTI, SET, INCR, GET, EXEC and `loadgen fanout` publishes to subscribers of one channel
// and counts what each received (ci/bench-tx.sh).
//
// It is a benchmark tool, not a test: the exit code says only whether it could run.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

type config struct {
	addrs        []string
	cluster      bool
	clients      int
	duration     time.Duration
	requests     int64
	valueSize    int
	waitReplicas int
	keyspace     string
	keyspaceSize int
	prefix       string
	password     string
	trackGap     bool
	ackedFile    string
	verify       string
	timeout      time.Duration
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// modes are the subcommands; without one, loadgen runs the SET load above.
var modes = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{
	"fill":   mode("fill", parseFill, fill, one[*fillResult]),
	"oom":    mode("oom", parseOOM, oomFill, one[*oomResult]),
	"probe":  mode("probe", parseProbe, probe, each[probeResult]),
	"stream": mode("stream", parseStream, streamLoad, one[*streamResult]),
	"tx":     mode("tx", parseTx, txLoad, one[*txResult]),
	"fanout": mode("fanout", parseFanout, fanoutLoad, one[*fanoutResult]),
}

// mode is subcommand name: it parses its flags with parse (exit code 2 on bad ones), runs
// do (1 when it fails) and prints the result as JSON lines, one per value lines gives.
func mode[C, R any](name string, parse func([]string, io.Writer) (C, error), do func(context.Context, C) (R, error),
	lines func(R) []any) func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		cfg, err := parse(args, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadgen %s: %v\n", name, err)
			return 2
		}
		res, err := do(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen %s: %v\n", name, err)
			return 1
		}
		for _, v := range lines(res) {
			line, _ := json.Marshal(v)
			fmt.Fprintf(stdout, "%s\n", line)
		}
		return 0
	}
}

// one is a result printed as one JSON line, each a slice printed a line per element.
func one[R any](r R) []any { return []any{r} }

func each[R any](rs []R) []any {
	out := make([]any, len(rs))
	for i := range rs {
		out[i] = rs[i]
	}
	return out
}

func run(args []string, stdout, stderr io.Writer) int {
	// go-redis logs every failed dial; the errors are counted in the result instead.
	redis.SetLogger(quietLogger{})
	if len(args) > 0 {
		if mode, ok := modes[args[0]]; ok {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return mode(ctx, args[1:], stdout, stderr)
		}
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var out any
	if cfg.verify != "" {
		out, err = verify(ctx, cfg)
	} else {
		out, err = load(ctx, cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	line, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:6379", "server host:port (with --cluster a comma-separated list of seeds)")
	fs.BoolVar(&cfg.cluster, "cluster", false, "use a go-redis ClusterClient (slot routing, MOVED, retries on TRYAGAIN/CLUSTERDOWN)")
	fs.IntVar(&cfg.clients, "clients", 50, "concurrent clients, one goroutine and one connection each")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send (ignored with --requests)")
	fs.Int64Var(&cfg.requests, "requests", 0, "total operations over all clients (0: run for --duration)")
	fs.IntVar(&cfg.valueSize, "value-size", 64, "value size in bytes")
	fs.IntVar(&cfg.waitReplicas, "wait-replicas", 0, "1: each operation is SET + WAIT 1 0 in one pipeline, acknowledged when WAIT answers >= 1")
	fs.StringVar(&cfg.keyspace, "keyspace", "random", "random (keys drawn from --keyspace-size) or unique (every write a new key)")
	fs.IntVar(&cfg.keyspaceSize, "keyspace-size", 100000, "number of distinct keys with --keyspace random")
	fs.StringVar(&cfg.prefix, "prefix", "lg", "key prefix")
	fs.StringVar(&cfg.password, "password", "", "AUTH password")
	fs.BoolVar(&cfg.trackGap, "track-gap", false, "report the longest interval between consecutive acknowledged writes (gap_ms)")
	fs.StringVar(&cfg.ackedFile, "acked-file", "", "with --keyspace unique: write every acknowledged key to this file, one a line")
	fs.StringVar(&cfg.verify, "verify", "", "read back every key of this file (written by --acked-file) and report missing and wrong values")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Second, "dial, read and write timeout per operation")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: loadgen [flags]\n       loadgen --verify FILE [--addr ...] [--cluster] [--value-size N]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, a := range strings.Split(*addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.addrs = append(cfg.addrs, a)
		}
	}
	var errs []error
	if len(cfg.addrs) == 0 {
		errs = append(errs, errors.New("--addr: empty"))
	}
	if len(cfg.addrs) > 1 && !cfg.cluster {
		errs = append(errs, errors.New("--addr: several addresses need --cluster"))
	}
	errs = append(errs, atLeast("--clients", cfg.clients, 1))
	errs = append(errs, atLeast("--requests", cfg.requests, 0))
	if cfg.requests == 0 && cfg.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must be positive", cfg.duration))
	}
	errs = append(errs, atLeast("--value-size", cfg.valueSize, 1))
	if cfg.waitReplicas != 0 && cfg.waitReplicas != 1 {
		errs = append(errs, fmt.Errorf("--wait-replicas %d: must be 0 or 1", cfg.waitReplicas))
	}
	if cfg.waitReplicas == 1 && cfg.cluster {
		errs = append(errs, errors.New("--wait-replicas 1 needs a plain client (WAIT has no key to route by): drop --cluster"))
	}
	if cfg.keyspace != "random" && cfg.keyspace != "unique" {
		errs = append(errs, fmt.Errorf("--keyspace %q: must be random or unique", cfg.keyspace))
	}
	errs = append(errs, atLeast("--keyspace-size", cfg.keyspaceSize, 1))
	if cfg.ackedFile != "" && cfg.keyspace != "unique" {
		errs = append(errs, errors.New("--acked-file needs --keyspace unique (a random key can be overwritten by a later write)"))
	}
	errs = append(errs, positive("--timeout", cfg.timeout))
	return cfg, errors.Join(errs...)
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// client is what a worker needs of a plain connection or a cluster client.
type client interface {
	redis.Cmdable
	Close() error
}

// connector hands every worker its own connection and closes everything at the end.
type connector struct {
	plain   *redis.Client
	cluster *redis.ClusterClient
}

// newConnector builds cfg's plain or cluster client, both from the same options.
func newConnector(cfg config) *connector {
	opt := &redis.UniversalOptions{
		Addrs:            cfg.addrs, // a plain client uses the first
		Password:         cfg.password,
		PoolSize:         cfg.clients, // a cluster client's per node: every worker can hold a connection to every node
		PipelinePoolSize: -1,
		DialTimeout:      cfg.timeout,
		ReadTimeout:      cfg.timeout,
		WriteTimeout:     cfg.timeout,
		DisableIdentity:  true,
		DialerRetries:    1, // on loopback a refused dial fails the same way 100ms later
	}
	if cfg.cluster {
		return &connector{cluster: redis.NewClusterClient(opt.Cluster())}
	}
	return &connector{plain: redis.NewClient(opt.Simple())}
}

// conn returns a worker's client: a dedicated connection in plain mode, the shared cluster
// client (PoolSize = clients per node) otherwise.
func (c *connector) conn() client {
	if c.cluster != nil {
		return noClose{c.cluster}
	}
	return c.plain.Conn()
}

func (c *connector) Close() error {
	if c.cluster != nil {
		return c.cluster.Close()
	}
	return c.plain.Close()
}

type noClose struct{ *redis.ClusterClient }

func (noClose) Close() error { return nil }

// result is the JSON line of a load run.
type result struct {
	Mode          string  `json:"mode"`
	Addr          string  `json:"addr"`
	Clients       int     `json:"clients"`
	ValueSize     int     `json:"value_size"`
	WaitReplicas  int     `json:"wait_replicas"`
	Keyspace      string  `json:"keyspace"`
	Seconds       float64 `json:"seconds"`
	Ops           int64   `json:"ops"`
	Errors        int64   `json:"errors"`
	NotReplicated int64   `json:"not_replicated"`
	OpsPerSec     float64 `json:"ops_per_sec"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	GapMs         float64 `json:"gap_ms,omitempty"`
	GapStartMs    float64 `json:"gap_start_ms,omitempty"`
	AckedFile     string  `json:"acked_file,omitempty"`
	FirstError    string  `json:"first_error,omitempty"`
}

// worker state, one per client goroutine; merged after the run.
type worker struct {
	hist          histogram
	ops, errs     int64
	notReplicated int64
	acked         []uint64 // sequence numbers of acknowledged unique keys (with --acked-file)
	firstErr      error
}

func load(ctx context.Context, cfg config) (*result, error) {
	conns := newConnector(cfg)
	defer conns.Close()

	// Every worker takes its connection and checks it before the clock starts, so dialing
	// (and the cluster client's slot map) is not part of the measurement.
	clients := make([]client, cfg.clients)
	for i := range clients {
		clients[i] = conns.conn()
	}
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	var wg sync.WaitGroup
	pingErr := make([]error, cfg.clients)
	for i, c := range clients {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			pingErr[i] = c.Ping(pctx).Err()
		})
	}
	wg.Wait()
	for _, err := range pingErr {
		if err != nil {
			return nil, fmt.Errorf("connecting to %s: %w", strings.Join(cfg.addrs, ","), err)
		}
	}

	run := make([]byte, 4)
	_, _ = rand.Read(run)
	keyBase := cfg.prefix + ":" + hex.EncodeToString(run) + ":"
	var (
		issued  atomic.Int64 // operations handed out with --requests
		gap     gapTracker
		workers = make([]*worker, cfg.clients)
	)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	gap.start(start)
	for i := range workers {
		w := &worker{}
		workers[i] = w
		wg.Go(func() {
			c := clients[i]
			rng := mrand.New(mrand.NewPCG(uint64(i), uint64(start.UnixNano())))
			value := make([]byte, cfg.valueSize)
			clientBase := keyBase + strconv.Itoa(i) + ":"
			randBase := cfg.prefix + ":r:"
			keyBuf := make([]byte, 0, len(clientBase)+20)
			for seq := uint64(0); ; seq++ {
				if ctx.Err() != nil || (cfg.requests > 0 && issued.Add(1) > cfg.requests) {
					return
				}
				var key string
				if cfg.keyspace == "unique" {
					keyBuf = strconv.AppendUint(append(keyBuf[:0], clientBase...), seq, 10)
				} else {
					keyBuf = strconv.AppendUint(append(keyBuf[:0], randBase...), uint64(rng.IntN(cfg.keyspaceSize)), 10)
				}
				key = string(keyBuf)
				fillValue(value, key)
				t0 := time.Now()
				replicas, err := write(ctx, c, key, value, cfg.waitReplicas)
				t1 := time.Now()
				switch {
				case err != nil && ctx.Err() != nil:
					return // cut short by the end of the run (SIGTERM): not an error of the server
				case err != nil:
					w.errs++
					if w.firstErr == nil {
						w.firstErr = err
					}
					// A refused connection fails at once; do not spin on it. A dedicated
					// connection that failed may be unusable ("bad state"): take a new one.
					// go-redis's ClusterClient re-reads the slot map only on MOVED, ASK and
					// READONLY or every ClusterStateReloadInterval (60s), never on a
					// connection error (redis/go-redis#3979): with the primary dead it would
					// keep dialing it and never hear of the promoted backup, so the client
					// asks for a reload itself (lazy, coalesced, at most one per 200ms).
					time.Sleep(time.Millisecond)
					if conns.plain != nil {
						_ = c.Close()
						c = conns.conn()
						clients[i] = c
					} else {
						conns.cluster.ReloadState(ctx)
					}
				case cfg.waitReplicas > 0 && replicas < int64(cfg.waitReplicas):
					w.notReplicated++
				default:
					w.ops++
					w.hist.record(t1.Sub(t0))
					if cfg.trackGap {
						gap.ack(t1)
					}
					if cfg.ackedFile != "" {
						w.acked = append(w.acked, seq)
					}
				}
				if cfg.requests == 0 && t1.After(deadline) {
					return
				}
			}
		})
	}
	wg.Wait()
	end := time.Now()

	res := &result{
		Mode: "plain", Addr: strings.Join(cfg.addrs, ","), Clients: cfg.clients, ValueSize: cfg.valueSize,
		WaitReplicas: cfg.waitReplicas, Keyspace: cfg.keyspace, Seconds: round3(end.Sub(start).Seconds()),
	}
	if cfg.cluster {
		res.Mode = "cluster"
	}
	var hist histogram
	for _, w := range workers {
		hist.merge(&w.hist)
		res.Ops += w.ops
		res.Errors += w.errs
		res.NotReplicated += w.notReplicated
		if w.firstErr != nil && res.FirstError == "" {
			res.FirstError = w.firstErr.Error()
		}
	}
	res.OpsPerSec = round3(float64(res.Ops) / end.Sub(start).Seconds())
	res.P50Ms = ms(hist.quantile(0.50))
	res.P99Ms = ms(hist.quantile(0.99))
	res.MaxMs = ms(hist.max)
	if cfg.trackGap {
		g, at := gap.longest(end)
		res.GapMs, res.GapStartMs = ms(g), ms(at.Sub(start))
	}
	if cfg.ackedFile != "" {
		if err := writeAcked(cfg.ackedFile, keyBase, workers); err != nil {
			return nil, err
		}
		res.AckedFile = cfg.ackedFile
	}
	return res, nil
}

// write sends one SET (and WAIT in the same pipeline when waitReplicas > 0) and returns
// the replica count WAIT answered.
func write(ctx context.Context, c client, key string, value []byte, waitReplicas int) (int64, error) {
	if waitReplicas == 0 {
		return 0, c.Set(ctx, key, value, 0).Err()
	}
	var set *redis.StatusCmd
	var wait *redis.Cmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Set(ctx, key, value, 0)
		wait = p.Do(ctx, "WAIT", waitReplicas, 0) // Pipeliner has no Wait method
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := set.Err(); err != nil {
		return 0, err
	}
	return wait.Int64()
}

// fillValue writes the value stored under key: the key, then '.' up to the value size
// (the key cut to the size when longer), so a read-back can tell a wrong value from a
// right one without remembering it.
func fillValue(dst []byte, key string) {
	n := copy(dst, key)
	for i := n; i < len(dst); i++ {
		dst[i] = '.'
	}
}

func writeAcked(path, keyBase string, workers []*worker) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	var line []byte
	for i, wk := range workers {
		clientBase := keyBase + strconv.Itoa(i) + ":"
		for _, seq := range wk.acked {
			line = strconv.AppendUint(append(line[:0], clientBase...), seq, 10)
			line = append(line, '\n')
			_, _ = w.Write(line)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

// verifyResult is the JSON line of --verify.
type verifyResult struct {
	File       string `json:"verify"`
	Checked    int64  `json:"checked"`
	Missing    int64  `json:"missing"`
	Wrong      int64  `json:"wrong"`
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	FirstLost  string `json:"first_lost,omitempty"`
}

// verify reads back every key of cfg.verify in pipelined batches, one worker per client.
func verify(ctx context.Context, cfg config) (*verifyResult, error) {
	data, err := os.ReadFile(cfg.verify)
	if err != nil {
		return nil, err
	}
	keys := strings.Fields(string(data))
	conns := newConnector(cfg)
	defer conns.Close()
	const batch = 256
	var (
		next   atomic.Int64
		mu     sync.Mutex
		res    = &verifyResult{File: cfg.verify}
		wg     sync.WaitGroup
		nwork  = min(cfg.clients, max(1, (len(keys)+batch-1)/batch))
		expect = make([]byte, cfg.valueSize)
	)
	for range nwork {
		wg.Go(func() {
			c := conns.conn()
			defer c.Close()
			want := make([]byte, len(expect))
			var missing, wrong, errs int64
			var firstErr, firstLost string
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= len(keys) || ctx.Err() != nil {
					break
				}
				part := keys[lo:min(lo+batch, len(keys))]
				cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, k := range part {
						p.Get(ctx, k)
					}
					return nil
				})
				for i, cmd := range cmds {
					got, err := cmd.(*redis.StringCmd).Bytes()
					fillValue(want, part[i])
					switch {
					case errors.Is(err, redis.Nil):
						missing++
						if firstLost == "" {
							firstLost = part[i]
						}
					case err != nil:
						errs++
						if firstErr == "" {
							firstErr = err.Error()
						}
					case string(got) != string(want):
						wrong++
						if firstLost == "" {
							firstLost = part[i]
						}
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.Missing += missing
			res.Wrong += wrong
			res.Errors += errs
			if res.FirstError == "" {
				res.FirstError = firstErr
			}
			if res.FirstLost == "" {
				res.FirstLost = firstLost
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Checked = int64(len(keys))
	return res, nil
}

// gapTracker records the longest interval between consecutive acknowledgements over all
// workers without a lock: each ack swaps in its time and compares with the previous one.
type gapTracker struct {
	last    atomic.Int64 // unix nanos of the latest ack
	maxGap  atomic.Int64 // nanos
	startAt atomic.Int64 // unix nanos at which the longest gap began
}

func (g *gapTracker) start(t time.Time) { g.last.Store(t.UnixNano()) }

func (g *gapTracker) ack(t time.Time) {
	now := t.UnixNano()
	prev := g.last.Swap(now)
	if prev > now { // a concurrent ack with a later time got there first: keep it
		g.last.CompareAndSwap(now, prev)
		return
	}
	g.observe(prev, now)
}

func (g *gapTracker) observe(from, to int64) {
	d := to - from
	for {
		cur := g.maxGap.Load()
		if d <= cur {
			return
		}
		if g.maxGap.CompareAndSwap(cur, d) {
			g.startAt.Store(from)
			return
		}
	}
}

// longest returns the longest gap, counting the interval from the last ack to end (writes
// that never resumed are a gap too), and when it began.
func (g *gapTracker) longest(end time.Time) (time.Duration, time.Time) {
	g.observe(g.last.Load(), end.UnixNano())
	return time.Duration(g.maxGap.Load()), time.Unix(0, g.startAt.Load())
}

// histogram is a log-linear latency histogram in nanoseconds (HDR style): exact below
// subCount ns, then 64 buckets per power of two, so every recorded value is reported within
// 1/64 (1.6%) of itself in a fixed 30 KiB.
type histogram struct {
	counts [numBuckets]uint64
	total  uint64
	max    time.Duration
}

const (
	subBits    = 7
	subCount   = 1 << subBits // 128
	subHalf    = subCount / 2 // 64
	numBuckets = subCount + (64-subBits)*subHalf
)

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits // >= 1
	sub := v >> uint(shift)          // in [subHalf, subCount)
	return subCount + (shift-1)*subHalf + int(sub-subHalf)
}

// bucketHigh is the highest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	k := i - subCount
	shift := uint(k/subHalf + 1)
	sub := uint64(k%subHalf + subHalf)
	return (sub+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the value below which a fraction q of the samples fall (the bucket's
// highest value, capped at the maximum seen); 0 without samples.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketHigh(i)), h.max)
		}
	}
	return h.max
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// atLeast is the error of integer flag name when v is below least (1 or 0), else nil.
func atLeast[T int | int64](name string, v, least T) error {
	switch {
	case v >= least:
		return nil
	case least == 0:
		return fmt.Errorf("%s %d: must not be negative", name, v)
	}
	return fmt.Errorf("%s %d: must be at least %d", name, v, least)
}

// positive is the error of duration flag name when d is not above 0, else nil.
func positive(name string, d time.Duration) error {
	if d > 0 {
		return nil
	}
	return fmt.Errorf("%s %s: must be positive", name, d)
}

// notNegative is the error of duration flag name when d is below 0, else nil.
func notNegative(name string, d time.Duration) error {
	if d >= 0 {
		return nil
	}
	return fmt.Errorf("%s %s: must not be negative", name, d)
}

// newModeFlags is the flag set of the subcommand name ("loadgen tx"): its errors and its
// usage, "Usage: <name> [flags]" and the flags, go to stderr.
func newModeFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = modeUsage(fs, name+" [flags]", stderr)
	return fs
}

// modeUsage prints synopsis and fs's flags to stderr.
func modeUsage(fs *flag.FlagSet, synopsis string, stderr io.Writer) func() {
	return func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n", synopsis)
		fs.PrintDefaults()
	}
}

// parseMode parses a subcommand's args with fs. Stray arguments are the first of the
// returned problems, which the subcommand's own checks of its flags append to; err is
// the flag package's (an unknown flag, a bad value, -h).
func parseMode(fs *flag.FlagSet, args []string) (problems []error, err error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected arguments: %v", fs.Args()))
	}
	return problems, nil
}
