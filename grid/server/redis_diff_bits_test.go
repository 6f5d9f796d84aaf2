package server

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// bitInt draws range and offset arguments around a small bitmap's edges, with the
// malformed and out-of-range ones Redis rejects.
func bitInt(rng *rand.Rand) string {
	switch rng.IntN(12) {
	case 0:
		return []string{"x", "", "1.5", "+1", "-0", "9223372036854775807", "-9223372036854775808", "4294967296", "8388608"}[rng.IntN(9)]
	default:
		return strconv.Itoa(rng.IntN(80) - 40)
	}
}

func bfTypeArg(rng *rand.Rand) string {
	switch rng.IntN(10) {
	case 0:
		return []string{"u64", "i65", "u0", "I8", "x8", "u", "i-1"}[rng.IntN(7)]
	case 1:
		return []string{"i64", "u63", "i1", "u1"}[rng.IntN(4)]
	default:
		return []string{"i", "u"}[rng.IntN(2)] + strconv.Itoa(1+rng.IntN(16))
	}
}

func bitfieldOffset(rng *rand.Rand) string {
	switch rng.IntN(8) {
	case 0:
		return "#" + strconv.Itoa(rng.IntN(8))
	case 1:
		return []string{"-1", "#-1", "#", "x", "4294967296", "8388608", "#1048576", "8388600"}[rng.IntN(8)]
	default:
		return strconv.Itoa(rng.IntN(100))
	}
}

func bitfieldValue(rng *rand.Rand) string {
	switch rng.IntN(6) {
	case 0:
		return []string{"9223372036854775807", "-9223372036854775808", "x", "255", "-256", "65535"}[rng.IntN(6)]
	default:
		return strconv.Itoa(rng.IntN(600) - 300)
	}
}

func TestBitmapsAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	// The grid under test takes bulk strings up to 1 MiB: Redis is given the same limit,
	// so offsets past it are refused alike.
	if _, err := do(d.redis, []string{"CONFIG", "SET", "proto-max-bulk-len", "1048576"}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(31, 32))
	keys := []string{"{b}a", "{b}b", "{b}c", "{b}list"}
	d.check(exact, "RPUSH", "{b}list", "x")
	key := func() string { return keys[rng.IntN(len(keys))] }
	steps := 4000
	if testing.Short() {
		steps = 1500
	}
	for range steps {
		k := key()
		switch rng.IntN(22) {
		case 0, 1, 2:
			off := strconv.Itoa(rng.IntN(200))
			if rng.IntN(15) == 0 {
				off = []string{"-1", "4294967296", "8388608", "x", "-0", "8388607"}[rng.IntN(6)]
			}
			val := strconv.Itoa(rng.IntN(2))
			if rng.IntN(15) == 0 {
				val = []string{"2", "-1", "x", ""}[rng.IntN(4)]
			}
			d.check(exact, "SETBIT", k, off, val)
		case 3:
			d.check(exact, "GETBIT", k, strconv.Itoa(rng.IntN(220)))
		case 4, 5:
			args := []string{"BITCOUNT", k}
			switch rng.IntN(5) {
			case 1:
				args = append(args, bitInt(rng))
			case 2, 3:
				args = append(args, bitInt(rng), bitInt(rng))
			case 4:
				args = append(args, bitInt(rng), bitInt(rng), []string{"BIT", "byte", "bits"}[rng.IntN(3)])
			}
			d.check(exact, args...)
		case 6, 7:
			bit := strconv.Itoa(rng.IntN(2))
			if rng.IntN(20) == 0 {
				bit = []string{"2", "x", "-1"}[rng.IntN(3)]
			}
			args := []string{"BITPOS", k, bit}
			switch rng.IntN(6) {
			case 1:
				args = append(args, bitInt(rng))
			case 2, 3:
				args = append(args, bitInt(rng), bitInt(rng))
			case 4:
				args = append(args, bitInt(rng), bitInt(rng), []string{"BIT", "byte", "x"}[rng.IntN(3)])
			case 5:
				args = append(args, bitInt(rng), bitInt(rng), "BIT", "extra")
			}
			d.check(exact, args...)
		case 8, 9:
			op := []string{"AND", "or", "XOR", "NOT", "nand"}[rng.IntN(5)]
			args := []string{"BITOP", op, key()}
			for range 1 + rng.IntN(3) {
				args = append(args, key())
			}
			d.check(exact, args...)
		case 10, 11, 12, 13:
			args := []string{"BITFIELD", k}
			for range 1 + rng.IntN(4) {
				switch rng.IntN(9) {
				case 0, 1:
					args = append(args, "GET", bfTypeArg(rng), bitfieldOffset(rng))
				case 2, 3:
					args = append(args, "SET", bfTypeArg(rng), bitfieldOffset(rng), bitfieldValue(rng))
				case 4, 5:
					args = append(args, "INCRBY", bfTypeArg(rng), bitfieldOffset(rng), bitfieldValue(rng))
				case 6, 7:
					args = append(args, "OVERFLOW", []string{"WRAP", "sat", "FAIL", "x"}[rng.IntN(4)])
				default:
					args = append(args, []string{"GET", "bogus", "SET"}[rng.IntN(3)])
				}
			}
			d.check(exact, args...)
		case 14:
			args := []string{"BITFIELD_RO", k}
			for range 1 + rng.IntN(3) {
				if rng.IntN(6) == 0 {
					args = append(args, "SET", "u8", "0", "1")
				} else {
					args = append(args, "GET", bfTypeArg(rng), bitfieldOffset(rng))
				}
			}
			d.check(exact, args...)
		case 15:
			d.check(exact, "SETRANGE", k, strconv.Itoa(rng.IntN(30)), fmt.Sprintf("v%d", rng.IntN(100)))
		case 16:
			d.check(exact, "APPEND", k, string([]byte{byte(rng.IntN(256)), byte(rng.IntN(256))}))
		case 17:
			d.check(exact, "DEL", k)
		default:
			d.check(exact, "GET", k)
		}
	}
	d.check(exact, "BITOP", "AND", "{b}a", "{c}x")
	d.check(exact, "BITCOUNT", "{b}list")
	for _, k := range keys {
		d.check(exact, "GET", k)
	}
}

