package wan

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
	"github.com/insightgrid/insight/grid/wan/hlc"
)

// Mode is what a partition does when its outbox reaches its bound.
type Mode string

// The outbox modes.
const (
	// ModeBlock makes the replies to writes wait until the outbox is below its bound.
	ModeBlock Mode = "block"
	// ModeOutOfSync marks the slowest target site out of sync for the partition: the
	// outbox stops holding changes for it, and it is repaired by a resynchronization of
	// every key newer than its acknowledged timestamp, scanned from the key metadata.
	ModeOutOfSync Mode = "mark-out-of-sync"
)

// ParseMode parses an outbox mode.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeBlock, ModeOutOfSync:
		return Mode(s), nil
	}
	return "", fmt.Errorf("%q: want %s or %s", s, ModeBlock, ModeOutOfSync)
}

// Config is a data instance's WAN replication.
type Config struct {
	Site         string   // this site's name
	Targets      []string // the sites this one sends its writes to
	OutboxMax    int      // the most keys an outbox holds for the in-sync targets
	Mode         Mode
	TombstoneTTL time.Duration // how long a deleted key's metadata is kept at least
	// Policies are the conflict policies per key pattern, the first match wins;
	// last-writer-wins for a key none matches. Every site must have the same.
	Policies []Rule
	// Resolve calls a lua: policy's function (nil: NewLuaResolver's of Store).
	Resolve Resolver
	Store   *store.Store
	Now     func() time.Time // nil: time.Now
}

// Validate checks the configuration; the names are the data role's flags.
func (c Config) Validate() error {
	var errs []error
	if err := CheckSite(c.Site); err != nil {
		errs = append(errs, fmt.Errorf("--wan-site %w", err))
	}
	seen := map[string]bool{}
	for _, t := range c.Targets {
		if err := CheckSite(t); err != nil {
			errs = append(errs, fmt.Errorf("--wan-targets %w", err))
		}
		if t == c.Site {
			errs = append(errs, fmt.Errorf("--wan-targets names this site %q: a site does not replicate to itself", t))
		}
		if seen[t] {
			errs = append(errs, fmt.Errorf("--wan-targets names %q twice", t))
		}
		seen[t] = true
	}
	if c.OutboxMax < 1 {
		errs = append(errs, fmt.Errorf("--wan-outbox-max %d: must be at least 1", c.OutboxMax))
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		errs = append(errs, fmt.Errorf("--wan-outbox-full %w", err))
	}
	if c.TombstoneTTL < time.Second {
		errs = append(errs, fmt.Errorf("--wan-tombstone-ttl %s: must be at least 1s", c.TombstoneTTL))
	}
	if err := CheckRules(c.Policies); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CheckSite checks a site name: 1-32 of [a-z0-9-].
func CheckSite(s string) error {
	if len(s) == 0 || len(s) > 32 {
		return fmt.Errorf("%q: a site name is 1 to 32 characters of a-z, 0-9 and '-'", s)
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("%q: a site name is 1 to 32 characters of a-z, 0-9 and '-'", s)
		}
	}
	return nil
}

// entry is a key's conflict metadata: the timestamp and site of the write it holds.
type entry struct {
	hlc  uint64
	site uint16 // index in Tracker.sites; 0 is this site
}

// qent is a local write in the outbox queue: live while its key's entry still has hlc.
type qent struct {
	hlc uint64
	key string
}

// target is what a target site has acknowledged of this partition.
type target struct {
	acked     uint64 // every local write up to this timestamp is applied there
	outOfSync bool   // marked by a full outbox, until it acknowledged what the outbox holds
	dropped   bool   // the outbox holds nothing for it (marked, and no complete rescan since)
	marked    uint64 // times it was marked out of sync
}

// Journal records a WAN operation in the partition's replication stream.
type Journal func(slot int, op []byte)

// Operation codes of the WAN metadata in the replication stream, above the store's.
const (
	opMeta   byte = 0xF0 // key, hlc, site: the key's metadata
	opTarget byte = 0xF1 // site, acked, flags (1 out of sync, 2 dropped), marked: a target's state
	opForget byte = 0xF2 // key: the key left this partition (a slot moving out)
	opState  byte = 0xF3 // key, state: the key's merge-policy state (pn-counter, add-wins)
	opLocal  byte = 0xF4 // key, hlc, effect, value, n×member: a local write's effect on the key's merge state
)

// StampedKey returns the key op stamps when op is a key's metadata or a local write's
// effect (which carries the stamp): a replay of a journal learns from it that the key's
// change before it got its stamp.
func StampedKey(op []byte) ([]byte, bool) {
	if len(op) == 0 || op[0] != opMeta && op[0] != opLocal {
		return nil, false
	}
	r := reader{b: op[1:]}
	key := r.bytes()
	return key, r.err == nil
}

