// Package migrate moves the keys of the slots leaving a partition to the partitions the
// partition map sends them to. It runs on every data instance and acts only while its
// instance is the serving primary of a partition that slots move out of (state migrating
// or handoff), at most at the map's MoveRate: for each such slot it takes a batch of keys under the slot's gate (no
// command touches the slot meanwhile), has the target's primary recreate them
// (SLOTIMPORT, acknowledged once the target's backup has them), deletes them here and
// waits until this partition's backup has the deletions too, then releases the gate.
// A key is thus always served by exactly one partition, and no copy an acknowledged write
// depends on is ever the only one. It must not depend on etcd: the view comes from the
// server, which gets it from whoever watches the cluster state.
package migrate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/insightgrid/insight/grid/cluster"
	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// Server is the part of the RESP server the mover uses.
type Server interface {
	View() *cluster.View
	// LockSlot keeps every command off slot until unlock.
	LockSlot(slot int) (unlock func())
}

// Replication is the part of the partition's replication the mover uses.
type Replication interface {
	Admit() (redirect, errReply string)
	Barrier(write bool, slot int) uint64
	Wait(seq uint64) bool
}

// Config is what a Mover needs.
type Config struct {
	Partition int
	Store     *store.Store
	Server    Server
	Repl      Replication
	Password  string // the targets' requirepass (every instance of a grid has the same)
	// TLS, when set, is the client side of the mutual TLS SLOTIMPORT is sent over, to the
	// target's replication port (cluster.Instance.InternalAddress); nil: plain.
	TLS    *tls.Config
	Logger *slog.Logger
	// BatchKeys and BatchBytes bound one SLOTIMPORT; Timeout bounds its round trip.
	BatchKeys, BatchBytes int
	Timeout               time.Duration
}

// Defaults for Config's bounds.
const (
	DefaultBatchKeys  = 256
	DefaultBatchBytes = 1 << 20
	DefaultTimeout    = 5 * time.Second
	// retryDelay is the pause after a failed batch before the slot is tried again.
	retryDelay = 200 * time.Millisecond
	// idleCheck is how often the mover looks at the view when nothing pokes it.
	idleCheck = time.Second
)

// Mover moves slots out of its partition; see the package comment.
type Mover struct {
	cfg  Config
	wake chan struct{}
	// paceAt is when the next batch may start under the view's MoveRate: each batch of b
	// bytes pushes it b/rate seconds further (used by Run's goroutine only).
	paceAt time.Time

	mu     sync.Mutex
	status cluster.MigrationStatus
	conns  map[string]*conn // by target address; used by Run's goroutine only
}

// New returns a mover; Run does the work.
func New(cfg Config) *Mover {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.BatchKeys <= 0 {
		cfg.BatchKeys = DefaultBatchKeys
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = DefaultBatchBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	return &Mover{cfg: cfg, wake: make(chan struct{}, 1), conns: map[string]*conn{}}
}

// Poke tells the mover the view changed.
func (m *Mover) Poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Status is the mover's progress for /v1/status.
func (m *Mover) Status() cluster.MigrationStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

func (m *Mover) setStatus(version int64, pending int, moved int64, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status.Version, m.status.PendingSlots = version, pending
	m.status.MovedKeys += moved
	m.status.Error = ""
	if err != nil {
		m.status.Error = err.Error()
	}
}

// Run moves slots whenever the view says so, until ctx ends.
func (m *Mover) Run(ctx context.Context) {
	defer func() {
		for _, c := range m.conns {
			c.close()
		}
	}()
	t := time.NewTicker(idleCheck)
	defer t.Stop()
	for {
		again := m.pass(ctx)
		if again {
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryDelay):
			case <-m.wake:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-t.C:
		}
	}
}

// outgoing lists the slots of v moving out of partition p that the mover works on.
func outgoing(v *cluster.View, p int) []int {
	var out []int
	for i := range v.Moves {
		mv := &v.Moves[i]
		if mv.From.ID != p || mv.State == cluster.MoveImporting {
			continue
		}
		for s := range slots.Count {
			if v.Move(s) == mv {
				out = append(out, s)
			}
		}
	}
	return out
}

