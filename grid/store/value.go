package store

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strconv"
)

// Value is one key's whole value, detached from the arena: what DUMP serializes, RESTORE
// recreates and SORT reads.
type Value struct {
	Kind Kind
	// Encoding is the name Redis 7.0's OBJECT ENCODING gives the value (encodingOf).
	Encoding string
	// ExpireAt is the unix millisecond the key expires at, 0 for none.
	ExpireAt int64
	// Str is a string's value.
	Str []byte
	// Items are a hash's fields and values alternating, a set's members (an intset's in
	// numeric order), a list's elements in order.
	Items [][]byte
	// ZSet are a sorted set's members, ascending by (score, member).
	ZSet []ZEntry
	// Stream is a stream's whole content.
	Stream *StreamValue
}

// The thresholds of the small encodings, as CONFIG GET reports them.
const (
	HashMaxListpackEntries = hashMaxListpackEntries
	HashMaxListpackValue   = hashMaxListpackValue
	SetMaxIntsetEntries    = setMaxIntsetEntries
)

// ErrBusyKey is RESTORE's reply when the key exists and REPLACE was not given.
var ErrBusyKey error = replyError("BUSYKEY Target key name already exists.")

// errNoValue reports a value RestoreValue cannot build a key from.
var errNoValue = errors.New("ERR Bad data format")

// encodingOf is the encoding Redis 7.0 reports for the value of r: strings int, embstr
// (up to 44 bytes) or raw; hashes listpack or hashtable; sets intset or hashtable (7.0
// has no listpack sets); lists quicklist; sorted sets listpack or skiplist; streams stream.
func encodingOf(r *record) string {
	switch r.kind() {
	case KindString:
		switch {
		case len(r.body) <= 20 && canonicalInt(r.body) && isInt64(r.body):
			return "int"
		case len(r.body) <= 44:
			return "embstr"
		}
		return "raw"
	case KindHash:
		if r.table() {
			return "hashtable"
		}
		return "listpack"
	case KindSet:
		if !r.table() && r.flags&flagInts != 0 {
			return "intset"
		}
		return "hashtable"
	case KindList:
		return "quicklist"
	case KindZSet:
		if r.table() {
			return "skiplist"
		}
		return "listpack"
	case KindStream:
		return "stream"
	}
	return ""
}

// Encoding is the OBJECT ENCODING name of the value at key; ok is false when absent.
func (s *Store) Encoding(key []byte) (enc string, ok bool) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	if !ok {
		return "", false
	}
	return encodingOf(&r), true
}

// Dump returns a copy of the whole value at key; ok is false when absent.
func (s *Store) Dump(key []byte) (v Value, ok bool) {
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	if !ok {
		return v, false
	}
	v = Value{Kind: r.kind(), Encoding: encodingOf(&r), ExpireAt: r.exp}
	switch r.kind() {
	case KindString:
		v.Str = cloneBytes(r.body)
	case KindHash:
		v.Items = make([][]byte, 0, 2*s.hashLen(sl, &r))
		s.hashEach(sl, &r, func(f, val []byte) { v.Items = append(v.Items, cloneBytes(f), cloneBytes(val)) })
	case KindSet:
		v.Items = s.setCopy(sl, &r)
	case KindList:
		v.Items = s.openList(sl, r).all()
	case KindZSet:
		v.ZSet = s.zsetCopy(sl, &r)
	case KindStream:
		v.Stream = s.streamValue(s.streamOf(&r))
	}
	return v, true
}

