package wan

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store"
)

// wins reports whether the write (h, site) wins over cur under pol (nil: last-writer-wins):
// by priority the higher-ranked site first; then the later timestamp, and between equal
// ones the greater site name, so every site picks the same; t.mu held.
func (t *Tracker) wins(pol *Policy, h uint64, site string, cur entry) bool {
	if pol != nil && pol.Kind == PolicyPriority {
		if rc, rs := pol.rank(site), pol.rank(t.sites[cur.site]); rc != rs {
			return rc > rs
		}
	}
	return t.newer(h, site, cur)
}

// applyWinner applies a change whole if it wins over what the key holds (lww, priority).
func (t *Tracker) applyWinner(c Change, pol *Policy, exclusive func(slot int, fn func()), j Journal) (applied bool, err error) {
	slot := slots.Of(c.Key)
	exclusive(slot, func() { applied, err = t.winnerIn(slot, c, pol, j) })
	return applied, err
}

// winnerIn is applyWinner with the slot held.
func (t *Tracker) winnerIn(slot int, c Change, pol *Policy, j Journal) (bool, error) {
	k := string(c.Key)
	t.mu.Lock()
	cur, had := t.meta[slot][k]
	if had && !t.wins(pol, c.HLC, c.Site, cur) {
		if pol != nil && pol.Kind == PolicyPriority && cur.site == 0 && pol.rank(c.Site) < pol.rank(t.cfg.Site) {
			// The lower site wrote over this site's value there (it had it before its
			// write): stamped anew, the value goes to every site again and wins there,
			// so the sites converge on the higher site's write.
			e := entry{hlc: t.clock.Now()}
			t.set(slot, k, e)
			j(slot, appendMeta(nil, c.Key, e.hlc, t.cfg.Site))
		}
		t.mu.Unlock()
		return false, nil
	}
	e := entry{hlc: c.HLC, site: t.site(c.Site)}
	t.mu.Unlock()
	err := t.write(slot, c, e, func() error {
		if c.Op == nil {
			t.cfg.Store.Del(c.Key)
			return nil
		}
		return t.cfg.Store.Restore(slot, c.Op)
	}, j)
	return err == nil, err
}

// write makes do's one journaled change of c.Key carry the stamp e (do changes it at
// most once); the slot is held, t.mu not.
func (t *Tracker) write(slot int, c Change, e entry, do func() error, j Journal) error {
	k := string(c.Key)
	t.mu.Lock()
	t.clock.Observe(c.HLC)
	t.override[k] = e
	t.mu.Unlock()
	err := do()
	if err != nil {
		err = fmt.Errorf("applying key %q from site %s: %w", c.Key, c.Site, err)
	}
	t.mu.Lock()
	if _, left := t.override[k]; left {
		// Nothing journaled (a deletion of an absent key, or a refused write): the
		// metadata alone records the change.
		delete(t.override, k)
		if err == nil {
			t.set(slot, k, e)
			j(slot, appendMeta(nil, c.Key, e.hlc, t.sites[e.site]))
		}
	}
	t.mu.Unlock()
	return err
}

// applyMerge merges a change's state into the key's (pn-counter, add-wins) and writes the
// merged value; a state that adds nothing (a batch delivered again) changes nothing.
func (t *Tracker) applyMerge(c Change, pol *Policy, exclusive func(slot int, fn func()), j Journal) (applied bool, err error) {
	if c.State == nil {
		return false, fmt.Errorf("key %q from site %s comes whole, but its policy here is %s: the sites' --wan-policy differ", c.Key, c.Site, pol)
	}
	rs, err := decodeState(c.State)
	if err != nil {
		return false, fmt.Errorf("key %q from site %s: %w", c.Key, c.Site, err)
	}
	if kindOf(rs) != pol.Kind {
		return false, fmt.Errorf("key %q from site %s carries a %s state, but its policy here is %s: the sites' --wan-policy differ", c.Key, c.Site, kindOf(rs), pol)
	}
	slot := slots.Of(c.Key)
	k := string(c.Key)
	exclusive(slot, func() {
		t.mu.Lock()
		cur := t.states[slot][k]
		var next mergeState
		if cur != nil {
			next = cur.clone()
		} else if pol.Kind == PolicyCounter {
			next = newCounter()
		} else {
			next = newORSet()
		}
		changed, jerr := next.join(rs)
		if jerr != nil || !changed {
			t.mu.Unlock()
			err = jerr
			return
		}
		t.clock.Observe(c.HLC)
		t.merging[k] = true
		t.mu.Unlock()
		err = t.writeMerged(c.Key, cur, next)
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.merging, k)
		if err != nil {
			err = fmt.Errorf("applying key %q from site %s: %w", c.Key, c.Site, err)
			return
		}
		t.putState(slot, k, next)
		// A local write not yet sent keeps its stamp: the outbox still sends the key
		// (with the merged state).
		if e, had := t.meta[slot][k]; !had || e.site != 0 && t.newer(c.HLC, c.Site, e) {
			e = entry{hlc: c.HLC, site: t.site(c.Site)}
			t.set(slot, k, e)
			j(slot, appendMeta(nil, c.Key, e.hlc, c.Site))
		}
		j(slot, appendState(nil, c.Key, next))
		applied = true
	})
	return applied, err
}

