package wan

import (
	"math"

	"github.com/cespare/xxhash/v2"

	"github.com/insightgrid/insight/grid/slots"
)

// The per-slot digests sites compare to repair each other (anti-entropy). A slot's digest
// is the sum modulo 2^64 of a 64-bit hash of every (key, HLC, site) of its metadata,
// tombstones included, and the count of those entries: a sum does not depend on the order
// of the entries, so every change of a key's metadata updates it in O(1) (its old entry's
// hash out, the new one's in) and no walk recomputes it. Two sites holding the same writes
// of a slot's keys hold the same digest, whatever their partitioning; the slots whose
// digests differ are compared key by key (Entries). This is Hazelcast's Merkle-tree WAN
// sync and Cassandra's repair with one level of 16384 leaves: the hash is over the
// metadata, not the values, as one write (HLC, site) makes one value everywhere.

// digests is the tracker's per-slot digests, and whether the keys that were in the store
// without metadata have been stamped (StampUnmarked).
type digests struct {
	slot    [slots.Count]SlotDigest
	stamped bool
}

// SlotDigest is one slot's digest: Keys entries whose hashes sum to Sum.
type SlotDigest struct {
	Keys int    `json:"keys"`
	Sum  uint64 `json:"sum"`
}

// entryHash is the hash of a key's metadata: the key, the write's timestamp and its site.
func entryHash(k string, h uint64, site string) uint64 {
	x := xxhash.Sum64String(k)
	x ^= mix64(h ^ xxhash.Sum64String(site))
	return mix64(x)
}

// mix64 is SplitMix64's finalizer: every bit of x moves about half the bits of the result.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// digestSet moves key k of slot from its old entry (had) to e in the slot's digest; t.mu held.
func (t *Tracker) digestSet(slot int, k string, old entry, had bool, e entry) {
	d := &t.dig.slot[slot]
	if had {
		d.Sum -= entryHash(k, old.hlc, t.sites[old.site])
		d.Keys--
	}
	d.Sum += entryHash(k, e.hlc, t.sites[e.site])
	d.Keys++
}

// digestDrop takes key k's entry e out of slot's digest; t.mu held.
func (t *Tracker) digestDrop(slot int, k string, e entry) {
	d := &t.dig.slot[slot]
	d.Sum -= entryHash(k, e.hlc, t.sites[e.site])
	d.Keys--
}

// Digests returns the digests of the slots in ids that hold entries.
func (t *Tracker) Digests(ids []int) []SiteDigest {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []SiteDigest
	for _, s := range ids {
		if d := t.dig.slot[s]; d.Keys > 0 {
			out = append(out, SiteDigest{Slot: s, SlotDigest: d})
		}
	}
	return out
}

// recomputeDigest is slot's digest computed from its metadata by a walk; tests compare it
// with the incremental one.
func (t *Tracker) recomputeDigest(slot int) SlotDigest {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d SlotDigest
	for k, e := range t.meta[slot] {
		d.Sum += entryHash(k, e.hlc, t.sites[e.site])
		d.Keys++
	}
	return d
}

// Entry is one key's metadata as a repair compares it: the write (HLC, site) it holds,
// and whether that write deleted the key (a tombstone).
type Entry struct {
	Key     []byte `json:"k"`
	HLC     uint64 `json:"h"`
	Site    string `json:"s"`
	Deleted bool   `json:"d,omitempty"`
	// Merge marks a key under a merge policy (pn-counter, add-wins): its state goes to a
	// site whose entry differs at all, not only to one holding an older write, as each
	// site keeps the stamp of its own last write of it and merging again is harmless.
	Merge bool `json:"m,omitempty"`
}

// Entries lists slot's metadata, tombstones marked Deleted.
func (t *Tracker) Entries(slot int) []Entry {
	t.mu.Lock()
	out := make([]Entry, 0, len(t.meta[slot]))
	for k, e := range t.meta[slot] {
		out = append(out, Entry{Key: []byte(k), HLC: e.hlc, Site: t.sites[e.site], Merge: t.states[slot][k] != nil})
	}
	t.mu.Unlock()
	for i := range out {
		out[i].Deleted = !t.cfg.Store.Exists(out[i].Key)
	}
	return out
}

