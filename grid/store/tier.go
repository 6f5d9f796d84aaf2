package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// Tiered storage keeps the values of cold keys on disk when used memory passes maxmemory,
// as Redis Enterprise's Auto Tiering does: a write that would pass the limit first spills
// keys chosen like allkeys-lru (sampled, the idlest first) instead of evicting them. A
// spilled key keeps its record in RAM (key, type, expiry, access clock) with flagSpilled
// and a stub body, the value's length, so SCAN, KEYS, TYPE, TTL and EXISTS never read the
// disk and used memory counts only what stays in RAM. The value goes to the Tier under the
// key, as the record's body: only values whose body is the whole value spill (strings and
// the small encodings of hashes, sets and sorted sets); lists, streams and collections in
// table encoding stay in RAM.
//
// A reader (slot read-locked) of a spilled key gets the value read from the tier into a
// copy (one disk read, timed) and queues the key to be faulted back in; a writer (slot
// write-locked) faults it back in at once, so every command works on spilled keys without
// knowing of them. Deleting, overwriting or expiring a key deletes its copy on disk.
//
// The tier is a cache, not durability: the journal stays the source of truth, and a tier
// opened at start is empty (its values are rebuilt by spilling as the journal is replayed).

// flagSpilled marks a key's record whose value is in the tier; its body is the value's
// length and the spill's sequence number (uvarints), which tells a value read before the
// key was overwritten and spilled again from the current one.
const flagSpilled = 0x10

// Tier keeps spilled values on disk.
type Tier interface {
	// Put stores val under key, replacing what was there.
	Put(key, val []byte) error
	// Get appends the value stored under key to dst.
	Get(dst, key []byte) ([]byte, error)
	// Delete removes key.
	Delete(key []byte) error
}

// ErrTierFull is the reply to a write that needs room in RAM when the tier's disk budget
// cannot take the values it would spill.
var ErrTierFull error = replyError("OOM command not allowed when used memory > 'maxmemory' and the tiered storage is full ('tiering-max-disk').")

// promoteQueue bounds the keys read cold waiting to be faulted back in; past it, a cold
// read does not queue its key (the next read or write of it does).
const promoteQueue = 1024

// tiering is a store's tiered storage state.
type tiering struct {
	t        Tier // nil: tiering is off
	maxDisk  int64
	disk     atomic.Int64 // bytes of keys and values in the tier
	spilled  atomic.Int64 // keys whose value is in the tier
	cold     atomic.Int64 // reads and writes that read a value from the tier
	coldNs   atomic.Int64 // the time those reads took
	coldMax  atomic.Int64 // the longest of them
	spills   atomic.Int64 // values moved to the tier since start
	full     atomic.Bool  // the last spill found the disk budget used up
	promote  chan promotion
	seq      atomic.Uint64 // the last spill's sequence number
	stop     chan struct{}
	done     sync.WaitGroup
	failures atomic.Int64 // tier reads or writes that failed
}

// promotion is a key read cold, with the value read and the spill it was read from.
type promotion struct {
	key, val []byte
	seq      uint64
}

// TierStats are the counters INFO and the metrics report.
type TierStats struct {
	Enabled     bool
	Keys        int64 // keys whose value is on disk
	DiskBytes   int64 // their keys' and values' bytes
	MaxDisk     int64 // the disk budget; 0: none
	ColdReads   int64 // reads of a value from disk
	ColdReadNs  int64 // the total time of those reads
	ColdReadMax int64 // the longest, in nanoseconds
	Spills      int64 // values moved to disk since start
	Failures    int64 // disk reads or writes that failed
}

// EnableTiering spills cold values to t, up to maxDisk bytes of keys and values (0: no
// budget), when a write would take used memory past maxmemory. The store must hold no
// spilled key from an earlier tier; call before serving.
func (s *Store) EnableTiering(t Tier, maxDisk int64) {
	s.tier.t, s.tier.maxDisk = t, maxDisk
	s.tier.promote = make(chan promotion, promoteQueue)
	s.tier.stop = make(chan struct{})
	s.tier.done.Add(1)
	go s.promoter()
}

// CloseTiering stops faulting keys back in; the tier stays readable until the caller
// closes it (after the store serves no more).
func (s *Store) CloseTiering() {
	if s.tier.t == nil || s.tier.stop == nil {
		return
	}
	close(s.tier.stop)
	s.tier.done.Wait()
	s.tier.stop = nil
}

// Tiering reports the tiered storage's counters.
func (s *Store) Tiering() TierStats {
	t := &s.tier
	return TierStats{Enabled: t.t != nil, Keys: t.spilled.Load(), DiskBytes: t.disk.Load(), MaxDisk: t.maxDisk,
		ColdReads: t.cold.Load(), ColdReadNs: t.coldNs.Load(), ColdReadMax: t.coldMax.Load(),
		Spills: t.spills.Load(), Failures: t.failures.Load()}
}

