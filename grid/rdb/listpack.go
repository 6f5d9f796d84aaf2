package rdb

import (
	"encoding/binary"
	"errors"
	"strconv"
)

var errCorrupt = errors.New("rdb: corrupt encoding")

// backlenSize is the bytes a listpack entry's back length takes for an entry of n bytes.
func backlenSize(n int) int {
	switch {
	case n <= 127:
		return 1
	case n < 16383:
		return 2
	case n < 2097151:
		return 3
	case n < 268435455:
		return 4
	}
	return 5
}

// appendBacklen appends the back length of an entry of n bytes as Redis's lpEncodeBacklen.
func appendBacklen(b []byte, n int) []byte {
	size := backlenSize(n)
	for i := size - 1; i >= 0; i-- {
		c := byte(n>>(7*i)) & 127
		if i != size-1 {
			c |= 128
		}
		b = append(b, c)
	}
	return b
}

// decodeBacklen reads the back length that ends entry (Redis's lpDecodeBacklen: 7 bits a
// byte from the last one back, while a byte's high bit is set, five bytes at most), as
// Redis checks an entry: the value read backwards, not the bytes, must match the entry's
// size. It is -1 when no byte ends it.
func decodeBacklen(entry []byte) int {
	v := 0
	for i, shift := len(entry)-1, 0; i >= 0 && shift <= 28; i, shift = i-1, shift+7 {
		v |= int(entry[i]&127) << shift
		if entry[i]&128 == 0 {
			return v
		}
	}
	return -1
}

// appendListpack appends a listpack of elems, integers in Redis's integer encodings.
func appendListpack(b []byte, elems [][]byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0)
	for _, e := range elems {
		b = appendLPEntry(b, e)
	}
	return finishListpack(b, start, len(elems))
}

// finishListpack ends the listpack begun at start (its 6-byte header reserved) holding
// count elements: its terminator, total bytes and element count.
func finishListpack(b []byte, start, count int) []byte {
	b = append(b, 0xff)
	binary.LittleEndian.PutUint32(b[start:], uint32(len(b)-start))
	binary.LittleEndian.PutUint16(b[start+4:], uint16(min(count, 65535)))
	return b
}

// appendLPEntry appends one listpack element and its back length: an integer in the
// smallest of Redis's integer encodings when e is the canonical text of one (as
// lpAppend), else a string.
func appendLPEntry(b, e []byte) []byte {
	at := len(b)
	if v, ok := parseInt(e); ok {
		switch {
		case v >= 0 && v <= 127:
			b = append(b, byte(v))
		case v >= -4096 && v <= 4095:
			u := uint16(v) & 0x1fff
			b = append(b, byte(u>>8)|0xc0, byte(u))
		case v >= -1<<15 && v < 1<<15:
			b = binary.LittleEndian.AppendUint16(append(b, 0xf1), uint16(v))
		case v >= -1<<23 && v < 1<<23:
			b = append(b, 0xf2, byte(v), byte(v>>8), byte(v>>16))
		case v >= -1<<31 && v < 1<<31:
			b = binary.LittleEndian.AppendUint32(append(b, 0xf3), uint32(v))
		default:
			b = binary.LittleEndian.AppendUint64(append(b, 0xf4), uint64(v))
		}
	} else {
		switch n := len(e); {
		case n < 64:
			b = append(b, 0x80|byte(n))
		case n < 4096:
			b = append(b, 0xe0|byte(n>>8), byte(n))
		default:
			b = binary.LittleEndian.AppendUint32(append(b, 0xf0), uint32(n))
		}
		b = append(b, e...)
	}
	return appendBacklen(b, len(b)-at)
}

// readListpack returns copies of the elements of the listpack lp, validating all of it.
func readListpack(lp []byte) ([][]byte, error) {
	if len(lp) < 7 || int(binary.LittleEndian.Uint32(lp)) != len(lp) || lp[len(lp)-1] != 0xff {
		return nil, errCorrupt
	}
	count := int(binary.LittleEndian.Uint16(lp[4:]))
	p := lp[6 : len(lp)-1]
	var out [][]byte
	for len(p) > 0 {
		var e []byte
		var n int
		var iv int64
		isInt := true
		need := func(k int) bool { return len(p) >= k }
		switch c := p[0]; {
		case c&0x80 == 0:
			iv, n = int64(c), 1
		case c&0xc0 == 0x80:
			l := int(c & 0x3f)
			if !need(1 + l) {
				return nil, errCorrupt
			}
			e, n, isInt = p[1:1+l], 1+l, false
		case c&0xe0 == 0xc0:
			if !need(2) {
				return nil, errCorrupt
			}
			u := int64(c&0x1f)<<8 | int64(p[1])
			if u >= 1<<12 {
				u -= 1 << 13
			}
			iv, n = u, 2
		case c&0xf0 == 0xe0:
			if !need(2) {
				return nil, errCorrupt
			}
			l := int(c&0x0f)<<8 | int(p[1])
			if !need(2 + l) {
				return nil, errCorrupt
			}
			e, n, isInt = p[2:2+l], 2+l, false
		case c == 0xf0:
			if !need(5) {
				return nil, errCorrupt
			}
			l := int(binary.LittleEndian.Uint32(p[1:]))
			if l < 0 || l > len(p)-5 {
				return nil, errCorrupt
			}
			e, n, isInt = p[5:5+l], 5+l, false
		case c == 0xf1 && need(3):
			iv, n = int64(int16(binary.LittleEndian.Uint16(p[1:]))), 3
		case c == 0xf2 && need(4):
			iv, n = int64(int32(uint32(p[1])<<8|uint32(p[2])<<16|uint32(p[3])<<24)>>8), 4
		case c == 0xf3 && need(5):
			iv, n = int64(int32(binary.LittleEndian.Uint32(p[1:]))), 5
		case c == 0xf4 && need(9):
			iv, n = int64(binary.LittleEndian.Uint64(p[1:])), 9
		default:
			return nil, errCorrupt
		}
		bl := backlenSize(n)
		if len(p) < n+bl || decodeBacklen(p[:n+bl]) != n {
			return nil, errCorrupt
		}
		if isInt {
			e = strconv.AppendInt(nil, iv, 10)
		} else {
			e = append([]byte{}, e...)
		}
		out = append(out, e)
		p = p[n+bl:]
	}
	if count != 65535 && count != len(out) {
		return nil, errCorrupt
	}
	return out, nil
}

