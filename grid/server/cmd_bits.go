package server

import (
	"math"
	"math/bits"

	"github.com/insightgrid/insight/grid/store"
)

// Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) on
// string values, with Redis 7.0's replies, errors and argument order (bitops.c): a
// missing key is an endless string of zero bits, offsets are bounded by
// proto-max-bulk-len, and a write journals only the bytes it changed.

const (
	errBitOffset   = "ERR bit offset is not an integer or out of range"
	errBitValue    = "ERR bit is not an integer or out of range"
	errBitfieldTyp = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
)

// bitCommands are the bitmap commands, for the command table.
func bitCommands() []*command {
	return []*command{
		withSpecs(def("setbit", 4, wr|oom, oneKey, "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", cmdSetBit), spec(1, "RW", "access", "update")),
		withSpecs(def("getbit", 3, ro|fast, oneKey, "bitmap", "2.2.0", "Returns a bit value by offset.", cmdGetBit), spec(1, "RO", "access")),
		withSpecs(def("bitcount", -2, ro, oneKey, "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", cmdBitCount), spec(1, "RO", "access")),
		withSpecs(def("bitpos", -3, ro, oneKey, "bitmap", "2.8.7", "Finds the first set (1) or clear (0) bit in a string.", cmdBitPos), spec(1, "RO", "access")),
		withSpecs(def("bitop", -4, wr|oom, keyed{2, -1, 1, nil}, "bitmap", "2.6.0", "Performs bitwise operations on multiple strings, and stores the result.", cmdBitOp),
			keySpec{flags: []string{"OW", "update"}, index: 2, keyStep: 1}, keySpec{flags: []string{"RO", "access"}, index: 3, lastKey: -1, keyStep: 1}),
		withSpecs(def("bitfield", -2, wr|oom, oneKey, "bitmap", "3.2.0", "Performs arbitrary bitfield integer operations on strings.", bitfield(false)),
			keySpec{notes: "This command allows both access and modification of the key", flags: []string{"RW", "access", "update", "variable_flags"}, index: 1, keyStep: 1}),
		withSpecs(def("bitfield_ro", -2, ro|fast, oneKey, "bitmap", "6.0.0", "Performs arbitrary read-only bitfield integer operations on strings.", bitfield(true)), spec(1, "RO", "access")),
	}
}

// bitOffset parses a bit offset as Redis's getBitOffsetFromArgument does: with hash,
// "#n" is n fields of width bits; the offset's byte must be below proto-max-bulk-len.
func (c *conn) bitOffset(arg []byte, hash bool, width int) (uint64, bool) {
	usehash := hash && len(arg) > 1 && arg[0] == '#'
	if usehash {
		arg = arg[1:]
	}
	n, ok := parseInt(arg)
	if ok && usehash {
		if m := n * int64(width); n != 0 && m/n != int64(width) {
			ok = false
		} else {
			n = m
		}
	}
	if !ok || n < 0 || n>>3 >= c.s.cfg.ProtoMaxBulkLen {
		c.wr.Error(errBitOffset)
		return 0, false
	}
	return uint64(n), true
}

// viewString calls fn with the string at key (ok false when absent) under its slot's
// read lock; a key of another type is answered WRONGTYPE and fn is not called.
func (c *conn) viewString(key []byte, fn func(v []byte, ok bool)) bool {
	wrongType := false
	c.s.store.ViewStrings([][]byte{key}, func(vals [][]byte, wrong []bool) {
		if wrongType = wrong[0]; !wrongType {
			fn(vals[0], vals[0] != nil)
		}
	})
	if wrongType {
		c.writeStoreErr(store.ErrWrongType)
	}
	return !wrongType
}

func cmdSetBit(c *conn, args [][]byte) {
	off, ok := c.bitOffset(args[2], false, 0)
	if !ok {
		return
	}
	on, ok := parseInt(args[3])
	if !ok || on&^1 != 0 {
		c.wr.Error(errBitValue)
		return
	}
	byteAt, mask := int(off>>3), byte(1)<<(7-off&7)
	var old int64
	size := int64(-1) // the length before, to tell whether SETBIT grew the string
	if c.s.notifying(notifyString | notifyNew) {
		size, _ = c.s.store.StrLen(args[1])
	}
	err := c.s.store.EditString(args[1], int64(byteAt)+1, func(v []byte) []store.Span {
		if v[byteAt]&mask != 0 {
			old = 1
		}
		if old == on {
			return nil
		}
		v[byteAt] ^= mask
		return []store.Span{{Off: byteAt, Len: 1}}
	})
	if err == nil && size >= 0 && (old != on || int64(byteAt) >= size) {
		c.notify(notifyString, "setbit", args[1])
	}
	c.replyInt(old, err)
}

