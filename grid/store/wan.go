package store

// What WAN replication (package wan) needs from the store: the keys an operation changes
// and one key's whole state. Both read the store's own encoding, so the operation codes
// stay private to this package.

// OpKeys calls fn with every key op changes (each key of a transaction's operations in
// order) and returns the slot op flushes whole, or -1. The key is valid only during the
// call. An operation it cannot read reports nothing.
func OpKeys(op []byte, fn func(key []byte)) (flushed int) {
	if len(op) == 0 {
		return -1
	}
	r := &opReader{b: op[1:]}
	switch op[0] {
	case opFunctions:
		return -1
	case opFlushSlot:
		slot := r.uvarint()
		if r.err != nil {
			return -1
		}
		return int(slot)
	case opTx:
		flushed = -1
		for range r.count() {
			inner := r.bytes()
			if r.err != nil {
				return flushed
			}
			if f := OpKeys(inner, fn); f >= 0 {
				flushed = f
			}
		}
		return flushed
	}
	key := r.bytes()
	if r.err == nil {
		fn(key)
	}
	return -1
}

// DumpKey returns an operation that recreates key whole (as DumpKeys's), its kind, or
// KindNone and nil when key holds no live value.
func (s *Store) DumpKey(key []byte) ([]byte, Kind) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.peek(sl, key)
	if !ok {
		return nil, KindNone
	}
	return s.appendEntry(nil, key, sl, &r), r.kind()
}
