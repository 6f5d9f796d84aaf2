package store

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/insightgrid/insight/grid/slots"
	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// Eviction follows Redis 7.0's evict.c: every key's record keeps a 24-bit access clock, read
// as an LRU clock in seconds or, under an LFU policy, as 16 bits of minutes and an 8-bit
// logarithmic access counter. A write that would take used memory past maxmemory first
// evicts keys the policy chooses: the LRU, LFU and TTL policies from a pool of the best
// candidates among maxmemory-samples keys sampled at each round, the random ones at random.
// Each eviction is journaled as the key's deletion, so replicas stay identical.

// Policy is a maxmemory-policy.
type Policy uint32

// The maxmemory policies, as Redis names them.
const (
	PolicyNoEviction Policy = iota
	PolicyAllKeysLRU
	PolicyAllKeysLFU
	PolicyAllKeysRandom
	PolicyVolatileLRU
	PolicyVolatileLFU
	PolicyVolatileRandom
	PolicyVolatileTTL
)

var policyNames = [...]string{"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
	"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"}

// String is the policy's name in CONFIG.
func (p Policy) String() string { return policyNames[p] }

// ParsePolicy reads a policy name, in any case.
func ParsePolicy(name string) (Policy, bool) {
	for i, n := range policyNames {
		if strings.EqualFold(name, n) {
			return Policy(i), true
		}
	}
	return 0, false
}

// PolicyNames lists the policies in the order Redis's CONFIG SET error names them.
func PolicyNames() []string {
	return []string{"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
		"allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"}
}

// LFU reports whether the policy reads the access clock as an LFU counter.
func (p Policy) LFU() bool { return p == PolicyAllKeysLFU || p == PolicyVolatileLFU }

func (p Policy) volatile() bool { return p >= PolicyVolatileLRU }

func (p Policy) random() bool { return p == PolicyAllKeysRandom || p == PolicyVolatileRandom }

const (
	// clockLen is the bytes of a key record's access clock: a 24-bit value kept in a
	// 4-byte aligned word so concurrent readers update it atomically.
	clockLen    = 4
	lruClockMax = 1<<24 - 1
	lruClockRes = 1000 // milliseconds per LRU clock tick
	lfuInitVal  = 5    // a new key's LFU counter, so it is not evicted before it is used
	evictPool   = 16   // EVPOOL_SIZE
	// maxEvictionsPerCall bounds the keys one command evicts to get used memory back under
	// maxmemory, as Redis bounds its eviction time per command.
	maxEvictionsPerCall = 1024
	defSamples          = 5
	defLogFactor        = 10
	defDecayTime        = 1
)

// evictor is the eviction state of a store.
type evictor struct {
	policy    atomic.Uint32
	samples   atomic.Int64
	logFactor atomic.Int64
	decayTime atomic.Int64
	evicted   atomic.Int64
	mu        sync.Mutex  // one evicting writer at a time; guards pool
	pool      []candidate // sorted by score, the best to evict last
	spilling  bool        // the pool is of values to spill (tier.go), not keys to evict
}

// candidate is a sampled key: the higher its score, the better to evict.
type candidate struct {
	score uint64
	slot  uint16
	key   []byte
}

func (e *evictor) init() {
	e.samples.Store(defSamples)
	e.logFactor.Store(defLogFactor)
	e.decayTime.Store(defDecayTime)
}

// SetPolicy sets maxmemory-policy; it takes effect at the next write.
func (s *Store) SetPolicy(p Policy) {
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	s.ev.policy.Store(uint32(p))
	s.ev.pool = s.ev.pool[:0] // its scores were of the old policy
}

// EvictionPolicy is the maxmemory-policy in force.
func (s *Store) EvictionPolicy() Policy { return Policy(s.ev.policy.Load()) }

// SetMaxMemorySamples sets how many keys each eviction round samples (maxmemory-samples).
func (s *Store) SetMaxMemorySamples(n int64) { s.ev.samples.Store(max(n, 1)) }

// MaxMemorySamples is maxmemory-samples.
func (s *Store) MaxMemorySamples() int64 { return s.ev.samples.Load() }

// SetLFULogFactor sets lfu-log-factor: how many accesses it takes to raise the LFU counter.
func (s *Store) SetLFULogFactor(n int64) { s.ev.logFactor.Store(max(n, 0)) }

// LFULogFactor is lfu-log-factor.
func (s *Store) LFULogFactor() int64 { return s.ev.logFactor.Load() }