// IsOp reports whether op is a WAN metadata operation (ApplyOp's), not the store's.
func IsOp(op []byte) bool { return len(op) > 0 && op[0] >= opMeta && op[0] <= opLocal }

// Tracker is one data instance's WAN state: per-key (HLC, site) metadata, kept for every
// key written since WAN was turned on (and for deleted keys as tombstones), the outbox of
// local writes not yet acknowledged by every target, and the targets' watermarks. The
// primary changes it through the store's journal (Record) and journals every change in
// the replication stream; the backup replays them (ApplyOp), so a failover keeps it whole.
type Tracker struct {
	cfg   Config
	clock *hlc.Clock

	mu       sync.Mutex
	room     *sync.Cond // broadcast when the outbox shrinks or the tracker closes
	closed   bool
	sites    []string // sites[0] is this site
	siteIdx  map[string]uint16
	meta     [slots.Count]map[string]entry
	keys     int
	queue    []qent // local writes in timestamp order from qhead on (unsorted: see sorted)
	qhead    int
	sorted   bool   // false after a snapshot loaded entries out of order
	live     int    // queue entries still live
	trimmed  uint64 // the queue holds every live local write after this timestamp
	targets  map[string]*target
	override map[string]entry                   // the stamp the next journaled change of a key carries (a remote write)
	wake     chan struct{}                      // closed at the next local write; nil while nobody waits
	moving   map[int]bool                       // slots whose keys are being moved out (re-partitioning)
	states   [slots.Count]map[string]mergeState // merge-policy keys' states
	merging  map[string]bool                    // keys a merge is writing: their journaled changes are not local writes
	fp       string                             // Fingerprint(cfg.Policies)
	dig      digests                            // per-slot digests of meta, kept by set and forget (digest.go)

	unsupported [len(policyNames)]atomic.Int64 // local writes a key's policy cannot take, by PolicyKind
	mismatched  atomic.Int64                   // batches refused: the sending site's policies differ
	flushes     atomic.Int64                   // FLUSHALL/FLUSHDB of slots, not replicated
	blocked     atomic.Int64                   // write replies that waited for room
	applied     atomic.Int64                   // remote changes applied
	stale       atomic.Int64                   // remote changes older than what the key held
}

// NewTracker returns the tracker of cfg (validated by the caller). With a lua: policy and
// no Resolve, the lua resolver of cfg.Store's function libraries resolves.
func NewTracker(cfg Config) *Tracker {
	for _, r := range cfg.Policies {
		if r.Policy.Kind == PolicyLua && cfg.Resolve == nil && cfg.Store != nil {
			cfg.Resolve = NewLuaResolver(cfg.Store)
		}
	}
	t := &Tracker{
		cfg: cfg, clock: hlc.New(cfg.Now), sites: []string{cfg.Site}, siteIdx: map[string]uint16{cfg.Site: 0},
		targets: map[string]*target{}, override: map[string]entry{}, sorted: true, moving: map[int]bool{},
		merging: map[string]bool{}, fp: Fingerprint(cfg.Policies),
	}
	for _, s := range cfg.Targets {
		t.targets[s] = &target{}
	}
	t.room = sync.NewCond(&t.mu)
	return t
}

// Written returns a channel closed at the next local write: take it before a Pull that
// finds nothing, then wait on it (a long poll).
func (t *Tracker) Written() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.wake == nil {
		t.wake = make(chan struct{})
	}
	return t.wake
}

// Site is this site's name.
func (t *Tracker) Site() string { return t.cfg.Site }

// site returns the index of site name, adding it; t.mu held.
func (t *Tracker) site(name string) uint16 {
	if i, ok := t.siteIdx[name]; ok {
		return i
	}
	i := uint16(len(t.sites))
	t.sites = append(t.sites, name)
	t.siteIdx[name] = i
	return i
}

// newer reports whether the write (h, site) wins over cur by last-writer-wins: the later
// timestamp, and between equal ones the greater site name, so every site picks the same.
func (t *Tracker) newer(h uint64, site string, cur entry) bool {
	if h != cur.hlc {
		return h > cur.hlc
	}
	return site > t.sites[cur.site]
}

// Record takes a change the store journaled (under its slot's lock) on the primary: every
// key it changes gets a new local timestamp, or the remote stamp ApplyRemote set, and the
// metadata is journaled after the change. A key under a merge policy also has the
// operation applied to its state, journaled too. A flush of a slot is not replicated:
// counted.
func (t *Tracker) Record(slot int, op []byte, j Journal) {
	var flushed int
	if len(t.cfg.Policies) == 0 {
		flushed = store.OpKeys(op, func(key []byte) { t.note(slot, key, nil, j) })
	} else {
		flushed = store.OpEffects(op, func(e store.Effect) { t.note(slot, e.Key, &e, j) })
	}
	if flushed >= 0 {
		t.flushes.Add(1)
	}
}

