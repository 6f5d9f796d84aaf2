package store

import (
	"fmt"
	"sort"

	"github.com/google/btree"
)

// Consumer groups, as Redis 7.0 keeps them: per group its last delivered ID, its
// entries-read counter, its pending entries list (PEL) and its consumers, each with its
// own PEL of the same pending entries. Both PELs are B-trees by ID, so acknowledging or
// claiming an entry is O(log n).
const (
	groupHeap    = 192
	consumerHeap = 160
	nackHeap     = 96
	pelDegree    = 16
	// noEntriesRead is SCG_INVALID_ENTRIES_READ: the group's entries-read is unknown.
	noEntriesRead = -1
)

type nack struct {
	id    StreamID
	time  int64 // last delivery, unix ms
	count int64 // deliveries
	c     *consumer
}

func nackLess(a, b *nack) bool { return a.id.Less(b.id) }

type consumer struct {
	name   string
	seen   int64 // seen-time: last read or claim attempt
	active int64 // active-time: last successful read or claim
	pel    *btree.BTreeG[*nack]
}

type group struct {
	name      string
	last      StreamID
	read      int64
	pel       *btree.BTreeG[*nack]
	consumers []*consumer // by name
}

func newPEL() *btree.BTreeG[*nack] { return btree.NewG(pelDegree, nackLess) }

// group returns the group named name; nil when absent.
func (st *stream) group(name []byte) *group {
	i := sort.Search(len(st.groups), func(i int) bool { return st.groups[i].name >= string(name) })
	if i < len(st.groups) && st.groups[i].name == string(name) {
		return st.groups[i]
	}
	return nil
}

// addGroup adds a group (the name is new).
func (s *Store) addGroup(st *stream, name []byte, last StreamID, read int64) *group {
	g := &group{name: string(name), last: last, read: read, pel: newPEL()}
	i := sort.Search(len(st.groups), func(i int) bool { return st.groups[i].name >= g.name })
	st.groups = append(st.groups, nil)
	copy(st.groups[i+1:], st.groups[i:])
	st.groups[i] = g
	st.account(s, groupHeap+int64(len(name)))
	return g
}

// delGroup removes a group with its PEL and consumers.
func (s *Store) delGroup(st *stream, g *group) {
	for i, x := range st.groups {
		if x == g {
			st.groups = append(st.groups[:i], st.groups[i+1:]...)
			break
		}
	}
	n := int64(groupHeap + len(g.name) + nackHeap*g.pel.Len())
	for _, c := range g.consumers {
		n += int64(consumerHeap + len(c.name))
	}
	st.account(s, -n)
}

// consumer returns the consumer named name of g; nil when absent.
func (g *group) consumer(name []byte) *consumer {
	i := sort.Search(len(g.consumers), func(i int) bool { return g.consumers[i].name >= string(name) })
	if i < len(g.consumers) && g.consumers[i].name == string(name) {
		return g.consumers[i]
	}
	return nil
}

// addConsumer returns the consumer named name, created (seen and active now) when
// absent; created reports which.
func (s *Store) addConsumer(st *stream, g *group, name []byte, now int64) (c *consumer, created bool) {
	if c := g.consumer(name); c != nil {
		return c, false
	}
	c = &consumer{name: string(name), seen: now, active: -1, pel: newPEL()}
	i := sort.Search(len(g.consumers), func(i int) bool { return g.consumers[i].name >= c.name })
	g.consumers = append(g.consumers, nil)
	copy(g.consumers[i+1:], g.consumers[i:])
	g.consumers[i] = c
	st.account(s, consumerHeap+int64(len(name)))
	return c, true
}

// delConsumer removes a consumer and its pending entries from g.
func (s *Store) delConsumer(st *stream, g *group, c *consumer) {
	c.pel.Ascend(func(n *nack) bool {
		g.pel.Delete(n)
		return true
	})
	st.account(s, -int64(consumerHeap+len(c.name)+nackHeap*c.pel.Len()))
	for i, x := range g.consumers {
		if x == c {
			g.consumers = append(g.consumers[:i], g.consumers[i+1:]...)
			break
		}
	}
}

