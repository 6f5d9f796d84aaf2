package server

import (
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// Pub/sub as Redis 7.0 serves it in cluster mode: a classic PUBLISH reaches the
// subscribers (channels and patterns) of every instance of the grid, forwarded as Redis
// Cluster's bus does (pubsub_cluster.go), while its reply counts this instance's; shard channels hash to slots like keys and live on
// the primary that serves their slot, whose subscribers get "sunsubscribe" when the slot
// leaves it.
//
// Delivery never blocks a publisher: a connection that subscribes gets a queue and a
// goroutine that writes it to the socket; from then on its replies go through the queue
// too, so they stay in order with the messages. A subscriber whose queue outgrows the
// pubsub class of client-output-buffer-limit (hard limit, or soft limit for its seconds)
// is disconnected, as Redis does.

// outputLimit is one class of client-output-buffer-limit: hard bytes, soft bytes held for
// softFor; 0 disables a limit.
type outputLimit struct {
	hard, soft int64
	softFor    time.Duration
}

// defaultPubSubLimit is Redis's default for the pubsub class: 32mb 8mb 60.
var defaultPubSubLimit = outputLimit{hard: 32 << 20, soft: 8 << 20, softFor: 60 * time.Second}

// pubsubRegistry is every subscription of a server. mu guards the maps and the
// subscription sets of every subscriber (subState's sets).
type pubsubRegistry struct {
	mu         sync.RWMutex
	channels   map[string]map[*conn]struct{}
	patterns   map[string]map[*conn]struct{}
	shard      map[string]map[*conn]struct{}
	shardSlots map[int]map[string]struct{} // slot → its shard channels with subscribers

	limit       atomic.Pointer[outputLimit] // nil: defaultPubSubLimit
	disconnects atomic.Int64                // subscribers closed over the limit

	forwards forwarding // classic PUBLISH to the other instances (pubsub_cluster.go)
}

func (r *pubsubRegistry) outputLimit() outputLimit {
	if l := r.limit.Load(); l != nil {
		return *l
	}
	return defaultPubSubLimit
}

// subscription kinds, which index subState.sets.
const (
	kindChannel = iota
	kindPattern
	kindShard
)

// kindNames are the reply words of each kind: subscribe, unsubscribe, message.
var kindNames = [3][3]string{
	{"subscribe", "unsubscribe", "message"},
	{"psubscribe", "punsubscribe", "pmessage"},
	{"ssubscribe", "sunsubscribe", "smessage"},
}

// subState is a subscriber connection's subscriptions and output queue.
type subState struct {
	c *conn
	// sets are the connection's channels, patterns and shard channels (guarded by the
	// registry's mu); patterns keep their subscription order for PUNSUBSCRIBE.
	sets    [3]map[string]struct{}
	pattern []string
	total   atomic.Int32 // len of the three sets: > 0 is Redis's CLIENT_PUBSUB

	mu        sync.Mutex
	buf       []byte // waiting for the socket
	spare     []byte
	busy      int       // bytes in the socket write in progress
	softSince time.Time // since when the queue is over the soft limit
	dead      bool
	wake      chan struct{}
	done      chan struct{}
	exited    chan struct{}
}

// subscriber returns c's pub/sub state, creating it, and its writer goroutine, on the
// first subscription: c's replies then go through the queue.
func (c *conn) subscriber() *subState {
	if c.ps != nil {
		return c.ps
	}
	ps := &subState{c: c, wake: make(chan struct{}, 1), done: make(chan struct{}), exited: make(chan struct{})}
	for i := range ps.sets {
		ps.sets[i] = map[string]struct{}{}
	}
	c.ps = ps
	c.wr.SetStream(ps)
	go ps.pump()
	return ps
}

// subscribed reports whether c has any subscription (Redis's CLIENT_PUBSUB flag).
func (c *conn) subscribed() bool { return c.ps != nil && c.ps.total.Load() > 0 }

// Write queues replies of the connection's own commands (the Writer's stream).
func (ps *subState) Write(p []byte) (int, error) {
	if !ps.push(0, p) {
		return 0, errSubscriberClosed
	}
	return len(p), nil
}

type subscriberClosedError struct{}

func (subscriberClosedError) Error() string {
	return "subscriber closed for overcoming of output buffer limits"
}

var errSubscriberClosed error = subscriberClosedError{}

// push queues p, its first byte replaced by prefix unless prefix is 0, and closes the
// connection when the queue is over the limit; false: the connection is closed.
func (ps *subState) push(prefix byte, p []byte) bool {
	ps.mu.Lock()
	if ps.dead {
		ps.mu.Unlock()
		return false
	}
	if prefix != 0 {
		ps.buf = append(ps.buf, prefix)
		p = p[1:]
	}
	ps.buf = append(ps.buf, p...)
	if ps.total.Load() > 0 && ps.overLimit(ps.c.s.pubsub.outputLimit(), int64(len(ps.buf)+ps.busy)) {
		ps.dead = true
		ps.buf, ps.spare = nil, nil
		ps.mu.Unlock()
		s := ps.c.s
		s.pubsub.disconnects.Add(1)
		s.log.Warn("client closed for overcoming of output buffer limits", "client", ps.c.addr, "class", "pubsub")
		ps.c.nc.Close()
		return false
	}
	ps.mu.Unlock()
	select {
	case ps.wake <- struct{}{}:
	default:
	}
	return true
}

// overLimit applies l to a queue of n bytes (ps.mu held), as Redis's
// checkClientOutputBufferLimits does.
func (ps *subState) overLimit(l outputLimit, n int64) bool {
	if l.hard > 0 && n >= l.hard {
		return true
	}
	if l.soft > 0 && n >= l.soft {
		now := time.Now()
		if ps.softSince.IsZero() {
			ps.softSince = now
			return false
		}
		return now.Sub(ps.softSince) >= l.softFor
	}
	ps.softSince = time.Time{}
	return false
}

// pump writes the queue to the socket until the connection ends; then it writes what is
// left (QUIT's +OK), bounded by the deadline endPubSub sets.
func (ps *subState) pump() {
	defer close(ps.exited)
	for {
		ending := false
		select {
		case <-ps.wake:
		case <-ps.done:
			ending = true
		}
		ps.mu.Lock()
		b := ps.buf
		ps.buf, ps.spare = ps.spare[:0], nil
		ps.busy = len(b)
		ps.mu.Unlock()
		var err error
		if len(b) > 0 {
			_, err = ps.c.nc.Write(b)
		}
		ps.mu.Lock()
		ps.busy = 0
		if cap(b) <= 1<<20 && !ps.dead {
			ps.spare = b[:0] // a burst's huge buffer is not kept
		}
		ps.mu.Unlock()
		if err != nil {
			ps.c.nc.Close()
			return
		}
		if ending {
			return
		}
	}
}

// endPubSub drops c's subscriptions and lets its queue drain (for a second at most)
// before the connection closes.
func (c *conn) endPubSub() {
	ps := c.ps
	if ps == nil {
		return
	}
	r := &c.s.pubsub
	r.mu.Lock()
	for kind := range ps.sets {
		for name := range ps.sets[kind] {
			r.remove(kind, name, c)
		}
	}
	r.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	close(ps.done)
	<-ps.exited
}

// table is the registry's map of kind.
func (r *pubsubRegistry) table(kind int) *map[string]map[*conn]struct{} {
	switch kind {
	case kindPattern:
		return &r.patterns
	case kindShard:
		return &r.shard
	}
	return &r.channels
}

// add subscribes c to name (mu held); false: it already was.
func (r *pubsubRegistry) add(kind int, name string, c *conn) bool {
	ps := c.ps
	if _, ok := ps.sets[kind][name]; ok {
		return false
	}
	ps.sets[kind][name] = struct{}{}
	if kind == kindPattern {
		ps.pattern = append(ps.pattern, name)
	}
	ps.total.Add(1)
	t := r.table(kind)
	if *t == nil {
		*t = map[string]map[*conn]struct{}{}
	}
	subs := (*t)[name]
	if subs == nil {
		subs = map[*conn]struct{}{}
		(*t)[name] = subs
		if kind == kindShard {
			if r.shardSlots == nil {
				r.shardSlots = map[int]map[string]struct{}{}
			}
			slot := slots.OfString(name)
			if r.shardSlots[slot] == nil {
				r.shardSlots[slot] = map[string]struct{}{}
			}
			r.shardSlots[slot][name] = struct{}{}
		}
	}
	subs[c] = struct{}{}
	return true
}

// remove unsubscribes c from name (mu held); false: it was not subscribed.
func (r *pubsubRegistry) remove(kind int, name string, c *conn) bool {
	ps := c.ps
	if _, ok := ps.sets[kind][name]; !ok {
		return false
	}
	delete(ps.sets[kind], name)
	if kind == kindPattern {
		for i, p := range ps.pattern {
			if p == name {
				ps.pattern = append(ps.pattern[:i], ps.pattern[i+1:]...)
				break
			}
		}
	}
	ps.total.Add(-1)
	t := r.table(kind)
	subs := (*t)[name]
	delete(subs, c)
	if len(subs) == 0 {
		delete(*t, name)
		if kind == kindShard {
			slot := slots.OfString(name)
			delete(r.shardSlots[slot], name)
			if len(r.shardSlots[slot]) == 0 {
				delete(r.shardSlots, slot)
			}
		}
	}
	return true
}

// count is Redis's subscription count of a reply: channels and patterns for the classic
// kinds, shard channels for the shard kind (mu held).
func (ps *subState) count(kind int) int {
	if kind == kindShard {
		return len(ps.sets[kindShard])
	}
	return len(ps.sets[kindChannel]) + len(ps.sets[kindPattern])
}

// appendBulk appends a RESP bulk string.
func appendBulk(b []byte, s []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// publish delivers msg on channel to kind's subscribers (kindChannel: and to the
// matching patterns) and returns how many received it; it never waits for a subscriber.
func (s *Server) publish(kind int, channel, msg []byte) int64 {
	r := &s.pubsub
	r.mu.RLock()
	defer r.mu.RUnlock()
	var n int64
	var body []byte // RESP2 encoding; RESP3 subscribers get '>' for its first byte
	deliver := func(c *conn) {
		prefix := byte('*')
		if c.proto.Load() == 3 {
			prefix = '>'
		}
		c.ps.push(prefix, body)
		n++
	}
	if subs := (*r.table(kind))[string(channel)]; len(subs) > 0 {
		body = append(body, "*3\r\n"...)
		body = appendBulk(body, []byte(kindNames[kind][2]))
		body = appendBulk(body, channel)
		body = appendBulk(body, msg)
		for c := range subs {
			deliver(c)
		}
	}
	if kind != kindChannel {
		return n
	}
	for pat, subs := range r.patterns {
		if !channelMatch([]byte(pat), channel) {
			continue
		}
		body = append(body[:0], "*4\r\n"...)
		body = appendBulk(body, []byte("pmessage"))
		body = appendBulk(body, []byte(pat))
		body = appendBulk(body, channel)
		body = appendBulk(body, msg)
		for c := range subs {
			deliver(c)
		}
	}
	return n
}

// channelMatch is Redis's stringmatchlen for a pattern subscription, which (unlike KEYS)
// matches the empty channel with the empty pattern only.
func channelMatch(pattern, channel []byte) bool {
	if len(channel) == 0 {
		return len(pattern) == 0
	}
	return store.Match(pattern, channel)
}

// servingPartition is the partition that serves slot's shard channels: its owner, or the
// slot's target once the move is handed off, as Redis serves them at the source until the
// slot is assigned to the target.
func servingPartition(v *cluster.View, slot int) *cluster.PartitionView {
	if mv := v.Move(slot); mv != nil && mv.State == cluster.MoveHandoff {
		return mv.To
	}
	return v.Owner(slot)
}

// routeShard routes a shard channel command on slot: served by this instance when it is
// the primary of the partition serving the slot, otherwise MOVED or CLUSTERDOWN.
func (s *Server) routeShard(c *conn, v *cluster.View, slot int) bool {
	p := servingPartition(v, slot)
	if p != nil && p.ID == s.cfg.Partition {
		return s.admitOwn(c, slot)
	}
	if p == nil || p.Primary == nil {
		c.wr.Error(errClusterDown)
		return false
	}
	c.wr.Error("MOVED " + strconv.Itoa(slot) + " " + p.Primary.ClientAddress(c.tls))
	return false
}

// dropMovedShardChannels unsubscribes, with a "sunsubscribe" message, the subscribers of
// the shard channels whose slot this instance no longer serves under v (moved to another
// partition, or this instance is no longer its partition's primary), as Redis 7.0 does
// when a node loses a slot.
func (s *Server) dropMovedShardChannels(v *cluster.View) {
	r := &s.pubsub
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.shardSlots) == 0 {
		return
	}
	redirect, _ := s.cfg.Replication.Admit() // an error (a failover in progress) keeps them
	for slot, names := range r.shardSlots {
		if p := servingPartition(v, slot); redirect == "" && p != nil && p.ID == s.cfg.Partition {
			continue
		}
		// In name order, so a subscriber of several gets its messages in a stable order.
		for _, name := range slices.Sorted(maps.Keys(names)) {
			for c := range r.shard[name] {
				r.remove(kindShard, name, c)
				var b []byte
				b = append(b, "*3\r\n"...)
				b = appendBulk(b, []byte("sunsubscribe"))
				b = appendBulk(b, []byte(name))
				b = append(b, ':')
				b = strconv.AppendInt(b, int64(c.ps.count(kindShard)), 10)
				b = append(b, '\r', '\n')
				prefix := byte('*')
				if c.proto.Load() == 3 {
					prefix = '>'
				}
				c.ps.push(prefix, b)
			}
		}
	}
}

// pubsubInfo is the pub/sub part of INFO stats.
func (s *Server) pubsubInfo() [][2]string {
	r := &s.pubsub
	r.mu.RLock()
	ch, pat, sh := len(r.channels), len(r.patterns), len(r.shard)
	r.mu.RUnlock()
	return [][2]string{
		{"pubsub_channels", strconv.Itoa(ch)},
		{"pubsub_patterns", strconv.Itoa(pat)},
		{"pubsubshard_channels", strconv.Itoa(sh)},
		{"client_output_buffer_limit_disconnections", strconv.FormatInt(r.disconnects.Load(), 10)},
		s.forwardInfo(),
	}
}
