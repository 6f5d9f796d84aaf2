// Package check is the grid's in-cluster write test, `insight-grid check`: cluster-aware
// Redis clients write unique keys at a bounded rate for a while, every acknowledged write
// is recorded with its latency, and at the end every acknowledged key is read back. Its
// figures (acknowledged, failed and lost writes, the longest gap between acknowledged
// writes, latency percentiles, the partition map) are printed as api.CheckReport
// documents, one JSON line each, which `insightctl check` reads from the Job's log.
//
// It is a client of the grid only: it needs no manager and no Kubernetes rights.
package check

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/api"
)

// Config are a check's parameters.
type Config struct {
	// Addrs are seed addresses of the grid's instances (host:port); one that answers is
	// enough, the client learns the rest from CLUSTER SLOTS.
	Addrs    []string
	Password string
	// TLS, when set, makes the client speak TLS to Addrs (the instances' --tls-port) and
	// follow the redirects to TLS ports; nil: plain.
	TLS *tls.Config
	// Duration is how long to write; Rate the writes per second of all writers together,
	// spread over Writers clients.
	Duration time.Duration
	Rate     int
	Writers  int
	// Prefix starts every key, so runs never collide: <prefix><writer>:<n>.
	Prefix string
	// StartTimeout bounds the wait for the first acknowledged write; VerifyTimeout the
	// read-back of every acknowledged key.
	StartTimeout  time.Duration
	VerifyTimeout time.Duration
	// Out receives the documents, one JSON line each.
	Out io.Writer
}

// Validate checks the parameters.
func (c Config) Validate() error {
	var errs []error
	if len(c.Addrs) == 0 {
		errs = append(errs, errors.New("--addrs: give at least one instance address, host:port"))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must be positive, e.g. 30s", c.Duration))
	}
	if c.Rate < 1 {
		errs = append(errs, fmt.Errorf("--rate %d: must be at least 1 write per second", c.Rate))
	}
	if c.Writers < 1 || c.Writers > 64 {
		errs = append(errs, fmt.Errorf("--writers %d: must be 1 to 64", c.Writers))
	}
	if c.StartTimeout <= 0 || c.VerifyTimeout <= 0 {
		errs = append(errs, errors.New("--start-timeout and --verify-timeout must be positive"))
	}
	return errors.Join(errs...)
}

// maxSamples bounds the error samples and the lost keys a report names.
const maxSamples = 10

// ack is one acknowledged write.
type ack struct {
	key, val string
	ret      time.Time
	latency  time.Duration
}

// recorder collects the writers' outcomes.
type recorder struct {
	mu     sync.Mutex
	acks   []ack
	failed int64
	errs   []string
	first  chan struct{} // closed at the first acknowledgement
	once   sync.Once
}

func (r *recorder) ok(a ack) {
	r.mu.Lock()
	r.acks = append(r.acks, a)
	r.mu.Unlock()
	r.once.Do(func() { close(r.first) })
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	r.sample(err)
}

// sample keeps the first distinct errors; r.mu is held.
func (r *recorder) sample(err error) {
	if len(r.errs) < maxSamples && !slices.Contains(r.errs, err.Error()) {
		r.errs = append(r.errs, err.Error())
	}
}

// ClusterOptions are the options of a cluster client that rides out a failover: short
// timeouts and a frequent state reload, so a dead primary costs little and the client
// finds the new one soon even when the old one just stops answering; one dial attempt, so
// a dead node is known dead at once (go-redis's default tries 5 times, 100 ms apart).
func ClusterOptions(addrs []string, password string, poolSize int) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs:                      addrs,
		Password:                   password,
		DialTimeout:                500 * time.Millisecond,
		ReadTimeout:                time.Second,
		WriteTimeout:               time.Second,
		MaxRedirects:               3,
		PoolSize:                   poolSize,
		ClusterStateReloadInterval: 250 * time.Millisecond,
		DialerRetries:              1,
		DialerRetryTimeout:         10 * time.Millisecond,
	}
}

// Run writes, verifies and prints the documents; the result is returned too. An error
// means the check could not run to the end: the result (printed, with Error set) then
// holds what was measured.
func Run(ctx context.Context, cfg Config) (*api.CheckReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := ClusterOptions(cfg.Addrs, cfg.Password, 2)
	opts.TLSConfig = cfg.TLS
	rdb := redis.NewClusterClient(opts)
	defer rdb.Close()

	rec := &recorder{first: make(chan struct{})}
	res := &api.CheckReport{SchemaVersion: api.CheckSchema, Kind: api.CheckResult, Writers: cfg.Writers, Rate: cfg.Rate}
	finish := func(err error) (*api.CheckReport, error) {
		if err != nil {
			res.Error = err.Error()
		}
		if werr := emit(cfg.Out, res); werr != nil && err == nil {
			err = werr
		}
		return res, err
	}

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	start := time.Now()
	// Each writer paces its writes at Rate/Writers per second.
	every := time.Duration(int64(time.Second) * int64(cfg.Writers) / int64(cfg.Rate))
	for id := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			write(wctx, rdb, rec, cfg.Prefix+strconv.Itoa(id)+":", every)
		}()
	}
	startTimer := time.NewTimer(cfg.StartTimeout)
	defer startTimer.Stop()
	select {
	case <-rec.first:
	case <-startTimer.C:
		stop()
		wg.Wait()
		collect(res, rec, start, time.Now())
		return finish(fmt.Errorf("no write acknowledged within %s (--start-timeout): %v", cfg.StartTimeout, rec.errs))
	case <-ctx.Done():
		stop()
		wg.Wait()
		collect(res, rec, start, time.Now())
		return finish(ctx.Err())
	}
	started := &api.CheckReport{SchemaVersion: api.CheckSchema, Kind: api.CheckStarted, Slots: slotMap(ctx, rdb)}
	if err := emit(cfg.Out, started); err != nil {
		stop()
		wg.Wait()
		return nil, err
	}
	end := time.NewTimer(time.Until(start.Add(cfg.Duration)))
	defer end.Stop()
	var runErr error
	select {
	case <-end.C:
	case <-ctx.Done():
		runErr = ctx.Err()
	}
	stop()
	wg.Wait()
	collect(res, rec, start, time.Now())
	if runErr != nil {
		return finish(runErr)
	}
	vctx, cancel := context.WithTimeout(ctx, cfg.VerifyTimeout)
	defer cancel()
	verify(vctx, rdb, res, rec)
	res.Verified = time.Now()
	res.Slots = slotMap(ctx, rdb)
	return finish(nil)
}