// deliver makes id pending for c (delivered at now, count times; count < 0: one more
// time than before), moving it from another consumer when it was pending there.
func (s *Store) deliver(st *stream, g *group, c *consumer, id StreamID, now, count int64) *nack {
	n, ok := g.pel.Get(&nack{id: id})
	if !ok {
		n = &nack{id: id}
		g.pel.ReplaceOrInsert(n)
		st.account(s, nackHeap)
	}
	if n.c != c {
		if n.c != nil {
			n.c.pel.Delete(n)
		}
		n.c = c
		c.pel.ReplaceOrInsert(n)
	}
	n.time = now
	if count >= 0 {
		n.count = count
	} else {
		n.count++
	}
	return n
}

// ack removes id from g's PELs; it reports whether it was pending.
func (s *Store) ack(st *stream, g *group, id StreamID) bool {
	n, ok := g.pel.Delete(&nack{id: id})
	if !ok {
		return false
	}
	n.c.pel.Delete(n)
	st.account(s, -nackHeap)
	return true
}

// noGroup is the NOGROUP error of XREADGROUP, XCLAIM, XAUTOCLAIM and XPENDING.
func noGroup(key, name []byte, suffix string) error {
	return replyError(fmt.Sprintf("NOGROUP No such key '%s' or consumer group '%s'%s", key, name, suffix))
}

// noGroupFor is the NOGROUP error of XGROUP and XINFO, for an existing key.
func noGroupFor(key, name []byte) error {
	return replyError(fmt.Sprintf("NOGROUP No such consumer group '%s' for key name '%s'", name, key))
}

// groupFor returns the stream at key and its group name for writing; it fails with err
// (a NOGROUP error) when either is missing.
func (s *Store) groupFor(sl *slot, key, name []byte, write bool, missing error) (*stream, *group, error) {
	st, _, err := s.streamFor(sl, key, write)
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, nil, missing
	}
	g := st.group(name)
	if g == nil {
		return nil, nil, missing
	}
	return st, g, nil
}

// rangeHasTombstones is Redis's streamRangeHasTombstones: whether an entry between start
// and the end was deleted.
func (st *stream) rangeHasTombstones(start StreamID) bool {
	if st.length == 0 || st.maxDeleted.IsZero() || st.maxDeleted.Less(st.first) {
		return false
	}
	return !st.maxDeleted.Less(start)
}

// estimateRead is Redis's streamEstimateDistanceFromFirstEverEntry: the entries-read
// counter of id when it can be known, noEntriesRead otherwise.
func (st *stream) estimateRead(id StreamID) int64 {
	if st.added == 0 {
		return 0
	}
	if st.length == 0 && !st.last.Less(id) {
		return st.added
	}
	switch c := id.Cmp(st.last); {
	case c == 0:
		return st.added
	case c > 0:
		return noEntriesRead
	}
	if st.maxDeleted.IsZero() || st.maxDeleted.Less(st.first) {
		switch c := id.Cmp(st.first); {
		case c < 0:
			return st.added - st.length
		case c == 0:
			return st.added - st.length + 1
		}
	}
	return noEntriesRead
}

// lag is a group's lag as XINFO reports it; ok is false when it cannot be known.
func (st *stream) lag(g *group) (int64, bool) {
	if st.added == 0 {
		return 0, true
	}
	if g.read != noEntriesRead && !st.rangeHasTombstones(g.last) {
		return st.added - g.read, true
	}
	if r := st.estimateRead(g.last); r != noEntriesRead {
		return st.added - r, true
	}
	return 0, false
}

// XGroupCreate creates the group name at key reading after id (last: after the stream's
// last ID), with entries-read read (-1: unknown); mkstream creates an empty stream.
func (s *Store) XGroupCreate(key, name []byte, id StreamID, last, mkstream bool, read int64) error {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, _, err := s.streamFor(sl, key, true)
	if err != nil {
		return err
	}
	if st == nil && !mkstream {
		return ErrStreamKeyMissing
	}
	if st != nil && st.group(name) != nil {
		return ErrBusyGroup
	}
	if err := s.room(groupHeap + len(name) + recordLen(key, 0, 8) + streamHeap); err != nil {
		return err
	}
	if st == nil {
		if st, err = s.newStream(sl, key, 0); err != nil {
			return err
		}
		s.journalXMeta(sl, key, st)
	}
	if last {
		id = st.last
	}
	g := s.addGroup(st, name, id, read)
	s.journalXGroup(sl, key, g)
	return nil
}