// readZiplist returns copies of the elements of the ziplist zl (Redis before 7.0).
func readZiplist(zl []byte) ([][]byte, error) {
	if len(zl) < 11 || int(binary.LittleEndian.Uint32(zl)) != len(zl) || zl[len(zl)-1] != 0xff {
		return nil, errCorrupt
	}
	count := int(binary.LittleEndian.Uint16(zl[8:]))
	p := zl[10 : len(zl)-1]
	var out [][]byte
	for len(p) > 0 {
		// The previous entry's length: one byte, or 0xfe and four.
		if p[0] == 0xfe {
			if len(p) < 5 {
				return nil, errCorrupt
			}
			p = p[5:]
		} else {
			p = p[1:]
		}
		if len(p) == 0 {
			return nil, errCorrupt
		}
		var e []byte
		var iv int64
		isInt := true
		n := 0
		need := func(k int) bool { return len(p) >= k }
		switch c := p[0]; {
		case c>>6 == 0:
			l := int(c & 0x3f)
			if !need(1 + l) {
				return nil, errCorrupt
			}
			e, n, isInt = p[1:1+l], 1+l, false
		case c>>6 == 1:
			if !need(2) {
				return nil, errCorrupt
			}
			l := int(c&0x3f)<<8 | int(p[1])
			if !need(2 + l) {
				return nil, errCorrupt
			}
			e, n, isInt = p[2:2+l], 2+l, false
		case c == 0x80:
			if !need(5) {
				return nil, errCorrupt
			}
			l := int(binary.BigEndian.Uint32(p[1:]))
			if l < 0 || l > len(p)-5 {
				return nil, errCorrupt
			}
			e, n, isInt = p[5:5+l], 5+l, false
		case c == 0xc0 && need(3):
			iv, n = int64(int16(binary.LittleEndian.Uint16(p[1:]))), 3
		case c == 0xd0 && need(5):
			iv, n = int64(int32(binary.LittleEndian.Uint32(p[1:]))), 5
		case c == 0xe0 && need(9):
			iv, n = int64(binary.LittleEndian.Uint64(p[1:])), 9
		case c == 0xf0 && need(4):
			iv, n = int64(int32(uint32(p[1])<<8|uint32(p[2])<<16|uint32(p[3])<<24)>>8), 4
		case c == 0xfe && need(2):
			iv, n = int64(int8(p[1])), 2
		case c >= 0xf1 && c <= 0xfd:
			iv, n = int64(c&0x0f)-1, 1
		default:
			return nil, errCorrupt
		}
		if isInt {
			e = strconv.AppendInt(nil, iv, 10)
		} else {
			e = append([]byte{}, e...)
		}
		out = append(out, e)
		p = p[n:]
	}
	if count != 65535 && count != len(out) {
		return nil, errCorrupt
	}
	return out, nil
}

// readIntset returns the members of the intset is, which must be in strictly ascending
// order.
func readIntset(is []byte) ([][]byte, error) {
	if len(is) < 8 {
		return nil, errCorrupt
	}
	enc, n := int(binary.LittleEndian.Uint32(is)), int(binary.LittleEndian.Uint32(is[4:]))
	if (enc != 2 && enc != 4 && enc != 8) || n < 0 || n > (len(is)-8)/enc || len(is) != 8+n*enc {
		return nil, errCorrupt
	}
	out := make([][]byte, 0, n)
	var prev int64
	for i := range n {
		p := is[8+i*enc:]
		var v int64
		switch enc {
		case 2:
			v = int64(int16(binary.LittleEndian.Uint16(p)))
		case 4:
			v = int64(int32(binary.LittleEndian.Uint32(p)))
		default:
			v = int64(binary.LittleEndian.Uint64(p))
		}
		if i > 0 && v <= prev {
			return nil, errCorrupt
		}
		prev = v
		out = append(out, strconv.AppendInt(nil, v, 10))
	}
	return out, nil
}

// lzfDecompress expands LZF data (Redis's lzf_decompress) into exactly n bytes.
func lzfDecompress(in []byte, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for ip := 0; ip < len(in); {
		ctrl := int(in[ip])
		ip++
		if ctrl < 32 {
			l := ctrl + 1
			if ip+l > len(in) || len(out)+l > n {
				return nil, errCorrupt
			}
			out = append(out, in[ip:ip+l]...)
			ip += l
			continue
		}
		l := ctrl >> 5
		if l == 7 {
			if ip >= len(in) {
				return nil, errCorrupt
			}
			l += int(in[ip])
			ip++
		}
		if ip >= len(in) {
			return nil, errCorrupt
		}
		ref := len(out) - (ctrl&0x1f)<<8 - int(in[ip]) - 1
		ip++
		l += 2
		if ref < 0 || len(out)+l > n {
			return nil, errCorrupt
		}
		for k := range l {
			out = append(out, out[ref+k])
		}
	}
	if len(out) != n {
		return nil, errCorrupt
	}
	return out, nil
}
