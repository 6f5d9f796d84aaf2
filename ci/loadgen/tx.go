package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// txConfig is `loadgen tx`: --clients connections, each looping on the transaction
//
//	MULTI; SET {T}:v <value>; INCR {T}:c; GET {T}:v; EXEC
//
// where T is the run's and the connection's own hash tag (its keys are in one slot, and no
// two connections share a key), sent as one write, as clients send a transaction (go-redis
// TxPipelined, ioredis multi().exec()), for a duration (ci/bench-tx.sh). With --pipeline P
// a write carries P transactions. The round trip of a write is timed. A transaction counts
// as done when MULTI answers +OK, each command +QUEUED and EXEC an array of the three
// replies: +OK, the counter one above the connection's previous one, and the value just
// set; anything else (EXECABORT, a null EXEC, an error element, a wrong value) is counted
// as an error and the connection goes on. Raw RESP connections, so the client costs little
// next to the server it measures.
type txConfig struct {
	addr      string
	clients   int
	pipeline  int
	valueSize int
	prefix    string
	duration  time.Duration
	timeout   time.Duration
}

func parseTx(args []string, stderr io.Writer) (txConfig, error) {
	var cfg txConfig
	fs := newModeFlags("loadgen tx", stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6379", "server host:port")
	fs.IntVar(&cfg.clients, "clients", 50, "connections, each sending its own transactions")
	fs.IntVar(&cfg.pipeline, "pipeline", 1, "transactions per write (each MULTI, 3 commands, EXEC)")
	fs.IntVar(&cfg.valueSize, "value-size", 100, "bytes of the value SET writes")
	fs.StringVar(&cfg.prefix, "prefix", "lg:tx", "key prefix (a random run id and the connection number follow it in the hash tag)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to run")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Second, "dial, read and write timeout per write")
	errs, err := parseMode(fs, args)
	if err != nil {
		return cfg, err
	}
	errs = append(errs, atLeast("--clients", cfg.clients, 1))
	errs = append(errs, atLeast("--pipeline", cfg.pipeline, 1))
	errs = append(errs, atLeast("--value-size", cfg.valueSize, 1))
	errs = append(errs, positive("--duration", cfg.duration))
	errs = append(errs, positive("--timeout", cfg.timeout))
	return cfg, errors.Join(errs...)
}

// txResult is the JSON line of `loadgen tx`. The latencies are of a write's round trip
// (--pipeline transactions).
type txResult struct {
	Mode         string  `json:"mode"`
	Addr         string  `json:"addr"`
	Clients      int     `json:"clients"`
	Pipeline     int     `json:"pipeline"`
	ValueSize    int     `json:"value_size"`
	Seconds      float64 `json:"seconds"`
	Transactions int64   `json:"transactions"`
	Errors       int64   `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
	TxPerSec     float64 `json:"tx_per_sec"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
}

// txWorker is one connection's tally, merged after the run.
type txWorker struct {
	hist     histogram
	done     int64
	errCount int64
	firstErr string
	counter  int64 // the last value INCR answered
}

func (w *txWorker) fail(err error) {
	w.errCount++
	if w.firstErr == "" {
		w.firstErr = err.Error()
	}
}

