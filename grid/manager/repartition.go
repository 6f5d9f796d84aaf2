package manager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/api"
	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/registry"
	"github.com/insightgrid/insight/grid/slots"
)

// Re-partitioning changes the number of partitions while the grid serves. A request sets
// the map's Target; the etcd leader's manager then walks the map towards it, one compare-
// and-swap at a time, so any manager can pick up where another stopped:
//
//  1. grow: once every instance of the new partitions is registered, they join the map
//     without slots (and get their records);
//  2. move, a batch of slots at a time: importing (the targets learn first), migrating
//     (the sources copy their keys over and send clients on with ASK), handoff (the
//     sources are empty; the targets serve without ASKING), then the slots change owner;
//  3. shrink: the partitions past Target, now without slots, leave the map;
//  4. Target is cleared.
//
// Each step waits until the data instances it depends on report (GET /v1/status) that
// they route with the map version it wrote, and moves into a partition only while its
// primary serves and, with HA, its backup is in sync.

// DefaultRepartitionRate is --repartition-rate's default, 512 KiB per second per source:
// on a 2-core machine it leaves more than half of the write throughput to the clients
// while 1M keys move from 3 to 5 partitions (ci/bench-repartition.sh); raise it where
// cores are plenty.
const DefaultRepartitionRate = 512 << 10

// batchSlots is how many slots move at once: each batch costs four map versions, which
// every data instance routes with in turn and clients learn by MOVED, so fewer, larger
// batches disturb the clients less (measured: 4096 against 1024 moved 3 -> 5 partitions in
// two thirds of the time with more throughput left to the clients); a quarter of the slots
// at most are in the ASK state at any time.
const batchSlots = 4096

// slotMove is one slot's planned move.
type slotMove struct{ slot, from, to int }

// plan lists the slots that must move for pm's slots to spread evenly over target
// partitions, moving as few as possible: each partition below target keeps its lowest
// slots up to its share, and the rest (and everything past target) fills the partitions
// that are short, lowest first. Slots already moving are planned like the others.
func plan(pm *cluster.PartitionMap, target int) ([]slotMove, error) {
	ranges, err := slots.Balanced(target)
	if err != nil {
		return nil, err
	}
	owner := pm.Owners()
	owned := make([][]int, max(len(pm.Partitions), target))
	for s, p := range owner {
		owned[p] = append(owned[p], s)
	}
	var pool []slotMove
	short := make([]int, target) // how many slots each partition below target lacks
	for p := range owned {
		share := 0
		if p < target {
			share = ranges[p].Len()
		}
		if len(owned[p]) > share {
			for _, s := range owned[p][share:] {
				pool = append(pool, slotMove{slot: s, from: p})
			}
		} else if p < target {
			short[p] = share - len(owned[p])
		}
	}
	slices.SortFunc(pool, func(a, b slotMove) int { return a.slot - b.slot })
	i := 0
	for p := range short {
		for ; short[p] > 0; short[p]-- {
			pool[i].to = p
			i++
		}
	}
	return pool, nil
}

// nextBatch picks up to n of the planned moves, taking from every source in turn so all
// sources copy at once, and groups them into moves of contiguous ranges.
func nextBatch(moves []slotMove, n int) []cluster.Move {
	bySource := map[int][]slotMove{}
	var sources []int
	for _, mv := range moves {
		if _, ok := bySource[mv.from]; !ok {
			sources = append(sources, mv.from)
		}
		bySource[mv.from] = append(bySource[mv.from], mv)
	}
	slices.Sort(sources)
	var picked []slotMove
	for len(picked) < n {
		took := false
		for _, src := range sources {
			if q := bySource[src]; len(q) > 0 && len(picked) < n {
				picked = append(picked, q[0])
				bySource[src] = q[1:]
				took = true
			}
		}
		if !took {
			break
		}
	}
	slices.SortFunc(picked, func(a, b slotMove) int { return a.slot - b.slot })
	type pair struct{ from, to int }
	var order []pair
	grouped := map[pair]*cluster.Move{}
	for _, mv := range picked {
		k := pair{mv.from, mv.to}
		g := grouped[k]
		if g == nil {
			g = &cluster.Move{From: mv.from, To: mv.to, State: cluster.MoveImporting}
			grouped[k] = g
			order = append(order, k)
		}
		if n := len(g.Slots); n > 0 && g.Slots[n-1][1] == mv.slot-1 {
			g.Slots[n-1][1] = mv.slot
		} else {
			g.Slots = append(g.Slots, [2]int{mv.slot, mv.slot})
		}
	}
	out := make([]cluster.Move, 0, len(order))
	for _, k := range order {
		out = append(out, *grouped[k])
	}
	return out
}

