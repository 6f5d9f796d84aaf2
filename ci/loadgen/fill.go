package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// fillConfig is `loadgen fill`: exactly --keys keys named PREFIX:000000000000 upwards,
// written in pipelined batches, so two servers loaded with the same flags hold the same
// keys and values (what the memory benchmark compares). With --type zset or stream it
// writes --keys elements into the one key PREFIX instead: member "m:<i>" with score i
// (ZADD), or the entry "f1 <i> f2 <i mod 1000>" with an automatic ID (XADD), one element
// per command (ci/bench-types.sh).
type fillConfig struct {
	addr      string
	keys      int64
	kind      string
	valueSize int
	fields    int
	clients   int
	pipeline  int
	prefix    string
	timeout   time.Duration
}

func parseFill(args []string, stderr io.Writer) (fillConfig, error) {
	var cfg fillConfig
	fs := newModeFlags("loadgen fill", stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6379", "server host:port")
	fs.Int64Var(&cfg.keys, "keys", 1000000, "keys to write: PREFIX:000000000000 to PREFIX:N-1, each once (with --type zset or stream: elements of the key PREFIX)")
	fs.StringVar(&cfg.kind, "type", "string", "string (SET key value), hash (HSET key f0 v f1 v ...), zset (ZADD PREFIX i m:i) or stream (XADD PREFIX * f1 i f2 i%1000)")
	fs.IntVar(&cfg.valueSize, "value-size", 100, "bytes of each string value, or of each hash field's value")
	fs.IntVar(&cfg.fields, "fields", 5, "fields per hash (with --type hash)")
	fs.IntVar(&cfg.clients, "clients", 4, "connections, each sending its own batches")
	fs.IntVar(&cfg.pipeline, "pipeline", 100, "commands per batch")
	fs.StringVar(&cfg.prefix, "prefix", "key", "key prefix")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "dial, read and write timeout per batch")
	errs, err := parseMode(fs, args)
	if err != nil {
		return cfg, err
	}
	errs = append(errs, atLeast("--keys", cfg.keys, 1))
	if !slices.Contains([]string{"string", "hash", "zset", "stream"}, cfg.kind) {
		errs = append(errs, fmt.Errorf("--type %q: must be string, hash, zset or stream", cfg.kind))
	}
	errs = append(errs, atLeast("--value-size", cfg.valueSize, 1))
	errs = append(errs, atLeast("--fields", cfg.fields, 1))
	errs = append(errs, atLeast("--clients", cfg.clients, 1))
	errs = append(errs, atLeast("--pipeline", cfg.pipeline, 1))
	errs = append(errs, positive("--timeout", cfg.timeout))
	return cfg, errors.Join(errs...)
}

// fillResult is the JSON line of `loadgen fill`.
type fillResult struct {
	Mode       string  `json:"mode"`
	Addr       string  `json:"addr"`
	Type       string  `json:"type"`
	Keys       int64   `json:"keys"`
	Written    int64   `json:"written"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
}

func fill(ctx context.Context, cfg fillConfig) (*fillResult, error) {
	conns := make([]*respConn, cfg.clients)
	defer closeAll(conns)
	for i := range conns {
		c, err := dialRESP(cfg.addr, cfg.timeout)
		if err != nil {
			return nil, err
		}
		conns[i] = c
	}
	var (
		next     atomic.Int64
		written  atomic.Int64
		errCount atomic.Int64
		mu       sync.Mutex
		firstErr string
		fatal    error
		wg       sync.WaitGroup
	)
	batch := int64(cfg.pipeline)
	start := time.Now()
	for _, c := range conns {
		wg.Go(func() {
			key := make([]byte, 0, len(cfg.prefix)+13)
			value := make([]byte, cfg.valueSize)
			for i := range value {
				value[i] = 'v'
			}
			fields := make([][]byte, cfg.fields)
			for i := range fields {
				fields[i] = []byte("f" + strconv.Itoa(i))
			}
			args := make([][]byte, 0, 2+2*cfg.fields)
			var num, num2 []byte
			one := []byte(cfg.prefix) // the key of --type zset and stream
			for ctx.Err() == nil {
				lo := next.Add(batch) - batch
				if lo >= cfg.keys {
					return
				}
				hi := min(lo+batch, cfg.keys)
				for k := lo; k < hi; k++ {
					switch cfg.kind {
					case "string":
						key = appendPadded(append(append(key[:0], cfg.prefix...), ':'), k)
						copy(value, key) // values differ per key, as real ones do
						c.appendCmd([]byte("SET"), key, value)
					case "hash":
						key = appendPadded(append(append(key[:0], cfg.prefix...), ':'), k)
						args = append(args[:0], []byte("HSET"), key)
						for _, f := range fields {
							args = append(args, f, value)
						}
						c.appendCmd(args...)
					case "zset":
						num = strconv.AppendInt(num[:0], k, 10)
						key = strconv.AppendInt(append(key[:0], "m:"...), k, 10)
						c.appendCmd([]byte("ZADD"), one, num, key)
					case "stream":
						num = strconv.AppendInt(num[:0], k, 10)
						num2 = strconv.AppendInt(num2[:0], k%1000, 10)
						c.appendCmd([]byte("XADD"), one, []byte("*"), []byte("f1"), num, []byte("f2"), num2)
					}
				}
				err := c.flush()
				for k := lo; k < hi && err == nil; k++ {
					_, rerr := c.readReply()
					var er errReply
					switch {
					case errors.As(rerr, &er):
						errCount.Add(1)
						mu.Lock()
						if firstErr == "" {
							firstErr = string(er)
						}
						mu.Unlock()
					case rerr != nil:
						err = rerr
					default:
						written.Add(1)
					}
				}
				if err != nil {
					mu.Lock()
					if fatal == nil {
						fatal = fmt.Errorf("writing to %s: %w", cfg.addr, err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	return &fillResult{
		Mode: "fill", Addr: cfg.addr, Type: cfg.kind, Keys: cfg.keys, Written: written.Load(),
		Errors: errCount.Load(), FirstError: firstErr, Seconds: round3(secs),
		OpsPerSec: round3(float64(written.Load()) / secs),
	}, nil
}

// appendPadded appends n in decimal, zero-padded to 12 digits.
func appendPadded(b []byte, n int64) []byte {
	var d [20]byte
	s := strconv.AppendInt(d[:0], n, 10)
	for i := len(s); i < 12; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}