func txLoad(ctx context.Context, cfg txConfig) (*txResult, error) {
	conns := make([]*respConn, cfg.clients)
	defer closeAll(conns)
	for i := range conns {
		c, err := dialRESP(cfg.addr, cfg.timeout)
		if err != nil {
			return nil, err
		}
		conns[i] = c
	}
	run := make([]byte, 4)
	_, _ = rand.Read(run)
	tagBase := cfg.prefix + ":" + hex.EncodeToString(run) + ":"

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		fatal   error
		workers = make([]*txWorker, len(conns))
	)
	start := time.Now()
	deadline := start.Add(cfg.duration)
	for i, c := range conns {
		w := &txWorker{}
		workers[i] = w
		wg.Go(func() {
			if err := transact(ctx, c, cfg, "{"+tagBase+strconv.Itoa(i)+"}", w, deadline); err != nil {
				mu.Lock()
				if fatal == nil {
					fatal = fmt.Errorf("connection %d: %w", i, err)
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if fatal != nil {
		return nil, fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &txResult{Mode: "tx", Addr: cfg.addr, Clients: cfg.clients, Pipeline: cfg.pipeline, ValueSize: cfg.valueSize, Seconds: round3(secs)}
	var hist histogram
	for _, w := range workers {
		hist.merge(&w.hist)
		res.Transactions += w.done
		res.Errors += w.errCount
		if res.FirstError == "" {
			res.FirstError = w.firstErr
		}
	}
	res.TxPerSec = round3(float64(res.Transactions) / secs)
	res.P50Ms, res.P99Ms, res.MaxMs = ms(hist.quantile(0.50)), ms(hist.quantile(0.99)), ms(hist.max)
	return res, nil
}

// txCommands is the number of commands (and replies) of one transaction.
const txCommands = 5

// transact sends cfg.pipeline transactions per write on c until the deadline and checks
// every reply; a failed connection ends it with an error, an unexpected reply is counted.
func transact(ctx context.Context, c *respConn, cfg txConfig, tag string, w *txWorker, deadline time.Time) error {
	value := make([]byte, cfg.valueSize)
	for i := range value {
		value[i] = 'v'
	}
	vkey, ckey := []byte(tag+":v"), []byte(tag+":c")
	replies := make([]any, txCommands)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		for range cfg.pipeline {
			c.appendCmd([]byte("MULTI"))
			c.appendCmd([]byte("SET"), vkey, value)
			c.appendCmd([]byte("INCR"), ckey)
			c.appendCmd([]byte("GET"), vkey)
			c.appendCmd([]byte("EXEC"))
		}
		t0 := time.Now()
		if err := c.flush(); err != nil {
			return err
		}
		var failed bool
		for range cfg.pipeline {
			for i := range replies {
				v, err := c.readValue()
				var er errReply
				switch {
				case errors.As(err, &er):
					v = er
				case err != nil:
					return err
				}
				replies[i] = v
			}
			n, err := checkTx(replies, value, w.counter)
			if n > 0 {
				w.counter = n
			}
			if err != nil {
				w.fail(err)
				failed = true
				continue
			}
			w.done++
		}
		if !failed {
			w.hist.record(time.Since(t0))
		}
	}
	return nil
}

// checkTx checks the replies of one transaction (an error reply as an errReply value):
// +OK, three +QUEUED and EXEC's array [OK, prev+1, value]. It returns the counter INCR
// answered (0 when it did not run, as after EXECABORT) and an error naming what was wrong.
func checkTx(replies []any, value []byte, prev int64) (int64, error) {
	if len(replies) != txCommands {
		return 0, fmt.Errorf("a transaction has %d replies, want %d", len(replies), txCommands)
	}
	if !isStatus(replies[0], "OK") {
		return 0, fmt.Errorf("MULTI answered %s, want OK", show(replies[0]))
	}
	for i, name := range []string{"SET", "INCR", "GET"} {
		if !isStatus(replies[i+1], "QUEUED") {
			return 0, fmt.Errorf("%s in MULTI answered %s, want QUEUED", name, show(replies[i+1]))
		}
	}
	exec := replies[4]
	if exec == nil {
		return 0, errors.New("EXEC answered a null array (the transaction was discarded)")
	}
	elems, ok := exec.([]any)
	if !ok || len(elems) != 3 {
		return 0, fmt.Errorf("EXEC answered %s, want an array of 3 replies", show(exec))
	}
	n, isInt := elems[1].(int64)
	if !isInt {
		n = 0
	}
	switch {
	case !isStatus(elems[0], "OK"):
		return n, fmt.Errorf("SET in EXEC answered %s, want OK", show(elems[0]))
	case !isInt:
		return n, fmt.Errorf("INCR in EXEC answered %s, want an integer", show(elems[1]))
	case n != prev+1:
		return n, fmt.Errorf("INCR in EXEC answered %d, want %d (one above the previous transaction's)", n, prev+1)
	}
	if got, ok := elems[2].([]byte); !ok || string(got) != string(value) {
		return n, fmt.Errorf("GET in EXEC answered %s, want the %d-byte value just set", show(elems[2]), len(value))
	}
	return n, nil
}

// isStatus says whether v is the simple string s (readValue gives it as []byte).
func isStatus(v any, s string) bool {
	b, ok := v.([]byte)
	return ok && string(b) == s
}

// show renders a reply value for an error message, cut to 80 bytes.
func show(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		s = "null"
	case errReply:
		s = "-" + string(v)
	case []byte:
		s = strconv.Quote(string(v))
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