// Changes returns the changes that carry want's writes, as Pull makes them: each key's
// whole value (nil when deleted), or for a key under a merge policy (pn-counter, add-wins)
// its merge state, with the entry's (HLC, site), for the keys whose metadata still names
// that write. A key written again since is left out (that write travels on its own).
func (t *Tracker) Changes(want []Entry) []Change {
	out := make([]Change, 0, len(want))
	for _, w := range want {
		slot := slots.Of(w.Key)
		t.mu.Lock()
		merged := t.states[slot][string(w.Key)] != nil
		t.mu.Unlock()
		// The value first: the store records a write's metadata under the slot's lock,
		// so metadata read after the value names the write that made it, or a later one.
		var op []byte
		if !merged {
			op, _ = t.cfg.Store.DumpKey(w.Key)
		}
		t.mu.Lock()
		e, ok := t.meta[slot][string(w.Key)]
		same := ok && e.hlc == w.HLC && t.sites[e.site] == w.Site
		var state []byte
		if st := t.states[slot][string(w.Key)]; st != nil {
			state = st.encode(nil)
		}
		t.mu.Unlock()
		if !same || (state != nil) != merged {
			continue
		}
		out = append(out, Change{Key: w.Key, HLC: w.HLC, Site: w.Site, Op: op, State: state})
	}
	return out
}

// unmarkedHLC is the timestamp StampUnmarked gives a key that was in the store without
// metadata: older than any write made with WAN on anywhere (a clock's first timestamp is
// the wall time), so any real write of the key wins over it, yet a real timestamp a
// target applies, so a site lacking the key gets it.
const unmarkedHLC uint64 = 1

// StampUnmarked gives every key of the store without metadata (data that was there before
// WAN replication was on) the metadata (unmarkedHLC, this site), journaled with j, once
// per tracker: from then on every key has metadata, as every change stamps its key.
// exclusive holds off the slot's commands while its keys are looked at. It returns how
// many keys it stamped.
func (t *Tracker) StampUnmarked(exclusive func(slot int, fn func()), j Journal) int {
	t.mu.Lock()
	done := t.dig.stamped
	t.mu.Unlock()
	if done {
		return 0
	}
	n := 0
	for slot := range slots.Count {
		if t.cfg.Store.CountInSlot(slot) == 0 {
			continue
		}
		exclusive(slot, func() {
			keys := t.cfg.Store.KeysInSlot(slot, math.MaxInt)
			t.mu.Lock()
			defer t.mu.Unlock()
			for _, key := range keys {
				k := string(key)
				if _, ok := t.meta[slot][k]; ok {
					continue
				}
				t.stampUnmarked(slot, k)
				j(slot, appendMeta(nil, key, unmarkedHLC, t.cfg.Site))
				n++
			}
		})
	}
	t.mu.Lock()
	t.dig.stamped = true
	t.mu.Unlock()
	return n
}

// stampUnmarked adds key k's metadata (unmarkedHLC, this site); t.mu held. An outbox that
// every target acknowledged past it does not queue it (it would count as unsent); the
// repairs carry it.
func (t *Tracker) stampUnmarked(slot int, k string) {
	e := entry{hlc: unmarkedHLC}
	t.clock.Observe(unmarkedHLC)
	if unmarkedHLC > t.trimmed {
		t.set(slot, k, e)
		return
	}
	if t.meta[slot] == nil {
		t.meta[slot] = map[string]entry{}
	}
	t.meta[slot][k] = e
	t.keys++
	t.digestSet(slot, k, entry{}, false, e)
}

// SiteDigest is one slot's digest at a site, as the gateways exchange them.
type SiteDigest struct {
	Slot int `json:"slot"`
	SlotDigest
}

// DiffSlots returns the slots where mine holds entries whose digest differs from theirs,
// in slot order: the slots where this site may hold writes the other lacks. A slot only
// the other holds entries of has nothing to send from here.
func DiffSlots(mine, theirs []SiteDigest) []int {
	other := make(map[int]SlotDigest, len(theirs))
	for _, d := range theirs {
		other[d.Slot] = d.SlotDigest
	}
	var out []int
	for _, d := range mine {
		if d.Keys > 0 && other[d.Slot] != d.SlotDigest {
			out = append(out, d.Slot)
		}
	}
	return out
}

// Better returns mine's entries that win over theirs by last-writer-wins (HLC, then site
// name), or that theirs lacks — tombstones too — or, for a key under a merge policy, whose
// entry differs from theirs at all; except the writes made at site target:
// those name the target, which refuses a change from itself (it made them, so it holds
// them, or a newer write, unless it lost its data). skipped counts those.
func Better(mine, theirs []Entry, target string) (better []Entry, skipped int) {
	other := make(map[string]Entry, len(theirs))
	for _, e := range theirs {
		other[string(e.Key)] = e
	}
	for _, e := range mine {
		o, ok := other[string(e.Key)]
		differs := e.HLC != o.HLC || e.Site != o.Site
		if ok && !wins(e.HLC, e.Site, o.HLC, o.Site) && (!e.Merge || !differs) {
			continue
		}
		if e.Site == target {
			skipped++
			continue
		}
		better = append(better, e)
	}
	return better, skipped
}

// wins reports whether the write (h, site) wins over (oh, osite) by last-writer-wins, as
// Tracker.newer decides it.
func wins(h uint64, site string, oh uint64, osite string) bool {
	if h != oh {
		return h > oh
	}
	return site > osite
}
