package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fanoutConfig is `loadgen fanout`: pub/sub fan-out (ci/bench-tx.sh). --subscribers
// connections SUBSCRIBE to one channel (and with --pattern also PSUBSCRIBE to a pattern
// that matches it, so each message reaches each of them twice), spread in turn over the
// addresses of --sub-addr; once all are subscribed, --publishers connections on --addr
// send `PUBLISH channel <value>` one at a time (at --rate messages/s over all of them, or
// as fast as the replies come), for a duration. A value is "<publisher>:<seq>:<ns>:" and
// dots up to --value-size, ns the send time on the run's monotonic clock, so a subscriber
// measures each delivery's latency and counts each publisher's messages in order. The
// subscribers read all the time (so the server never holds their output), through a reader
// that allocates nothing per message. After the publishers stop, the run waits up to
// --drain for every subscriber to have every message published (all were published while
// it was subscribed) and reports what is missing as lost.
type fanoutConfig struct {
	addr        string
	subAddrs    []string
	channel     string
	pattern     string
	subscribers int
	publishers  int
	rate        int
	valueSize   int
	duration    time.Duration
	drain       time.Duration
	timeout     time.Duration
}

// fanoutHeaderMax is the longest "<publisher>:<seq>:<ns>:" prefix of a value.
const fanoutHeaderMax = 3*20 + 3

func parseFanout(args []string, stderr io.Writer) (fanoutConfig, error) {
	var cfg fanoutConfig
	fs := newModeFlags("loadgen fanout", stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:6379", "host:port the publishers connect to")
	subAddr := fs.String("sub-addr", "", "comma-separated host:port list the subscribers are spread over in turn (default: --addr)")
	fs.StringVar(&cfg.channel, "channel", "lg:fanout", "the channel")
	fs.StringVar(&cfg.pattern, "pattern", "", "also PSUBSCRIBE to this pattern, which must match --channel (each message is then delivered twice)")
	fs.IntVar(&cfg.subscribers, "subscribers", 50, "subscriber connections")
	fs.IntVar(&cfg.publishers, "publishers", 2, "publisher connections, each sending one PUBLISH at a time")
	fs.IntVar(&cfg.rate, "rate", 0, "messages per second over all publishers (0: each sends the next as soon as the reply comes)")
	fs.IntVar(&cfg.valueSize, "value-size", 100, "bytes of each message")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to publish")
	fs.DurationVar(&cfg.drain, "drain", 5*time.Second, "how long to wait after the last PUBLISH for the deliveries")
	fs.DurationVar(&cfg.timeout, "timeout", 3*time.Second, "dial, read and write timeout per command")
	errs, err := parseMode(fs, args)
	if err != nil {
		return cfg, err
	}
	if *subAddr == "" {
		*subAddr = cfg.addr
	}
	for _, a := range strings.Split(*subAddr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.subAddrs = append(cfg.subAddrs, a)
		}
	}
	if len(cfg.subAddrs) == 0 {
		errs = append(errs, fmt.Errorf("--sub-addr %q: no address", *subAddr))
	}
	if cfg.channel == "" {
		errs = append(errs, errors.New("--channel must not be empty"))
	}
	if cfg.pattern != "" && !globMatch(cfg.pattern, cfg.channel) {
		errs = append(errs, fmt.Errorf("--pattern %q: does not match --channel %q", cfg.pattern, cfg.channel))
	}
	errs = append(errs, atLeast("--subscribers", cfg.subscribers, 1))
	errs = append(errs, atLeast("--publishers", cfg.publishers, 1))
	errs = append(errs, atLeast("--rate", cfg.rate, 0))
	if cfg.valueSize < fanoutHeaderMax {
		errs = append(errs, fmt.Errorf("--value-size %d: must be at least %d (the publisher, sequence number and send time)", cfg.valueSize, fanoutHeaderMax))
	}
	errs = append(errs, positive("--duration", cfg.duration))
	errs = append(errs, notNegative("--drain", cfg.drain))
	errs = append(errs, positive("--timeout", cfg.timeout))
	return cfg, errors.Join(errs...)
}