// note records a change of key; eff is what it did, nil without merge policies.
func (t *Tracker) note(slot int, key []byte, eff *store.Effect, j Journal) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := string(key)
	if t.moving[slot] {
		// The key leaves with its slot: not a deletion for the other sites. Its new
		// partition stamps it when it arrives and sends it from there.
		t.forget(slot, k)
		j(slot, appendForget(nil, key))
		return
	}
	if t.merging[k] {
		return // ApplyRemote records the merge
	}
	e, remote := t.override[k]
	if remote {
		delete(t.override, k)
	} else {
		e = entry{hlc: t.clock.Now()}
	}
	merged := false
	if !remote && eff != nil {
		if pol := policyFor(t.cfg.Policies, key); pol != nil && (pol.Kind == PolicyCounter || pol.Kind == PolicyAddWins) {
			if t.localMerge(slot, k, pol.Kind, eff, e.hlc) == nil {
				t.unsupported[pol.Kind].Add(1)
				return
			}
			merged = true
		}
	}
	t.set(slot, k, e)
	if merged {
		// The effect, not the whole state: the backup applies it to its copy of the
		// state as this did (a large set's add costs the members added). The record
		// carries the key's stamp too, so a journal cut after it holds both or neither:
		// a replay never finds the stamp without the effect (an increment lost to the
		// other sites) nor the effect twice.
		j(slot, appendLocal(nil, eff, e.hlc))
	} else {
		j(slot, appendMeta(nil, key, e.hlc, t.sites[e.site]))
	}
	if t.live > t.cfg.OutboxMax && t.cfg.Mode == ModeOutOfSync {
		t.markSlowest(j)
	}
}

// localMerge applies a local write's effect to key's merge state and returns the state,
// or nil when the policy cannot take it (the write is then not replicated); t.mu held.
func (t *Tracker) localMerge(slot int, k string, kind PolicyKind, eff *store.Effect, h uint64) mergeState {
	cur := t.states[slot][k]
	switch kind {
	case PolicyCounter:
		c, _ := cur.(*counter)
		if c == nil {
			c = newCounter()
		}
		switch eff.Op {
		case store.EffectString:
			v, ok := parseCounter(eff.Value)
			if !ok {
				return nil
			}
			c.set(t.cfg.Site, v)
		case store.EffectDel:
			c.reset()
		default:
			return nil
		}
		t.putState(slot, k, c)
		return c
	default:
		o, _ := cur.(*orset)
		if o == nil {
			o = newORSet()
		}
		tag := max(h, o.vv[t.cfg.Site]+1) // unique: newer than every add of this site
		switch eff.Op {
		case store.EffectSetAdd:
			for _, m := range eff.Members {
				o.add(t.cfg.Site, tag, m)
			}
		case store.EffectSetRem:
			for _, m := range eff.Members {
				o.remove(m)
			}
		case store.EffectSet:
			keep := make(map[string]bool, len(eff.Members))
			for _, m := range eff.Members {
				keep[string(m)] = true
				if !o.has(string(m)) {
					o.add(t.cfg.Site, tag, m)
				}
			}
			for m := range o.members {
				if !keep[m] {
					delete(o.members, m)
				}
			}
		case store.EffectDel:
			clear(o.members)
		default:
			return nil
		}
		t.putState(slot, k, o)
		return o
	}
}

// putState stores key's merge state; t.mu held.
func (t *Tracker) putState(slot int, k string, st mergeState) {
	if t.states[slot] == nil {
		t.states[slot] = map[string]mergeState{}
	}
	t.states[slot][k] = st
}

// MovingOut says whether slot's keys are being moved to another partition now (the
// re-partitioning's mover holds the slot): the deletions of its keys meanwhile drop their
// metadata rather than leave tombstones that would delete them at the other sites.
func (t *Tracker) MovingOut(slot int, on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if on {
		t.moving[slot] = true
	} else {
		delete(t.moving, slot)
	}
}

// forget drops key's metadata; t.mu held.
func (t *Tracker) forget(slot int, k string) {
	old, had := t.meta[slot][k]
	if !had {
		return
	}
	if old.site == 0 && old.hlc > t.trimmed {
		t.live--
	}
	t.digestDrop(slot, k, old)
	delete(t.meta[slot], k)
	delete(t.states[slot], k)
	t.keys--
}

