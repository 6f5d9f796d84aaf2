package script

import (
	"math"
	"math/bits"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// bitLib is LuaBitOp's bit table, as Redis bundles it: 32-bit operations on numbers
// normalised as tobit does (rounded, then taken modulo 2^32, signed).
func bitLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	unary := map[string]func(uint32) uint32{
		"tobit": func(x uint32) uint32 { return x },
		"bnot":  func(x uint32) uint32 { return ^x },
		"bswap": bits.ReverseBytes32,
	}
	for name, f := range unary {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			L.Push(bitResult(f(toBit(L, 1))))
			return 1
		}))
	}
	fold := map[string]func(a, b uint32) uint32{
		"band": func(a, b uint32) uint32 { return a & b },
		"bor":  func(a, b uint32) uint32 { return a | b },
		"bxor": func(a, b uint32) uint32 { return a ^ b },
	}
	for name, f := range fold {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			x := toBit(L, 1)
			for i := 2; i <= L.GetTop(); i++ {
				x = f(x, toBit(L, i))
			}
			L.Push(bitResult(x))
			return 1
		}))
	}
	shift := map[string]func(x uint32, n uint) uint32{
		"lshift":  func(x uint32, n uint) uint32 { return x << n },
		"rshift":  func(x uint32, n uint) uint32 { return x >> n },
		"arshift": func(x uint32, n uint) uint32 { return uint32(int32(x) >> n) },
		"rol":     func(x uint32, n uint) uint32 { return bits.RotateLeft32(x, int(n)) },
		"ror":     func(x uint32, n uint) uint32 { return bits.RotateLeft32(x, -int(n)) },
	}
	for name, f := range shift {
		t.RawSetString(name, L.NewFunction(func(L *lua.LState) int {
			x := toBit(L, 1)
			n := uint(toBit(L, 2) & 31)
			L.Push(bitResult(f(x, n)))
			return 1
		}))
	}
	t.RawSetString("tohex", L.NewFunction(bitToHex))
	return t
}

// toBit is LuaBitOp's argument normalisation: the number rounded to nearest (ties to
// even), its low 32 bits.
func toBit(L *lua.LState, i int) uint32 {
	f := float64(L.CheckNumber(i))
	return uint32(int64(math.Mod(math.RoundToEven(f), 1<<32)))
}

func bitResult(x uint32) lua.LNumber { return lua.LNumber(int32(x)) }

// bitToHex is bit.tohex(x [, n]): n hex digits (8 by default), upper case when n < 0.
func bitToHex(L *lua.LState) int {
	x := toBit(L, 1)
	n := int32(8)
	if L.GetTop() >= 2 {
		n = int32(toBit(L, 2))
	}
	digits := "0123456789abcdef"
	if n < 0 {
		n = -n
		digits = strings.ToUpper(digits)
	}
	n = min(n, 8)
	buf := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		buf[i] = digits[x&15]
		x >>= 4
	}
	L.Push(lua.LString(buf))
	return 1
}