// RestoreValue makes key hold v (replacing what it held only with replace, else failing
// with ErrBusyKey), journaled and counted against maxmemory (ErrOOM before anything
// changes). A v.ExpireAt already past deletes the key instead, as RESTORE does.
func (s *Store) RestoreValue(key []byte, v Value, replace bool) error {
	var op []byte
	switch v.Kind {
	case KindString:
		op = appendBytes(binary.AppendVarint(append(op, opString), v.ExpireAt), v.Str)
	case KindHash, KindSet, KindList:
		per, code := 1, opSet
		switch v.Kind {
		case KindHash:
			per, code = 2, opHash
		case KindList:
			code = opList
		}
		if len(v.Items) == 0 || len(v.Items)%per != 0 {
			return errNoValue
		}
		op = binary.AppendVarint(append(op, code), v.ExpireAt)
		if code == opList {
			op = binary.AppendVarint(op, 0)
		}
		op = binary.AppendUvarint(op, uint64(len(v.Items)/per))
		for _, it := range v.Items {
			op = appendBytes(op, it)
		}
	case KindZSet:
		var err error
		if op, err = zsetOp(v.ZSet, v.ExpireAt); err != nil {
			return err
		}
	case KindStream:
		var err error
		if op, err = streamOpOf(v.Stream, v.ExpireAt); err != nil {
			return err
		}
	default:
		return errNoValue
	}
	sl := s.slotOf(key)
	sl.mu.Lock()
	defer sl.mu.Unlock()
	cur, ok := s.lookupW(sl, key)
	if ok && !replace {
		return ErrBusyKey
	}
	if v.ExpireAt != 0 && v.ExpireAt <= s.clock() {
		if ok {
			s.remove(sl, &cur)
			s.journalKey(sl, key)
		}
		return nil
	}
	return s.applyLocked(sl, op[0], key, &opReader{b: op[1:]}, true, true)
}

// MemoryUsage estimates the bytes the key at key takes, as MEMORY USAGE does: its record,
// its index entry and what it owns (list nodes; a table's entries, samples of them
// averaged, all of them with samples 0). ok is false when absent.
func (s *Store) MemoryUsage(key []byte, samples int) (n int64, ok bool) {
	const indexEntry = 8
	sl := s.slotOf(key)
	sl.mu.RLock()
	defer sl.mu.RUnlock()
	r, ok := s.lookup(sl, key)
	if !ok {
		return 0, false
	}
	n = int64(len(r.chunk)) + indexEntry
	if r.exp != 0 {
		n += indexEntry
	}
	switch {
	case r.kind() == KindList:
		l := s.openList(sl, r)
		for ref := l.hdr.first; ref != 0; ref = nodeNext(l.node(ref)) {
			n += int64(len(l.node(ref)))
		}
	case r.table():
		t := sl.tables[handleOf(r.body)]
		n += tableOverhead + int64(t.Cap())*indexEntry
		if t.Len() == 0 {
			break
		}
		if samples <= 0 || samples >= t.Len() {
			for i := range t.Cap() {
				if ref := t.At(i); ref != 0 {
					n += int64(len(s.arena.Bytes(ref)))
				}
			}
			break
		}
		var sum int64
		for range samples {
			_, ref := t.Random(rand.IntN)
			sum += int64(len(s.arena.Bytes(ref)))
		}
		n += sum * int64(t.Len()) / int64(samples)
	}
	return n, true
}

// Trim gives the arena's empty pages back to the kernel (MEMORY PURGE).
func (s *Store) Trim() { s.arena.Trim() }

// isInt64 reports whether b is a decimal int64.
func isInt64(b []byte) bool {
	_, err := strconv.ParseInt(string(b), 10, 64)
	return err == nil
}

// AvgTTL estimates the average remaining time to live, in milliseconds, of the keys with
// an expiry, from a sample of them (INFO keyspace's avg_ttl); 0 when there are none.
func (s *Store) AvgTTL() int64 {
	const want = 256
	var sum, n int64
	start := rand.IntN(len(s.slots))
	for i := 0; i < len(s.slots) && n < want; i++ {
		sl := &s.slots[(start+i)%len(s.slots)]
		if sl.nvol.Load() == 0 {
			continue
		}
		sl.mu.RLock()
		now := s.clock()
		for range min(16, sl.volatile.Len()) {
			_, ref := sl.volatile.Random(rand.IntN)
			if r := decode(s.arena.Bytes(ref)); r.exp > now {
				sum += r.exp - now
				n++
			}
		}
		sl.mu.RUnlock()
	}
	if n == 0 {
		return 0
	}
	return sum / n
}