// set stores key's entry and queues a local write; t.mu held.
func (t *Tracker) set(slot int, k string, e entry) {
	m := t.meta[slot]
	if m == nil {
		m = map[string]entry{}
		t.meta[slot] = m
	}
	old, had := m[k]
	if !had {
		t.keys++
	}
	if had && old.site == 0 && old.hlc > t.trimmed {
		t.live-- // its queue entry is superseded
	}
	m[k] = e
	t.digestSet(slot, k, old, had, e)
	if e.site == 0 && !t.anyInSync() {
		// Every target is being resynchronized from the metadata: the queue keeps
		// nothing, and a target back in sync has acknowledged past this write.
		t.trimmed = max(t.trimmed, e.hlc)
		if t.wake != nil {
			close(t.wake)
			t.wake = nil
		}
		return
	}
	if e.site == 0 {
		if n := len(t.queue); n > t.qhead && t.queue[n-1].hlc > e.hlc {
			t.sorted = false
		}
		t.queue = append(t.queue, qent{hlc: e.hlc, key: k})
		t.live++
		if n := len(t.queue) - t.qhead; n > 1024 && n > 4*t.live && t.sorted {
			t.compact() // rewrites of the same keys while nothing is acknowledged
		}
	}
	if e.site == 0 && t.wake != nil {
		close(t.wake)
		t.wake = nil
	}
}

// anyInSync reports whether a target is in sync (the queue serves it); t.mu held.
func (t *Tracker) anyInSync() bool {
	for _, tg := range t.targets {
		if !tg.dropped {
			return true
		}
	}
	return false
}

// markSlowest marks the in-sync target with the oldest acknowledgement out of sync, so
// the outbox drops what only it still needs; t.mu held.
func (t *Tracker) markSlowest(j Journal) {
	var slow string
	for _, name := range t.cfg.Targets {
		tg := t.targets[name]
		if !tg.dropped && (slow == "" || tg.acked < t.targets[slow].acked) {
			slow = name
		}
	}
	if slow == "" {
		return
	}
	tg := t.targets[slow]
	if !tg.outOfSync {
		tg.marked++ // marked again before it caught up is the same episode
	}
	tg.outOfSync, tg.dropped = true, true
	j(0, appendTarget(nil, slow, tg))
	t.trim()
}

// floor is the newest timestamp every in-sync target has acknowledged; t.mu held.
func (t *Tracker) floor() uint64 {
	f, any := uint64(0), false
	for _, tg := range t.targets {
		if !tg.dropped && (!any || tg.acked < f) {
			f, any = tg.acked, true
		}
	}
	if !any {
		return t.clock.Last()
	}
	return f
}

// trim drops the queue's entries every in-sync target has; t.mu held.
func (t *Tracker) trim() {
	t.sortQueue()
	f := t.floor()
	if f <= t.trimmed {
		return
	}
	for t.qhead < len(t.queue) && t.queue[t.qhead].hlc <= f {
		q := t.queue[t.qhead]
		if t.isLive(q) {
			t.live--
		}
		t.queue[t.qhead] = qent{}
		t.qhead++
	}
	t.trimmed = f
	if t.qhead > len(t.queue)/2 {
		t.queue = slices.Clone(t.queue[t.qhead:]) // a new array: the acknowledged part's memory goes
		t.qhead = 0
	}
	if n := len(t.queue) - t.qhead; n > 1024 && n > 4*t.live {
		t.compact()
	}
	t.room.Broadcast()
}

func (t *Tracker) isLive(q qent) bool {
	e, ok := t.meta[slots.Of([]byte(q.key))][q.key]
	return ok && e.site == 0 && e.hlc == q.hlc
}

// compact drops the queue's superseded entries; t.mu held.
func (t *Tracker) compact() {
	q := t.queue[:0]
	for _, e := range t.queue[t.qhead:] {
		if t.isLive(e) {
			q = append(q, e)
		}
	}
	clear(t.queue[len(q):])
	t.queue, t.qhead = q, 0
}

// sortQueue restores the queue's order after a snapshot, and its counts; t.mu held.
func (t *Tracker) sortQueue() {
	if t.sorted {
		return
	}
	q := t.queue[t.qhead:]
	slices.SortFunc(q, func(a, b qent) int {
		switch {
		case a.hlc < b.hlc:
			return -1
		case a.hlc > b.hlc:
			return 1
		}
		return 0
	})
	q = slices.CompactFunc(q, func(a, b qent) bool { return a.hlc == b.hlc })
	t.queue, t.qhead, t.sorted = q, 0, true
	t.live = 0
	for _, e := range t.queue {
		if e.hlc > t.trimmed && t.isLive(e) {
			t.live++
		}
	}
}