func cmdGetBit(c *conn, args [][]byte) {
	off, ok := c.bitOffset(args[2], false, 0)
	if !ok {
		return
	}
	var bit int64
	if c.viewString(args[1], func(v []byte, _ bool) {
		if i := off >> 3; i < uint64(len(v)) && v[i]&(1<<(7-off&7)) != 0 {
			bit = 1
		}
	}) {
		c.wr.Int(bit)
	}
}

// bitRange resolves BITCOUNT's and BITPOS's start and end (negative from the end, in
// bytes or with isBit in bits) against a string of n bytes as Redis clamps them: the
// first and last byte and, in bits, masks of the bits of those bytes outside the range.
func bitRange(start, end int64, n int64, isBit bool) (first, last int64, firstMask, lastMask byte) {
	total := n
	if isBit {
		total <<= 3
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), max(end, 0)
	if end >= total {
		end = total - 1
	}
	if isBit && start <= end {
		firstMask = ^byte((1 << (8 - start&7)) - 1)
		lastMask = byte((1 << (7 - end&7)) - 1)
		start >>= 3
		end >>= 3
	}
	return start, end, firstMask, lastMask
}

// unitArg parses BYTE or BIT.
func unitArg(a []byte) (isBit, ok bool) {
	switch {
	case eqFold(a, "bit"):
		return true, true
	case eqFold(a, "byte"):
		return false, true
	}
	return false, false
}

