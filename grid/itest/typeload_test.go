package itest

// The typed workload: one writer per key for every data type, each recording the effect
// of every write the grid acknowledged (and of every write whose outcome is unknown, as a
// write cut by kill -9 is), and checking afterwards that the keys hold exactly those
// effects: nothing acknowledged lost, nothing applied twice, nothing that was never sent.
// The client sends each command once: go-redis's ClusterClient would send a write again
// after a dropped connection (EOF), which can apply a push twice — the client's doing,
// which would hide the grid's.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/insightgrid/insight/grid/slots"
)

// outcome is what a client knows of a command it sent.
type outcome int

const (
	applied outcome = iota // answered: it ran
	unknown                // the connection failed after sending: it may or may not have run
	refused                // refused unexecuted (MOVED, ASK, TRYAGAIN, no connection) until the deadline
	failed                 // answered with an error: it ran and failed
)

// typeClient sends each command once to the node that owns its key, following MOVED and
// ASK and retrying what was refused unexecuted, never what may have run.
type typeClient struct {
	rdb *redis.ClusterClient

	mu    sync.Mutex
	nodes map[string]*redis.Client // for ASK redirects
	// Redirects and refusals followed, by the first word of the reply ("MOVED", "ASK",
	// "TRYAGAIN", "dial"...), under mu.
	redirects map[string]int
}

func newTypeClient(t *testing.T, seed string) *typeClient {
	opt := &redis.ClusterOptions{
		Addrs:                      []string{seed},
		Protocol:                   2, // flat replies: WITHSCORES and HGETALL as arrays
		DialTimeout:                time.Second,
		ReadTimeout:                5 * time.Second,
		WriteTimeout:               5 * time.Second,
		MaxRedirects:               -1, // one attempt per call; redirects are followed by do
		ClusterStateReloadInterval: 250 * time.Millisecond,
		PoolSize:                   4,
		DialerRetries:              1,
	}
	c := &typeClient{rdb: redis.NewClusterClient(opt), nodes: map[string]*redis.Client{}, redirects: map[string]int{}}
	t.Cleanup(func() {
		c.rdb.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, n := range c.nodes {
			n.Close()
		}
	})
	return c
}

func (c *typeClient) node(addr string) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[addr]
	if n == nil {
		n = redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, MaxRetries: -1, DialTimeout: time.Second,
			ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, PoolSize: 2})
		c.nodes[addr] = n
	}
	return n
}

// count counts the redirect or refusal err.
func (c *typeClient) count(err error) {
	what, _, _ := strings.Cut(err.Error(), " ")
	what = strings.TrimSuffix(what, ":")
	var op *net.OpError
	if errors.As(err, &op) {
		what = op.Op
	}
	c.mu.Lock()
	c.redirects[what]++
	c.mu.Unlock()
}

// counts is how many redirects and refusals of each kind do followed.
func (c *typeClient) counts() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.redirects)
}