// globMatch is Redis's glob matching of the characters --pattern may use: '*', '?' and
// literals (no classes or escapes; a pattern with '[' or '\' never matches here).
func globMatch(pattern, s string) bool {
	if strings.ContainsAny(pattern, `[\`) {
		return false
	}
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if globMatch(pattern[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return s == ""
}

// fanoutResult is the JSON line of `loadgen fanout`. Expected is every subscriber's
// messages (published, twice with a pattern) summed; Delivered what they received; Lost
// what they miss of it; Disorder the messages that came before an earlier one of the same
// publisher or twice. DeliveredPS is over the time from the first PUBLISH to the last
// delivery; DrainMs how long after the last PUBLISH's reply that delivery came.
type fanoutResult struct {
	Mode         string   `json:"mode"`
	Addr         string   `json:"addr"`
	SubAddrs     []string `json:"sub_addrs"`
	Subscribers  int      `json:"subscribers"`
	Publishers   int      `json:"publishers"`
	Pattern      bool     `json:"pattern"`
	Rate         int      `json:"rate"`
	ValueSize    int      `json:"value_size"`
	Seconds      float64  `json:"seconds"`
	Published    int64    `json:"published"`
	PublishErrs  int64    `json:"publish_errors"`
	FirstError   string   `json:"first_error,omitempty"`
	PublishedPS  float64  `json:"published_per_sec"`
	PublishP99   float64  `json:"publish_p99_ms"`
	ReceiversMin int64    `json:"receivers_min"`
	ReceiversMax int64    `json:"receivers_max"`
	Expected     int64    `json:"expected"`
	Delivered    int64    `json:"delivered"`
	Lost         int64    `json:"lost"`
	Disorder     int64    `json:"disorder"`
	Disconnected int      `json:"disconnected"`
	DeliveredPS  float64  `json:"delivered_per_sec"`
	DeliveryP50  float64  `json:"delivery_p50_ms"`
	DeliveryP99  float64  `json:"delivery_p99_ms"`
	DeliveryMax  float64  `json:"delivery_max_ms"`
	DrainMs      float64  `json:"drain_ms"`
}

// Kinds of delivery: a subscriber counts each publisher's messages apart for each.
const (
	kindMessage  = 0
	kindPMessage = 1
)

// fanoutTally is one subscriber's count: per kind and publisher the next sequence number
// it expects, what it received, and the delivery latencies. Received is read by the run
// while the subscriber counts (to see when it has everything); the rest after it stopped.
type fanoutTally struct {
	hist     histogram
	received atomic.Int64
	stopped  atomic.Bool // its reader ended
	next     [2][]int64  // [kind][publisher]: the next sequence number expected, from 1
	fresh    [2]int64    // messages received per kind past every earlier one of their publisher
	disorder int64
	lastNs   int64 // the latest delivery, on the run's clock
}

func newFanoutTally(publishers int) *fanoutTally {
	t := &fanoutTally{}
	for k := range t.next {
		t.next[k] = make([]int64, publishers)
		for p := range t.next[k] {
			t.next[k][p] = 1
		}
	}
	return t
}

// deliver counts one message of kind with value payload received at nowNs on the run's
// clock; a value no publisher of this run sent is an error.
func (t *fanoutTally) deliver(kind int, payload []byte, nowNs int64) error {
	pub, seq, sentNs, ok := parseFanoutValue(payload)
	if !ok || pub < 0 || pub >= int64(len(t.next[kind])) || seq < 1 {
		return fmt.Errorf("a message %q that no publisher of this run sent", cut(payload))
	}
	// A message after a later one of its publisher, or twice, is out of order; a gap (a
	// message missing before this one) shows as lost at the end.
	if next := &t.next[kind][pub]; seq < *next {
		t.disorder++
	} else {
		*next = seq + 1
		t.fresh[kind]++
	}
	t.hist.record(time.Duration(nowNs - sentNs))
	t.lastNs = max(t.lastNs, nowNs)
	t.received.Add(1)
	return nil
}

// lost is what the subscriber misses of the messages published (summed over the
// publishers) for each of its kinds. A message that came after a later one of its
// publisher, or twice, counts in disorder, not as received (pub/sub keeps each publisher's
// order, so neither should happen).
func (t *fanoutTally) lost(published int64, kinds int) int64 {
	var n int64
	for k := range kinds {
		n += max(published-t.fresh[k], 0)
	}
	return n
}

// appendFanoutValue appends the value of message seq of publisher pub sent at sentNs,
// padded with dots to size.
func appendFanoutValue(dst []byte, pub, seq, sentNs int64, size int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, pub, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, sentNs, 10)
	dst = append(dst, ':')
	for len(dst)-start < size {
		dst = append(dst, '.')
	}
	return dst
}

// parseFanoutValue reads "<pub>:<seq>:<ns>:" at the start of a value.
func parseFanoutValue(b []byte) (pub, seq, ns int64, ok bool) {
	var fields [3]int64
	for i := range fields {
		j := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == 0 || j > 19 || j == len(b) || b[j] != ':' {
			return 0, 0, 0, false
		}
		n, err := strconv.ParseInt(string(b[:j]), 10, 64)
		if err != nil {
			return 0, 0, 0, false
		}
		fields[i] = n
		b = b[j+1:]
	}
	return fields[0], fields[1], fields[2], true
}

func cut(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// fanoutLoad subscribes, publishes for the duration, waits for the deliveries and counts.
func fanoutLoad(ctx context.Context, cfg fanoutConfig) (*fanoutResult, error) {
	kinds := 1
	if cfg.pattern != "" {
		kinds = 2
	}
	base := time.Now() // the run's clock: values carry nanoseconds since base
	subs := make([]*respConn, cfg.subscribers)
	defer closeAll(subs)
	for i := range subs {
		c, err := dialRESP(cfg.subAddrs[i%len(cfg.subAddrs)], cfg.timeout)
		if err != nil {
			return nil, err
		}
		subs[i] = c
		if err := subscribe(c, cfg); err != nil {
			return nil, fmt.Errorf("subscriber %d on %s: %w", i, cfg.subAddrs[i%len(cfg.subAddrs)], err)
		}
	}
	pubs := make([]*respConn, cfg.publishers)
	defer closeAll(pubs)
	for i := range pubs {
		c, err := dialRESP(cfg.addr, cfg.timeout)
		if err != nil {
			return nil, err
		}
		pubs[i] = c
	}

	// The subscribers read until their connection is closed; reading past the run's end
	// (the publishers' time, the drain and a margin) is an error of the server.
	readEnd := time.Now().Add(cfg.duration + cfg.drain + 2*cfg.timeout)
	tallies := make([]*fanoutTally, cfg.subscribers)
	readErrs := make([]error, cfg.subscribers)
	var (
		readers sync.WaitGroup
		closing atomic.Bool
	)
	for i, c := range subs {
		t := newFanoutTally(cfg.publishers)
		tallies[i] = t
		readers.Go(func() {
			err := readDeliveries(c, t, base, readEnd)
			t.stopped.Store(true)
			if !closing.Load() {
				readErrs[i] = err
			}
		})
	}

	pubTallies := make([]*publisherTally, cfg.publishers)
	var publishers sync.WaitGroup
	start := time.Now()
	deadline := start.Add(cfg.duration)
	for i, c := range pubs {
		p := &publisherTally{receiversMin: math.MaxInt64}
		pubTallies[i] = p
		publishers.Go(func() { p.err = publish(ctx, c, cfg, int64(i), base, start, deadline, p) })
	}
	publishers.Wait()
	pubEnd := time.Now()
	res := &fanoutResult{Mode: "fanout", Addr: cfg.addr, SubAddrs: cfg.subAddrs, Subscribers: cfg.subscribers,
		Publishers: cfg.publishers, Pattern: cfg.pattern != "", Rate: cfg.rate, ValueSize: cfg.valueSize,
		Seconds: round3(pubEnd.Sub(start).Seconds()), ReceiversMin: math.MaxInt64}
	var pubHist histogram
	for i, p := range pubTallies {
		if p.err != nil {
			closing.Store(true)
			closeAll(subs)
			readers.Wait()
			return nil, fmt.Errorf("publisher %d: %w", i, p.err)
		}
		pubHist.merge(&p.hist)
		res.Published += p.published
		res.PublishErrs += p.errCount
		if res.FirstError == "" {
			res.FirstError = p.firstErr
		}
		res.ReceiversMin = min(res.ReceiversMin, p.receiversMin)
		res.ReceiversMax = max(res.ReceiversMax, p.receiversMax)
	}
	if res.Published == 0 {
		res.ReceiversMin = 0
	}

	// Wait for every subscriber to have every message, a reader to fail, or the drain.
	want := res.Published * int64(kinds)
	drainEnd := pubEnd.Add(cfg.drain)
	for ctx.Err() == nil && time.Now().Before(drainEnd) && !allReceived(tallies, want) {
		time.Sleep(time.Millisecond)
	}
	closing.Store(true)
	closeAll(subs)
	readers.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var hist histogram
	var lastNs int64
	for i, t := range tallies {
		if readErrs[i] != nil {
			res.Disconnected++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprintf("subscriber %d: %v", i, readErrs[i])
			}
		}
		hist.merge(&t.hist)
		res.Delivered += t.received.Load()
		res.Lost += t.lost(res.Published, kinds)
		res.Disorder += t.disorder
		lastNs = max(lastNs, t.lastNs)
	}
	res.Expected = want * int64(cfg.subscribers)
	res.PublishedPS = round3(float64(res.Published) / pubEnd.Sub(start).Seconds())
	res.PublishP99 = ms(pubHist.quantile(0.99))
	if lastNs > 0 {
		last := base.Add(time.Duration(lastNs))
		res.DeliveredPS = round3(float64(res.Delivered) / last.Sub(start).Seconds())
		res.DrainMs = ms(max(last.Sub(pubEnd), 0))
	}
	res.DeliveryP50, res.DeliveryP99, res.DeliveryMax = ms(hist.quantile(0.50)), ms(hist.quantile(0.99)), ms(hist.max)
	return res, nil
}

// allReceived says whether every subscriber still reading has want messages.
func allReceived(tallies []*fanoutTally, want int64) bool {
	for _, t := range tallies {
		if !t.stopped.Load() && t.received.Load() < want {
			return false
		}
	}
	return true
}

// subscribe sends SUBSCRIBE (and PSUBSCRIBE) on c and reads the confirmations.
func subscribe(c *respConn, cfg fanoutConfig) error {
	c.appendCmd([]byte("SUBSCRIBE"), []byte(cfg.channel))
	want := []string{"subscribe"}
	if cfg.pattern != "" {
		c.appendCmd([]byte("PSUBSCRIBE"), []byte(cfg.pattern))
		want = append(want, "psubscribe")
	}
	if err := c.flush(); err != nil {
		return err
	}
	for _, kind := range want {
		v, err := c.readValue()
		if err != nil {
			return fmt.Errorf("%s: %w", strings.ToUpper(kind), err)
		}
		if elems, ok := v.([]any); !ok || len(elems) != 3 || !isStatus(elems[0], kind) {
			return fmt.Errorf("%s answered %s, want [%s, channel, count]", strings.ToUpper(kind), show(v), kind)
		}
	}
	return nil
}

// readDeliveries counts the messages arriving on c until it fails or is closed.
func readDeliveries(c *respConn, t *fanoutTally, base, end time.Time) error {
	if err := c.c.SetReadDeadline(end); err != nil {
		return err
	}
	var pr pushReader
	for {
		elems, err := pr.read(c.r)
		if err != nil {
			return err
		}
		now := int64(time.Since(base))
		switch {
		case len(elems) == 3 && string(elems[0]) == "message":
			err = t.deliver(kindMessage, elems[2], now)
		case len(elems) == 4 && string(elems[0]) == "pmessage":
			err = t.deliver(kindPMessage, elems[3], now)
		default:
			err = fmt.Errorf("a push %q, want a message or pmessage", elems)
		}
		if err != nil {
			return err
		}
	}
}

// pushReader reads RESP arrays of bulk strings and integers (pub/sub pushes) into a buffer
// it reuses: the slices it returns are valid until the next read.
type pushReader struct {
	buf  []byte
	ends []int
	out  [][]byte
}

func (p *pushReader) read(r *bufio.Reader) ([][]byte, error) {
	n, err := readLength(r, '*')
	if err != nil {
		return nil, err
	}
	p.buf, p.ends, p.out = p.buf[:0], p.ends[:0], p.out[:0]
	for range n {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(line) < 3 || line[len(line)-2] != '\r' {
			return nil, fmt.Errorf("malformed push element %q", line)
		}
		switch line[0] {
		case ':':
			p.buf = append(p.buf, line[1:len(line)-2]...)
		case '$':
			size, err := strconv.Atoi(string(line[1 : len(line)-2]))
			if err != nil || size < 0 {
				return nil, fmt.Errorf("malformed bulk length %q", line)
			}
			from := len(p.buf)
			p.buf = append(p.buf, make([]byte, size+2)...)
			if _, err := io.ReadFull(r, p.buf[from:]); err != nil {
				return nil, err
			}
			p.buf = p.buf[:from+size]
		default:
			return nil, fmt.Errorf("unexpected push element %q", line)
		}
		p.ends = append(p.ends, len(p.buf))
	}
	from := 0
	for _, e := range p.ends {
		p.out = append(p.out, p.buf[from:e])
		from = e
	}
	return p.out, nil
}

// readLength reads a "<prefix><n>\r\n" header.
func readLength(r *bufio.Reader, prefix byte) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 3 || line[0] != prefix || line[len(line)-2] != '\r' {
		return 0, fmt.Errorf("malformed header %q, want %c<n>", line, prefix)
	}
	n, err := strconv.Atoi(string(line[1 : len(line)-2]))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("malformed length %q", line)
	}
	return n, nil
}

// publisherTally is one publisher's count.
type publisherTally struct {
	hist                       histogram
	published, errCount        int64
	receiversMin, receiversMax int64
	firstErr                   string
	err                        error // the connection failed
}

// publish sends PUBLISH on c one at a time until the deadline, paced to its share of
// cfg.rate, and counts the messages the server accepted.
func publish(ctx context.Context, c *respConn, cfg fanoutConfig, id int64, base, start, deadline time.Time, p *publisherTally) error {
	var interval time.Duration
	if cfg.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.publishers) / float64(cfg.rate))
	}
	channel := []byte(cfg.channel)
	value := make([]byte, 0, cfg.valueSize)
	for i := int64(0); ctx.Err() == nil; i++ {
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				time.Sleep(wait)
			}
		}
		t0 := time.Now()
		if !t0.Before(deadline) {
			return nil
		}
		value = appendFanoutValue(value[:0], id, p.published+1, int64(t0.Sub(base)), cfg.valueSize)
		c.appendCmd([]byte("PUBLISH"), channel, value)
		if err := c.flush(); err != nil {
			return err
		}
		v, err := c.readValue()
		var er errReply
		switch {
		case errors.As(err, &er):
			p.errCount++
			if p.firstErr == "" {
				p.firstErr = string(er)
			}
			continue
		case err != nil:
			return err
		}
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("PUBLISH answered %s, want an integer", show(v))
		}
		p.hist.record(time.Since(t0))
		p.published++
		p.receiversMin, p.receiversMax = min(p.receiversMin, n), max(p.receiversMax, n)
	}
	return ctx.Err()
}
