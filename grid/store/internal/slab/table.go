package slab

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
)

var seed = maphash.MakeSeed()

// Hash is the hash tables use for key.
func Hash(key []byte) uint64 { return maphash.Bytes(seed, key) }

// KeyOf returns the key of a record: the bytes after its flags byte and the key's length.
func KeyOf(rec []byte) []byte {
	n, w := binary.Uvarint(rec[1:])
	return rec[1+w : 1+w+int(n)]
}

// Table maps keys to the records holding them, with linear probing over a power-of-two
// array of entries: a Ref in the low 40 bits and the low 24 bits of the key's hash above
// it, so most probes are decided without reading the record, and a table of up to 2^24
// entries grows without reading any. Deletion shifts the entries after it back (no
// tombstones). The zero value is an empty table. A table is not safe for concurrent use.
type Table struct {
	ents  []uint64
	n     int
	moves uint64 // how many times entries changed position (a resize, a backward shift)
}

const (
	tagShift = refBits
	tagMask  = 1<<(64-refBits) - 1
	refMask  = 1<<refBits - 1
	minCap   = 8
)

// Len is the number of keys.
func (t *Table) Len() int { return t.n }

// Moves counts the changes that moved entries to other positions: an iteration that let go
// of the table between two positions can trust the positions it saw while Moves is the same.
func (t *Table) Moves() uint64 { return t.moves }

// Cap is the number of entries, used or not: positions run from 0 to Cap()-1.
func (t *Table) Cap() int { return len(t.ents) }

// At returns the record at position i, 0 when the position is empty.
func (t *Table) At(i int) Ref { return Ref(t.ents[i] & refMask) }

// Find returns the position and record of key (whose hash is h), or -1 and 0.
func (t *Table) Find(a *Arena, h uint64, key []byte) (int, Ref) {
	if t.n == 0 {
		return -1, 0
	}
	mask := uint64(len(t.ents) - 1)
	tag := h & tagMask
	for i := h & mask; ; i = (i + 1) & mask {
		e := t.ents[i]
		if e == 0 {
			return -1, 0
		}
		if e>>tagShift == tag {
			r := Ref(e & refMask)
			if bytes.Equal(KeyOf(a.Bytes(r)), key) {
				return int(i), r
			}
		}
	}
}

// Insert adds the record r of a key whose hash is h, which must not be in the table, and
// returns its position.
func (t *Table) Insert(a *Arena, h uint64, r Ref) int {
	if (t.n+1)*4 > len(t.ents)*3 {
		t.resize(a, max(minCap, 2*len(t.ents)))
	}
	t.n++
	return t.place(h, uint64(r))
}

func (t *Table) place(h, r uint64) int {
	mask := uint64(len(t.ents) - 1)
	i := h & mask
	for t.ents[i] != 0 {
		i = (i + 1) & mask
	}
	t.ents[i] = r | (h&tagMask)<<tagShift
	return int(i)
}

// Replace points position i, which holds the same key, at the record r.
func (t *Table) Replace(i int, r Ref) {
	t.ents[i] = t.ents[i]&^refMask | uint64(r)
}

// Delete removes the entry at position i.
func (t *Table) Delete(a *Arena, i int) {
	mask := len(t.ents) - 1
	t.ents[i] = 0
	t.n--
	// Shift back every following entry of the run that is not at or past its home.
	for j := (i + 1) & mask; t.ents[j] != 0; j = (j + 1) & mask {
		home := int(t.home(a, t.ents[j])) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			t.ents[i], t.ents[j] = t.ents[j], 0
			i = j
			t.moves++
		}
	}
	if t.n == 0 {
		a.index.Add(-int64(8 * len(t.ents)))
		t.ents = nil
		t.moves++
	} else if len(t.ents) > minCap && t.n*8 < len(t.ents) {
		t.resize(a, len(t.ents)/2)
	}
}

// home is the hash bits that place entry e: the stored ones while they are enough.
func (t *Table) home(a *Arena, e uint64) uint64 {
	if len(t.ents) <= 1<<(64-refBits) {
		return e >> tagShift
	}
	return Hash(KeyOf(a.Bytes(Ref(e & refMask))))
}

func (t *Table) resize(a *Arena, n int) {
	t.moves++
	old := t.ents
	t.ents = make([]uint64, n)
	a.index.Add(int64(8 * (n - len(old))))
	for _, e := range old {
		if e != 0 {
			t.place(t.home(a, e), e&refMask)
		}
	}
}

// Clear empties the table.
func (t *Table) Clear(a *Arena) {
	a.index.Add(-int64(8 * len(t.ents)))
	t.ents, t.n = nil, 0
}

// Scan calls fn with the record of every entry whose home position is the one cursor
// names and returns the cursor of the next (0: done). Cursors walk home positions in
// reverse-binary order, as Redis's dictScan walks buckets: an entry present for a whole
// iteration is returned at least once however the table grows or shrinks between calls,
// and deletions that shift entries back do not hide any (entries are found by home, not by
// position). fn must not change the table.
func (t *Table) Scan(a *Arena, cursor uint64, fn func(Ref)) uint64 {
	if len(t.ents) == 0 {
		return 0
	}
	mask := uint64(len(t.ents) - 1)
	v := cursor & mask
	// Linear probing leaves no empty entry between an entry's home and its position: the
	// entries whose home is v all sit in the run that starts at v.
	for i := v; t.ents[i] != 0; i = (i + 1) & mask {
		if e := t.ents[i]; t.home(a, e)&mask == v {
			fn(Ref(e & refMask))
		}
	}
	cursor |= ^mask
	return bits.Reverse64(bits.Reverse64(cursor) + 1)
}

// Random returns the position and record of a uniformly chosen entry, rnd giving random numbers in
// [0, n); the table must not be empty. A table shrinks before it is less than 1/16 full,
// so this takes a few probes on average.
func (t *Table) Random(rnd func(n int) int) (int, Ref) {
	for {
		i := rnd(len(t.ents))
		if e := t.ents[i]; e != 0 {
			return i, Ref(e & refMask)
		}
	}
}