// ApplyOp replays a WAN operation from the primary's replication stream (a backup).
func (t *Tracker) ApplyOp(op []byte) error {
	if len(op) == 0 {
		return errors.New("empty WAN operation")
	}
	r := reader{b: op[1:]}
	switch op[0] {
	case opMeta:
		key, h, site := r.bytes(), r.u64(), r.bytes()
		if r.err != nil {
			return fmt.Errorf("WAN metadata operation: %w", r.err)
		}
		t.mu.Lock()
		t.clock.Observe(h)
		t.set(slots.Of(key), string(key), entry{hlc: h, site: t.site(string(site))})
		t.mu.Unlock()
	case opForget:
		key := r.bytes()
		if r.err != nil {
			return fmt.Errorf("WAN forget operation: %w", r.err)
		}
		t.mu.Lock()
		t.forget(slots.Of(key), string(key))
		t.mu.Unlock()
	case opState:
		key, b := r.bytes(), r.b
		if r.err != nil {
			return fmt.Errorf("WAN state operation: %w", r.err)
		}
		st, err := decodeState(b)
		if err != nil {
			return fmt.Errorf("WAN state operation of key %q: %w", key, err)
		}
		t.mu.Lock()
		t.putState(slots.Of(key), string(key), st)
		t.mu.Unlock()
	case opLocal:
		key, h, kind, val := r.bytes(), r.u64(), r.u64(), r.bytes()
		n := r.u64()
		if r.err == nil && n > uint64(len(r.b)) {
			r.err = errors.New("truncated members")
		}
		eff := store.Effect{Key: key, Op: store.EffectOp(kind), Value: val}
		for i := uint64(0); i < n && r.err == nil; i++ {
			eff.Members = append(eff.Members, r.bytes())
		}
		if r.err != nil {
			return fmt.Errorf("WAN local effect operation: %w", r.err)
		}
		pol := policyFor(t.cfg.Policies, key)
		if pol == nil || pol.Kind != PolicyCounter && pol.Kind != PolicyAddWins {
			return fmt.Errorf("WAN local effect on key %q, whose policy here is %s: the primary's --wan-policy differs", key, policyName(pol))
		}
		t.mu.Lock()
		t.clock.Observe(h)
		slot := slots.Of(key)
		st := t.localMerge(slot, string(key), pol.Kind, &eff, h)
		if st != nil {
			t.set(slot, string(key), entry{hlc: h}) // the local write's stamp, as note set it
		}
		t.mu.Unlock()
		if st == nil {
			return fmt.Errorf("WAN local effect on key %q: not one its policy %s takes", key, pol)
		}
	case opTarget:
		name, acked, oos, marked := r.bytes(), r.u64(), r.u64(), r.u64()
		if r.err != nil {
			return fmt.Errorf("WAN target operation: %w", r.err)
		}
		t.mu.Lock()
		tg := t.targets[string(name)]
		if tg == nil {
			tg = &target{}
			t.targets[string(name)] = tg
		}
		tg.acked, tg.outOfSync, tg.dropped, tg.marked = max(tg.acked, acked), oos&1 != 0, oos&2 != 0, marked
		t.trim()
		t.mu.Unlock()
	default:
		return fmt.Errorf("WAN operation code %#x unknown", op[0])
	}
	return nil
}

// Reset forgets everything: a backup about to load a snapshot.
func (t *Tracker) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.meta = [slots.Count]map[string]entry{}
	t.states = [slots.Count]map[string]mergeState{}
	t.dig = digests{}
	t.keys, t.queue, t.qhead, t.live, t.trimmed, t.sorted = 0, nil, 0, 0, 0, true
	for _, tg := range t.targets {
		*tg = target{}
	}
}

// DumpSlot calls fn with the operations that recreate slot's metadata (slot 0's also the
// targets' states), for a snapshot to a backup.
func (t *Tracker) DumpSlot(slot int, fn func(op []byte)) {
	t.mu.Lock()
	var ops [][]byte
	if slot == 0 {
		for name, tg := range t.targets {
			ops = append(ops, appendTarget(nil, name, tg))
		}
	}
	for k, e := range t.meta[slot] {
		ops = append(ops, appendMeta(nil, []byte(k), e.hlc, t.sites[e.site]))
	}
	for k, st := range t.states[slot] {
		ops = append(ops, appendState(nil, []byte(k), st))
	}
	t.mu.Unlock()
	for _, op := range ops {
		fn(op)
	}
}