// repartitioner is the leader's loop and what it last found (why the last step waits).
type repartitioner struct {
	m *Manager
	waitNote
	progress progressClock
}

// progressClock measures how long a pending re-partitioning has gone without a new
// version of the partition map, for insight_manager_repartition_stalled_seconds: a
// re-partitioning that waits on a partition that never gets ready shows no error, only a
// map that stops changing.
type progressClock struct {
	mu      sync.Mutex
	pending bool
	version int64
	since   time.Time // when the map was first seen at version while pending
	last    time.Time // the last observation
}

// progressGap is how long without an observation starts the clock afresh: the loop
// steps every repartitionActive while a target is pending, so a longer gap means this
// manager did not lead meanwhile and knows nothing of the progress made.
const progressGap = 10 * time.Second

// observe records one step of the loop: whether a target is pending and the map's version.
func (c *progressClock) observe(now time.Time, pending bool, version int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pending && (!c.pending || version != c.version || now.Sub(c.last) > progressGap) {
		c.since = now
	}
	c.pending, c.version, c.last = pending, version, now
}

// stalled is how long the pending re-partitioning has made no progress, in seconds; 0
// when none is pending or this manager has not stepped it lately (it does not lead).
func (c *progressClock) stalled(now time.Time) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pending || now.Sub(c.last) > progressGap {
		return 0
	}
	return now.Sub(c.since).Seconds()
}

// Intervals of the loop: while a target is pending it steps often (each step is a read of
// etcd and a status request to each partition involved); otherwise it only looks now and
// then, and whenever the map changes.
const (
	repartitionActive = 50 * time.Millisecond
	repartitionIdle   = 5 * time.Second
)

// run steps towards the map's target while this manager leads etcd, until ctx ends.
func (r *repartitioner) run(ctx context.Context) {
	r.m.leaderLoop(ctx, registry.MapChanges(ctx, r.m.cli), repartitionActive, repartitionIdle,
		&r.waitNote, "re-partitioning step failed, retrying", r.step)
}

// step makes at most one change towards the target and reports whether a target is
// pending.
func (r *repartitioner) step(ctx context.Context) (pending bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	st, err := registry.Load(ctx, r.m.cli)
	if err != nil {
		return true, err
	}
	pm := st.Map
	var version int64
	if pm != nil {
		version = pm.Version
	}
	defer func() { r.progress.observe(time.Now(), pending, version) }()
	if pm == nil || pm.Target == 0 && len(pm.Moves) == 0 {
		r.setMessage("")
		return false, nil
	}
	if len(pm.Moves) > 0 {
		return true, r.advance(ctx, st)
	}
	target := pm.Target
	if target > len(pm.Partitions) {
		return true, r.grow(ctx, st)
	}
	todo, err := plan(pm, target)
	if err != nil {
		return true, err
	}
	if len(todo) > 0 {
		return true, r.startBatch(ctx, st, todo)
	}
	next := *pm
	if target < len(pm.Partitions) {
		next.Partitions = slices.Clone(pm.Partitions[:target])
		if err := r.commit(ctx, st, &next, fmt.Sprintf("partitions %d-%d hold no slots any more and leave the map", target, len(pm.Partitions)-1), nil); err != nil {
			return true, err
		}
		return true, nil
	}
	next.Target = 0
	return false, r.commit(ctx, st, &next, fmt.Sprintf("re-partitioning done: %d partitions", target), nil)
}

// commit writes next as the map's next version, with records (by partition), if the map
// is still the one st read.
func (r *repartitioner) commit(ctx context.Context, st *cluster.State, next *cluster.PartitionMap, what string, records map[int]cluster.Record) error {
	ok, err := r.casMap(ctx, st, next, records)
	if err != nil || !ok {
		return err // changed meanwhile: the next step reads it again
	}
	r.setMessage(what)
	r.m.log.Info("partition map changed", "version", next.Version, "what", what)
	return nil
}