// write sets unique keys, one per tick, until ctx ends; a write cut short by the end is
// not recorded (its outcome is unknown and nobody waited for it).
func write(ctx context.Context, rdb *redis.ClusterClient, rec *recorder, prefix string, every time.Duration) {
	pace := time.NewTicker(every)
	defer pace.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		key := prefix + strconv.Itoa(i)
		val := "v" + strconv.Itoa(i) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		call := time.Now()
		err := rdb.Set(ctx, key, val, 0).Err()
		ret := time.Now()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			rec.fail(err)
			continue
		}
		rec.ok(ack{key: key, val: val, ret: ret, latency: ret.Sub(call)})
	}
}

// collect puts the writing's figures into res: counts, the longest gap between
// acknowledgements from the first to the end, the latency percentiles.
func collect(res *api.CheckReport, rec *recorder, start, end time.Time) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	res.Started, res.Ended = start, end
	res.Acknowledged, res.Failed = int64(len(rec.acks)), rec.failed
	res.Attempted = res.Acknowledged + res.Failed
	res.Errors = slices.Clone(rec.errs)
	if len(rec.acks) == 0 {
		return
	}
	rets := make([]time.Time, 0, len(rec.acks)+1)
	lat := make([]time.Duration, 0, len(rec.acks))
	for _, a := range rec.acks {
		rets = append(rets, a.ret)
		lat = append(lat, a.latency)
	}
	sort.Slice(rets, func(i, j int) bool { return rets[i].Before(rets[j]) })
	rets = append(rets, end)
	var gap time.Duration
	for i := 1; i < len(rets); i++ {
		if d := rets[i].Sub(rets[i-1]); d > gap {
			gap, res.GapStart = d, rets[i-1]
		}
	}
	res.LongestGapMicros = gap.Microseconds()
	slices.Sort(lat)
	res.P50Micros = percentile(lat, 0.50).Microseconds()
	res.P99Micros = percentile(lat, 0.99).Microseconds()
	res.MaxMicros = lat[len(lat)-1].Microseconds()
}

// percentile of sorted, nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// verify reads every acknowledged key back, retrying a key whose read fails (a
// failover may be going on) until ctx ends. A key missing or holding another value is
// lost; one never read is unverified.
func verify(ctx context.Context, rdb *redis.ClusterClient, res *api.CheckReport, rec *recorder) {
	rec.mu.Lock()
	acks := slices.Clone(rec.acks)
	rec.mu.Unlock()
	for i, a := range acks {
		for {
			got, err := rdb.Get(ctx, a.key).Result()
			if err == nil || errors.Is(err, redis.Nil) {
				if got != a.val {
					res.Lost++
					if len(res.LostKeys) < maxSamples {
						res.LostKeys = append(res.LostKeys, a.key)
					}
				}
				break
			}
			if ctx.Err() != nil {
				res.Unverified = int64(len(acks) - i)
				rec.mu.Lock()
				rec.sample(fmt.Errorf("read back: %w", err))
				res.Errors = slices.Clone(rec.errs)
				rec.mu.Unlock()
				return
			}
			rec.mu.Lock()
			rec.sample(fmt.Errorf("read back: %w", err))
			res.Errors = slices.Clone(rec.errs)
			rec.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// slotMap is the partition map as the client sees it (CLUSTER SHARDS), the primary of
// each range first; nil when it cannot be read.
func slotMap(ctx context.Context, rdb *redis.ClusterClient) []api.SlotRange {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	shards, err := rdb.ClusterShards(ctx).Result()
	if err != nil {
		return nil
	}
	var out []api.SlotRange
	for _, sh := range shards {
		nodes := []string{}
		for _, n := range sh.Nodes {
			host := n.Endpoint
			if host == "" {
				host = n.IP
			}
			addr := net.JoinHostPort(host, strconv.FormatInt(n.Port, 10))
			if n.Role == "master" {
				nodes = append([]string{addr}, nodes...)
			} else {
				nodes = append(nodes, addr)
			}
		}
		for _, r := range sh.Slots {
			out = append(out, api.SlotRange{From: int(r.Start), To: int(r.End), Nodes: nodes})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].From < out[j].From })
	return out
}

// emit writes one document as a JSON line.
func emit(w io.Writer, r *api.CheckReport) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode the check's %s document: %w", r.Kind, err)
	}
	if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
		return fmt.Errorf("write the check's %s document: %w", r.Kind, err)
	}
	return nil
}