// SetLFUDecayTime sets lfu-decay-time: the minutes of idleness that take one from a key's
// LFU counter (0: counters never decay).
func (s *Store) SetLFUDecayTime(n int64) { s.ev.decayTime.Store(max(n, 0)) }

// LFUDecayTime is lfu-decay-time.
func (s *Store) LFUDecayTime() int64 { return s.ev.decayTime.Load() }

// EvictedKeys is how many keys eviction has removed since start.
func (s *Store) EvictedKeys() int64 { return s.ev.evicted.Load() }

// clockOf is the access clock of a key's record, the last word of its chunk (chunks are
// 16-byte aligned and a multiple of 16 bytes long).
func clockOf(chunk []byte) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&chunk[len(chunk)-clockLen]))
}

func lruClock(ms int64) uint32 { return uint32(ms/lruClockRes) & lruClockMax }

// With tiering on, an LRU clock also keeps, in the word's top byte that the 24-bit clock
// leaves free, the fraction of its second (7 bits, units of 1/128 s) and whether the key
// was accessed since it was created: spilling ranks by that finer idle time, and among
// equals takes the keys no command has accessed since they were written first. Eviction,
// OBJECT IDLETIME and RESTORE read the 24-bit clock alone.
const (
	tierAccessed  = 1 << 31
	tierFracShift = 24
	tierFracUnits = 128 // fractions of a second
)

// tierClock is the LRU clock of time ms with its fraction of a second.
func tierClock(ms int64) uint32 {
	return lruClock(ms) | uint32(ms%lruClockRes*tierFracUnits/lruClockRes)<<tierFracShift
}

// tierTicks is c's time in units of 1/128 s, 31 bits wrapping as the 24-bit clock does.
func tierTicks(c uint32) uint32 {
	return (c&lruClockMax)<<7 | c>>tierFracShift&(tierFracUnits-1)
}

// tierScore is a spill candidate's score: the idle time of its clock c in units of 1/128 s
// (wrapping once), doubled, plus one for a key not accessed since it was created.
func tierScore(c uint32, now int64) uint64 {
	idle := (tierTicks(tierClock(now)) - tierTicks(c)) & (1<<31 - 1)
	score := uint64(idle) << 1
	if c&tierAccessed == 0 {
		score |= 1
	}
	return score
}

// idleMillis is estimateObjectIdleTime: the time since the LRU clock c, wrapping once.
func idleMillis(c uint32, now int64) uint64 {
	c &= lruClockMax // without tiering's bits
	lc := lruClock(now)
	if lc >= c {
		return uint64(lc-c) * lruClockRes
	}
	return uint64(lc+(lruClockMax-c)) * lruClockRes
}

func lfuMinutes(ms int64) uint32 { return uint32(ms/60000) & 0xffff }

// lfuDecr is LFUDecrAndReturn: the counter of clock c less one per decay period elapsed.
func lfuDecr(c uint32, now, decay int64) uint32 {
	ldt, counter := c>>8, c&0xff
	if decay == 0 {
		return counter
	}
	m := lfuMinutes(now)
	elapsed := m - ldt
	if m < ldt {
		elapsed = 0xffff - ldt + m
	}
	periods := int64(elapsed) / decay
	if periods > int64(counter) {
		return 0
	}
	return counter - uint32(periods)
}

// lfuIncr is LFULogIncr: the counter grows with probability 1/((counter-5)*factor+1).
func lfuIncr(counter uint32, factor int64) uint32 {
	if counter == 255 {
		return 255
	}
	base := max(int64(counter)-lfuInitVal, 0)
	if rand.Float64() < 1/float64(base*factor+1) {
		counter++
	}
	return counter
}

// newClock is the access clock of a key created now.
func (s *Store) newClock() uint32 {
	now := s.clock()
	if s.EvictionPolicy().LFU() {
		return lfuMinutes(now)<<8 | lfuInitVal
	}
	if s.tier.t != nil {
		return tierClock(now)
	}
	return lruClock(now)
}

// touch records an access to the key whose record is chunk, as Redis's lookupKey does;
// readers holding the slot's read lock may race here, so the clock changes atomically.
func (s *Store) touch(chunk []byte) {
	w := clockOf(chunk)
	old := w.Load()
	now := s.clock()
	var v uint32
	if s.EvictionPolicy().LFU() {
		c := lfuIncr(lfuDecr(old, now, s.ev.decayTime.Load()), s.ev.logFactor.Load())
		v = lfuMinutes(now)<<8 | c
	} else if s.tier.t != nil {
		v = tierClock(now) | tierAccessed
	} else {
		v = lruClock(now)
	}
	if v != old {
		w.CompareAndSwap(old, v)
	}
}