// writeMerged writes the value of the merged state next to the store, where cur (nil:
// none) was the key's state.
func (t *Tracker) writeMerged(key []byte, cur, next mergeState) error {
	st := t.cfg.Store
	switch n := next.(type) {
	case *counter:
		v, present := n.value()
		if c, ok := cur.(*counter); ok {
			if cv, cp := c.value(); cv == v && cp == present {
				return nil
			}
		}
		if !present {
			st.Del(key)
			return nil
		}
		_, err := st.Set(nil, key, strconv.AppendInt(nil, v, 10), store.SetOptions{})
		return err
	case *orset:
		old, _ := cur.(*orset)
		if k := st.Type(key); k != store.KindSet && k != store.KindNone {
			st.Del(key) // not a set here (a write the policy could not take): the merge decides
			old = nil
		}
		var add, rem [][]byte
		for m := range n.members {
			if old == nil || !old.has(m) {
				add = append(add, []byte(m))
			}
		}
		if old != nil {
			for m := range old.members {
				if !n.has(m) {
					rem = append(rem, []byte(m))
				}
			}
		}
		if len(rem) > 0 {
			if _, err := st.SRem(key, rem); err != nil {
				return err
			}
		}
		if len(add) > 0 {
			if _, err := st.SAdd(key, add); err != nil {
				return err
			}
		}
		return nil
	}
	return errors.New("unknown merge state")
}

// Version is one side of a conflict a lua: policy's function resolves.
type Version struct {
	Value  []byte
	Exists bool // false: the key is deleted (or never held a value) there
	HLC    uint64
	Site   string
}

// Resolver calls function with key, this site's version and the remote one, and
// returns the value the key is to hold (keep false: deleted).
type Resolver func(function string, key []byte, local, remote Version) (value []byte, keep bool, err error)

// applyLua resolves a conflict with the policy's function: strings only; a key holding
// another type on either side is resolved by last-writer-wins.
func (t *Tracker) applyLua(c Change, pol *Policy, exclusive func(slot int, fn func()), j Journal) (applied bool, err error) {
	slot := slots.Of(c.Key)
	k := string(c.Key)
	exclusive(slot, func() {
		t.mu.Lock()
		cur, had := t.meta[slot][k]
		if had && cur.hlc == c.HLC && t.sites[cur.site] == c.Site {
			t.mu.Unlock()
			return // this very write, delivered again
		}
		local := Version{}
		if had {
			local.HLC, local.Site = cur.hlc, t.sites[cur.site]
		}
		t.mu.Unlock()
		lop, kind := t.cfg.Store.DumpKey(c.Key)
		var ok bool
		if local.Value, ok = stringOf(lop); !ok || kind != store.KindNone && kind != store.KindString {
			applied, err = t.winnerIn(slot, c, nil, j)
			return
		}
		local.Exists = lop != nil
		remote := Version{HLC: c.HLC, Site: c.Site, Exists: c.Op != nil}
		if remote.Value, ok = stringOf(c.Op); !ok {
			applied, err = t.winnerIn(slot, c, nil, j)
			return
		}
		if t.cfg.Resolve == nil {
			err = fmt.Errorf("key %q: policy %s, but this instance has no resolver", c.Key, pol)
			return
		}
		val, keep, rerr := t.cfg.Resolve(pol.Function, c.Key, local, remote)
		if rerr != nil {
			err = fmt.Errorf("key %q from site %s: resolver %s: %w", c.Key, c.Site, pol.Function, rerr)
			return
		}
		t.mu.Lock()
		e := cur
		if !had || t.newer(c.HLC, c.Site, cur) {
			e = entry{hlc: c.HLC, site: t.site(c.Site)}
		}
		t.mu.Unlock()
		if had && e == cur && keep == local.Exists && bytes.Equal(val, local.Value) {
			return // the local version stays as it is
		}
		err = t.write(slot, c, e, func() error {
			if !keep {
				t.cfg.Store.Del(c.Key)
				return nil
			}
			_, err := t.cfg.Store.Set(nil, c.Key, val, store.SetOptions{})
			return err
		}, j)
		applied = err == nil
	})
	return applied, err
}

// stringOf is the string a whole-key operation recreates: nil op is a deleted key; ok is
// false for another type.
func stringOf(op []byte) (v []byte, ok bool) {
	if op == nil {
		return nil, true
	}
	store.OpEffects(op, func(e store.Effect) {
		if e.Op == store.EffectString {
			v, ok = bytes.Clone(e.Value), true
		}
	})
	return v, ok
}
