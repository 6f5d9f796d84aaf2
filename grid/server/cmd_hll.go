package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/insightgrid/insight/grid/store"
)

// HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST) on string values in
// Redis's representation (hll.go), with Redis 7.0's replies and errors. A change is
// journaled as the bytes it changed: the registers a PFADD raised and the cached
// cardinality, at most the whole value (12 KiB dense, 3000 bytes sparse).

// hllError is an error whose text is the reply to send, punctuation included.
type hllError string

func (e hllError) Error() string { return string(e) }

var (
	errHLLTypeErr    error = hllError(errHLLType)
	errHLLInvalidErr error = hllError(errHLLInvalid)
)

// hllCommands are the HyperLogLog commands, for the command table.
func hllCommands() []*command {
	return []*command{
		withSpecs(def("pfadd", -2, wr|oom|fast, oneKey, "hyperloglog", "2.8.9", "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.", cmdPFAdd), spec(1, "RW", "insert")),
		withSpecs(def("pfcount", -2, ro, allKeys, "hyperloglog", "2.8.9", "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).", cmdPFCount), keySpec{notes: "RW because it may change the internal representation of the key, and propagate to replicas", flags: []string{"RW", "access"}, index: 1, lastKey: -1, keyStep: 1}),
		withSpecs(def("pfmerge", -2, wr|oom, allKeys, "hyperloglog", "2.8.9", "Merges one or more HyperLogLog values into a single key.", cmdPFMerge),
			keySpec{flags: []string{"RW", "access", "insert"}, index: 1, keyStep: 1}, keySpec{flags: []string{"RO", "access"}, index: 2, lastKey: -1, keyStep: 1}),
		withSpecs(def("pfdebug", 3, wr|oom|admin, keyed{2, 2, 1, nil}, "hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values.", cmdPFDebug), spec(2, "RW", "access")),
		def("pfselftest", 1, admin, noKeys, "hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values.", cmdPFSelfTest),
	}
}

func cmdPFAdd(c *conn, args [][]byte) {
	updated := 0
	err := c.s.store.UpdateStrings(args[1:2], func(vals [][]byte, wrong []bool) ([]byte, error) {
		var h []byte
		switch {
		case wrong[0]:
			return nil, store.ErrWrongType
		case vals[0] == nil:
			h, updated = hllNew(), 1
		case !hllValid(vals[0]):
			return nil, errHLLTypeErr
		default:
			h = append([]byte(nil), vals[0]...)
		}
		for _, ele := range args[2:] {
			switch hllAdd(&h, ele) {
			case 1:
				updated++
			case -1:
				return h, errHLLInvalidErr
			}
		}
		if updated > 0 {
			hllInvalidate(h)
		}
		return h, nil
	})
	if updated > 0 && err == nil {
		c.notify(notifyString, "pfadd", args[1])
	}
	c.replyInt(b2i(updated > 0), err)
}

// cmdPFCount of one key answers its cached cardinality or computes it and caches it in
// the value (a change journaled as such); of several keys, the cardinality of their union.
func cmdPFCount(c *conn, args [][]byte) {
	var card uint64
	if len(args) > 2 {
		var err error
		c.s.store.ViewStrings(args[1:], func(vals [][]byte, wrong []bool) {
			regs := make([]uint8, hllRegisters)
			for i, v := range vals {
				switch {
				case wrong[i]:
					err = store.ErrWrongType
				case v == nil:
					continue
				case !hllValid(v):
					err = errHLLTypeErr
				case !hllMerge(regs, v):
					err = errHLLInvalidErr
				}
				if err != nil {
					return
				}
			}
			var histo [64]int
			for _, r := range regs {
				histo[r]++
			}
			card = hllEstimate(&histo)
		})
		c.replyInt(int64(card), err)
		return
	}
	err := c.s.store.UpdateStrings(args[1:2], func(vals [][]byte, wrong []bool) ([]byte, error) {
		v := vals[0]
		switch {
		case wrong[0]:
			return nil, store.ErrWrongType
		case v == nil:
			return nil, nil
		case !hllValid(v):
			return nil, errHLLTypeErr
		}
		var ok bool
		if card, ok = hllCached(v); ok {
			return nil, nil
		}
		var histo [64]int
		if !hllHisto(v, &histo) {
			return nil, errHLLInvalidErr
		}
		card = hllEstimate(&histo)
		h := append([]byte(nil), v...)
		binary.LittleEndian.PutUint64(h[8:16], card)
		return h, nil
	})
	c.replyInt(int64(card), err)
}

