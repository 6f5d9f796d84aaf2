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

// EffectOp is the kind of change an operation makes to a key, as the WAN merge policies
// (package wan) read it.
type EffectOp uint8

// The effects OpEffects reports.
const (
	EffectOther  EffectOp = iota // any other change (a hash field, an expiry, a list, ...)
	EffectString                 // the key now holds the string Value
	EffectDel                    // the key is gone
	EffectSet                    // the key now holds exactly the set Members
	EffectSetAdd                 // Members are now members of the set
	EffectSetRem                 // Members are no longer members (the key is gone when emptied)
)

// Effect is what one operation does to one key. Its slices are valid only during the
// OpEffects call.
type Effect struct {
	Key     []byte
	Op      EffectOp
	Value   []byte
	Members [][]byte
}

// OpEffects calls fn with the effect of op on every key it changes (each key of a
// transaction's operations in order), and returns the slot op flushes whole, or -1, as
// OpKeys does. An operation it cannot read reports nothing.
func OpEffects(op []byte, fn func(Effect)) (flushed int) {
	if len(op) == 0 {
		return -1
	}
	r := &opReader{b: op[1:]}
	switch op[0] {
	case opFunctions:
		return -1
	case opFlushSlot, opTx:
		if op[0] == opTx {
			flushed = -1
			for range r.count() {
				inner := r.bytes()
				if r.err != nil {
					return flushed
				}
				if f := OpEffects(inner, fn); f >= 0 {
					flushed = f
				}
			}
			return flushed
		}
		return OpKeys(op, func([]byte) {})
	}
	key := r.bytes()
	if r.err != nil {
		return -1
	}
	e := Effect{Key: key}
	switch op[0] {
	case opString:
		r.varint()
		e.Op, e.Value = EffectString, r.bytes()
	case opDel:
		e.Op = EffectDel
	case opSet:
		r.varint()
		e.Op, e.Members = EffectSet, r.list(1)
	case opSetAdd:
		e.Op, e.Members = EffectSetAdd, r.list(1)
	case opSetRem:
		e.Op, e.Members = EffectSetRem, r.list(1)
	}
	if r.err != nil {
		e = Effect{Key: key}
	}
	fn(e)
	return -1
}