// WaitRoom blocks, in ModeBlock, while the outbox is at its bound: a write's reply waits.
func (t *Tracker) WaitRoom() {
	if t.cfg.Mode != ModeBlock {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live < t.cfg.OutboxMax || t.closed {
		return
	}
	t.blocked.Add(1)
	for t.live >= t.cfg.OutboxMax && !t.closed {
		t.room.Wait()
	}
}

// Close releases the writers WaitRoom holds, for good.
func (t *Tracker) Close() {
	t.mu.Lock()
	t.closed = true
	t.room.Broadcast()
	t.mu.Unlock()
}

// CollectTombstones forgets the metadata of deleted keys whose deletion is older than
// the tombstone TTL and acknowledged by every target; it returns how many it forgot.
// Every instance collects on its own: what a backup keeps longer is harmless.
func (t *Tracker) CollectTombstones() int {
	cut := hlc.Make(t.now().Add(-t.cfg.TombstoneTTL).UnixMilli(), 0)
	type cand struct {
		slot int
		key  string
		e    entry
	}
	var cands []cand
	t.mu.Lock()
	acked := t.floorAll()
	for slot, m := range t.meta {
		for k, e := range m {
			if e.hlc < cut && (e.site != 0 || e.hlc <= acked) {
				cands = append(cands, cand{slot, k, e})
			}
		}
	}
	t.mu.Unlock()
	n := 0
	for _, c := range cands {
		if t.cfg.Store.Exists([]byte(c.key)) {
			continue
		}
		t.mu.Lock()
		if e, ok := t.meta[c.slot][c.key]; ok && e == c.e {
			t.digestDrop(c.slot, c.key, e)
			delete(t.meta[c.slot], c.key)
			delete(t.states[c.slot], c.key)
			t.keys--
			n++
		}
		t.mu.Unlock()
	}
	return n
}

// floorAll is the newest timestamp every target, in sync or not, has acknowledged; t.mu held.
func (t *Tracker) floorAll() uint64 {
	f := t.clock.Last()
	for _, tg := range t.targets {
		f = min(f, tg.acked)
	}
	return f
}

func (t *Tracker) now() time.Time {
	if t.cfg.Now != nil {
		return t.cfg.Now()
	}
	return time.Now()
}

// Change is one key's replicated state: its whole value (a store operation), or nil when
// deleted, with the (HLC, site) of the write that made it; for a key under a merge policy
// (pn-counter, add-wins) its merge state instead of the value.
type Change struct {
	Key   []byte `json:"k"`
	HLC   uint64 `json:"h"`
	Site  string `json:"s"`
	Op    []byte `json:"o,omitempty"`
	State []byte `json:"m,omitempty"`
}

// Batch is a partition's next changes for a target, in timestamp order: Upto is the
// timestamp to acknowledge once they are applied (the last change's, or past changes
// superseded meanwhile).
type Batch struct {
	Site      string   `json:"site"`
	Partition int      `json:"partition"`
	Upto      uint64   `json:"upto"`
	Changes   []Change `json:"changes"`
	Resync    bool     `json:"resync,omitempty"` // the target is out of sync: a scan of the metadata
	// Cursor says the primary that answered the pull takes its after cursor: the
	// delegator may pull the next batch before this one is acknowledged.
	Cursor bool `json:"cursor,omitempty"`
	// Policies is the sending site's policies' Fingerprint: a site whose own differ
	// refuses the batch.
	Policies string `json:"policies,omitempty"`
}

// ErrUnknownTarget is Pull's and Ack's error for a site not in Config.Targets.
var ErrUnknownTarget = errors.New("not a target site of this grid")

// Pull returns up to max of the partition's local writes the target has not
// acknowledged, oldest first, each key whole (every kind: a store operation that recreates
// it, or nil when it is deleted). A target whose acknowledgement is behind what
// the outbox holds (out of sync) gets a scan of the metadata instead; the pull whose scan
// is complete puts it back in sync, journaled with j, so the outbox holds its writes
// from then on.
func (t *Tracker) Pull(name string, maxKeys int, j Journal) (Batch, error) {
	return t.PullAfter(name, maxKeys, 0, j)
}

// PullAfter is Pull of the writes after the cursor after too: a delegator with batches
// in flight (pulled, not yet acknowledged) passes the last one's Upto and gets the
// writes newer than both it and the target's acknowledgement. A scan of the metadata
// (out of sync) starts there too; a cursor at or past what the outbox holds is served
// from the outbox.
func (t *Tracker) PullAfter(name string, maxKeys int, after uint64, j Journal) (Batch, error) {
	t.mu.Lock()
	tg := t.targets[name]
	if tg == nil || !slices.Contains(t.cfg.Targets, name) {
		t.mu.Unlock()
		return Batch{}, fmt.Errorf("target %q: %w (targets: %v)", name, ErrUnknownTarget, t.cfg.Targets)
	}
	var picked []qent
	from := max(tg.acked, after)
	b := Batch{Site: t.cfg.Site, Upto: from, Resync: tg.acked < t.trimmed, Policies: t.fp}
	reached := from >= t.trimmed // the outbox holds every write the target needs next
	if !reached {
		picked = t.scanAfter(from, maxKeys)
		if len(picked) < maxKeys {
			b.Upto = t.trimmed // the scan holds every live local write up to there
			reached = true
		}
	} else {
		t.sortQueue()
		q := t.queue[t.qhead:]
		i := sort.Search(len(q), func(i int) bool { return q[i].hlc > from })
		for ; i < len(q) && len(picked) < maxKeys; i++ {
			if t.isLive(q[i]) {
				picked = append(picked, q[i])
			}
			b.Upto = q[i].hlc
		}
	}
	if reached && tg.dropped {
		// From now on the outbox holds the target's writes again: the
		// resynchronization ends even under steady writes.
		tg.dropped = false
		j(0, appendTarget(nil, name, tg))
	}
	if len(picked) > 0 {
		b.Upto = max(b.Upto, picked[len(picked)-1].hlc)
	}
	t.mu.Unlock()
	b.Changes = t.dump(picked)
	return b, nil
}

// pullChunk is how many picked keys dump checks per hold of t.mu.
const pullChunk = 256

// dump returns the changes of the picked local writes whose keys still hold them: each
// key's value (a store operation, taken without t.mu: the store's journal calls into the
// tracker) or merge state. A key written again since it was picked is left out: that
// write follows. t.mu is taken twice per chunk of keys, not per key.
func (t *Tracker) dump(picked []qent) []Change {
	if len(picked) == 0 {
		return nil
	}
	out := make([]Change, 0, len(picked))
	slot := make([]int, pullChunk)
	merged := make([]bool, pullChunk)
	ops := make([][]byte, pullChunk)
	for len(picked) > 0 {
		chunk := picked[:min(len(picked), pullChunk)]
		picked = picked[len(chunk):]
		t.mu.Lock()
		for i, p := range chunk {
			slot[i] = slots.Of([]byte(p.key))
			merged[i] = t.states[slot[i]][p.key] != nil
		}
		t.mu.Unlock()
		keys := make([][]byte, len(chunk))
		for i, p := range chunk {
			keys[i], ops[i] = []byte(p.key), nil
			if !merged[i] {
				ops[i], _ = t.cfg.Store.DumpKey(keys[i])
			}
		}
		t.mu.Lock()
		for i, p := range chunk {
			e, ok := t.meta[slot[i]][p.key]
			var state []byte
			if st := t.states[slot[i]][p.key]; st != nil {
				state = st.encode(nil)
			}
			if !ok || e.hlc != p.hlc || (state != nil) != merged[i] {
				continue // written again since: that write follows
			}
			out = append(out, Change{Key: keys[i], HLC: p.hlc, Site: t.cfg.Site, Op: ops[i], State: state})
		}
		t.mu.Unlock()
	}
	return out
}

// scanAfter is the oldest maxKeys live local writes after h, oldest first; t.mu held.
// It keeps the newest of the picked ones at the root of a heap, so a scan of a partition
// holding far more keys than a batch costs a pass over the metadata, not a sort of it.
func (t *Tracker) scanAfter(h uint64, maxKeys int) []qent {
	if maxKeys <= 0 {
		return nil
	}
	out := &newestFirst{}
	for _, m := range t.meta {
		for k, e := range m {
			switch {
			case e.site != 0 || e.hlc <= h:
			case len(*out) < maxKeys:
				heap.Push(out, qent{hlc: e.hlc, key: k})
			case e.hlc < (*out)[0].hlc:
				(*out)[0] = qent{hlc: e.hlc, key: k}
				heap.Fix(out, 0)
			}
		}
	}
	slices.SortFunc(*out, func(a, b qent) int { return cmp.Compare(a.hlc, b.hlc) })
	return *out
}

// newestFirst is a heap of queue entries, the newest at the root.
type newestFirst []qent

func (q newestFirst) Len() int           { return len(q) }
func (q newestFirst) Less(i, j int) bool { return q[i].hlc > q[j].hlc }
func (q newestFirst) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *newestFirst) Push(x any)        { *q = append(*q, x.(qent)) }
func (q *newestFirst) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// Ack records that target name applied every local write up to upto; a target out of
// sync whose acknowledgement reaches what the outbox holds is in sync again.
func (t *Tracker) Ack(name string, upto uint64, j Journal) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	tg := t.targets[name]
	if tg == nil || !slices.Contains(t.cfg.Targets, name) {
		return fmt.Errorf("target %q: %w (targets: %v)", name, ErrUnknownTarget, t.cfg.Targets)
	}
	backInSync := tg.outOfSync && max(tg.acked, upto) >= t.trimmed
	if upto > tg.acked || backInSync {
		tg.acked = max(tg.acked, upto)
		tg.outOfSync = tg.outOfSync && !backInSync
		j(0, appendTarget(nil, name, tg))
		t.trim()
	}
	return nil
}