// cmdPFMerge merges the registers of every key given, the destination's included, into
// the destination (created sparse when absent, made dense when any input is dense).
func cmdPFMerge(c *conn, args [][]byte) {
	err := c.s.store.UpdateStrings(args[1:], func(vals [][]byte, wrong []bool) ([]byte, error) {
		regs := make([]uint8, hllRegisters)
		dense := false
		for i, v := range vals {
			switch {
			case wrong[i]:
				return nil, store.ErrWrongType
			case v == nil:
				continue
			case !hllValid(v):
				return nil, errHLLTypeErr
			}
			dense = dense || v[4] == hllDense
			if !hllMerge(regs, v) {
				return nil, errHLLInvalidErr
			}
		}
		h := hllNew()
		if vals[0] != nil {
			h = append([]byte(nil), vals[0]...)
		}
		if dense {
			var ok bool
			if h, ok = sparseToDense(h); !ok {
				return nil, errHLLInvalidErr
			}
		}
		for i, r := range regs {
			if r == 0 {
				continue
			}
			if h[4] == hllDense {
				denseSetMax(h[hllHdrSize:], i, r)
			} else {
				sparseSet(&h, i, r)
			}
		}
		hllInvalidate(h)
		return h, nil
	})
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	c.notify(notifyString, "pfadd", args[1])
	c.wr.OK()
}

// cmdPFDebug is PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
func cmdPFDebug(c *conn, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	var regs []uint8
	var reply func()
	err := c.s.store.UpdateStrings(args[2:3], func(vals [][]byte, wrong []bool) ([]byte, error) {
		v := vals[0]
		switch {
		case wrong[0]:
			return nil, store.ErrWrongType
		case v == nil:
			return nil, errors.New("ERR The specified key does not exist")
		case !hllValid(v):
			return nil, errHLLTypeErr
		}
		switch sub {
		case "getreg", "todense":
			converted := v[4] == hllSparse
			d, ok := sparseToDense(append([]byte(nil), v...))
			if !ok {
				return nil, errHLLInvalidErr
			}
			if sub == "todense" {
				reply = func() { c.wr.Int(b2i(converted)) }
			} else {
				regs = make([]uint8, hllRegisters)
				for i := range regs {
					regs[i] = denseGet(d[hllHdrSize:], i)
				}
				reply = func() {
					c.wr.Array(len(regs))
					for _, r := range regs {
						c.wr.Int(int64(r))
					}
				}
			}
			if converted {
				return d, nil
			}
		case "decode":
			if v[4] != hllSparse {
				return nil, errors.New("ERR HLL encoding is not sparse")
			}
			var sb strings.Builder
			for p := hllHdrSize; p < len(v); {
				switch b := v[p]; {
				case sparseIsZero(b):
					fmt.Fprintf(&sb, "z:%d ", sparseZeroLen(b))
					p++
				case sparseIsXZero(b):
					fmt.Fprintf(&sb, "Z:%d ", sparseXZeroLen(v, p))
					p += 2
				default:
					fmt.Fprintf(&sb, "v:%d,%d ", sparseValValue(b), sparseValLen(b))
					p++
				}
			}
			out := strings.Trim(sb.String(), " ")
			reply = func() { c.wr.BulkString(out) }
		case "encoding":
			enc := "dense"
			if v[4] == hllSparse {
				enc = "sparse"
			}
			reply = func() { c.wr.Simple(enc) }
		default:
			return nil, fmt.Errorf("ERR Unknown PFDEBUG subcommand '%s'", args[1])
		}
		return nil, nil
	})
	if err != nil {
		c.writeStoreErr(err)
		return
	}
	reply()
}

// cmdPFSelfTest checks that every register keeps what is written to it without touching
// its neighbours, as Redis's PFSELFTEST does for the dense encoding, then answers OK.
func cmdPFSelfTest(c *conn, _ [][]byte) {
	rng := rand.New(rand.NewPCG(1, 2))
	regs := make([]byte, hllDenseSize-hllHdrSize)
	want := make([]uint8, hllRegisters)
	for range 10 {
		for i := range want {
			want[i] = uint8(rng.IntN(hllRegisterMax + 1))
			denseSet(regs, i, want[i])
		}
		for i := range want {
			if got := denseGet(regs, i); got != want[i] {
				c.wr.Error(fmt.Sprintf("TESTFAILED Register %d should be %d but is %d", i, want[i], got))
				return
			}
		}
	}
	c.wr.OK()
}