// refusedUnexecuted reports whether err says the command did not run.
func refusedUnexecuted(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	s := err.Error()
	for _, p := range []string{"MOVED ", "ASK ", "TRYAGAIN ", "CLUSTERDOWN ", "LOADING "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return strings.Contains(s, "connect: connection refused")
}

// do sends args once where they run, within 10s of redirects and refusals.
func (c *typeClient) do(ctx context.Context, args ...any) (*redis.Cmd, outcome) {
	deadline := time.Now().Add(10 * time.Second)
	cmd := c.rdb.Do(ctx, args...)
	for {
		err := cmd.Err()
		if err == nil || errors.Is(err, redis.Nil) {
			return cmd, applied
		}
		c.count(err)
		if s := err.Error(); strings.HasPrefix(s, "ASK ") {
			if f := strings.Fields(s); len(f) == 3 {
				pipe := c.node(f[2]).Pipeline()
				pipe.Do(ctx, "asking")
				cmd = pipe.Do(ctx, args...)
				_, _ = pipe.Exec(ctx)
				continue
			}
		}
		var rerr redis.Error
		switch {
		case refusedUnexecuted(err):
		case errors.As(err, &rerr):
			return cmd, failed
		default:
			return cmd, unknown
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return cmd, refused
		}
		select { // a back-off between refusals, as cluster clients do
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
		cmd = c.rdb.Do(ctx, args...)
	}
}

// read runs a command that changes nothing, retrying whatever failed for up to 10s.
func (c *typeClient) read(ctx context.Context, args ...any) (any, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd, out := c.do(ctx, args...)
		if out == applied || out == failed || time.Now().After(deadline) {
			v, err := cmd.Result()
			if errors.Is(err, redis.Nil) {
				return nil, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%v: %w", args, err)
			}
			return v, nil
		}
	}
}

// strs reads a flat array reply as strings.
func (c *typeClient) strs(ctx context.Context, args ...any) ([]string, error) {
	v, err := c.read(ctx, args...)
	if err != nil || v == nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%v: a %T, want an array", args, v)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		out[i] = fmt.Sprint(e)
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------
// The record every writer keeps.

// opLog is what one writer knows of its writes: the outcome of op n and, for the ones
// that ran, the reply.
type opLog struct {
	mu       sync.Mutex
	out      map[int]outcome
	reply    map[int]any
	errs     []string // replies that were errors: each a failure of the grid
	lastDone time.Time
	done     int // ops acknowledged
}

func (l *opLog) record(n int, cmd *redis.Cmd, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out == nil {
		l.out, l.reply = map[int]outcome{}, map[int]any{}
	}
	l.out[n] = o
	switch o {
	case applied:
		l.reply[n] = cmd.Val()
		l.done++
		l.lastDone = time.Now()
	case failed:
		if len(l.errs) < 5 {
			l.errs = append(l.errs, fmt.Sprintf("%v: %v", cmd.Args(), cmd.Err()))
		}
	}
}

// counts are the acknowledged and unknown-outcome ops.
func (l *opLog) counts() (acked, unk int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.out {
		switch o {
		case applied:
			acked++
		case unknown:
			unk++
		}
	}
	return acked, unk
}

// typeWriter writes one key (or a few keys in one slot) of one data type.
type typeWriter interface {
	kind() string
	keyName() string
	log() *opLog
	// step sends write n.
	step(ctx context.Context, c *typeClient, n int)
	// verify reads the key back and returns what contradicts the record.
	verify(ctx context.Context, c *typeClient) []string
}

// ---------------------------------------------------------------------------------------
// Lists: RPUSH of two elements or LPUSH of one, all unique, and every seventh op an LPOP.
// The list must be exactly the LPUSHed elements newest first, then the RPUSHed ones oldest
// first, of the pushes that ran, less the popped ones: every acknowledged element is in
// the list or was popped (an acknowledged LPOP said which; one of unknown outcome may have
// taken one more), each once, and no element an acknowledged LPOP returned is left.

type listWriter struct {
	key string
	opLog
}

func (w *listWriter) kind() string    { return "list" }
func (w *listWriter) keyName() string { return w.key }
func (w *listWriter) log() *opLog     { return &w.opLog }

func (w *listWriter) step(ctx context.Context, c *typeClient, n int) {
	var cmd *redis.Cmd
	var o outcome
	switch {
	case n%7 == 6:
		cmd, o = c.do(ctx, "lpop", w.key)
	case n%3 == 2:
		cmd, o = c.do(ctx, "lpush", w.key, fmt.Sprintf("L%d", n))
	default:
		cmd, o = c.do(ctx, "rpush", w.key, fmt.Sprintf("R%da", n), fmt.Sprintf("R%db", n))
	}
	w.record(n, cmd, o)
}

// listElem is a pushed element: op n, and for an RPUSH which of its two ('a', 'b').
type listElem struct {
	n     int
	which byte
}

func (e listElem) String() string {
	if e.which == 0 {
		return fmt.Sprintf("L%d", e.n)
	}
	return fmt.Sprintf("R%d%c", e.n, e.which)
}

// parseListElem reads an element back; ok is false for one never pushed.
func parseListElem(s string) (listElem, bool) {
	var e listElem
	if len(s) < 2 {
		return e, false
	}
	switch s[0] {
	case 'L':
		n, err := strconv.Atoi(s[1:])
		return listElem{n: n}, err == nil && n%3 == 2 && n%7 != 6
	case 'R':
		n, err := strconv.Atoi(s[1 : len(s)-1])
		which := s[len(s)-1]
		return listElem{n: n, which: which}, err == nil && n%3 != 2 && n%7 != 6 && (which == 'a' || which == 'b')
	}
	return e, false
}

func (w *listWriter) verify(ctx context.Context, c *typeClient) []string {
	got, err := c.strs(ctx, "lrange", w.key, 0, -1)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	w.mu.Lock()
	defer w.mu.Unlock()
	popped := map[listElem]bool{}
	maybePops := 0
	for n, o := range w.out {
		if n%7 != 6 {
			continue
		}
		switch o {
		case unknown:
			maybePops++
		case applied:
			if w.reply[n] == nil {
				continue // the list was empty
			}
			e, ok := parseListElem(fmt.Sprint(w.reply[n]))
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("LPOP returned %v, never pushed", w.reply[n]))
			case popped[e]:
				problems = append(problems, fmt.Sprintf("LPOP returned %s a second time", e))
			}
			popped[e] = true
		}
	}
	ran := func(n int) bool { o := w.out[n]; return o == applied || o == unknown }
	in := map[listElem]bool{}
	var lefts, rights []listElem
	for _, s := range got {
		e, ok := parseListElem(s)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("element %q was never pushed", s))
			continue
		case in[e]:
			problems = append(problems, fmt.Sprintf("element %s is in the list twice", e))
			continue
		case !ran(e.n):
			problems = append(problems, fmt.Sprintf("element %s of a push that never ran", e))
		case popped[e]:
			problems = append(problems, fmt.Sprintf("element %s is in the list after an acknowledged LPOP returned it", e))
		}
		in[e] = true
		if e.which == 0 {
			lefts = append(lefts, e)
		} else {
			rights = append(rights, e)
		}
	}
	for e := range popped {
		if !ran(e.n) {
			problems = append(problems, fmt.Sprintf("LPOP returned %s of a push that never ran", e))
		}
	}
	missing := 0
	for n, o := range w.out {
		if o != applied || n%7 == 6 {
			continue
		}
		elems := []listElem{{n: n}}
		if n%3 != 2 {
			elems = []listElem{{n: n, which: 'a'}, {n: n, which: 'b'}}
		}
		for _, e := range elems {
			if !in[e] && !popped[e] {
				missing++
				if missing > maybePops {
					problems = append(problems, fmt.Sprintf("acknowledged element %s is neither in the list nor popped", e))
				}
			}
		}
	}
	sort.Slice(lefts, func(i, j int) bool { return lefts[i].n > lefts[j].n })
	sort.Slice(rights, func(i, j int) bool {
		return rights[i].n < rights[j].n || (rights[i].n == rights[j].n && rights[i].which < rights[j].which)
	})
	var want []string
	for _, e := range append(lefts, rights...) {
		want = append(want, e.String())
	}
	if !slices.Equal(got, want) {
		problems = append(problems, fmt.Sprintf("the list is out of push order: %s", firstDiff(got, want)))
	}
	return problems
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d %q, want %q (lengths %d and %d)", i, got[i], want[i], len(got), len(want))
		}
	}
	return fmt.Sprintf("lengths %d, want %d", len(got), len(want))
}

// ---------------------------------------------------------------------------------------
// Sets: SADD of member m<n>, and every fourth op SREM of the member added three ops before.

type setWriter struct {
	key string
	opLog
}

func (w *setWriter) kind() string    { return "set" }
func (w *setWriter) keyName() string { return w.key }
func (w *setWriter) log() *opLog     { return &w.opLog }

func (w *setWriter) step(ctx context.Context, c *typeClient, n int) {
	if n%4 == 3 {
		cmd, o := c.do(ctx, "srem", w.key, fmt.Sprintf("m%d", n-3))
		w.record(n, cmd, o)
		return
	}
	cmd, o := c.do(ctx, "sadd", w.key, fmt.Sprintf("m%d", n))
	w.record(n, cmd, o)
}