// CheckChange checks a change from another site before it is applied.
func (t *Tracker) CheckChange(c Change) error {
	if c.Site == t.cfg.Site {
		return fmt.Errorf("change of key %q comes from this site %q", c.Key, c.Site)
	}
	if err := CheckSite(c.Site); err != nil {
		return fmt.Errorf("change of key %q: site %w", c.Key, err)
	}
	if c.HLC == 0 {
		return fmt.Errorf("change of key %q from site %s has no timestamp", c.Key, c.Site)
	}
	return nil
}

// ApplyRemote applies a change from another site by the key's policy; it reports whether
// it changed anything. exclusive runs its function with every other command on the key's
// slot held off, so the comparison and the write are one step. The write goes through the
// store's journal (to the backup), stamped with the change's (HLC, site).
//
// Last-writer-wins (and priority) keeps the change if it wins over what the key holds; a
// merge policy (pn-counter, add-wins) merges the change's state into the key's; lua calls
// the resolver with both versions.
func (t *Tracker) ApplyRemote(c Change, exclusive func(slot int, fn func()), j Journal) (applied bool, err error) {
	if err := t.CheckChange(c); err != nil {
		return false, err
	}
	pol := policyFor(t.cfg.Policies, c.Key)
	switch {
	case pol != nil && (pol.Kind == PolicyCounter || pol.Kind == PolicyAddWins):
		applied, err = t.applyMerge(c, pol, exclusive, j)
	case c.State != nil:
		return false, fmt.Errorf("key %q from site %s carries a merge state, but its policy here is %s: the sites' --wan-policy differ", c.Key, c.Site, policyName(pol))
	case pol != nil && pol.Kind == PolicyLua:
		applied, err = t.applyLua(c, pol, exclusive, j)
	default:
		applied, err = t.applyWinner(c, pol, exclusive, j)
	}
	if applied {
		t.applied.Add(1)
	} else if err == nil {
		t.stale.Add(1)
	}
	return applied, err
}