// casMap writes next as the map's next version, with records (by partition), if the map
// is still the one st read, and reports whether it did.
func (r *repartitioner) casMap(ctx context.Context, st *cluster.State, next *cluster.PartitionMap, records map[int]cluster.Record) (bool, error) {
	next.Version = st.Map.Version + 1
	if err := next.Validate(); err != nil {
		return false, fmt.Errorf("refusing to write an invalid partition map: %w", err)
	}
	switch err := registry.CommitMap(ctx, r.m.cli, st.MapRevision, next, records); {
	case errors.Is(err, registry.ErrConflict):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// grow adds the partitions up to the target once all their instances are registered.
func (r *repartitioner) grow(ctx context.Context, st *cluster.State) error {
	pm := st.Map
	per := 1
	if pm.HA {
		per = 2
	}
	var missing []string
	for p := len(pm.Partitions); p < pm.Target; p++ {
		for i := range per {
			if _, ok := st.Instances[cluster.InstanceID(p, i)]; !ok {
				missing = append(missing, cluster.InstanceID(p, i))
			}
		}
	}
	if len(missing) > 0 {
		r.setMessage(fmt.Sprintf("waiting for the new partitions' instances to register: %v", missing))
		return nil
	}
	next := *pm
	next.Partitions = slices.Clone(pm.Partitions)
	records := map[int]cluster.Record{}
	for p := len(pm.Partitions); p < pm.Target; p++ {
		next.Partitions = append(next.Partitions, cluster.PartitionSlots{ID: p, Slots: [][2]int{}})
		rec := cluster.InitialRecord(p, pm.HA)
		if old, ok := st.Records[p]; ok {
			// The partition existed before: a new epoch fences whatever still runs as it.
			rec.Epoch = old.Epoch + 1
		}
		records[p] = rec
	}
	return r.commit(ctx, st, &next, fmt.Sprintf("partitions %d-%d join the map without slots", len(pm.Partitions), pm.Target-1), records)
}

// startBatch begins moving the next batch of todo, once every partition it moves into is
// ready to take slots.
func (r *repartitioner) startBatch(ctx context.Context, st *cluster.State, todo []slotMove) error {
	batch := nextBatch(todo, batchSlots)
	for _, to := range partitionsOf(batch, false) {
		if why := r.readyForSlots(ctx, st, to); why != "" {
			r.setMessage(why)
			return nil
		}
	}
	next := *st.Map
	next.Moves = batch
	n := 0
	for _, mv := range batch {
		n += countSlots(mv.Slots)
	}
	return r.commit(ctx, st, &next, fmt.Sprintf("%d slots start moving (%d left after them)", n, len(todo)-n), nil)
}

// advance takes the moves in flight one state further once the instances involved have
// caught up.
func (r *repartitioner) advance(ctx context.Context, st *cluster.State) error {
	pm := st.Map
	state := pm.Moves[0].State
	next := *pm
	next.Moves = slices.Clone(pm.Moves)
	switch state {
	case cluster.MoveImporting, cluster.MoveHandoff:
		// The targets must route with this version before the sources redirect to them
		// (importing) or drop the slots (handoff).
		for _, to := range partitionsOf(pm.Moves, false) {
			if why := r.seen(ctx, st, to, pm.Version, false); why != "" {
				r.setMessage(why)
				return nil
			}
		}
		if state == cluster.MoveHandoff {
			return r.commit(ctx, st, finishMoves(&next), "slots changed owner", nil)
		}
		for i := range next.Moves {
			next.Moves[i].State = cluster.MoveMigrating
		}
		return r.commit(ctx, st, &next, "sources copy their keys", nil)
	case cluster.MoveMigrating:
		for _, from := range partitionsOf(pm.Moves, true) {
			if why := r.seen(ctx, st, from, pm.Version, true); why != "" {
				r.setMessage(why)
				return nil
			}
		}
		for i := range next.Moves {
			next.Moves[i].State = cluster.MoveHandoff
		}
		return r.commit(ctx, st, &next, "sources are empty: targets serve the slots", nil)
	}
	return fmt.Errorf("partition map version %d: unknown move state %q", pm.Version, state)
}

// finishMoves gives the moving slots to their targets and clears the moves.
func finishMoves(pm *cluster.PartitionMap) *cluster.PartitionMap {
	owner := pm.Owners()
	for _, mv := range pm.Moves {
		for _, r := range mv.Slots {
			for s := r[0]; s <= r[1]; s++ {
				owner[s] = mv.To
			}
		}
	}
	parts := make([]cluster.PartitionSlots, len(pm.Partitions))
	for p := range parts {
		parts[p] = cluster.PartitionSlots{ID: p, Slots: [][2]int{}}
	}
	for s, p := range owner {
		ps := &parts[p]
		if n := len(ps.Slots); n > 0 && ps.Slots[n-1][1] == s-1 {
			ps.Slots[n-1][1] = s
		} else {
			ps.Slots = append(ps.Slots, [2]int{s, s})
		}
	}
	pm.Partitions, pm.Moves = parts, nil
	return pm
}

// partitionsOf lists the distinct sources (from) or targets of moves.
func partitionsOf(moves []cluster.Move, from bool) []int {
	var out []int
	for _, mv := range moves {
		p := mv.To
		if from {
			p = mv.From
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func countSlots(rs [][2]int) int {
	n := 0
	for _, r := range rs {
		n += r[1] - r[0] + 1
	}
	return n
}

// primaryStatus asks partition p's primary for its status; why says what is missing.
func (r *repartitioner) primaryStatus(ctx context.Context, st *cluster.State, p int) (*cluster.InstanceStatus, cluster.Record, string) {
	rec, ok := st.Records[p]
	if !ok {
		return nil, rec, fmt.Sprintf("partition %d has no record yet", p)
	}
	in, ok := st.Instances[rec.Primary]
	if !ok {
		return nil, rec, fmt.Sprintf("partition %d: primary %s is not registered", p, rec.Primary)
	}
	s, err := r.m.instanceStatus(ctx, in.HTTPAddress)
	if err != nil {
		return nil, rec, fmt.Sprintf("partition %d: primary %s: %v", p, rec.Primary, err)
	}
	if s.Role != cluster.RolePrimary || !s.Serving {
		return nil, rec, fmt.Sprintf("partition %d: %s is not serving as primary yet", p, rec.Primary)
	}
	return s, rec, ""
}

// readyForSlots is empty when partition p may take slots: its primary serves and, with
// HA, its backup is in sync, so moved keys have two copies at once.
func (r *repartitioner) readyForSlots(ctx context.Context, st *cluster.State, p int) string {
	_, rec, why := r.primaryStatus(ctx, st, p)
	switch {
	case why != "":
		return "waiting before moving slots: " + why
	case st.Map.HA && !rec.InSync:
		return fmt.Sprintf("waiting before moving slots: partition %d's backup %s is not in sync yet", p, rec.Backup)
	}
	return ""
}

// seen is empty once partition p's primary routes with map version (and, for a source,
// holds no key of the slots leaving it).
func (r *repartitioner) seen(ctx context.Context, st *cluster.State, p int, version int64, source bool) string {
	s, _, why := r.primaryStatus(ctx, st, p)
	switch {
	case why != "":
		return "waiting: " + why
	case s.MapVersion < version:
		return fmt.Sprintf("waiting for partition %d to route with map version %d (it has %d)", p, version, s.MapVersion)
	case source && s.Migration.Version < version:
		return fmt.Sprintf("partition %d is copying keys (%d moved so far)", p, s.Migration.MovedKeys)
	case source && s.Migration.PendingSlots > 0:
		msg := fmt.Sprintf("partition %d is copying keys: %d slots left (%d keys moved so far)", p, s.Migration.PendingSlots, s.Migration.MovedKeys)
		if s.Migration.Error != "" {
			msg += "; last error: " + s.Migration.Error
		}
		return msg
	}
	return ""
}

// status describes the re-partitioning as the map in st shows it.
func (r *repartitioner) status(st *cluster.State) (api.RepartitionStatus, error) {
	pm := st.Map
	out := api.RepartitionStatus{Partitions: len(pm.Partitions), Target: pm.Target, MapVersion: pm.Version, State: api.StateIdle, Moves: []api.Move{},
		RateBytesPerSecond: pm.MoveRate}
	for _, mv := range pm.Moves {
		out.Moves = append(out.Moves, api.Move{Slots: mv.Slots, From: mv.From, To: mv.To, State: mv.State})
		out.SlotsMoving += countSlots(mv.Slots)
	}
	if pm.Target == 0 {
		out.Message = fmt.Sprintf("%d partitions; no re-partitioning requested", len(pm.Partitions))
		return out, nil
	}
	todo, err := plan(pm, pm.Target)
	if err != nil {
		return out, err
	}
	out.SlotsRemaining = len(todo)
	switch {
	case pm.Target > len(pm.Partitions):
		out.State = api.StateGrowing
	case len(todo) > 0:
		out.State = api.StateMoving
	case pm.Target < len(pm.Partitions):
		out.State = api.StateShrinking
	default:
		out.State = api.StateFinishing
	}
	out.Message = "the manager leading etcd walks the map; it has the details"
	if r.m.isLeader() {
		out.Message = r.lastMessage()
	}
	return out, nil
}

// applyFlag makes a changed --partitions a re-partitioning request: the value is compared
// with the one the managers last applied (kept in etcd), so a manager restarted with the
// same flags changes nothing, and only a raise is acted on (fewer partitions must be asked
// for explicitly: insightctl scale --partitions, or POST /v1/repartition).
func (m *Manager) applyFlag(ctx context.Context) error {
	flag := strconv.Itoa(m.cfg.Partitions)
	prev, rev, err := registry.AppliedFlag(ctx, m.cli, cluster.ManagerPartitionsKey)
	if err != nil {
		return err
	}
	if prev == flag {
		return nil
	}
	if prev != "" { // the flag changed since the managers last applied it
		st, err := registry.Load(ctx, m.cli)
		if err != nil || st.Map == nil {
			return err
		}
		have := len(st.Map.Partitions)
		switch {
		case m.cfg.Partitions > have:
			// Recorded as applied only once requested, so a failed request is tried
			// again at the next start.
			if _, oe := m.requestRepartition(ctx, m.cfg.Partitions, nil); oe != nil {
				return fmt.Errorf("--partitions raised from %s to %s: %s", prev, flag, oe.msg)
			}
			m.log.Info("--partitions raised: re-partitioning", "from", have, "to", m.cfg.Partitions)
		case m.cfg.Partitions < have:
			m.log.Warn("--partitions is lower than the partitions the grid runs; nothing is removed: drain them with insightctl scale --partitions or POST /v1/repartition",
				"flag", m.cfg.Partitions, "partitions", have)
		}
	}
	// Another manager recording the same flag meanwhile makes the compare fail: nothing
	// to do then.
	if err := registry.SetAppliedFlag(ctx, m.cli, cluster.ManagerPartitionsKey, flag, rev); err != nil && !errors.Is(err, registry.ErrConflict) {
		return err
	}
	return nil
}

// requestRepartition sets the map's target to n, copying at rate bytes per second per
// source (nil: --repartition-rate for a new request, unchanged for the one in progress).
// It refuses while another target is being reached.
func (m *Manager) requestRepartition(ctx context.Context, n int, rate *api.Rate) (api.RepartitionStatus, *opError) {
	for {
		st, err := registry.Load(ctx, m.cli)
		if err != nil {
			return api.RepartitionStatus{}, unavailable("cluster state unavailable: %v", err)
		}
		if st.Map == nil {
			return api.RepartitionStatus{}, unavailable("%v", errNoMap)
		}
		pm := st.Map
		busy := pm.Target != 0 || len(pm.Moves) > 0
		if busy && pm.Target != n {
			cur, _ := m.repart.status(st)
			return cur, conflict("re-partitioning to %d partitions is in progress (%s, %d slots left): wait until GET /v1/repartition shows state idle, then ask for %d",
				pm.Target, cur.State, cur.SlotsRemaining, n)
		}
		next := *pm
		switch {
		case busy && rate != nil && int64(*rate) != pm.MoveRate:
			next.MoveRate = int64(*rate)
			if err := m.repart.commit(ctx, st, &next, fmt.Sprintf("move rate set to %d bytes/s", *rate), nil); err != nil {
				return api.RepartitionStatus{}, unavailable("%v", err)
			}
			continue
		case busy || n == len(pm.Partitions):
			cur, err := m.repart.status(st)
			if err != nil {
				return cur, unavailable("%v", err)
			}
			return cur, nil
		}
		next.Target, next.MoveRate = n, m.cfg.RepartitionRate
		if rate != nil {
			next.MoveRate = int64(*rate)
		}
		if err := m.repart.commit(ctx, st, &next, fmt.Sprintf("re-partitioning from %d to %d partitions requested (at most %d bytes/s per source; 0: no limit)", len(pm.Partitions), n, next.MoveRate), nil); err != nil {
			return api.RepartitionStatus{}, unavailable("%v", err)
		}
		if ctx.Err() != nil {
			return api.RepartitionStatus{}, unavailable("%v", ctx.Err())
		}
		// Read back: the CAS may have lost to another change, in which case we look again.
	}
}