// XGroupSetID sets the group's last delivered ID (last: the stream's last ID) and
// entries-read.
func (s *Store) XGroupSetID(key, name []byte, id StreamID, last bool, read int64) error {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.xgroupTarget(sl, key, name, true)
	if err != nil {
		return err
	}
	if last {
		id = st.last
	}
	g.last, g.read = id, read
	s.journalXGroup(sl, key, g)
	return nil
}

// xgroupTarget finds key and group name for XGROUP's subcommands: a missing key or
// (with needGroup) group is an error in XGROUP's words.
func (s *Store) xgroupTarget(sl *slot, key, name []byte, needGroup bool) (*stream, *group, error) {
	st, _, err := s.streamFor(sl, key, true)
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		return nil, nil, ErrStreamKeyMissing
	}
	g := st.group(name)
	if g == nil && needGroup {
		return nil, nil, noGroupFor(key, name)
	}
	return st, g, nil
}

// XGroupDestroy removes the group; it reports whether there was one.
func (s *Store) XGroupDestroy(key, name []byte) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.xgroupTarget(sl, key, name, false)
	if err != nil || g == nil {
		return false, err
	}
	s.delGroup(st, g)
	s.journalXGroupDel(sl, key, name, nil)
	return true, nil
}

// XGroupCreateConsumer creates a consumer; it reports whether it was new.
func (s *Store) XGroupCreateConsumer(key, name, cname []byte) (bool, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.xgroupTarget(sl, key, name, true)
	if err != nil {
		return false, err
	}
	if g.consumer(cname) != nil {
		return false, nil
	}
	if err := s.room(consumerHeap + len(cname)); err != nil {
		return false, err
	}
	c, _ := s.addConsumer(st, g, cname, s.clock())
	s.journalXClaim(sl, key, g, c, nil)
	return true, nil
}

// XGroupDelConsumer removes a consumer and returns how many entries it had pending.
func (s *Store) XGroupDelConsumer(key, name, cname []byte) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.xgroupTarget(sl, key, name, true)
	if err != nil {
		return 0, err
	}
	c := g.consumer(cname)
	if c == nil {
		return 0, nil
	}
	n := int64(c.pel.Len())
	s.delConsumer(st, g, c)
	s.journalXGroupDel(sl, key, name, cname)
	return n, nil
}

// XReadGroupID is where XREADGROUP reads one stream from: New (">") for entries never
// delivered to the group, otherwise the consumer's pending entries after ID.
type XReadGroupID struct {
	ID  StreamID
	New bool
}