// policyName names a policy policyFor returned.
func policyName(p *Policy) string {
	if p == nil {
		return PolicyLWW.String()
	}
	return p.String()
}

func appendMeta(b, key []byte, h uint64, site string) []byte {
	b = append(b, opMeta)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, h)
	b = binary.AppendUvarint(b, uint64(len(site)))
	return append(b, site...)
}

func appendState(b, key []byte, st mergeState) []byte {
	b = append(b, opState)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return st.encode(b)
}

func appendLocal(b []byte, eff *store.Effect, h uint64) []byte {
	b = append(b, opLocal)
	b = binary.AppendUvarint(b, uint64(len(eff.Key)))
	b = append(b, eff.Key...)
	b = binary.AppendUvarint(b, h)
	b = binary.AppendUvarint(b, uint64(eff.Op))
	b = binary.AppendUvarint(b, uint64(len(eff.Value)))
	b = append(b, eff.Value...)
	b = binary.AppendUvarint(b, uint64(len(eff.Members)))
	for _, m := range eff.Members {
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

func appendForget(b, key []byte) []byte {
	b = append(b, opForget)
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(b, key...)
}

func appendTarget(b []byte, name string, tg *target) []byte {
	b = append(b, opTarget)
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	b = binary.AppendUvarint(b, tg.acked)
	oos := uint64(0)
	if tg.outOfSync {
		oos |= 1
	}
	if tg.dropped {
		oos |= 2
	}
	b = binary.AppendUvarint(b, oos)
	return binary.AppendUvarint(b, tg.marked)
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.u64()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errors.New("truncated string")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// Restored finishes a replay of the metadata from a data directory: the state of a target
// not in Config.Targets (a site removed from the configuration), whose watermark would hold
// the outbox back for good, is dropped, and the outbox is trimmed to what the targets have
// not acknowledged (a snapshot's keys come in no order, each counted until a trim).
func (t *Tracker) Restored() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name := range t.targets {
		if !slices.Contains(t.cfg.Targets, name) {
			delete(t.targets, name)
		}
	}
	t.trim()
}

// Stamp is the timestamp of the write key holds, and whether key has metadata.
func (t *Tracker) Stamp(key []byte) (hlc uint64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.meta[slots.Of(key)][string(key)]
	return e.hlc, ok
}
