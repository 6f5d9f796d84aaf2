// Package rdb encodes and decodes single values in the serialization format Redis 7.0's
// DUMP writes and RESTORE reads: an RDB object (its type byte and body), the RDB version
// (10) as two little-endian bytes and the CRC64 (Jones) of everything before it, so a
// payload DUMPed by redis-server restores into the grid and the other way round.
//
// Strings, hashes (listpack and hashtable), sets (intset and hashtable), lists
// (quicklist of listpacks), sorted sets (listpack and skiplist, zset.go) and streams
// (listpacks with consumer groups, stream.go) are written as Redis 7.0 writes them,
// without LZF compression (which Redis reads either way). Reading also takes the older
// encodings a Redis 7.0 accepts in a payload: LZF-compressed and integer-encoded strings,
// plain lists, ziplists, quicklists of ziplists, sorted sets with text scores and Redis
// 5's streams. Module values and functions are refused as a bad format.
package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"slices"
	"strconv"

	"github.com/insightgrid/insight/grid/store"
)

// Version is the RDB version Redis 7.0 writes, and the newest a payload may have.
const Version = 10

// The RDB object types.
const (
	typeString          = 0
	typeList            = 1
	typeSet             = 2
	typeHash            = 4
	typeListZiplist     = 10
	typeSetIntset       = 11
	typeHashZiplist     = 13
	typeListQuicklist   = 14
	typeHashListpack    = 16
	typeListQuicklist2  = 18
	quicklistNodePlain  = 1
	quicklistNodePacked = 2
	// listMaxListpackSize is Redis's default list-max-listpack-size (-2): 8 KiB nodes.
	listMaxListpackSize = 8 << 10
)

// Errors in Redis's words (RESTORE's replies).
var (
	ErrChecksum  = errors.New("ERR DUMP payload version or checksum are wrong")
	ErrBadFormat = errors.New("ERR Bad data format")
)

// ErrTooLarge reports a payload whose strings, decompressed, would take more than the
// limit Decode was given.
var ErrTooLarge = errors.New("rdb: payload expands past the memory it may take")

// ErrKind reports a value of a kind Encode does not serialize yet.
var ErrKind = errors.New("ERR DUMP is not supported for this type yet")

var jones = crc64.MakeTable(0x95ac9329ac4bc9b5)

// crc is Redis's crc64: the Jones polynomial, reflected, no initial or final inversion.
func crc(b []byte) uint64 { return ^crc64.Update(^uint64(0), jones, b) }

// Encode serializes v as DUMP does.
func Encode(v store.Value) ([]byte, error) {
	var b []byte
	switch v.Kind {
	case store.KindString:
		b = appendString(append(b, typeString), v.Str)
	case store.KindHash:
		if v.Encoding == "listpack" {
			b = appendString(append(b, typeHashListpack), appendListpack(nil, v.Items))
			break
		}
		b = appendLen(append(b, typeHash), uint64(len(v.Items)/2))
		for _, it := range v.Items {
			b = appendString(b, it)
		}
	case store.KindSet:
		if v.Encoding == "intset" {
			if is, ok := intset(v.Items); ok {
				b = appendString(append(b, typeSetIntset), is)
				break
			}
		}
		b = appendLen(append(b, typeSet), uint64(len(v.Items)))
		for _, it := range v.Items {
			b = appendString(b, it)
		}
	case store.KindList:
		b = append(b, typeListQuicklist2)
		var nodes [][]byte
		for i := 0; i < len(v.Items); {
			j, size := i, 0
			for j < len(v.Items) && (j == i || size+len(v.Items[j])+11 <= listMaxListpackSize) {
				size += len(v.Items[j]) + 11
				j++
			}
			nodes = append(nodes, appendListpack(nil, v.Items[i:j]))
			i = j
		}
		b = appendLen(b, uint64(len(nodes)))
		for _, n := range nodes {
			b = appendString(appendLen(b, quicklistNodePacked), n)
		}
	case store.KindZSet:
		b = appendZSet(b, v.ZSet, v.Encoding)
	case store.KindStream:
		if v.Stream == nil {
			return nil, fmt.Errorf("%w: a stream without its content", ErrKind)
		}
		b = appendStream(b, v.Stream)
	default:
		return nil, fmt.Errorf("%w: %s", ErrKind, v.Kind)
	}
	return Seal(b), nil
}

// Seal ends an RDB object (its type byte and body) as DUMP does: the version, then the
// checksum of all before it.
func Seal(object []byte) []byte {
	b := binary.LittleEndian.AppendUint16(object, Version)
	return binary.LittleEndian.AppendUint64(b, crc(b))
}

// Decode reads a payload as RESTORE does: ErrChecksum when its version is newer than
// Version or its checksum is wrong, ErrBadFormat when the object cannot be read,
// ErrTooLarge when its strings would take more than limit bytes. The value's ExpireAt is
// left 0; its Items do not alias p.
func Decode(p []byte, limit int64) (store.Value, error) {
	if len(p) < 10 {
		return store.Value{}, ErrChecksum
	}
	if binary.LittleEndian.Uint16(p[len(p)-10:]) > Version || crc(p[:len(p)-8]) != binary.LittleEndian.Uint64(p[len(p)-8:]) {
		return store.Value{}, ErrChecksum
	}
	r := &reader{b: p[:len(p)-10], budget: limit}
	v, err := r.object()
	switch {
	case errors.Is(err, ErrTooLarge):
		return store.Value{}, ErrTooLarge
	case err != nil:
		return store.Value{}, ErrBadFormat
	}
	return v, nil
}

// appendLen appends an RDB length.
func appendLen(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, byte(n>>8)|0x40, byte(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0x81), n)
}

// appendString appends an RDB string: as a small integer when it is the canonical
// decimal text of one fitting 32 bits (as Redis's rdbTryIntegerEncoding), else raw.
func appendString(b, s []byte) []byte {
	if len(s) <= 11 {
		if v, ok := parseInt(s); ok {
			switch {
			case v >= -1<<7 && v < 1<<7:
				return append(b, 0xc0, byte(v))
			case v >= -1<<15 && v < 1<<15:
				return binary.LittleEndian.AppendUint16(append(b, 0xc1), uint16(v))
			case v >= -1<<31 && v < 1<<31:
				return binary.LittleEndian.AppendUint32(append(b, 0xc2), uint32(v))
			}
		}
	}
	return append(appendLen(b, uint64(len(s))), s...)
}

// parseInt is the int64 s is the canonical decimal text of (Redis's string2ll).
func parseInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != string(s) {
		return 0, false
	}
	return v, true
}

// intset encodes members (all integers) as an intset, in numeric order.
func intset(members [][]byte) ([]byte, bool) {
	vals := make([]int64, 0, len(members))
	enc := 2
	for _, m := range members {
		v, ok := parseInt(m)
		if !ok {
			return nil, false
		}
		switch {
		case v < -1<<31 || v >= 1<<31:
			enc = 8
		case (v < -1<<15 || v >= 1<<15) && enc < 4:
			enc = 4
		}
		vals = append(vals, v)
	}
	slices.Sort(vals)
	b := binary.LittleEndian.AppendUint32(nil, uint32(enc))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vals)))
	for _, v := range vals {
		switch enc {
		case 2:
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		case 4:
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		default:
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	return b, true
}