// XReadGroupCheck checks XREADGROUP's keys as Redis does before reading: each must be a
// stream with the group. It is the first half of XReadGroup, for a caller that must
// report errors before it decides to block.
func (s *Store) XReadGroupCheck(keys [][]byte, name []byte) error {
	for _, k := range keys {
		sl := s.slotOf(k)
		sl.mu.RLock()
		_, _, err := s.groupFor(sl, k, name, false, noGroup(k, name, " in XREADGROUP with GROUP option"))
		sl.mu.RUnlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// XReadGroup serves XREADGROUP: for each key, up to count entries (0: all). Streams read
// with New that have nothing new are left out of the result; an empty result is where
// XREADGROUP BLOCK would block. Reading registers (or refreshes) the consumer.
func (s *Store) XReadGroup(keys [][]byte, ids []XReadGroupID, name, cname []byte, count int64, noack bool) ([]XReadResult, error) {
	var out []XReadResult
	for i, k := range keys {
		res, served, err := s.xreadGroupOne(k, ids[i], name, cname, count, noack)
		if err != nil {
			return out, err
		}
		if served {
			out = append(out, res)
		}
	}
	return out, nil
}

func (s *Store) xreadGroupOne(key []byte, at XReadGroupID, name, cname []byte, count int64, noack bool) (XReadResult, bool, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.groupFor(sl, key, name, true, noGroup(key, name, " in XREADGROUP with GROUP option"))
	if err != nil {
		return XReadResult{}, false, err
	}
	if at.New && (st.length == 0 || !g.last.Less(s.lastLive(st))) {
		// Nothing to serve: Redis 7.0 does not register the consumer then.
		return XReadResult{}, false, nil
	}
	// Like Redis, which does not refuse XREADGROUP, XCLAIM or XAUTOCLAIM past maxmemory,
	// deliveries are not limited: they grow the PELs by little.
	now := s.clock()
	c, _ := s.addConsumer(st, g, cname, now)
	c.seen = now
	res := XReadResult{Key: cloneBytes(key), Entries: []StreamEntry{}}
	var delivered []*nack
	if !at.New {
		start, _ := at.ID.Incr()
		c.pel.AscendGreaterOrEqual(&nack{id: start}, func(n *nack) bool {
			if count > 0 && int64(len(res.Entries)) >= count {
				return false
			}
			e, ok := s.streamGet(st, n.id)
			if !ok {
				res.Entries = append(res.Entries, StreamEntry{ID: n.id})
				return true
			}
			n.time = now
			n.count++
			delivered = append(delivered, n)
			res.Entries = append(res.Entries, e)
			return true
		})
		if len(delivered) > 0 {
			c.active = now
		}
		s.journalXClaim(sl, key, g, c, delivered)
		return res, true, nil
	}
	start, _ := g.last.Incr()
	es := s.streamRange(st, start, MaxStreamID, count, false)
	for _, e := range es {
		if g.read != noEntriesRead && !st.rangeHasTombstones(e.ID) {
			g.read++
		} else if st.added > 0 {
			g.read = st.estimateRead(e.ID)
		}
		g.last = e.ID
		if !noack {
			delivered = append(delivered, s.deliver(st, g, c, e.ID, now, 1))
		}
	}
	if len(es) > 0 {
		c.active = now
	}
	s.journalXClaim(sl, key, g, c, delivered)
	res.Entries = es
	return res, true, nil
}

// XAck acknowledges ids in the group and returns how many were pending.
func (s *Store) XAck(key, name []byte, ids []StreamID) (int64, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.groupFor(sl, key, name, true, nil)
	if g == nil {
		return 0, err
	}
	var done []StreamID
	for _, id := range ids {
		if s.ack(st, g, id) {
			done = append(done, id)
		}
	}
	if len(done) > 0 {
		s.journalXAck(sl, key, name, done)
	}
	return int64(len(done)), nil
}

// PendingSummary is XPENDING's summary form.
type PendingSummary struct {
	Count       int64
	First, Last StreamID
	Consumers   []ConsumerCount
}

// ConsumerCount is a consumer with its number of pending entries.
type ConsumerCount struct {
	Name  string
	Count int64
}

// PendingEntry is a pending entry as XPENDING's extended form reports it.
type PendingEntry struct {
	ID       StreamID
	Consumer string
	Idle     int64
	Count    int64
}

// XPendingSummary reports the group's PEL in summary.
func (s *Store) XPendingSummary(key, name []byte) (PendingSummary, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	_, g, err := s.groupFor(sl, key, name, false, noGroup(key, name, ""))
	if err != nil {
		return PendingSummary{}, err
	}
	p := PendingSummary{Count: int64(g.pel.Len())}
	if p.Count == 0 {
		return p, nil
	}
	mn, _ := g.pel.Min()
	mx, _ := g.pel.Max()
	p.First, p.Last = mn.id, mx.id
	for _, c := range g.consumers {
		if c.pel.Len() > 0 {
			p.Consumers = append(p.Consumers, ConsumerCount{Name: c.name, Count: int64(c.pel.Len())})
		}
	}
	return p, nil
}

// XPendingRange reports up to count pending entries from start to end, idle at least
// minIdle ms, of the group or (cname non-nil) of one consumer.
func (s *Store) XPendingRange(key, name []byte, start, end StreamID, count, minIdle int64, cname []byte) ([]PendingEntry, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	_, g, err := s.groupFor(sl, key, name, false, noGroup(key, name, ""))
	if err != nil {
		return nil, err
	}
	pel := g.pel
	if cname != nil {
		c := g.consumer(cname)
		if c == nil {
			return nil, nil
		}
		pel = c.pel
	}
	now := s.clock()
	var out []PendingEntry
	pel.AscendGreaterOrEqual(&nack{id: start}, func(n *nack) bool {
		if count <= 0 || end.Less(n.id) {
			return false
		}
		if minIdle > 0 && now-n.time < minIdle {
			return true
		}
		count--
		out = append(out, PendingEntry{ID: n.id, Consumer: n.c.name, Idle: max(now-n.time, 0), Count: n.count})
		return true
	})
	return out, nil
}

// XClaimArgs are XCLAIM's options.
type XClaimArgs struct {
	MinIdle    int64
	Time       int64 // delivery time to set; -1: now
	RetryCount int64 // -1: not given
	Force      bool
	JustID     bool
	LastID     StreamID
}

// XClaimed is one entry XCLAIM or XAUTOCLAIM claimed: its ID, and unless JUSTID the
// entry (Missing when it has gone from the stream).
type XClaimed struct {
	Entry   StreamEntry
	Missing bool
}

// XClaim claims ids for consumer cname as XCLAIM does.
func (s *Store) XClaim(key, name, cname []byte, ids []StreamID, a XClaimArgs) ([]XClaimed, error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.groupFor(sl, key, name, true, noGroup(key, name, ""))
	if err != nil {
		return nil, err
	}
	now := s.clock()
	when := a.Time
	if when < 0 || when > now {
		when = now
	}
	if g.last.Less(a.LastID) {
		g.last = a.LastID
		s.journalXGroup(sl, key, g)
	}
	var c *consumer
	var out []XClaimed
	var claimed []*nack
	var gone []StreamID
	for _, id := range ids {
		n, pending := g.pel.Get(&nack{id: id})
		if !s.streamHas(st, id) {
			if pending && s.ack(st, g, id) {
				gone = append(gone, id)
			}
			continue
		}
		if !pending && !a.Force {
			continue
		}
		if pending && n.c != nil && a.MinIdle > 0 && now-n.time < a.MinIdle {
			continue
		}
		if c == nil {
			c, _ = s.addConsumer(st, g, cname, now)
			c.seen = now
		}
		// A PEL entry FORCE creates starts with one delivery, as in Redis.
		cnt := int64(1)
		if pending {
			cnt = n.count
		}
		switch {
		case a.RetryCount >= 0:
			cnt = a.RetryCount
		case !a.JustID:
			cnt++
		}
		claimed = append(claimed, s.deliver(st, g, c, id, when, cnt))
		cl := XClaimed{Entry: StreamEntry{ID: id}}
		if !a.JustID {
			cl.Entry, _ = s.streamGet(st, id)
		}
		out = append(out, cl)
	}
	if len(gone) > 0 {
		s.journalXAck(sl, key, name, gone)
	}
	if c != nil {
		if !a.JustID {
			c.active = now
		}
		s.journalXClaim(sl, key, g, c, claimed)
	}
	return out, nil
}

// XAutoClaim claims up to count pending entries from start idle at least minIdle ms for
// consumer cname, as XAUTOCLAIM does; it returns them, the cursor to go on from and the
// IDs it found deleted from the stream (and removed from the PEL).
func (s *Store) XAutoClaim(key, name, cname []byte, minIdle int64, start StreamID, count int64, justID bool) (out []XClaimed, next StreamID, deleted []StreamID, err error) {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	st, g, err := s.groupFor(sl, key, name, true, noGroup(key, name, ""))
	if err != nil {
		return nil, next, nil, err
	}
	now := s.clock()
	attempts := count * 10
	var c *consumer
	var claimed []*nack
	var visit []*nack
	g.pel.AscendGreaterOrEqual(&nack{id: start}, func(n *nack) bool {
		if attempts == 0 || count == 0 {
			next = n.id
			return false
		}
		attempts--
		visit = append(visit, n)
		if !s.streamHas(st, n.id) {
			deleted = append(deleted, n.id)
			count--
			return true
		}
		if minIdle > 0 && now-n.time < minIdle {
			return true
		}
		count--
		return true
	})
	gone := 0
	for _, n := range visit {
		if gone < len(deleted) && deleted[gone] == n.id {
			s.ack(st, g, n.id)
			gone++
			continue
		}
		if minIdle > 0 && now-n.time < minIdle {
			continue
		}
		if c == nil {
			c, _ = s.addConsumer(st, g, cname, now)
			c.seen = now
		}
		cnt := int64(-1)
		if justID {
			cnt = n.count
		}
		claimed = append(claimed, s.deliver(st, g, c, n.id, now, cnt))
		cl := XClaimed{Entry: StreamEntry{ID: n.id}}
		if !justID {
			cl.Entry, _ = s.streamGet(st, n.id)
		}
		out = append(out, cl)
	}
	if len(deleted) > 0 {
		s.journalXAck(sl, key, name, deleted)
	}
	if c != nil {
		if !justID {
			c.active = now
		}
		s.journalXClaim(sl, key, g, c, claimed)
	}
	return out, next, deleted, nil
}

// GroupInfo is a group as XINFO GROUPS (and STREAM FULL) report it.
type GroupInfo struct {
	Name      string
	Consumers int64
	Pending   int64
	Last      StreamID
	Read      int64 // -1: unknown
	Lag       int64
	LagKnown  bool
	// PEL and ConsumerList are filled for XINFO STREAM FULL.
	PEL          []PendingEntry // Idle holds the delivery time
	ConsumerList []ConsumerInfo
}

// ConsumerInfo is a consumer as XINFO CONSUMERS (and STREAM FULL) report it.
type ConsumerInfo struct {
	Name    string
	Pending int64
	Seen    int64 // unix ms
	Active  int64 // unix ms, -1: never
	PEL     []PendingEntry
}

func (s *Store) groupInfo(st *stream, g *group, full bool, count int64) GroupInfo {
	gi := GroupInfo{Name: g.name, Consumers: int64(len(g.consumers)), Pending: int64(g.pel.Len()), Last: g.last, Read: g.read}
	gi.Lag, gi.LagKnown = st.lag(g)
	if !full {
		return gi
	}
	pel := func(t *btree.BTreeG[*nack]) []PendingEntry {
		out := []PendingEntry{}
		t.Ascend(func(n *nack) bool {
			if count > 0 && int64(len(out)) >= count {
				return false
			}
			out = append(out, PendingEntry{ID: n.id, Consumer: n.c.name, Idle: n.time, Count: n.count})
			return true
		})
		return out
	}
	gi.PEL = pel(g.pel)
	gi.ConsumerList = []ConsumerInfo{}
	for _, c := range g.consumers {
		gi.ConsumerList = append(gi.ConsumerList, ConsumerInfo{Name: c.name, Pending: int64(c.pel.Len()), Seen: c.seen, Active: c.active, PEL: pel(c.pel)})
	}
	return gi
}

// XInfoGroups reports the groups of the stream at key (ErrNoSuchKey without one).
func (s *Store) XInfoGroups(key []byte) ([]GroupInfo, error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	st, _, err := s.streamFor(sl, key, false)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, ErrNoSuchKey
	}
	out := []GroupInfo{}
	for _, g := range st.groups {
		out = append(out, s.groupInfo(st, g, false, 0))
	}
	return out, nil
}

// XInfoConsumers reports the consumers of a group; now is the store's clock, to compute
// idle times from.
func (s *Store) XInfoConsumers(key, name []byte) (cs []ConsumerInfo, now int64, err error) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	st, _, err := s.streamFor(sl, key, false)
	if err != nil {
		return nil, 0, err
	}
	if st == nil {
		return nil, 0, ErrNoSuchKey
	}
	g := st.group(name)
	if g == nil {
		return nil, 0, noGroupFor(key, name)
	}
	cs = []ConsumerInfo{}
	for _, c := range g.consumers {
		cs = append(cs, ConsumerInfo{Name: c.name, Pending: int64(c.pel.Len()), Seen: c.seen, Active: c.active})
	}
	return cs, s.clock(), nil
}