// OOMError is the error a write refused past maxmemory gets: ErrTierFull when tiering's
// disk budget is what is missing, else ErrOOM.
func (s *Store) OOMError() error {
	if s.tier.t != nil && s.tier.full.Load() {
		return ErrTierFull
	}
	return ErrOOM
}

func (r *record) spilled() bool { return r.flags&flagSpilled != 0 }

// spillable reports whether r's value may move to the tier: its body is the whole value,
// and the stub left in RAM takes a smaller chunk.
func spillable(r *record) bool {
	if r.spilled() || r.table() {
		return false
	}
	switch r.kind() {
	case KindString, KindHash, KindSet, KindZSet:
	default:
		return false
	}
	stub := keyLen(r.key, r.exp, uvlen(len(r.body))+binary.MaxVarintLen64)
	return slab.ChunkSize(stub) < len(r.chunk)
}

// coldRead reads the spilled value of r from the tier into a copy: the record a reader
// sees, its body on the Go heap.
func (s *Store) coldRead(r record) (record, error) {
	start := time.Now()
	v, err := s.tier.t.Get(make([]byte, 0, stubLen(r.body)), r.key)
	d := time.Since(start).Nanoseconds()
	s.tier.cold.Add(1)
	s.tier.coldNs.Add(d)
	for m := s.tier.coldMax.Load(); d > m && !s.tier.coldMax.CompareAndSwap(m, d); m = s.tier.coldMax.Load() {
	}
	if err != nil {
		s.tier.failures.Add(1)
		return record{}, fmt.Errorf("ERR tiered storage: reading key %q: %w", r.key, err)
	}
	r.flags &^= flagSpilled
	r.body = v
	return r, nil
}

func stubLen(body []byte) int {
	n, _ := binary.Uvarint(body)
	return int(n)
}

func stubSeq(body []byte) uint64 {
	_, w := binary.Uvarint(body)
	seq, _ := binary.Uvarint(body[w:])
	return seq
}

// readCold is lookup's path for a spilled record under the slot's read lock: the value
// read from the tier, the key queued to come back to RAM. A failed read is the key absent
// (and counted); the value stays on disk.
func (s *Store) readCold(r record) (record, bool) {
	v, err := s.coldRead(r)
	if err != nil {
		return record{}, false
	}
	select {
	case s.tier.promote <- promotion{key: cloneBytes(r.key), val: v.body, seq: stubSeq(r.body)}:
	default:
	}
	return v, true
}

// faultIn brings the spilled value of r back into RAM (the slot is write-locked) and
// returns the record as stored; not limited by maxmemory (it spills others instead).
func (s *Store) faultIn(sl *slot, r record) (record, error) {
	v, err := s.coldRead(r)
	if err != nil {
		return record{}, err
	}
	// put deletes the tier's copy once the value is back.
	return s.put(sl, &r, r.key, v.flags, r.exp, v.body, false)
}

// dropCold deletes key's value, of size bytes with the key, from the tier.
func (s *Store) dropCold(key []byte, size int64) {
	if err := s.tier.t.Delete(key); err != nil {
		s.tier.failures.Add(1)
	}
	s.tier.disk.Add(-size)
	s.tier.spilled.Add(-1)
}

// spilledSize is the bytes the tier holds for the spilled record in chunk.
func spilledSize(chunk []byte) int64 {
	r := decode(chunk)
	return int64(len(r.key) + stubLen(r.body))
}

// forgetSpilled deletes the tier's copy of the spilled record in chunk, being removed.
func (s *Store) forgetSpilled(chunk []byte) {
	s.dropCold(decode(chunk).key, spilledSize(chunk))
}

// spillRoom spills cold values so that a write not limited by maxmemory (replayed from
// the journal or replicated) of grow more bytes still keeps RAM within it, as far as
// there are values to spill.
func (s *Store) spillRoom(grow int) {
	m := s.maxMem.Load()
	if grow <= 0 || m <= 0 || s.UsedMemory()+int64(slab.ChunkSize(grow)) <= m {
		return
	}
	_ = s.spillFor(grow, m) // past the budget, the write happens anyway: the primary decided
}

// promoter brings the keys read cold back into RAM with the value the reader read, when
// the key is still spilled from the same spill (the value is then the disk's).
func (s *Store) promoter() {
	defer s.tier.done.Done()
	for {
		select {
		case <-s.tier.stop:
			return
		case p := <-s.tier.promote:
			sl := s.slotOf(p.key)
			sl.mu.Lock()
			if r, ok := s.find(sl, p.key); ok && r.spilled() && r.liveAt(s.clock) && stubSeq(r.body) == p.seq {
				// put deletes the disk's copy; a failure leaves the value there.
				_, _ = s.put(sl, &r, p.key, r.flags&^flagSpilled, r.exp, p.val, false)
			}
			sl.mu.Unlock()
		}
	}
}

