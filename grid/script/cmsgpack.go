package script

import (
	"encoding/binary"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// cmsgpack is lua-cmsgpack 0.4.0's pack and unpack, as Redis bundles it: numbers equal to
// an int64 as the smallest integer, others as a float32 when exact, else a float64;
// strings as fixstr/str8/16/32; a table whose keys are 1..n as an array, others as a map;
// tables nested past 16 levels, nil and other types as nil. unpack reads what pack
// writes (bin and ext types are a bad format, as in Redis 7.0); unpack_one and
// unpack_limit are left out.

const msgpackMaxNesting = 16

func (v *vm) cmsgpackLib() *lua.LTable {
	L := v.L
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(msgpackPack))
	t.RawSetString("unpack", L.NewFunction(msgpackUnpack))
	return t
}

func msgpackPack(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.ArgError(0, "MessagePack pack needs input.")
	}
	var b []byte
	for i := 1; i <= n; i++ {
		b = appendMsgpack(b, L.Get(i), 0)
	}
	L.Push(lua.LString(b))
	return 1
}

func appendMsgpack(b []byte, v lua.LValue, level int) []byte {
	switch x := v.(type) {
	case lua.LString:
		return appendMsgpackString(b, string(x))
	case lua.LBool:
		if x {
			return append(b, 0xc3)
		}
		return append(b, 0xc2)
	case lua.LNumber:
		f := float64(x)
		if !math.IsInf(f, 0) && !math.IsNaN(f) && f >= math.MinInt64 && f < math.MaxInt64 && float64(int64(f)) == f {
			return appendMsgpackInt(b, int64(f))
		}
		if f32 := float32(f); float64(f32) == f {
			return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(f32))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
	case *lua.LTable:
		if level == msgpackMaxNesting {
			return append(b, 0xc0)
		}
		return appendMsgpackTable(b, x, level)
	}
	return append(b, 0xc0)
}

func appendMsgpackString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
	default:
		b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
	}
	return append(b, s...)
}

func appendMsgpackInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 127:
		return append(b, byte(n))
	case n >= 0 && n <= 0xff:
		return append(b, 0xcc, byte(n))
	case n >= 0 && n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n >= 0 && n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= -32:
		return append(b, byte(int8(n)))
	case n >= -128:
		return append(b, 0xd0, byte(int8(n)))
	case n >= -32768:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(n)))
	case n >= -2147483648:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// appendMsgpackTable encodes t as lua-cmsgpack does: an array when its keys are exactly
// the integers 1..n (an empty table too), a map otherwise.
func appendMsgpackTable(b []byte, t *lua.LTable, level int) []byte {
	count, maxKey, isArray := 0, 0.0, true
	t.ForEach(func(k, _ lua.LValue) {
		count++
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) <= 0 || float64(n) != math.Trunc(float64(n)) {
			isArray = false
			return
		}
		maxKey = max(maxKey, float64(n))
	})
	if isArray && maxKey == float64(count) {
		b = appendMsgpackHeader(b, count, 0x90, 0xdc, 0xdd)
		for i := 1; i <= count; i++ {
			b = appendMsgpack(b, t.RawGetInt(i), level+1)
		}
		return b
	}
	b = appendMsgpackHeader(b, count, 0x80, 0xde, 0xdf)
	t.ForEach(func(k, val lua.LValue) {
		b = appendMsgpack(b, k, level+1)
		b = appendMsgpack(b, val, level+1)
	})
	return b
}

func appendMsgpackHeader(b []byte, n int, fix, c16, c32 byte) []byte {
	switch {
	case n <= 15:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, c16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, c32), uint32(n))
}

// errMissing and errBadFormat are lua-cmsgpack's decoding errors.
const (
	errMissing   = "Missing bytes in input."
	errBadFormat = "Bad data format in input."
)

func msgpackUnpack(L *lua.LState) int {
	d := &msgpackDecoder{L: L, b: []byte(L.CheckString(1))}
	n := 0
	for len(d.b) > 0 {
		v := d.value()
		if d.err != "" {
			L.RaiseError("%s", d.err)
		}
		L.Push(v)
		n++
	}
	return n
}

type msgpackDecoder struct {
	L   *lua.LState
	b   []byte
	err string
}

func (d *msgpackDecoder) take(n int) []byte {
	if d.err != "" {
		return nil
	}
	if len(d.b) < n {
		d.err = errMissing
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *msgpackDecoder) uint(n int) uint64 {
	p := d.take(n)
	var x uint64
	for _, c := range p {
		x = x<<8 | uint64(c)
	}
	return x
}

func (d *msgpackDecoder) value() lua.LValue {
	p := d.take(1)
	if p == nil {
		return lua.LNil
	}
	c := p[0]
	switch {
	case c <= 0x7f:
		return lua.LNumber(c)
	case c >= 0xe0:
		return lua.LNumber(int8(c))
	case c&0xe0 == 0xa0:
		return lua.LString(d.take(int(c & 0x1f)))
	case c&0xf0 == 0x90:
		return d.array(int(c & 0x0f))
	case c&0xf0 == 0x80:
		return d.object(int(c & 0x0f))
	}
	switch c {
	case 0xc0:
		return lua.LNil
	case 0xc2:
		return lua.LFalse
	case 0xc3:
		return lua.LTrue
	case 0xca:
		return lua.LNumber(math.Float32frombits(uint32(d.uint(4))))
	case 0xcb:
		return lua.LNumber(math.Float64frombits(d.uint(8)))
	case 0xcc, 0xcd, 0xce, 0xcf:
		return lua.LNumber(float64(d.uint(1 << (c - 0xcc))))
	case 0xd0:
		return lua.LNumber(int8(d.uint(1)))
	case 0xd1:
		return lua.LNumber(int16(d.uint(2)))
	case 0xd2:
		return lua.LNumber(int32(d.uint(4)))
	case 0xd3:
		return lua.LNumber(float64(int64(d.uint(8))))
	case 0xd9:
		return lua.LString(d.take(int(d.uint(1))))
	case 0xda:
		return lua.LString(d.take(int(d.uint(2))))
	case 0xdb:
		return lua.LString(d.take(int(d.uint(4))))
	case 0xdc:
		return d.array(int(d.uint(2)))
	case 0xdd:
		return d.array(int(d.uint(4)))
	case 0xde:
		return d.object(int(d.uint(2)))
	case 0xdf:
		return d.object(int(d.uint(4)))
	}
	if d.err == "" {
		d.err = errBadFormat
	}
	return lua.LNil
}

func (d *msgpackDecoder) array(n int) lua.LValue {
	if n > len(d.b) { // every element takes a byte at least
		d.err = errMissing
		return lua.LNil
	}
	t := d.L.CreateTable(n, 0)
	for i := 1; i <= n && d.err == ""; i++ {
		t.RawSetInt(i, d.value())
	}
	return t
}

func (d *msgpackDecoder) object(n int) lua.LValue {
	if 2*n > len(d.b) {
		d.err = errMissing
		return lua.LNil
	}
	t := d.L.CreateTable(0, n)
	for i := 0; i < n && d.err == ""; i++ {
		k := d.value()
		v := d.value()
		if k != lua.LNil && d.err == "" {
			t.RawSet(k, v)
		}
	}
	return t
}