// ObjectIdleTime is OBJECT IDLETIME: the seconds since key was last accessed; ok is false
// when the key does not exist. It does not count as an access.
func (s *Store) ObjectIdleTime(key []byte) (secs int64, ok bool) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.peek(sl, key)
	if !ok {
		return 0, false
	}
	return int64(idleMillis(clockOf(r.chunk).Load(), s.clock()) / 1000), true
}

// ObjectFreq is OBJECT FREQ: key's LFU counter after decay; ok is false when the key does
// not exist. It does not count as an access.
func (s *Store) ObjectFreq(key []byte) (freq int64, ok bool) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.peek(sl, key)
	if !ok {
		return 0, false
	}
	return int64(lfuDecr(clockOf(r.chunk).Load(), s.clock(), s.ev.decayTime.Load())), true
}

// evictFor evicts keys until a write of n more bytes fits under the limit m, as Redis's
// performEvictions does before a command: it stops as soon as the write no longer grows
// used memory past m, or the keys evicted freed at least what the write takes. It fails
// with ErrOOM when the policy finds nothing to evict (a volatile policy without volatile
// keys, or every key in slots other writers hold, the caller's included).
func (s *Store) evictFor(n int, m int64) error {
	need := int64(slab.ChunkSize(n))
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	var freed int64
	for s.UsedMemory()+need > m && !s.arena.Reuses(n) && freed < need {
		f, ok := s.evictOne()
		if !ok {
			return ErrOOM
		}
		freed += f
	}
	return nil
}

// EvictToLimit evicts keys until used memory is at most maxmemory, as Redis does before a
// command that may grow the data, and reports whether the command may run: used memory is
// within the limit, or eviction made progress (Redis's EVICT_RUNNING; the write's own
// check still applies). With noeviction it only reports.
func (s *Store) EvictToLimit() bool {
	m := s.maxMem.Load()
	if m <= 0 || s.UsedMemory() <= m {
		return true
	}
	if s.tier.t != nil && s.spillToLimit(m) {
		return true
	}
	if s.EvictionPolicy() == PolicyNoEviction {
		return false
	}
	s.ev.mu.Lock()
	defer s.ev.mu.Unlock()
	// Freed chunks lower used memory only once their page empties: evict at most what the
	// excess is worth in bytes, and at most maxEvictionsPerCall keys so no command stalls,
	// then let the writes that follow reuse the freed chunks.
	excess := s.UsedMemory() - m
	n := 0
	for freed := int64(0); freed < excess && n < maxEvictionsPerCall; n++ {
		f, ok := s.evictOne()
		if !ok {
			break
		}
		freed += f
	}
	s.arena.Trim()
	return n > 0 || s.UsedMemory() <= m
}

// evictOne evicts one key the policy chooses and returns the bytes its record freed; ok is
// false when no key could be found to evict. s.ev.mu is held.
func (s *Store) evictOne() (freed int64, ok bool) {
	s.usePool(false)
	p := s.EvictionPolicy()
	if p.random() {
		return s.evictRandom(p.volatile())
	}
	// Candidates in slots other writers hold are skipped: sample again a few times.
	for try := 0; try < 16; try++ {
		s.populate(p)
		for len(s.ev.pool) > 0 {
			c := s.ev.pool[len(s.ev.pool)-1]
			s.ev.pool = s.ev.pool[:len(s.ev.pool)-1]
			if f, ok := s.evictKey(&s.slots[c.slot], c.key, p.volatile()); ok {
				return f, true
			}
		}
	}
	return 0, false
}

// evictKey evicts key from sl, unless another writer holds the slot or the key is gone (or,
// for a volatile policy, lost its expiry).
func (s *Store) evictKey(sl *slot, key []byte, volatile bool) (int64, bool) {
	if !sl.mu.TryLock() {
		return 0, false
	}
	defer sl.mu.Unlock()
	r, ok := s.find(sl, key)
	if !ok || (volatile && r.exp == 0) {
		return 0, false
	}
	freed := int64(len(r.chunk))
	s.keyEvent(sl, KeyEvicted, key)
	s.remove(sl, &r)
	s.ev.evicted.Add(1)
	s.journalKey(sl, key)
	return freed, true
}

