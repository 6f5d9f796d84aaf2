package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// streamConfig is `loadgen stream`: producers and consumers on one stream for a fixed
// duration (ci/bench-types.sh). Each producer is one connection sending
// `XADD KEY * n <seq> v <value>` one at a time, timing each; each consumer is one
// connection looping on `XREADGROUP GROUP G cN COUNT c STREAMS KEY >` and then
// `XACK KEY G <the IDs read>`. A read that finds nothing is followed by a 1 ms pause rather
// than a BLOCK, so that a server serving BLOCK and one answering it at once are driven
// alike. Raw RESP connections, so the client costs little next to the server it measures.
type streamConfig struct {
	addr      string
	key       string
	group     string
	producers int
	consumers int
	count     int
	valueSize int
	duration  time.Duration
	timeout   time.Duration
}

func parseStream(args []string, stderr io.Writer) (streamConfig, error) {
	var cfg streamConfig
	fs := newModeFlags("loadgen stream", stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6379", "server host:port")
	fs.StringVar(&cfg.key, "key", "lg:stream", "the stream (deleted first, then created with the group)")
	fs.StringVar(&cfg.group, "group", "lg", "the consumer group")
	fs.IntVar(&cfg.producers, "producers", 8, "connections sending XADD")
	fs.IntVar(&cfg.consumers, "consumers", 4, "connections sending XREADGROUP and XACK, each as its own consumer")
	fs.IntVar(&cfg.count, "count", 10, "XREADGROUP COUNT")
	fs.IntVar(&cfg.valueSize, "value-size", 100, "bytes of each entry's value")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to run")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Second, "dial, read and write timeout per command")
	errs, err := parseMode(fs, args)
	if err != nil {
		return cfg, err
	}
	if cfg.key == "" || cfg.group == "" {
		errs = append(errs, errors.New("--key and --group must not be empty"))
	}
	errs = append(errs, atLeast("--producers", cfg.producers, 1))
	errs = append(errs, atLeast("--consumers", cfg.consumers, 0))
	errs = append(errs, atLeast("--count", cfg.count, 1))
	errs = append(errs, atLeast("--value-size", cfg.valueSize, 1))
	errs = append(errs, positive("--duration", cfg.duration))
	errs = append(errs, positive("--timeout", cfg.timeout))
	return cfg, errors.Join(errs...)
}

// streamResult is the JSON line of `loadgen stream`. Consumed counts the entries the
// reads delivered, acked what XACK answered for them; backlog is produced - consumed.
type streamResult struct {
	Mode        string  `json:"mode"`
	Addr        string  `json:"addr"`
	Producers   int     `json:"producers"`
	Consumers   int     `json:"consumers"`
	Count       int     `json:"count"`
	ValueSize   int     `json:"value_size"`
	Seconds     float64 `json:"seconds"`
	Produced    int64   `json:"produced"`
	Consumed    int64   `json:"consumed"`
	Acked       int64   `json:"acked"`
	EmptyReads  int64   `json:"empty_reads"`
	Backlog     int64   `json:"backlog"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	ProducedPS  float64 `json:"produced_per_sec"`
	ConsumedPS  float64 `json:"consumed_per_sec"`
	XAddP50Ms   float64 `json:"xadd_p50_ms"`
	XAddP99Ms   float64 `json:"xadd_p99_ms"`
	XAddMaxMs   float64 `json:"xadd_max_ms"`
	ReadAckP99  float64 `json:"read_ack_p99_ms"`
	StreamLen   int64   `json:"xlen"`
	PendingLeft int64   `json:"pending"`
}

// streamWorker is one producer's or consumer's tally, merged after the run.
type streamWorker struct {
	hist                   histogram // XADD, or XREADGROUP+XACK of a non-empty read
	produced, consumed     int64
	acked, empty, errCount int64
	firstErr               string
}

// fail records an error reply; it is counted, and the worker goes on.
func (w *streamWorker) fail(er errReply) {
	w.errCount++
	if w.firstErr == "" {
		w.firstErr = string(er)
	}
}

func streamLoad(ctx context.Context, cfg streamConfig) (*streamResult, error) {
	setup, err := dialRESP(cfg.addr, cfg.timeout)
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	if _, err := setup.do("DEL", cfg.key); err != nil {
		return nil, fmt.Errorf("DEL %s: %w", cfg.key, err)
	}
	if _, err := setup.do("XGROUP", "CREATE", cfg.key, cfg.group, "$", "MKSTREAM"); err != nil {
		return nil, fmt.Errorf("XGROUP CREATE %s %s: %w", cfg.key, cfg.group, err)
	}
	conns := make([]*respConn, cfg.producers+cfg.consumers)
	defer closeAll(conns)
	for i := range conns {
		if conns[i], err = dialRESP(cfg.addr, cfg.timeout); err != nil {
			return nil, err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		fatal   error
		workers = make([]*streamWorker, len(conns))
		seq     atomic.Int64
	)
	stop := func(err error) {
		mu.Lock()
		if fatal == nil {
			fatal = err
		}
		mu.Unlock()
		cancel()
	}
	start := time.Now()
	deadline := start.Add(cfg.duration)
	for i, c := range conns {
		w := &streamWorker{}
		workers[i] = w
		if i < cfg.producers {
			wg.Go(func() {
				if err := produce(ctx, c, cfg, w, &seq, deadline); err != nil {
					stop(fmt.Errorf("producer %d: %w", i, err))
				}
			})
			continue
		}
		consumer := "c" + strconv.Itoa(i-cfg.producers)
		wg.Go(func() {
			if err := consume(ctx, c, cfg, consumer, w, deadline); err != nil {
				stop(fmt.Errorf("consumer %s: %w", consumer, err))
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

	res := &streamResult{Mode: "stream", Addr: cfg.addr, Producers: cfg.producers, Consumers: cfg.consumers,
		Count: cfg.count, ValueSize: cfg.valueSize, Seconds: round3(secs)}
	var xadd, readAck histogram
	for i, w := range workers {
		if i < cfg.producers {
			xadd.merge(&w.hist)
		} else {
			readAck.merge(&w.hist)
		}
		res.Produced += w.produced
		res.Consumed += w.consumed
		res.Acked += w.acked
		res.EmptyReads += w.empty
		res.Errors += w.errCount
		if res.FirstError == "" {
			res.FirstError = w.firstErr
		}
	}
	res.Backlog = res.Produced - res.Consumed
	res.ProducedPS = round3(float64(res.Produced) / secs)
	res.ConsumedPS = round3(float64(res.Consumed) / secs)
	res.XAddP50Ms, res.XAddP99Ms, res.XAddMaxMs = ms(xadd.quantile(0.50)), ms(xadd.quantile(0.99)), ms(xadd.max)
	res.ReadAckP99 = ms(readAck.quantile(0.99))
	if res.StreamLen, err = intReply(setup, "XLEN", cfg.key); err != nil {
		return nil, err
	}
	if res.PendingLeft, err = pendingCount(setup, cfg.key, cfg.group); err != nil {
		return nil, err
	}
	return res, nil
}

// produce sends XADDs on c until the deadline, one at a time, recording each latency.
func produce(ctx context.Context, c *respConn, cfg streamConfig, w *streamWorker, seq *atomic.Int64, deadline time.Time) error {
	value := make([]byte, cfg.valueSize)
	for i := range value {
		value[i] = 'v'
	}
	cmd := [][]byte{[]byte("XADD"), []byte(cfg.key), []byte("*"), []byte("n"), nil, []byte("v"), value}
	var num []byte
	for ctx.Err() == nil && time.Now().Before(deadline) {
		num = strconv.AppendInt(num[:0], seq.Add(1), 10)
		cmd[4] = num
		t0 := time.Now()
		c.appendCmd(cmd...)
		if err := c.flush(); err != nil {
			return err
		}
		_, err := c.readReply()
		t1 := time.Now()
		var er errReply
		switch {
		case errors.As(err, &er):
			w.fail(er)
		case err != nil:
			return err
		default:
			w.produced++
			w.hist.record(t1.Sub(t0))
		}
	}
	return nil
}

// consume reads new entries as consumer on c until the deadline and acknowledges each
// batch read; the round trip of a non-empty read and its XACK is recorded.
func consume(ctx context.Context, c *respConn, cfg streamConfig, consumer string, w *streamWorker, deadline time.Time) error {
	read := [][]byte{[]byte("XREADGROUP"), []byte("GROUP"), []byte(cfg.group), []byte(consumer),
		[]byte("COUNT"), []byte(strconv.Itoa(cfg.count)), []byte("STREAMS"), []byte(cfg.key), []byte(">")}
	ack := make([][]byte, 0, 3+cfg.count)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		t0 := time.Now()
		c.appendCmd(read...)
		if err := c.flush(); err != nil {
			return err
		}
		v, err := c.readValue()
		var er errReply
		if errors.As(err, &er) {
			w.fail(er)
			continue
		}
		if err != nil {
			return err
		}
		ids, err := streamIDs(v)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			w.empty++
			select { // nothing new: pause instead of spinning on the server
			case <-ctx.Done():
			case <-time.After(time.Millisecond):
			}
			continue
		}
		w.consumed += int64(len(ids))
		ack = append(ack[:0], []byte("XACK"), []byte(cfg.key), []byte(cfg.group))
		c.appendCmd(append(ack, ids...)...)
		if err := c.flush(); err != nil {
			return err
		}
		v, err = c.readValue()
		switch {
		case errors.As(err, &er):
			w.fail(er)
		case err != nil:
			return err
		default:
			n, ok := v.(int64)
			if !ok {
				return fmt.Errorf("XACK answered %v, want an integer", v)
			}
			w.acked += n
			w.hist.record(time.Since(t0))
		}
	}
	return nil
}

// streamIDs returns the entry IDs of an XREADGROUP reply for one stream: null, or
// [[key, [[id, [field, value, ...]], ...]]].
func streamIDs(v any) ([][]byte, error) {
	if v == nil {
		return nil, nil
	}
	streams, ok := v.([]any)
	if !ok || len(streams) != 1 {
		return nil, fmt.Errorf("XREADGROUP answered %v, want one stream", v)
	}
	kv, ok := streams[0].([]any)
	if !ok || len(kv) != 2 {
		return nil, fmt.Errorf("XREADGROUP stream %v, want [key, entries]", streams[0])
	}
	entries, ok := kv[1].([]any)
	if !ok {
		return nil, fmt.Errorf("XREADGROUP entries %v, want an array", kv[1])
	}
	ids := make([][]byte, 0, len(entries))
	for _, e := range entries {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("XREADGROUP entry %v, want [id, fields]", e)
		}
		id, ok := pair[0].([]byte)
		if !ok {
			return nil, fmt.Errorf("XREADGROUP entry ID %v, want a string", pair[0])
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// intReply sends a command and returns its integer reply.
func intReply(c *respConn, args ...string) (int64, error) {
	b, err := c.do(args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", args[0], err)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s answered %q, want an integer", args[0], b)
	}
	return n, nil
}

// pendingCount is the number of entries group has delivered and not had acknowledged
// (the first element of XPENDING's summary).
func pendingCount(c *respConn, key, group string) (int64, error) {
	c.appendCmd([]byte("XPENDING"), []byte(key), []byte(group))
	if err := c.flush(); err != nil {
		return 0, err
	}
	v, err := c.readValue()
	if err != nil {
		return 0, fmt.Errorf("XPENDING %s %s: %w", key, group, err)
	}
	summary, ok := v.([]any)
	if !ok || len(summary) == 0 {
		return 0, fmt.Errorf("XPENDING answered %v, want its summary", v)
	}
	n, ok := summary[0].(int64)
	if !ok {
		return 0, fmt.Errorf("XPENDING count %v, want an integer", summary[0])
	}
	return n, nil
}
