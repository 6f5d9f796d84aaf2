package wan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// The merge policies' per-key state (state-based CRDTs). Each is a join semilattice:
// merging two states takes, per component, the maximum, so merging is commutative,
// associative and idempotent — the sites converge whatever order states arrive in, and
// a batch delivered twice (the gateway delivers at least once) changes nothing the
// second time.

// mergeState is a key's state under a merge policy.
type mergeState interface {
	// join merges other in; it reports whether anything changed.
	join(other mergeState) (changed bool, err error)
	encode(b []byte) []byte
	clone() mergeState
}

// State encodings' first byte.
const (
	stateCounter byte = 1
	stateORSet   byte = 2
)

// counter is a PN-counter with observed reset: per origin site the cumulative
// increments p and decrements n it made, and per site the p and n a deletion observed
// (obsP, obsN). All four only grow. The value is Σ(p−obsP) − Σ(n−obsN): a deletion
// cancels the increments it saw, and an increment made concurrently at another site
// (not seen by the deletion) survives it.
type counter struct {
	p, n, obsP, obsN map[string]uint64
}

func newCounter() *counter {
	return &counter{p: map[string]uint64{}, n: map[string]uint64{}, obsP: map[string]uint64{}, obsN: map[string]uint64{}}
}

// value is the counter's value, and whether the key exists (an operation since the last
// observed deletion).
func (c *counter) value() (v int64, present bool) {
	var ops uint64
	for s, p := range c.p {
		d := p - c.obsP[s]
		v += int64(d)
		ops += d
	}
	for s, n := range c.n {
		d := n - c.obsN[s]
		v -= int64(d)
		ops += d
	}
	return v, ops > 0
}

// set makes site's contribution change the value to v (SET, INCRBY: the store holds
// the result, this is the difference).
func (c *counter) set(site string, v int64) {
	cur, present := c.value()
	switch d := v - cur; {
	case d > 0:
		c.p[site] += uint64(d)
	case d < 0:
		c.n[site] += uint64(-d)
	case !present:
		c.p[site]++ // a SET of 0 on an absent key: it exists now, at 0
		c.n[site]++
	}
}

// reset is a deletion: it observes every contribution so far.
func (c *counter) reset() {
	maps.Copy(c.obsP, c.p)
	maps.Copy(c.obsN, c.n)
}

func joinMax(dst, src map[string]uint64) bool {
	changed := false
	for s, v := range src {
		if v > dst[s] {
			dst[s], changed = v, true
		}
	}
	return changed
}

func (c *counter) join(o mergeState) (bool, error) {
	oc, ok := o.(*counter)
	if !ok {
		return false, errors.New("a pn-counter state merged with another policy's")
	}
	a, b := joinMax(c.p, oc.p), joinMax(c.n, oc.n)
	d, e := joinMax(c.obsP, oc.obsP), joinMax(c.obsN, oc.obsN)
	return a || b || d || e, nil
}

func (c *counter) clone() mergeState {
	return &counter{p: maps.Clone(c.p), n: maps.Clone(c.n), obsP: maps.Clone(c.obsP), obsN: maps.Clone(c.obsN)}
}

func appendSiteMap(b []byte, m map[string]uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, s := range slices.Sorted(maps.Keys(m)) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
		b = binary.AppendUvarint(b, m[s])
	}
	return b
}

func (r *reader) siteMap() map[string]uint64 {
	n := r.u64()
	if n > uint64(len(r.b)) {
		r.err = errors.New("truncated map")
		return nil
	}
	m := make(map[string]uint64, n)
	for range n {
		s, v := r.bytes(), r.u64()
		if r.err != nil {
			return nil
		}
		m[string(s)] = v
	}
	return m
}

func (c *counter) encode(b []byte) []byte {
	b = append(b, stateCounter)
	for _, m := range []map[string]uint64{c.p, c.n, c.obsP, c.obsN} {
		b = appendSiteMap(b, m)
	}
	return b
}