// hllMember draws members so that some keys stay sparse and others pass 3000 bytes.
func hllMember(rng *rand.Rand, n int) string {
	return "m" + strconv.Itoa(rng.IntN(n))
}

func TestHyperLogLogAgainstRedisServer(t *testing.T) {
	d := newDiffRun(t)
	rng := rand.New(rand.NewPCG(41, 42))
	keys := []string{"{b}hsmall", "{b}hmid", "{b}hbig", "{b}hstr", "{b}hlist"}
	d.check(exact, "SET", "{b}hstr", "not an hll, longer than sixteen bytes")
	d.check(exact, "RPUSH", "{b}hlist", "x")
	steps := 1200
	if testing.Short() {
		steps = 500
	}
	spread := map[string]int{"{b}hsmall": 50, "{b}hmid": 2000, "{b}hbig": 200000}
	for range steps {
		k := keys[rng.IntN(3)]
		switch rng.IntN(12) {
		case 0, 1, 2, 3, 4, 5:
			args := []string{"PFADD", k}
			n := 40
			if k == "{b}hbig" {
				n = 400
			}
			for range rng.IntN(n) {
				args = append(args, hllMember(rng, spread[k]))
			}
			d.check(exact, args...)
		case 6:
			d.check(exact, "PFCOUNT", k)
			d.check(exact, "GET", k)
		case 7:
			args := []string{"PFCOUNT"}
			for range 1 + rng.IntN(3) {
				args = append(args, keys[rng.IntN(len(keys))])
			}
			d.check(exact, args...)
		case 8:
			d.check(exact, "PFMERGE", "{b}hmerged", keys[rng.IntN(3)], keys[rng.IntN(4)])
			d.check(exact, "GET", "{b}hmerged")
			d.check(exact, "PFCOUNT", "{b}hmerged")
		case 9:
			d.check(exact, "PFDEBUG", []string{"ENCODING", "DECODE", "nope", "GETREG"}[rng.IntN(4)], keys[1+rng.IntN(len(keys)-1)])
			d.check(exact, "PFDEBUG", "TODENSE", "{b}hbig")
		case 10:
			d.check(exact, "PFADD", keys[3+rng.IntN(2)], "x")
		default:
			d.check(exact, "GET", k)
		}
	}
	for i, k := range keys[:3] {
		enc, _ := d.check(exact, "PFDEBUG", "ENCODING", k)
		if want := []any{"sparse", enc, "dense"}[i]; enc != want {
			t.Errorf("%s is %v, want it %s to cover both encodings", k, enc, want)
		}
		d.check(exact, "PFCOUNT", k)
		d.check(exact, "GET", k)
		d.check(exact, "PFDEBUG", "GETREG", k)
	}
	// A value made by Redis counts the same on the grid, and a corrupt one is refused alike.
	v, err := do(d.redis, []string{"GET", "{b}hbig"})
	if err != nil {
		t.Fatal(err)
	}
	d.check(exact, "SET", "{b}hcopy", v.(string))
	d.check(exact, "PFCOUNT", "{b}hcopy")
	d.check(exact, "PFADD", "{b}hcopy", "one more")
	d.check(exact, "GET", "{b}hcopy")
	for _, bad := range []string{
		"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xff",                 // sparse, registers past the end
		"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x00",                     // sparse, too few registers
		"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",                     // dense, too short
		"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff",                 // unknown encoding
		"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\xff\xff\xff\xff\x7f\xff", // VAL runs then XZERO overflowing
	} {
		d.check(exact, "SET", "{b}hbad", bad)
		d.check(exact, "PFCOUNT", "{b}hbad")
		d.check(exact, "PFADD", "{b}hbad", "a", "b", "c")
		d.check(exact, "GET", "{b}hbad")
		d.check(exact, "PFCOUNT", "{b}hbad", "{b}hsmall")
		d.check(exact, "PFMERGE", "{b}hbad2", "{b}hbad")
	}
	d.check(exact, "PFMERGE", "{b}hsmall", "{x}other")
	d.check(exact, "PFDEBUG", "GETREG", "{b}hmissing")
}
