package store

import (
	"encoding/binary"

	"github.com/insightgrid/insight/grid/store/internal/slab"
)

// A record is one key in the arena:
//
//	flags    1 byte: the Kind in the low bits, flagExpire, flagTable, flagInts
//	key      uvarint length, bytes
//	expireAt 8 bytes little-endian unix milliseconds, only with flagExpire
//	body     uvarint length, bytes
//
// A string's body is its value. A small hash's body is its field count (uvarint) and its
// pairs, each field and value as uvarint length and bytes, in insertion order (Redis's
// listpack encoding). A hash with flagTable has a 4-byte handle to its own table of field
// records (flags 0, the field as key, the value as body) in the slot. Sets are laid out
// the same way, members without values (set.go).
//
// A key's record (not a field's) also keeps its access clock in the last clockLen bytes of
// its chunk (evict.go), past the body, so decoding never reads it and a record rewritten in
// place keeps it.
const (
	kindMask   = 0x0f
	flagTable  = 0x40
	flagExpire = 0x80
)

type record struct {
	ref   slab.Ref
	pos   int // position in the slot's table
	chunk []byte
	flags byte
	key   []byte
	exp   int64
	body  []byte
}

func (r *record) kind() Kind  { return Kind(r.flags & kindMask) }
func (r *record) table() bool { return r.flags&flagTable != 0 }
func (r *record) live(now int64) bool {
	return r.exp == 0 || r.exp > now
}

// liveAt is live with the clock read only for a record that has an expiry.
func (r *record) liveAt(clock func() int64) bool {
	return r.exp == 0 || r.exp > clock()
}

func decode(chunk []byte) record {
	r := record{chunk: chunk, flags: chunk[0]}
	n, w := binary.Uvarint(chunk[1:])
	i := 1 + w
	r.key = chunk[i : i+int(n) : i+int(n)]
	i += int(n)
	if r.flags&flagExpire != 0 {
		r.exp = int64(binary.LittleEndian.Uint64(chunk[i:]))
		i += 8
	}
	n, w = binary.Uvarint(chunk[i:])
	i += w
	r.body = chunk[i : i+int(n) : i+int(n)]
	return r
}

func uvlen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// recordLen is the bytes a record with these parts takes.
func recordLen(key []byte, exp int64, body int) int {
	n := 1 + uvlen(len(key)) + len(key) + uvlen(body) + body
	if exp != 0 {
		n += 8
	}
	return n
}

// keyLen is the bytes a key's record takes: recordLen and its access clock.
func keyLen(key []byte, exp int64, body int) int {
	return recordLen(key, exp, body) + clockLen
}

// encode writes a record into chunk, which is large enough. body may alias chunk (a record
// rewritten in place): it is moved first, before the header that may now cover it.
func encode(chunk []byte, flags byte, key []byte, exp int64, body []byte) {
	flags &^= flagExpire
	if exp != 0 {
		flags |= flagExpire
	}
	i := 1 + uvlen(len(key)) + len(key)
	if exp != 0 {
		i += 8
	}
	bodyAt := i + uvlen(len(body))
	copy(chunk[bodyAt:], body)
	chunk[0] = flags
	w := binary.PutUvarint(chunk[1:], uint64(len(key)))
	copy(chunk[1+w:], key)
	i = 1 + w + len(key)
	if exp != 0 {
		binary.LittleEndian.PutUint64(chunk[i:], uint64(exp))
		i += 8
	}
	binary.PutUvarint(chunk[i:], uint64(len(body)))
}

// pairs iterates the field/value pairs of a small hash's body.
type pairs struct{ b []byte }

func smallHash(body []byte) (n int, it pairs) {
	c, w := binary.Uvarint(body)
	return int(c), pairs{b: body[w:]}
}

func (p *pairs) next() (field, value []byte, ok bool) {
	if len(p.b) == 0 {
		return nil, nil, false
	}
	field, p.b = readBytes(p.b)
	value, p.b = readBytes(p.b)
	return field, value, true
}

func readBytes(b []byte) (v, rest []byte) {
	n, w := binary.Uvarint(b)
	end := w + int(n)
	return b[w:end:end], b[end:]
}