// sampleSlot read-locks a random slot holding keys to sample (volatile ones for a
// volatile policy), skipping slots other writers hold; nil when it finds none.
func (s *Store) sampleSlot(volatile bool) *slot {
	start := rand.IntN(slots.Count)
	for i := range slots.Count {
		sl := &s.slots[(start+i)%slots.Count]
		if volatile && sl.nvol.Load() == 0 {
			continue
		}
		if !sl.mu.TryRLock() {
			continue
		}
		if sl.keys.Len() > 0 && (!volatile || sl.volatile.Len() > 0) {
			return sl
		}
		sl.mu.RUnlock()
	}
	return nil
}

// evictRandom evicts a random key (a random volatile one).
func (s *Store) evictRandom(volatile bool) (int64, bool) {
	for try := 0; try < 8; try++ {
		sl := s.sampleSlot(volatile)
		if sl == nil {
			return 0, false
		}
		t := &sl.keys
		if volatile {
			t = &sl.volatile
		}
		_, ref := t.Random(rand.IntN)
		key := append([]byte(nil), slab.KeyOf(s.arena.Bytes(ref))...)
		sl.mu.RUnlock()
		if f, ok := s.evictKey(sl, key, volatile); ok {
			return f, true
		}
	}
	return 0, false
}

// populate samples maxmemory-samples keys into the pool, as Redis's evictionPoolPopulate
// does with the keys dictGetSomeKeys returns, taking them from random slots (as many from
// one slot as it has, so a sparse keyspace takes a few slots). Spilling samples as many
// values still in RAM, drawing up to spillSampleTries times more keys and slots.
func (s *Store) populate(p Policy) {
	want := int(s.ev.samples.Load())
	visits := 2 * want
	if s.ev.spilling {
		visits *= spillSampleTries // slots whose values are all on disk are visited too
	}
	for ; want > 0 && visits > 0; visits-- {
		sl := s.sampleSlot(p.volatile())
		if sl == nil {
			return
		}
		want -= s.sampleFrom(sl, p, want)
		sl.mu.RUnlock()
	}
}

// sampleFrom puts up to n random keys of the read-locked slot sl into the pool and
// returns how many it sampled.
func (s *Store) sampleFrom(sl *slot, p Policy, n int) int {
	t := &sl.keys
	if p.volatile() {
		t = &sl.volatile
	}
	now := s.clock()
	decay := s.ev.decayTime.Load()
	n = min(n, t.Len())
	// Spilling samples only the values that can move to disk, which are few once most
	// are there: n of them, in at most spillSampleTries times n draws.
	tries := n
	if s.ev.spilling {
		tries *= spillSampleTries
	}
	got := 0
	for ; got < n && tries > 0; tries-- {
		_, ref := t.Random(rand.IntN)
		r := decode(s.arena.Bytes(ref))
		if s.ev.spilling && !spillable(&r) {
			continue
		}
		got++
		c := clockOf(r.chunk).Load()
		var score uint64
		switch {
		case p == PolicyVolatileTTL:
			score = math.MaxUint64 - uint64(r.exp)
		case p.LFU():
			score = 255 - uint64(lfuDecr(c, now, decay))
		case s.ev.spilling:
			score = tierScore(c, now)
		default:
			score = idleMillis(c, now)
		}
		s.insertCandidate(candidate{score: score, slot: sl.idx, key: r.key})
	}
	return got
}

// usePool empties the pool when it was sampled for the other purpose: candidates to
// spill (spilling) or to evict. s.ev.mu is held.
func (s *Store) usePool(spilling bool) {
	if s.ev.spilling != spilling {
		s.ev.pool = s.ev.pool[:0]
		s.ev.spilling = spilling
	}
}

// insertCandidate puts c into the pool, sorted by score, dropping the worst candidate when
// the pool is full; a candidate worse than all of a full pool's is not kept.
func (s *Store) insertCandidate(c candidate) {
	pool := s.ev.pool
	k := 0
	for k < len(pool) && pool[k].score < c.score {
		k++
	}
	for _, e := range pool {
		if e.slot == c.slot && string(e.key) == string(c.key) {
			return // sampled twice
		}
	}
	c.key = append([]byte(nil), c.key...)
	if len(pool) < evictPool {
		pool = append(pool, candidate{})
		copy(pool[k+1:], pool[k:])
		pool[k] = c
	} else {
		if k == 0 {
			return
		}
		copy(pool[:k-1], pool[1:k])
		pool[k-1] = c
	}
	s.ev.pool = pool
}
