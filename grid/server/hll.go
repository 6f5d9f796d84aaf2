package server

import (
	"encoding/binary"
	"math"
)

// HyperLogLog in Redis 7.0's exact representation (hyperloglog.c), so a value moves
// between Redis and the grid byte for byte: a 16-byte header ("HYLL", the encoding, three
// unused bytes, the cached cardinality little endian with its top bit set when stale),
// then 16384 registers, either dense (6 bits each, least significant bits first) or
// sparse (run lengths: ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL 1vvvvvxx).
const (
	hllP             = 14
	hllQ             = 64 - hllP
	hllRegisters     = 1 << hllP
	hllPMask         = hllRegisters - 1
	hllBits          = 6
	hllRegisterMax   = 1<<hllBits - 1
	hllHdrSize       = 16
	hllDenseSize     = hllHdrSize + (hllRegisters*hllBits+7)/8
	hllDense         = 0
	hllSparse        = 1
	hllMaxEncoding   = 1
	hllSparseValMax  = 32
	hllSparseValLen  = 4
	hllSparseZeroMax = 64
	hllXZeroMax      = 16384
	// hllSparseMaxBytes is Redis's default hll-sparse-max-bytes: a sparse value that
	// would grow past it becomes dense.
	hllSparseMaxBytes = 3000
	hllAlphaInf       = 0.721347520444481703680 // 0.5/ln(2)
)

const (
	errHLLType    = "WRONGTYPE Key is not a valid HyperLogLog string value."
	errHLLInvalid = "INVALIDOBJ Corrupted HLL object detected"
)

// hllValid is Redis's isHLLObjectOrReply test of a string value.
func hllValid(v []byte) bool {
	if len(v) < hllHdrSize || string(v[:4]) != "HYLL" || v[4] > hllMaxEncoding {
		return false
	}
	return v[4] != hllDense || len(v) == hllDenseSize
}

// hllNew is an empty HyperLogLog: sparse, one XZERO covering every register.
func hllNew() []byte {
	v := make([]byte, hllHdrSize, hllHdrSize+2)
	copy(v, "HYLL")
	v[4] = hllSparse
	return append(v, 0x40|byte((hllXZeroMax-1)>>8), byte((hllXZeroMax-1)&0xff))
}

func hllInvalidate(v []byte) { v[15] |= 0x80 }