// orset is an add-wins set by observed-remove without tombstones (Riak DT's ORSWOT):
// each member holds the tags (dots) of the adds that made it, at most one per origin site
// (that site's HLC at the add), and vv holds per site the newest add tag seen from it. An
// add at a site replaces the member's tags by its own new one (it observed the others);
// a remove drops the member's tags. Merging keeps a tag both states hold, and a tag
// only one holds when the other has not seen it (newer than its vv for that site): so a
// remove cancels only the adds it observed, and a concurrent add wins.
type orset struct {
	vv      map[string]uint64
	members map[string]map[string]uint64 // member → site → tag
}

func newORSet() *orset {
	return &orset{vv: map[string]uint64{}, members: map[string]map[string]uint64{}}
}

func (s *orset) add(site string, tag uint64, m []byte) {
	s.members[string(m)] = map[string]uint64{site: tag}
	s.vv[site] = max(s.vv[site], tag)
}

func (s *orset) remove(m []byte) { delete(s.members, string(m)) }

func (s *orset) has(m string) bool { return len(s.members[m]) > 0 }

func (s *orset) join(o mergeState) (bool, error) {
	os, ok := o.(*orset)
	if !ok {
		return false, errors.New("an add-wins state merged with another policy's")
	}
	changed := false
	for m, dots := range s.members {
		od := os.members[m]
		for site, tag := range dots {
			if od[site] != tag && tag <= os.vv[site] {
				delete(dots, site) // removed there after it saw this add
				changed = true
			}
		}
		for site, tag := range od {
			if tag > dots[site] && tag > s.vv[site] {
				dots[site], changed = tag, true
			}
		}
		if len(dots) == 0 {
			delete(s.members, m)
		}
	}
	for m, od := range os.members {
		if _, seen := s.members[m]; seen {
			continue
		}
		var dots map[string]uint64
		for site, tag := range od {
			if tag > s.vv[site] {
				if dots == nil {
					dots = map[string]uint64{}
				}
				dots[site] = tag
			}
		}
		if dots != nil {
			s.members[m], changed = dots, true
		}
	}
	if joinMax(s.vv, os.vv) {
		changed = true
	}
	return changed, nil
}

func (s *orset) clone() mergeState {
	c := &orset{vv: maps.Clone(s.vv), members: make(map[string]map[string]uint64, len(s.members))}
	for m, d := range s.members {
		c.members[m] = maps.Clone(d)
	}
	return c
}

func (s *orset) encode(b []byte) []byte {
	b = append(b, stateORSet)
	b = appendSiteMap(b, s.vv)
	b = binary.AppendUvarint(b, uint64(len(s.members)))
	for _, m := range slices.Sorted(maps.Keys(s.members)) {
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
		b = appendSiteMap(b, s.members[m])
	}
	return b
}

// decodeState decodes a state encode made.
func decodeState(b []byte) (mergeState, error) {
	if len(b) == 0 {
		return nil, errors.New("empty merge state")
	}
	r := reader{b: b[1:]}
	var st mergeState
	switch b[0] {
	case stateCounter:
		c := &counter{p: r.siteMap(), n: r.siteMap(), obsP: r.siteMap(), obsN: r.siteMap()}
		st = c
	case stateORSet:
		s := &orset{vv: r.siteMap(), members: map[string]map[string]uint64{}}
		n := r.u64()
		if n > uint64(len(r.b)) {
			r.err = errors.New("truncated set")
		}
		for i := uint64(0); i < n && r.err == nil; i++ {
			m, dots := r.bytes(), r.siteMap()
			if r.err == nil && len(dots) > 0 {
				s.members[string(m)] = dots
			}
		}
		st = s
	default:
		return nil, fmt.Errorf("merge state type %#x unknown", b[0])
	}
	if r.err != nil {
		return nil, fmt.Errorf("merge state: %w", r.err)
	}
	if len(r.b) != 0 {
		return nil, errors.New("merge state: trailing bytes")
	}
	return st, nil
}

// kindOf is the policy a state belongs to.
func kindOf(st mergeState) PolicyKind {
	if _, ok := st.(*counter); ok {
		return PolicyCounter
	}
	return PolicyAddWins
}

// parseCounter parses a counter's value as INCRBY does.
func parseCounter(v []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil && len(v) > 0 && len(v) <= 20
}