// pass drains every outgoing slot of the current view once; it reports whether work is
// left (a failure, or a newer view) so Run comes back soon.
func (m *Mover) pass(ctx context.Context) bool {
	v := m.cfg.Server.View()
	if v == nil {
		return false
	}
	work := outgoing(v, m.cfg.Partition)
	if len(work) == 0 {
		m.setStatus(v.Version, 0, 0, nil)
		return false
	}
	pending := func() int {
		n := 0
		for _, s := range work {
			if m.cfg.Store.CountInSlot(s) > 0 {
				n++
			}
		}
		return n
	}
	if redirect, errReply := m.cfg.Repl.Admit(); redirect != "" || errReply != "" {
		// Not this partition's serving primary: the primary moves the slots. Report what
		// is left here anyway, for the curious.
		m.setStatus(v.Version, pending(), 0, nil)
		return false
	}
	var moved int64
	var lastErr error
	type failure struct {
		err     error
		skipped int
	}
	failed := map[int]*failure{} // by target partition: one failure a target and pass
	for _, s := range work {
		if ctx.Err() != nil {
			return false
		}
		if cur := m.cfg.Server.View(); cur != v {
			m.setStatus(v.Version, pending(), moved, lastErr)
			return true // a newer view: start over with its moves
		}
		to := v.Move(s).To.ID
		if f := failed[to]; f != nil {
			f.skipped++ // its other slots wait for the next pass
			continue
		}
		n, err := m.drain(ctx, v, s)
		moved += int64(n)
		if err != nil {
			lastErr = err
			failed[to] = &failure{err: err}
		}
	}
	for to, f := range failed {
		m.cfg.Logger.Warn("moving slots failed, retrying", "to", to, "err", f.err, "slotsLeftForNextPass", f.skipped)
	}
	left := pending()
	m.setStatus(v.Version, left, moved, lastErr)
	if left == 0 && moved > 0 {
		m.cfg.Logger.Info("slots moved out", "version", v.Version, "slots", len(work), "keys", moved)
	}
	return left > 0
}

// errNotPrimary ends a drain when this instance stopped being the serving primary.
var errNotPrimary = errors.New("no longer the partition's serving primary")

// drain moves every key of slot to its target, batch by batch, and returns how many it
// moved.
func (m *Mover) drain(ctx context.Context, v *cluster.View, slot int) (int, error) {
	mv := v.Move(slot)
	if mv.To.Primary == nil {
		return 0, fmt.Errorf("target partition %d has no primary registered", mv.To.ID)
	}
	addr := mv.To.Primary.InternalAddress()
	moved := 0
	for ctx.Err() == nil {
		if err := m.pace(ctx, v.MoveRate); err != nil {
			return moved, err
		}
		c, err := m.conn(addr)
		if err != nil {
			return moved, err
		}
		n, size, err := m.batch(c, v.Version, slot)
		moved += n
		if v.MoveRate > 0 {
			m.paceAt = m.paceAt.Add(time.Duration(float64(size) / float64(v.MoveRate) * float64(time.Second)))
		}
		switch {
		case err != nil:
			if !errors.Is(err, errNotPrimary) && !isReply(err) {
				c.close()
				delete(m.conns, addr)
			}
			return moved, err
		case n == 0:
			return moved, nil
		}
	}
	return moved, ctx.Err()
}

// pace waits until the next batch may start under rate (bytes per second; 0: at once).
func (m *Mover) pace(ctx context.Context, rate int64) error {
	now := time.Now()
	if rate <= 0 || !m.paceAt.After(now) {
		m.paceAt = now
		return nil
	}
	t := time.NewTimer(m.paceAt.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batch moves up to one batch of slot's keys over c, holding the slot's gate throughout,
// and returns how many keys and bytes it moved.
func (m *Mover) batch(c *conn, version int64, slot int) (int, int, error) {
	unlock := m.cfg.Server.LockSlot(slot)
	defer unlock()
	keys, ops := m.cfg.Store.DumpKeys(slot, m.cfg.BatchKeys, m.cfg.BatchBytes)
	if len(keys) == 0 {
		// What is left has expired: gone here as it would be on the target.
		m.cfg.Store.DropExpired(slot)
		return 0, 0, nil
	}
	size := 0
	for _, op := range ops {
		size += len(op)
	}
	if err := c.slotImport(version, slot, ops, m.cfg.Timeout); err != nil {
		return 0, 0, fmt.Errorf("SLOTIMPORT of %d keys of slot %d to %s: %w", len(keys), slot, c.addr, err)
	}
	for _, k := range keys {
		m.cfg.Store.Del(k)
	}
	if seq := m.cfg.Repl.Barrier(true, slot); seq > 0 && !m.cfg.Repl.Wait(seq) {
		return len(keys), size, errNotPrimary
	}
	return len(keys), size, nil
}

func (m *Mover) conn(addr string) (*conn, error) {
	if c := m.conns[addr]; c != nil {
		return c, nil
	}
	c, err := dial(addr, m.cfg.Password, m.cfg.TLS, m.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	m.conns[addr] = c
	return c, nil
}