// murmurHash64A is MurmurHash2's 64-bit variant as Redis uses it (endian neutral).
func murmurHash64A(key []byte, seed uint64) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	h := seed ^ (uint64(len(key)) * m)
	for len(key) >= 8 {
		k := binary.LittleEndian.Uint64(key)
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
		key = key[8:]
	}
	if len(key) > 0 {
		for i := len(key) - 1; i >= 0; i-- {
			h ^= uint64(key[i]) << (8 * i)
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// hllPatLen is the register an element hashes to and the length of its 000..1 pattern.
func hllPatLen(ele []byte) (index int, count uint8) {
	hash := murmurHash64A(ele, 0xadc83b19)
	index = int(hash & hllPMask)
	hash >>= hllP
	hash |= 1 << hllQ
	count = 1
	for bit := uint64(1); hash&bit == 0; bit <<= 1 {
		count++
	}
	return index, count
}

func denseGet(regs []byte, i int) uint8 {
	b, fb := i*hllBits/8, uint(i*hllBits&7)
	b0 := uint(regs[b])
	var b1 uint
	if b+1 < len(regs) {
		b1 = uint(regs[b+1])
	}
	return uint8((b0>>fb | b1<<(8-fb)) & hllRegisterMax)
}

func denseSet(regs []byte, i int, val uint8) {
	b, fb := i*hllBits/8, uint(i*hllBits&7)
	v := uint(val)
	regs[b] &^= byte(hllRegisterMax << fb)
	regs[b] |= byte(v << fb)
	if b+1 < len(regs) {
		regs[b+1] &^= byte(hllRegisterMax >> (8 - fb))
		regs[b+1] |= byte(v >> (8 - fb))
	}
}

// denseSetMax sets register i to count when that is larger; it reports whether it did.
func denseSetMax(regs []byte, i int, count uint8) bool {
	if count > denseGet(regs, i) {
		denseSet(regs, i, count)
		return true
	}
	return false
}

func sparseIsZero(b byte) bool  { return b&0xc0 == 0 }
func sparseIsXZero(b byte) bool { return b&0xc0 == 0x40 }
func sparseIsVal(b byte) bool   { return b&0x80 != 0 }
func sparseZeroLen(b byte) int  { return int(b&0x3f) + 1 }

// sparseXZeroLen reads the XZERO at v[p]; a second byte past the end reads as zero, as
// Redis reads the string's terminator.
func sparseXZeroLen(v []byte, p int) int {
	var lo byte
	if p+1 < len(v) {
		lo = v[p+1]
	}
	return (int(v[p]&0x3f)<<8 | int(lo)) + 1
}
func sparseValValue(b byte) uint8     { return (b>>2)&0x1f + 1 }
func sparseValLen(b byte) int         { return int(b&3) + 1 }
func sparseVal(val uint8, n int) byte { return byte(int(val-1)<<2|(n-1)) | 0x80 }
func sparseXZero(n int) (byte, byte)  { return byte((n-1)>>8) | 0x40, byte((n - 1) & 0xff) }
func appendZeros(b []byte, n int) []byte {
	if n > hllSparseZeroMax {
		x, y := sparseXZero(n)
		return append(b, x, y)
	}
	return append(b, byte(n-1))
}

// sparseToDense converts a sparse value to dense (keeping the header and its cached
// cardinality); ok is false when the sparse value is corrupt.
func sparseToDense(v []byte) (dense []byte, ok bool) {
	if v[4] == hllDense {
		return v, true
	}
	dense = make([]byte, hllDenseSize)
	copy(dense, v[:hllHdrSize])
	dense[4] = hllDense
	regs := dense[hllHdrSize:]
	idx := 0
	for p := hllHdrSize; p < len(v); {
		switch b := v[p]; {
		case sparseIsZero(b):
			idx += sparseZeroLen(b)
			p++
		case sparseIsXZero(b):
			idx += sparseXZeroLen(v, p)
			p += 2
		default:
			n, val := sparseValLen(b), sparseValValue(b)
			if idx+n > hllRegisters {
				return nil, false
			}
			for range n {
				denseSet(regs, idx, val)
				idx++
			}
			p++
		}
	}
	if idx != hllRegisters {
		return nil, false
	}
	return dense, true
}

// sparseSet sets register index of the sparse value *hp to count when that is larger,
// as hllSparseSet does, promoting it to dense when count does not fit a VAL opcode or the
// value would pass hllSparseMaxBytes: 1 changed, 0 not, -1 corrupt.
func sparseSet(hp *[]byte, index int, count uint8) int {
	v := *hp
	if count > hllSparseValMax {
		return promote(hp, index, count)
	}
	// Find the opcode covering the register.
	first, span, p, prev := 0, 0, hllHdrSize, -1
	for p < len(v) {
		oplen := 1
		switch b := v[p]; {
		case sparseIsZero(b):
			span = sparseZeroLen(b)
		case sparseIsVal(b):
			span = sparseValLen(b)
		default:
			span, oplen = sparseXZeroLen(v, p), 2
		}
		if index <= first+span-1 {
			break
		}
		prev = p
		p += oplen
		first += span
	}
	if span == 0 || p >= len(v) {
		return -1
	}
	b := v[p]
	isZero, isXZero, isVal := sparseIsZero(b), sparseIsXZero(b), sparseIsVal(b)
	var runlen int
	switch {
	case isZero:
		runlen = sparseZeroLen(b)
	case isXZero:
		runlen = sparseXZeroLen(v, p)
	default:
		runlen = sparseValLen(b)
	}
	end := len(v)
	switch {
	case isVal && sparseValValue(b) >= count:
		return 0
	case isVal && runlen == 1, isZero && runlen == 1:
		v[p] = sparseVal(count, 1)
	default:
		// Split the opcode: at worst XZERO-VAL-XZERO.
		seq := make([]byte, 0, 5)
		last := first + span - 1
		if isZero || isXZero {
			if index != first {
				seq = appendZeros(seq, index-first)
			}
			seq = append(seq, sparseVal(count, 1))
			if index != last {
				seq = appendZeros(seq, last-index)
			}
		} else {
			cur := sparseValValue(b)
			if index != first {
				seq = append(seq, sparseVal(cur, index-first))
			}
			seq = append(seq, sparseVal(count, 1))
			if index != last {
				seq = append(seq, sparseVal(cur, last-index))
			}
		}
		oldlen := 1
		if isXZero {
			oldlen = 2
		}
		delta := len(seq) - oldlen
		if delta > 0 && len(v)+delta > hllSparseMaxBytes {
			return promote(hp, index, count)
		}
		nv := make([]byte, 0, len(v)+delta)
		nv = append(append(append(nv, v[:p]...), seq...), v[p+oldlen:]...)
		v = nv
		end = len(v)
	}
	// Merge adjacent VAL opcodes of one value around the change.
	q := hllHdrSize
	if prev >= 0 {
		q = prev
	}
	for scan := 5; q < end && scan > 0; scan-- {
		switch {
		case sparseIsXZero(v[q]):
			q += 2
			continue
		case sparseIsZero(v[q]):
			q++
			continue
		}
		if q+1 < end && sparseIsVal(v[q+1]) {
			v1, v2 := sparseValValue(v[q]), sparseValValue(v[q+1])
			if n := sparseValLen(v[q]) + sparseValLen(v[q+1]); v1 == v2 && n <= hllSparseValLen {
				v[q+1] = sparseVal(v1, n)
				v = append(v[:q], v[q+1:]...)
				end--
				continue
			}
		}
		q++
	}
	hllInvalidate(v)
	*hp = v
	return 1
}

// promote converts *hp to dense and sets the register there.
func promote(hp *[]byte, index int, count uint8) int {
	d, ok := sparseToDense(*hp)
	if !ok {
		return -1
	}
	*hp = d
	denseSetMax(d[hllHdrSize:], index, count)
	return 1
}

// hllAdd adds ele to the HyperLogLog *hp: 1 when a register changed, 0 when not, -1
// when the value is corrupt.
func hllAdd(hp *[]byte, ele []byte) int {
	index, count := hllPatLen(ele)
	if (*hp)[4] == hllDense {
		if denseSetMax((*hp)[hllHdrSize:], index, count) {
			return 1
		}
		return 0
	}
	return sparseSet(hp, index, count)
}

// hllHisto counts the registers of v (dense or sparse) by value; ok is false when a
// sparse value does not cover exactly the registers.
func hllHisto(v []byte, histo *[64]int) bool {
	if v[4] == hllDense {
		regs := v[hllHdrSize:]
		for i := range hllRegisters {
			histo[denseGet(regs, i)]++
		}
		return true
	}
	idx := 0
	for p := hllHdrSize; p < len(v); {
		switch b := v[p]; {
		case sparseIsZero(b):
			n := sparseZeroLen(b)
			idx += n
			histo[0] += n
			p++
		case sparseIsXZero(b):
			n := sparseXZeroLen(v, p)
			idx += n
			histo[0] += n
			p += 2
		default:
			n := sparseValLen(b)
			idx += n
			histo[sparseValValue(b)] += n
			p++
		}
	}
	return idx == hllRegisters
}

func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x = float64(x * x)
		zPrime := z
		z += float64(x * y)
		y += y
		if zPrime == z {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		zPrime := z
		y *= 0.5
		d := 1 - x
		z -= float64(float64(d*d) * y)
		if zPrime == z {
			return z / 3
		}
	}
}

// hllEstimate is Redis 7's cardinality from a register histogram: Otmar Ertl's improved
// estimator ("New cardinality estimation algorithms for HyperLogLog sketches").
func hllEstimate(histo *[64]int) uint64 {
	m := float64(hllRegisters)
	z := float64(m * hllTau((m-float64(histo[hllQ+1]))/m))
	for j := hllQ; j >= 1; j-- {
		z += float64(histo[j])
		z *= 0.5
	}
	z += float64(m * hllSigma(float64(histo[0])/m))
	return uint64(int64(math.Round(float64(float64(hllAlphaInf*m)*m) / z)))
}

// hllCached is the cached cardinality of v, when valid.
func hllCached(v []byte) (uint64, bool) {
	if v[15]&0x80 != 0 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(v[8:16]), true
}

// hllMerge raises max's registers (one byte each) to those of v; false when v is a
// corrupt sparse value.
func hllMerge(maxRegs []uint8, v []byte) bool {
	if v[4] == hllDense {
		regs := v[hllHdrSize:]
		for i := range hllRegisters {
			maxRegs[i] = max(maxRegs[i], denseGet(regs, i))
		}
		return true
	}
	i := 0
	for p := hllHdrSize; p < len(v); {
		switch b := v[p]; {
		case sparseIsZero(b):
			i += sparseZeroLen(b)
			p++
		case sparseIsXZero(b):
			i += sparseXZeroLen(v, p)
			p += 2
		default:
			n, val := sparseValLen(b), sparseValValue(b)
			if i+n > hllRegisters {
				return false
			}
			for range n {
				maxRegs[i] = max(maxRegs[i], val)
				i++
			}
			p++
		}
	}
	return i == hllRegisters
}