// spillKey moves the value of key in sl to the tier, unless another writer holds the
// slot, the key is gone or cannot spill; it returns the bytes of RAM the stub saves.
func (s *Store) spillKey(sl *slot, key []byte) (int64, bool) {
	if !sl.mu.TryLock() {
		return 0, false
	}
	defer sl.mu.Unlock()
	r, ok := s.find(sl, key)
	if !ok || !r.liveAt(s.clock) || !spillable(&r) {
		return 0, false
	}
	size := int64(len(r.key) + len(r.body))
	if m := s.tier.maxDisk; m > 0 && s.tier.disk.Load()+size > m {
		s.tier.full.Store(true)
		return 0, false
	}
	if err := s.tier.t.Put(r.key, r.body); err != nil {
		s.tier.failures.Add(1)
		return 0, false
	}
	before := int64(len(r.chunk))
	stub := binary.AppendUvarint(make([]byte, 0, 20), uint64(len(r.body)))
	stub = binary.AppendUvarint(stub, s.tier.seq.Add(1))
	nr, err := s.put(sl, &r, r.key, r.flags|flagSpilled, r.exp, stub, false)
	if err != nil {
		// The arena had no page for the smaller chunk: the value stays in RAM.
		_ = s.tier.t.Delete(key)
		return 0, false
	}
	s.tier.disk.Add(size)
	s.tier.spilled.Add(1)
	s.tier.spills.Add(1)
	return before - int64(len(nr.chunk)), true
}

// errNothingToSpill is spillFor's failure when sampling found no key to spill.
var errNothingToSpill = errors.New("no key to spill")

// spillFor spills cold values until a write of n more bytes fits under the limit m, as
// evictFor evicts; it fails with ErrTierFull when the disk budget is used up and
// errNothingToSpill when no key could spill.
func (s *Store) spillFor(n int, m int64) error {
	need := int64(slab.ChunkSize(n))
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	s.tier.full.Store(false)
	// A spill frees a chunk in a page that rarely empties, so used memory (the pages
	// touched) hardly falls: spilling goes on until the memory in use (records, indexes,
	// runtime) leaves room for the write, which then reuses a freed chunk of its size.
	// As eviction, a write that made room for itself by spilling maxEvictionsPerCall values
	// goes on (a jump of the runtime's memory may ask for more): the next writes spill on.
	for i := 0; s.liveMemory()+need > m && i < maxEvictionsPerCall; i++ {
		if _, err := s.spillOne(); err != nil && (i == 0 || errors.Is(err, ErrTierFull)) {
			return err
		} else if err != nil {
			return nil
		}
	}
	return nil
}

// liveMemory is UsedMemory with only the bytes of records in use counted of the arena.
func (s *Store) liveMemory() int64 {
	return s.arena.Live() + s.IndexBytes() + s.runtime.Load()
}

// spillToLimit spills cold values until the memory in use is at most m (the free chunks
// between records take the next writes), at most maxEvictionsPerCall of them; it reports
// whether it got there or made progress.
func (s *Store) spillToLimit(m int64) bool {
	if s.liveMemory() <= m {
		return true
	}
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	s.tier.full.Store(false)
	n := 0
	for ; s.liveMemory() > m && n < maxEvictionsPerCall; n++ {
		if _, err := s.spillOne(); err != nil {
			break
		}
	}
	s.arena.Trim()
	return n > 0 || s.liveMemory() <= m
}

// spillTries bounds the sampling rounds of one spill. Once most values are on disk, a
// round of maxmemory-samples keys often finds none left in RAM (one in six: five rounds in
// ten found nothing), where eviction's 16 rounds failed a write in about 20,000.
const spillTries = 64

// spillSampleTries bounds the keys drawn from a slot per value sampled to spill: keys
// already on disk are drawn again, so the pool of candidates (evict.go) is filled with
// values in RAM to rank even when one key in ten is still there.
const spillSampleTries = 16

// spillOne spills the idlest of the keys sampled (allkeys-lru's choice; allkeys-lfu's,
// the least used, under an LFU policy, whose access clock is a counter). s.ev.mu is held.
func (s *Store) spillOne() (int64, error) {
	s.usePool(true)
	p := PolicyAllKeysLRU
	if s.EvictionPolicy().LFU() {
		p = PolicyAllKeysLFU
	}
	for try := 0; try < spillTries; try++ {
		s.populate(p)
		for len(s.ev.pool) > 0 {
			c := s.ev.pool[len(s.ev.pool)-1]
			s.ev.pool = s.ev.pool[:len(s.ev.pool)-1]
			if f, ok := s.spillKey(&s.slots[c.slot], c.key); ok {
				return f, nil
			}
			if s.tier.full.Load() {
				return 0, ErrTierFull
			}
		}
	}
	return 0, errNothingToSpill
}
