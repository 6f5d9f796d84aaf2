package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/slots"
)

// probeConfig is `loadgen probe`: a light write load to chosen slots (one per partition),
// each written by its own goroutine through one cluster client, one SET every --interval.
// SIGUSR1 marks the moment of a fault; at the end one JSON line per slot says how long
// after the mark the slot was writable again.
type probeConfig struct {
	addrs    []string
	slots    []int
	interval time.Duration
	duration time.Duration
	after    time.Duration
	timeout  time.Duration
}

func parseProbe(args []string, stderr io.Writer) (probeConfig, error) {
	var cfg probeConfig
	fs := newModeFlags("loadgen probe", stderr)
	addr := fs.String("addr", "127.0.0.1:7010", "comma-separated seed addresses of the cluster")
	slotList := fs.String("slots", "", "comma-separated slots to write to, e.g. the first slot of every partition")
	fs.DurationVar(&cfg.interval, "interval", 10*time.Millisecond, "pause between two writes to one slot")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to write at most")
	fs.DurationVar(&cfg.after, "after", 0, "stop this long after the mark (SIGUSR1); 0: run for --duration")
	fs.DurationVar(&cfg.timeout, "timeout", 500*time.Millisecond, "dial, read and write timeout per write")
	fs.Usage = modeUsage(fs, "loadgen probe --slots S,S,... [flags]   (SIGUSR1 marks the fault)", stderr)
	errs, err := parseMode(fs, args)
	if err != nil {
		return cfg, err
	}
	for _, a := range strings.Split(*addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.addrs = append(cfg.addrs, a)
		}
	}
	if len(cfg.addrs) == 0 {
		errs = append(errs, errors.New("--addr: empty"))
	}
	for _, s := range strings.Split(*slotList, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n >= slots.Count {
			errs = append(errs, fmt.Errorf("--slots entry %q: must be a slot between 0 and %d", s, slots.Count-1))
			continue
		}
		cfg.slots = append(cfg.slots, n)
	}
	if len(cfg.slots) == 0 && *slotList == "" {
		errs = append(errs, errors.New("--slots: empty; give at least one slot"))
	}
	errs = append(errs, notNegative("--after", cfg.after))
	if cfg.interval <= 0 || cfg.duration <= 0 || cfg.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--interval %s, --duration %s, --timeout %s: must all be positive", cfg.interval, cfg.duration, cfg.timeout))
	}
	return cfg, errors.Join(errs...)
}

// probeResult is the JSON line of one slot. gap_ms is the longest interval without an
// acknowledged write; recovery_ms the time from the mark to the first write acknowledged
// after the first failure that followed the mark (after the mark when none failed; -1: no
// mark, or nothing acknowledged after it).
type probeResult struct {
	Slot       int     `json:"slot"`
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	GapMs      float64 `json:"gap_ms"`
	RecoveryMs float64 `json:"recovery_ms"`
	// Lost is how many acknowledged writes (each a key of its own) are missing when read
	// back at the end; -1 when reading back failed.
	Lost int64 `json:"lost"`
}

// tagFor returns a hash tag whose keys all map to slot.
func tagFor(slot int) string {
	for i := 0; ; i++ {
		t := strconv.Itoa(i)
		if slots.OfString(t) == slot {
			return t
		}
	}
}

func probe(ctx context.Context, cfg probeConfig) ([]probeResult, error) {
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: cfg.addrs, DialTimeout: cfg.timeout, ReadTimeout: cfg.timeout, WriteTimeout: cfg.timeout,
		PoolSize: 4, MaxRetries: -1, DisableIdentity: true, DialerRetries: 1,
	})
	defer cc.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := cc.ForEachShard(pctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	cancel()
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", strings.Join(cfg.addrs, ","), err)
	}

	marks := make(chan os.Signal, 1)
	signal.Notify(marks, syscall.SIGUSR1)
	defer signal.Stop(marks)
	var (
		mu   sync.Mutex
		mark time.Time
	)
	wctx, stopWrites := context.WithTimeout(ctx, cfg.duration)
	defer stopWrites()
	go func() {
		for range marks {
			mu.Lock()
			first := mark.IsZero()
			mark = time.Now()
			mu.Unlock()
			if first && cfg.after > 0 {
				time.AfterFunc(cfg.after, stopWrites)
			}
		}
	}()

	type acks struct {
		seqs     []int // of the acknowledged writes
		times    []time.Time
		errTimes []time.Time
		errs     int64
		firstErr string
	}
	per := make([]acks, len(cfg.slots))
	start := time.Now()
	var wg sync.WaitGroup
	for i, slot := range cfg.slots {
		wg.Go(func() {
			a := &per[i]
			prefix := "{" + tagFor(slot) + "}:probe:"
			for seq := 0; wctx.Err() == nil; seq++ {
				key := prefix + strconv.Itoa(seq)
				if err := cc.Set(wctx, key, key, 0).Err(); err != nil {
					if wctx.Err() != nil {
						break // cut short by the end of the run, not a failure of the grid
					}
					a.errs++
					a.errTimes = append(a.errTimes, time.Now())
					if a.firstErr == "" {
						a.firstErr = err.Error()
					}
					// A dead primary is only left for the new one after a reload of the
					// slot map (go-redis reloads on MOVED, not on a refused connection).
					cc.ReloadState(ctx)
				} else {
					a.times = append(a.times, time.Now())
					a.seqs = append(a.seqs, seq)
				}
				time.Sleep(cfg.interval)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	end := time.Now()
	mu.Lock()
	m := mark
	mu.Unlock()
	out := make([]probeResult, len(cfg.slots))
	for i, slot := range cfg.slots {
		a := per[i]
		r := probeResult{Slot: slot, Ops: int64(len(a.times)), Errors: a.errs, FirstError: a.firstErr, RecoveryMs: -1,
			Lost: lostWrites(ctx, cc, "{"+tagFor(slot)+"}:probe:", a.seqs)}
		prev := start
		for _, t := range append(a.times, end) {
			r.GapMs = max(r.GapMs, ms(t.Sub(prev)))
			prev = t
		}
		if !m.IsZero() {
			// The first write that failed after the mark, then the first one acknowledged
			// after that failure (or after the mark, when none failed).
			from := m
			for _, t := range a.errTimes {
				if t.After(m) {
					from = t
					break
				}
			}
			for _, t := range a.times {
				if t.After(from) {
					r.RecoveryMs = ms(t.Sub(m))
					break
				}
			}
		}
		out[i] = r
	}
	return out, nil
}

// lostWrites reads back the acknowledged keys prefix+seq (all in one slot) and returns how
// many are missing; -1 when they could not be read within 30 s.
func lostWrites(ctx context.Context, cc *redis.ClusterClient, prefix string, seqs []int) int64 {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lost int64
	for len(seqs) > 0 {
		n := min(len(seqs), 500)
		keys := make([]string, n)
		for i, seq := range seqs[:n] {
			keys[i] = prefix + strconv.Itoa(seq)
		}
		var vals []any
		err := errors.New("not read")
		for ctx.Err() == nil && err != nil {
			if vals, err = cc.MGet(ctx, keys...).Result(); err != nil {
				time.Sleep(100 * time.Millisecond) // a failover still settling
			}
		}
		if err != nil {
			return -1
		}
		for _, v := range vals {
			if v == nil {
				lost++
			}
		}
		seqs = seqs[n:]
	}
	return lost
}