func (w *setWriter) verify(ctx context.Context, c *typeClient) []string {
	got, err := c.strs(ctx, "smembers", w.key)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	in := map[int]bool{}
	for _, m := range got {
		var n int
		if _, err := fmt.Sscanf(m, "m%d", &n); err != nil || n%4 == 3 {
			problems = append(problems, fmt.Sprintf("member %q was never added", m))
			continue
		}
		in[n] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for n := range in {
		if o := w.out[n]; o != applied && o != unknown {
			problems = append(problems, fmt.Sprintf("member m%d of an SADD that never ran", n))
		}
	}
	for n, o := range w.out {
		if n%4 == 3 || o != applied {
			continue
		}
		rem, sent := w.out[n+3]
		if n%4 != 0 { // only m<4k> is removed, by op 4k+3
			rem, sent = refused, false
		}
		switch {
		case sent && rem == applied && in[n]:
			problems = append(problems, fmt.Sprintf("member m%d is back after an acknowledged SREM", n))
		case (!sent || rem == refused) && !in[n]:
			problems = append(problems, fmt.Sprintf("acknowledged member m%d is lost", n))
		}
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// Sorted sets: ZADD of member z<n> with score n+0.5, and every third op ZINCRBY of 1.5 on
// one counter member, whose final score counts the increments that ran.

type zsetWriter struct {
	key string
	opLog
}

func (w *zsetWriter) kind() string    { return "zset" }
func (w *zsetWriter) keyName() string { return w.key }
func (w *zsetWriter) log() *opLog     { return &w.opLog }

func (w *zsetWriter) step(ctx context.Context, c *typeClient, n int) {
	if n%3 == 2 {
		cmd, o := c.do(ctx, "zincrby", w.key, 1.5, "ctr")
		w.record(n, cmd, o)
		return
	}
	cmd, o := c.do(ctx, "zadd", w.key, float64(n)+0.5, fmt.Sprintf("z%d", n))
	w.record(n, cmd, o)
}

func (w *zsetWriter) verify(ctx context.Context, c *typeClient) []string {
	got, err := c.strs(ctx, "zrange", w.key, 0, -1, "withscores")
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	in := map[int]bool{}
	ctr := -1.0
	for i := 0; i+1 < len(got); i += 2 {
		m, score := got[i], got[i+1]
		f, err := strconv.ParseFloat(score, 64)
		if err != nil {
			problems = append(problems, fmt.Sprintf("member %q has score %q", m, score))
			continue
		}
		if m == "ctr" {
			ctr = f
			continue
		}
		var n int
		if _, err := fmt.Sscanf(m, "z%d", &n); err != nil || n%3 == 2 {
			problems = append(problems, fmt.Sprintf("member %q was never added", m))
			continue
		}
		in[n] = true
		if f != float64(n)+0.5 {
			problems = append(problems, fmt.Sprintf("member %s has score %s, want %v", m, score, float64(n)+0.5))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	incrs, maybe, lastReply := 0, 0, 0.0
	for n, o := range w.out {
		if n%3 == 2 {
			switch o {
			case applied:
				incrs++
				r, _ := strconv.ParseFloat(fmt.Sprint(w.reply[n]), 64)
				lastReply = max(lastReply, r)
			case unknown:
				maybe++
			}
			continue
		}
		if o == applied && !in[n] {
			problems = append(problems, fmt.Sprintf("acknowledged member z%d is lost", n))
		}
	}
	for n := range in {
		if o := w.out[n]; o != applied && o != unknown {
			problems = append(problems, fmt.Sprintf("member z%d of a ZADD that never ran", n))
		}
	}
	if incrs+maybe > 0 {
		k := ctr / 1.5
		if ctr < 0 || k != math.Trunc(k) || int(k) < incrs || int(k) > incrs+maybe || ctr < lastReply {
			problems = append(problems, fmt.Sprintf("counter score %v after %d acknowledged and %d unknown ZINCRBY 1.5 (last reply %v)", ctr, incrs, maybe, lastReply))
		}
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// Hashes: HSET of two fields f<n> and g<n>, and every fourth op HINCRBY of a counter field.

type hashWriter struct {
	key string
	opLog
}

func (w *hashWriter) kind() string    { return "hash" }
func (w *hashWriter) keyName() string { return w.key }
func (w *hashWriter) log() *opLog     { return &w.opLog }

func (w *hashWriter) step(ctx context.Context, c *typeClient, n int) {
	if n%4 == 3 {
		cmd, o := c.do(ctx, "hincrby", w.key, "ctr", 1)
		w.record(n, cmd, o)
		return
	}
	cmd, o := c.do(ctx, "hset", w.key, fmt.Sprintf("f%d", n), fmt.Sprintf("v%d", n), fmt.Sprintf("g%d", n), fmt.Sprintf("w%d", n))
	w.record(n, cmd, o)
}

func (w *hashWriter) verify(ctx context.Context, c *typeClient) []string {
	got, err := c.strs(ctx, "hgetall", w.key)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	fields := map[int]int{}
	ctr := int64(-1)
	for i := 0; i+1 < len(got); i += 2 {
		f, v := got[i], got[i+1]
		if f == "ctr" {
			ctr, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		var n int
		if _, err := fmt.Sscanf(f[1:], "%d", &n); err != nil || (f[0] != 'f' && f[0] != 'g') || n%4 == 3 {
			problems = append(problems, fmt.Sprintf("field %q was never set", f))
			continue
		}
		if want := map[byte]string{'f': "v", 'g': "w"}[f[0]] + f[1:]; v != want {
			problems = append(problems, fmt.Sprintf("field %s = %q, want %q", f, v, want))
		}
		fields[n]++
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, k := range fields {
		if o := w.out[n]; o != applied && o != unknown {
			problems = append(problems, fmt.Sprintf("fields of an HSET %d that never ran", n))
		} else if k != 2 {
			problems = append(problems, fmt.Sprintf("HSET %d is in the hash in part (%d of 2 fields)", n, k))
		}
	}
	incrs, maybe, lastReply := int64(0), int64(0), int64(0)
	for n, o := range w.out {
		if n%4 == 3 {
			switch o {
			case applied:
				incrs++
				lastReply = max(lastReply, w.reply[n].(int64))
			case unknown:
				maybe++
			}
		} else if o == applied && fields[n] == 0 {
			problems = append(problems, fmt.Sprintf("acknowledged HSET of f%d and g%d is lost", n, n))
		}
	}
	if incrs+maybe > 0 && (ctr < incrs || ctr > incrs+maybe || ctr < lastReply) {
		problems = append(problems, fmt.Sprintf("counter %d after %d acknowledged and %d unknown HINCRBY 1 (last reply %d)", ctr, incrs, maybe, lastReply))
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// Strings: APPEND of 8-byte chunks to one key (the reply locates each chunk), and
// SETRANGE of 8-byte chunk n at offset 8n of another key in the same slot.

type stringWriter struct {
	key string // APPEND to key, SETRANGE to key+":r"
	opLog
}

func (w *stringWriter) kind() string    { return "string" }
func (w *stringWriter) keyName() string { return w.key }
func (w *stringWriter) log() *opLog     { return &w.opLog }

func (w *stringWriter) step(ctx context.Context, c *typeClient, n int) {
	if n%2 == 1 {
		cmd, o := c.do(ctx, "setrange", w.key+":r", 8*n, fmt.Sprintf("s%07d", n))
		w.record(n, cmd, o)
		return
	}
	cmd, o := c.do(ctx, "append", w.key, fmt.Sprintf("a%07d", n))
	w.record(n, cmd, o)
}

func (w *stringWriter) verify(ctx context.Context, c *typeClient) []string {
	var problems []string
	app, err1 := c.read(ctx, "get", w.key)
	rng, err2 := c.read(ctx, "get", w.key+":r")
	if err := errors.Join(err1, err2); err != nil {
		return []string{err.Error()}
	}
	a, r := fmt.Sprint(app), fmt.Sprint(rng)
	if app == nil {
		a = ""
	}
	if rng == nil {
		r = ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(a)%8 != 0 {
		problems = append(problems, fmt.Sprintf("the appended string is %d bytes, not whole 8-byte chunks", len(a)))
	}
	seen := map[int]bool{}
	for i := 0; i+8 <= len(a); i += 8 {
		var n int
		if _, err := fmt.Sscanf(a[i:i+8], "a%07d", &n); err != nil {
			problems = append(problems, fmt.Sprintf("chunk %q at %d was never appended", a[i:i+8], i))
			continue
		}
		if seen[n] {
			problems = append(problems, fmt.Sprintf("chunk a%07d is appended twice", n))
		}
		seen[n] = true
		if o := w.out[n]; n%2 != 0 || (o != applied && o != unknown) {
			problems = append(problems, fmt.Sprintf("chunk a%07d of an APPEND that never ran", n))
		}
	}
	zero := strings.Repeat("\x00", 8)
	for n, o := range w.out {
		if n%2 == 0 {
			if o == applied {
				end := int(w.reply[n].(int64))
				if end > len(a) || a[end-8:end] != fmt.Sprintf("a%07d", n) {
					problems = append(problems, fmt.Sprintf("acknowledged APPEND a%07d (reply %d) is not at %d", n, end, end-8))
				}
			}
			continue
		}
		var chunk string
		if 8*n+8 <= len(r) {
			chunk = r[8*n : 8*n+8]
		}
		want := fmt.Sprintf("s%07d", n)
		switch {
		case o == applied && chunk != want:
			problems = append(problems, fmt.Sprintf("acknowledged SETRANGE %d reads %q, want %q", 8*n, chunk, want))
		case o != applied && o != unknown && chunk != "" && chunk != zero:
			problems = append(problems, fmt.Sprintf("SETRANGE %d that never ran reads %q", 8*n, chunk))
		}
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// Bitmaps: SETBIT of a fresh offset to 1; its reply (the old bit) must be 0.

type bitmapWriter struct {
	key string
	opLog
}

func (w *bitmapWriter) kind() string    { return "bitmap" }
func (w *bitmapWriter) keyName() string { return w.key }
func (w *bitmapWriter) log() *opLog     { return &w.opLog }

func bitOffset(n int) int { return 13*n + n%7 }

func (w *bitmapWriter) step(ctx context.Context, c *typeClient, n int) {
	cmd, o := c.do(ctx, "setbit", w.key, bitOffset(n), 1)
	w.record(n, cmd, o)
}

func (w *bitmapWriter) verify(ctx context.Context, c *typeClient) []string {
	v, err := c.read(ctx, "get", w.key)
	if err != nil {
		return []string{err.Error()}
	}
	b := ""
	if v != nil {
		b = fmt.Sprint(v)
	}
	isSet := func(off int) bool { return off/8 < len(b) && b[off/8]&(0x80>>(off%8)) != 0 }
	var problems []string
	w.mu.Lock()
	defer w.mu.Unlock()
	ops := map[int]int{}
	for n, o := range w.out {
		ops[bitOffset(n)] = n
		if o == applied && !isSet(bitOffset(n)) {
			problems = append(problems, fmt.Sprintf("acknowledged SETBIT %d 1 is lost", bitOffset(n)))
		}
		if o == applied && w.reply[n].(int64) != 0 {
			problems = append(problems, fmt.Sprintf("SETBIT %d 1 answered that the bit was already set", bitOffset(n)))
		}
	}
	for off := range 8 * len(b) {
		if !isSet(off) {
			continue
		}
		n, ok := ops[off]
		if o := w.out[n]; !ok || (o != applied && o != unknown) {
			problems = append(problems, fmt.Sprintf("bit %d is set by no SETBIT that ran", off))
		}
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// HyperLogLog: PFADD of two fresh elements. A HyperLogLog's registers only grow with its
// set, so its count lies between those of HyperLogLogs of the acknowledged elements and of
// every element that may have been added, built afresh in the same slot; and within the
// estimator's error of the acknowledged count.

type hllWriter struct {
	key string
	opLog
}

func (w *hllWriter) kind() string    { return "hyperloglog" }
func (w *hllWriter) keyName() string { return w.key }
func (w *hllWriter) log() *opLog     { return &w.opLog }

func (w *hllWriter) step(ctx context.Context, c *typeClient, n int) {
	cmd, o := c.do(ctx, "pfadd", w.key, fmt.Sprintf("h%da", n), fmt.Sprintf("h%db", n))
	w.record(n, cmd, o)
}

func (w *hllWriter) verify(ctx context.Context, c *typeClient) []string {
	w.mu.Lock()
	var sure, maybe []any
	for n, o := range w.out {
		switch o {
		case applied:
			sure = append(sure, fmt.Sprintf("h%da", n), fmt.Sprintf("h%db", n))
		case unknown:
			maybe = append(maybe, fmt.Sprintf("h%da", n), fmt.Sprintf("h%db", n))
		}
	}
	w.mu.Unlock()
	count := func(key string, elems []any) (int64, error) {
		if _, err := c.read(ctx, "del", key); err != nil {
			return 0, err
		}
		for i := 0; i < len(elems); i += 500 {
			if _, err := c.read(ctx, append([]any{"pfadd", key}, elems[i:min(i+500, len(elems))]...)...); err != nil {
				return 0, err
			}
		}
		v, err := c.read(ctx, "pfcount", key)
		if err != nil {
			return 0, err
		}
		_, _ = c.read(ctx, "del", key)
		return v.(int64), nil
	}
	v, err := c.read(ctx, "pfcount", w.key)
	if err != nil {
		return []string{err.Error()}
	}
	got := v.(int64)
	low, err1 := count(w.key+":sure", sure)
	high, err2 := count(w.key+":maybe", append(sure, maybe...))
	if err := errors.Join(err1, err2); err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if got < low || got > high {
		problems = append(problems, fmt.Sprintf("PFCOUNT %d, but %d for the %d acknowledged elements and %d with the %d of unknown outcome",
			got, low, len(sure), high, len(maybe)))
	}
	// 0.81% standard error for 16384 registers; 3% is beyond 3 standard errors.
	if n := float64(len(sure)); float64(got) < n*0.97-2 || float64(got) > (n+float64(len(maybe)))*1.03+2 {
		problems = append(problems, fmt.Sprintf("PFCOUNT %d is beyond the HyperLogLog's error of %d acknowledged (%d unknown) distinct elements", got, len(sure), len(maybe)))
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// Streams: XADD with auto IDs (the reply is the ID) or, on a second key, explicit growing
// IDs; every entry that ran is in the stream once with its ID and fields.

type streamWriter struct {
	key      string
	explicit bool
	opLog
}

func (w *streamWriter) kind() string {
	if w.explicit {
		return "stream (explicit IDs)"
	}
	return "stream"
}
func (w *streamWriter) keyName() string { return w.key }
func (w *streamWriter) log() *opLog     { return &w.opLog }

func explicitID(n int) string { return fmt.Sprintf("%d-%d", 1000+n, n%3) }

func (w *streamWriter) step(ctx context.Context, c *typeClient, n int) {
	id := "*"
	if w.explicit {
		id = explicitID(n)
	}
	cmd, o := c.do(ctx, "xadd", w.key, id, "n", n, "pad", strings.Repeat("p", n%40))
	w.record(n, cmd, o)
	if o == applied && w.explicit && cmd.Val() != id {
		w.mu.Lock()
		w.errs = append(w.errs, fmt.Sprintf("XADD %s answered ID %v", id, cmd.Val()))
		w.mu.Unlock()
	}
}

// streamEntries reads XRANGE key - + as ID -> fields.
func streamEntries(ctx context.Context, c *typeClient, key string) ([]string, map[string][]string, error) {
	v, err := c.read(ctx, "xrange", key, "-", "+")
	if err != nil {
		return nil, nil, err
	}
	arr, _ := v.([]any)
	var ids []string
	fields := map[string][]string{}
	for _, e := range arr {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, nil, fmt.Errorf("XRANGE %s: entry %v", key, e)
		}
		id := fmt.Sprint(pair[0])
		fv, _ := pair[1].([]any)
		var fs []string
		for _, x := range fv {
			fs = append(fs, fmt.Sprint(x))
		}
		ids = append(ids, id)
		fields[id] = fs
	}
	return ids, fields, nil
}

func (w *streamWriter) verify(ctx context.Context, c *typeClient) []string {
	ids, fields, err := streamEntries(ctx, c, w.key)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	w.mu.Lock()
	defer w.mu.Unlock()
	byN := map[int]string{}
	for _, id := range ids {
		fs := fields[id]
		var n int
		if len(fs) != 4 || fs[0] != "n" || fs[2] != "pad" {
			problems = append(problems, fmt.Sprintf("entry %s has fields %q", id, fs))
			continue
		}
		n, _ = strconv.Atoi(fs[1])
		if fs[3] != strings.Repeat("p", n%40) {
			problems = append(problems, fmt.Sprintf("entry %s has pad %q", id, fs[3]))
		}
		if prev, dup := byN[n]; dup {
			problems = append(problems, fmt.Sprintf("XADD %d is in the stream twice, as %s and %s", n, prev, id))
		}
		byN[n] = id
		if o := w.out[n]; o != applied && o != unknown {
			problems = append(problems, fmt.Sprintf("entry %s of an XADD %d that never ran", id, n))
		}
		if w.explicit && id != explicitID(n) {
			problems = append(problems, fmt.Sprintf("entry %d has ID %s, want %s", n, id, explicitID(n)))
		}
	}
	for n, o := range w.out {
		if o != applied {
			continue
		}
		if id, ok := byN[n]; !ok {
			problems = append(problems, fmt.Sprintf("acknowledged XADD %d (ID %v) is lost", n, w.reply[n]))
		} else if id != fmt.Sprint(w.reply[n]) {
			problems = append(problems, fmt.Sprintf("XADD %d answered ID %v, the stream has it as %s", n, w.reply[n], id))
		}
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// Consumer groups: XREADGROUP of new entries of the auto-ID stream, then XACK of every
// other entry read. Afterwards the group's pending entries are exactly the ones read and
// not acknowledged, give or take the entries of reads and XACKs of unknown outcome.

type groupReader struct {
	key string // the stream; its group is "g", created before the load
	opLog
	// What the acknowledged replies said, under opLog.mu.
	delivered map[string]bool // IDs an acknowledged XREADGROUP returned
	acked     map[string]bool // IDs an acknowledged XACK acknowledged
	maybeAck  map[string]bool // IDs of XACKs of unknown outcome
	lastRead  string
}

func (w *groupReader) kind() string    { return "stream consumer group" }
func (w *groupReader) keyName() string { return w.key }
func (w *groupReader) log() *opLog     { return &w.opLog }

// step n reads (even n) or acknowledges every other entry of the last read (odd n).
func (w *groupReader) step(ctx context.Context, c *typeClient, n int) {
	w.mu.Lock()
	if w.delivered == nil {
		w.delivered, w.acked, w.maybeAck = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	w.mu.Unlock()
	if n%2 == 0 {
		cmd, o := c.do(ctx, "xreadgroup", "group", "g", "c1", "count", 4, "streams", w.key, ">")
		w.record(n, cmd, o)
		if o != applied {
			return
		}
		var ids []string
		if streams, ok := cmd.Val().([]any); ok && len(streams) == 1 {
			s, _ := streams[0].([]any)
			if len(s) == 2 {
				entries, _ := s[1].([]any)
				for _, e := range entries {
					if pair, ok := e.([]any); ok && len(pair) == 2 {
						ids = append(ids, fmt.Sprint(pair[0]))
					}
				}
			}
		}
		w.mu.Lock()
		for _, id := range ids {
			if w.delivered[id] {
				w.errs = append(w.errs, fmt.Sprintf("XREADGROUP > delivered %s a second time", id))
			}
			w.delivered[id] = true
		}
		w.lastRead = strings.Join(ids, " ")
		w.mu.Unlock()
		return
	}
	w.mu.Lock()
	var toAck []string
	for i, id := range strings.Fields(w.lastRead) {
		if i%2 == 0 {
			toAck = append(toAck, id)
		}
	}
	w.lastRead = ""
	w.mu.Unlock()
	if len(toAck) == 0 {
		w.record(n, nil, refused)
		return
	}
	args := []any{"xack", w.key, "g"}
	for _, id := range toAck {
		args = append(args, id)
	}
	cmd, o := c.do(ctx, args...)
	w.record(n, cmd, o)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range toAck {
		switch o {
		case applied:
			w.acked[id] = true
		case unknown:
			w.maybeAck[id] = true
		}
	}
	if o == applied && cmd.Val() != int64(len(toAck)) {
		w.errs = append(w.errs, fmt.Sprintf("XACK of %d pending entries answered %v", len(toAck), cmd.Val()))
	}
}

func (w *groupReader) verify(ctx context.Context, c *typeClient) []string {
	v, err := c.read(ctx, "xpending", w.key, "g", "-", "+", 1000000)
	if err != nil {
		return []string{err.Error()}
	}
	ids, _, err := streamEntries(ctx, c, w.key)
	if err != nil {
		return []string{err.Error()}
	}
	inStream := map[string]bool{}
	for _, id := range ids {
		inStream[id] = true
	}
	pending := map[string]bool{}
	arr, _ := v.([]any)
	for _, e := range arr {
		if x, ok := e.([]any); ok && len(x) == 4 {
			pending[fmt.Sprint(x[0])] = true
		}
	}
	summary, err := c.read(ctx, "xpending", w.key, "g")
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if s, ok := summary.([]any); !ok || len(s) < 1 || s[0] != int64(len(pending)) {
		problems = append(problems, fmt.Sprintf("XPENDING summary %v, but %d entries listed", summary, len(pending)))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	readsUnknown := 0
	for n, o := range w.out {
		if n%2 == 0 && o == unknown {
			readsUnknown++
		}
	}
	for id := range w.delivered {
		switch {
		case w.acked[id] && pending[id]:
			problems = append(problems, fmt.Sprintf("entry %s is pending after an acknowledged XACK", id))
		case !w.acked[id] && !w.maybeAck[id] && !pending[id]:
			problems = append(problems, fmt.Sprintf("entry %s read and not acknowledged is not pending", id))
		}
		if !inStream[id] {
			problems = append(problems, fmt.Sprintf("entry %s read from the group is not in the stream", id))
		}
	}
	for id := range pending {
		if !w.delivered[id] && readsUnknown == 0 {
			problems = append(problems, fmt.Sprintf("entry %s is pending but was never read", id))
		}
	}
	return problems
}

// ---------------------------------------------------------------------------------------
// The load.

// typeLoad runs one goroutine per writer, each sending its next write about every 5ms.
type typeLoad struct {
	writers  []typeWriter
	part     map[typeWriter]int // partition of each writer's key at the start
	stopping chan struct{}      // closed to stop: each writer finishes the write it is sending
	once     sync.Once
	wg       sync.WaitGroup
}

// newTypeWriters makes a writer of every type for each tag; every key of a writer holds
// its tag, so a writer's keys share a slot.
func newTypeWriters(tags []string) []typeWriter {
	var ws []typeWriter
	for _, tag := range tags {
		k := "{" + tag + "}:"
		ws = append(ws,
			&listWriter{key: k + "list"}, &setWriter{key: k + "set"}, &zsetWriter{key: k + "zset"},
			&hashWriter{key: k + "hash"}, &stringWriter{key: k + "str"}, &bitmapWriter{key: k + "bits"},
			&hllWriter{key: k + "hll"}, &streamWriter{key: k + "xs"}, &streamWriter{key: k + "xe", explicit: true},
			&groupReader{key: k + "xs"})
	}
	return ws
}

// tagsIn returns perPart hash tags for each partition of owner (slot → partition).
func tagsIn(owner []int, partitions, perPart int, prefix string) []string {
	var tags []string
	need := map[int]int{}
	for i := 0; len(tags) < partitions*perPart; i++ {
		tag := fmt.Sprintf("%s%d", prefix, i)
		if p := owner[slots.OfString(tag)]; need[p] < perPart {
			need[p]++
			tags = append(tags, tag)
		}
	}
	return tags
}

// startTypeLoad creates each stream's consumer group, then starts the writers.
func startTypeLoad(t *testing.T, c *typeClient, ws []typeWriter, owner []int) *typeLoad {
	t.Helper()
	ctx := context.Background()
	l := &typeLoad{writers: ws, part: map[typeWriter]int{}, stopping: make(chan struct{})}
	t.Cleanup(l.stop)
	for _, w := range ws {
		l.part[w] = owner[slots.OfString(w.keyName())]
		if g, ok := w.(*groupReader); ok {
			if _, err := c.read(ctx, "xgroup", "create", g.key, "g", "$", "mkstream"); err != nil {
				t.Fatalf("XGROUP CREATE %s: %v", g.key, err)
			}
		}
	}
	for _, w := range ws {
		l.wg.Go(func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-l.stopping:
					return
				case <-tick.C:
				}
				w.step(ctx, c, n)
			}
		})
	}
	return l
}

func (l *typeLoad) stop() {
	l.once.Do(func() { close(l.stopping) })
	l.wg.Wait()
}

// acks is every writer's count of acknowledged writes.
func (l *typeLoad) acks() map[typeWriter]int {
	out := map[typeWriter]int{}
	for _, w := range l.writers {
		out[w], _ = w.log().counts()
	}
	return out
}

// grew reports whether every writer of partition p (every one for -1) has at least n more
// acknowledged writes than in base.
func (l *typeLoad) grew(p int, base map[typeWriter]int, n int) bool {
	now := l.acks()
	for _, w := range l.writers {
		if (p < 0 || l.part[w] == p) && now[w] < base[w]+n {
			return false
		}
	}
	return true
}

// verify checks every writer's key after the load stopped, and logs per type how many
// writes were acknowledged, of unknown outcome and lost (any problem found).
func (l *typeLoad) verify(t *testing.T, c *typeClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type tally struct{ acked, unk, problems int }
	per := map[string]*tally{}
	var kinds []string
	for _, w := range l.writers {
		ty := per[w.kind()]
		if ty == nil {
			ty = &tally{}
			per[w.kind()] = ty
			kinds = append(kinds, w.kind())
		}
		a, u := w.log().counts()
		ty.acked += a
		ty.unk += u
		problems := w.verify(ctx, c)
		lg := w.log()
		lg.mu.Lock()
		for _, e := range lg.errs {
			problems = append(problems, "an error reply: "+e)
		}
		lg.mu.Unlock()
		ty.problems += len(problems)
		for i, p := range problems {
			if i == 5 {
				t.Errorf("%s %s: ... %d more", w.kind(), w.keyName(), len(problems)-5)
				break
			}
			t.Errorf("%s %s: %s", w.kind(), w.keyName(), p)
		}
		if a == 0 {
			t.Errorf("%s %s: no write acknowledged", w.kind(), w.keyName())
		}
	}
	var lines []string
	for _, k := range kinds {
		ty := per[k]
		lines = append(lines, fmt.Sprintf("%-22s %6d acknowledged, %3d of unknown outcome, %d problems", k, ty.acked, ty.unk, ty.problems))
	}
	t.Logf("writes per type:\n  %s\nredirects and errors met (followed, or the outcome recorded): %s", strings.Join(lines, "\n  "), c.counts())
}

// ---------------------------------------------------------------------------------------
// Keys with an expiry, of every type and encoding: what they hold, their type, encoding
// and absolute expiry must not change through a failover or a re-partitioning.

// staticKeys creates the keys with an expiry for tag and returns their names.
func staticKeys(ctx context.Context, t *testing.T, c *typeClient, tag string) []string {
	t.Helper()
	k := "{" + tag + "}:x:"
	many := func(prefix string, n int, pairs bool, score bool) []any {
		var out []any
		for i := range n {
			switch {
			case score:
				out = append(out, float64(i)/3, fmt.Sprintf("%s%d", prefix, i))
			case pairs:
				out = append(out, fmt.Sprintf("%s%d", prefix, i), i)
			default:
				out = append(out, fmt.Sprintf("%s%d", prefix, i))
			}
		}
		return out
	}
	cmds := [][]any{
		{"set", k + "int", "12345"},
		{"set", k + "embstr", "hello"},
		{"set", k + "raw", strings.Repeat("r", 100)},
		append([]any{"rpush", k + "listsmall"}, many("e", 5, false, false)...),
		append([]any{"rpush", k + "listbig"}, many("element-", 300, false, false)...),
		{"sadd", k + "intset", 1, 2, 3, 99},
		append([]any{"sadd", k + "setbig"}, many("m", 300, false, false)...),
		append([]any{"hset", k + "hashsmall"}, many("f", 5, true, false)...),
		append([]any{"hset", k + "hashbig"}, many("f", 300, true, false)...),
		append([]any{"zadd", k + "zsetsmall"}, many("z", 5, false, true)...),
		append([]any{"zadd", k + "zsetbig"}, many("z", 300, false, true)...),
		{"xadd", k + "stream", "5-1", "a", "1"},
		{"xadd", k + "stream", "6-2", "b", "2"},
		{"xgroup", "create", k + "stream", "g", "0"},
		{"xreadgroup", "group", "g", "c", "count", 1, "streams", k + "stream", ">"},
		append([]any{"pfadd", k + "hll"}, many("h", 50, false, false)...),
		{"setbit", k + "bits", 1000, 1},
	}
	for _, cmd := range cmds {
		if _, err := c.read(ctx, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for i, name := range []string{"int", "embstr", "raw", "listsmall", "listbig", "intset", "setbig", "hashsmall",
		"hashbig", "zsetsmall", "zsetbig", "stream", "hll", "bits"} {
		keys = append(keys, k+name)
		if _, err := c.read(ctx, "pexpire", k+name, 3_600_000+1000*i); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// keyState is everything of key that must not change: type, encoding, absolute expiry in
// ms, and the value read back by type.
func keyState(ctx context.Context, c *typeClient, key string) (string, error) {
	typ, err := c.read(ctx, "type", key)
	if err != nil {
		return "", err
	}
	enc, err := c.read(ctx, "object", "encoding", key)
	if err != nil {
		return "", err
	}
	at, err := c.read(ctx, "pexpiretime", key)
	if err != nil {
		return "", err
	}
	var val []string
	sorted := false
	switch typ {
	case "string":
		v, err := c.read(ctx, "get", key)
		if err != nil {
			return "", err
		}
		val = []string{fmt.Sprintf("%q", v)}
	case "list":
		val, err = c.strs(ctx, "lrange", key, 0, -1)
	case "set":
		val, err = c.strs(ctx, "smembers", key)
		sorted = true
	case "hash":
		var flat []string
		flat, err = c.strs(ctx, "hgetall", key)
		for i := 0; i+1 < len(flat); i += 2 {
			val = append(val, flat[i]+"="+flat[i+1])
		}
		sorted = true
	case "zset":
		val, err = c.strs(ctx, "zrange", key, 0, -1, "withscores")
	case "stream":
		var v, p any
		if v, err = c.read(ctx, "xrange", key, "-", "+"); err == nil {
			p, err = c.read(ctx, "xpending", key, "g")
		}
		val = []string{fmt.Sprint(v), fmt.Sprint(p)}
	}
	if err != nil {
		return "", err
	}
	if sorted {
		sort.Strings(val)
	}
	return fmt.Sprintf("type %v, encoding %v, expires at %v ms, value %v", typ, enc, at, val), nil
}

// keyStates reads keyState of every key.
func keyStates(t *testing.T, c *typeClient, keys []string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]string{}
	for _, k := range keys {
		s, err := keyState(ctx, c, k)
		if err != nil {
			t.Fatalf("reading %s: %v", k, err)
		}
		out[k] = s
	}
	return out
}

// checkKeyStates compares the keys' states now with before.
func checkKeyStates(t *testing.T, c *typeClient, before map[string]string) {
	t.Helper()
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	now := keyStates(t, c, keys)
	for _, k := range keys {
		if now[k] != before[k] {
			t.Errorf("key %s changed:\n  before %s\n  after  %s", k, clip(before[k]), clip(now[k]))
		}
	}
	t.Logf("%d keys with an expiry (every type and encoding) kept their type, encoding, expiry and value", len(keys))
}

func clip(s string) string {
	if len(s) > 400 {
		return s[:400] + "..."
	}
	return s
}

// writerKeys is every key the writers write, with its type.
func (l *typeLoad) writerKeys() map[string]string {
	keys := map[string]string{}
	for _, w := range l.writers {
		switch w := w.(type) {
		case *listWriter:
			keys[w.key] = "list"
		case *setWriter:
			keys[w.key] = "set"
		case *zsetWriter:
			keys[w.key] = "zset"
		case *hashWriter:
			keys[w.key] = "hash"
		case *stringWriter:
			keys[w.key], keys[w.key+":r"] = "string", "string"
		case *bitmapWriter, *hllWriter:
			keys[w.keyName()] = "string"
		case *streamWriter, *groupReader:
			keys[w.keyName()] = "stream"
		}
	}
	return keys
}

// expireWriterKeys gives every key the writers write an expiry an hour or so away (each
// its own) while they write, and returns the expiries in unix ms.
func (l *typeLoad) expireWriterKeys(t *testing.T, c *typeClient) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := map[string]int64{}
	base := time.Now().Add(time.Hour).UnixMilli()
	i := int64(0)
	for k := range l.writerKeys() {
		i++
		v, err := c.read(ctx, "pexpireat", k, base+i)
		if err != nil || v != int64(1) {
			t.Fatalf("PEXPIREAT %s: %v, %v", k, v, err)
		}
		at[k] = base + i
	}
	return at
}

// checkWriterKeys checks that every key the writers wrote has its type and the expiry
// expireWriterKeys gave it: no write, failover or move changed either.
func (l *typeLoad) checkWriterKeys(t *testing.T, c *typeClient, at map[string]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for k, typ := range l.writerKeys() {
		got, err := c.read(ctx, "type", k)
		if err != nil || got != typ {
			t.Errorf("TYPE %s = %v, %v; want %s", k, got, err, typ)
		}
		exp, err := c.read(ctx, "pexpiretime", k)
		if err != nil || exp != at[k] {
			t.Errorf("PEXPIRETIME %s = %v, %v; want %d", k, exp, err, at[k])
		}
	}
	t.Logf("%d keys written under the load kept their type and expiry", len(at))
}

// preloadPadding writes n keys of size bytes each, spread over every slot, to give slot
// moves something to copy; it returns their values by key.
func preloadPadding(t *testing.T, c *typeClient, n, size int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pad := map[string]string{}
	const batch = 500
	for i := 0; i < n; i += batch {
		cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := i; j < min(i+batch, n); j++ {
				k, v := fmt.Sprintf("pad:%d", j), fmt.Sprintf("%d:%s", j, strings.Repeat("p", size))
				pad[k] = v
				p.Set(ctx, k, v, 0)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("preloading padding keys: %v", err)
		}
		for _, cmd := range cmds {
			if cmd.Err() != nil {
				t.Fatalf("preloading padding keys: %v", cmd.Err())
			}
		}
	}
	return pad
}

// checkPadding reads every padding key back.
func checkPadding(t *testing.T, c *typeClient, pad map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bad := 0
	for k, want := range pad {
		got, err := c.read(ctx, "get", k)
		if err != nil || got != want {
			if bad++; bad <= 5 {
				t.Errorf("padding key %s reads %.20q, %v", k, fmt.Sprint(got), err)
			}
		}
	}
	t.Logf("%d padding keys read back, %d wrong or lost", len(pad), bad)
}
