package server

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/insightgrid/insight/grid/store"
)

// XREAD and XREADGROUP with BLOCK, as Redis 7.0's xreadCommand parks them and blocked.c
// serves them (serveClientsBlockedOnStreamKey), on the mechanism of block.go. A read that
// finds nothing waits on all its streams, with the IDs it resolved ("$" is the stream's
// last ID when the command ran); a write to one of them serves the reader from that
// stream alone: XREAD the entries after its ID for that key, XREADGROUP with ">" the
// entries after its group's last delivered ID at that moment, added to the consumer's
// pending list unless NOACK, as the non-blocking form does (and journaled alike). A
// group destroyed meanwhile answers NOGROUP (XGROUP DESTROY signals the key, as in
// Redis); a stream deleted, flushed, expired, evicted or replaced by another type
// answers UNBLOCKED, as Redis 7.0's unblockDeletedStreamReadgroupClients does (expiry and
// eviction signal the key through the store's key events, block.go). XREAD waits on
// through both.

// Redis 7.0's replies to a blocked XREADGROUP whose group, or stream, is gone.
const (
	errNoGroupBlocked = "NOGROUP the consumer group this client was blocked on no longer exists"
	errStreamGone     = "UNBLOCKED the stream key no longer exists"
)

// blockXRead parks the client after a read with BLOCK ms that found nothing.
func (c *conn) blockXRead(p *xreadPrep) {
	var deadline time.Time
	if ms := p.a.block; ms > 0 && ms <= math.MaxInt64/int64(time.Millisecond) {
		deadline = time.Now().Add(time.Duration(ms) * time.Millisecond)
	}
	q := p.clone()
	c.block(q.a.keys, deadline, func(c *conn, key []byte) (bool, [][]byte) {
		return c.serveXRead(q, key), nil
	})
}

// clone copies what a parked read keeps of its arguments (they live in the read buffer).
func (p *xreadPrep) clone() *xreadPrep {
	q := &xreadPrep{a: p.a, ids: slices.Clone(p.ids), gids: slices.Clone(p.gids)}
	q.a.keys = make([][]byte, len(p.a.keys))
	for i, k := range p.a.keys {
		q.a.keys[i] = bytes.Clone(k)
	}
	q.a.ids = nil
	q.a.group, q.a.cname = bytes.Clone(p.a.group), bytes.Clone(p.a.cname)
	return q
}

// serveXRead serves the parked read p from key, which a write signalled; false when it
// has nothing for p (p keeps waiting). A key given twice waits with its first ID, as
// Redis's blockForKeys keeps the first.
func (c *conn) serveXRead(p *xreadPrep, key []byte) bool {
	i := slices.IndexFunc(p.a.keys, func(k []byte) bool { return bytes.Equal(k, key) })
	switch {
	case i < 0:
		return false
	case c.s.store.Type(key) == store.KindStream:
	case p.a.grouped:
		// The stream it blocked on (with its group) is gone: deleted, flushed or
		// replaced by a value of another type.
		c.wr.Error(errStreamGone)
		return true
	default:
		return false
	}
	var (
		res []store.XReadResult
		err error
	)
	if p.a.grouped {
		res, err = c.s.store.XReadGroup([][]byte{key}, []store.XReadGroupID{{New: true}}, p.a.group, p.a.cname, p.a.count, p.a.noack)
	} else {
		res, err = c.s.store.XRead([][]byte{key}, []store.StreamID{p.ids[i]}, p.a.count)
	}
	switch {
	case errors.Is(err, store.ErrWrongType):
		return false
	case err != nil && p.a.grouped:
		// The stream is there (checked above), so its group is gone.
		c.wr.Error(errNoGroupBlocked)
		return true
	case err != nil:
		c.writeStoreErr(err)
		return true
	case len(res) == 0:
		return false
	}
	c.writeXRead(res)
	return true
}