func popcount(b []byte) int64 {
	var n int
	for len(b) >= 8 {
		n += bits.OnesCount64(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
		b = b[8:]
	}
	for _, x := range b {
		n += bits.OnesCount8(x)
	}
	return int64(n)
}

// cmdBitCount looks the key up before it parses the range, as Redis 7.0 does: a missing
// key is 0 whatever the arguments.
func cmdBitCount(c *conn, args [][]byte) {
	var reply func()
	if !c.viewString(args[1], func(v []byte, ok bool) {
		if !ok {
			reply = func() { c.wr.Int(0) }
			return
		}
		reply = bitCount(c, v, args)
	}) {
		return
	}
	reply()
}

// bitCount computes BITCOUNT of v and returns how to answer it.
func bitCount(c *conn, v []byte, args [][]byte) func() {
	n := int64(len(v))
	var start, end int64
	var fm, lm byte
	switch len(args) {
	case 2:
		start, end = 0, n-1
	case 4, 5:
		s, ok1 := parseInt(args[2])
		e, ok2 := parseInt(args[3])
		if !ok1 || !ok2 {
			return func() { c.wr.Error(errNotInteger) }
		}
		if s < 0 && e < 0 && s > e {
			return func() { c.wr.Int(0) }
		}
		isBit := false
		if len(args) == 5 {
			var ok bool
			if isBit, ok = unitArg(args[4]); !ok {
				return func() { c.wr.Error(errSyntax) }
			}
		}
		start, end, fm, lm = bitRange(s, e, n, isBit)
	default:
		return func() { c.wr.Error(errSyntax) }
	}
	if start > end {
		return func() { c.wr.Int(0) }
	}
	count := popcount(v[start : end+1])
	if fm != 0 {
		count -= int64(bits.OnesCount8(v[start] & fm))
	}
	if lm != 0 {
		count -= int64(bits.OnesCount8(v[end] & lm))
	}
	return func() { c.wr.Int(count) }
}

// bitPos is the position of the first bit equal to bit in p (bits counted from the
// first byte's most significant), or, when there is none, len(p)*8 for a clear bit and
// -1 for a set one (redisBitpos).
func bitPos(p []byte, bit int64) int64 {
	for i, x := range p {
		if bit == 1 && x != 0 {
			return int64(i)*8 + int64(bits.LeadingZeros8(x))
		}
		if bit == 0 && x != 0xff {
			return int64(i)*8 + int64(bits.LeadingZeros8(^x))
		}
	}
	if bit == 1 {
		return -1
	}
	return int64(len(p)) * 8
}

// cmdBitPos checks the bit, then the key, then the range, in Redis 7.0's order.
func cmdBitPos(c *conn, args [][]byte) {
	bit, ok := parseInt(args[2])
	if !ok {
		c.wr.Error(errNotInteger)
		return
	}
	if bit != 0 && bit != 1 {
		c.wr.Error("ERR The bit argument must be 1 or 0.")
		return
	}
	var reply func()
	if !c.viewString(args[1], func(v []byte, ok bool) {
		if !ok {
			reply = func() { c.wr.Int(-bit) }
			return
		}
		reply = bitPosOf(c, v, bit, args)
	}) {
		return
	}
	reply()
}

// bitPosOf computes BITPOS of v and returns how to answer it.
func bitPosOf(c *conn, v []byte, bit int64, args [][]byte) func() {
	n := int64(len(v))
	var start, end int64
	var fm, lm byte
	endGiven := false
	switch len(args) {
	case 3:
		start, end = 0, n-1
	case 4, 5, 6:
		s, ok := parseInt(args[3])
		if !ok {
			return func() { c.wr.Error(errNotInteger) }
		}
		isBit := false
		if len(args) == 6 {
			if isBit, ok = unitArg(args[5]); !ok {
				return func() { c.wr.Error(errSyntax) }
			}
		}
		var e int64
		switch {
		case len(args) >= 5:
			if e, ok = parseInt(args[4]); !ok {
				return func() { c.wr.Error(errNotInteger) }
			}
			endGiven = true
		case isBit:
			e = n<<3 + 7
		default:
			e = n - 1
		}
		start, end, fm, lm = bitRange(s, e, n, isBit)
	default:
		return func() { c.wr.Error(errSyntax) }
	}
	if start > end {
		return func() { c.wr.Int(-1) }
	}
	// Search the bytes start..end with the bits outside the range made the opposite of
	// the one looked for.
	bytes := end - start + 1
	var pos int64 = -1
	found := false
	for i := start; i <= end; i++ {
		x := v[i]
		var mask byte
		if i == start {
			mask |= fm
		}
		if i == end {
			mask |= lm
		}
		if bit == 1 {
			x &^= mask
		} else {
			x |= mask
		}
		if p := bitPos([]byte{x}, bit); p >= 0 && p < 8 {
			pos, found = (i-start)*8+p, true
			break
		}
	}
	switch {
	case found:
	case bit == 1 || endGiven:
		return func() { c.wr.Int(-1) }
	default:
		pos = bytes * 8
	}
	pos += start << 3
	return func() { c.wr.Int(pos) }
}

// cmdBitOp is BITOP AND|OR|XOR|NOT destkey key...: the result replaces destkey (an empty
// one deletes it); the reply is its length.
func cmdBitOp(c *conn, args [][]byte) {
	op := args[1]
	var fn func(a, b byte) byte
	switch {
	case eqFold(op, "and"):
		fn = func(a, b byte) byte { return a & b }
	case eqFold(op, "or"):
		fn = func(a, b byte) byte { return a | b }
	case eqFold(op, "xor"):
		fn = func(a, b byte) byte { return a ^ b }
	case eqFold(op, "not"):
		if len(args) != 4 {
			c.wr.Error("ERR BITOP NOT must be called with a single source key.")
			return
		}
	default:
		c.wr.Error(errSyntax)
		return
	}
	existed := c.s.notifying(notifyGeneric) && c.s.store.Exists(args[2])
	n, err := c.s.store.ComputeString(args[2], args[3:], func(vals [][]byte) []byte {
		maxLen := 0
		for _, v := range vals {
			maxLen = max(maxLen, len(v))
		}
		if maxLen == 0 {
			return nil
		}
		out := make([]byte, maxLen)
		if fn == nil {
			for i, x := range vals[0] {
				out[i] = ^x
			}
			return out
		}
		copy(out, vals[0])
		for _, v := range vals[1:] {
			for i := range out {
				var x byte
				if i < len(v) {
					x = v[i]
				}
				out[i] = fn(out[i], x)
			}
		}
		return out
	})
	if err == nil {
		c.notifyStored(notifyString, "set", args[2], n > 0, existed)
	}
	c.replyInt(n, err)
}

// The BITFIELD operations.
const (
	bfGet = iota
	bfSet
	bfIncrBy
)

// The BITFIELD overflow behaviours.
const (
	owWrap = iota
	owSat
	owFail
)

type bitfieldOp struct {
	code, overflow int
	signed         bool
	bits           uint64
	offset         uint64
	value          int64
}

// bitfieldType parses i1..i64 or u1..u63 (the letter in lower case, as Redis wants it).
func bitfieldType(a []byte) (signed bool, width uint64, ok bool) {
	if len(a) < 2 || (a[0] != 'i' && a[0] != 'u') {
		return false, 0, false
	}
	signed = a[0] == 'i'
	n, ok := parseInt(a[1:])
	if !ok || n < 1 || (signed && n > 64) || (!signed && n > 63) {
		return false, 0, false
	}
	return signed, uint64(n), true
}

// parseBitfield parses BITFIELD's operations, answering the first error as Redis does.
func (c *conn) parseBitfield(args [][]byte) (ops []bitfieldOp, highest uint64, readonly, ok bool) {
	readonly, overflow := true, owWrap
	for j := 2; j < len(args); j++ {
		rem := len(args) - j - 1
		sub := args[j]
		var code int
		switch {
		case eqFold(sub, "get") && rem >= 2:
			code = bfGet
		case eqFold(sub, "set") && rem >= 3:
			code = bfSet
		case eqFold(sub, "incrby") && rem >= 3:
			code = bfIncrBy
		case eqFold(sub, "overflow") && rem >= 1:
			j++
			switch a := args[j]; {
			case eqFold(a, "wrap"):
				overflow = owWrap
			case eqFold(a, "sat"):
				overflow = owSat
			case eqFold(a, "fail"):
				overflow = owFail
			default:
				c.wr.Error("ERR Invalid OVERFLOW type specified")
				return nil, 0, false, false
			}
			continue
		default:
			c.wr.Error(errSyntax)
			return nil, 0, false, false
		}
		signed, width, tok := bitfieldType(args[j+1])
		if !tok {
			c.wr.Error(errBitfieldTyp)
			return nil, 0, false, false
		}
		off, ook := c.bitOffset(args[j+2], true, int(width))
		if !ook {
			return nil, 0, false, false
		}
		op := bitfieldOp{code: code, overflow: overflow, signed: signed, bits: width, offset: off}
		if code != bfGet {
			readonly = false
			highest = max(highest, off+width-1)
			v, vok := parseInt(args[j+3])
			if !vok {
				c.wr.Error(errNotInteger)
				return nil, 0, false, false
			}
			op.value = v
			j++
		}
		ops = append(ops, op)
		j += 2
	}
	return ops, highest, readonly, true
}

func getUnsignedBits(p []byte, offset, width uint64) uint64 {
	var v uint64
	for range width {
		b := uint64(0)
		if i := offset >> 3; i < uint64(len(p)) {
			b = uint64(p[i]>>(7-offset&7)) & 1
		}
		v = v<<1 | b
		offset++
	}
	return v
}

func getSignedBits(p []byte, offset, width uint64) int64 {
	v := int64(getUnsignedBits(p, offset, width))
	if width < 64 && v&(1<<(width-1)) != 0 {
		v |= -1 << width
	}
	return v
}

func setBits(p []byte, offset, width, v uint64) {
	for j := range width {
		bit := byte(v>>(width-1-j)) & 1
		i, sh := offset>>3, 7-offset&7
		p[i] = p[i]&^(1<<sh) | bit<<sh
		offset++
	}
}

// unsignedOverflow is Redis's checkUnsignedBitfieldOverflow: whether value+incr
// overflows a width-bit unsigned field and what WRAP or SAT makes of it.
func unsignedOverflow(value uint64, incr int64, width uint64, ow int) (bool, uint64) {
	maxv := uint64(1)<<width - 1
	maxincr := int64(maxv - value)
	minincr := -int64(value)
	wrap := func() uint64 { return (value + uint64(incr)) &^ (math.MaxUint64 << width) }
	switch {
	case value > maxv || (incr > 0 && incr > maxincr):
		if ow == owWrap {
			return true, wrap()
		}
		return true, maxv
	case incr < 0 && incr < minincr:
		if ow == owWrap {
			return true, wrap()
		}
		return true, 0
	}
	return false, 0
}

// signedOverflow is Redis's checkSignedBitfieldOverflow.
func signedOverflow(value, incr int64, width uint64, ow int) (bool, int64) {
	maxv := int64(math.MaxInt64)
	if width < 64 {
		maxv = 1<<(width-1) - 1
	}
	minv := -maxv - 1
	maxincr := int64(uint64(maxv) - uint64(value))
	minincr := minv - value
	wrap := func() int64 {
		s := uint64(value) + uint64(incr)
		if width < 64 {
			mask := uint64(math.MaxUint64) << width
			if s&(1<<(width-1)) != 0 {
				s |= mask
			} else {
				s &^= mask
			}
		}
		return int64(s)
	}
	switch {
	case value > maxv || (width != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr):
		if ow == owWrap {
			return true, wrap()
		}
		return true, maxv
	case value < minv || (width != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr):
		if ow == owWrap {
			return true, wrap()
		}
		return true, minv
	}
	return false, 0
}

// run applies a SET or INCRBY to p and returns the reply (nil: FAIL overflowed, nothing
// written) and whether p changed.
func (op *bitfieldOp) run(p []byte) (reply *int64, changed bool) {
	var newv uint64
	var ret int64
	var over bool
	if op.signed {
		old := getSignedBits(p, op.offset, op.bits)
		var lim int64
		if op.code == bfIncrBy {
			over, lim = signedOverflow(old, op.value, op.bits, op.overflow)
			ret = old + op.value
			if over {
				ret = lim
			}
			newv = uint64(ret)
		} else {
			over, lim = signedOverflow(op.value, 0, op.bits, op.overflow)
			n := op.value
			if over {
				n = lim
			}
			newv, ret = uint64(n), old
		}
	} else {
		old := getUnsignedBits(p, op.offset, op.bits)
		var lim uint64
		if op.code == bfIncrBy {
			over, lim = unsignedOverflow(old, op.value, op.bits, op.overflow)
			newv = old + uint64(op.value)
			if over {
				newv = lim
			}
			ret = int64(newv)
		} else {
			over, lim = unsignedOverflow(uint64(op.value), 0, op.bits, op.overflow)
			newv = uint64(op.value)
			if over {
				newv = lim
			}
			ret = int64(old)
		}
	}
	if over && op.overflow == owFail {
		return nil, false
	}
	before := getUnsignedBits(p, op.offset, op.bits)
	setBits(p, op.offset, op.bits, newv)
	return &ret, before != getUnsignedBits(p, op.offset, op.bits)
}

// bitfield is BITFIELD and (readonly) BITFIELD_RO.
func bitfield(roCmd bool) func(c *conn, args [][]byte) {
	return func(c *conn, args [][]byte) {
		ops, highest, readonly, ok := c.parseBitfield(args)
		if !ok {
			return
		}
		replies := make([]*int64, len(ops))
		if readonly {
			if !c.viewString(args[1], func(v []byte, _ bool) {
				for i := range ops {
					var r int64
					if ops[i].signed {
						r = getSignedBits(v, ops[i].offset, ops[i].bits)
					} else {
						r = int64(getUnsignedBits(v, ops[i].offset, ops[i].bits))
					}
					replies[i] = &r
				}
			}) {
				return
			}
		} else {
			if roCmd {
				c.wr.Error("ERR BITFIELD_RO only supports the GET subcommand")
				return
			}
			err := c.s.store.EditString(args[1], int64(highest>>3)+1, func(v []byte) []store.Span {
				var spans []store.Span
				for i := range ops {
					op := &ops[i]
					if op.code == bfGet {
						r := int64(getUnsignedBits(v, op.offset, op.bits))
						if op.signed {
							r = getSignedBits(v, op.offset, op.bits)
						}
						replies[i] = &r
						continue
					}
					var changed bool
					if replies[i], changed = op.run(v); changed {
						first := int(op.offset >> 3)
						spans = append(spans, store.Span{Off: first, Len: int((op.offset+op.bits-1)>>3) - first + 1})
					}
				}
				return spans
			})
			if err != nil {
				c.writeStoreErr(err)
				return
			}
			c.notifyBitfield(args[1], ops, replies)
		}
		c.wr.Array(len(replies))
		for _, r := range replies {
			if r == nil {
				c.wr.Null()
			} else {
				c.wr.Int(*r)
			}
		}
	}
}
