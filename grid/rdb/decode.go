package rdb

import (
	"encoding/binary"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// reader reads an RDB object; any malformation is errCorrupt. budget is what the strings
// read may still take in all (LZF expands its input up to about 100 times).
type reader struct {
	b      []byte
	budget int64
}

// spend takes n bytes of decoded strings from the budget.
func (r *reader) spend(n uint64) error {
	if n > uint64(r.budget) {
		return ErrTooLarge
	}
	r.budget -= int64(n)
	return nil
}

func (r *reader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errCorrupt
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *reader) take(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)) {
		return nil, errCorrupt
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

// length reads an RDB length; encoded reports the special string encodings (its value
// is then the encoding).
func (r *reader) length() (n uint64, encoded bool, err error) {
	c, err := r.byte()
	if err != nil {
		return 0, false, err
	}
	switch c >> 6 {
	case 0:
		return uint64(c & 0x3f), false, nil
	case 1:
		c2, err := r.byte()
		return uint64(c&0x3f)<<8 | uint64(c2), false, err
	case 3:
		return uint64(c & 0x3f), true, nil
	}
	switch c {
	case 0x80:
		b, err := r.take(4)
		if err != nil {
			return 0, false, err
		}
		return uint64(binary.BigEndian.Uint32(b)), false, nil
	case 0x81:
		b, err := r.take(8)
		if err != nil {
			return 0, false, err
		}
		return binary.BigEndian.Uint64(b), false, nil
	}
	return 0, false, errCorrupt
}

// count reads a number of items, each at least one byte, so a corrupt count cannot make
// the caller allocate past the payload's size.
func (r *reader) count() (int, error) {
	n, enc, err := r.length()
	if err != nil || enc || n > uint64(len(r.b)) {
		return 0, errCorrupt
	}
	return int(n), nil
}

// str reads an RDB string (raw, integer or LZF), returning a copy.
func (r *reader) str() ([]byte, error) {
	n, enc, err := r.length()
	if err != nil {
		return nil, err
	}
	if !enc {
		b, err := r.take(n)
		if err == nil {
			err = r.spend(n)
		}
		return append([]byte{}, b...), err
	}
	switch n {
	case 0:
		b, err := r.take(1)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int8(b[0])), 10), nil
	case 1:
		b, err := r.take(2)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int16(binary.LittleEndian.Uint16(b))), 10), nil
	case 2:
		b, err := r.take(4)
		if err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(int32(binary.LittleEndian.Uint32(b))), 10), nil
	case 3:
		clen, cenc, err := r.length()
		if err != nil || cenc {
			return nil, errCorrupt
		}
		ulen, uenc, err := r.length()
		// LZF expands at most about 100 times: a larger length is corrupt.
		if err != nil || uenc || ulen > clen*100+64 {
			return nil, errCorrupt
		}
		in, err := r.take(clen)
		if err != nil {
			return nil, err
		}
		if err := r.spend(ulen); err != nil {
			return nil, err
		}
		return lzfDecompress(in, int(ulen))
	}
	return nil, errCorrupt
}

// strs reads n RDB strings.
func (r *reader) strs(n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for range n {
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// object reads one object: its type byte and body. Each kind's types are one case; other
// types (modules, Redis 7.2's streams) are errCorrupt, as Redis 7.0 answers them.
func (r *reader) object() (store.Value, error) {
	t, err := r.byte()
	if err != nil {
		return store.Value{}, err
	}
	var v store.Value
	switch t {
	case typeString:
		v.Kind = store.KindString
		v.Str, err = r.str()
		return v, err
	case typeHash, typeHashListpack, typeHashZiplist:
		v.Kind = store.KindHash
		if t == typeHash {
			var n int
			if n, err = r.count(); err == nil {
				v.Items, err = r.strs(2 * n)
			}
		} else {
			v.Items, err = r.blob(t)
		}
		if err == nil && (len(v.Items)%2 != 0 || dup(v.Items, 2)) {
			err = errCorrupt
		}
	case typeSet, typeSetIntset:
		v.Kind = store.KindSet
		if t == typeSet {
			var n int
			if n, err = r.count(); err == nil {
				v.Items, err = r.strs(n)
			}
		} else {
			v.Items, err = r.blob(t)
		}
		if err == nil && dup(v.Items, 1) {
			err = errCorrupt
		}
	case typeList:
		v.Kind = store.KindList
		var n int
		if n, err = r.count(); err == nil {
			v.Items, err = r.strs(n)
		}
	case typeListZiplist:
		v.Kind = store.KindList
		v.Items, err = r.blob(t)
	case typeListQuicklist, typeListQuicklist2:
		v.Kind = store.KindList
		v.Items, err = r.quicklist(t == typeListQuicklist2)
	case typeZSet, typeZSet2, typeZSetZiplist, typeZSetListpack:
		v.Kind = store.KindZSet
		v.ZSet, err = r.zset(t)
		return v, err
	case typeStreamListpacks, typeStreamListpacks2:
		v.Kind = store.KindStream
		v.Stream, err = r.stream(t)
		return v, err
	default:
		return v, errCorrupt
	}
	if err == nil && len(v.Items) == 0 {
		// Redis refuses to restore an empty collection.
		err = errCorrupt
	}
	return v, err
}

// blob reads a string holding a listpack, ziplist or intset, as the type t has it.
func (r *reader) blob(t byte) ([][]byte, error) {
	b, err := r.str()
	if err != nil {
		return nil, err
	}
	switch t {
	case typeSetIntset:
		return readIntset(b)
	case typeHashZiplist, typeListZiplist, typeZSetZiplist:
		return readZiplist(b)
	}
	return readListpack(b)
}

// quicklist reads a list's nodes: listpacks (or plain elements) with v2, ziplists before.
func (r *reader) quicklist(v2 bool) ([][]byte, error) {
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for range n {
		container := uint64(quicklistNodePacked)
		if v2 {
			var enc bool
			if container, enc, err = r.length(); err != nil || enc {
				return nil, errCorrupt
			}
		}
		b, err := r.str()
		if err != nil {
			return nil, err
		}
		var elems [][]byte
		switch {
		case container == quicklistNodePlain:
			elems = [][]byte{b}
		case container != quicklistNodePacked:
			return nil, errCorrupt
		case v2:
			elems, err = readListpack(b)
		default:
			elems, err = readZiplist(b)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, elems...)
	}
	return out, nil
}

// dup reports whether items (every per-th one a name) repeat a name.
func dup(items [][]byte, per int) bool {
	seen := make(map[string]struct{}, len(items)/per)
	for i := 0; i < len(items); i += per {
		if _, ok := seen[string(items[i])]; ok {
			return true
		}
		seen[string(items[i])] = struct{}{}
	}
	return false
}
