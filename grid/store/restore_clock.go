package store

// SetAccess sets the access clock of the key at key as RESTORE's IDLETIME and FREQ do
// (Redis's objectSetLRUOrLFU): under an LFU policy freq (0 to 255; negative: not given)
// becomes its LFU counter; under any other policy it was last accessed idle seconds ago
// (negative: not given). It reports whether the clock was set.
func (s *Store) SetAccess(key []byte, idle, freq int64) bool {
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	r, ok := s.peek(sl, key)
	if !ok {
		return false
	}
	now := s.clock()
	switch {
	case s.EvictionPolicy().LFU():
		if freq < 0 {
			return false
		}
		clockOf(r.chunk).Store(lfuMinutes(now)<<8 | uint32(min(freq, 255)))
	case idle >= 0:
		abs := int64(lruClock(now)) - idle%(lruClockMax+1)
		if abs < 0 {
			abs += lruClockMax
		}
		clockOf(r.chunk).Store(uint32(abs) & lruClockMax)
	default:
		return false
	}
	return true
}
